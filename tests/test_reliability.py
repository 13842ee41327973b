"""Reliability: whatever happens, the graph handed back is exactly the graph the service served.

Kills at random moments, signals, a fault storm, inaccessible accounts and quirks, bad seed
files, bad API answers, export safety and readers beside a running crawl. Randomness is seeded
so a failure can be replayed.
"""

from __future__ import annotations

import asyncio
import csv
import random
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from aiohttp import web

from tests.conftest import SYNTH, WIKI_VOTE
from tests.crawl_helpers import (
    CLI,
    EmulatorProcess,
    RequestCounter,
    bfs_users,
    crawl_command,
    crawl_env,
    db_edges,
    db_quota_used,
    db_status,
    emulator_process,
    integrity,
    page_fetches,
    pages_needed,
    read_until,
    repeated_requests,
    run_crawl,
    start_crawl,
    truth,
    typical_seeds,
)
from tiktok_network.emulator.graph import parse_graph_spec
from tiktok_network.emulator.names import display_name_for
from tiktok_network.emulator.server import Emulator
from tiktok_network.emulator.settings import EmulatorSettings
from tiktok_network.usernames import is_valid_username

BAD_SEEDS = Path(__file__).parent / "data" / "bad_seeds"


def refetched(requests: list[dict]) -> int:
    return sum(n - 1 for n in page_fetches(requests).values())


def kill_at_progress(
    tmp_path: Path,
    emu: EmulatorProcess,
    args: tuple[str, ...],
    kills: int,
    rng: random.Random,
    step: tuple[int, int],
    sig: signal.Signals = signal.SIGKILL,
) -> None:
    """Start the crawl and stop it ``kills`` times, each after a seeded random number of
    further requests in ``step``; the caller sizes the crawl so that every planned kill
    happens before it can finish (kills * step[1] < the pages it needs)."""
    counter = RequestCounter(emu.log)
    for _ in range(kills):
        proc = start_crawl(tmp_path, emu.url, *args)
        counter.wait_for(counter.count() + rng.randint(*step), proc)
        proc.send_signal(sig)
        code = proc.wait(timeout=60)
        if sig != signal.SIGKILL:
            assert code == 75, proc.stderr.read() if proc.stderr else ""
        assert integrity(tmp_path / "crawl.db") == "ok"


