"""Seeds from a topic: the authors of the videos a video query matches.

Marketing and trend researchers start from a hashtag, a keyword, a region and a period rather
than from usernames. The video query answers at most 30 days at a time, so a longer period is
split into windows, each paged with its cursor and ``search_id``; every call comes out of the
general bucket (1,000 requests and 100,000 records a day, shared with user info).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from tiktok_network.api import spec
from tiktok_network.api.client import ResearchClient
from tiktok_network.api.outcomes import Kind

GENERAL_CALLS_A_DAY = 1_000
GENERAL_RECORDS_A_DAY = 100_000


@dataclass
class Author:
    """One account that posted matching videos: how many, and when the first and last were."""

    username: str
    videos: int = 0
    first: int | None = None
    last: int | None = None

    def add(self, created: int) -> None:
        self.videos += 1
        self.first = created if self.first is None else min(self.first, created)
        self.last = created if self.last is None else max(self.last, created)


@dataclass
class VideoSeeds:
    """What a search found and what it cost; ``stopped`` says why it ended early, if it did."""

    authors: dict[str, Author] = field(default_factory=dict)
    calls: int = 0
    records: int = 0
    windows: int = 0
    restarts: int = 0  # windows started again after their search_id expired
    stopped: str | None = None


QUERY_SHAPE = (
    "the API takes an object of and / or / not lists of conditions, each"
    ' {"operation": ..., "field_name": ..., "field_values": [...]}'
)


def check_query(query: Any) -> str | None:
    """What is wrong with a video query given as JSON (None if nothing): its shape is checked
    before any call, so a query the API cannot take costs no quota (field names and
    operations are the API's to judge: they change with its versions)."""
    if not isinstance(query, dict) or not query or not set(query) <= {"and", "or", "not"}:
        return QUERY_SHAPE
    for kind, conditions in query.items():
        if not isinstance(conditions, list):
            return f"query.{kind} is not a list: {QUERY_SHAPE}"
        for condition in conditions:
            if not isinstance(condition, dict) or set(condition) != {
                "operation",
                "field_name",
                "field_values",
            }:
                return f"query.{kind} holds something other than a condition: {QUERY_SHAPE}"
            values = condition["field_values"]
            if not isinstance(values, list) or not values:
                return "field_values must be a non-empty list"
            if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in values):
                return "field_values must be strings or numbers"
    return None


def build_query(
    *,
    hashtags: Iterable[str] = (),
    keywords: Iterable[str] = (),
    regions: Iterable[str] = (),
    usernames: Iterable[str] = (),
    exclude: dict[str, Iterable[str]] | None = None,
    match: str = "all",
) -> dict[str, list[dict[str, Any]]]:
    """The query language's object: each given field is one ``IN`` condition, joined by
    ``and`` (``match="all"``) or ``or`` (``"any"``); ``exclude`` fields go under ``not``."""

    def conditions(pairs: Iterable[tuple[str, Iterable[str]]]) -> list[dict[str, Any]]:
        out = []
        for name, values in pairs:
            values = [v.lstrip("#") if name == "hashtag_name" else v for v in values]
            if values:
                out.append({"operation": "IN", "field_name": name, "field_values": values})
        return out

    wanted = conditions(
        [
            ("hashtag_name", hashtags),
            ("keyword", keywords),
            ("region_code", regions),
            ("username", usernames),
        ]
    )
    query: dict[str, list[dict[str, Any]]] = {"and" if match == "all" else "or": wanted}
    unwanted = conditions((exclude or {}).items())
    if unwanted:
        query["not"] = unwanted
    return query


def windows(since: date, until: date, days: int = spec.VIDEO_MAX_DAYS) -> list[tuple[date, date]]:
    """``since`` .. ``until`` (inclusive) in consecutive windows of at most ``days`` days."""
    out = []
    start = since
    while start <= until:
        end = min(until, start + timedelta(days=days - 1))
        out.append((start, end))
        start = end + timedelta(days=1)
    return out


async def authors_of_videos(
    client: ResearchClient,
    query: dict[str, Any],
    since: date,
    until: date,
    *,
    max_calls: int = GENERAL_CALLS_A_DAY,
    max_records: int = GENERAL_RECORDS_A_DAY,
) -> VideoSeeds:
    """Page through every window of the period; stop at the budget or the service's quota."""
    found = VideoSeeds()
    seen: set[object] = set()  # video ids: a window restarted counts its videos once
    for start, end in windows(since, until):
        found.windows += 1
        cursor, search_id = 0, None
        while True:
            if found.calls >= max_calls or found.records >= max_records:
                found.stopped = f"the budget of {max_calls:,} calls / {max_records:,} records"
                return found
            outcome = await client.video_query(
                query, f"{start:%Y%m%d}", f"{end:%Y%m%d}", cursor, search_id
            )
            found.calls += 1
            if outcome.kind is Kind.QUOTA_EXHAUSTED:
                found.stopped = "the daily quota of the general bucket"
                return found
            if outcome.kind is Kind.SEARCH_EXPIRED:  # the window again: its authors are counted
                cursor, search_id = 0, None  # once per video below, by id
                found.restarts += 1
                continue
            if outcome.kind is not Kind.OK or outcome.videos is None:
                raise VideoQueryError(outcome.detail or f"the video query failed ({outcome.kind})")
            page = outcome.videos
            for video in page.videos:
                name, created = video.get("username"), video.get("create_time")
                if video.get("id") in seen:
                    continue
                seen.add(video.get("id"))
                if isinstance(name, str) and isinstance(created, int):
                    found.authors.setdefault(name, Author(name)).add(created)
            found.records += len(page.videos)
            if not page.has_more or not page.videos:
                break
            cursor, search_id = page.cursor, page.search_id
    return found


class VideoQueryError(Exception):
    """The service refused the query (a bad condition, a field it does not know)."""
