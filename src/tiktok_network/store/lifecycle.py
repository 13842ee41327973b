"""Refresh rounds and purges: the SQL of the data's life after the first crawl, written once
for both backends (``?`` placeholders; the PostgreSQL store translates them).

The Research API's terms ask a lab to re-fetch what it keeps at regular intervals and to delete
what the API no longer serves (``docs/compliance.md``). A *refresh round* marks the users whose
data is older than the window (``state = REFRESH``, ``refresh_due`` = how old, for the order),
resets their lists when those are refreshed too, and is then worked off by the ordinary engine,
one transaction per page, so a killed round continues where it stopped. A *purge* removes an
account that no longer answers: profile, raw responses and every mention of its username in
other users' raw pages are removed or replaced by a random tombstone id, its edges are closed,
and one audit row says when, why and what kind of data went. All of it is one transaction.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import secrets
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from tiktok_network.api.spec import owner_is_source
from tiktok_network.store.base import (
    CLAIMED,
    DONE,
    FAILED,
    REFRESH,
    TODO,
    Claim,
    ListCompleteness,
    ListState,
    PageRecord,
    RefreshMarks,
    RefreshRound,
    UserStatus,
)
from tiktok_network.store.sqlite_db import compress, decompress

Execute = Callable[[str, tuple[Any, ...]], Any]  # runs one statement, returns a cursor

# Where a claim goes back to when its worker lets go of it (shutdown, lost lease, dead run):
# a user a refresh round still has to fetch waits for the round, any other for the crawl.
PUT_BACK = f"CASE WHEN refresh_due IS NOT NULL THEN {REFRESH:d} ELSE {TODO:d} END"

TOMBSTONE_PREFIX = "tombstone-"
# The answers that purge an account a refresh round is fetching.
UNAVAILABLE = (UserStatus.REFUSED, UserStatus.NOT_FOUND)


def purge_reason(status: int | None) -> str:
    """The audit log's reason for a purge."""
    return "not found" if status == UserStatus.NOT_FOUND else "refused (private or restricted)"


def begin_refresh(execute: Execute, marks: RefreshMarks) -> RefreshRound:
    """Continue the unfinished round, or mark everything fetched before ``cutoff``.

    Marked: expanded users whose profile is older (or was never fetched: a refresh still asks
    whether the account answers), accounts recorded as refused or not found (they may answer
    again; if not, they are purged), with ``lists`` their lists too, and with ``info_for_all``
    the users found beyond the crawl's depth. Users of an unfinished crawl are left to it.
    """
    cutoff, directions, max_depth = marks.cutoff, marks.directions, marks.max_depth
    pending = _count(execute, f"SELECT count(*) FROM users WHERE state = {REFRESH:d}")
    if pending:
        return RefreshRound(False, pending, 0)
    # Users a round gave up on (failed every retry) are marked afresh, like everyone else.
    execute(
        f"UPDATE users SET refresh_due = NULL WHERE refresh_due IS NOT NULL AND state <> {CLAIMED:d}",
        (),
    )
    # What closing followers lists and purging look up; made by the first refresh, so that a
    # crawl that is never refreshed does not pay for them on every insert.
    for ddl in (
        "CREATE INDEX IF NOT EXISTS edges_by_dst ON edges(dst)",
        "CREATE INDEX IF NOT EXISTS edge_history_by_dst ON edge_history(dst)",
        "CREATE INDEX IF NOT EXISTS pages_by_user ON pages(user_id, direction)",
    ):
        execute(ddl, ())
    marked_lists = 0
    if marks.lists:
        places = ",".join("?" * len(directions))
        marked_lists = execute(
            "UPDATE lists SET cursor = NULL, done = 0, pages = 0, items = 0, state = NULL,"
            " note = NULL, started_at = NULL, refresh = 1"
            f" WHERE done = 1 AND direction IN ({places}) AND coalesce(ended_at, 0) < ?"
            f" AND user_id IN (SELECT id FROM users WHERE state = {DONE:d}"
            f" AND status = {UserStatus.PARSED:d} AND purged_at IS NULL)",
            (*directions, cutoff),
        ).rowcount
    everyone = int(marks.info_for_all)
    marked = execute(
        f"UPDATE users SET state = {REFRESH:d}, attempts = 0, refresh_due = CASE"
        " WHEN info_at IS NOT NULL AND (finished_at IS NULL OR info_at < finished_at)"
        " THEN info_at ELSE coalesce(finished_at, first_seen) END"
        f" WHERE purged_at IS NULL AND state IN ({TODO:d}, {DONE:d}, {FAILED:d}) AND ("
        "  id IN (SELECT user_id FROM lists WHERE refresh = 1)"
        f"  OR (status = {UserStatus.PARSED:d} AND coalesce(info_at, 0) < ?)"
        f"  OR (status IN ({UserStatus.REFUSED:d}, {UserStatus.NOT_FOUND:d})"
        "      AND coalesce(finished_at, 0) < ?)"
        "  OR (? = 1 AND status IS NULL AND depth > ? AND coalesce(info_at, 0) < ?))",
        (cutoff, cutoff, everyone, max_depth, cutoff),
    ).rowcount
    return RefreshRound(True, marked, marked_lists)