def signal_mid_export(
    export: list[str], out: Path, nth_file: int, sig: signal.Signals
) -> subprocess.Popen[str]:
    """Run ``export`` and send ``sig`` once its ``nth_file``-th temporary file exists, so the
    signal lands while an output is half written (progress, not a clock, decides when)."""
    for _ in range(5):  # an export too quick to catch is run again
        proc = subprocess.Popen(export, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen: set[str] = set()
        while proc.poll() is None:
            seen.update(p.name for p in out.glob(".*.tmp"))
            if len(seen) >= nth_file:
                proc.send_signal(sig)
                proc.wait(timeout=60)
                return proc
            time.sleep(0.001)
    raise AssertionError("the export never ran long enough to be signalled mid-file")


def finish(tmp_path: Path, url: str, args: tuple[str, ...]) -> None:
    for _ in range(3):
        final = run_crawl(tmp_path, url, *args, "--no-export")
        if final.returncode == 0:
            return
    raise AssertionError(final.stderr)


# ---------------------------------------------------------------------------- 1. kill anywhere
def test_twenty_kill_9s_at_random_moments_lose_and_duplicate_nothing(tmp_path):
    spec = "synthetic:4000,seed=9"
    graph = parse_graph_spec(spec)
    seeds = typical_seeds(graph, 3)
    args = (*seeds, "--max-depth", "2", "--direction", "both", "--concurrency", "4")
    rng = random.Random(20261123)
    kills = 20
    crawled = bfs_users(graph, seeds, 2, "both")
    assert kills * 150 < pages_needed(graph, crawled, "both")  # every planned kill happens
    with emulator_process(tmp_path, "--graph", spec, "--latency-ms", "10") as emu:
        kill_at_progress(tmp_path, emu, args, kills, rng, (40, 150))
        finish(tmp_path, emu.url, args)
        requests = emu.requests()
    edges = db_edges(tmp_path / "crawl.db")
    assert len(edges) == len(set(edges))
    assert set(edges) == truth(graph, crawled, "both")
    same_run, after_kill = repeated_requests(requests)
    assert same_run == 0  # a page is asked for twice only when a kill cut its first request
    assert after_kill <= 4 * kills  # at most the pages in flight at each kill
    assert refetched(requests) <= 4 * kills
    assert integrity(tmp_path / "crawl.db") == "ok"


def test_kill_9s_on_wiki_vote_both_directions(tmp_path, wiki_vote):
    seeds = tmp_path / "seeds.csv"
    seeds.write_text("\n".join(u for u in wiki_vote.usernames if is_valid_username(u)) + "\n")
    args = ("--seeds", str(seeds), "--max-depth", "1", "--direction", "both", "--concurrency", "8")
    rng = random.Random(7)
    kills = 8  # at most 8 * 1,500 requests before the last kill; the crawl needs > 14,000 pages
    with emulator_process(tmp_path, "--graph", str(WIKI_VOTE)) as emu:
        kill_at_progress(tmp_path, emu, args, kills, rng, (300, 1500))
        finish(tmp_path, emu.url, args)
        requests = emu.requests()
    edges = db_edges(tmp_path / "crawl.db")
    assert len(edges) == len(set(edges)) == 103689
    same_run, after_kill = repeated_requests(requests)
    assert same_run == 0 and after_kill <= 8 * kills
    assert refetched(requests) <= 8 * kills
    assert set(db_status(tmp_path / "crawl.db").values()) == {1}


# ------------------------------------------------------------------------- 2. polite signals
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGUSR1, signal.SIGINT])
def test_signals_drain_exit_75_and_rerun_completes_exactly(tmp_path, synth, sig):
    seeds = typical_seeds(synth, 3)
    args = (*seeds, "--max-depth", "3", "--concurrency", "4", "--drain-timeout", "5")
    rng = random.Random(int(sig))
    with emulator_process(tmp_path, "--graph", SYNTH, "--latency-ms", "10") as emu:
        counter = RequestCounter(emu.log)
        for _ in range(3):  # at most 3 * 400 requests; the crawl needs 2,910 pages
            proc = start_crawl(tmp_path, emu.url, *args)
            counter.wait_for(counter.count() + rng.randint(100, 400), proc)
            sent = time.monotonic()
            proc.send_signal(sig)
            assert proc.wait(timeout=30) == 75
            assert time.monotonic() - sent < 5 + 5  # drain timeout plus the final commit
        finish(tmp_path, emu.url, args)
        requests = emu.requests()
    edges = db_edges(tmp_path / "crawl.db")
    assert len(edges) == len(set(edges))
    assert set(edges) == truth(synth, bfs_users(synth, seeds, 3, "following"), "following")
    assert refetched(requests) == 0  # a drained run commits every page it fetched


def test_a_signal_during_export_leaves_the_previous_export_intact(tmp_path, wiki_vote):
    seeds = tmp_path / "seeds.csv"
    seeds.write_text("\n".join(u for u in wiki_vote.usernames if is_valid_username(u)) + "\n")
    with emulator_process(tmp_path, "--graph", str(WIKI_VOTE)) as emu:
        done = run_crawl(
            tmp_path, emu.url, "--seeds", str(seeds), "--max-depth", "0", "--concurrency", "16"
        )
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    before = {p.name: p.read_bytes() for p in out.glob("*.csv")}
    rng = random.Random(3)
    export = [*CLI, "export", "--db", str(tmp_path / "crawl.db"), "--out", str(out)]
    for sig in (signal.SIGTERM, signal.SIGKILL, signal.SIGINT, signal.SIGKILL, signal.SIGTERM):
        proc = signal_mid_export(export, out, rng.randint(1, 4), sig)
        assert "Traceback" not in (proc.stderr.read() if proc.stderr else "")
        after = {p.name: p.read_bytes() for p in out.glob("*.csv")}
        assert after == before  # each file is the old one or an identical new one, never half
    subprocess.run(export, check=True, capture_output=True, timeout=120)
    assert not list(out.glob(".*.tmp"))  # leftovers of killed exports are cleared
    # The same for the other formats: a kill -9 mid-file leaves a temporary file, which the
    # next export of any format removes.
    graphs = [*export, "--format", "parquet,graphml,gexf"]
    for nth in (1, 2, 3):
        for _ in range(5):  # a kill that landed just after a rename left nothing: again
            signal_mid_export(graphs, out, nth, signal.SIGKILL)
            if list(out.glob(".*.tmp")):
                break
        assert list(out.glob(".*.tmp"))  # the killed export's half-written file
        subprocess.run(export, check=True, capture_output=True, timeout=120)
        assert not list(out.glob(".*.tmp")), nth


