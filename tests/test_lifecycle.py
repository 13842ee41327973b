"""Refresh, purge, snapshots, diffs and pseudonymised exports against an evolving emulator.

The emulator's graph changes on its clock (``--evolve-*``): a test crawls it, advances the
emulated clock past the refresh window (``POST /_emulator/advance``), refreshes, and compares
what the crawl holds with what the emulator serves and with its own change log.
"""

from __future__ import annotations

import csv
import json
import random
import re
import signal
import subprocess
import urllib.request
import zlib
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

import tiktok_network as tn
from tests.crawl_helpers import (
    CLI,
    RequestCounter,
    _query,
    crawl_env,
    emulator_process,
    run_crawl,
)
from tiktok_network.emulator.graph import parse_graph_spec

GRAPH = "synthetic:300,seed=1"
EVOLVE = (
    "--evolve-follow", "0.03", "--evolve-unfollow", "0.03",
    "--evolve-delete", "0.01", "--evolve-private", "0.01",
    "--day-seconds", "1000000000", "--seed", "3",
)  # fmt: skip
TOMBSTONE = "tombstone-"


def emulator_json(url: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url + path, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read())


def served(url: str) -> tuple[set[tuple[str, str]], set[str]]:
    """The emulator's follows today, and every account that left (deleted or private)."""
    graph = emulator_json(url, "/_emulator/graph")
    return {tuple(e) for e in graph["edges"]}, set(graph["deleted"]) | set(graph["private"])