def refresh_claims(
    rows: list[tuple[Any, ...]],
    list_rows: Iterable[tuple[Any, ...]],
    directions: tuple[str, ...],
) -> list[Claim]:
    """Claims of a refresh round from the claimed users' rows (id, username, depth, status,
    following_reported, followers_reported) and their list rows (user_id, direction, cursor,
    done, pages, items, state, refresh): a list the round does not re-fetch counts as done,
    and a user none of whose lists is re-fetched is refreshed for its user info only."""
    claims: dict[int, Claim] = {}
    for uid, name, depth, status, following, followers in rows:
        claim = Claim(uid, name, depth, {d: ListState(done=True) for d in directions}, True)
        claim.reported = {"following": following, "followers": followers}
        claim.prior_status = status
        claims[uid] = claim
    for uid, direction, cursor, done, pages, items, state, refresh in list_rows:
        claim = claims.get(uid)
        if claim is None or direction not in claim.lists:
            continue
        if refresh:
            claim.lists[direction] = ListState(cursor, bool(done), pages, items, state)
        else:  # kept as it is; what it received and its verdict are read back, not forgotten
            claim.lists[direction] = ListState(cursor, True, pages, items, state)
    for claim in claims.values():
        claim.info_only = all(state.done for state in claim.lists.values())
    return sorted(claims.values(), key=lambda c: c.user_id)


def close_unseen_edges(
    execute: Execute, ended: list[tuple[int, str]], now: float, run_id: int
) -> int:
    """Close the edges a refreshed list no longer holds: those of the list's owner, in its
    direction, not seen since the list's re-fetch began. Only a list served complete closes
    edges (a capped or hidden list's missing entries say nothing about unfollows). The lists
    of a first crawl cost one lookup for the whole batch."""
    owners = sorted({user_id for user_id, _ in ended})
    places = ",".join("?" * len(owners))
    refreshed = execute(
        "SELECT user_id, direction, state, started_at FROM lists"
        f" WHERE refresh = 1 AND user_id IN ({places})",
        tuple(owners),
    ).fetchall()
    wanted = set(ended)
    closed = 0
    for user_id, direction, state, started in refreshed:
        if (user_id, direction) not in wanted:
            continue
        if state == 1 and started is not None:
            column = "src" if owner_is_source(direction) else "dst"
            closed += execute(
                f"UPDATE edges SET removed_at = ?, removed_run = ? WHERE {column} = ?"
                " AND removed_at IS NULL AND last_seen < ?",
                (now, run_id, user_id, started),
            ).rowcount
        execute(
            "UPDATE lists SET refresh = 0 WHERE user_id = ? AND direction = ? AND done = 1",
            (user_id, direction),
        )
    return closed