# ----------------------------------------------------------------------------- 3. fault storm
STORM = "500=0.10,500-empty=0.02,504-html=0.02,truncated=0.01,cursor-400=0.01,reset=0.02"


def test_fault_storm_gives_the_exact_graph_and_only_fault_overhead(tmp_path, synth, crawl_db):
    seeds = typical_seeds(synth, 3)
    args = (
        *crawl_db.args,
        *seeds,
        "--max-depth",
        "2",
        "--concurrency",
        "8",
        "--max-retries",
        "10",
        "--rate-limit-delay",
        "0.2",
        "--direction",
        "both",
    )
    with emulator_process(
        tmp_path,
        "--graph",
        SYNTH,
        "--faults",
        STORM,
        "--seed",
        "42",
        "--qps",
        "500",
        "--revoke-every",
        "1.5",
    ) as emu:
        done = run_crawl(tmp_path, emu.url, *args)
        requests = emu.requests()
    assert done.returncode == 0, done.stderr
    edges = db_edges(crawl_db.target)
    assert len(edges) == len(set(edges))
    assert set(edges) == truth(synth, bfs_users(synth, seeds, 2, "both"), "both")
    follow = [r for r in requests if r["endpoint"] in ("following", "followers")]
    pages = page_fetches(requests)
    minimum = len(pages)
    assert max(pages.values()) == 1
    faults = sum(1 for r in follow if r.get("fault"))
    throttled = sum(1 for r in follow if r["status"] in (401, 429))
    assert len(follow) == minimum + faults + throttled  # every extra request is an injected failure
    assert faults > 0.1 * minimum and throttled > 0
    ratio = len(follow) / minimum
    print(
        f"fault storm: {len(follow)} requests for {minimum} pages = {ratio:.3f}; faults {faults}, "
        f"401/429 {throttled}"
    )


def test_users_that_fail_every_retry_get_status_4_and_the_run_exits_75_to_retry_them(
    tmp_path, synth
):
    seeds = typical_seeds(synth, 5)
    with emulator_process(tmp_path, "--graph", SYNTH, "--faults", "500=0.5", "--seed", "1") as emu:
        first = run_crawl(tmp_path, emu.url, *seeds, "--max-depth", "1", "--max-retries", "0")
        failed = [u for u, s in db_status(tmp_path / "crawl.db").items() if s == 4]
        parsing = list(csv.reader((tmp_path / "out" / "parsing_list.csv").open()))
        second = run_crawl(tmp_path, emu.url, *seeds, "--max-depth", "1", "--max-retries", "20")
    # Failed users are retried once more within the run; those still failing make it end
    # with "work left" (75), never "complete" (0), so a batch job runs it again.
    assert "retrying" in first.stderr and "failed every retry" in first.stderr, first.stderr
    assert first.returncode == 75 and second.returncode == 0, second.stderr
    assert failed and all([u, "4"] in parsing for u in failed)
    statuses = db_status(tmp_path / "crawl.db")
    assert all(statuses[u] == 1 for u in failed)
    assert set(db_edges(tmp_path / "crawl.db")) == truth(
        synth, bfs_users(synth, seeds, 1, "following"), "following"
    )


# ----------------------------------------------------------- 5. inaccessible accounts, quirks
def test_refused_and_missing_users_get_2_and_3_and_are_never_retried(tmp_path, synth):
    seeds = typical_seeds(synth, 4)
    missing = seeds[1]
    args = (*seeds, "--max-depth", "1")
    with emulator_process(
        tmp_path, "--graph", SYNTH, "--refused-fraction", "0.2", "--missing", missing
    ) as emu:
        first = run_crawl(tmp_path, emu.url, *args)
        count = len(emu.requests())
        second = run_crawl(tmp_path, emu.url, *args)
        assert len(emu.requests()) == count  # nothing left to ask: no retries of 2s and 3s
    assert first.returncode == second.returncode == 0
    statuses = db_status(tmp_path / "crawl.db")
    assert statuses[missing] == 3
    assert Counter(statuses.values())[2] > 0


