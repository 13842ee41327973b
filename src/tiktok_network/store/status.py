"""Progress figures read from the database: what `status` prints and the progress line shows.

Read through a read-only connection, so it works while a crawl runs (WAL lets readers and the
writer proceed together) and can never change the crawl.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tiktok_network.moments import DEFAULT_REFRESH_WINDOW
from tiktok_network.quota_day import day_label, day_number, iso_utc, next_reset
from tiktok_network.store import sampling
from tiktok_network.store.ledger import LedgerError, QuotaLedger, default_ledger_path

STATUS_NAMES = {
    1: "parsed",
    2: "cannot be accessed",
    3: "does not exist",
    4: "failed after retries",
}


@dataclass
class WorkerRow:
    """A process that worked on this crawl."""

    id: str
    host: str
    pid: int
    started_at: float
    heartbeat_at: float
    state: str  # live, dead (no heartbeat), ended (exit N)


@dataclass
class CrawlStatus:
    users_known: int = 0
    seeds: int = 0
    by_depth: dict[int, dict[str, int]] = field(default_factory=dict)
    by_status: dict[int, int] = field(default_factory=dict)
    queued: int = 0
    queued_in_depth: int = 0
    claimed: int = 0
    pages: int = 0
    edges: int = 0
    runs: int = 0
    quota_today: dict[str, int] = field(default_factory=dict)
    quota_exhausted_today: bool = False
    day: str = ""
    next_reset: str = ""
    est_requests: int = 0
    # Per direction: lists by completeness state (docs/completeness.md), and entries received.
    completeness: dict[str, dict[str, int]] = field(default_factory=dict)
    received: dict[str, int] = field(default_factory=dict)
    shared_follow_today: int | None = None  # every crawl with these credentials (the ledger)
    server_said: str | None = None  # the service's own words when it refused for the day
    workers: list[WorkerRow] = field(default_factory=list)
    # What a refresh would re-fetch (ReadModel.compliance), for the window below.
    compliance: dict[str, Any] = field(default_factory=dict)
    window: float = DEFAULT_REFRESH_WINDOW
    info_quota: int = 1000  # the general bucket a refresh's user info comes out of
    # A sampled crawl: steps stored, chains (walkers or waves), distinct users, calls spent.
    sample: dict[str, int] = field(default_factory=dict)
    # The crawl's own depth and follow quota (its last crawl run's settings): what ``lines()``
    # and ``str()`` count against unless told otherwise.
    max_depth: int | None = None
    follow_quota: int = 20000
    # The video collection (tiktok-network videos): units open and finished, pages, videos.
    videos: dict[str, int] = field(default_factory=dict)
    # Each list of videos (--layers): lists by how they ended (complete, hidden, ...), open.
    video_lists: dict[str, dict[str, int]] = field(default_factory=dict)

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def sample_lines(self, design: str, walkers: int, seed: int, budget: int | None) -> list[str]:
        """What a sampled crawl has drawn (crawl/samplers.py) and how much of its budget."""
        s = self.sample
        spent = f"{s.get('calls', 0):,} of {budget:,}" if budget else f"{s.get('calls', 0):,}"
        chains = "walkers" if design in ("rw", "rwrw", "mhrw", "nbrw") else "waves"
        head = f"sample: --sampler {design} --sample-seed {seed}" + (
            f" --walkers {walkers}" if chains == "walkers" else ""
        )
        return [
            f"{head}: {s.get('steps', 0):,} steps over {s.get('chains', 0):,} {chains},"
            f" {s.get('users', 0):,} distinct users; {spent} calls of its budget spent"
        ]

    def lines(self, max_depth: int | None = None, follow_quota: int | None = None) -> list[str]:
        """The text of ``status``; the depth and quota default to the crawl's own."""
        max_depth = self.max_depth if max_depth is None else max_depth
        follow_quota = self.follow_quota if follow_quota is None else follow_quota
        used = self.quota_today.get("following", 0) + self.quota_today.get("followers", 0)
        out = [
            f"users: {self.users_known:,} known ({self.seeds:,} seeds), {self.queued:,} queued"
            + (
                f" ({self.queued_in_depth:,} within --max-depth {max_depth})"
                if max_depth is not None
                else ""
            )
            + (f", {self.claimed:,} in progress" if self.claimed else ""),
            "status: "
            + ", ".join(f"{STATUS_NAMES[k]} {v:,}" for k, v in sorted(self.by_status.items()))
            if self.by_status
            else "status: nothing parsed yet",
            f"pages: {self.pages:,}   edges: {self.edges:,}   runs: {self.runs}",
            f"quota {self.day}: {used:,} of {follow_quota:,} follow requests used, {self.quota_today.get('info', 0):,} info"
            + (" (exhausted)" if self.quota_exhausted_today else "")
            + f"; resets {self.next_reset}",
            *(
                [
                    f"quota {self.day} of these credentials, all crawls on this machine: "
                    f"{self.shared_follow_today:,} follow requests"
                ]
                if self.shared_follow_today is not None and self.shared_follow_today != used
                else []
            ),
            *([f"the service said: {self.server_said}"] if self.server_said else []),
            *(
                [
                    f"videos: {self.videos['videos']:,} collected; units {self.videos['finished']:,}"
                    f" finished, {self.videos['open']:,} open, {self.videos['pages']:,} pages"
                    " (tiktok-network videos --plan: what the rest costs)"
                ]
                if self.videos
                else []
            ),
            *(_list_line(name, counts) for name, counts in self.video_lists.items()),
        ]
        live = [w for w in self.workers if w.state == "live"]
        unended = [w for w in self.workers if not w.state.startswith("ended")]
        if unended:
            out.append(
                f"workers: {len(live)} live, {len(unended) - len(live)} dead (killed, or lost"
                " their connection; their users are taken over after the lease)"
            )
            for w in unended[:10]:
                out.append(
                    f"  {w.host} pid {w.pid}: {w.state}, started {iso_utc(w.started_at)},"
                    f" last heartbeat {iso_utc(w.heartbeat_at)}"
                )
        out += self.completeness_lines()
        for depth in sorted(self.by_depth):
            d = self.by_depth[depth]
            out.append(
                f"  depth {depth}: {d.get('known', 0):,} known, {d.get('done', 0):,} done, {d.get('queued', 0):,} queued"
            )
        return out + self.compliance_lines(follow_quota)

    def compliance_lines(self, follow_quota: int) -> list[str]:
        """The refresh duty (docs/compliance.md): what is older than the window, the oldest
        fetch held, and the calls a full refresh takes."""
        c = self.compliance
        if not c:
            return []
        from tiktok_network.moments import show_duration

        info_quota = self.info_quota
        out = [
            f"refresh window {show_duration(self.window)}: {c['profiles']:,} profiles and"
            f" {c['lists']:,} lists fetched before it"
            + (f", {c['recheck']:,} unavailable accounts to ask again" if c["recheck"] else "")
            + (f"; oldest data fetched {iso_utc(c['oldest'])}" if c["oldest"] else ""),
            f"a full refresh needs about {c['info_calls']:,} user-info calls"
            f" ({c['info_calls'] / info_quota:.1f} days of {info_quota:,}) and, with --lists,"
            f" {c['follow_calls']:,} follow calls ({c['follow_calls'] / follow_quota:.1f} days"
            f" of {follow_quota:,})",
        ]
        if c["in_round"] or c["purged"]:
            out.append(
                f"refresh round: {c['in_round']:,} users left; {c['purged']:,} accounts purged"
                " so far (tiktok_network.open(db).audit())"
            )
        return out

    def completeness_lines(self) -> list[str]:
        """One line per direction: how many lists are in each completeness state."""
        out = []
        for direction, counts in self.completeness.items():
            shown = ", ".join(
                f"{label} {n:,}" for label, n in counts.items() if n and label != "pending"
            )
            pending = counts.get("pending", 0)
            out.append(
                f"{direction} lists: {shown or 'none ended yet'}"
                + (f" (pending {pending:,})" if pending else "")
                + f"; {self.received.get(direction, 0):,} entries received"
            )
        return out


