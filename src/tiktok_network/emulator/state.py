"""What every part of the emulated service shares: the attributes ``Emulator`` sets, the JSON
codecs and the list keys. The route classes (auth, faults, lists, info) derive from it."""

from __future__ import annotations

from typing import Any

import msgspec

from tiktok_network.api import spec

LIST_KEYS = {endpoint: key.encode() for endpoint, key in spec.LIST_KEYS.items()}

json_encoder = msgspec.json.Encoder()
json_decoder = msgspec.json.Decoder()


class EmulatorState:
    """Declared here for readers and type checkers; set by ``Emulator.__init__``."""

    graph: Any
    settings: Any
    quota: Any
    window: Any
    log: Any
    log_ids: Any
    tokens: dict[str, tuple[str, float]]
    refused: Any  # numpy masks over the users: refused, private, hiding their following list
    private: Any
    hidden_following: Any
    hostile: Any  # accounts whose text is hostile (--hostile-text, emulator/hostile.py)
    evolution: Any  # the evolving graph's overlay (evolution.py)
    _occurrences: dict[tuple[str, str, int], int]