def test_quirks_give_the_served_edge_set_and_truncation_is_recorded(tmp_path, synth):
    options = dict(
        short_pages=0.3,
        omit_empty_list=True,
        same_second_repeats=0.5,
        followers_cap=40,
        followers_public_only=True,
        private_fraction=0.1,
        seed=4,
    )
    served = Emulator(synth, EmulatorSettings(**options))
    seeds = typical_seeds(synth, 2)
    flags = [
        "--short-pages",
        "0.3",
        "--omit-empty-list",
        "--same-second-repeats",
        "0.5",
        "--followers-cap",
        "40",
        "--followers-public-only",
        "--private-fraction",
        "0.1",
        "--seed",
        "4",
    ]
    with emulator_process(tmp_path, "--graph", SYNTH, *flags) as emu:
        done = run_crawl(
            tmp_path, emu.url, *seeds, "--max-depth", "1", "--direction", "both", "--info"
        )
    assert done.returncode == 0, done.stderr
    crawled = {u for u, s in db_status(tmp_path / "crawl.db").items() if s == 1}
    expected = set()
    for name in crawled:
        node = synth.user_id(name)
        expected |= {(name, synth.usernames[int(v)]) for v in served._list_of("following", node)[0]}
        expected |= {(synth.usernames[int(v)], name) for v in served._list_of("followers", node)[0]}
    edges = db_edges(tmp_path / "crawl.db")
    assert len(edges) == len(set(edges)) and set(edges) == expected
    truncated = {
        name
        for name in crawled
        if len(served._list_of("followers", synth.user_id(name))[0])
        < synth.followers.degree(synth.user_id(name))
    }
    assert truncated
    nodes = {
        r["username"]: r
        for r in csv.DictReader((tmp_path / "out" / "nodes.csv").open(encoding="utf-8"))
    }
    flagged = {u for u, r in nodes.items() if r["followers_state"] == "capped"}
    assert flagged == truncated
    assert all("followers: received" in nodes[u]["notes"] for u in flagged)
    status = subprocess.run(
        [*CLI, "status", "--db", str(tmp_path / "crawl.db")], capture_output=True, text=True
    )
    assert f"capped {len(truncated)}" in status.stdout.split("followers lists:")[1]


# -------------------------------------------------------------------------- 6. bad seed input
CORPUS = {
    # file: (number of bad-row lines, valid seeds)
    "bom.csv": (0, {"kikimoon0"}),
    "crlf.csv": (0, {"kikimoon0", "ariawave1"}),
    "blank_lines.csv": (0, {"kikimoon0", "ariawave1"}),
    "header.csv": (0, {"kikimoon0", "ariawave1"}),
    "quoted.csv": (0, {"kikimoon0", "ariawave1"}),
    "urls.csv": (1, {"kikimoon0", "ariawave1"}),
    "at_names.csv": (0, {"kikimoon0", "ariawave1"}),
    "upper.csv": (0, {"kikimoon0", "ariawave1"}),
    "duplicates.csv": (0, {"kikimoon0", "ariawave1"}),
    "too_long.csv": (1, {"kikimoon0"}),
    "illegal.csv": (4, {"kikimoon0"}),
    "latin1.csv": (1, {"kikimoon0"}),
}


def test_bad_seed_corpus(tmp_path):
    with emulator_process(tmp_path, "--graph", SYNTH) as emu:
        for name, (bad_rows, valid) in CORPUS.items():
            work = tmp_path / name
            work.mkdir()
            done = run_crawl(work, emu.url, "--seeds", str(BAD_SEEDS / name), "--max-depth", "0")
            assert done.returncode == 0, (name, done.stderr)
            assert "Traceback" not in done.stderr
            lines = [line for line in done.stderr.splitlines() if "skipped" in line]
            assert len(lines) == bad_rows, (name, lines)
            assert all(f"{name}:" in line for line in lines)
            assert {u for u, s in db_status(work / "crawl.db").items() if s == 1} == valid, name
    for target, code, needle in [
        (BAD_SEEDS / "empty.csv", 2, "no valid seed"),
        (BAD_SEEDS / "binary.bin", 1, "binary"),
        (BAD_SEEDS / "absent.csv", 1, "no such file"),
        (BAD_SEEDS, 1, "directory"),
    ]:
        done = run_crawl(tmp_path, "http://127.0.0.1:9", "--seeds", str(target))
        assert done.returncode == code and needle in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------------ 7. bad API answers