def purge(execute: Execute, doomed: list[tuple[int, str]], now: float, run_id: int) -> int:
    """Purge each (user id, reason) that still holds data; returns how many were purged."""
    purged = 0
    for user_id, reason in doomed:
        row = execute(
            "SELECT username FROM users WHERE id = ? AND purged_at IS NULL", (user_id,)
        ).fetchone()
        if row is None:
            continue
        tombstone = TOMBSTONE_PREFIX + secrets.token_hex(8)
        removed = {
            "raw_pages_rewritten": _scrub_mentions(execute, user_id, row[0], tombstone),
            "raw_pages_deleted": execute(
                "DELETE FROM pages WHERE user_id = ?", (user_id,)
            ).rowcount,
            "edges_closed": execute(
                "UPDATE edges SET removed_at = ?, removed_run = ? WHERE (src = ? OR dst = ?)"
                " AND removed_at IS NULL",
                (now, run_id, user_id, user_id),
            ).rowcount,
        }
        removed.update(_purge_videos(execute, user_id, row[0]))
        had_profile = execute(
            "SELECT info IS NOT NULL FROM users WHERE id = ?", (user_id,)
        ).fetchone()[0]
        execute(
            "UPDATE users SET username = ?, display_name = NULL, info = NULL, info_log_id = NULL,"
            " last_error = NULL, following_reported = NULL, followers_reported = NULL,"
            f" purged_at = ?, refresh_due = NULL, state = {DONE:d} WHERE id = ?",
            (tombstone, now, user_id),
        )
        execute("UPDATE lists SET note = NULL, refresh = 0 WHERE user_id = ?", (user_id,))
        execute(
            "INSERT INTO purged_names(name_hash, tombstone) VALUES (?, ?)"
            " ON CONFLICT(name_hash) DO NOTHING",
            (name_hash(row[0]), tombstone),
        )
        removed = {"username": 1, "profile": int(bool(had_profile)), **removed}
        execute(
            "INSERT INTO audit(at, run_id, tombstone, reason, removed) VALUES (?, ?, ?, ?, ?)",
            (now, run_id, tombstone, reason, json.dumps(removed)),
        )
        purged += 1
    return purged


def _purge_videos(execute: Execute, user_id: int, username: str) -> dict[str, int]:
    """A purged account's videos (by id, and by name when it posted them as no account of the
    crawl: a liked video's author), every edge to them and from it, its place in the units that
    collect videos (by id: no name there), and its name in the mentions of the videos kept."""
    posted = "author_id = ? OR author = ?"
    edges = execute(
        f"DELETE FROM video_edges WHERE user_id = ? OR video_id IN (SELECT id FROM videos WHERE {posted})",
        (user_id, user_id, username),
    ).rowcount
    videos = execute(f"DELETE FROM videos WHERE {posted}", (user_id, username)).rowcount
    execute("DELETE FROM video_unit_members WHERE user_id = ?", (user_id,))
    pattern = "%|" + re.sub(r"([\\%_])", r"\\\1", username) + "|%"
    mentioned = execute(
        "SELECT id, mentions FROM videos WHERE '|' || mentions || '|' LIKE ? ESCAPE '\\'",
        (pattern,),
    ).fetchall()
    for video_id, mentions in mentioned:
        kept = "|".join(m for m in str(mentions).split("|") if m != username)
        execute("UPDATE videos SET mentions = ? WHERE id = ?", (kept, video_id))
    return {
        "videos_deleted": videos,
        "video_edges_deleted": edges,
        "video_mentions_removed": len(mentioned),
    }


def name_hash(username: str) -> str:
    """How a purged account is remembered: a hash of its username, so later pages that name
    it keep it out without the crawl keeping the name (a guessed name can be checked against
    it, as against any do-not-collect list; it cannot be read back)."""
    return hashlib.sha256(b"tiktok-network purged account\0" + username.encode("utf-8")).hexdigest()


def keep_out_purged(execute: Execute, pages: list[PageRecord]) -> list[PageRecord]:
    """The pages with every entry naming a purged account taken out: no edge to it, no new
    user row, and in the raw response only its tombstone id (the policy for an account the
    service refuses but others' lists still name: it stays purged). One indexed lookup when
    nothing was ever purged."""
    if not pages:
        return pages
    gone = purged_among(execute, {username for page in pages for username, _ in page.items})
    if not gone:
        return pages
    return [
        _without(page, gone) if any(u in gone for u, _ in page.items) else page for page in pages
    ]