def read_status(
    db: str | Path,
    *,
    max_depth: int | None = None,
    day_seconds: float = 86400.0,
    ledger: str | Path | None = None,
    client: str | None = None,
    window: float = DEFAULT_REFRESH_WINDOW,
) -> CrawlStatus:
    """The figures ``status`` prints; ``client`` is the hashed client of the crawl's last run,
    whose use by every crawl is read from the quota ledger."""
    from tiktok_network.store import is_file_crawl
    from tiktok_network.store.read import CrawlReader

    with CrawlReader(db) as reader:
        conn = reader.conn
        own = reader.last_settings()
        if max_depth is None and isinstance(own.get("max_depth"), int):
            max_depth = own["max_depth"]
        st = _read(conn, max_depth, day_seconds)
        st.max_depth = max_depth
        if isinstance(own.get("follow_quota"), int):
            st.follow_quota = own["follow_quota"]
        if isinstance(own.get("info_quota"), int):
            st.info_quota = own["info_quota"]
        if reader.has_table("sample_steps"):
            _read_sample(st, conn)
        st.completeness, st.received = reader.completeness_counts()
        units = reader.video_units()
        if units:
            st.videos = {
                "open": sum(1 for u in units if not u[2]),
                "finished": sum(1 for u in units if u[2]),
                "pages": sum(u[3] for u in units),
                "videos": reader.video_count(),
            }
        st.video_lists = reader.video_lists()
        if st.video_lists and not st.videos:
            st.videos = {"open": 0, "finished": 0, "pages": 0, "videos": reader.video_count()}
        st.edges = reader.edge_count()
        st.window = window
        st.compliance = reader.compliance(time.time() - window)
        if reader.has_table("workers"):
            st.workers = _workers(conn)
        clients = [
            c
            for (c,) in conn.execute(
                "SELECT DISTINCT client FROM quota WHERE day = ?", (day_number(day_seconds),)
            )
        ]
        if not is_file_crawl(db):  # the organisation's ledger is the crawl's own quota table
            _read_db_ledger(st, conn, day_seconds)
            return st
    if client and client not in clients:
        clients.append(client)
    _read_ledger(st, Path(ledger) if ledger else default_ledger_path(), clients, day_seconds)
    return st