@contextmanager
def odd_api(token_body: dict, status: int, body: bytes) -> Iterator[str]:
    """A real server in a thread that answers every follow request the same odd way."""
    ready = threading.Event()
    holder: dict = {}

    async def token(request):
        return web.json_response(token_body)

    async def follow(request):
        return web.Response(status=status, body=body, content_type="application/json")

    async def main():
        app = web.Application()
        app.router.add_post("/v2/oauth/token/", token)
        app.router.add_post("/v2/research/user/following/", follow)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        holder["url"] = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        holder["stop"] = asyncio.Event()
        holder["loop"] = asyncio.get_running_loop()
        ready.set()
        await holder["stop"].wait()
        await runner.cleanup()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield holder["url"]
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(10)


GOOD_TOKEN = {"access_token": "clt.odd", "expires_in": 7200, "token_type": "Bearer"}


@pytest.mark.parametrize(
    ("token_body", "status", "body", "code", "needle"),
    [
        (
            {"error": "invalid_client", "error_description": "bad", "log_id": "x"},
            200,
            b"{}",
            1,
            "credentials rejected",
        ),
        (
            GOOD_TOKEN,
            401,
            b'{"error": {"code": "scope_not_authorized", "message": "no"}}',
            1,
            "approved scopes",
        ),
        (
            GOOD_TOKEN,
            200,
            b'{"data": {"user_following": 5}, "error": {"code": "ok"}}',
            1,
            "unexpected response shape",
        ),
        (GOOD_TOKEN, 200, b'["not", "an", "envelope"]', 1, "unexpected response shape"),
        (
            GOOD_TOKEN,
            400,
            b'{"error": {"code": "brand_new_code", "message": "new"}}',
            75,  # transient: the user failed every retry, so the run ends with work left
            "brand_new_code",
        ),
    ],
)
def test_bad_api_answers_give_a_clear_message_and_leave_the_database_intact(
    tmp_path, synth, token_body, status, body, code, needle
):
    seeds = typical_seeds(synth, 2)
    with emulator_process(tmp_path, "--graph", SYNTH) as emu:
        assert run_crawl(tmp_path, emu.url, seeds[0], "--max-depth", "0").returncode == 0
    before = sorted(db_edges(tmp_path / "crawl.db"))
    with odd_api(token_body, status, body) as url:
        done = run_crawl(tmp_path, url, seeds[1], "--max-depth", "0", "--max-retries", "1")
    assert done.returncode == code, done.stderr
    assert needle in done.stderr and "Traceback" not in done.stderr
    assert sorted(db_edges(tmp_path / "crawl.db")) == before
    assert integrity(tmp_path / "crawl.db") == "ok"
    assert db_status(tmp_path / "crawl.db")[seeds[0]] == 1


# --------------------------------------------------------------------------------- 8. secrets
def test_secrets_never_reach_the_database_exports_output_or_log_file(tmp_path, synth):
    import zlib

    key, secret = "KEY-4f1c9e-recognisable", "SECRET-77aa1d-recognisable"
    seeds = typical_seeds(synth, 2)
    with emulator_process(
        tmp_path,
        "--graph",
        SYNTH,
        "--client",
        f"{key}:{secret}",
        "--revoke-every",
        "0.3",
        "--latency-ms",
        "20",
    ) as emu:
        done = run_crawl(
            tmp_path,
            emu.url,
            *seeds,
            "--max-depth",
            "1",
            "--info",
            "--log-file",
            str(tmp_path / "crawl.log"),
            "--concurrency",
            "2",
            key=key,
            secret=secret,
        )
        tokens = [r for r in emu.requests() if r["endpoint"] == "token"]
    assert done.returncode == 0, done.stderr
    assert len(tokens) >= 2 and (tmp_path / "crawl.log").stat().st_size > 0
    blobs = [done.stdout.encode(), done.stderr.encode()]
    blobs += [
        p.read_bytes()
        for p in tmp_path.rglob("*")
        if p.is_file() and not p.name.startswith("requests-")
    ]
    conn = sqlite3.connect(tmp_path / "crawl.db")
    blobs += [zlib.decompress(b) for (b,) in conn.execute("SELECT response FROM pages")]
    blobs += [str(row).encode() for row in conn.execute("SELECT * FROM runs")]
    conn.close()
    for blob in blobs:
        assert key.encode() not in blob and secret.encode() not in blob and b"clt." not in blob