def purged_among(execute: Execute, names: Iterable[str]) -> dict[str, str]:
    """Which of ``names`` a purge removed from this crawl, with their tombstones (one indexed
    lookup when nothing was ever purged)."""
    if execute("SELECT 1 FROM purged_names LIMIT 1", ()).fetchone() is None:
        return {}
    hashes = {name_hash(n): n for n in names}
    gone: dict[str, str] = {}
    listed = list(hashes)
    for start in range(0, len(listed), 500):
        chunk = listed[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for digest, tombstone in execute(
            f"SELECT name_hash, tombstone FROM purged_names WHERE name_hash IN ({marks})",
            tuple(chunk),
        ).fetchall():
            gone[hashes[digest]] = tombstone
    return gone


def _without(page: PageRecord, gone: dict[str, str]) -> PageRecord:
    body = msgspec.json.decode(page.raw)
    for username, tombstone in gone.items():
        _replace_entries(body, username, tombstone)
    return dataclasses.replace(
        page,
        items=[(u, d) for u, d in page.items if u not in gone],
        raw=msgspec.json.encode(body),
    )


def _scrub_mentions(execute: Execute, user_id: int, username: str, tombstone: str) -> int:
    """Rewrite the raw pages of other users' lists that name the account: its entry keeps the
    tombstone id and nothing else. The pages are found through the edges (current and past)
    the account shares with their owners, so no scan of all raw responses is needed."""
    rows = execute(
        "SELECT id, response FROM pages WHERE user_id <> ? AND ("
        " (direction = 'following' AND user_id IN (SELECT src FROM edges WHERE dst = ?"
        "   UNION SELECT src FROM edge_history WHERE dst = ?))"
        " OR (direction = 'followers' AND user_id IN (SELECT dst FROM edges WHERE src = ?"
        "   UNION SELECT dst FROM edge_history WHERE src = ?)))",
        (user_id, user_id, user_id, user_id, user_id),
    ).fetchall()
    rewritten = 0
    for page_id, blob in rows:
        body = msgspec.json.decode(decompress(bytes(blob)))
        if _replace_entries(body, username, tombstone):
            execute(
                "UPDATE pages SET response = ? WHERE id = ?",
                (compress(msgspec.json.encode(body)), page_id),
            )
            rewritten += 1
    return rewritten


def _replace_entries(node: Any, username: str, tombstone: str) -> bool:
    """Replace, anywhere in a decoded response, each object naming ``username`` by one that
    holds only the tombstone id; True if anything changed."""
    changed = False
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, dict) and value.get("username") == username:
                node[key] = {"username": tombstone}
                changed = True
            else:
                changed |= _replace_entries(value, username, tombstone)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, dict) and value.get("username") == username:
                node[i] = {"username": tombstone}
                changed = True
            else:
                changed |= _replace_entries(value, username, tombstone)
    return changed


def purgeable(execute: Execute, user_ids: list[int]) -> set[int]:
    """Of these users, those a refresh round is fetching: an account that stops answering
    during a refresh is purged (during the first crawl it is only recorded, as always)."""
    if not user_ids:
        return set()
    marks = ",".join("?" * len(user_ids))
    return {
        r[0]
        for r in execute(
            f"SELECT id FROM users WHERE id IN ({marks}) AND refresh_due IS NOT NULL",
            tuple(user_ids),
        ).fetchall()
    }


def record_output(
    execute: Execute, path: str, kind: str, options: dict[str, Any], now: float
) -> None:
    """Remember an output folder the tool wrote, so a purge can rewrite it."""
    execute(
        "INSERT INTO outputs(path, kind, options, written_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(path) DO UPDATE SET kind = excluded.kind, options = excluded.options,"
        " written_at = excluded.written_at",
        (path, kind, json.dumps(options, sort_keys=True), now),
    )


def set_meta(execute: Execute, key: str, value: str) -> None:
    """One key of the crawl's ``meta`` table (what a plan's pilot measured, for one)."""
    execute(
        "INSERT INTO meta(key, value) VALUES (?, ?)"
        " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def requeue_missing_info(execute: Execute, max_depth: int) -> int:
    """Expanded accounts whose profile a crawl with --info could not fetch (the day's
    user-info calls were spent) go back to the frontier: the next run fetches their user info
    first and judges their lists, without fetching the lists again (they are done)."""
    return execute(
        f"UPDATE users SET state = {TODO:d} WHERE state = {DONE:d} AND status = ?"
        " AND info IS NULL AND purged_at IS NULL AND refresh_due IS NULL AND depth <= ?"
        " AND EXISTS (SELECT 1 FROM lists l WHERE l.user_id = users.id AND l.state = ?)",
        (int(UserStatus.PARSED), max_depth, int(ListCompleteness.UNJUDGED)),
    ).rowcount


def refresh_pending(execute: Execute) -> int:
    """Users the current refresh round has not finished (marked, claimed or failing)."""
    return _count(execute, "SELECT count(*) FROM users WHERE refresh_due IS NOT NULL")


def _count(execute: Execute, sql: str, params: tuple[Any, ...] = ()) -> int:
    row = execute(sql, params).fetchone()
    return int(row[0]) if row else 0
