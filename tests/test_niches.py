"""Niches end to end: a planted graph crawled, its videos collected, `analyze` finding the
planted niches, their vocabularies and their bursts (GET /_emulator/truth is the answer key)."""

from __future__ import annotations

import csv
import json
import math
import urllib.request
from collections import Counter, defaultdict
from datetime import UTC, datetime

from tests.crawl_helpers import emulator_process, run_cli, run_crawl
from tiktok_network.analysis.bursts import bursts
from tiktok_network.emulator.graph import parse_graph_spec

GRAPH = "planted:1500,k=6,seed=1"


def nmi(a: list[int], b: list[int]) -> float:
    """Normalised mutual information (arithmetic mean of the entropies)."""
    n = len(a)
    joint = Counter(zip(a, b, strict=True))
    pa, pb = Counter(a), Counter(b)
    mi = sum(c / n * math.log(c * n / (pa[x] * pb[y])) for (x, y), c in joint.items())
    ha = -sum(c / n * math.log(c / n) for c in pa.values())
    hb = -sum(c / n * math.log(c / n) for c in pb.values())
    return 2 * mi / (ha + hb) if ha + hb else 1.0


def read(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_analyze_finds_the_planted_niches_their_hashtags_and_bursts(tmp_path):
    graph = parse_graph_spec(GRAPH)
    seeds = [graph.usernames[0], graph.usernames[700], graph.usernames[1400]]
    with emulator_process(tmp_path, "--graph", GRAPH, "--videos-per-account", "20") as emu:
        # one request at a time: the accounts get the same ids, so Leiden sees the same graph
        done = run_crawl(tmp_path, emu.url, "--max-depth", "3", "--concurrency", "1", *seeds)
        assert done.returncode == 0, done.stderr
        done = run_cli(tmp_path, emu.url, "videos", "--since", "2025-01-01", "--until",
                       "2025-12-31", "--concurrency", "4")  # fmt: skip
        assert done.returncode == 0, done.stderr
        done = run_cli(tmp_path, emu.url, "analyze", "--out", str(tmp_path / "rep"))
        assert done.returncode == 0, done.stderr
        done = run_cli(tmp_path, emu.url, "export", "--format", "videos", "--out",
                       str(tmp_path / "ex"))  # fmt: skip
        assert done.returncode == 0, done.stderr
        with urllib.request.urlopen(f"{emu.url}/_emulator/truth", timeout=30) as resp:
            truth = json.load(resp)
    import frictionless  # the video files are described by the package too, and match it

    package = frictionless.validate(str(tmp_path / "ex" / "datapackage.json"))
    assert package.valid, package.flatten(["resource", "type", "note"])[:10]
    described = {
        r["path"]
        for r in json.loads((tmp_path / "ex" / "datapackage.json").read_text())["resources"]
    }
    assert {
        "videos.csv",
        "videos.parquet",
        "account_videos.csv",
        "hashtag_cooccurrence.gexf",
    } <= described
    found = {r["username"]: int(r["community"]) for r in read(tmp_path / "rep" / "communities.csv")}
    planted = truth["communities"]
    names = sorted(found)
    score = nmi([planted[n] for n in names], [found[n] for n in names])
    assert score > 0.8, f"NMI {score:.3f} between the planted and the found niches"
    niches = {int(r["community"]): r for r in read(tmp_path / "rep" / "niches.csv")}
    home: dict[int, int] = {}  # planted niche -> the found niche holding most of its members
    for c, members in _groups(planted, names).items():
        if len(members) < 30:
            continue
        home[c] = Counter(found[m] for m in members).most_common(1)[0][0]
        first = niches[home[c]]["hashtags"].split("|")[0]
        assert first in truth["vocabularies"][str(c)], (c, first, niches[home[c]]["hashtags"])
        for generic in truth["generic"]:
            assert generic not in niches[home[c]]["hashtags"].split("|")
    assert len(home) >= 5
    found_bursts = read(tmp_path / "rep" / "bursts.csv")
    for b in truth["bursts"]:
        if b["community"] not in home:
            continue
        hits = [
            f for f in found_bursts
            if f["hashtag"] == b["hashtag"] and int(f["community"]) == home[b["community"]]
        ]  # fmt: skip
        assert hits, (b, found_bursts)
        start = datetime.fromisoformat(hits[0]["start"]).replace(tzinfo=UTC).timestamp()
        assert abs(start - b["start"]) <= 7 * 86400, (b, hits[0])
    report = (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")
    assert "## Niches" in report and "Rising hashtags" in report
    assert (tmp_path / "rep" / "figures" / "niches_map.png").stat().st_size > 10_000
    kept = read(tmp_path / "rep" / "backbones.csv")
    assert {(r["network"], r["method"]) for r in kept} == {
        (n, m)
        for n in ("hashtag co-occurrence", "community graph")
        for m in ("disparity", "noise-corrected")
    }
    for r in kept:  # a stricter threshold keeps no more
        assert int(r["edges"]) <= int(r["edges_total"])
    _check_video_exports(tmp_path)
    # A purge (what a refresh does to an account the service no longer serves) leaves the
    # account in no file of the report: its videos, its place and its leadership go.
    leader = next(iter(niches.values()))["accounts"].split("|")[0]
    _purge(tmp_path / "crawl.db", leader)
    from tiktok_network.export.outputs import rewrite_recorded

    assert {what for _, what in rewrite_recorded(tmp_path / "crawl.db")} == {"rewritten"}
    folders = ("rep", "out", "ex")
    for path in [p for folder in folders for p in (tmp_path / folder).rglob("*")]:
        if path.is_file() and path.suffix in (".csv", ".md", ".html", ".json", ".gexf"):
            assert leader not in path.read_text(encoding="utf-8"), path


def _check_video_exports(tmp_path) -> None:
    """The video files agree with each other, with the database and with the Python API, and
    open in pandas and networkx."""
    import networkx as nx
    import pandas as pd

    import tiktok_network

    ex = tmp_path / "ex"
    videos = pd.read_parquet(ex / "videos.parquet")
    assert len(videos) == len(read(ex / "videos.csv")) == len(read(ex / "account_videos.csv"))
    tags = [set(h.split("|")) - {""} for h in videos["hashtags"]]
    uses = pd.read_csv(ex / "account_hashtags.csv")
    assert uses["videos"].sum() == sum(len(t) for t in tags)
    pairs = pd.read_parquet(ex / "hashtag_cooccurrence.parquet")
    assert pairs["videos"].sum() == sum(len(t) * (len(t) - 1) // 2 for t in tags)
    assert (pairs["hashtag_a"] < pairs["hashtag_b"]).all()
    bipartite = nx.read_gexf(ex / "account_hashtags.gexf")
    assert bipartite.number_of_edges() == len(uses)
    kinds = Counter(kind for _, kind in bipartite.nodes(data="kind"))
    assert kinds == {"account": uses["username"].nunique(), "hashtag": uses["hashtag"].nunique()}
    assert nx.read_gexf(ex / "hashtag_cooccurrence.gexf").number_of_edges() == len(pairs)
    crawl = tiktok_network.open(str(tmp_path / "crawl.db"))
    api = crawl.videos()
    assert sorted(api["id"]) == sorted(videos["id"]) and api["create_time"].dt.tz is not None
    by_api = crawl.hashtags().set_index(["username", "hashtag"])["videos"].sort_index()
    by_file = uses.set_index(["username", "hashtag"])["videos"].sort_index()
    assert by_api.to_dict() == by_file.to_dict()


def _purge(db, username: str) -> None:
    from tiktok_network.store import open_store
    from tiktok_network.store.lifecycle import purge

    store = open_store(db)
    try:
        (user_id,) = store.transact(
            lambda execute: execute(
                "SELECT id FROM users WHERE username = ?", (username,)
            ).fetchone()
        )
        store.transact(lambda execute: purge(execute, [(user_id, "test")], 0.0, 0))
    finally:
        store.close()


def _groups(labels: dict[str, int], names: list[str]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = defaultdict(list)
    for n in names:
        out[labels[n]].append(n)
    return out


def test_kleinberg_marks_the_weeks_a_rate_rose_and_nothing_in_a_steady_series():
    totals = [100] * 20
    steady = [10, 12, 9, 11, 10, 8, 12, 10, 11, 9, 10, 10, 12, 9, 11, 10, 8, 12, 10, 11]
    assert bursts(steady, totals) == []
    rising = list(steady)
    rising[12:15] = [45, 50, 40]
    found = bursts(rising, totals)
    assert [(b.start, b.end) for b in found] == [(12, 14)] and found[0].weight > 10
    assert bursts([0] * 20, totals) == [] and bursts([], []) == []