# ---------------------------------------------------------------------------- 9. export safety
def test_display_names_round_trip_through_csv_and_pandas(tmp_path, synth):
    import pandas as pd

    seeds = typical_seeds(synth, 3)
    with emulator_process(tmp_path, "--graph", SYNTH) as emu:
        assert run_crawl(tmp_path, emu.url, *seeds, "--max-depth", "1").returncode == 0
    frame = pd.read_csv(tmp_path / "out" / "nodes.csv", dtype=str, keep_default_na=False)
    checked = 0
    tricky = 0
    for username, shown in zip(frame["username"], frame["display_name"], strict=True):
        if not shown:
            continue
        original = display_name_for(synth.user_id(username), username)
        expected = "'" + original if original.startswith(("=", "+", "-", "@")) else original
        assert shown == expected
        checked += 1
        tricky += any(c in original for c in ',"\n') or original[0] in "=+-@"
    assert checked > 100 and tricky > 20
    edges = pd.read_csv(tmp_path / "out" / "network.csv", dtype=str)
    assert len(edges) == len(db_edges(tmp_path / "crawl.db"))


# ------------------------------------------------------------------------ 10. concurrent reader
def test_status_and_export_beside_a_running_crawl_do_not_block_it(tmp_path, synth):
    """Readers never take the crawl's lock nor stop its commits: while a reader holds a read
    snapshot open (as a long export does) and status and export run, the crawl goes on
    committing pages. Triggered by progress (pages committed), never by a time window."""
    seeds = typical_seeds(synth, 3)
    # --qps 40: the crawl's 2,910 pages take at least 72 s, so it outlives the readers.
    args = (*seeds, "--max-depth", "3", "--concurrency", "4", "--qps", "40")
    db = tmp_path / "crawl.db"

    def committed() -> int:
        conn = sqlite3.connect(db)
        try:
            return conn.execute("SELECT count(*) FROM pages").fetchone()[0]
        finally:
            conn.close()

    def wait_for_pages(target: int, proc: subprocess.Popen[str]) -> None:
        deadline = time.monotonic() + 120  # a guard against a hang, not a measurement
        while committed() < target:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, f"no progress to {target} pages"
            time.sleep(0.05)

    with emulator_process(tmp_path, "--graph", SYNTH, "--latency-ms", "10") as emu:
        proc = start_crawl(tmp_path, emu.url, *args)
        RequestCounter(emu.log).wait_for(40, proc)
        held = sqlite3.connect(db)
        held.execute("BEGIN")
        snapshot = held.execute("SELECT count(*) FROM pages").fetchone()[0]
        env = crawl_env(emu.url)
        for i in range(2):
            st = subprocess.run(
                [*CLI, "status", "--db", str(db)],
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
            )
            ex = subprocess.run(
                [*CLI, "export", "--db", str(db), "--out", str(tmp_path / f"s{i}")],
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
            )
            assert st.returncode == 0 and ex.returncode == 0, (st.stderr, ex.stderr)
        # The snapshot still held, the crawl commits 30 more pages than it showed.
        wait_for_pages(snapshot + 30, proc)
        assert held.execute("SELECT count(*) FROM pages").fetchone()[0] == snapshot
        held.execute("COMMIT")
        held.close()
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 75


