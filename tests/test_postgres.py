"""PostgreSQL: several workers on one crawl, kills and takeovers, one shared quota, a server
restart, and copies between the backends. Against a real PostgreSQL (``TIKTOK_TEST_PG`` or an
embedded server the tests start), over real HTTP to the emulator; kills are triggered by the
emulator's request count, never by the clock."""

from __future__ import annotations

import filecmp
import random
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import SYNTH
from tests.crawl_helpers import (
    CLI,
    RequestCounter,
    bfs_users,
    crawl_env,
    db_edges,
    db_quota_used,
    db_status,
    emulator_process,
    page_fetches,
    pages_needed,
    run_crawl,
    truth,
    typical_seeds,
)
from tests.pg_server import pg_rows
from tiktok_network.store.sqlite_db import VERSION as SQLITE_VERSION


def _worker(tmp_path: Path, url: str, db: str, *args: str) -> subprocess.Popen[str]:
    """A crawl worker whose output goes to a file (a pipe nobody reads could block it)."""
    index = len(list(tmp_path.glob("worker-*.log")))
    log = (tmp_path / f"worker-{index}.log").open("w")
    return subprocess.Popen(
        [*CLI, "crawl", "--db", db, "--no-export", "--retry-base-delay", "0.01", *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        env=crawl_env(url, XDG_STATE_HOME=str(tmp_path / "state")),
        cwd=tmp_path,
    )


def _follow_requests(requests: list[dict]) -> int:
    return sum(1 for r in requests if r["endpoint"] in ("following", "followers"))


def test_four_workers_with_kill_9s_and_replacements_give_the_exact_graph(tmp_path, synth, pg_url):
    seeds = typical_seeds(synth, 3)
    crawled = bfs_users(synth, seeds, 2, "both")
    concurrency, kills = 4, 12
    rng = random.Random(2026)
    step = (60, 200)
    assert kills * step[1] < pages_needed(synth, crawled, "both")  # every kill will happen
    args = (
        *seeds,
        "--max-depth",
        "2",
        "--direction",
        "both",
        "--concurrency",
        str(concurrency),
        "--lease",
        "2",
        "--log-every",
        "60",
    )
    with emulator_process(tmp_path, "--graph", SYNTH, "--latency-ms", "5") as emu:
        counter = RequestCounter(emu.log)
        workers = [_worker(tmp_path, emu.url, pg_url, *args) for _ in range(4)]
        for _ in range(kills):
            counter.wait_for(counter.count() + rng.randint(*step), workers[0])
            victim = rng.randrange(len(workers))
            workers[victim].kill()
            workers[victim].wait()
            workers[victim] = _worker(tmp_path, emu.url, pg_url, *args)
        codes = [w.wait(timeout=240) for w in workers]
        requests = emu.requests()
    logs = "".join(p.read_text() for p in sorted(tmp_path.glob("worker-*.log")))
    assert codes == [0, 0, 0, 0], logs[-3000:]
    edges = db_edges(pg_url)
    assert len(edges) == len(set(edges))
    assert set(edges) == truth(synth, crawled, "both")
    assert {u for u, s in db_status(pg_url).items() if s == 1} == crawled
    # Every page once, except pages in flight at a kill (at most `concurrency` per kill) and
    # the page a live worker was fetching when a loaded machine made it miss its 2 s lease and
    # its user was taken over (its log says so; that page is fetched again by the new owner).
    refetched = sum(n - 1 for n in page_fetches(requests).values())
    missed = logs.count("this one missed its lease")
    assert refetched <= kills * concurrency + missed, (refetched, missed)
    # Debited before sending: never below what the service counted; above it only by
    # requests debited and not yet sent when a kill landed.
    sent, debited = _follow_requests(requests), db_quota_used(pg_url)
    assert sent <= debited <= sent + kills * concurrency, (sent, debited)
    print(
        f"4 workers, {kills} kills: {refetched} pages refetched ({missed} leases missed),"
        f" {debited - sent} debits unsent"
    )
    time.sleep(2.1)  # the killed workers' last heartbeats are now older than their lease
    status = subprocess.run(
        [*CLI, "status", "--db", pg_url], capture_output=True, text=True, env=crawl_env(emu.url)
    )
    assert status.returncode == 0, status.stderr
    # A worker killed while still starting never registered: at most one dead per kill.
    dead = re.search(r"workers: 0 live, (\d+) dead", status.stdout)
    assert dead and 1 <= int(dead.group(1)) <= kills, status.stdout


def test_two_workers_share_one_quota_and_make_exactly_n_calls(tmp_path, synth, pg_url):
    seeds = typical_seeds(synth, 4)
    quota = 37
    args = (
        *seeds,
        "--max-depth",
        "2",
        "--follow-quota",
        str(quota),
        "--on-quota",
        "exit",
        "--concurrency",
        "4",
    )
    with emulator_process(tmp_path, "--graph", SYNTH, "--latency-ms", "5") as emu:
        workers = [_worker(tmp_path, emu.url, pg_url, *args) for _ in range(2)]
        codes = [w.wait(timeout=120) for w in workers]
        requests = emu.requests()
    assert codes == [75, 75]
    assert _follow_requests(requests) == quota
    assert db_quota_used(pg_url) == quota


def test_a_shared_rate_limit_holds_across_workers(tmp_path, synth, pg_url):
    """--qps is the sum over workers: three workers at --qps 20 send 20 a second together,
    not 60. The emulator limits at 30/s (a margin for a busy machine delaying one request
    into the next second): three unshared limiters would get 429s from it."""
    seeds = typical_seeds(synth, 3)
    args = (*seeds, "--max-depth", "1", "--qps", "20", "--concurrency", "4")
    with emulator_process(tmp_path, "--graph", SYNTH, "--qps", "30") as emu:
        workers = [_worker(tmp_path, emu.url, pg_url, *args) for _ in range(3)]
        codes = [w.wait(timeout=120) for w in workers]
        requests = emu.requests()
    assert codes == [0, 0, 0]
    assert not [r for r in requests if r["status"] == 429]
    follow = sorted(r["time"] for r in requests if r["endpoint"] in ("following", "followers"))
    assert len(follow) > 40  # long enough for the rate to matter
    assert (len(follow) - 1) / (follow[-1] - follow[0]) <= 20.0


def test_the_database_stopped_mid_crawl_is_waited_for(tmp_path, synth, pg_cluster, pg_url):
    if not pg_cluster.restartable:
        pytest.skip("TIKTOK_TEST_PG is a server these tests cannot stop")
    seeds = typical_seeds(synth, 3)
    crawled = bfs_users(synth, seeds, 2, "following")
    assert pages_needed(synth, crawled, "following") > 150
    args = (*seeds, "--max-depth", "2", "--concurrency", "4", "--qps", "40")
    with emulator_process(tmp_path, "--graph", SYNTH) as emu:
        counter = RequestCounter(emu.log)
        workers = [_worker(tmp_path, emu.url, pg_url, *args) for _ in range(2)]
        counter.wait_for(60, workers[0])
        # Both workers are past their start-up (registered), so the outage hits them mid-crawl.
        while pg_rows(pg_url, "SELECT count(*) FROM workers")[0][0] < 2:
            counter.wait_for(counter.count() + 5, workers[1])
        pg_cluster.stop()
        try:
            time.sleep(20)  # the outage the scenario is about, not a trigger
            assert [w.poll() for w in workers] == [None, None]  # waiting, not failed
        finally:
            pg_cluster.start()
        codes = [w.wait(timeout=180) for w in workers]
    logs = "".join(p.read_text() for p in sorted(tmp_path.glob("worker-*.log")))
    assert codes == [0, 0], logs[-3000:]
    assert "reconnect" in logs
    assert set(db_edges(pg_url)) == truth(synth, crawled, "following")
    statuses = db_status(pg_url)
    assert 4 not in statuses.values()  # nobody marked failed for the database's absence
    assert {u for u, s in statuses.items() if s == 1} == crawled


def _export(tmp_path: Path, db: str, out: Path) -> None:
    done = subprocess.run(
        [*CLI, "export", "--db", db, "--out", str(out), "--format", "csv,parquet"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr


def test_db_copy_round_trips_sqlite_postgresql_sqlite(tmp_path, synth, pg_url):
    seeds = typical_seeds(synth, 3)
    with emulator_process(tmp_path, "--graph", SYNTH) as emu:
        done = run_crawl(
            tmp_path, emu.url, *seeds, "--max-depth", "1", "--direction", "both", "--info"
        )
    assert done.returncode == 0, done.stderr
    first = tmp_path / "crawl.db"
    back = tmp_path / "back.db"
    for src, dst in ((str(first), pg_url), (pg_url, str(back))):
        copied = subprocess.run([*CLI, "db", "copy", src, dst], capture_output=True, text=True)
        assert copied.returncode == 0, copied.stderr
        assert "verified" in copied.stdout
    # Run again: nothing left to copy, still verified (a resumed copy).
    again = subprocess.run([*CLI, "db", "copy", str(first), pg_url], capture_output=True, text=True)
    assert again.returncode == 0 and "(0 copied now)" in again.stdout, again.stdout
    outs = {name: tmp_path / f"out-{name}" for name in ("sqlite", "pg", "back")}
    _export(tmp_path, str(first), outs["sqlite"])
    _export(tmp_path, pg_url, outs["pg"])
    _export(tmp_path, str(back), outs["back"])
    names = sorted(p.name for p in outs["sqlite"].iterdir())
    assert "network.csv" in names and "nodes.parquet" in names
    for other in ("pg", "back"):
        assert sorted(p.name for p in outs[other].iterdir()) == names
        for name in names:
            if name.endswith(".csv"):
                assert filecmp.cmp(outs["sqlite"] / name, outs[other] / name, shallow=False), name
    assert pg_rows(pg_url, "SELECT count(*) FROM edges")[0][0] == len(db_edges(first))
    # The Python API and the analysis read the PostgreSQL crawl as they read the file.
    import tiktok_network

    from_pg, from_file = tiktok_network.open(pg_url), tiktok_network.open(str(first))
    assert from_pg.edges().equals(from_file.edges())
    assert from_pg.users().equals(from_file.users())
    assert from_pg.graph().ecount() == len(db_edges(first))
    report = subprocess.run(
        [*CLI, "analyze", "--db", pg_url, "--out", str(tmp_path / "report")],
        capture_output=True,
        text=True,
    )
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "report" / "stats.json").exists()


def test_postgres_urls_never_print_the_password_and_fail_in_one_line(
    tmp_path, synth, pg_cluster, pg_url
):
    # A password in the URL (the test server trusts local connections and ignores it) never
    # reaches the stored settings, the log or the outputs.
    secret = "hunter2-pw"
    with_password = pg_url.replace("postgresql://postgres:", f"postgresql://postgres:{secret}")
    assert secret in with_password
    with emulator_process(tmp_path, "--graph", SYNTH) as emu:
        done = run_crawl(
            tmp_path,
            emu.url,
            *typical_seeds(synth, 1),
            "--max-depth",
            "0",
            "--db",
            with_password,
            "--log-file",
            str(tmp_path / "crawl.log"),
        )
    assert done.returncode == 0, done.stderr
    stored = pg_rows(pg_url, "SELECT settings FROM runs")
    assert stored and all(secret not in row[0] for row in stored)
    assert "postgres:***@" in stored[0][0]
    assert secret not in done.stderr + done.stdout + (tmp_path / "crawl.log").read_text()
    for path in (tmp_path / "out").iterdir():
        assert secret not in path.read_text(errors="replace"), path
    url = "postgresql://someone:s3cret-pw@127.0.0.1:9/nowhere?connect_timeout=2"
    done = run_crawl(tmp_path, "http://127.0.0.1:9", "someone", "--db", url)
    assert done.returncode != 0
    assert "s3cret-pw" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert lines and "cannot connect to PostgreSQL" in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    # A database holding other tables is not taken for a crawl.
    foreign = pg_cluster.new_database()
    pg_rows(foreign, "CREATE TABLE patients(id int); SELECT count(*) FROM patients")
    status = subprocess.run([*CLI, "status", "--db", foreign], capture_output=True, text=True)
    assert status.returncode != 0 and "Traceback" not in status.stderr
    refused = run_crawl(tmp_path, "http://127.0.0.1:9", "someone", "--db", foreign)
    assert "not a tiktok-network database" in refused.stderr, refused.stderr


def test_a_crawl_from_an_older_schema_is_migrated_and_a_newer_one_refused(tmp_path, synth, pg_url):
    import sqlite3

    with emulator_process(tmp_path, "--graph", SYNTH) as emu:
        seed = typical_seeds(synth, 1)[0]
        done = run_crawl(tmp_path, emu.url, seed, "--max-depth", "0", "--info")
        assert done.returncode == 0, done.stderr
        conn = sqlite3.connect(tmp_path / "crawl.db")
        conn.execute("DROP TABLE schema_version")  # what a version-1 file looks like
        conn.execute("DROP TABLE workers")
        for ddl in (
            "DROP TRIGGER edges_reopen",
            "DROP INDEX users_refresh",
            "DROP TABLE edge_history",
            "DROP TABLE audit",
            "DROP TABLE outputs",
        ):
            conn.execute(ddl)
        for table, columns in (
            ("users", "last_seen first_run last_run refresh_due purged_at info_log_id"),
            ("lists", "first_seen started_at ended_at run_id refresh"),
            ("edges", "first_seen last_seen first_run last_run removed_at removed_run"),
        ):
            for column in columns.split():
                conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        conn.execute("ALTER TABLE lists DROP COLUMN state")
        conn.execute("ALTER TABLE users DROP COLUMN following_reported")
        conn.execute("ALTER TABLE users DROP COLUMN followers_reported")
        conn.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
        conn.commit()
        conn.close()
        old = subprocess.run(  # read as it is, before any migration: records derived
            [*CLI, "status", "--db", str(tmp_path / "crawl.db")], capture_output=True, text=True
        )
        assert old.returncode == 0 and "following lists: complete 1" in old.stdout, old
        rerun = run_crawl(tmp_path, emu.url, "--max-depth", "1")
        assert rerun.returncode == 0, rerun.stderr
        conn = sqlite3.connect(tmp_path / "crawl.db")
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version")]
        assert versions == list(range(1, SQLITE_VERSION + 1)) and SQLITE_VERSION >= 7
        assert (
            conn.execute(  # version 4 filled in the edges' times from their pages
                "SELECT count(*) FROM edges e JOIN pages p ON p.id = e.page_id"
                " WHERE e.first_seen = p.fetched_at AND e.removed_at IS NULL"
            ).fetchone()[0]
            == conn.execute("SELECT count(*) FROM edges").fetchone()[0]
        )
        node = synth.user_id(seed)
        assert conn.execute(  # version 3 filled in from what version 1 stored
            "SELECT following_reported, l.state FROM users u JOIN lists l ON l.user_id = u.id"
            " WHERE username = ? AND direction = 'following'",
            (seed,),
        ).fetchone() == (synth.following.degree(node), 1)
        conn.execute("INSERT INTO schema_version VALUES (99, 0, 'from the future')")
        conn.commit()
        conn.close()
        newer = run_crawl(tmp_path, emu.url, "--max-depth", "1")
    assert newer.returncode != 0
    assert "newer tiktok-network" in newer.stderr and "Traceback" not in newer.stderr
    # The same on PostgreSQL: a crawl written by a newer tool is refused by every command.
    pg_rows(
        pg_url,
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        " INSERT INTO meta VALUES ('app', 'tiktok-network');"
        " CREATE TABLE schema_version(version INTEGER PRIMARY KEY,"
        " applied_at DOUBLE PRECISION NOT NULL, note TEXT NOT NULL);"
        " INSERT INTO schema_version VALUES (99, 0, 'from the future'); SELECT 1",
    )
    for command in (["status"], ["export", "--out", str(tmp_path / "x")]):
        refused = subprocess.run([*CLI, *command, "--db", pg_url], capture_output=True, text=True)
        assert refused.returncode != 0 and "newer tiktok-network" in refused.stderr, refused
    crawl = run_crawl(tmp_path, "http://127.0.0.1:9", "someone", "--db", pg_url)
    assert "newer tiktok-network" in crawl.stderr and "Traceback" not in crawl.stderr
