"""The crawl state interface, and the records that cross it.

The engine talks to the store only through these operations, so a PostgreSQL store shared by
several workers can implement them later. Claims carry a worker id and a time, so that two
workers never fetch the same user and a dead worker's claims can be taken back.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class UserState(enum.IntEnum):
    """Where a user is in the crawl (``users.state``)."""

    TODO = 0
    CLAIMED = 1
    DONE = 2
    FAILED = 3
    REFRESH = 4  # waiting for the refresh round that marked it (``tiktok-network refresh``)


class UserStatus(enum.IntEnum):
    """The verdict on a user (``users.status``, the codes of ``parsing_list.csv``); a user with
    no verdict yet is exported as 0."""

    QUEUED = 0
    PARSED = 1
    REFUSED = 2
    NOT_FOUND = 3
    FAILED = 4


class ListCompleteness(enum.IntEnum):
    """How much of one follow list the crawl holds (``lists.state``; the ``following_state`` and
    ``followers_state`` columns of the exports, by ``label``). ``docs/completeness.md`` says
    what each means and how it is decided."""

    PENDING = 0  # not fetched yet, or in progress
    COMPLETE = 1  # served to its end, and no shorter than the profile's count
    CAPPED = 2  # the API withheld part of it: at its cap, or short of the profile's count
    CAPPED_BY_CHOICE = 3  # stopped or skipped by --max-list-items / --skip-larger-than
    HIDDEN = 4  # a following list its owner hid (the followers may still be served)
    PRIVATE = 5  # the API refused the account (private, restricted: it does not say which)
    NOT_FOUND = 6  # no such account (deleted, banned or mistyped)
    ERROR = 7  # failed every retry, or ended early by a broken cursor
    UNJUDGED = 8  # served to its end with --info, but its profile's count is not known yet

    @property
    def label(self) -> str:
        return self.name.lower()


TODO, CLAIMED, DONE, FAILED = UserState.TODO, UserState.CLAIMED, UserState.DONE, UserState.FAILED
REFRESH = UserState.REFRESH


@dataclass
class ListState:
    cursor: int | None = None
    done: bool = False
    pages: int = 0
    items: int = 0
    verdict: int | None = None  # the ListCompleteness stored when it ended


@dataclass
class Claim:
    """A user handed to one worker, with where each of its lists stopped."""

    user_id: int
    username: str
    depth: int
    lists: dict[str, ListState] = field(default_factory=dict)
    needs_info: bool = False
    last_page: dict[str, set[str]] = field(default_factory=dict)  # usernames, per list
    reported: dict[str, int | None] = field(default_factory=dict)  # profile counts, if known
    info_only: bool = False  # a refresh of the user info alone: its lists stay as they are
    prior_status: int | None = None  # a refreshed user's status before the round

    @classmethod
    def of_row(cls, row: tuple[Any, ...], directions: tuple[str, ...], info: bool) -> Claim:
        """A claim from a backend's RETURNING row: id, username, depth, and optionally whether
        user info is missing and the two reported counts."""
        missing_info = bool(row[3]) if len(row) > 3 else True
        return cls(
            row[0],
            row[1],
            row[2],
            {d: ListState() for d in directions},
            info and missing_info,
            reported={"following": row[4], "followers": row[5]} if len(row) > 5 else {},
        )


@dataclass
class PageRecord:
    """Everything one page commits atomically: its edges, raw response, cursor and status."""

    user_id: int
    depth: int
    direction: str
    request: bytes
    request_cursor: int | None
    next_cursor: int | None
    has_more: bool
    list_done: bool
    items: list[tuple[str, str | None]]
    raw: bytes
    log_id: str
    fetched_at: float
    user_complete: bool = False
    note: str | None = None  # why the list is not complete (the completeness reason)
    list_state: int | None = None  # a ListCompleteness, set on the page that ends the list
    fresh: int = 0  # entries not on the list's previous page (what ``received`` counts)


ListVerdict = tuple[int, str | None]  # (ListCompleteness, reason)


@dataclass(frozen=True)
class RefreshMarks:
    """What a refresh round marks (``tiktok-network refresh``)."""

    cutoff: float  # data fetched before this moment is due
    lists: bool  # the follow lists of expanded users too, not only user info
    directions: tuple[str, ...]  # the crawl's directions
    info_for_all: bool  # user info of the users found beyond the crawl's depth too
    max_depth: int  # the crawl's depth: users beyond it were never expanded
    videos: bool = False  # the stored videos too, through batch compliance (refresh --videos)


@dataclass(frozen=True)
class RefreshRound:
    """What starting a refresh found or marked (``lifecycle.begin_refresh``)."""

    new: bool  # a round was started (False: an unfinished one continues)
    users: int  # users the round still has to fetch
    lists: int  # lists the round re-fetches (new rounds only; 0 when continuing)


@dataclass
class UserOutcome:
    user_id: int
    state: int
    status: int | None
    error: str | None = None
    # Lists closed without a page (skipped by --skip-larger-than): direction -> verdict.
    lists: dict[str, ListVerdict] = field(default_factory=dict)


@dataclass
class ProfileRecord:
    """User info of one account, its two counts, and new verdicts on lists that had ended
    before the counts were known (a short list is capped, not complete)."""

    user_id: int
    info_json: str
    reported: dict[str, int | None] = field(default_factory=dict)
    list_states: dict[str, ListVerdict] = field(default_factory=dict)
    log_id: str | None = None  # the API's log id of the response


@dataclass
class QuotaDelta:
    client: str
    day: int
    bucket: str
    used: int = 0
    exhausted: bool = False
    server_message: str | None = None  # what the service said when it refused for the day


# What a run was: a crawl's own settings define the crawl; a refresh or a plan's info round
# runs with the crawl's settings and never changes them (their runs are skipped when a rerun
# looks for the crawl's settings).
RUN_COMMAND = "command"
SETTING_RUNS = ("crawl",)


def crawl_settings(rows: Iterable[tuple[str]]) -> dict[str, object]:
    """The settings of the most recent crawl run among ``rows`` (newest first): runs of
    ``refresh`` and ``plan`` are passed over ({} when no crawl ran)."""
    for row in rows:
        settings = decode_settings(row)
        if settings and settings.get(RUN_COMMAND, "crawl") in SETTING_RUNS:
            return settings
    return {}


def decode_settings(row: tuple[str] | None) -> dict[str, object]:
    """The settings JSON a run was stored with, as a dict ({} when absent or unreadable)."""
    import json

    if row is None:
        return {}
    try:
        value = json.loads(row[0])
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class ReadConnection(Protocol):
    """One read-only snapshot of a crawl database (``store.open_read_connection``): the read
    model's SQL, written once with ``?`` placeholders, runs on either backend through it."""

    concat: str  # the aggregate that joins strings: group_concat, string_agg

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def stream(self, sql: str, params: Sequence[Any] = (), batch: int = 10_000) -> Iterator[Any]:
        """Rows in batches, never the whole result in memory."""
        ...

    def has_table(self, name: str) -> bool: ...

    def has_column(self, table: str, column: str) -> bool: ...

    def close(self) -> None: ...


