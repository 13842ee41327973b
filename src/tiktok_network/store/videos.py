"""The videos accounts post, written once for both backends (over ``execute``, ``?`` SQL).

A collection is split into **units**: a batch of accounts (``--usernames-per-query``, one
``username IN`` condition) over one window of at most 30 days. A unit keeps where its paging
stopped (the cursor and the ``search_id`` that names the result set), so a run killed at any
point continues from its last committed page; a unit is claimed by one worker at a time, and
each page is one transaction: the videos (upserted by id, so a page fetched twice, or a window
restarted after its ``search_id`` expired, adds nothing twice), the account -> video edges
(relation ``posted``) and the unit's new cursor, fenced by the claim (a worker that lost it
commits nothing).

A unit may also be one account's list of videos (``relation`` liked, reposted or pinned, the
collection's ``--layers``): its one member is the list's owner, its cursor the list's (a time,
an index, or none), and its ``state`` how the list ended (``complete``; ``hidden``: the service
said the owner keeps it private, recorded like a hidden following list, not as a failure;
``error``: a cursor that did not move). The videos of such a list are often by accounts the
crawl does not hold: every video keeps its author's name (``author``; ``author_id`` when the
author is an account of the crawl) and the accounts it mentions (``mentions``, ``|``-joined).

Accounts are members of units by id, never by name. A purge deletes the account's memberships,
the videos it posted (by id or by name) and every edge from it, and takes its name out of the
mentions of the videos kept (``lifecycle.purge``); a page naming a purged account later (as an
author or a mention) keeps it out (``purged_among``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from tiktok_network.store.base import DONE, UserStatus
from tiktok_network.store.lifecycle import Execute, purged_among
from tiktok_network.store.operations import CHUNK, Dialect

POSTED = "posted"  # the relation of an account to the videos it posted
OPEN, FINISHED = 0, 1  # video_units.done
# How a list of videos ended (video_units.state; None while open, and for the query's units).
# unavailable: the service no longer serves the owner (not found, refused).
COMPLETE, HIDDEN, ERROR, UNAVAILABLE = "complete", "hidden", "error", "unavailable"


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
    relation: str = POSTED  # posted: a query's unit; else one account's list of that name


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
    mentions: str = ""  # the accounts the video mentions, ``|``-joined


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
    relation: str = POSTED
    state: str | None = None  # how a list of videos ended (on its last page)
    note: str | None = None  # why it ended so, for the log and status


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
            " WHERE u.start_date = ? AND u.end_date = ? AND u.relation = ?) ORDER BY id",
            (start, end, POSTED),
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


def plan_lists(execute: Execute, layers: Sequence[str]) -> int:
    """A unit for each list of videos (``layers``) of every expanded account (not purged) that
    has none yet; returns how many were made."""
    made = 0
    for layer in layers:
        rows = execute(
            f"SELECT id FROM users WHERE state = {DONE:d} AND status = {UserStatus.PARSED:d}"
            " AND purged_at IS NULL AND id NOT IN (SELECT m.user_id FROM"
            " video_unit_members m JOIN video_units u ON u.id = m.unit_id"
            " WHERE u.relation = ?) ORDER BY id",
            (layer,),
        ).fetchall()
        for (user_id,) in rows:
            unit = execute(
                "INSERT INTO video_units(start_date, end_date, relation) VALUES ('', '', ?)"
                " RETURNING id",
                (layer,),
            ).fetchone()[0]
            execute(
                "INSERT INTO video_unit_members(unit_id, user_id) VALUES (?, ?)", (unit, user_id)
            )
            made += 1
    return made


def claim_units(
    execute: Execute,
    dialect: Dialect,
    worker: str,
    n: int,
    max_attempts: int,
    relations: Sequence[str] = (POSTED,),
) -> list[VideoUnit]:
    """The next ``n`` open units of ``relations`` nobody holds, by id, with their accounts'
    usernames."""
    of, params = dialect.any_of("relation", list(relations))
    rows = execute(
        "UPDATE video_units SET claimed_by = ?, claimed_at = ?, attempts = attempts + 1"
        " WHERE id IN (SELECT id FROM video_units WHERE done = 0 AND claimed_by IS NULL"
        f" AND attempts < ? AND {of} ORDER BY id LIMIT ?{dialect.skip_locked})"
        " RETURNING id, start_date, end_date, cursor, search_id, pages, videos, relation",
        (worker, time.time(), max_attempts, *params, n),
    ).fetchall()
    units = {
        int(r[0]): VideoUnit(
            int(r[0]), r[1], r[2], int(r[3]), r[4], [], int(r[5]), int(r[6]), r[7] or POSTED
        )
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
        " videos = videos + ?, restarts = restarts + ?, run_id = ?, last_error = ?,"
        " attempts = CASE WHEN ? = 1 THEN 0 ELSE attempts END, state = coalesce(?, state)"
        " WHERE id = ? AND claimed_by = ?",
        (
            0 if page.restart else page.next_cursor,
            None if page.restart else page.search_id,
            FINISHED if page.done else OPEN,
            0 if page.restart else 1,
            len(page.videos),
            1 if page.restart else 0,
            page.run_id,
            page.note,
            0 if page.restart else 1,
            page.state,
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
    """The page's videos and their edges, upserted. A query's unit: each video's author posted
    it (videos of an account the crawl does not hold, or purged, are left out: the query named
    only accounts it holds). A list's unit: its owner (the unit's member) liked, reposted or
    pinned each video, whoever the author; a video by a purged account is left out, and so is
    a purged account among the mentions."""
    names = sorted({v.username for v in page.videos})
    mentioned = sorted({m for v in page.videos for m in v.mentions.split("|") if m})
    gone = purged_among(execute, [*names, *mentioned])
    ids = _account_ids(execute, [n for n in names if n not in gone])
    owner = None
    if page.relation != POSTED:
        row = execute(
            "SELECT m.user_id FROM video_unit_members m JOIN users u ON u.id = m.user_id"
            " WHERE m.unit_id = ? AND u.purged_at IS NULL",
            (page.unit_id,),
        ).fetchone()
        if row is None:
            return  # its owner was purged since the unit was planned
        owner = int(row[0])
    at, run = page.fetched_at, page.run_id
    for v in page.videos:
        author = ids.get(v.username)
        if v.username in gone or (owner is None and author is None):
            continue
        mentions = "|".join(m for m in v.mentions.split("|") if m and m not in gone)
        execute(VIDEO_UPSERT, (*_video_values(v, author, mentions), at, at, run, run, page.log_id))
        execute(
            "INSERT INTO video_edges(user_id, video_id, relation, first_seen, last_seen,"
            " first_run, last_run) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(user_id, video_id,"
            " relation) DO UPDATE SET last_seen = excluded.last_seen,"
            " last_run = excluded.last_run",
            (author if owner is None else owner, v.video_id, page.relation, at, at, run, run),
        )


VIDEO_UPSERT = (
    "INSERT INTO videos(id, author_id, author, create_time, region_code, hashtags, mentions,"
    " description, view_count, like_count, comment_count, share_count, first_seen, last_seen,"
    " first_run, last_run, log_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT(id) DO UPDATE SET author_id = excluded.author_id, author = excluded.author,"
    " create_time = excluded.create_time, region_code = excluded.region_code,"
    " hashtags = excluded.hashtags, mentions = excluded.mentions,"
    " description = excluded.description, view_count = excluded.view_count,"
    " like_count = excluded.like_count, comment_count = excluded.comment_count,"
    " share_count = excluded.share_count, last_seen = excluded.last_seen,"
    " last_run = excluded.last_run, log_id = excluded.log_id"
)


def _video_values(v: VideoRow, author: int | None, mentions: str) -> tuple[object, ...]:
    return (
        v.video_id,
        author,
        v.username,
        v.create_time,
        v.region_code,
        v.hashtags,
        mentions,
        v.description,
        v.view_count,
        v.like_count,
        v.comment_count,
        v.share_count,
    )


def _account_ids(execute: Execute, names: Sequence[str]) -> dict[str, int]:
    """The ids of the accounts of the crawl (not purged) among ``names``: one statement per
    ``CHUNK`` names (a page of a liked list names up to 100 authors)."""
    ids: dict[str, int] = {}
    for first in range(0, len(names), CHUNK):
        chunk = names[first : first + CHUNK]
        marks = ",".join("?" * len(chunk))
        for user_id, name in execute(
            f"SELECT id, username FROM users WHERE username IN ({marks}) AND purged_at IS NULL",
            tuple(chunk),
        ).fetchall():
            ids[name] = int(user_id)
    return ids


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


def progress(execute: Execute, relations: Sequence[str] | None = None) -> dict[str, int]:
    """Units open (of them, held by a worker now) and finished, and the pages they took, of
    ``relations`` (None: every unit): one scan of the units (asked while workers wait: the
    videos are not counted here)."""
    where, params = "", ()
    if relations is not None:
        marks = ",".join("?" * len(relations))
        where, params = f" WHERE relation IN ({marks})", tuple(relations)
    open_, held, finished, pages = execute(
        "SELECT coalesce(sum(CASE WHEN done = 0 THEN 1 ELSE 0 END), 0),"
        " coalesce(sum(CASE WHEN done = 0 AND claimed_by IS NOT NULL THEN 1 ELSE 0 END), 0),"
        " coalesce(sum(done), 0), coalesce(sum(pages), 0) FROM video_units" + where,
        params,
    ).fetchone()
    return {"open": int(open_), "held": int(held), "finished": int(finished), "pages": int(pages)}


# ------------------------------------------------------------------------ compliance checks
# ``refresh --videos``: the videos last confirmed before the window are checked in batches of
# at most 10,000 ids (one batch compliance task each); the ids the service no longer lists as
# valid are deleted with their edges, and the deletion is audited (the count, never the ids).
COMPLIANCE_TOMBSTONE = "videos"
COMPLIANCE_REASON = "no longer valid (batch compliance)"


@dataclass(frozen=True)
class VideoCheck:
    """One batch: its row, the task the service made for it (None before), its ids."""

    check_id: int
    task_id: str | None
    video_ids: list[int]


def plan_checks(execute: Execute, cutoff: float, batch: int) -> int:
    """Batches of every video last confirmed (checked, else last fetched) before ``cutoff``
    that no open batch holds; returns how many were made."""
    held: set[int] = set()
    for (ids,) in execute("SELECT video_ids FROM video_checks WHERE finished_at IS NULL", ()):
        held.update(json.loads(ids))
    due = [
        int(r[0])
        for r in execute(
            "SELECT id FROM videos WHERE coalesce(checked_at, last_seen) < ? ORDER BY id",
            (cutoff,),
        ).fetchall()
        if int(r[0]) not in held
    ]
    now = time.time()
    for first in range(0, len(due), batch):
        execute(
            "INSERT INTO video_checks(video_ids, created_at) VALUES (?, ?)",
            (json.dumps(due[first : first + batch]), now),
        )
    return -(-len(due) // batch)


def open_checks(execute: Execute) -> list[VideoCheck]:
    return [
        VideoCheck(int(i), task, json.loads(ids))
        for i, task, ids in execute(
            "SELECT id, task_id, video_ids FROM video_checks WHERE finished_at IS NULL ORDER BY id",
            (),
        ).fetchall()
    ]


def set_check_task(execute: Execute, check_id: int, task_id: str | None) -> None:
    """The service's task for a batch (None: made again, the old one is unknown there)."""
    execute("UPDATE video_checks SET task_id = ? WHERE id = ?", (task_id, check_id))


