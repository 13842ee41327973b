"""Analysis: published figures of real graphs, networkx as an oracle, the report, bad input."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import networkx as nx
import numpy as np
import pytest

from tests.conftest import FACEBOOK, WIKI_VOTE, graph_text
from tests.crawl_helpers import db_edges, emulator_process, run_crawl
from tiktok_network.analysis.edgelist import EdgeListError, read_crawl, read_edges, simplify
from tiktok_network.analysis.stats import effective_diameter, network_stats
from tiktok_network.usernames import is_valid_username

CLI = [sys.executable, "-m", "tiktok_network.cli"]

# SNAP's published statistics (src/tiktok_network/data/graphs/README.md)
PUBLISHED = {
    "Wiki-Vote": dict(
        nodes=7115,
        edges=103689,
        largest_wcc_nodes=7066,
        largest_wcc_edges=103663,
        largest_scc_nodes=1300,
        largest_scc_edges=39456,
        triangles=608389,
        average_clustering=0.1409,
        fraction_closed_triangles=0.04564,
        global_transitivity=0.1255,
        diameter=7,
        effective_diameter_90=3.8,
    ),
    "facebook": dict(
        nodes=4039,
        undirected_edges=88234,
        largest_wcc_nodes=4039,
        triangles=1612010,
        average_clustering=0.6055,
        fraction_closed_triangles=0.2647,
        global_transitivity=0.5192,
        diameter=8,
        effective_diameter_90=4.7,
    ),
}


def check_published(stats: dict, expected: dict) -> None:
    for key, value in expected.items():
        if key == "effective_diameter_90":
            assert abs(stats[key] - value) <= 0.1, (key, stats[key])
        elif isinstance(value, float):
            assert round(stats[key], 4) == pytest.approx(value, abs=1e-4), (key, stats[key])
        else:
            assert stats[key] == value, (key, stats[key])


@pytest.fixture(scope="module")
def wiki_stats():
    return network_stats(read_edges(WIKI_VOTE), communities=False)


@pytest.fixture(scope="module")
def facebook_stats():
    return network_stats(read_edges(FACEBOOK, undirected=True), communities=False)


def test_wiki_vote_matches_snap(wiki_stats):
    check_published(wiki_stats, PUBLISHED["Wiki-Vote"])
    # r_e = 2 r_p / (1 + r_p)
    rp = wiki_stats["pair_reciprocity"]
    assert wiki_stats["edge_reciprocity"] == pytest.approx(2 * rp / (1 + rp))


def test_facebook_as_mutual_follows_matches_snap(facebook_stats):
    check_published(facebook_stats, PUBLISHED["facebook"])
    assert facebook_stats["edges"] == 176468 and facebook_stats["edge_reciprocity"] == 1.0


def test_crawled_wiki_vote_gives_the_published_figures(tmp_path):
    """Wiki-Vote served by the emulator, crawled in both directions from every valid username."""
    labels = sorted(
        {
            x
            for line in graph_text(WIKI_VOTE).splitlines()
            if not line.startswith("#")
            for x in line.split()
        }
    )
    seeds = tmp_path / "seeds.csv"
    seeds.write_text("\n".join(x for x in labels if is_valid_username(x)) + "\n")
    with emulator_process(tmp_path, "--graph", str(WIKI_VOTE)) as emu:
        done = run_crawl(
            tmp_path,
            emu.url,
            "--seeds",
            str(seeds),
            "--max-depth",
            "1",
            "--direction",
            "both",
            "--concurrency",
            "16",
            "--no-export",
        )
    assert done.returncode == 0, done.stderr
    stats = network_stats(read_crawl(tmp_path / "crawl.db", core_only=True), communities=False)
    check_published(stats, PUBLISHED["Wiki-Vote"])


def test_crawled_facebook_gives_the_published_figures(tmp_path):
    """Facebook served by the emulator, crawled in both directions from every node."""
    labels = sorted({x for line in graph_text(FACEBOOK).split("\n") for x in line.split()})
    seeds = tmp_path / "seeds.csv"
    seeds.write_text("\n".join(x for x in labels if is_valid_username(x)) + "\n")
    with emulator_process(tmp_path, "--graph", str(FACEBOOK), "--undirected") as emu:
        done = run_crawl(
            tmp_path,
            emu.url,
            "--seeds",
            str(seeds),
            "--max-depth",
            "1",
            "--direction",
            "both",
            "--concurrency",
            "16",
        )
    assert done.returncode == 0, done.stderr
    assert len(db_edges(tmp_path / "crawl.db")) == 176468
    stats = network_stats(read_crawl(tmp_path / "crawl.db", core_only=True), communities=False)
    check_published(stats, PUBLISHED["facebook"])


def random_graph(seed: int) -> tuple[nx.DiGraph, object]:
    rng = np.random.default_rng(seed)
    n = 60
    src = rng.integers(0, n, 400)
    dst = rng.integers(0, n, 400)
    names = [f"u{i}" for i in range(n)]
    el = simplify("random", names, src, dst)
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from(zip(el.src.tolist(), el.dst.tolist(), strict=True))
    return g, el


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_statistics_match_networkx_on_small_random_graphs(seed):
    g, el = random_graph(seed)
    stats = network_stats(el, communities=False)
    u = g.to_undirected()
    assert stats["edges"] == g.number_of_edges()
    assert stats["edge_reciprocity"] == pytest.approx(nx.reciprocity(g))
    assert stats["average_clustering"] == pytest.approx(nx.average_clustering(u))
    assert stats["global_transitivity"] == pytest.approx(nx.transitivity(u))
    assert stats["triangles"] == sum(nx.triangles(u).values()) // 3
    assert stats["wcc_count"] == nx.number_weakly_connected_components(g)
    assert stats["scc_count"] == nx.number_strongly_connected_components(g)
    assert stats["largest_scc_nodes"] == max(len(c) for c in nx.strongly_connected_components(g))
    giant = u.subgraph(max(nx.connected_components(u), key=len))
    assert stats["diameter"] == nx.diameter(giant)
    assert stats["mean_distance"] == pytest.approx(nx.average_shortest_path_length(giant))
    for a, b in (("out", "in"), ("in", "in"), ("out", "out"), ("in", "out")):
        assert stats[f"assortativity_{a}_{b}"] == pytest.approx(
            nx.degree_assortativity_coefficient(g, x=a, y=b), abs=1e-9
        )
    assert stats["assortativity_undirected"] == pytest.approx(
        nx.degree_assortativity_coefficient(u), abs=1e-9
    )
    pagerank = nx.pagerank(g)
    best = max(pagerank, key=pagerank.get)
    assert stats["top_pagerank"][0]["account"] == f"u{best}"


def test_effective_diameter_interpolates_like_snap():
    # pairs at distance 0..3: 10, 30, 40, 20 -> 90 % of 100 = 90 falls inside distance 3
    assert effective_diameter(np.array([10, 30, 40, 20])) == pytest.approx(2 + (90 - 80) / 20)


def test_analyze_command_writes_the_report(tmp_path):
    out = tmp_path / "report"
    done = subprocess.run(
        [
            *CLI,
            "analyze",
            "--edges",
            str(WIKI_VOTE),
            "--name",
            "wiki",
            "--compare",
            str(FACEBOOK),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads((out / "stats.json").read_text())
    assert doc["version"] and doc["networks"][0]["input_checksum"].startswith("6f371ed4")
    fits = doc["networks"][0]["degree_fits"]["in"]
    assert {
        "alpha",
        "xmin",
        "tail_size",
        "ks_distance",
        "vs_lognormal",
        "vs_truncated_power_law",
    } <= set(fits)
    html_text = (out / "report.html").read_text()
    assert html_text.count("data:image/png;base64,") == len(doc["networks"][0]["figures"]) + len(
        doc["networks"][1]["figures"]
    )
    assert "Mislove" in html_text and "Kwak" in html_text and "edge reciprocity" in html_text
    assert (out / "report.md").read_text().startswith("# Network report")
    assert all((out / f).exists() for n in doc["networks"] for f in n["figures"])


@pytest.mark.parametrize(
    ("content", "suffix", "needle"),
    [
        ("", ".txt", "no edges"),
        ("a,b\n1\n", ".csv", ":2: expected at least 2 columns"),
        ("1 2\nlonely\n", ".txt", ":2: expected two node labels"),
        (None, ".txt", "no such file"),
    ],
)
def test_bad_edge_lists_get_one_line(tmp_path, content, suffix, needle):
    path = tmp_path / f"edges{suffix}"
    if content is not None:
        path.write_text(content)
    with pytest.raises(EdgeListError, match=needle):
        read_edges(path)
    done = subprocess.run(
        [*CLI, "analyze", "--edges", str(path), "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and needle in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_database_that_is_not_a_crawl_is_refused(tmp_path):
    import sqlite3

    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE x(y)").connection.commit()
    done = subprocess.run(
        [*CLI, "analyze", "--db", str(other), "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "not a tiktok-network database" in done.stderr


def test_an_empty_graph_gives_a_report_that_says_so(tmp_path):
    from tiktok_network.analysis.report import Network, analyse

    el = simplify("nothing", ["a"], np.array([0]), np.array([0]))  # only a self-loop
    doc = analyse([Network("nothing", el)], tmp_path)
    assert doc["networks"][0]["empty"] and doc["networks"][0]["self_loops_removed"] == 1
    assert "empty: no edges" in (tmp_path / "report.md").read_text()


def test_graph_exports_open_in_pandas_igraph_and_networkx(tmp_path, monkeypatch):
    import igraph as ig
    import pandas as pd

    from tiktok_network.export import graph_formats
    from tiktok_network.export.graph_formats import ExportTooLarge, export_graph_formats

    with emulator_process(tmp_path, "--graph", "synthetic:3000,seed=5") as emu:
        done = run_crawl(tmp_path, emu.url, "kikimoon0", "ariawave1", "--max-depth", "1")
    assert done.returncode == 0, done.stderr
    db = tmp_path / "crawl.db"
    edges = set(db_edges(db))
    out = tmp_path / "x"
    monkeypatch.setattr(graph_formats, "ROW_GROUP", 70)  # many row groups, a short last one
    export_graph_formats(db, out, ["parquet", "graphml", "gexf"])
    frame = pd.read_parquet(out / "edges.parquet")
    assert set(zip(frame["source"], frame["destination"], strict=True)) == edges
    # the Parquet holds what the CSVs hold, row for row (times as the same text)
    subprocess.run(
        [*CLI, "export", "--db", str(db), "--out", str(tmp_path / "csv"), "--format", "csv"],
        check=True,
        timeout=120,
    )
    as_text = pd.read_csv(tmp_path / "csv" / "edges.csv", dtype=str, keep_default_na=False)
    assert frame.fillna("").values.tolist() == as_text.values.tolist()
    assert len(frame) > 70 * 5
    nodes = pd.read_parquet(out / "nodes.parquet").set_index("username")
    nodes_text = pd.read_csv(tmp_path / "csv" / "nodes.csv", dtype=str, keep_default_na=False)
    assert len(nodes) == len(nodes_text) > 7 * 5
    for row in nodes_text.to_dict("records"):
        ours = nodes.loc[row["username"]]
        for column in ("display_name", "depth", "first_seen", "following_state", "last_seen"):
            value = "" if ours[column] is None else str(ours[column])
            if value[:1] in ("=", "+", "-", "@"):  # the CSV guards spreadsheets against formulas
                value = "'" + value
            assert value == row[column], (column, row)
    assert set(pd.read_parquet(out / "nodes.parquet").columns) >= {
        "username",
        "display_name",
        "depth",
        "status",
    }
    g = ig.Graph.Read_GraphML(str(out / "graph.graphml"))
    assert {(g.vs[e.source]["name"], g.vs[e.target]["name"]) for e in g.es} == edges
    h = nx.read_gexf(out / "graph.gexf")
    label = nx.get_node_attributes(h, "label")
    assert {(label[a], label[b]) for a, b in h.edges()} == edges
    assert all("depth" in data for _, data in h.nodes(data=True))
    monkeypatch.setattr(graph_formats, "GRAPH_EDGE_LIMIT", 10)
    with pytest.raises(ExportTooLarge, match="--force"):
        export_graph_formats(db, out, ["gexf"])
    export_graph_formats(db, out, ["gexf"], force=True)
    done = subprocess.run(
        [*CLI, "export", "--db", str(db), "--out", str(out), "--format", "pdf"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "unknown export format 'pdf'" in done.stderr


def test_the_fast_lerch_sum_equals_mpmaths_lerchphi():
    """The truncated power law's discrete normaliser, summed instead of asked of mpmath."""
    import mpmath

    from tiktok_network.analysis.fits import lerch_sum

    for lam in (1e-9, 1e-6, 1e-3, 0.05, 1.0, 5.0):
        for alpha in (0.3, 1.0001, 1.5, 2.7, 4.0):
            for a in (1, 7, 300):
                exact = float(mpmath.lerchphi(mpmath.exp(-lam), alpha, a))
                assert lerch_sum(lam, alpha, a) == pytest.approx(exact, rel=1e-7), (lam, alpha, a)


