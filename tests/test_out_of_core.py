"""`analyze --out-of-core`: DuckDB's degree figures equal the in-memory report's, on edge
files and on crawls of both backends; what it cannot compute is said; bad input gets one line."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import FACEBOOK, WIKI_VOTE
from tests.crawl_helpers import emulator_process, run_crawl
from tiktok_network.analysis.edgelist import read_edges
from tiktok_network.analysis.out_of_core import IN_MEMORY_ONLY, summarise
from tiktok_network.analysis.stats import network_stats

CLI = [sys.executable, "-m", "tiktok_network.cli"]
LABELS = {"name", "input_checksum", "out_of_core", "not_computed", "top_in_degree", "figures"}


def same_figures(ours: dict, reference: dict) -> None:
    """Every figure both have: counts exactly, coefficients to 1e-12; the top accounts by
    in-degree as the same (value, account) pairs (ties may be listed in another order)."""
    shared = (set(ours) & set(reference)) - LABELS
    assert {"edges", "edge_reciprocity", "assortativity_undirected", "max_in_degree"} <= shared
    for key in shared:
        if isinstance(reference[key], float):
            assert ours[key] == pytest.approx(reference[key], abs=1e-12), key
        else:
            assert ours[key] == reference[key], key

    def ranked(top: list[dict]) -> list[tuple]:
        return sorted((-t["value"], t["account"]) for t in top)

    values = [t["value"] for t in reference["top_in_degree"]]
    assert [t["value"] for t in ours["top_in_degree"]] == values
    assert [v for v, _ in ranked(ours["top_in_degree"])] == [-v for v in values]


@pytest.mark.parametrize("graph", [WIKI_VOTE, FACEBOOK], ids=["wiki-vote", "ego-facebook"])
def test_out_of_core_figures_equal_the_in_memory_ones(tmp_path, graph):
    """The bundled graphs as Parquet and as CSV, with a repeated edge and a self-loop added:
    counts, reciprocities, assortativities, the top accounts and the degree distributions."""
    el = read_edges(graph, undirected=graph == FACEBOOK)
    names = np.array(el.names, dtype=object)
    src = np.concatenate([names[el.src], names[el.src[:3]], names[:2]])
    dst = np.concatenate([names[el.dst], names[el.dst[:3]], names[:2]])
    parquet, csv = tmp_path / "g.parquet", tmp_path / "g.csv"
    pq.write_table(pa.table({"follower": src, "followed": dst}), parquet)
    csv.write_text(
        "follower,followed\n" + "".join(f"{a},{b}\n" for a, b in zip(src, dst, strict=True))
    )
    in_memory = read_edges(parquet)
    reference = network_stats(in_memory, communities=False)
    assert reference["duplicate_edges_removed"] == 3 and reference["self_loops_removed"] == 2
    for path in (parquet, csv):
        summary = summarise(path)
        same_figures(summary.stats, reference)
        assert summary.stats["not_computed"] == list(IN_MEMORY_ONLY)
        for ours, theirs in (
            (summary.in_degrees, np.bincount(in_memory.dst, minlength=in_memory.n_nodes)),
            (summary.out_degrees, np.bincount(in_memory.src, minlength=in_memory.n_nodes)),
        ):
            assert np.array_equal(np.sort(ours), np.sort(theirs))


@pytest.mark.usefixtures("pg_cluster")
def test_a_crawl_analysed_out_of_core_gives_the_in_memory_figures(tmp_path, crawl_db):
    """`analyze --db --out-of-core` (the crawl streamed to Parquet, then DuckDB) against
    `analyze --db`: both networks' degree figures and fits, and the coverage section, equal;
    the report says which figures it left out and shows none of them."""
    with emulator_process(tmp_path, "--graph", "synthetic:3000,seed=5") as emu:
        done = run_crawl(
            tmp_path, emu.url, "kikimoon0", "ariawave1", "--max-depth", "1", "--info",
            "--direction", "both", *crawl_db.args,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    db = str(crawl_db.target)
    reports = {}
    for mode, extra in (("memory", ()), ("ooc", ("--out-of-core", "--memory-limit", "500MB"))):
        ran = subprocess.run(
            [*CLI, "analyze", "--db", db, "--out", str(tmp_path / mode), *extra],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr[-2000:]
        reports[mode] = json.loads((tmp_path / mode / "stats.json").read_text())
    memory, ooc = reports["memory"]["networks"], reports["ooc"]["networks"]
    assert [n["label"] for n in ooc] == [n["label"] for n in memory]
    for ours, reference in zip(ooc, memory, strict=True):
        assert ours["out_of_core"] is True and "average_clustering" not in ours
        same_figures(ours, reference)
        assert ours["degree_fits"] == reference["degree_fits"]
    assert ooc[0]["coverage"] == memory[0]["coverage"]
    assert memory[0]["edges"] < memory[1]["edges"]  # the core is a part of everything
    text = (tmp_path / "ooc" / "report.md").read_text()
    assert "not computed (out of core)" in text and "PageRank" in text
    assert "average local clustering (undirected)" not in text
    assert "top by PageRank" not in text


def test_out_of_core_bad_input_gets_one_line(tmp_path):
    """A format DuckDB is not given, a missing file, one column, no rows, a memory limit that
    is no size: one line each, exit 1 (2 for the usage error), and no report written."""
    one_column = tmp_path / "one.parquet"
    pq.write_table(pa.table({"a": ["x", "y"]}), one_column)
    empty = tmp_path / "empty.csv"
    empty.write_text("source,destination\n")
    cases = [
        (["--edges", str(WIKI_VOTE)], 1, "--out-of-core reads Parquet or CSV"),
        (["--edges", str(tmp_path / "none.parquet")], 1, "no such file"),
        (["--edges", str(one_column)], 1, "expected at least 2 columns, got 1"),
        (["--edges", str(empty)], 1, "no edges"),
        (["--edges", str(empty), "--memory-limit", "lots"], 2, "is not a size such as 4GB"),
    ]
    for args, code, needle in cases:
        out = tmp_path / "report"
        done = subprocess.run(
            [*CLI, "analyze", *args, "--out-of-core", "--out", str(out)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == code, (args, done.stderr)
        assert needle in done.stderr and "Traceback" not in done.stderr, done.stderr
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == (3 if code == 2 else 1), done.stderr  # click's usage lines
        assert not (out / "stats.json").exists()


def test_out_of_core_reads_a_text_reference_in_memory(tmp_path):
    """`--compare` with a SNAP text file beside `--out-of-core`: the reference (small) is read
    in memory with every figure, the main graph out of core; a text file as the main graph is
    still refused (it would be read in memory, against the user's choice)."""
    el = read_edges(WIKI_VOTE)
    names = np.array(el.names, dtype=object)
    main = tmp_path / "main.parquet"
    pq.write_table(pa.table({"s": names[el.src], "d": names[el.dst]}), main)
    done = subprocess.run(
        [*CLI, "analyze", "--edges", str(main), "--out-of-core", "--compare", str(WIKI_VOTE),
         "--out", str(tmp_path / "report")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    ours, reference = json.loads((tmp_path / "report" / "stats.json").read_text())["networks"]
    assert ours["out_of_core"] is True and "average_clustering" not in ours
    assert "out_of_core" not in reference and reference["triangles"] == 608389
    assert ours["edges"] == reference["edges"] == 103689
