"""The crawler end to end, as a user runs it, against the emulator over real HTTP."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import sqlite3
import subprocess
import time

import pytest

from tests.conftest import SYNTH, WIKI_VOTE, graph_text
from tests.crawl_helpers import (
    CLI,
    RequestCounter,
    bfs_users,
    crawl_env,
    db_edges,
    db_status,
    emulator_process,
    integrity,
    page_fetches,
    pages_needed,
    run_crawl,
    start_crawl,
    truth,
)


def metered(requests: list[dict]) -> int:
    """Requests a quota counts: every one but the token endpoint's."""
    return sum(r["endpoint"] != "token" for r in requests)


def seeds_of(graph, n: int, lo: int = 5, hi: int = 60) -> list[str]:
    return [
        graph.usernames[u] for u in range(graph.n_users) if lo <= graph.following.degree(u) <= hi
    ][:n]


# ------------------------------------------------------------------------- ground truth
@pytest.mark.parametrize("direction", ["following", "followers", "both"])
def test_crawl_edge_set_equals_ground_truth(tmp_path, synth, direction, crawl_db):
    seeds = seeds_of(synth, 3)
    with emulator_process(tmp_path, "--graph", SYNTH) as emu:
        done = run_crawl(
            tmp_path, emu.url, *seeds, "--max-depth", "1", "--direction", direction, *crawl_db.args
        )
        requests = emu.requests()
    assert done.returncode == 0, done.stderr
    crawled = bfs_users(synth, seeds, 1, direction)
    statuses = db_status(crawl_db.target)
    assert {u for u, s in statuses.items() if s == 1} == crawled
    edges = db_edges(crawl_db.target)
    assert len(edges) == len(set(edges))
    assert set(edges) == truth(synth, crawled, direction)
    # Clean crawl: every page fetched exactly once.
    assert max(page_fetches(requests).values()) == 1
    network = list(csv.reader((tmp_path / "out" / "network.csv").open()))
    assert network[0] == ["source", "destination"]
    assert {tuple(r) for r in network[1:]} == set(edges)


def test_wiki_vote_full_crawl_returns_exactly_the_file(tmp_path, wiki_vote):
    """Every valid username as a seed, both directions: the crawl holds the file's edges.

    SNAP labels 3 to 9 are one character, not valid TikTok usernames, so they cannot be seeds;
    the crawl reaches them at depth 1 through the other side's lists (both directions).
    """
    from tiktok_network.usernames import is_valid_username

    seeds = tmp_path / "seeds.csv"
    valid = [u for u in wiki_vote.usernames if is_valid_username(u)]
    seeds.write_text("username\n" + "\n".join(valid) + "\n")
    expected = set()
    for line in graph_text(WIKI_VOTE).splitlines():
        if line and not line.startswith("#"):
            a, b = line.split()
            expected.add((a, b))
    with emulator_process(tmp_path, "--graph", str(WIKI_VOTE)) as emu:
        done = run_crawl(
            tmp_path,
            emu.url,
            "--seeds",
            str(seeds),
            "--max-depth",
            "1",
            "--concurrency",
            "16",
            "--direction",
            "both",
        )
    assert done.returncode == 0, done.stderr
    assert len(valid) == 7108
    edges = db_edges(tmp_path / "crawl.db")
    assert len(edges) == 103689 and set(edges) == expected
    statuses = db_status(tmp_path / "crawl.db")
    assert len(statuses) == 7115 and set(statuses.values()) == {1}


# ---------------------------------------------------------------------- interruptions
def _pages_refetched(requests: list[dict]) -> int:
    return sum(n - 1 for n in page_fetches(requests).values())


def test_kill_9_and_sigterm_then_rerun_gives_the_same_graph(tmp_path, synth, crawl_db):
    seeds = seeds_of(synth, 2)
    # A killed PostgreSQL worker's users wait for its lease (1 s here) to be taken over.
    args = (*seeds, "--max-depth", "3", "--concurrency", "4", "--lease", "1", *crawl_db.args)
    rng = random.Random(1234)
    kills = 6
    crawled = bfs_users(synth, seeds, 3, "following")
    assert kills * 300 < pages_needed(synth, crawled, "following")  # every kill will happen
    with emulator_process(tmp_path, "--graph", SYNTH, "--latency-ms", "10") as emu:
        counter = RequestCounter(emu.log)
        for round_ in range(kills):
            proc = start_crawl(tmp_path, emu.url, *args)
            counter.wait_for(counter.count() + rng.randint(50, 300), proc)
            if round_ % 2 == 0:
                proc.kill()
                proc.wait()
            else:
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=30) == 75, proc.stderr.read() if proc.stderr else ""
            assert integrity(crawl_db.target) == "ok"
        final = run_crawl(tmp_path, emu.url, *args)
        requests = emu.requests()
    assert final.returncode == 0, final.stderr
    edges = db_edges(crawl_db.target)
    assert len(edges) == len(set(edges))
    assert set(edges) == truth(synth, crawled, "following")
    assert _pages_refetched(requests) <= 4 * kills
    assert integrity(crawl_db.target) == "ok"