def test_distinctive_hashtags_by_weighted_log_odds_and_tfidf():
    """Monroe, Colaresi & Quinn (2008) eq. 22 and 24 worked by hand on a small corpus, and what
    the prior buys: a generic tag used at the same rate everywhere scores about 0, a niche's own
    tag leads although each other niche used it once (TF-IDF then gives it 0), and a
    tag seen once does not outrank the vocabulary."""
    import math
    from collections import Counter

    from tiktok_network.analysis.distinctive import distinctive, log_odds, tfidf

    small = {"A": Counter({"x": 3, "g": 2}), "B": Counter({"y": 1, "g": 2})}
    # corpus x 3, y 1, g 4 (8 in all); a0 = 8, so tag x has a = 3; A has 5 tags, B 3.
    delta = math.log(6 / 7) - math.log(3 / 8)
    got_delta, got_z = log_odds(small)["A"]["x"]
    assert got_delta == pytest.approx(delta, rel=1e-12)
    assert got_z == pytest.approx(delta / math.sqrt(1 / 6 + 1 / 3), rel=1e-12)
    assert tfidf(small)["A"]["x"] == pytest.approx(3 / 5 * math.log(2))
    assert tfidf(small)["A"]["g"] == 0.0

    niches = {
        "cooks": Counter({"fyp": 60, "viral": 30, "cooking": 40, "recipe": 25, "oddtag": 1}),
        "fans": Counter({"fyp": 60, "viral": 30, "football": 45, "goal": 20, "cooking": 1}),
        "readers": Counter({"fyp": 60, "viral": 30, "booktok": 35, "reading": 15, "cooking": 1}),
    }
    ranked = distinctive(niches, top=5)
    assert [r.tag for r in ranked["cooks"][:2]] == ["cooking", "recipe"]
    assert [r.tag for r in ranked["fans"][:2]] == ["football", "goal"]
    assert [r.tag for r in ranked["readers"][:2]] == ["booktok", "reading"]
    for niche in niches:
        z_generic = {t: z for t, (_, z) in log_odds(niches)[niche].items() if t in ("fyp", "viral")}
        assert all(abs(z) < 1.0 for z in z_generic.values()), z_generic
        assert not {"fyp", "viral"} & {r.tag for r in ranked[niche]}
    cooking = next(r for r in ranked["cooks"] if r.tag == "cooking")
    assert cooking.z > 4 and cooking.tfidf == 0.0  # TF-IDF loses it to two stray uses
    odd = log_odds(niches)["cooks"]["oddtag"][1]
    assert odd < cooking.z / 3  # seen once: shrunk towards the corpus rate


