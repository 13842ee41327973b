"""``datapackage.json`` beside every export: a Frictionless Data Package saying what each file
holds (its Table Schema from ``export/codebook.py``), under which terms, and how the data was
collected (provenance: the runs, their requests and quota, the refreshes and purges, the window
of the data, and what the API is known to withhold, with this crawl's own counts).

A paper's data section can be written from it (``analysis/methods.py`` does, into the report);
a reader can check a file against its schema with ``frictionless validate datapackage.json``.
It is rewritten with the files (after a purge too), so its counts are the files' counts.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tiktok_network._version import __version__
from tiktok_network.export.atomic import atomic_path
from tiktok_network.export.codebook import DOCUMENTS, TABLES
from tiktok_network.quota_day import iso_utc

PACKAGE = "datapackage.json"
TERMS_URL = "https://www.tiktok.com/legal/page/global/terms-of-service-research-api/en"
LICENSE = {
    "name": "other-closed",
    "title": "TikTok Research API Terms of Service: not an open licence. The data may be used"
    " only for the approved research and must be refreshed (at least every 15 days, deleting"
    " what the API no longer serves); beyond the lab, share account ids and aggregates only"
    " (tiktok-network export --share ids).",
    "path": TERMS_URL,
}
# What the Research API is known to withhold, in the words of docs/completeness.md.
WITHHELD = {
    "followers_cap": "Follower lists may end at a cap the API sets (or the crawl's"
    " --followers-cap): in-degree above it is censored.",
    "hidden": "An owner can hide whom they follow: those out-edges are known only from other"
    " accounts' follower lists.",
    "private": "The API refuses private and restricted accounts (it does not say which): their"
    " lists are not served.",
    "not_found": "Deleted, banned or mistyped accounts.",
    "capped": "Lists the API served only in part (short of the profile's count).",
}


def api_kind(api_base: str | None) -> str:
    """``official`` (TikTok's host), ``emulator`` (a loopback address: this project's emulator
    or a test double, not TikTok) or ``other``."""
    if not api_base:
        return "unknown"
    host = urlparse(api_base).hostname or ""
    if host.endswith("tiktokapis.com"):
        return "official"
    try:
        if host == "localhost" or ipaddress.ip_address(host).is_loopback:
            return "emulator"
    except ValueError:
        pass
    return "other"


def provenance(db: str | Path) -> dict[str, Any]:
    """The crawl's provenance as the package states it (times in ISO 8601 UTC)."""
    from tiktok_network.store import open_reader

    with open_reader(db) as reader:
        raw = reader.provenance()
        settings = reader.last_settings()
        states, _ = reader.completeness_counts()
        lists = reader.video_lists() if reader.has_videos() else {}
    crawl_runs = [r for r in raw["runs"] if r["command"] == "crawl"]
    api_base = (crawl_runs or raw["runs"] or [{}])[-1].get("api_base")
    runs = [
        {
            "id": r["id"],
            "command": r["command"],
            "started": _iso(r["started_at"]),
            "ended": _iso(r["ended_at"]),
            "exit_status": r["exit_status"],
            "tool_version": r["tool_version"],
            "api_kind": api_kind(r["api_base"]),
            "pages_by_list": r["pages"],
        }
        for r in raw["runs"]
    ]
    return {
        "tool": "tiktok-network",
        "tool_version": __version__,
        "api_base": api_base,
        "api_kind": api_kind(api_base),
        "settings": _public(settings),
        "seeds": raw["seeds"],
        "runs": runs,
        "requests": {
            "pages_by_list": _sum_pages(raw["runs"]),
            "profiles_fetched": raw["profiles_fetched"],
            "quota_by_bucket": raw["quota"],
        },
        "history": {
            "runs": len(runs),
            "refreshes": sum(1 for r in raw["runs"] if r["command"] == "refresh"),
            "purged_by_reason": raw["purges"],
        },
        "data_window": {
            "first_follow_seen": _iso(raw["follows_seen"]["first"]),
            "last_follow_seen": _iso(raw["follows_seen"]["last"]),
        },
        "withheld": _withheld(states, settings, lists),
    }


def _iso(ts: float | None) -> str | None:
    return iso_utc(ts) if isinstance(ts, int | float) else None