def finish_check(
    execute: Execute, dialect: Dialect, check: VideoCheck, valid: set[int], run_id: int
) -> int:
    """The batch's answer, in one transaction: the videos not valid deleted with their edges
    (audited), the others confirmed now; returns how many were deleted."""
    now = time.time()
    gone = [i for i in check.video_ids if i not in valid]
    kept = [i for i in check.video_ids if i in valid]
    edges = deleted = 0
    for first in range(0, len(gone), CHUNK):
        where, params = dialect.any_of("video_id", gone[first : first + CHUNK])
        edges += execute(f"DELETE FROM video_edges WHERE {where}", params).rowcount
        where, params = dialect.any_of("id", gone[first : first + CHUNK])
        deleted += execute(f"DELETE FROM videos WHERE {where}", params).rowcount
    for first in range(0, len(kept), CHUNK):
        where, params = dialect.any_of("id", kept[first : first + CHUNK])
        execute(f"UPDATE videos SET checked_at = ? WHERE {where}", (now, *params))
    execute(
        "UPDATE video_checks SET finished_at = ?, valid = ?, removed = ?, run_id = ? WHERE id = ?",
        (now, len(kept), deleted, run_id, check.check_id),
    )
    if deleted:
        execute(
            "INSERT INTO audit(at, run_id, tombstone, reason, removed) VALUES (?, ?, ?, ?, ?)",
            (
                now,
                run_id,
                COMPLIANCE_TOMBSTONE,
                COMPLIANCE_REASON,
                json.dumps({"videos_deleted": deleted, "video_edges_deleted": edges}),
            ),
        )
    return deleted