# ------------------------------------------------------------------------------ quota
def test_quota_exhausted_waits_for_the_emulated_midnight(tmp_path, synth, crawl_db):
    seeds = seeds_of(synth, 2)
    day, quota = 2.0, 4
    needed = pages_needed(synth, bfs_users(synth, seeds, 1, "following"), "following")
    # A crawl could finish without a wait only by sending at most `quota` requests a day, a
    # request every half second: the crawl must meet the quota however slow the machine.
    assert needed > 3 * quota
    with emulator_process(
        tmp_path, "--graph", SYNTH, "--follow-quota", str(quota), "--day-seconds", str(day)
    ) as emu:
        done = run_crawl(
            tmp_path,
            emu.url,
            *seeds,
            "--max-depth",
            "1",
            "--day-seconds",
            str(day),
            "--concurrency",
            "2",
            *crawl_db.args,
        )
        requests = emu.requests()
    assert done.returncode == 0, done.stderr
    assert "waiting until" in done.stderr
    days = {
        int(r["time"] // day)
        for r in requests
        if r["endpoint"] == "following" and r["status"] == 200
    }
    assert len(days) >= 2
    crawled = bfs_users(synth, seeds, 1, "following")
    assert set(db_edges(crawl_db.target)) == truth(synth, crawled, "following")


def test_on_quota_exit_returns_75_and_rerun_spends_nothing_before_midnight(
    tmp_path, synth, crawl_db
):
    seeds = seeds_of(synth, 3)
    day = 30.0
    if day - time.time() % day < 12:  # too close to the emulated midnight for this test
        time.sleep(day - time.time() % day + 0.5)
    with emulator_process(
        tmp_path, "--graph", SYNTH, "--follow-quota", "10", "--day-seconds", str(day)
    ) as emu:
        first = run_crawl(
            tmp_path,
            emu.url,
            *seeds,
            "--on-quota",
            "exit",
            "--day-seconds",
            str(day),
            "--follow-quota",
            "10",
            *crawl_db.args,
        )
        assert first.returncode == 75, first.stderr
        before = metered(emu.requests())
        second = run_crawl(
            tmp_path,
            emu.url,
            *seeds,
            "--on-quota",
            "exit",
            "--day-seconds",
            str(day),
            "--follow-quota",
            "10",
            *crawl_db.args,
        )
        time.sleep(0.6)
        after = metered(emu.requests())
    assert second.returncode == 75, second.stderr
    # The day's usage came from the database: not one request of the quota (the credentials
    # are checked once at the token endpoint, which no quota meters).
    assert after == before


# --------------------------------------------------------------------- seeds and input
def test_seed_arguments_urls_and_later_seeds_join_the_crawl(tmp_path, synth):
    a, b = seeds_of(synth, 2)
    with emulator_process(tmp_path, "--graph", SYNTH) as emu:
        first = run_crawl(tmp_path, emu.url, f"@{a.upper()}", "--max-depth", "0")
        second = run_crawl(
            tmp_path, emu.url, f"https://www.tiktok.com/@{b}?lang=en", "--max-depth", "0"
        )
        again = run_crawl(tmp_path, emu.url, "--max-depth", "0")
    assert first.returncode == second.returncode == again.returncode == 0, second.stderr
    statuses = db_status(tmp_path / "crawl.db")
    assert statuses[a] == statuses[b] == 1
    assert set(db_edges(tmp_path / "crawl.db")) == truth(synth, {a, b}, "following")


def test_bad_seed_rows_get_one_line_each_and_good_rows_are_crawled(tmp_path, synth):
    good = seeds_of(synth, 2)
    seeds = tmp_path / "seeds.csv"
    seeds.write_bytes(
        b"\xef\xbb\xbfhandle,notes\r\n"
        + f"{good[0].upper()},ok\r\n".encode()
        + b"\r\n"
        + b"way_too_long_username_for_tiktok_x,long\r\n"
        + b"bad name!,spaces\r\n"
        + b"caf\xe9,latin1\r\n"
        + f'"@{good[1]}",quoted\r\n'.encode()
        + f"{good[0]},dup\r\n".encode()
    )
    with emulator_process(tmp_path, "--graph", SYNTH) as emu:
        done = run_crawl(
            tmp_path, emu.url, "--seeds", str(seeds), "--column", "handle", "--max-depth", "0"
        )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    problems = [line for line in done.stderr.splitlines() if "skipped" in line]
    assert len(problems) == 3
    assert any(":4:" in p and "longer than 24" in p for p in problems)
    assert any(":5:" in p for p in problems) and any(":6:" in p and "UTF-8" in p for p in problems)
    statuses = db_status(tmp_path / "crawl.db")
    assert statuses[good[0]] == statuses[good[1]] == 1


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "no valid seed"),
        (b"\x00\x01\x02binary", "binary"),
        (None, "no such file"),
        ("dir", "directory"),
    ],
)
def test_unusable_seed_files_exit_2_or_with_one_line(tmp_path, content, needle):
    path = tmp_path / "seeds.csv"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    done = run_crawl(tmp_path, "http://127.0.0.1:9", "--seeds", str(path))
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert needle in done.stderr and len(done.stderr.strip().splitlines()) == 1
    if content == b"":
        assert done.returncode == 2


