"""The videos accounts post, written once for both backends (over ``execute``, ``?`` SQL).

A collection is split into **units**: a batch of accounts (``--usernames-per-query``, one
``username IN`` condition) over one window of at most 30 days. A unit keeps where its paging
stopped (the cursor and the ``search_id`` that names the result set), so a run killed at any
point continues from its last committed page; a unit is claimed by one worker at a time, and
each page is one transaction: the videos (upserted by id, so a page fetched twice, or a window
restarted after its ``search_id`` expired, adds nothing twice), the account -> video edges
(relation ``posted``) and the unit's new cursor, fenced by the claim (a worker that lost it
commits nothing).

Accounts are members of units by id, never by name, so a purge has nothing to scrub here: it
deletes the account's memberships, its videos and their edges (``lifecycle.purge``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from tiktok_network.store.base import DONE, UserStatus
from tiktok_network.store.lifecycle import Execute, purged_among
from tiktok_network.store.operations import CHUNK, Dialect

POSTED = "posted"  # the relation of an account to the videos it posted
OPEN, FINISHED = 0, 1  # video_units.done


@dataclass
class VideoUnit:
    """One unit as a worker holds it: its accounts, its window, where its paging stopped."""

    unit_id: int
    start_date: str  # YYYYMMDD
    end_date: str
    cursor: int
    search_id: str | None
    usernames: list[str] = field(default_factory=list)
    pages: int = 0
    videos: int = 0


@dataclass(frozen=True)
class VideoRow:
    """One video as stored (the fields the tool asks for; ``hashtags`` ``|``-joined)."""

    video_id: int
    username: str
    create_time: int | None
    region_code: str | None
    hashtags: str
    description: str | None
    view_count: int | None
    like_count: int | None
    comment_count: int | None
    share_count: int | None


@dataclass(frozen=True)
class VideoPageRecord:
    """One page of a unit: its videos, and where the unit goes on from (``done``: it ended;
    ``restart``: its ``search_id`` expired, and it starts again from the first page)."""

    unit_id: int
    worker: str
    run_id: int
    videos: list[VideoRow]
    next_cursor: int
    search_id: str | None
    done: bool
    log_id: str | None
    fetched_at: float
    restart: bool = False


def plan_units(execute: Execute, windows: Sequence[tuple[str, str]], per_query: int) -> int:
    """Units for every expanded account (not purged) and window that no unit covers yet;
    returns how many were made. Run again after the crawl grew, it adds units for the new
    accounts only."""
    made = 0
    for start, end in windows:
        rows = execute(
            f"SELECT id FROM users WHERE state = {DONE:d} AND status = {UserStatus.PARSED:d}"
            " AND purged_at IS NULL AND id NOT IN (SELECT m.user_id FROM"
            " video_unit_members m JOIN video_units u ON u.id = m.unit_id"
            " WHERE u.start_date = ? AND u.end_date = ?) ORDER BY id",
            (start, end),
        ).fetchall()
        ids = [int(r[0]) for r in rows]
        for first in range(0, len(ids), per_query):
            unit = execute(
                "INSERT INTO video_units(start_date, end_date) VALUES (?, ?) RETURNING id",
                (start, end),
            ).fetchone()[0]
            for user_id in ids[first : first + per_query]:
                execute(
                    "INSERT INTO video_unit_members(unit_id, user_id) VALUES (?, ?)",
                    (unit, user_id),
                )
            made += 1
    return made


def claim_units(
    execute: Execute, dialect: Dialect, worker: str, n: int, max_attempts: int
) -> list[VideoUnit]:
    """The next ``n`` open units nobody holds, by id, with their accounts' usernames."""
    rows = execute(
        "UPDATE video_units SET claimed_by = ?, claimed_at = ?, attempts = attempts + 1"
        " WHERE id IN (SELECT id FROM video_units WHERE done = 0 AND claimed_by IS NULL"
        f" AND attempts < ? ORDER BY id LIMIT ?{dialect.skip_locked})"
        " RETURNING id, start_date, end_date, cursor, search_id, pages, videos",
        (worker, time.time(), max_attempts, n),
    ).fetchall()
    units = {
        int(r[0]): VideoUnit(int(r[0]), r[1], r[2], int(r[3]), r[4], [], int(r[5]), int(r[6]))
        for r in rows
    }
    ids = sorted(units)
    for first in range(0, len(ids), CHUNK):
        where, params = dialect.any_of("m.unit_id", ids[first : first + CHUNK])
        for unit_id, username in execute(
            "SELECT m.unit_id, u.username FROM video_unit_members m JOIN users u"
            f" ON u.id = m.user_id WHERE {where} AND u.purged_at IS NULL ORDER BY u.id",
            params,
        ):
            units[int(unit_id)].usernames.append(username)
    return [units[i] for i in ids]