def test_backbones_worked_by_hand():
    """The disparity filter (Serrano et al. 2009, eq. 2) and the noise-corrected backbone
    (Coscia & Neffke 2017) on small networks whose answers are worked by hand."""
    import math

    from tiktok_network.analysis.backbones import disparity_alpha, noise_corrected, retention

    # A star: node 0 with edges of weight 8, 1, 1 (k = 3, s = 10); the leaves have degree 1.
    u, v, w = np.array([0, 0, 0]), np.array([1, 2, 3]), np.array([8.0, 1.0, 1.0])
    alpha = disparity_alpha(u, v, w, 4)
    assert alpha == pytest.approx([0.2**2, 0.9**2, 0.9**2])
    # Noise-corrected: a weight at its expectation scores 0. Symmetric matrix of a triangle
    # with weights 1, 1, 1 plus a pendant: N.. = 2 W; edge (0, 1) expected N0. N1. / N..
    u = np.array([0, 0, 1, 2])
    v = np.array([1, 2, 2, 3])
    w = np.array([3.0, 1.0, 1.0, 5.0])
    score, sdev = noise_corrected(u, v, w, 4)
    strength = np.array([4.0, 4.0, 7.0, 5.0])
    total = 20.0
    kappa = total / (strength[u] * strength[v])
    assert score == pytest.approx((kappa * w - 1) / (kappa * w + 1))
    assert all(math.isfinite(x) and x > 0 for x in sdev)
    # (0, 1): lift 3 * 20 / 16 > 1, kept; (0, 2): lift 20 / 28 < 1, negative score, cut
    assert score[0] > 0 > score[1]
    # worked by hand: (0, 1) kappa = 20 / 16, kappa w = 3.75: (3.75 - 1) / (3.75 + 1);
    # (0, 2) kappa w = 20 / 28: -1/6
    assert score[0] == pytest.approx(2.75 / 4.75) and score[1] == pytest.approx(-1 / 6)
    kept = {(r.method, r.threshold): r for r in retention(u, v, w, 4)}
    assert kept[("noise-corrected", 0.0)].edges == int((score > 0).sum())
    assert kept[("disparity", 0.001)].edges <= kept[("disparity", 0.2)].edges