def test_credentials_are_refused_as_arguments_and_required(tmp_path):
    for flag in ("--client-secret", "--client-key", "--token"):
        done = subprocess.run(
            [*CLI, "crawl", "alice", flag, "s3cr3t"],
            capture_output=True,
            text=True,
            env=crawl_env("http://127.0.0.1:9"),
            cwd=tmp_path,
        )
        assert (
            done.returncode != 0
            and "TIKTOK_CLIENT_SECRET" in done.stderr
            and "Traceback" not in done.stderr
        )
    env = crawl_env("http://127.0.0.1:9")
    del env["TIKTOK_CLIENT_SECRET"]
    done = subprocess.run(
        [*CLI, "crawl", "alice"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert done.returncode != 0 and "no credentials" in done.stderr


def test_credentials_file_and_bad_credentials(tmp_path, synth):
    creds = tmp_path / "creds.env"
    creds.write_text("TIKTOK_CLIENT_KEY=demo-key\nTIKTOK_CLIENT_SECRET='demo-secret'\n")
    creds.chmod(0o644)
    seed = seeds_of(synth, 1)[0]
    with emulator_process(tmp_path, "--graph", SYNTH) as emu:
        done = run_crawl(
            tmp_path,
            emu.url,
            seed,
            "--max-depth",
            "0",
            "--credentials",
            str(creds),
            key="",
            secret="",
        )
        assert done.returncode == 0, done.stderr
        assert "readable by other users" in done.stderr
        other = tmp_path / "other"
        other.mkdir()
        bad = run_crawl(other, emu.url, seed, "--max-depth", "0", secret="wrong-secret")
    assert (
        bad.returncode == 1
        and "credentials rejected" in bad.stderr
        and "Traceback" not in bad.stderr
    )


# ------------------------------------------------------------------------------ secrets
def test_token_key_and_secret_never_reach_disk_or_logs(tmp_path, synth):
    key, secret = "KEY-4f1c9e-recognisable", "SECRET-77aa1d-recognisable"
    seeds = seeds_of(synth, 2)
    with emulator_process(
        tmp_path, "--graph", SYNTH, "--client", f"{key}:{secret}", "--token-ttl", "2"
    ) as emu:
        done = run_crawl(
            tmp_path, emu.url, *seeds, "--max-depth", "1", "--info", key=key, secret=secret
        )
        stats = json.loads(
            subprocess.run(
                ["curl", "-s", f"{emu.url}/_emulator/stats"], capture_output=True, text=True
            ).stdout
            or "{}"
        )
    assert done.returncode == 0, done.stderr
    assert stats.get("requests", {}).get("token", {}).get("200", 0) >= 1
    blobs = [done.stdout.encode(), done.stderr.encode()]
    for path in tmp_path.rglob("*"):
        if path.is_file() and not path.name.startswith("requests-"):
            blobs.append(path.read_bytes())
    conn = sqlite3.connect(tmp_path / "crawl.db")
    for (blob,) in conn.execute("SELECT response FROM pages"):
        import zlib

        blobs.append(zlib.decompress(blob))
    conn.close()
    for blob in blobs:
        assert key.encode() not in blob and secret.encode() not in blob
        assert b"clt." not in blob  # no access token anywhere


# ------------------------------------------------------------------- status and export
def test_status_and_export_while_crawl_runs(tmp_path, synth):
    seeds = seeds_of(synth, 3)
    # --qps 40: thousands of pages take over a minute, so the crawl outlives the readers.
    args = (*seeds, "--max-depth", "3", "--concurrency", "4", "--qps", "40")
    with emulator_process(tmp_path, "--graph", SYNTH, "--latency-ms", "20") as emu:
        proc = start_crawl(tmp_path, emu.url, *args)
        RequestCounter(emu.log).wait_for(40, proc)
        env = crawl_env(emu.url)
        st = subprocess.run(
            [*CLI, "status", "--db", str(tmp_path / "crawl.db")],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
        )
        ex = subprocess.run(
            [*CLI, "export", "--db", str(tmp_path / "crawl.db"), "--out", str(tmp_path / "snap")],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        still_running = proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert st.returncode == 0 and "pages:" in st.stdout and "quota" in st.stdout, st.stderr
    assert ex.returncode == 0, ex.stderr
    assert still_running and code == 75
    for name in (
        "parsing_list",
        "queue",
        "saved_jsons",
        "time_stamps",
        "network",
        "nodes",
        "edges",
    ):
        rows = list(csv.reader((tmp_path / "snap" / f"{name}.csv").open(encoding="utf-8")))
        assert rows and rows[0]
    for _, raw in list(csv.reader((tmp_path / "snap" / "saved_jsons.csv").open(encoding="utf-8")))[
        1:
    ]:
        assert json.loads(raw)["error"]["code"] == "ok"


def test_exports_neutralise_formulas_and_round_trip_through_pandas_like_csv(tmp_path, synth):
    seeds = seeds_of(synth, 3)
    with emulator_process(tmp_path, "--graph", SYNTH) as emu:
        done = run_crawl(tmp_path, emu.url, *seeds, "--max-depth", "1")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader((tmp_path / "out" / "nodes.csv").open(encoding="utf-8", newline="")))
    names = [r["display_name"] for r in rows if r["display_name"]]
    assert (
        any("\n" in n for n in names)
        and any("," in n for n in names)
        and any('"' in n for n in names)
    )
    assert not any(n.startswith(("=", "+", "-", "@")) for n in names)
    assert any(n.startswith("'=") for n in names)
    stamps = list(csv.DictReader((tmp_path / "out" / "time_stamps.csv").open()))
    assert stamps and all(s["timestamp"].endswith("Z") and "T" in s["timestamp"] for s in stamps)


def test_sigterm_with_a_closed_stderr_still_stops_the_crawl(tmp_path, synth):
    """A batch log that went away must not make the crawl deaf to signals."""
    seeds = seeds_of(synth, 3)
    args = (*seeds, "--max-depth", "3", "--concurrency", "4", "--qps", "40")
    with emulator_process(tmp_path, "--graph", SYNTH, "--latency-ms", "20") as emu:
        proc = start_crawl(tmp_path, emu.url, *args)
        RequestCounter(emu.log).wait_for(40, proc)
        assert proc.stderr is not None and proc.poll() is None
        proc.stderr.close()  # the reader of the log is gone
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 75


# ------------------------------------------------------------- batch jobs (without Slurm)
def test_slurm_requeue_exits_75_on_quota_and_sigusr1_and_the_staged_rerun_resumes(tmp_path, synth):
    """The requeue path as the job script runs it, outside Slurm (tests/test_slurm.py runs it
    under a real one): exit 75 with work left, outputs left to the end, the database copied
    back from the stage folder at every exit, and a rerun that continues from that copy."""
    seeds = seeds_of(synth, 3)
    durable = tmp_path / "durable" / "crawl.db"
    batch = ("--db", str(durable), "--stage-dir", str(tmp_path / "scratch"), "--slurm-requeue")
    args = (*seeds, "--max-depth", "2", "--concurrency", "4", *batch)
    needed = pages_needed(synth, bfs_users(synth, seeds, 2, "following"), "following")
    assert needed > 10 + 200
    day = 3600.0
    with emulator_process(
        tmp_path, "--graph", SYNTH, "--follow-quota", "10", "--day-seconds", str(day)
    ) as emu:
        quota = run_crawl(tmp_path, emu.url, *args, "--on-quota", "exit", "--day-seconds", str(day))
    assert quota.returncode == 75, quota.stderr
    assert "outside a Slurm job" in quota.stderr and "not requeued" in quota.stderr
    assert "copied the crawl back to" in quota.stderr
    assert not (tmp_path / "out" / "network.csv").exists()  # outputs wait for the end
    assert len(db_edges(durable)) > 0
    with emulator_process(tmp_path, "--graph", SYNTH, "--latency-ms", "5") as emu:
        proc = start_crawl(tmp_path, emu.url, *args)
        RequestCounter(emu.log).wait_for(100, proc)
        proc.send_signal(signal.SIGUSR1)
        assert proc.wait(timeout=60) == 75
        stopped = len(db_edges(durable))
        final = run_crawl(tmp_path, emu.url, *args)  # the same command continues the crawl
        requests = emu.requests()
    assert final.returncode == 0, final.stderr
    assert len(db_edges(durable)) > stopped
    edges = db_edges(durable)
    assert len(edges) == len(set(edges))
    assert set(edges) == truth(synth, bfs_users(synth, seeds, 2, "following"), "following")
    assert max(page_fetches(requests).values()) == 1
    assert (tmp_path / "out" / "network.csv").exists()
    assert not list((tmp_path / "scratch").glob("*.db*"))


# ------------------------------------------------------------------ the crawl's own settings
def test_status_and_reruns_use_the_settings_the_crawl_was_run_with(tmp_path, synth):
    seeds = seeds_of(synth, 2)
    db = str(tmp_path / "crawl.db")
    with emulator_process(tmp_path, "--graph", SYNTH) as emu:
        first = run_crawl(tmp_path, emu.url, *seeds, "--max-depth", "2", "--max-requests", "20")
        assert first.returncode == 75, first.stderr
        status = subprocess.run(
            [*CLI, "status", "--db", db], capture_output=True, text=True, timeout=60
        )
        assert status.returncode == 0, status.stderr
        assert "within --max-depth 2" in status.stdout and "of 20,000 follow" in status.stdout
        rerun = run_crawl(tmp_path, emu.url)  # no flags, no seeds: the crawl as it was run
        assert rerun.returncode == 0, rerun.stderr
        assert "settings changed" not in rerun.stderr
        at_depth_2 = set(db_edges(tmp_path / "crawl.db"))
        changed = run_crawl(tmp_path, emu.url, "--max-depth", "3", "--max-requests", "1")
    assert at_depth_2 == truth(synth, bfs_users(synth, seeds, 2, "following"), "following")
    assert "settings changed since the last run of this crawl: --max-depth 2 -> 3" in (
        changed.stderr
    )


def test_the_quota_ledger_belongs_to_the_credentials_not_to_the_database(tmp_path, synth):
    """Two crawls in two databases with one client key share one day's quota; status shows
    what the service said when it refused."""
    seeds = seeds_of(synth, 3)
    day = 3600.0
    quota = ("--day-seconds", str(day), "--on-quota", "exit")
    with emulator_process(
        tmp_path, "--graph", SYNTH, "--follow-quota", "12", "--day-seconds", str(day)
    ) as emu:
        first = run_crawl(tmp_path, emu.url, *seeds, "--max-depth", "2", *quota)
        assert first.returncode == 75, first.stderr
        before = metered(emu.requests())
        served = sum(r["endpoint"] in ("following", "followers") for r in emu.requests())
        other = tmp_path / "other"
        other.mkdir()
        second = run_crawl(other, emu.url, *seeds, *quota, XDG_STATE_HOME=str(tmp_path / "state"))
        after = metered(emu.requests())
    assert second.returncode == 75, second.stderr
    # Every request that reached the service is in the ledger (the refused ones count too).
    assert f"daily quota used up ({served:,} follow requests," in second.stderr
    assert after == before  # the new database knew the day was used up: no metered request
    status = subprocess.run(
        [*CLI, "status", "--db", str(other / "crawl.db")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")},
    )
    assert status.returncode == 0, status.stderr
    assert "the service said:" in status.stdout and "quota" in status.stdout, status.stdout
    assert (tmp_path / "state" / "tiktok-network" / "quota.db").exists()
