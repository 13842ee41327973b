"""Sampling designs against the emulator: determinism, kill -9 and resume, the estimates'
intervals against a graph whose truth is known, and the report's ``estimates``."""

from __future__ import annotations

import json
import random
import subprocess

import pytest

import tiktok_network
from tests.crawl_helpers import (
    CLI,
    KEY,
    SECRET,
    CrawlDb,
    RequestCounter,
    _query,
    crawl_env,
    db_edges,
    emulator_process,
    integrity,
    pages_needed,
    run_crawl,
    start_crawl,
)
from tiktok_network.analysis.estimators import estimate, population, sample_of
from tiktok_network.emulator.graph import parse_graph_spec

GRAPH = "synthetic:2000,seed=1"
DESIGNS = ("snowball", "forest-fire", "rw", "rwrw", "mhrw", "nbrw")


@pytest.fixture(scope="module")
def graph():
    return parse_graph_spec(GRAPH)


def seeds_for(graph, n: int, seed: int) -> list[str]:
    return random.Random(seed).sample(graph.usernames, n)


def steps(db) -> list[tuple[int, int, str]]:
    return _query(
        db,
        "SELECT chain, step, u.username FROM sample_steps s JOIN users u ON u.id = s.user_id"
        " ORDER BY chain, step",
    )


def sampled(tmp_path, url, name, *args, exit_code=0):
    folder = tmp_path / name
    folder.mkdir()
    done = run_crawl(folder, url, "--no-export", *args)
    assert done.returncode == exit_code, done.stderr[-3000:]
    return folder / "crawl.db"


def test_every_design_is_deterministic_for_a_seed_whatever_the_concurrency(
    tmp_path, graph, monkeypatch
):
    """Each design twice with one seed (concurrency 8 and 2) and once with another; through the
    Python API (the CLI runs the same engine: the kill tests below use it)."""
    monkeypatch.setenv("TIKTOK_CLIENT_KEY", KEY)
    monkeypatch.setenv("TIKTOK_CLIENT_SECRET", SECRET)
    seeds = seeds_for(graph, 6, 0)

    def sample(name: str, design: str, seed: int, concurrency: int = 8) -> list:
        db = str(tmp_path / f"{name}.db")
        done = tiktok_network.crawl(
            seeds, db=db, api_base=emu.url, sampler=design, sample_seed=seed, max_requests=120,
            max_depth=3, concurrency=concurrency, quota_ledger=str(tmp_path / "ledger.db"),
        )  # fmt: skip
        assert done.exit_code == 0 and done.complete, (design, done.reason)
        return steps(db)

    with emulator_process(tmp_path, "--graph", GRAPH) as emu:
        for design in DESIGNS:
            one = sample(f"{design}-a", design, 7)
            assert len(one) > len(seeds), design  # the design went beyond its start
            assert sample(f"{design}-b", design, 7, concurrency=2) == one, design
        assert sample("rwrw-c", "rwrw", 8) != steps(str(tmp_path / "rwrw-a.db"))
        requests = emu.requests()
    # Each run spent exactly its budget of calls.
    follow = [r for r in requests if r["endpoint"] in ("following", "followers")]
    assert len(follow) == 120 * (2 * len(DESIGNS) + 1)


@pytest.mark.parametrize(("design", "backend"), [("mhrw", "sqlite"), ("nbrw", "postgresql")])
def test_a_killed_sample_resumes_step_for_step(tmp_path, graph, design, backend, request):
    """kill -9 at three seeded points (requests answered), then rerun: the same steps and
    the same edges as a run never interrupted (on SQLite; the PostgreSQL sample also waits
    for the killed worker's lease)."""
    seeds = seeds_for(graph, 5, 1)
    args = (*seeds, "--sampler", design, "--walkers", "4", "--max-requests", "600")
    killed_db = CrawlDb(tmp_path / "killed")
    if backend == "postgresql":
        killed_db = CrawlDb(tmp_path, request.getfixturevalue("pg_cluster").new_database())
    rng = random.Random(16)
    with emulator_process(tmp_path, "--graph", GRAPH, "--latency-ms", "2") as emu:
        whole = sampled(tmp_path, emu.url, "whole", *args)
        killed = tmp_path / "killed"
        killed.mkdir()
        counter = RequestCounter(emu.log)
        for _ in range(3):
            proc = start_crawl(killed, emu.url, *args, *killed_db.args, "--lease", "1")
            counter.wait_for(counter.count() + rng.randint(60, 150), proc)
            proc.kill()
            proc.wait(timeout=60)
            if backend == "sqlite":
                assert integrity(killed / "crawl.db") == "ok"
        final = run_crawl(killed, emu.url, "--no-export", *killed_db.args, "--lease", "1")
        assert final.returncode == 0, final.stderr[-3000:]
        assert "sample complete" in final.stderr
    assert steps(killed_db.target) == steps(whole)
    # The same budget was spent on pages, each stored once, every edge a follow of the graph;
    # users both crawls expanded have the same follows. (Which pages of the last, undecided
    # round were fetched before the budget ran out depends on timing: no decision used them.)
    for db in (killed_db.target, whole):
        assert _query(db, "SELECT count(*) FROM pages") == [(600,)]
    edges = db_edges(killed_db.target)
    assert len(edges) == len(set(edges))
    assert set(edges) <= set(graph.edges())
    both = set(expanded(killed_db.target)) & set(expanded(whole))
    assert len(both) > 20
    assert {e for e in edges if e[0] in both or e[1] in both} == {
        e for e in db_edges(whole) if e[0] in both or e[1] in both
    }


