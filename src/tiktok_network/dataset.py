"""A crawl as data for a notebook: edges, users, an igraph graph and the status figures.

``tiktok_network.open("crawl.db")`` gives a ``CrawlData``. Each call reads one consistent instant
of the crawl (also while a crawl is running) through the store's read model; the columns are
those of ``edges.csv`` and ``nodes.csv``, with typed values (timestamps as UTC datetimes, counts
as integers, missing values as nulls rather than empty strings).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tiktok_network.export.csvs import (
    COMPLETENESS_COLUMNS,
    EDGE_COLUMNS,
    INFO_COLUMNS,
    NODE_COLUMNS,
    edge_rows,
    node_rows,
)
from tiktok_network.store import display_name, location
from tiktok_network.store.errors import NotACrawlDatabase
from tiktok_network.store.read import CrawlReader
from tiktok_network.store.status import CrawlStatus, read_status

if TYPE_CHECKING:
    import igraph
    import pandas as pd

COUNT_COLUMNS = ("follower_count", "following_count", "likes_count", "video_count")


@dataclass(frozen=True)
class Purge:
    """One entry of the audit log: an account removed from the crawl."""

    at: datetime
    run: int | None
    tombstone: str
    reason: str
    removed: dict[str, int]


def _moment(value: str | float | datetime | None) -> float | None:
    """Unix seconds of a moment given as ISO 8601 text, a datetime or a number."""
    if value is None or isinstance(value, int | float):
        return value
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    from tiktok_network.moments import parse_moment

    return parse_moment(value)


class CrawlData:
    """The data of one crawl database (read-only: nothing here changes the crawl)."""

    def __init__(self, db: str | Path) -> None:
        self.db: str | Path = location(db)
        if isinstance(self.db, Path) and not self.db.exists():
            raise NotACrawlDatabase(f"{self.db}: no such database")
        CrawlReader(self.db).close()  # fail now, with the store's message, if it is not a crawl

    def __repr__(self) -> str:
        return f"CrawlData({display_name(self.db)!r})"

    def edges(self, as_of: str | float | datetime | None = None) -> pd.DataFrame:
        """One row per follow: ``source`` follows ``destination``; ``first_seen`` and
        ``last_seen`` (UTC) and ``found_via`` (the following or followers list it came from).
        ``as_of``: the graph as it stood at that moment (an ISO 8601 date or timestamp, a
        datetime or unix seconds), as ``export --as-of``; default: now."""
        import pandas as pd

        with CrawlReader(self.db, as_of=_moment(as_of)) as reader:
            frame = pd.DataFrame(list(edge_rows(reader)), columns=list(EDGE_COLUMNS))
        for column in ("first_seen", "last_seen"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        return frame

    def diff(self, since: str | float | datetime, until: str | float | datetime) -> pd.DataFrame:
        """Follows gained and lost between two moments, as ``tiktok-network diff``: columns
        ``source``, ``destination``, ``change`` (gained/lost), ``time`` (when observed)."""
        import pandas as pd

        from tiktok_network.export.history import DIFF_COLUMNS, diff_rows

        start, end = _moment(since), _moment(until)
        assert start is not None and end is not None
        with CrawlReader(self.db) as reader:
            frame = pd.DataFrame(list(diff_rows(reader, start, end)), columns=list(DIFF_COLUMNS))
        frame["time"] = pd.to_datetime(frame["time"], utc=True)
        return frame

    def audit(self) -> list[Purge]:
        """Every purge of an account that stopped answering (``docs/compliance.md``): when,
        in which run, its tombstone id, why, and what kind of data went (never the data)."""
        with CrawlReader(self.db) as reader:
            return [
                Purge(datetime.fromtimestamp(at, UTC), run, tombstone, reason, removed)
                for at, run, tombstone, reason, removed in reader.audit()
            ]

    def users(self) -> pd.DataFrame:
        """One row per account known to the crawl, the columns of ``nodes.csv``; ``status`` 0 is
        not parsed yet, 1-4 as in ``parsing_list.csv``; ``following_state`` /
        ``followers_state`` and their ``_received``, ``_reported`` and ``_ratio`` are the
        completeness record of each list (``docs/completeness.md``)."""
        import pandas as pd

        with CrawlReader(self.db) as reader:
            frame = pd.DataFrame(list(node_rows(reader)), columns=list(NODE_COLUMNS))
        for column in ("first_seen", "last_seen", "info_fetched_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        for column in ("first_run", "last_run"):
            frame[column] = pd.array(frame[column], dtype="Int64")
        for column in COUNT_COLUMNS + COMPLETENESS_COLUMNS:
            if column.endswith(("_count", "_received", "_reported")):
                frame[column] = pd.array(frame[column], dtype="Int64")
            elif column.endswith("_ratio"):
                frame[column] = pd.array(frame[column], dtype="Float64")
        frame["is_verified"] = pd.array(frame["is_verified"], dtype="boolean")
        return frame

    def videos(self) -> pd.DataFrame:
        """One row per video collected (``tiktok-network videos``), the columns of
        ``videos.csv``: ``id``, ``username`` (the author), ``create_time`` (UTC),
        ``region_code``, ``hashtags`` (a list), ``description``, the four counts, and when the
        crawl first and last saw it."""
        import pandas as pd

        from tiktok_network.export.videos import VIDEO_COLUMNS

        with CrawlReader(self.db) as reader:
            frame = pd.DataFrame(list(reader.video_rows()), columns=list(VIDEO_COLUMNS))
        frame["hashtags"] = [[t for t in (h or "").split("|") if t] for h in frame["hashtags"]]
        for column in ("create_time", "first_seen", "last_seen"):
            frame[column] = pd.to_datetime(frame[column], unit="s", utc=True)
        for column in ("view_count", "like_count", "comment_count", "share_count"):
            frame[column] = pd.array(frame[column], dtype="Int64")
        return frame

    def hashtags(self) -> pd.DataFrame:
        """The account--hashtag network: one row per account and hashtag it used, with
        ``videos`` (how many of its videos carry it) and its first and last use (UTC), as
        ``account_hashtags.csv``."""
        import pandas as pd

        from tiktok_network.export.videos import account_hashtags

        with CrawlReader(self.db) as reader:
            rows = account_hashtags(reader)
        columns = ["username", "hashtag", "videos", "first_used", "last_used"]
        frame = pd.DataFrame(rows, columns=columns)
        frame["videos"] = frame["videos"].astype("int64")
        for column in ("first_used", "last_used"):
            frame[column] = pd.to_datetime(frame[column], unit="s", utc=True)
        return frame

    def graph(self) -> igraph.Graph:
        """A directed ``igraph.Graph``: vertex attribute ``name`` is the username, the other
        user columns are vertex attributes too; edges carry ``first_seen`` and ``found_via``."""
        import igraph

        with CrawlReader(self.db) as reader:
            users = list(node_rows(reader))
            edges = list(edge_rows(reader))
        graph = igraph.Graph(directed=True)
        graph.add_vertices(len(users))
        for i, column in enumerate(NODE_COLUMNS):
            name = "name" if column == "username" else column
            graph.vs[name] = [row[i] for row in users]
        index = {row[0]: i for i, row in enumerate(users)}
        graph.add_edges(
            [(index[s], index[d]) for s, d, *_ in edges],
            attributes={
                "first_seen": [e[2] for e in edges],
                "found_via": [e[3] for e in edges],
                "last_seen": [e[4] for e in edges],
            },
        )
        return graph

    def status(self) -> CrawlStatus:
        """The figures ``tiktok-network status`` prints (``.lines(...)`` gives its text)."""
        return read_status(self.db)

    def estimates(self) -> dict[str, Any]:
        """What ``analyze`` writes as ``estimates`` in stats.json: the crawl's sampling design
        and its estimates of the population (mean degree with its interval, degree CCDF, ...;
        for breadth-first crawls, figures of the sample, said so). ``docs/sampling.md``."""
        from tiktok_network.analysis.estimators import estimate, sample_of

        return estimate(sample_of(self.db))


__all__ = ["INFO_COLUMNS", "CrawlData", "Purge"]