def commit_page(execute: Execute, page: VideoPageRecord) -> bool:
    """One page of a unit in the caller's transaction; False (nothing written) when the
    worker no longer holds the unit."""
    moved = execute(
        "UPDATE video_units SET cursor = ?, search_id = ?, done = ?, pages = pages + ?,"
        " videos = videos + ?, restarts = restarts + ?, run_id = ?, last_error = NULL,"
        " attempts = CASE WHEN ? = 1 THEN 0 ELSE attempts END"
        " WHERE id = ? AND claimed_by = ?",
        (
            0 if page.restart else page.next_cursor,
            None if page.restart else page.search_id,
            FINISHED if page.done else OPEN,
            0 if page.restart else 1,
            len(page.videos),
            1 if page.restart else 0,
            page.run_id,
            0 if page.restart else 1,
            page.unit_id,
            page.worker,
        ),
    ).rowcount
    if not moved:
        return False
    if page.done:
        execute(
            "UPDATE video_units SET claimed_by = NULL, claimed_at = NULL WHERE id = ?",
            (page.unit_id,),
        )
    if page.videos:
        _store_videos(execute, page)
    return True


def _store_videos(execute: Execute, page: VideoPageRecord) -> None:
    """The page's videos and their ``posted`` edges, upserted; videos of an account the crawl
    does not hold (or purged) are left out: the query named only accounts it holds."""
    names = sorted({v.username for v in page.videos})
    gone = purged_among(execute, names)
    ids: dict[str, int] = {}
    for name in names:
        if name in gone:
            continue
        row = execute(
            "SELECT id FROM users WHERE username = ? AND purged_at IS NULL", (name,)
        ).fetchone()
        if row is not None:
            ids[name] = int(row[0])
    at, run = page.fetched_at, page.run_id
    for v in page.videos:
        author = ids.get(v.username)
        if author is None:
            continue
        execute(
            "INSERT INTO videos(id, author_id, create_time, region_code, hashtags, description,"
            " view_count, like_count, comment_count, share_count, first_seen, last_seen,"
            " first_run, last_run, log_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET author_id = excluded.author_id,"
            " create_time = excluded.create_time, region_code = excluded.region_code,"
            " hashtags = excluded.hashtags, description = excluded.description,"
            " view_count = excluded.view_count, like_count = excluded.like_count,"
            " comment_count = excluded.comment_count, share_count = excluded.share_count,"
            " last_seen = excluded.last_seen, last_run = excluded.last_run,"
            " log_id = excluded.log_id",
            (
                v.video_id,
                author,
                v.create_time,
                v.region_code,
                v.hashtags,
                v.description,
                v.view_count,
                v.like_count,
                v.comment_count,
                v.share_count,
                at,
                at,
                run,
                run,
                page.log_id,
            ),
        )
        execute(
            "INSERT INTO video_edges(user_id, video_id, relation, first_seen, last_seen,"
            " first_run, last_run) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(user_id, video_id,"
            " relation) DO UPDATE SET last_seen = excluded.last_seen,"
            " last_run = excluded.last_run",
            (author, v.video_id, POSTED, at, at, run, run),
        )


def fail_unit(execute: Execute, unit_id: int, worker: str, error: str) -> None:
    """The unit's request failed every retry: given back with its error (a later run retries
    it, up to its attempts)."""
    execute(
        "UPDATE video_units SET claimed_by = NULL, claimed_at = NULL, last_error = ?"
        " WHERE id = ? AND claimed_by = ?",
        (error[:500], unit_id, worker),
    )


def release_unit(execute: Execute, unit_id: int, worker: str) -> None:
    """Given back as it stands (a stop, the quota): not an attempt."""
    execute(
        "UPDATE video_units SET claimed_by = NULL, claimed_at = NULL,"
        " attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END"
        " WHERE id = ? AND claimed_by = ?",
        (unit_id, worker),
    )


def recover_units(
    execute: Execute, worker: str, shared: bool, lease: float, *, new_run: bool = False
) -> int:
    """Units held by workers that are gone (a ``kill -9``) go back. On a file the crawl's lock
    says this worker is the only one; a shared store keeps the claims of the workers that beat
    within their lease. ``new_run``: units an earlier run gave up on get new attempts."""
    alive = {worker}
    if shared:
        alive |= {
            r[0]
            for r in execute(
                "SELECT id FROM workers WHERE ended_at IS NULL AND heartbeat_at > ?",
                (time.time() - lease,),
            )
        }
    rows = execute(
        "SELECT id, claimed_by FROM video_units WHERE claimed_by IS NOT NULL AND done = 0", ()
    ).fetchall()
    back = [int(r[0]) for r in rows if r[1] not in alive]
    for unit_id in back:
        execute(
            "UPDATE video_units SET claimed_by = NULL, claimed_at = NULL WHERE id = ?", (unit_id,)
        )
    if new_run:
        execute("UPDATE video_units SET attempts = 0 WHERE done = 0 AND claimed_by IS NULL", ())
    return len(back)


def progress(execute: Execute) -> dict[str, int]:
    """Units open (of them, held by a worker now) and finished, and the pages they took: one
    scan of the units (asked while workers wait: the videos are not counted here)."""
    open_, held, finished, pages = execute(
        "SELECT coalesce(sum(CASE WHEN done = 0 THEN 1 ELSE 0 END), 0),"
        " coalesce(sum(CASE WHEN done = 0 AND claimed_by IS NOT NULL THEN 1 ELSE 0 END), 0),"
        " coalesce(sum(done), 0), coalesce(sum(pages), 0) FROM video_units",
        (),
    ).fetchone()
    return {"open": int(open_), "held": int(held), "finished": int(finished), "pages": int(pages)}
