"""Graph sources of the emulator, and the `emulator` command as a user runs it."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

from tests.conftest import WIKI_VOTE
from tiktok_network.emulator.graph import GraphLoadError, load_edge_list, parse_graph_spec
from tiktok_network.usernames import is_valid_username

CLI = [sys.executable, "-m", "tiktok_network.cli"]


def test_snap_file_with_crlf_loads_every_edge(wiki_vote):
    assert wiki_vote.n_users == 7115
    assert wiki_vote.n_edges == 103689
    assert b"\r\n" in gzip.decompress(WIKI_VOTE.read_bytes())[:400]


def test_konect_file_with_percent_comments_and_trailing_spaces(tmp_path):
    path = tmp_path / "out.konect"
    path.write_text("% asym unweighted\n% 4 3 3\n1 2  \n2 3 \n3 1\n1 2\n2 2\n")
    graph = load_edge_list(path)
    assert sorted(graph.edges()) == [
        ("1", "2"),
        ("2", "3"),
        ("3", "1"),
    ]  # duplicate and self-loop dropped


def test_bad_graph_files_name_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("# header\n1\t2\n3\n")
    with pytest.raises(GraphLoadError, match=r"bad\.txt:3: expected two node labels"):
        load_edge_list(bad)
    with pytest.raises(GraphLoadError, match="no such file"):
        load_edge_list(tmp_path / "absent.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    with pytest.raises(GraphLoadError, match="no edges"):
        load_edge_list(empty)
    with pytest.raises(GraphLoadError, match="bad graph spec"):
        parse_graph_spec("synthetic:lots")


def _reciprocity(graph) -> float:
    n = graph.n_users
    src, dst = graph.edge_arrays()
    keys = np.sort(src * n + dst)
    reverse = dst * n + src
    pos = np.clip(np.searchsorted(keys, reverse), 0, len(keys) - 1)
    return float((keys[pos] == reverse).mean())


def test_synthetic_graph_is_deterministic_social_and_tiktok_like():
    import networkx as nx

    a = parse_graph_spec("synthetic:20000,seed=3")
    b = parse_graph_spec("synthetic:20000,seed=3")
    assert a.usernames == b.usernames
    assert np.array_equal(a.following.targets, b.following.targets)
    assert np.array_equal(a.following.ages, b.following.ages)
    assert all(is_valid_username(u) for u in a.usernames)
    assert len(set(a.usernames)) == a.n_users
    assert 0.3 <= _reciprocity(a) <= 0.5
    in_deg = np.diff(a.followers.offsets)
    assert in_deg.max() > 20 * in_deg.mean()  # hubs
    undirected = nx.Graph(list(a.edges()))
    density = undirected.number_of_edges() / (a.n_users * (a.n_users - 1) / 2)
    assert nx.transitivity(undirected) > 20 * density  # far above a random graph's
    names = {a.item_json(i).decode() for i in range(200)}
    joined = "".join(names)
    for tricky in (",", '\\"', "\\n", "=", "+", "-", "@"):
        assert tricky in joined, tricky


def _start_cli(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [*CLI, "emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline()


def test_emulator_command_prints_its_url_and_stops_on_sigterm():
    proc, first = _start_cli("--graph", str(WIKI_VOTE))
    try:
        assert first.startswith("listening on http://127.0.0.1:")
        url = first.strip().removeprefix("listening on ")
        with urllib.request.urlopen(f"{url}/_emulator/stats", timeout=5) as resp:
            assert b'"users":7115' in resp.read()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--graph", "/nonexistent/graph.txt"], "/nonexistent/graph.txt"),
        (["--faults", "500=2"], "bad fault probability"),
        (["--faults", "boom=0.1"], "bad fault"),
        (["--latency-ms", "abc"], "bad latency"),
        (["--client", "nosecret"], "expected KEY:SECRET"),
        (["--refused-response", "x:y"], "bad response triple"),
    ],
)
def test_emulator_command_bad_input_gets_one_line(args, needle):
    proc = subprocess.run(
        [*CLI, "emulator", "--port", "0", *args], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in proc.stderr


def test_emulator_command_bad_graph_line(tmp_path):
    bad = tmp_path / "g.txt"
    bad.write_text("1 2\nlonely\n")
    proc = subprocess.run(
        [*CLI, "emulator", "--port", "0", "--graph", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (
        proc.returncode != 0
        and proc.stderr.strip() == f"error: {bad}:2: expected two node labels, got 'lonely'"
    )


def test_emulator_port_in_use_is_a_clear_error():
    proc, first = _start_cli("--graph", "synthetic:100")
    try:
        port = first.strip().rsplit(":", 1)[1]
        other = subprocess.run(
            [*CLI, "emulator", "--port", port, "--graph", "synthetic:100"],
            capture_output=True,
            text=True,
            timeout=30,
            env=os.environ,
        )
        assert (
            other.returncode != 0
            and "cannot listen" in other.stderr
            and "Traceback" not in other.stderr
        )
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    time.sleep(0)
