"""The quota day: the calendar unit in which the Research API counts requests.

The real service resets its daily quotas at 00:00 UTC. Tests and dry runs need to cross that
midnight in seconds, so both the emulator and the crawler measure days with the same rule:
day number ``floor(unix_time / day_seconds)``. With the default ``day_seconds = 86400`` this is
exactly the UTC calendar day, and a shorter day keeps the two processes in agreement without
any handshake.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

SECONDS_PER_DAY = 86400


def day_number(day_seconds: float = SECONDS_PER_DAY, now: float | None = None) -> int:
    """Index of the quota day containing ``now`` (default: the current time)."""
    now = time.time() if now is None else now
    return int(now // day_seconds)


def next_reset(day_seconds: float = SECONDS_PER_DAY, now: float | None = None) -> float:
    """Unix time of the next quota reset (00:00 UTC for real days)."""
    now = time.time() if now is None else now
    return (int(now // day_seconds) + 1) * day_seconds


def day_label(day: int, day_seconds: float = SECONDS_PER_DAY) -> str:
    """Readable name of a quota day: the UTC date for real days, ``day-N`` for emulated ones."""
    if day_seconds == SECONDS_PER_DAY:
        return datetime.fromtimestamp(day * SECONDS_PER_DAY, UTC).date().isoformat()
    return f"day-{day}"


def iso_utc(ts: float) -> str:
    """ISO-8601 UTC timestamp with a ``Z`` suffix, second resolution."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