class SharedQuota(Protocol):
    """The day's quota of a crawl shared by workers, debited in its own database
    (``store.open_shared_quota``), and the rate limit they share."""

    async def debit(
        self, client: str, day: int, bucket: str, group: tuple[str, ...], budget: int, n: int = 1
    ) -> int: ...

    async def refund(self, client: str, day: int, bucket: str, n: int = 1) -> None: ...

    async def mark_exhausted(
        self, client: str, day: int, bucket: str, message: str | None
    ) -> None: ...

    async def day_use(self, client: str, day: int) -> dict[str, tuple[int, bool]]: ...

    def rate_limiter(self, client: str, qps: float) -> Any:
        """The client's limiter (``await acquire()``) over slots all workers share."""
        ...

    async def close(self) -> None: ...


class CrawlStore(abc.ABC):
    """Durable crawl state. Every method is one transaction unless it says otherwise."""

    @abc.abstractmethod
    def begin_run(self, tool_version: str, api_base: str, settings_json: str) -> int: ...

    @abc.abstractmethod
    def end_run(self, run_id: int, exit_status: int) -> None: ...

    @abc.abstractmethod
    def add_seeds(self, usernames: list[str]) -> tuple[int, int]:
        """Insert seeds at depth 0; returns (new, already known)."""

    @abc.abstractmethod
    def recover(self, worker: str, max_attempts: int) -> int:
        """Put back claims left by a dead run and failed users, so this run retries them."""

    @abc.abstractmethod
    def retry_failed(self, max_attempts: int) -> int:
        """Failed users with fewer than ``max_attempts`` attempts go back to the frontier."""

    @abc.abstractmethod
    def failed_users(self, max_attempts: int) -> int:
        """How many failed users a later run will retry."""

    @abc.abstractmethod
    def answered_before(self, api_base: str) -> bool:
        """Whether ``api_base`` ever served a page to this crawl."""

    @abc.abstractmethod
    def claim(
        self, worker: str, n: int, max_depth: int, directions: tuple[str, ...], info: bool
    ) -> list[Claim]: ...

    @abc.abstractmethod
    def claim_info(
        self,
        worker: str,
        n: int,
        depths: tuple[int, int],
        directions: tuple[str, ...],
        after: int = 0,
    ) -> list[Claim]:
        """Users within ``depths`` (inclusive), with ids above ``after``, that have no user
        info and no verdict, in id order, claimed for their user info only (``plan``'s seeds,
        ``--info-for all``'s unexpanded users); they are released afterwards, their lists
        untouched."""

    @abc.abstractmethod
    def begin_refresh(self, marks: RefreshMarks) -> RefreshRound:
        """Continue an unfinished refresh round or mark what was fetched before ``cutoff``
        (``lifecycle.begin_refresh``); one transaction."""

    @abc.abstractmethod
    def refresh_pending(self) -> int:
        """Users the current refresh round has not finished."""

    @abc.abstractmethod
    def claim_refresh(self, worker: str, n: int, directions: tuple[str, ...]) -> list[Claim]:
        """Users the refresh round marked, oldest data first."""

    @abc.abstractmethod
    def apply(
        self,
        run_id: int,
        pages: list[PageRecord],
        outcomes: list[UserOutcome],
        profiles: list[ProfileRecord],
        releases: list[int],
        quota: list[QuotaDelta],
    ) -> set[int]:
        """Commit a batch of page records, user outcomes, profiles, releases and quota use;
        returns the users whose pages were refused because this worker lost them (a shared
        store whose lease on them expired), so that their workers stop."""

    shared = False  # True where several processes work on one crawl (PostgreSQL)
    dialect: Any  # its ``operations.Dialect``: what its SQL differs in

    @abc.abstractmethod
    def transact(self, fn: Callable[[Callable[[str, tuple[Any, ...]], Any]], T]) -> T:
        """Run ``fn(execute)`` in one transaction, ``execute`` taking backend-neutral SQL
        (``?`` placeholders): how the SQL written once for both backends runs
        (``store/sampling.py``)."""

    @abc.abstractmethod
    def register_worker(self, worker: str, run_id: int) -> None:
        """Record this process (host, pid, start) for ``status``; a shared store also fences
        its writes with it."""

    @abc.abstractmethod
    def heartbeat(self, worker: str) -> None:
        """This worker is alive: its claims are not to be taken over."""

    def reclaim_expired(self) -> int:
        """Take back the claims of workers whose lease expired (a shared store; a SQLite crawl
        has one process, whose dead runs' claims ``recover`` took back at its start)."""
        return 0

    def claimed_elsewhere(self, worker: str) -> int:
        """Users other live workers hold (they may still add to the frontier)."""
        return 0

    @abc.abstractmethod
    def release_worker(self, worker: str) -> int:
        """Put back every claim this worker still holds (shutdown)."""

    @abc.abstractmethod
    def started_users(self) -> int:
        """Users whose lists were started (claimed, done or failed): for --max-users."""

    @abc.abstractmethod
    def frontier_empty(self, max_depth: int) -> bool:
        """True when no user within ``max_depth`` waits to be crawled."""

    @abc.abstractmethod
    def quota_used(self, client: str, day: int) -> dict[str, tuple[int, bool]]: ...

    @abc.abstractmethod
    def close(self) -> None: ...
