"""datapackage.json beside every export: it validates (frictionless), its schemas describe
every column the files hold, its provenance and counts are the crawl's, it holds no secret and
no account name, and a purge rewrites it with the files."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys

import pytest

from tests.crawl_helpers import emulator_process, run_crawl
from tiktok_network.emulator.graph import parse_graph_spec
from tiktok_network.export.codebook import TABLES

CLI = [sys.executable, "-m", "tiktok_network.cli"]
GRAPH = "synthetic:400,seed=3"


def rows_of(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def export(db_args: tuple[str, ...], out, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "export", *db_args, "--out", str(out), *extra],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.usefixtures("pg_cluster")
def test_every_export_carries_a_valid_package_with_the_crawls_provenance(tmp_path, crawl_db):
    import frictionless

    names = parse_graph_spec(GRAPH).usernames
    seeds = names[:3]
    with emulator_process(
        tmp_path, "--graph", GRAPH, "--private-fraction", "0.1", "--hidden-following", "0.2"
    ) as emu:
        done = run_crawl(
            tmp_path, emu.url, *seeds, "--max-depth", "1", "--info", "--direction", "both",
            *crawl_db.args,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    db_args = crawl_db.args or ("--db", str(tmp_path / "crawl.db"))
    out = tmp_path / "shared"
    exported = export(db_args, out, "--format", "csv,parquet,graphml,gexf")
    assert exported.returncode == 0, exported.stderr
    package_path = out / "datapackage.json"
    report = frictionless.validate(str(package_path))
    assert report.valid, report.flatten(["resource", "type", "note"])[:10]
    package = json.loads(package_path.read_text())
    files = {p.name for p in out.iterdir()} - {"datapackage.json", ".tiktok-network.json"}
    assert {r["path"] for r in package["resources"]} == files
    for entry in package["resources"]:
        path = out / entry["path"]
        digest = entry.get("hash") or entry["tiktok_network_sha256"]
        assert digest == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
        if entry["path"].endswith(".csv"):  # every column described, in order
            with open(path, newline="", encoding="utf-8") as f:
                header = next(csv.reader(f))
            assert header == [field["name"] for field in entry["schema"]["fields"]]
            assert all(field["description"] for field in entry["schema"]["fields"])
        if entry["path"].endswith(".parquet"):
            import pyarrow.parquet as pq

            assert pq.read_schema(path).names == [f.name for f in TABLES[entry["path"]]]
    assert package["licenses"][0]["name"] == "other-closed"
    origin = package["tiktok_network"]
    assert origin["api_kind"] == "emulator" and "not TikTok's" in package["sources"][0]["title"]
    crawl_runs = [r for r in origin["runs"] if r["command"] == "crawl"]
    assert len(crawl_runs) == 1 and crawl_runs[0]["exit_status"] == 0
    canonical = "\n".join(sorted(seeds)).encode()
    assert origin["seeds"] == {"count": 3, "sha256": hashlib.sha256(canonical).hexdigest()}
    pages = rows_of(out / "saved_jsons.csv")
    assert sum(origin["requests"]["pages_by_list"].values()) == len(pages)
    nodes = rows_of(out / "nodes.csv")
    assert origin["requests"]["profiles_fetched"] == sum(1 for n in nodes if n["info_fetched_at"])
    states = origin["withheld"]["lists_by_state"]
    for direction in ("following", "followers"):
        for state, count in states[direction].items():
            if state != "pending":
                assert count == sum(1 for n in nodes if n[f"{direction}_state"] == state)
    assert (
        origin["withheld"]["hidden_following_lists"]["count"] == states["following"]["hidden"] > 0
    )
    assert origin["withheld"]["private_accounts"]["count"] > 0
    edges = rows_of(out / "edges.csv")
    assert origin["data_window"]["first_follow_seen"] == min(e["first_seen"] for e in edges)
    assert origin["export"]["formats"] == ["csv", "parquet", "graphml", "gexf"]
    text = package_path.read_text()
    for name in names:  # no account is named, no secret given
        assert f'"{name}"' not in text
    assert "secret" not in text.lower() and "client_key" not in text

    # analyze writes the methods paragraph from the same provenance, and explains its tags
    report = tmp_path / "report"
    ran = subprocess.run(
        [*CLI, "analyze", *db_args, "--out", str(report)], capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-2000:]
    doc = json.loads((report / "stats.json").read_text())
    methods = doc["methods"]
    assert "not TikTok's service" in methods and "from 3 seed accounts" in methods
    assert f"fetching {len(pages):,} pages of follow lists" in methods
    following = states["following"]
    attempted = sum(v for k, v in following.items() if k != "pending")
    assert (
        f"Of the {attempted:,} following lists attempted, {following['complete']:,} were complete"
        in methods
    )
    assert f"{following['hidden']:,} hidden by their owners" in methods
    markdown = (report / "report.md").read_text()
    assert "## Methods (generated from the crawl's provenance)" in markdown and methods in markdown
    assert "- **M**: recalled from the paper, not checked" in markdown
    assert "22.1 % is pair reciprocity" in markdown and "76,937,805" in markdown
    assert "on the large weakly connected component" in markdown


def test_a_purge_rewrites_the_package_with_the_files(tmp_path):
    """Accounts gone from the API are purged by `refresh`; the recorded export folder is
    written again, and its package's hashes and purge counts follow the new files."""
    from tests.test_lifecycle import EVOLVE, emulator_json, run_refresh, served

    names = parse_graph_spec(GRAPH).usernames
    db_args = ("--db", str(tmp_path / "crawl.db"))
    with emulator_process(tmp_path, "--graph", GRAPH, *EVOLVE) as emu:
        done = run_crawl(tmp_path, emu.url, *names[:5], "--max-depth", "1", "--info")
        assert done.returncode == 0, done.stderr[-2000:]
        out = tmp_path / "out"
        assert export(db_args, out).returncode == 0
        before = json.loads((out / "datapackage.json").read_text())
        emulator_json(emu.url, "/_emulator/advance", {"days": 16})
        _, left = served(emu.url)
        refreshed = run_refresh(tmp_path, emu.url, (), "--lists", "--older-than", "0s")
    assert refreshed.returncode == 0, refreshed.stderr[-2000:]
    after = json.loads((out / "datapackage.json").read_text())
    purged = after["tiktok_network"]["history"]["purged_by_reason"]
    assert sum(purged.values()) > 0 and not before["tiktok_network"]["history"]["purged_by_reason"]
    hashes = {r["path"]: r["hash"] for r in after["resources"]}
    for name in ("nodes.csv", "edges.csv", "network.csv"):
        assert hashes[name] == "sha256:" + hashlib.sha256((out / name).read_bytes()).hexdigest()
    assert after["tiktok_network"]["history"]["refreshes"] == 1
    text = (out / "datapackage.json").read_text()
    assert not [name for name in left if f'"{name}"' in text]