def moment(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def refresh_command(tmp_path: Path, db_args: tuple[str, ...], *args: str) -> list[str]:
    return [
        *CLI, "refresh", "--db", str(tmp_path / "crawl.db"), *db_args,
        "--log-every", "1", "--retry-base-delay", "0.01",
        "--log-file", str(tmp_path / "crawl.log"), *args,
    ]  # fmt: skip


def run_refresh(tmp_path: Path, url: str, db_args: tuple[str, ...], *args: str):
    return subprocess.run(
        refresh_command(tmp_path, db_args, *args),
        capture_output=True,
        text=True,
        timeout=300,
        env=crawl_env(url, XDG_STATE_HOME=str(tmp_path / "state")),
        cwd=tmp_path,
    )


def crawl_everyone(tmp_path: Path, url: str, db_args: tuple[str, ...], *extra: str):
    """Every account of the graph as a seed, its following list and user info."""
    names = parse_graph_spec(GRAPH).usernames
    seeds = tmp_path / "seeds.csv"
    seeds.write_text("username\n" + "\n".join(names) + "\n")
    done = run_crawl(
        tmp_path, url, "--seeds", str(seeds), "--max-depth", "0", "--info",
        "--log-file", str(tmp_path / "crawl.log"), *db_args, *extra,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def named_edges(rows: list[tuple[str, str]]) -> tuple[set[tuple[str, str]], int]:
    """Edges between accounts still named, and how many touch a tombstone."""
    kept = {(s, d) for s, d in rows if not s.startswith(TOMBSTONE) and not d.startswith(TOMBSTONE)}
    return kept, len(rows) - len(kept)


def without(edges: set[tuple[str, str]], left: set[str]) -> tuple[set[tuple[str, str]], int]:
    kept = {(s, d) for s, d in edges if s not in left and d not in left}
    return kept, len(edges) - len(kept)


def net_changes(log: list[dict], since_day: int, until_day: int) -> tuple[set, set]:
    """Follows gained and lost, net, over the emulator's log between two days."""
    gained: set[tuple[str, str]] = set()
    lost: set[tuple[str, str]] = set()
    for change in log:
        if not since_day < change["day"] <= until_day or change["change"] not in ("gained", "lost"):
            continue
        pair = (change["source"], change["destination"])
        mine, other = (gained, lost) if change["change"] == "gained" else (lost, gained)
        if pair in other:
            other.discard(pair)
        else:
            mine.add(pair)
    return gained, lost


def traces(name: str, tmp_path: Path, db: Path | None) -> list[str]:
    """Where ``name`` still appears: the database file and its journal, every raw response,
    every output and log file of the test's folder."""
    pattern = re.compile(rb"(?<![A-Za-z0-9._])" + re.escape(name.encode()) + rb"(?![A-Za-z0-9._])")
    found = []
    for path in sorted(tmp_path.rglob("*")):
        own = path.is_file() and path.suffix != ".jsonl" and path.name != "seeds.csv"
        if own and pattern.search(path.read_bytes()):
            found.append(str(path.relative_to(tmp_path)))
    if db is not None:
        for (blob,) in _query(db, "SELECT response FROM pages"):
            if pattern.search(zlib.decompress(blob)):
                found.append("a raw response")
                break
    return found


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_refresh_follows_the_evolving_graph_diffs_and_purges(tmp_path, request, backend):
    url_db = (
        request.getfixturevalue("pg_cluster").new_database() if backend == "postgresql" else None
    )
    db_args = ("--db", url_db) if url_db else ()
    target = url_db or tmp_path / "crawl.db"
    with emulator_process(tmp_path, "--graph", GRAPH, *EVOLVE) as emu:
        day0, _ = served(emu.url)
        crawl_everyone(tmp_path, emu.url, db_args)
        t0 = datetime.now(UTC).timestamp()
        crawl = tn.open(target)
        assert {(r.source, r.destination) for r in crawl.edges().itertuples()} == day0

        moments, snapshots, days = [t0], [day0], [0]
        for step in (16, 16):
            days.append(emulator_json(emu.url, "/_emulator/advance", {"days": step})["day"])
            edges, _ = served(emu.url)
            snapshots.append(edges)
            done = run_refresh(tmp_path, emu.url, db_args, "--lists", "--older-than", "0s")
            assert done.returncode == 0, done.stderr[-3000:]
            assert "refresh complete" in done.stderr
            moments.append(datetime.now(UTC).timestamp())
        _, left = served(emu.url)
        log = emulator_json(emu.url, "/_emulator/changes")["changes"]
    assert left, "the emulator's graph should have lost accounts"

    # Now: the crawl holds exactly what the emulator serves (every list was refreshed).
    current = [(r.source, r.destination) for r in tn.open(target).edges().itertuples()]
    assert set(current) == snapshots[-1] and len(current) == len(set(current))

    # The graph at three moments, as export --as-of writes it.
    for i, (at, truth) in enumerate(zip(moments, snapshots, strict=True)):
        out = tmp_path / f"as-of-{i}"
        done = subprocess.run(
            [*CLI, "export", "--db", str(target), "--out", str(out), "--as-of", moment(at)],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        with open(out / "network.csv", newline="") as f:
            rows = [(r["source"], r["destination"]) for r in csv.DictReader(f)]
        named, tombstoned = named_edges(rows)
        expected, touching_left = without(truth, left)
        assert named == expected, f"as of moment {i}"
        assert tombstoned == touching_left, f"as of moment {i}"

    # diff between the first and last moments equals the emulator's own log, net.
    diff_csv = tmp_path / "diff.csv"
    done = subprocess.run(
        [*CLI, "diff", moment(moments[0]), moment(moments[-1]), "--db", str(target), "--out", str(diff_csv)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with open(diff_csv, newline="") as f:
        changes = list(csv.DictReader(f))
    assert changes and set(changes[0]) == {"source", "destination", "change", "time"}
    gained, lost = net_changes(log, days[0], days[-1])
    assert gained and lost
    for kind, truth in (("gained", gained), ("lost", lost)):
        rows = [(c["source"], c["destination"]) for c in changes if c["change"] == kind]
        named, tombstoned = named_edges(rows)
        expected, touching_left = without(truth, left)
        assert named == expected, kind
        assert tombstoned == touching_left, kind
    python_diff = tn.open(target).diff(moments[0], moments[-1])
    assert len(python_diff) == len(changes)

    # Every account that left was purged: one audit entry each, its name nowhere.
    audit = tn.open(target).audit()
    assert len(audit) == len(left)
    assert {a.reason for a in audit} <= {"not found", "refused (private or restricted)"}
    assert all(a.tombstone.startswith(TOMBSTONE) for a in audit)
    # What went, counted (every account had its profile and its following list's pages).
    assert all(a.removed["profile"] == 1 and a.removed["raw_pages_deleted"] >= 1 for a in audit)
    assert sum(a.removed["raw_pages_rewritten"] for a in audit) > 0
    if backend == "sqlite":
        for name in sorted(left):
            assert traces(name, tmp_path, target) == [], name
        # The crawl's outputs (written at its end, recorded) were rewritten after the purge.
        assert any(tmp_path.joinpath("out").iterdir())


def test_refresh_killed_at_random_points_loses_no_purge(tmp_path):
    rng = random.Random(15)
    with emulator_process(tmp_path, "--graph", GRAPH, *EVOLVE) as emu:
        crawl_everyone(tmp_path, emu.url, ())
        emulator_json(emu.url, "/_emulator/advance", {"days": 20})
        truth, left = served(emu.url)
        counter = RequestCounter(emu.log)
        base = counter.count()
        # The refresh needs one info and one following request per account (>= 300): kills
        # land within the first 250 of them.
        kills = sorted(rng.sample(range(20, 250), 4))
        for target in kills:
            proc = subprocess.Popen(
                refresh_command(tmp_path, (), "--lists", "--older-than", "0s", "--no-export"),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                env=crawl_env(emu.url, XDG_STATE_HOME=str(tmp_path / "state")), cwd=tmp_path,
            )  # fmt: skip
            counter.wait_for(base + target, proc)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            proc.stdout.close()
            proc.stderr.close()
        done = run_refresh(tmp_path, emu.url, (), "--lists", "--older-than", "0s")
        assert done.returncode == 0, done.stderr[-3000:]
        assert "refresh round continued" in done.stderr
    db = tmp_path / "crawl.db"
    assert {(r.source, r.destination) for r in tn.open(db).edges().itertuples()} == truth
    audit = tn.open(db).audit()
    assert len(audit) == len(left)  # one purge each: none lost, none twice
    for name in sorted(left):
        assert traces(name, tmp_path, db) == [], name
    assert _query(db, "SELECT count(*) FROM users WHERE refresh_due IS NOT NULL") == [(0,)]


def test_refresh_within_the_window_fetches_nothing_and_info_only_keeps_the_lists(tmp_path):
    with emulator_process(
        tmp_path, "--graph", "synthetic:60", "--day-seconds", "1000000000"
    ) as emu:
        names = parse_graph_spec("synthetic:60").usernames[:10]
        done = run_crawl(tmp_path, emu.url, *names, "--max-depth", "0", "--info")
        assert done.returncode == 0, done.stderr
        before = RequestCounter(emu.log).count()
        done = run_refresh(tmp_path, emu.url, ())  # default window: 15 days
        assert done.returncode == 0, done.stderr
        assert "0 users and 0 lists due" in done.stderr
        assert RequestCounter(emu.log).count() == before
        pages = _query(tmp_path / "crawl.db", "SELECT count(*) FROM pages")
        done = run_refresh(tmp_path, emu.url, (), "--older-than", "0s")
        assert done.returncode == 0, done.stderr
        requests = [r for r in emu.requests()[before:] if r["endpoint"] != "token"]
        assert {r["endpoint"] for r in requests} == {"info"}  # no --lists: user info only
        assert len(requests) == 10
    db = tmp_path / "crawl.db"
    assert _query(db, "SELECT count(*) FROM pages") == pages
    assert _query(db, "SELECT count(*) FROM users WHERE status = 1 AND state = 2") == [(10,)]
    status = subprocess.run(
        [*CLI, "status", "--db", str(db), "--older-than", "0s"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert status.returncode == 0, status.stderr
    assert "refresh window 0s" in status.stdout


def test_pseudonymised_exports_hide_identities_and_are_stable_per_key(tmp_path):
    graph = parse_graph_spec("synthetic:120")
    with emulator_process(tmp_path, "--graph", "synthetic:120") as emu:
        done = run_crawl(tmp_path, emu.url, *graph.usernames[:15], "--max-depth", "0", "--info")
        assert done.returncode == 0, done.stderr
    db = tmp_path / "crawl.db"
    keys = {}
    for name, text in (("a", "k" * 40), ("b", "another-secret-key-of-the-lab")):
        keys[name] = tmp_path / f"{name}.key"
        keys[name].write_text(text + "\n")

    def export(out: str, key: str) -> Path:
        done = subprocess.run(
            [*CLI, "export", "--db", str(db), "--out", str(tmp_path / out), "--pseudonymize",
             "--key-file", str(keys[key]), "--format", "csv,parquet,graphml,gexf"],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return tmp_path / out

    first, again, other = export("p1", "a"), export("p2", "a"), export("p3", "b")
    identities = set(graph.usernames)
    for (info,) in _query(db, "SELECT info FROM users WHERE info IS NOT NULL"):
        profile = json.loads(info)
        identities |= {profile["display_name"], profile["bio_description"].split("\n")[0]}
    for (display,) in _query(db, "SELECT display_name FROM users WHERE display_name IS NOT NULL"):
        identities.add(display)
    for folder in (first, again, other):
        blob = b"".join(p.read_bytes() for p in folder.iterdir() if p.is_file())
        for identity in identities:
            assert identity.encode() not in blob, identity
        assert (keys["a"].read_text().strip()).encode() not in blob
    ids = {
        out: [r["username"] for r in csv.DictReader((out / "nodes.csv").read_text().splitlines())]
        for out in (first, again, other)
    }
    assert ids[first] == ids[again]
    assert not set(ids[first]) & set(ids[other])
    with open(first / "nodes.csv", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["follower_count"])
    assert row["following_state"] and row["first_seen"]  # counts, completeness, times kept
    assert row["display_name"] == "" and row["bio_description"] == ""
    done = subprocess.run(
        [*CLI, "export", "--db", str(db), "--out", str(tmp_path / "p4"), "--pseudonymize"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode != 0 and "--key-file" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_moments_durations_and_keys_are_one_line_errors(tmp_path):
    from tiktok_network.moments import parse_duration, parse_moment

    assert parse_duration("15d") == 15 * 86400 and parse_duration("36h") == 36 * 3600
    assert parse_duration("0s") == 0 and parse_duration("90m") == 5400
    assert parse_moment("2026-11-30T00:00:00Z") == parse_moment("2026-11-30T00:00:00")
    assert parse_moment("2026-11-30") == pytest.approx(
        parse_moment("2026-12-01T00:00:00Z"), abs=1e-3
    )
    short = tmp_path / "short.key"
    short.write_text("tiny")
    for args in (
        ["diff", "last tuesday", "2026-11-30", "--db", str(tmp_path / "x.db")],
        ["export", "--db", str(tmp_path / "x.db"), "--as-of", "2026-13-45"],
        ["refresh", "--db", str(tmp_path / "x.db"), "--older-than", "15 fortnights"],
        ["export", "--db", str(tmp_path / "x.db"), "--pseudonymize", "--key-file", str(short)],
        ["status", "--db", str(tmp_path / "x.db"), "--older-than", "-3d"],
    ):
        done = subprocess.run(
            [*CLI, *args], capture_output=True, text=True, timeout=60, cwd=tmp_path,
            env=crawl_env("http://127.0.0.1:9"),
        )  # fmt: skip
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert done.returncode != 0 and len(lines) == 1 and "Traceback" not in done.stderr, (
            args,
            done.stderr,
        )


def test_three_workers_refresh_one_postgresql_crawl_exactly(tmp_path, pg_url):
    with emulator_process(tmp_path, "--graph", GRAPH, *EVOLVE, "--latency-ms", "5") as emu:
        crawl_everyone(tmp_path, emu.url, ("--db", pg_url))
        emulator_json(emu.url, "/_emulator/advance", {"days": 16})
        truth, left = served(emu.url)
        before = len(emu.requests())
        workers = [
            subprocess.Popen(
                refresh_command(
                    tmp_path,
                    ("--db", pg_url),
                    "--lists",
                    "--older-than",
                    "0s",
                    "--no-export",
                    "--concurrency",
                    "4",
                ),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=crawl_env(emu.url, XDG_STATE_HOME=str(tmp_path / "state")),
                cwd=tmp_path,
            )  # fmt: skip
            for _ in range(3)
        ]
        errors = [w.communicate(timeout=300)[1] for w in workers]
        assert [w.returncode for w in workers] == [0, 0, 0], errors
        assert sum("refresh round started" in e for e in errors) == 1  # one marked it
        requests = [r for r in emu.requests()[before:] if r["endpoint"] in ("following", "info")]
    assert {(r.source, r.destination) for r in tn.open(pg_url).edges().itertuples()} == truth
    assert len(tn.open(pg_url).audit()) == len(left)
    # No worker asked what another had asked: each info and each page once.
    asked = Counter((r["endpoint"], r["username"], r["cursor"]) for r in requests)
    assert max(asked.values()) == 1
    assert sum(1 for endpoint, _, _ in asked if endpoint == "info") == 300
