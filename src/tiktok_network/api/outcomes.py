"""Typed outcomes of a Research API call, and the rules that classify a response.

Section 4.3 of ``research-api.md`` is the policy: the HTTP status alone is not enough (the real
service reports a missing account as a 400 with a message, the original crawler assumed 403
and 500), so accounts are classified by the meaning of the message first, then by code and
status. Every response lands in exactly one class, and each class has one reaction.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import msgspec

from tiktok_network.api import spec


class Kind(enum.Enum):
    OK = "ok"
    NOT_FOUND = "not_found"  # terminal for that user: status 3
    REFUSED = "refused"  # terminal for that user: status 2
    HIDDEN = "hidden"  # a following list its owner hid: that list ends, the user goes on
    RATE_LIMITED = "rate_limited"  # short-term 429: back off, all workers
    QUOTA_EXHAUSTED = "quota_exhausted"  # daily quota: wait for 00:00 UTC or exit 75
    TOKEN_INVALID = "token_invalid"  # refresh the token once, then retry
    SCOPE = "scope_not_authorized"  # fatal: the project lacks the scope
    TRANSIENT = "transient"  # 5xx, HTML, truncated JSON, timeout, reset: retry with backoff
    FATAL = "fatal"  # credentials rejected, or answers of a shape we cannot read
    OUTAGE = "outage"  # the whole API did not answer for longer than the tolerance
    UNREACHABLE = "unreachable"  # the API never answered this crawl: a wrong address
    # A video query's search_id expired mid-paging: its window starts again (not retried as
    # it stands: the same search_id is refused again, each time a call of the quota).
    SEARCH_EXPIRED = "search_expired"


_NOT_FOUND_HINTS = ("cannot find the user", "does not exist", "not found", "not exist")
_REFUSED_HINTS = (
    "cannot return this user",
    "is private",
    "information cannot be returned",
    "cannot be accessed",
    "private account",
)


@dataclass(frozen=True)
class Page:
    """One page of a follow list as served, with what provenance needs."""

    endpoint: str
    username: str
    request_cursor: int | None
    items: list[tuple[str, str | None]]
    next_cursor: int | None
    has_more: bool
    raw: bytes
    log_id: str
    request: bytes  # the JSON body sent (no credentials in it)
    fetched_at: float
    # A list of videos (``entry="video"``): its entries as served, left to the crawl to read
    # (``items`` is empty: it names accounts only).
    videos: list[dict[str, Any]] = field(default_factory=list)


class UserInfo(msgspec.Struct, omit_defaults=True):
    """The profile fields of user info the crawl keeps (``spec.PROFILE_FIELDS``)."""

    display_name: str | None = None
    bio_description: str | None = None
    avatar_url: str | None = None
    is_verified: bool | None = None
    follower_count: int | None = None
    following_count: int | None = None
    likes_count: int | None = None
    video_count: int | None = None


# The largest count kept: what every integer column of both backends and Parquet's int64 hold
# with room to spare. A count beyond it (or below zero) is no count: stored as unknown.
MAX_COUNT_VALUE = 2**62
COUNT_FIELDS = ("follower_count", "following_count", "likes_count", "video_count")


def plain_counts(info: UserInfo) -> UserInfo:
    """``info`` with every count outside 0 .. 2^62 set to unknown (None)."""
    for name in COUNT_FIELDS:
        value = getattr(info, name)
        if value is not None and not 0 <= value <= MAX_COUNT_VALUE:
            setattr(info, name, None)
    return info


@dataclass
class VideoPage:
    """One page of a video query: the videos as served, and where the next page starts."""

    videos: list[dict[str, Any]]
    cursor: int
    has_more: bool
    search_id: str


@dataclass
class Outcome:
    """What one request came to; ``detail`` is safe to log (it never holds a token).

    An OK follow page carries ``page``, an OK user info ``info``; ``attempts`` counts the tries
    of a request that failed them all; ``interrupted`` marks one cut short by shutdown.
    """

    kind: Kind
    status: int = 0
    code: str = ""
    detail: str = ""
    log_id: str = ""
    page: Page | None = None
    info: UserInfo | None = None
    videos: VideoPage | None = None
    data: Any = None  # the ``data`` of an OK answer read as it is (batch compliance)
    retry_after: float | None = None
    attempts: int = 0
    interrupted: bool = False


def classify_error(status: int, code: str, message: str) -> Kind:
    """The class of a response that is not ``ok``, from its status, error code and message."""
    text = message.lower()
    if status == 429 or code in (spec.RATE_LIMIT_EXCEEDED, spec.DAILY_QUOTA_LIMIT_EXCEEDED):
        if code == spec.DAILY_QUOTA_LIMIT_EXCEEDED or "quota" in text:
            return Kind.QUOTA_EXHAUSTED
        return Kind.RATE_LIMITED
    if code == spec.ACCESS_TOKEN_INVALID:
        return Kind.TOKEN_INVALID
    if code in (spec.SCOPE_NOT_AUTHORIZED, spec.SCOPE_PERMISSION_MISSED):
        return Kind.SCOPE
    if spec.INVALID_CURSOR_MESSAGE.lower() in text:
        return Kind.TRANSIENT
    if "search id" in text and ("expired" in text or "invalid" in text):
        return Kind.SEARCH_EXPIRED
    if any(hint in text for hint in _NOT_FOUND_HINTS):
        return Kind.NOT_FOUND
    if any(hint in text for hint in _REFUSED_HINTS):
        return Kind.REFUSED
    if status == 401:
        return Kind.TOKEN_INVALID
    if status == 403:
        return Kind.REFUSED
    if status == 404:
        return Kind.NOT_FOUND
    return Kind.TRANSIENT
