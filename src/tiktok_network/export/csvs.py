"""The classic five CSVs of the original crawler, plus nodes.csv and edges.csv.

All files come from one read snapshot of the database, so they agree with each other even
while a crawl keeps writing. Each file is written under a temporary name and renamed, so a
reader (or a signal) never sees half a file, and a failed export leaves the previous one.
Cells that a spreadsheet would run as a formula are neutralised with a leading apostrophe.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from tiktok_network.export.atomic import atomic_path, export_session
from tiktok_network.quota_day import iso_utc
from tiktok_network.store.base import UserStatus
from tiktok_network.store.read import CrawlReader

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
INFO_COLUMNS = (
    "follower_count",
    "following_count",
    "likes_count",
    "video_count",
    "is_verified",
    "bio_description",
    "avatar_url",
)
CLASSIC = ("parsing_list", "queue", "saved_jsons", "time_stamps", "network")
EXTENDED = ("nodes", "edges")


def safe_cell(value: Any) -> Any:
    """Neutralise text a spreadsheet would evaluate (=, +, -, @ ...) by prefixing ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def atomic_csv(path: Path, header: Iterable[str], rows: Iterable[Iterable[Any]]) -> int:
    """Write a CSV under a temporary name and rename it over ``path``; returns the rows."""
    count = 0
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row in rows:
            writer.writerow([safe_cell(v) for v in row])
            count += 1
    return count


def export_csvs(
    db: str | Path, out: str | Path, formats: Iterable[str] = CLASSIC + EXTENDED, **view: Any
) -> dict[str, int]:
    """Write the requested CSVs to ``out``; returns rows written per file."""
    with export_session(db, out, **view) as (snap, out_dir):
        return {name: WRITERS[name](snap, out_dir / f"{name}.csv") for name in formats}


def _parsing_list(snap: CrawlReader, path: Path) -> int:
    return atomic_csv(path, ("username", "status"), snap.parsing_list())


def _queue(snap: CrawlReader, path: Path) -> int:
    return atomic_csv(path, ("username",), snap.queue())


def _saved_jsons(snap: CrawlReader, path: Path) -> int:
    names = snap.names()
    rows = ((names[user_id], raw) for user_id, raw in snap.page_responses())
    return atomic_csv(path, ("username", "json"), rows)


def _time_stamps(snap: CrawlReader, path: Path) -> int:
    names = snap.names()
    rows = ((names[user_id], iso_utc(at)) for user_id, at in snap.page_times())
    return atomic_csv(path, ("username", "timestamp"), rows)


def _network(snap: CrawlReader, path: Path) -> int:
    names = snap.names()
    rows = ((names[src], names[dst]) for src, dst in snap.edge_ids())
    return atomic_csv(path, ("source", "destination"), rows)


EDGE_COLUMNS = ("source", "destination", "first_seen", "found_via", "last_seen")
# When each user was first and last seen, in which runs, and when its profile was fetched
# (docs/compliance.md); purged accounts carry a tombstone id and purged = true.
PROVENANCE_COLUMNS = ("last_seen", "first_run", "last_run", "info_fetched_at", "purged")
# The completeness record of each list (docs/completeness.md): scripts read these names.
COMPLETENESS_COLUMNS = tuple(
    f"{direction}_{field}"
    for direction in ("following", "followers")
    for field in ("state", "received", "reported", "ratio")
)
NODE_COLUMNS = (
    "username",
    "display_name",
    "depth",
    "status",
    "first_seen",
    *INFO_COLUMNS,
    *COMPLETENESS_COLUMNS,
    "notes",
    *PROVENANCE_COLUMNS,
)


def edge_rows(
    snap: CrawlReader,
) -> Iterator[tuple[str | None, str | None, str, str | None, str]]:
    """The rows of edges.csv (also the Python API's ``edges()``)."""
    names = snap.names()
    for src, dst, first, via, last in snap.edges_with_provenance():
        yield names[src], names[dst], iso_utc(first), via, iso_utc(last)


def node_records(snap: CrawlReader) -> Iterator[dict[str, Any]]:
    """Every user as a dict of the nodes table's columns (and its store ``id``): the one
    source of nodes.csv, the Parquet, GraphML and GEXF nodes and the Python API's users."""
    for node in snap.nodes():
        info = json.loads(node.info) if node.info else {}
        record: dict[str, Any] = {
            "id": node.user_id,
            "username": node.username,
            "display_name": info.get("display_name", node.display_name),
            "depth": node.depth,
            "status": node.status if node.status is not None else UserStatus.QUEUED,
            "first_seen": iso_utc(node.first_seen),
        }
        for column in INFO_COLUMNS:
            record[column] = info.get(column)
        reasons = []
        for direction, lst in (("following", node.following), ("followers", node.followers)):
            record[f"{direction}_state"] = lst.state.label
            record[f"{direction}_received"] = lst.received
            record[f"{direction}_reported"] = lst.reported
            ratio = lst.ratio
            record[f"{direction}_ratio"] = None if ratio is None else round(ratio, 4)
            if lst.reason:
                reasons.append(f"{direction}: {lst.reason}")
        record["notes"] = "; ".join(reasons) or None
        record["last_seen"] = iso_utc(node.last_seen) if node.last_seen else None
        record["first_run"] = node.first_run
        record["last_run"] = node.last_run
        record["info_fetched_at"] = iso_utc(node.info_at) if node.info_at else None
        record["purged"] = node.purged
        yield record


def node_rows(snap: CrawlReader) -> Iterator[list[Any]]:
    """The rows of nodes.csv (also the Python API's ``users()``): user-info fields where
    fetched, None where not."""
    for record in node_records(snap):
        yield [record[c] for c in NODE_COLUMNS]


def _edges(snap: CrawlReader, path: Path) -> int:
    return atomic_csv(path, EDGE_COLUMNS, edge_rows(snap))


def _nodes(snap: CrawlReader, path: Path) -> int:
    return atomic_csv(path, NODE_COLUMNS, node_rows(snap))


WRITERS: dict[str, Callable[[CrawlReader, Path], int]] = {
    "parsing_list": _parsing_list,
    "queue": _queue,
    "saved_jsons": _saved_jsons,
    "time_stamps": _time_stamps,
    "network": _network,
    "nodes": _nodes,
    "edges": _edges,
}
