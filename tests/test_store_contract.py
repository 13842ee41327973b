"""The store's contract, called directly on both backends (beside the end-to-end tests, which
reach it through the engine): the schema as described once, claim order, release, recovery,
failed users, quota totals, provenance of runs and a page commit.

A backend that keeps the contract can stand behind the engine; each case here is one promise
the engine relies on (``crawl/engine.py``, ``crawl/frontier.py``).
"""

from __future__ import annotations

import contextlib
import json
import time

import pytest

from tests.crawl_helpers import db_execute
from tiktok_network.store import open_store
from tiktok_network.store.base import (
    DONE,
    FAILED,
    PageRecord,
    QuotaDelta,
    UserOutcome,
    UserStatus,
)
from tiktok_network.store.read import CrawlReader
from tiktok_network.store.schema import expected_columns

DIRECTIONS = ("following", "followers")


@pytest.fixture
def store(crawl_db):
    opened = open_store(crawl_db.target)
    yield opened
    with contextlib.suppress(Exception):  # a test may have closed it already
        opened.close()


def backend(crawl_db) -> str:
    return "postgresql" if crawl_db.url else "sqlite"


def columns(crawl_db) -> dict[str, tuple[str, ...]]:
    with CrawlReader(crawl_db.target) as reader:
        if crawl_db.url:
            rows = reader.conn.execute(
                "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
            ).fetchall()
        else:
            tables = [
                r[0]
                for r in reader.conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'"
                ).fetchall()
            ]
            rows = [
                (t, r[1])
                for t in tables
                for r in reader.conn.execute(f"PRAGMA table_info({t})").fetchall()
            ]
    found: dict[str, tuple[str, ...]] = {}
    for table, column in rows:
        found[table] = (*found.get(table, ()), column)
    return found


def test_a_new_database_has_the_schema_described_once(store, crawl_db):
    assert columns(crawl_db) == expected_columns(backend(crawl_db))


def test_claims_come_by_depth_then_id_and_belong_to_one_worker(store):
    run = store.begin_run("test", "http://api", json.dumps({"command": "crawl"}))
    for worker in ("w1", "w2", "w3"):  # a worker registers (and beats) before it claims
        store.register_worker(worker, run)
    assert store.add_seeds(["carol", "alice", "bob"]) == (3, 0)
    first = store.claim("w1", 2, 5, DIRECTIONS, True)
    second = store.claim("w2", 5, 5, DIRECTIONS, True)
    names = [c.username for c in first] + [c.username for c in second]
    assert sorted(names) == ["alice", "bob", "carol"]  # each once, never twice
    assert [c.user_id for c in first + second] == sorted(c.user_id for c in first + second)
    assert all(c.needs_info and set(c.lists) == set(DIRECTIONS) for c in first + second)
    assert store.claim("w3", 5, 5, DIRECTIONS, True) == []
    assert store.started_users() == 3 and store.frontier_empty(5)
    # A worker that stops gives its claims back; the frontier has them again.
    assert store.release_worker("w2") == len(second)
    again = store.claim("w3", 5, 5, DIRECTIONS, True)
    assert sorted(c.username for c in again) == sorted(c.username for c in second)
    store.end_run(run, 0)


def test_failed_users_are_retried_until_given_up_and_quota_adds_up(store):
    run = store.begin_run("test", "http://api", "{}")
    store.register_worker("w1", run)
    store.add_seeds(["dora", "erin"])
    claims = store.claim("w1", 2, 0, DIRECTIONS, False)
    failed, done = claims
    day = int(time.time() // 86400)
    store.apply(
        run,
        [],
        [
            UserOutcome(failed.user_id, FAILED, UserStatus.FAILED, "timeout"),
            UserOutcome(done.user_id, DONE, UserStatus.PARSED),
        ],
        [],
        [],
        [QuotaDelta("c", day, "following", 3), QuotaDelta("c", day, "following", 2)],
    )
    assert store.quota_used("c", day) == {"following": (5, False)}
    assert store.failed_users(3) == 1
    assert store.retry_failed(3) == 1 and store.failed_users(3) == 0
    retried = store.claim("w1", 5, 0, DIRECTIONS, False)
    assert [c.user_id for c in retried] == [failed.user_id]
    for _ in range(2):  # two more failures: given up after three attempts
        store.apply(run, [], [UserOutcome(failed.user_id, FAILED, UserStatus.FAILED)], [], [], [])
        store.retry_failed(3)
        store.claim("w1", 5, 0, DIRECTIONS, False)
    assert store.failed_users(3) == 0 and store.retry_failed(3) == 0
    assert store.frontier_empty(0)


def test_a_committed_page_is_provenance_and_recovery_puts_claims_back(store, crawl_db):
    run = store.begin_run("test", "http://api", "{}")
    store.register_worker("w1", run)
    store.add_seeds(["fred"])
    (claim,) = store.claim("w1", 1, 1, ("following",), False)
    assert not store.answered_before("http://api")
    page = PageRecord(
        claim.user_id, 0, "following", b"{}", None, None, False, True,
        [("gina", None), ("hugo", None)], b'{"data": {}}', "log-1", time.time(),
        user_complete=True, list_state=1, fresh=2,
    )  # fmt: skip
    assert store.apply(run, [page], [], [], [], []) == set()
    assert store.answered_before("http://api")
    with CrawlReader(crawl_db.target) as reader:
        assert reader.edge_count() == 2
    # The new users are depth 1; a claim of one is taken back by the next run's recovery.
    claimed = {c.username: c for c in store.claim("w1", 5, 1, ("following",), False)}
    assert set(claimed) == {"gina", "hugo"} and claimed["gina"].depth == 1
    store.close()
    # w1 dies holding gina and hugo: its last heartbeat is long past any lease.
    db_execute(crawl_db.target, "UPDATE workers SET heartbeat_at = 0 WHERE id = 'w1'")
    reopened = open_store(crawl_db.target)
    try:
        assert reopened.recover("w2", 3) == 2
        names = {c.username for c in reopened.claim("w2", 5, 1, ("following",), False)}
        assert names == {"gina", "hugo"}
    finally:
        reopened.close()
