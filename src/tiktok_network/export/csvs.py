"""The classic five CSVs of the original crawler, plus nodes.csv and edges.csv.

All files come from one read snapshot of the database, so they agree with each other even
while a crawl keeps writing. Each file is written under a temporary name and renamed, so a
reader (or a signal) never sees half a file, and a failed export leaves the previous one.
Cells that a spreadsheet would run as a formula are neutralised with a leading apostrophe.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from tiktok_network.quota_day import iso_utc
from tiktok_network.store.sqlite import connect, decompress

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


class OutputNotWritable(Exception):
    """The output folder cannot be created or written; checked before any work is done."""


def check_output_dir(out: str | Path) -> Path:
    """Create ``out`` and prove a file can be written there, so that a crawl or an analysis
    that takes hours does not fail at its very end."""
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test.{os.getpid()}.tmp"
        with open(probe, "wb") as f:
            f.write(b"ok")
        probe.unlink()
    except OSError as exc:
        raise OutputNotWritable(
            f"{folder}: cannot write outputs there ({exc.strerror or exc}): choose another --out"
        ) from None
    return folder


def safe_cell(value: Any) -> Any:
    """Neutralise text a spreadsheet would evaluate (=, +, -, @ ...) by prefixing ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def atomic_csv(path: Path, header: Iterable[str], rows: Iterable[Iterable[Any]]) -> int:
    """Write a CSV to a temporary file in the same folder and rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    count = 0
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            for row in rows:
                writer.writerow([safe_cell(v) for v in row])
                count += 1
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return count


class Snapshot:
    """A read-only view of the crawl database at one instant."""

    def __init__(self, db: str | Path) -> None:
        self.conn = connect(db, readonly=True)
        self.conn.execute("BEGIN")  # one read transaction: every query sees the same state
        self._names: list[str | None] | None = None

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.execute("COMMIT")
        self.conn.close()

    def names(self) -> list[str | None]:
        """Usernames indexed by user id (ids are dense), loaded once."""
        if self._names is None:
            top = self.conn.execute("SELECT coalesce(max(id), 0) FROM users").fetchone()[0]
            names: list[str | None] = [None] * (top + 1)
            for i, name in self.conn.execute("SELECT id, username FROM users"):
                names[i] = name
            self._names = names
        return self._names


def _rows(
    conn: sqlite3.Connection, sql: str, convert: Callable[[tuple[Any, ...]], Iterable[Any]]
) -> Iterator[Iterable[Any]]:
    cur = conn.execute(sql)
    while batch := cur.fetchmany(10000):
        for row in batch:
            yield convert(row)


def export_csvs(
    db: str | Path, out: str | Path, formats: Iterable[str] = CLASSIC + EXTENDED
) -> dict[str, int]:
    """Write the requested CSVs to ``out``; returns rows written per file."""
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(out_dir)
    snap = Snapshot(db)
    try:
        written: dict[str, int] = {}
        for name in formats:
            written[name] = WRITERS[name](snap, out_dir / f"{name}.csv")
        return written
    finally:
        snap.close()


def _remove_stale_temporaries(out_dir: Path) -> None:
    """Temporary files left by an export that was killed (its process is gone)."""
    for tmp in out_dir.glob(".*.csv.*.tmp"):
        pid = tmp.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            with contextlib.suppress(OSError):
                tmp.unlink()


def _parsing_list(snap: Snapshot, path: Path) -> int:
    sql = "SELECT username, status FROM users WHERE status IS NOT NULL ORDER BY finished_at, id"
    return atomic_csv(path, ("username", "status"), _rows(snap.conn, sql, lambda r: r))


def _queue(snap: Snapshot, path: Path) -> int:
    sql = "SELECT username FROM users WHERE status IS NULL ORDER BY depth, id"
    return atomic_csv(path, ("username",), _rows(snap.conn, sql, lambda r: r))


def _saved_jsons(snap: Snapshot, path: Path) -> int:
    names = snap.names()
    sql = "SELECT user_id, response FROM pages ORDER BY id"
    return atomic_csv(
        path,
        ("username", "json"),
        _rows(snap.conn, sql, lambda r: (names[r[0]], decompress(r[1]).decode("utf-8"))),
    )


def _time_stamps(snap: Snapshot, path: Path) -> int:
    names = snap.names()
    sql = "SELECT user_id, fetched_at FROM pages ORDER BY id"
    return atomic_csv(
        path,
        ("username", "timestamp"),
        _rows(snap.conn, sql, lambda r: (names[r[0]], iso_utc(r[1]))),
    )


def _network(snap: Snapshot, path: Path) -> int:
    names = snap.names()
    sql = "SELECT src, dst FROM edges"
    return atomic_csv(
        path, ("source", "destination"), _rows(snap.conn, sql, lambda r: (names[r[0]], names[r[1]]))
    )


def _edges(snap: Snapshot, path: Path) -> int:
    names = snap.names()
    sql = "SELECT e.src, e.dst, p.fetched_at, p.direction FROM edges e JOIN pages p ON p.id = e.page_id"
    return atomic_csv(
        path,
        ("source", "destination", "first_seen", "found_via"),
        _rows(snap.conn, sql, lambda r: (names[r[0]], names[r[1]], iso_utc(r[2]), r[3])),
    )


def _nodes(snap: Snapshot, path: Path) -> int:
    sql = (
        "SELECT u.username, u.display_name, u.depth, u.status, u.first_seen, u.info,"
        " (SELECT group_concat(l.direction || ': ' || l.note, '; ') FROM lists l"
        "  WHERE l.user_id = u.id AND l.note IS NOT NULL) FROM users u ORDER BY u.id"
    )

    def convert(r: tuple[Any, ...]) -> list[Any]:
        info = json.loads(r[5]) if r[5] else {}
        display = info.get("display_name", r[1])
        return [
            r[0],
            display,
            r[2],
            r[3] if r[3] is not None else 0,  # 0: not parsed yet (queued)
            iso_utc(r[4]),
            *(info.get(c, "") for c in INFO_COLUMNS),
            r[6] or "",
        ]

    header = ("username", "display_name", "depth", "status", "first_seen", *INFO_COLUMNS, "notes")
    return atomic_csv(path, header, _rows(snap.conn, sql, convert))


WRITERS: dict[str, Callable[[Snapshot, Path], int]] = {
    "parsing_list": _parsing_list,
    "queue": _queue,
    "saved_jsons": _saved_jsons,
    "time_stamps": _time_stamps,
    "network": _network,
    "nodes": _nodes,
    "edges": _edges,
}