def expanded(db) -> list[str]:
    return [r[0] for r in _query(db, "SELECT username FROM users WHERE state = 2")]


def test_rwrw_intervals_cover_the_truth_and_bfs_overestimates(tmp_path, graph, monkeypatch):
    """Ten seeded RWRW samples of 10% of the graph's pages: the mean degree is within the
    stated 95% interval in at least 8; breadth-first on the same budget over-estimates it."""
    monkeypatch.setenv("TIKTOK_CLIENT_KEY", KEY)
    monkeypatch.setenv("TIKTOK_CLIENT_SECRET", SECRET)
    truth = population(graph.n_users, *graph.edge_arrays())
    budget = pages_needed(graph, set(graph.usernames), "both") // 10
    covered = 0
    with emulator_process(tmp_path, "--graph", GRAPH) as emu:
        common = {
            "api_base": emu.url, "max_requests": budget, "direction": "both", "concurrency": 10,
            "quota_ledger": str(tmp_path / "ledger.db"),
        }  # fmt: skip
        for run in range(10):  # through the Python API: ten processes' start-up saved
            db = str(tmp_path / f"rwrw-{run}.db")
            done = tiktok_network.crawl(
                seeds_for(graph, 10, 100 + run), db=db, sampler="rwrw", walkers=10,
                sample_seed=run, **common,
            )  # fmt: skip
            assert done.exit_code == 0 and done.complete
            mean = tiktok_network.open(db).estimates()["mean_degree"]
            covered += mean["ci_low"] <= truth["mean_degree"] <= mean["ci_high"]
        bfs = str(tmp_path / "bfs.db")
        done = tiktok_network.crawl(seeds_for(graph, 10, 100), db=bfs, max_depth=9, **common)
        assert done.exit_code == 75  # a breadth-first crawl stopped by its budget: work left
    print(f"RWRW intervals covering the true mean degree: {covered} of 10")
    assert covered >= 8, covered
    bfs_estimate = estimate(sample_of(bfs))
    assert bfs_estimate["design"] == "bfs" and not bfs_estimate["corrects_bias"]
    assert bfs_estimate["mean_degree"]["value"] > truth["mean_degree"] * 1.1


def test_analyze_reports_the_estimates_of_a_walk(tmp_path, graph):
    with emulator_process(tmp_path, "--graph", GRAPH) as emu:
        db = sampled(
            tmp_path, emu.url, "walk", *seeds_for(graph, 5, 3), "--sampler", "nbrw",
            "--walkers", "5", "--max-requests", "60",
        )  # fmt: skip
    status = subprocess.run(
        [*CLI, "status", "--db", str(db)], capture_output=True, text=True, timeout=120
    )
    assert status.returncode == 0, status.stderr
    assert "sample: --sampler nbrw --sample-seed 0 --walkers 5: " in status.stdout
    assert "60 of 60 calls of its budget spent" in status.stdout
    report = tmp_path / "report"
    done = subprocess.run(
        [*CLI, "analyze", "--db", str(db), "--out", str(report)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads((report / "stats.json").read_text())
    est = doc["estimates"]
    assert est["design"] == "nbrw" and est["corrects_bias"] and est["walkers"] == 5
    for key in ("mean_degree", "mean_in_degree", "mean_out_degree", "reciprocity"):
        figure = est[key]
        assert figure["ci_low"] < figure["value"] < figure["ci_high"], key
    ks = [k for k, _ in est["degree_ccdf"]]
    ps = [p for _, p in est["degree_ccdf"]]
    assert ks == sorted(ks) and ps[0] == pytest.approx(1.0) and ps == sorted(ps, reverse=True)
    assert len(est["convergence"]["geweke_z"]) == 5
    assert (report / "figures" / "crawl__crawled_core_sampling_convergence.png").exists()
    assert "### Estimates" in (report / "report.md").read_text()


def test_sampler_settings_are_checked_before_any_work(tmp_path, graph):
    seeds = seeds_for(graph, 2, 4)

    def crawl(*args):
        return subprocess.run(
            [*CLI, "crawl", "--db", str(tmp_path / "s.db"), "--no-export", *args],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
            env=crawl_env("http://127.0.0.1:9", XDG_STATE_HOME=str(tmp_path / "state")),
        )  # fmt: skip

    cases = [
        ((*seeds, "--sampler", "rwrw"), "needs a budget: --max-requests"),
        ((*seeds, "--sampler", "rw", "--max-requests", "9", "--direction", "following"),
         "needs --direction both"),
        ((*seeds, "--sampler", "mhrw", "--max-requests", "9", "--max-users", "5"),
         "--max-users is for breadth-first crawls"),
        ((*seeds, "--sampler", "forest-fire", "--max-requests", "9", "--burn-probability", "1.5"),
         "--burn-probability"),
    ]  # fmt: skip
    for args, message in cases:
        done = crawl(*args)
        assert done.returncode != 0 and message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    with emulator_process(tmp_path, "--graph", GRAPH) as emu:
        first = sampled(
            tmp_path, emu.url, "kept", *seeds, "--sampler", "rwrw", "--max-requests", "20"
        )
        again = run_crawl(first.parent, emu.url, "--no-export", "--sampler", "mhrw")
    assert again.returncode != 0
    assert "sample was drawn with --sampler rwrw" in again.stderr
    assert "Traceback" not in again.stderr
