"""``export --share ids``: what may leave the lab under the Research API's terms.

The terms let a lab publish account ids and aggregates, not what the API returned about the
accounts. A share folder therefore holds only:
- ``accounts.csv``: every account of the crawl, as its username or (``--pseudonymize``) its
  keyed pseudonym;
- ``follows.csv``: the follows between them, as the same ids;
- ``aggregates.json``: the network's figures (``analysis/stats.py``) and the completeness
  counts, with no account named;
- ``rehydrate.py``: re-collects profiles and lists with the reader's own credentials;
- ``README.md`` and ``datapackage.json``: what each file is, the terms, the provenance.

No display name, bio, avatar, count from a profile or raw response is written. The folder is
recorded like every export, so a purge rewrites it (the purged account's id goes too), and it
cannot be mixed with a full export (``export/folders.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tiktok_network.export.atomic import atomic_path, export_session
from tiktok_network.export.csvs import atomic_csv
from tiktok_network.store.read import CrawlReader

SHARE_FILES = ("accounts.csv", "follows.csv", "aggregates.json", "rehydrate.py", "README.md")
NAMED_FIGURES = ("top_pagerank", "top_in_degree", "largest_communities")


def export_share(db: str | Path, out: str | Path, **view: Any) -> dict[str, int]:
    """Write the share folder from one read snapshot; returns rows per file."""
    pseudonymised = view.get("pseudonyms") is not None
    with export_session(db, out, **view) as (snap, folder):
        names = snap.names()
        known = [name for name in names if name is not None]
        accounts = atomic_csv(folder / "accounts.csv", ("account",), ([n] for n in known))
        ids = snap.edge_array()
        follows = atomic_csv(
            folder / "follows.csv",
            ("source", "destination"),
            ((names[s], names[d]) for s, d in ids.tolist()),
        )
        aggregates = _aggregates(snap, names, ids)
    _write_text(folder / "aggregates.json", json.dumps(aggregates, indent=2, default=_plain))
    _write_text(folder / "rehydrate.py", REHYDRATE)
    _write_text(folder / "README.md", _readme(pseudonymised, accounts, follows))
    return {"accounts.csv": accounts, "follows.csv": follows, "aggregates.json": 1}


def _aggregates(snap: CrawlReader, names: list[str | None], ids: np.ndarray) -> dict[str, Any]:
    """The figures of the shared graph (the same edges as follows.csv) with every list of
    named accounts left out, and how complete the lists are."""
    from tiktok_network.analysis.edgelist import from_ids
    from tiktok_network.analysis.stats import network_stats

    figures = network_stats(from_ids("shared", names, ids[:, 0], ids[:, 1]))
    for key in (*NAMED_FIGURES, "name", "input_checksum"):
        figures.pop(key, None)
    states, _ = snap.completeness_counts()
    return {"network": figures, "lists_by_state": states}


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _readme(pseudonymised: bool, accounts: int, follows: int) -> str:
    ids = (
        "keyed pseudonyms (HMAC-SHA256 under the lab's secret key): they cannot be turned back"
        " into usernames, so `rehydrate.py` cannot re-collect them; ask the lab"
        if pseudonymised
        else "TikTok usernames"
    )
    return f"""# A TikTok follow network, shared within the Research API's terms

Written by `tiktok-network export --share ids`. The TikTok Research API's terms allow sharing
account ids and aggregates, not what the API returned about the accounts: this folder holds
nothing else.

| file | what it holds |
|---|---|
| `accounts.csv` | {accounts:,} accounts, as {ids} |
| `follows.csv` | {follows:,} follows: `source` follows `destination` |
| `aggregates.json` | the network's figures (tiktok-network's report, no account named) and how complete each kind of list is |
| `rehydrate.py` | re-collects profiles and lists with your own Research API access |
| `datapackage.json` | each file's schema, the terms, and how the data was collected (runs, requests, dates, what the API withholds) |

To re-collect the data (you need your own Research API access; accounts deleted or made private
since will not come back, as the terms require):

    pip install tiktok-network
    export TIKTOK_CLIENT_KEY=... TIKTOK_CLIENT_SECRET=...
    python rehydrate.py            # writes rehydrated.db; then: tiktok-network export --db rehydrated.db

The figures in `aggregates.json` are of this network as shared; a re-collected one differs by
what changed on TikTok since.
"""


REHYDRATE = '''"""Re-collect the accounts of accounts.csv (their profiles and follow lists) with your own
TikTok Research API credentials (TIKTOK_CLIENT_KEY, TIKTOK_CLIENT_SECRET), into rehydrated.db.

Needs tiktok-network (pip install tiktok-network). Pseudonymised ids cannot be re-collected.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
package = json.loads((here / "datapackage.json").read_text(encoding="utf-8"))
if package.get("tiktok_network", {}).get("export", {}).get("pseudonymised"):
    sys.exit("these accounts are pseudonyms: they cannot be re-collected (ask the lab)")
if not (os.environ.get("TIKTOK_CLIENT_KEY") and os.environ.get("TIKTOK_CLIENT_SECRET")):
    sys.exit("set TIKTOK_CLIENT_KEY and TIKTOK_CLIENT_SECRET (your own Research API access)")
command = [
    sys.executable, "-m", "tiktok_network.cli", "crawl",
    "--seeds", str(here / "accounts.csv"), "--column", "account",
    "--max-depth", "0", "--direction", "both", "--info",
    "--db", str(here / "rehydrated.db"), "--out", str(here / "rehydrated"),
    *sys.argv[1:],
]
sys.exit(subprocess.call(command))
'''
