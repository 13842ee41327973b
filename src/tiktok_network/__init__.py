"""tiktok-network: map the TikTok follow graph through the Research API.

The Python API, for notebooks and scripts (the command line is a thin layer over the same
library)::

    import tiktok_network as tn
    crawl = tn.open("crawl.db")
    crawl.edges()     # pandas DataFrame: source, destination, first_seen, found_via
    crawl.users()     # pandas DataFrame: the columns of nodes.csv
    crawl.graph()     # igraph.Graph, directed, vertex attribute "name" = username
    crawl.status()    # the figures of `tiktok-network status`

    tn.crawl(["alice", "bob"], db="crawl.db", max_depth=1)   # blocking; tn.crawl_async awaits

Heavy modules are imported on first use, so ``import tiktok_network`` stays instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# The subpackage ``tiktok_network.crawl`` would take the name ``crawl`` of this module the first
# time it is imported; importing it here first lets the function below keep the name (the
# subpackage stays importable as ``tiktok_network.crawl.engine`` and so on).
import tiktok_network.crawl as _crawl_package  # noqa: E402, F401
from tiktok_network._version import __version__

__all__ = ["__version__", "crawl", "crawl_async", "open"]

if TYPE_CHECKING:
    from collections.abc import Iterable

    from tiktok_network.crawl.engine import CrawlResult
    from tiktok_network.dataset import CrawlData


def open(db: str) -> CrawlData:  # noqa: A001 - the natural name, as shelve.open is
    """The data of a crawl database (SQLite file)."""
    from tiktok_network.dataset import CrawlData

    return CrawlData(db)


def crawl(seeds: Iterable[str] = (), **settings: Any) -> CrawlResult:
    """Run a crawl to its end (or its limits) and return what it did; see ``crawl_async``."""
    import asyncio

    return asyncio.run(crawl_async(seeds, **settings))


async def crawl_async(seeds: Iterable[str] = (), **settings: Any) -> CrawlResult:
    """Crawl from ``seeds`` (names, @names or profile URLs) with the settings of the CLI as
    keyword arguments (``db``, ``max_depth``, ``direction``, ``api_base``, ...): they win over
    ``TIKTOK_*`` variables and ``tiktok-network.toml``, and a rerun continues the crawl with its
    stored settings. Credentials come from ``TIKTOK_CLIENT_KEY``/``TIKTOK_CLIENT_SECRET`` or
    ``credentials="FILE"``, never from an argument. Nothing is printed and no signal handler
    is installed; the result's ``exit_code`` is the CLI's (0 complete, 75 work left, 1 fatal).
    """
    from tiktok_network.config import PARSERS, ConfigError
    from tiktok_network.crawl.engine import Engine
    from tiktok_network.crawl.run import RunError, check_sample_budget, prepare
    from tiktok_network.crawl.seeds import collect_seeds

    unknown = sorted(set(settings) - set(PARSERS))
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]!r}")
    try:
        run = prepare(settings)  # the crawl's stored settings too, on either backend
        check_sample_budget(run.settings)
    except RunError as exc:  # the error the store or the settings raised, as it was
        raise (exc.__cause__ or ConfigError(str(exc))) from None
    assert run.credentials is not None
    usernames = collect_seeds([str(s) for s in seeds], None, None).usernames
    return await Engine(run.settings, run.credentials).run(usernames)