def _public(settings: dict[str, Any]) -> dict[str, Any]:
    """The crawl's settings without what is local to one machine (paths, the database's
    name) or a hash of the credentials."""
    local = {"db", "out", "log_file", "quota_ledger", "client", "credentials", "given"}
    return {k: v for k, v in settings.items() if k not in local}


def _sum_pages(runs: list[dict[str, Any]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for run in runs:
        for direction, pages in run["pages"].items():
            total[direction] = total.get(direction, 0) + pages
    return total


def _withheld(
    states: dict[str, dict[str, int]], settings: dict[str, Any], lists: dict[str, Any]
) -> dict[str, Any]:
    """What the API withholds, each with this crawl's count."""
    out: dict[str, Any] = {
        "followers_cap": {
            "meaning": WITHHELD["followers_cap"],
            "setting": settings.get("followers_cap"),
            "follower_lists_capped": states.get("followers", {}).get("capped", 0),
        },
        "hidden_following_lists": {
            "meaning": WITHHELD["hidden"],
            "count": states.get("following", {}).get("hidden", 0),
        },
        "private_accounts": {
            "meaning": WITHHELD["private"],
            "count": max(s.get("private", 0) for s in states.values()) if states else 0,
        },
        "accounts_not_found": {
            "meaning": WITHHELD["not_found"],
            "count": max(s.get("not_found", 0) for s in states.values()) if states else 0,
        },
        "lists_by_state": states,
    }
    if lists:
        out["video_lists_by_state"] = lists
    return out


def resource(folder: Path, name: str) -> dict[str, Any] | None:
    """The package's entry for one file of the folder (None if the codebook does not know it)."""
    path = folder / name
    if name in TABLES:
        fields = [f.schema() for f in TABLES[name]]
        kind = "csv" if name.endswith(".csv") else "parquet"
        entry: dict[str, Any] = {
            "name": _resource_name(name),
            "path": name,
            "profile": "tabular-data-resource",
            "format": kind,
            "mediatype": "text/csv" if kind == "csv" else "application/vnd.apache.parquet",
            "schema": {"fields": fields, "missingValues": [""]},
        }
        if kind == "csv":
            entry["encoding"] = "utf-8"
        else:  # frictionless reads Parquet through pandas: a null integer comes back as NaN
            entry["schema"]["missingValues"] = ["", "nan"]
    elif name in DOCUMENTS:
        mediatype, description = DOCUMENTS[name]
        entry = {
            "name": _resource_name(name),
            "path": name,
            "format": name.rsplit(".", 1)[1],
            "mediatype": mediatype,
            "description": description,
        }
    else:
        return None
    digest = "sha256:" + _sha256(path)
    if name.endswith(".parquet"):
        # frictionless cannot count a Parquet file's bytes and then fails the check: the
        # checksum goes under a name of ours instead
        entry["tiktok_network_sha256"] = digest
    else:
        entry["bytes"] = path.stat().st_size
        entry["hash"] = digest
    return entry


def _resource_name(file_name: str) -> str:
    return re.sub(r"[^a-z0-9._-]", "-", file_name.lower())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_datapackage(
    db: str | Path, out: str | Path, *, title: str, extra: dict[str, Any] | None = None
) -> Path:
    """Describe every file of ``out`` the codebook knows, with the crawl's provenance."""
    from tiktok_network.store import crawl_label

    folder = Path(out)
    resources = [
        entry
        for name in sorted(p.name for p in folder.iterdir() if p.is_file())
        if (entry := resource(folder, name)) is not None
    ]
    origin = provenance(db)
    descriptor: dict[str, Any] = {
        "profile": "data-package",
        "name": _resource_name(f"tiktok-network-{crawl_label(db)}")[:100],
        "title": title,
        "created": iso_utc(time.time()),
        "licenses": [LICENSE],
        "sources": [
            {
                "title": "TikTok Research API"
                if origin["api_kind"] == "official"
                else f"Research API at {origin['api_base']} ({origin['api_kind']}: not TikTok's)",
                "path": origin["api_base"] or "",
            }
        ],
        "resources": resources,
        "tiktok_network": {**origin, **(extra or {})},
    }
    path = folder / PACKAGE
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(descriptor, indent=2, ensure_ascii=False), encoding="utf-8")
    return path
