"""The SQL of a sampled crawl, written once for both backends (``?`` placeholders; the
PostgreSQL store translates them).

A sampler (``crawl/samplers.py``) decides whom to visit from what the crawl already holds:
the neighbourhood of a visited user (everyone it follows or is followed by, in the current
edges) and whether a user has been expanded. Its decisions are stored as ``sample_steps``
rows, (chain, step, user): a walker's position at each step, or a wave's members in order,
committed together once every user they depend on is expanded, so a killed sample continues
with the same decisions.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from tiktok_network.store.base import CLAIMED, DONE, FAILED, TODO, Claim, UserStatus
from tiktok_network.store.lifecycle import Execute
from tiktok_network.store.operations import CHUNK, Dialect, attach_lists

INDEXES = ("CREATE INDEX IF NOT EXISTS edges_by_dst ON edges(dst)",)


@dataclass(frozen=True)
class SampleNode:
    """What a sampler knows of one user."""

    user_id: int
    state: int  # a UserState
    usable: bool  # expanded and served: a walk may stand on it
    neighbours: tuple[int, ...]  # distinct accounts it follows or is followed by, by username

    @property
    def expanded(self) -> bool:
        """Its lists are fetched (or it failed for good): no more calls will change it."""
        return self.state in (DONE, FAILED)

    @property
    def degree(self) -> int:
        return len(self.neighbours)


def prepare(execute: Execute) -> None:
    """Indexes a sampler's neighbourhood lookups need (followers are found by ``dst``)."""
    for statement in INDEXES:
        execute(statement, ())


def steps(execute: Execute) -> dict[int, list[int]]:
    """Every chain's users, in step order."""
    chains: dict[int, list[int]] = {}
    for chain, _step, user_id in execute(
        "SELECT chain, step, user_id FROM sample_steps ORDER BY chain, step", ()
    ):
        chains.setdefault(chain, []).append(user_id)
    return chains


def add_steps(execute: Execute, rows: Iterable[tuple[int, int, int]]) -> None:
    """One round of decisions (chain, step, user). A decision already stored is the same one
    (decisions are deterministic), made by another process sharing a PostgreSQL sample."""
    for row in rows:
        execute(
            "INSERT INTO sample_steps(chain, step, user_id) VALUES (?, ?, ?)"
            " ON CONFLICT (chain, step) DO NOTHING",
            row,
        )


def user_ids(execute: Execute, usernames: list[str]) -> dict[str, int]:
    """Ids of the given usernames that the crawl holds."""
    found: dict[str, int] = {}
    for start in range(0, len(usernames), 500):
        chunk = usernames[start : start + 500]
        places = ",".join("?" * len(chunk))
        for user_id, name in execute(
            f"SELECT id, username FROM users WHERE username IN ({places})", tuple(chunk)
        ):
            found[name] = user_id
    return found


def nodes(execute: Execute, ids: Iterable[int]) -> dict[int, SampleNode]:
    """The sampler's view of these users; neighbourhoods only for expanded ones."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    places = ",".join("?" * len(wanted))
    rows = execute(
        f"SELECT id, state, status FROM users WHERE id IN ({places})", tuple(wanted)
    ).fetchall()
    found: dict[int, SampleNode] = {}
    for user_id, state, status in rows:
        served = state == DONE and status == UserStatus.PARSED
        around = _neighbours(execute, user_id) if served else ()
        found[user_id] = SampleNode(user_id, state, served and bool(around), around)
    return found


def _neighbours(execute: Execute, user_id: int) -> tuple[int, ...]:
    rows = execute(
        "SELECT u.id FROM users u JOIN (SELECT dst AS id FROM edges WHERE src = ?"
        " AND removed_at IS NULL UNION SELECT src FROM edges WHERE dst = ?"
        " AND removed_at IS NULL) n ON n.id = u.id WHERE u.id <> ? ORDER BY u.username",
        (user_id, user_id, user_id),
    ).fetchall()
    return tuple(r[0] for r in rows)


def known_users(execute: Execute) -> list[int]:
    """Every user the crawl knows, by username (where a forest fire may start again)."""
    return [r[0] for r in execute("SELECT id FROM users ORDER BY username", ()).fetchall()]


def seed_ids(execute: Execute) -> list[int]:
    """The crawl's seeds, by id (where a walker whose seed cannot be walked from starts)."""
    return [r[0] for r in execute("SELECT id FROM users WHERE is_seed = 1 ORDER BY id", ())]


def calls_spent(execute: Execute) -> int:
    """Calls the crawl turned into data (a sample's budget): pages and user infos stored, and
    the one call that found each refused or missing account."""
    pages = execute("SELECT count(*) FROM pages", ()).fetchone()[0]
    infos = execute(
        "SELECT count(*) FROM users WHERE info IS NOT NULL OR status IN (?, ?)",
        (int(UserStatus.REFUSED), int(UserStatus.NOT_FOUND)),
    ).fetchone()[0]
    return int(pages) + int(infos)


def claim_ids(
    execute: Execute,
    dialect: Dialect,
    worker: str,
    ids: list[int],
    directions: tuple[str, ...],
    info: bool,
) -> list[Claim]:
    """Claim these users (those still waiting), with where their lists stopped."""
    if not ids:
        return []
    claimed: dict[int, Claim] = {}
    for start in range(0, len(ids), CHUNK):
        where, params = dialect.any_of("id", ids[start : start + CHUNK])
        for r in execute(
            f"UPDATE users SET state={CLAIMED:d}, claimed_by=?, claimed_at=?"
            f" WHERE state={TODO:d} AND {where} RETURNING id, username, depth,"
            " info IS NULL, following_reported, followers_reported",
            (worker, time.time(), *params),
        ).fetchall():
            claimed[r[0]] = Claim.of_row(tuple(r), directions, info)
    attach_lists(execute, dialect, claimed.values())
    return [claimed[i] for i in ids if i in claimed]
