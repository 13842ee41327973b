"""Typed outcomes of a Research API call, and the rules that classify a response.

Section 4.3 of ``research-api.md`` is the policy: the HTTP status alone is not enough (the real
service reports a missing account as a 400 with a message, the original crawler assumed 403
and 500), so accounts are classified by the meaning of the message first, then by code and
status. Every response lands in exactly one class, and each class has one reaction.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from tiktok_network.api import spec


class Kind(enum.Enum):
    OK = "ok"
    NOT_FOUND = "not_found"  # terminal for that user: status 3
    REFUSED = "refused"  # terminal for that user: status 2
    RATE_LIMITED = "rate_limited"  # short-term 429: back off, all workers
    QUOTA_EXHAUSTED = "quota_exhausted"  # daily quota: wait for 00:00 UTC or exit 75
    TOKEN_INVALID = "token_invalid"  # refresh the token once, then retry
    SCOPE = "scope_not_authorized"  # fatal: the project lacks the scope
    TRANSIENT = "transient"  # 5xx, HTML, truncated JSON, timeout, reset: retry with backoff
    FATAL = "fatal"  # credentials rejected, or answers of a shape we cannot read
    OUTAGE = "outage"  # the whole API did not answer for longer than the tolerance
    UNREACHABLE = "unreachable"  # the API never answered this crawl: a wrong address


_NOT_FOUND_HINTS = ("cannot find the user", "does not exist", "not found", "not exist")
_REFUSED_HINTS = (
    "cannot return this user",
    "is private",
    "information cannot be returned",
    "cannot be accessed",
    "private account",
)


@dataclass
class Outcome:
    """What one request came to; ``detail`` is safe to log (it never holds a token)."""

    kind: Kind
    status: int = 0
    code: str = ""
    detail: str = ""
    log_id: str = ""
    payload: object = None
    retry_after: float | None = None
    extra: dict[str, object] = field(default_factory=dict)


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