@pytest.mark.usefixtures("pg_cluster")
def test_share_ids_holds_ids_and_aggregates_only_and_rehydrates(tmp_path, crawl_db):
    """`export --share ids`: accounts and follows as ids, aggregates, a rehydration script and
    the package; no display name, bio or raw response; the pseudonymised share names no
    account; a share folder and a full export never mix; `rehydrate.py` re-collects the
    accounts from the API with the reader's own credentials."""
    import frictionless

    from tests.crawl_helpers import crawl_env
    from tiktok_network.analysis.edgelist import read_crawl
    from tiktok_network.analysis.stats import network_stats

    names = parse_graph_spec(GRAPH).usernames
    key = tmp_path / "lab.key"
    key.write_bytes(b"k" * 32)
    key.chmod(0o600)
    with emulator_process(tmp_path, "--graph", GRAPH) as emu:
        done = run_crawl(
            tmp_path, emu.url, *names[:3], "--max-depth", "1", "--info", *crawl_db.args
        )
        assert done.returncode == 0, done.stderr[-2000:]
        db_args = crawl_db.args or ("--db", str(tmp_path / "crawl.db"))
        full, plain, keyed = tmp_path / "full", tmp_path / "plain", tmp_path / "keyed"
        assert export(db_args, full, "--format", "csv").returncode == 0
        shared = export(db_args, plain, "--share", "ids")
        assert shared.returncode == 0, shared.stderr
        shared = export(db_args, keyed, "--share", "ids", "--pseudonymize", "--key-file", str(key))
        assert shared.returncode == 0, shared.stderr
        files = {"accounts.csv", "follows.csv", "aggregates.json", "rehydrate.py", "README.md",
                 "datapackage.json", ".tiktok-network.json"}  # fmt: skip
        assert {p.name for p in plain.iterdir()} == files == {p.name for p in keyed.iterdir()}
        for folder in (plain, keyed):
            report = frictionless.validate(str(folder / "datapackage.json"))
            assert report.valid, report.flatten(["resource", "type", "note"])[:10]
        nodes = rows_of(full / "nodes.csv")
        private = [n["display_name"] for n in nodes if n["display_name"]]
        private += [n["bio_description"] for n in nodes if n["bio_description"]]
        # the emulator's display names are often part of the username: those cannot be told
        usernames = "\n".join(names)
        private = [p for p in private if p not in usernames]
        assert len(private) > 10
        for folder in (plain, keyed):
            for path in folder.iterdir():
                data = path.read_text(encoding="utf-8")
                assert not [p for p in private if p in data], path
                assert "has_more" not in data and "follower_count" not in data, path
        follows = {(r["source"], r["destination"]) for r in rows_of(plain / "follows.csv")}
        assert follows == {(r["source"], r["destination"]) for r in rows_of(full / "network.csv")}
        for path in keyed.iterdir():
            data = path.read_text(encoding="utf-8")
            assert not [n for n in names if f"{n}," in data or f",{n}\n" in data], path
        assert len(rows_of(keyed / "follows.csv")) == len(follows)
        figures = json.loads((plain / "aggregates.json").read_text())["network"]
        reference = network_stats(read_crawl(crawl_db.target))
        for key_name in ("nodes", "edges", "edge_reciprocity", "average_clustering", "modularity"):
            assert figures[key_name] == pytest.approx(reference[key_name], abs=1e-12), key_name
        assert "top_pagerank" not in figures and "largest_communities" not in figures
        # a share folder and a full export never mix
        mixed = export(db_args, plain, "--format", "csv")
        assert mixed.returncode == 1 and "share folder" in mixed.stderr
        mixed = export(db_args, full, "--share", "ids")
        assert mixed.returncode == 1 and "needs a folder of its own" in mixed.stderr
        both = export(db_args, tmp_path / "x", "--share", "ids", "--format", "parquet")
        assert both.returncode == 1 and "leave out --format" in both.stderr
        # the pseudonyms cannot be re-collected; the usernames can, from the API itself
        refused = subprocess.run(
            [sys.executable, str(keyed / "rehydrate.py")], capture_output=True, text=True,
            env=crawl_env(emu.url), timeout=120,
        )  # fmt: skip
        assert refused.returncode == 1 and "pseudonyms" in refused.stderr
        again = subprocess.run(
            [sys.executable, str(plain / "rehydrate.py"), "--quiet"], capture_output=True,
            text=True, env=crawl_env(emu.url, XDG_STATE_HOME=str(tmp_path / "state")),
            timeout=300,
        )  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]
    rehydrated = rows_of(plain / "rehydrated" / "nodes.csv")
    accounts = {r["account"] for r in rows_of(plain / "accounts.csv")}
    assert accounts <= {r["username"] for r in rehydrated}
    assert all(r["following_state"] != "pending" for r in rehydrated if r["username"] in accounts)