def _workers(conn: Any) -> list[WorkerRow]:
    """Recent workers, newest first: live ones have beaten within the lease their run was
    started with (the time after which others take their users over)."""
    import json
    import time

    now = time.time()
    rows = conn.execute(
        "SELECT w.id, w.host, w.pid, w.started_at, w.heartbeat_at, w.ended_at, w.exit_status,"
        " r.settings FROM workers w LEFT JOIN runs r ON r.id = w.run_id"
        " ORDER BY w.started_at DESC LIMIT 50"
    ).fetchall()
    out = []
    for wid, host, pid, started, beat, ended, exit_status, settings in rows:
        try:
            lease = float(json.loads(settings or "{}").get("lease") or 60.0)
        except (ValueError, TypeError, AttributeError):
            lease = 60.0
        if ended is not None:
            state = f"ended (exit {exit_status})"
        elif now - beat <= lease:
            state = "live"
        else:
            state = "dead (no heartbeat)"
        out.append(WorkerRow(wid, host, pid, started, beat, state))
    return out


def _read_db_ledger(st: CrawlStatus, conn: Any, day_seconds: float) -> None:
    """The service's last word on the quota, from the crawl's own ledger (PostgreSQL)."""
    today = day_number(day_seconds)
    said = conn.execute(
        "SELECT server_at, server_message FROM quota WHERE day = ? AND server_message IS NOT NULL"
        " ORDER BY server_at DESC LIMIT 1",
        (today,),
    ).fetchone()
    if said:
        st.server_said = f"{said[1]} ({iso_utc(said[0] or 0)})"
        st.quota_exhausted_today = True


