"""The graph's history: follows gained and lost between two moments (``tiktok-network diff``,
the Python API's ``diff``), as the crawl observed them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tiktok_network.export.csvs import atomic_csv
from tiktok_network.quota_day import iso_utc
from tiktok_network.store.read import CrawlReader

DIFF_COLUMNS = ("source", "destination", "change", "time")


def diff_rows(
    reader: CrawlReader, since: float, until: float
) -> Iterator[tuple[str, str, str, str]]:
    """(source, destination, gained/lost, when observed) for the net change between the
    moments: a follow present at ``until`` and not at ``since`` is gained, the reverse lost.
    The time is when the crawl saw it (first sighting, or the refresh that found it gone)."""
    names = reader.names()
    for src, dst, change, at in reader.changes(since, until):
        yield names[src] or "", names[dst] or "", change, iso_utc(at)


def write_diff(reader: CrawlReader, since: float, until: float, path: Path) -> dict[str, int]:
    """Write the diff as a CSV (atomically); returns how many follows were gained and lost."""
    counts = {"gained": 0, "lost": 0}

    def rows() -> Iterator[tuple[str, str, str, str]]:
        for row in diff_rows(reader, since, until):
            counts[row[2]] += 1
            yield row

    atomic_csv(path, DIFF_COLUMNS, rows())
    return counts