@pytest.mark.parametrize("graph", [WIKI_VOTE, FACEBOOK], ids=["wiki-vote", "ego-facebook"])
def test_networkit_communities_match_igraph_leiden_and_repeat(graph):
    """The report's communities (NetworKit's ParallelLeiden, one thread) reach igraph's Leiden
    modularity on the bundled graphs within 0.01, and the same seed gives the same figures."""
    import random

    import igraph as ig

    from tiktok_network.analysis.arrays import undirected_pairs
    from tiktok_network.analysis.stats import community_stats

    el = read_edges(graph, undirected=graph == FACEBOOK)
    in_deg = np.bincount(el.dst, minlength=el.n_nodes)
    first = community_stats(el, in_deg, seed=3)
    assert community_stats(el, in_deg, seed=3) == first
    a, b = undirected_pairs(el.src, el.dst, el.n_nodes)
    u = ig.Graph(n=el.n_nodes, edges=np.column_stack([a, b]), directed=False)
    ig.set_random_number_generator(random.Random(3))
    try:
        reference = u.community_leiden(objective_function="modularity", n_iterations=-1)
    finally:
        ig.set_random_number_generator(random)
    assert abs(first["modularity"] - reference.modularity) < 0.01, (first, reference.modularity)
    assert sum(first["community_sizes"]) == el.n_nodes