# ------------------------------------------------------------ one crawl per database
def test_a_second_crawl_on_the_same_database_is_refused_and_the_first_ends_exact(tmp_path, synth):
    seeds = typical_seeds(synth, 3)
    # --qps 100: the first crawl's ~700 pages take at least 7 s, so it outlives the second.
    args = (*seeds, "--max-depth", "2", "--concurrency", "4", "--qps", "100")
    with emulator_process(tmp_path, "--graph", SYNTH) as emu:
        first = subprocess.Popen(
            crawl_command(tmp_path, *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=crawl_env(emu.url),
            cwd=tmp_path,
        )
        RequestCounter(emu.log).wait_for(40, first)
        second = run_crawl(tmp_path, emu.url, *args)
        assert first.poll() is None  # still crawling after the second one gave up
        out, err = first.communicate(timeout=120)
        requests = emu.requests()
    assert second.returncode == 1
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "in use by another crawl" in lines[0], second.stderr
    assert f"pid {first.pid}" in lines[0] and "since 20" in lines[0]
    assert first.returncode == 0, err
    expected = truth(synth, bfs_users(synth, seeds, 2, "following"), "following")
    edges = db_edges(tmp_path / "crawl.db")
    assert len(edges) == len(set(edges)) and set(edges) == expected
    exported = list(csv.reader((tmp_path / "out" / "network.csv").open(encoding="utf-8")))[1:]
    assert {tuple(r) for r in exported} == expected  # the first crawl's outputs are whole
    assert refetched(requests) == 0


# ------------------------------------------------------------------ outages are not verdicts
def _follow_requests(*emus: EmulatorProcess) -> int:
    return sum(
        1 for emu in emus for r in emu.requests() if r["endpoint"] in ("following", "followers")
    )


def test_an_outage_pauses_the_crawl_and_it_resumes_when_the_api_is_back(tmp_path, synth):
    seeds = typical_seeds(synth, 3)
    args = (*seeds, "--max-depth", "2", "--concurrency", "4", "--outage-probe-max", "1")
    crawled = bfs_users(synth, seeds, 2, "following")
    assert pages_needed(synth, crawled, "following") > 200
    with emulator_process(tmp_path, "--graph", SYNTH, "--latency-ms", "5") as first:
        proc = start_crawl(tmp_path, first.url, *args)
        RequestCounter(first.log).wait_for(150, proc)
        port = first.port
    # The emulator is gone: the crawl must notice, pause and probe, not fail users.
    read_until(proc, "the API does not answer")
    with emulator_process(tmp_path, "--graph", SYNTH, port=port) as second:
        read_until(proc, "the API answers again")
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        served = _follow_requests(first, second)
    db = tmp_path / "crawl.db"
    assert 4 not in set(db_status(db).values())  # nobody was blamed for the outage
    edges = db_edges(db)
    assert len(edges) == len(set(edges)) and set(edges) == truth(synth, crawled, "following")
    # Refused connections never reached a server and are not in the ledger; a request cut
    # when the first emulator stopped reached it but may not be in its log.
    assert served <= db_quota_used(db) <= served + 4


def test_an_outage_longer_than_the_tolerance_stops_with_work_left(tmp_path, synth):
    seeds = typical_seeds(synth, 3)
    args = (*seeds, "--max-depth", "2", "--concurrency", "4", "--outage-probe-max", "0.5")
    with emulator_process(tmp_path, "--graph", SYNTH, "--latency-ms", "5") as first:
        proc = start_crawl(tmp_path, first.url, *args, "--outage-tolerance", "3")
        RequestCounter(first.log).wait_for(100, proc)
        port = first.port
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 75, err
    assert "did not answer for 3 s: stopping" in err and "Traceback" not in err
    assert 4 not in set(db_status(tmp_path / "crawl.db").values())
    with emulator_process(tmp_path, "--graph", SYNTH, port=port) as second:
        final = run_crawl(tmp_path, second.url, *args)
    assert final.returncode == 0, final.stderr
    crawled = bfs_users(synth, seeds, 2, "following")
    assert set(db_edges(tmp_path / "crawl.db")) == truth(synth, crawled, "following")


def test_an_api_that_never_answers_is_said_at_once_and_costs_no_quota(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    done = run_crawl(tmp_path, closed, "alice", "bob", timeout=60)
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"cannot reach the Research API at {closed}" in errors[0]
    assert "Connection refused" in errors[0] and "Traceback" not in done.stderr
    assert "crawl complete" not in done.stderr
    db = tmp_path / "crawl.db"
    assert set(db_status(db).values()) == {None}  # queued, not failed
    assert db_quota_used(db) == 0
