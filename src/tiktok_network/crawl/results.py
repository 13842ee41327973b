"""What a crawl run reports: why it stopped, its counters, and the exit status it maps to."""

from __future__ import annotations

import collections
import enum
import time
from dataclasses import dataclass, field

EXIT_COMPLETE = 0
EXIT_FATAL = 1
EXIT_REQUEUE = 75  # EX_TEMPFAIL: work remains; a batch system may requeue the job
# A user whose lists failed every retry in this many runs (or retry rounds) is given up:
# status 4 stays and the crawl can complete without it.
MAX_USER_ATTEMPTS = 3


class LostClaim(Exception):
    """A shared store refused a page: this worker's lease on the user (or the unit) was taken
    over."""


class StopReason(enum.Enum):
    SIGNAL = "signal"
    QUOTA = "quota"
    MAX_REQUESTS = "max-requests"
    FATAL = "fatal"
    OUTAGE = "outage"  # the API did not answer for longer than --outage-tolerance
    FAILED_USERS = "failed-users"  # users failed every retry: a rerun retries them


@dataclass
class CrawlStats:
    """Counters of this run, read by the progress display (never by the crawl itself)."""

    started: float = field(default_factory=time.monotonic)
    pages: int = 0
    items: int = 0
    users_done: collections.Counter[int] = field(default_factory=collections.Counter)
    infos: int = 0
    in_flight: int = 0
    quota_wait_until: float | None = None
    warnings: int = 0


@dataclass
class CrawlResult:
    exit_code: int
    complete: bool
    reason: str
    stats: CrawlStats
    requests: int
    fatal: str | None = None
