"""``python -m tiktok_network.cli``: the same as the ``tiktok-network`` command."""

from tiktok_network.cli import main

main()
