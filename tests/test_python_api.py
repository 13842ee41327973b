"""The public Python API against a crawl of the emulator: what a notebook would do."""

from __future__ import annotations

import csv
import os

import pytest

import tiktok_network as tn
from tests.conftest import SYNTH
from tests.crawl_helpers import (
    KEY,
    SECRET,
    bfs_users,
    emulator_process,
    run_crawl,
    truth,
    typical_seeds,
)
from tiktok_network.config import ConfigError


def test_open_gives_edges_users_graph_and_status_equal_to_the_exports(tmp_path, synth):
    seeds = typical_seeds(synth, 2)
    with emulator_process(tmp_path, "--graph", SYNTH) as emu:
        done = run_crawl(tmp_path, emu.url, *seeds, "--max-depth", "1", "--info")
    assert done.returncode == 0, done.stderr
    exported = {
        (r["source"], r["destination"])
        for r in csv.DictReader((tmp_path / "out" / "edges.csv").open(encoding="utf-8"))
    }
    crawl = tn.open(str(tmp_path / "crawl.db"))
    edges = crawl.edges()
    assert list(edges.columns) == ["source", "destination", "first_seen", "found_via", "last_seen"]
    assert set(zip(edges["source"], edges["destination"], strict=True)) == exported
    assert str(edges["first_seen"].dt.tz) == "UTC"
    users = crawl.users()
    nodes_csv = list(csv.DictReader((tmp_path / "out" / "nodes.csv").open(encoding="utf-8")))
    assert list(users.columns) == list(nodes_csv[0].keys())
    assert set(users["username"]) == {r["username"] for r in nodes_csv}
    assert str(users["follower_count"].dtype) == "Int64"
    parsed = users[users["status"] == 1]
    assert parsed["follower_count"].notna().all()
    graph = crawl.graph()
    assert graph.is_directed() and graph.vcount() == len(users) and graph.ecount() == len(edges)
    names = graph.vs["name"]
    assert {(names[e.source], names[e.target]) for e in graph.es} == exported
    assert "follower_count" in graph.vs.attributes()
    status = crawl.status()
    assert status.edges == len(exported) and status.users_known == len(users)


def test_crawl_runs_blocking_with_the_settings_of_the_cli(tmp_path, synth, monkeypatch):
    seeds = typical_seeds(synth, 2)
    monkeypatch.setenv("TIKTOK_CLIENT_KEY", KEY)
    monkeypatch.setenv("TIKTOK_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    db = str(tmp_path / "api.db")
    with emulator_process(tmp_path, "--graph", SYNTH) as emu:
        result = tn.crawl(seeds, db=db, api_base=emu.url, max_depth=1, concurrency=4)
    assert result.exit_code == 0 and result.complete
    edges = tn.open(db).edges()
    expected = truth(synth, bfs_users(synth, seeds, 1, "following"), "following")
    assert set(zip(edges["source"], edges["destination"], strict=True)) == expected
    with pytest.raises(ConfigError, match="unknown setting 'max_dept'"):
        tn.crawl(seeds, db=db, max_dept=2)
    assert "TIKTOK_CLIENT_SECRET" in os.environ  # credentials only ever from the environment


def test_a_rerun_through_the_python_api_keeps_the_crawls_settings(
    tmp_path, synth, monkeypatch, crawl_db
):
    """A crawl started with its depth and directions, cut by a budget, then continued with
    ``db`` alone: it continues as it was run, on SQLite and on PostgreSQL alike (the rerun on
    PostgreSQL used to read the stored settings through the SQLite function, and crawled with
    the defaults)."""
    seeds = typical_seeds(synth, 2)
    monkeypatch.setenv("TIKTOK_CLIENT_KEY", KEY)
    monkeypatch.setenv("TIKTOK_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    db = str(crawl_db.target)
    with emulator_process(tmp_path, "--graph", SYNTH) as emu:
        first = tn.crawl(seeds, db=db, api_base=emu.url, max_depth=1, direction="both", max_users=3)
        assert not first.complete  # stopped by its --max-users budget
        rest = tn.crawl(db=db, api_base=emu.url)
    assert rest.exit_code == 0 and rest.complete
    edges = tn.open(db).edges()
    expected = truth(synth, bfs_users(synth, seeds, 1, "both"), "both")
    assert set(zip(edges["source"], edges["destination"], strict=True)) == expected