def test_the_array_helpers_agree_with_numpy():
    """`unique_sorted` is `np.unique` without its hash table; `undirected_pairs` the simple
    undirected view."""
    from tiktok_network.analysis.arrays import undirected_pairs, unique_sorted

    rng = np.random.default_rng(5)
    for size in (0, 1, 7, 10_000):
        values = rng.integers(-50, 50, size=size)
        assert np.array_equal(unique_sorted(values), np.unique(values))
    src, dst = np.array([0, 1, 2, 1, 3]), np.array([1, 0, 1, 2, 3])
    a, b = undirected_pairs(src, dst, 6)
    assert list(zip(a.tolist(), b.tolist(), strict=True)) == [(0, 1), (1, 2), (3, 3)]


@pytest.mark.parametrize("graph", [WIKI_VOTE, FACEBOOK], ids=["wiki-vote", "ego-facebook"])
def test_the_figures_equal_igraphs_on_the_bundled_graphs(graph):
    """The report's figures (scipy, numpy, NetworKit) against igraph's, which computed them
    until issue 25: counts exactly, coefficients to 1e-12, PageRank to 1e-9 relative and in
    the same order, sampled distances from the same sources exactly."""
    import igraph as ig

    el = read_edges(graph, undirected=graph == FACEBOOK)
    ours = network_stats(el, communities=False, exact_limit=100)  # sampled BFS path too
    g = ig.Graph(n=el.n_nodes, edges=np.column_stack([el.src, el.dst]), directed=True)
    assert ours["edge_reciprocity"] == pytest.approx(g.reciprocity(ignore_loops=True), abs=1e-12)
    for mode, key in (("weak", "wcc"), ("strong", "scc")):
        parts = g.connected_components(mode=mode)
        giant = parts.giant()
        assert ours[f"{key}_count"] == len(parts)
        assert (ours[f"largest_{key}_nodes"], ours[f"largest_{key}_edges"]) == (
            giant.vcount(),
            giant.ecount(),
        )
    out_deg, in_deg = g.outdegree(), g.indegree()
    kinds = {"out": out_deg, "in": in_deg}
    for a in ("out", "in"):
        for b in ("in", "out"):
            expected = g.assortativity(types1=kinds[a], types2=kinds[b], directed=True)
            assert ours[f"assortativity_{a}_{b}"] == pytest.approx(expected, abs=1e-12)
    rank = np.array(g.pagerank(directed=True))
    order = np.argsort(-rank, kind="stable")[:10]
    assert [t["account"] for t in ours["top_pagerank"]] == [el.names[i] for i in order]
    for top, i in zip(ours["top_pagerank"], order, strict=True):
        assert top["value"] == pytest.approx(rank[i], rel=1e-9)
    u = g.as_undirected(mode="collapse")
    assert ours["undirected_edges"] == u.ecount()
    assert ours["assortativity_undirected"] == pytest.approx(
        u.assortativity_degree(directed=False), abs=1e-12
    )
    assert ours["global_transitivity"] == pytest.approx(u.transitivity_undirected(), abs=1e-12)
    assert ours["average_clustering"] == pytest.approx(
        u.transitivity_avglocal_undirected(mode="zero"), abs=1e-12
    )
    giant = u.connected_components().giant()
    sources = random.Random(0).sample(range(giant.vcount()), ours["distance_sources"])
    found = np.array(giant.distances(source=sources), dtype=np.float64)
    hist = np.bincount(found[np.isfinite(found)].astype(np.int64))
    assert ours["diameter"] == len(hist) - 1
    assert ours["mean_distance"] == pytest.approx(
        (np.arange(len(hist)) * hist).sum() / hist[1:].sum(), abs=1e-12
    )


def test_sampled_distances_state_their_error_and_hold_the_exact_figures(wiki_stats):
    """Beyond `exact_limit` nodes the distances come from sampled sources: the report says so
    and gives each figure's error, and on Wiki-Vote the all-pairs figures fall inside it."""
    from tiktok_network.analysis.report import _distance_line

    sampled = network_stats(
        read_edges(WIKI_VOTE), communities=False, exact_limit=100, bfs_sources=40
    )
    assert sampled["distances_exact"] is False and sampled["distance_sources"] == 40
    se = sampled["mean_distance_standard_error"]
    assert 0 < se < 0.1
    assert abs(sampled["mean_distance"] - wiki_stats["mean_distance"]) <= 1.96 * se
    low, high = sampled["effective_diameter_90_interval"]
    assert low <= wiki_stats["effective_diameter_90"] <= high and high - low < 1
    assert sampled["diameter"] <= wiki_stats["diameter"]  # a lower bound
    line = _distance_line(sampled)
    assert line.startswith(f"at least {sampled['diameter']}, ") and "40 sampled BFS" in line
    assert f"± {1.96 * se:.3f}" in line and "95% interval" in line
    assert "exact" in _distance_line(wiki_stats) and "±" not in _distance_line(wiki_stats)
