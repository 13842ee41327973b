"""Whose outputs a folder holds: one crawl, one kind (plain, or pseudonymised under one key),
and every format any export wrote there.

A small manifest (``.tiktok-network.json``) beside the files says it. An export, or a crawl's
outputs, into a folder holding another crawl's outputs is refused, and so is a pseudonymised
export beside a plain one (or the other way round): the real names would sit beside the
pseudonyms. Every export into a folder writes every format written there before, so no file
in it is older than the others (a purge then rewrites them all).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path

from tiktok_network.export.atomic import atomic_path

MANIFEST = ".tiktok-network.json"
# Files an export writes, by format: a folder holding them without a manifest was written by
# an export before manifests existed.
FORMAT_FILES = {
    "csv": ("network.csv", "nodes.csv", "edges.csv", "saved_jsons.csv", "parsing_list.csv"),
    "parquet": ("edges.parquet", "nodes.parquet"),
    "graphml": ("graph.graphml",),
    "gexf": ("graph.gexf",),
}


class FolderTaken(ValueError):
    """The folder holds outputs this export must not mix with; the message says whose."""


@dataclass(frozen=True)
class FolderOwner:
    """Who writes into a folder: the crawl (its identity and how messages name it) and the
    fingerprint of the pseudonym key (None: plain)."""

    crawl: str | None
    db_name: str
    keyed: str | None = None
    share: bool = False  # a share folder (ids and aggregates only: export/share.py)


def key_fingerprint(key: bytes) -> str:
    """Tells two keys apart without revealing either (an HMAC of a constant, 16 hex)."""
    return hmac.new(key, b"tiktok-network folder", hashlib.sha256).hexdigest()[:16]


def read_manifest(out: str | Path) -> dict | None:
    try:
        data = json.loads((Path(out) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _legacy_formats(out: Path) -> list[str]:
    return [f for f, files in FORMAT_FILES.items() if any((out / n).exists() for n in files)]


def check_folder(out: str | Path, owner: FolderOwner) -> list[str]:
    """Refuse a folder of another crawl or of another kind; return the formats already
    written there (to be written again)."""
    folder = Path(out)
    manifest = read_manifest(folder)
    if manifest is None:
        legacy = _legacy_formats(folder)
        if legacy and (owner.keyed is not None or owner.share):
            kind = "--share ids" if owner.share else "a pseudonymised export"
            raise FolderTaken(
                f"{folder} holds a plain export: {kind} needs a folder of its own"
                " (choose another --out)"
            )
        return []
    theirs = manifest.get("crawl")
    if theirs != owner.crawl:
        raise FolderTaken(
            f"{folder} holds the outputs of another crawl ({manifest.get('db', 'unknown')}): "
            "choose another --out"
        )
    if bool(manifest.get("share")) != owner.share:
        raise FolderTaken(
            f"{folder} holds "
            + ("a full export" if owner.share else "a share folder (ids and aggregates only)")
            + ": "
            + ("--share ids" if owner.share else "a full export")
            + " needs a folder of its own (choose another --out)"
        )
    if manifest.get("keyed") != owner.keyed:
        kinds = {None: "a plain export"}
        have = kinds.get(manifest.get("keyed"), "an export pseudonymised with another key")
        raise FolderTaken(
            f"{folder} holds {have}: "
            + ("a pseudonymised" if owner.keyed else "a plain")
            + " export needs a folder of its own (choose another --out)"
        )
    return [str(f) for f in manifest.get("formats") or []]


def write_manifest(out: str | Path, owner: FolderOwner, formats: list[str]) -> None:
    folder = Path(out)
    body = {
        "crawl": owner.crawl,
        "db": owner.db_name,
        "keyed": owner.keyed,
        "share": owner.share,
        "formats": sorted(set(formats)),
    }
    with atomic_path(folder / MANIFEST) as tmp:
        tmp.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