def _read_ledger(st: CrawlStatus, path: Path, clients: list[str], day_seconds: float) -> None:
    """Today's use of the crawl's credentials by every crawl, and the service's last word."""
    if not clients or not path.exists():
        return
    try:
        ledger = QuotaLedger(path, readonly=True)
    except LedgerError:
        return
    try:
        today = day_number(day_seconds)
        uses = [ledger.day_use(client, today) for client in clients]
    finally:
        ledger.close()
    st.shared_follow_today = sum(
        u.used for use in uses for b, u in use.items() if b in ("following", "followers")
    )
    said = [
        (u.server_at or 0, u.server_message)
        for use in uses
        for u in use.values()
        if u.server_message
    ]
    if said:
        at, message = max(said)
        st.server_said = f"{message} ({iso_utc(at)})"
        st.quota_exhausted_today = True


def _read_sample(st: CrawlStatus, conn: Any) -> None:
    """A sampled crawl's steps (schema 5 and later) and the calls its budget counts."""
    steps, chains, users = conn.execute(
        "SELECT count(*), count(DISTINCT chain), count(DISTINCT user_id) FROM sample_steps"
    ).fetchone()
    if not steps:
        return
    calls = sampling.calls_spent(conn.execute)
    st.sample = {"steps": steps, "chains": chains, "users": users, "calls": calls}


def _read(conn: Any, max_depth: int | None, day_seconds: float) -> CrawlStatus:
    st = CrawlStatus()
    for depth, known, done, queued in conn.execute(
        "SELECT depth, count(*), sum(CASE WHEN status IS NOT NULL THEN 1 ELSE 0 END),"
        " sum(CASE WHEN status IS NULL THEN 1 ELSE 0 END) FROM users GROUP BY depth"
    ):
        st.by_depth[depth] = {"known": known, "done": int(done or 0), "queued": int(queued or 0)}
    st.users_known = sum(d["known"] for d in st.by_depth.values())
    st.queued = sum(d["queued"] for d in st.by_depth.values())
    depth_limit = max_depth if max_depth is not None else 10**9
    st.queued_in_depth = sum(d["queued"] for k, d in st.by_depth.items() if k <= depth_limit)
    st.seeds = conn.execute("SELECT count(*) FROM users WHERE is_seed = 1").fetchone()[0]
    st.claimed = conn.execute("SELECT count(*) FROM users WHERE state = 1").fetchone()[0]
    st.by_status = dict(
        conn.execute("SELECT status, count(*) FROM users WHERE status IS NOT NULL GROUP BY status")
    )
    st.pages = conn.execute("SELECT coalesce(max(id), 0) FROM pages").fetchone()[0]
    st.edges = conn.execute("SELECT count(*) FROM edges").fetchone()[0]
    st.runs = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    today = day_number(day_seconds)
    st.day = day_label(today, day_seconds)
    st.next_reset = iso_utc(next_reset(day_seconds))
    for bucket, used, exhausted in conn.execute(
        "SELECT bucket, sum(used), max(exhausted) FROM quota WHERE day = ? GROUP BY bucket",
        (today,),
    ):
        st.quota_today[bucket] = int(used)
        st.quota_exhausted_today |= bool(exhausted) and bucket != "info"
    parsed = st.by_status.get(1, 0)
    pages_per_user = st.pages / parsed if parsed else 1.0
    st.est_requests = math.ceil(st.queued_in_depth * max(1.0, pages_per_user))
    return st


LIST_STATES = {
    "complete": "complete",
    "hidden": "private (the owner's choice: not failures)",
    "unavailable": "of accounts no longer served",
    "error": "ended early (a cursor that did not move)",
}


def _list_line(name: str, counts: dict[str, int]) -> str:
    """One list of videos in ``status``: its lists by how they ended, and what they held."""
    ended = [f"{counts[k]:,} {what}" for k, what in LIST_STATES.items() if counts.get(k)]
    total = sum(counts.get(k, 0) for k in LIST_STATES) + counts["open"]
    return (
        f"{name} videos: {total:,} lists: {', '.join(ended) or 'none ended'}, {counts['open']:,}"
        f" open; {counts['videos']:,} videos in {counts['pages']:,} pages"
    )
