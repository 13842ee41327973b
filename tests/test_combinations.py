"""Features in combination (issue 22): refresh stopped by the quota, purge and later pages,
plan and refresh beside a crawl's settings, outputs of two crawls, locks through symlinks.

Each test was written against the bug it names and failed before the fix.
"""

from __future__ import annotations

import json
import signal
import subprocess
import zlib

from tests.conftest import SYNTH
from tests.crawl_helpers import (
    CLI,
    RequestCounter,
    _query,
    crawl_command,
    crawl_env,
    db_edges,
    emulator_process,
    repeated_requests,
    run_crawl,
    start_crawl,
    typical_seeds,
)
from tests.test_lifecycle import GRAPH, crawl_everyone, run_refresh, traces
from tiktok_network.emulator.graph import parse_graph_spec


def list_records(db) -> dict[tuple[str, str], tuple]:
    rows = _query(
        db,
        "SELECT u.username, l.direction, l.state, l.items, l.note FROM lists l"
        " JOIN users u ON u.id = l.user_id",
    )
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def test_an_info_refresh_stopped_by_the_quota_keeps_every_completeness_record(tmp_path, crawl_db):
    """Issue 22.1 and 22.3: profiles refreshed before the info bucket ran out re-judged the
    lists as if nothing had been received (hidden, capped); on PostgreSQL the refresh crashed."""
    with emulator_process(tmp_path, "--graph", GRAPH) as emu:
        crawl_everyone(tmp_path, emu.url, crawl_db.args, "--direction", "both")
        before = list_records(crawl_db.target)
        assert len(before) == 600 and len({r[0] for r in before.values()}) == 1
        done = run_refresh(
            tmp_path, emu.url, crawl_db.args,
            "--older-than", "0s", "--info-quota", "400", "--on-quota", "exit",
        )  # fmt: skip
        assert done.returncode == 75, done.stderr[-3000:]
        assert "Traceback" not in done.stderr
    refreshed = _query(
        crawl_db.target,
        "SELECT count(*) FROM users WHERE info_at > (SELECT min(started_at)"
        " FROM runs WHERE id = (SELECT max(id) FROM runs))",
    )[0][0]
    assert 50 <= refreshed <= 100
    assert list_records(crawl_db.target) == before
    status = subprocess.run(
        [*CLI, "status", *(crawl_db.args or ("--db", str(tmp_path / "crawl.db")))],
        capture_output=True, text=True, env=crawl_env(emu.url), timeout=60,
    )  # fmt: skip
    assert status.returncode == 0 and "hidden" not in status.stdout.replace("hidden: 0", "")


def test_a_crawl_through_a_symlink_to_a_running_crawl_is_refused(tmp_path, synth):
    """Issue 22.9: the lock was taken on the name given, so a symlink crawled the same
    database a second time (pages fetched twice)."""
    seeds = typical_seeds(synth, 3)
    (tmp_path / "link.db").symlink_to(tmp_path / "crawl.db")
    with emulator_process(tmp_path, "--graph", SYNTH) as emu:
        first = start_crawl(tmp_path, emu.url, *seeds, "--max-depth", "3", "--qps", "40")
        RequestCounter(emu.log).wait_for(20, first)
        second = subprocess.run(
            [*crawl_command(tmp_path, *seeds), "--db", str(tmp_path / "link.db")],
            capture_output=True, text=True, timeout=120,
            env=crawl_env(emu.url, XDG_STATE_HOME=str(tmp_path / "state")),
        )  # fmt: skip
        assert first.poll() is None
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=60) == 75
    assert second.returncode == 1, second.stderr
    assert "in use by another crawl" in second.stderr and "Traceback" not in second.stderr
    assert repeated_requests(emu.requests()) == (0, 0)


def test_graph_formats_carry_numbers_as_numbers_and_flags_as_booleans(tmp_path, synth):
    """Issue 22.13: GEXF and GraphML carried counts as strings, is_verified as the text
    'False' and depth/status as doubles."""
    import xml.etree.ElementTree as ET

    import igraph
    import networkx as nx

    seeds = typical_seeds(synth, 2)
    with emulator_process(tmp_path, "--graph", SYNTH) as emu:
        done = run_crawl(tmp_path, emu.url, *seeds, "--max-depth", "0", "--info")
        assert done.returncode == 0, done.stderr
    out = tmp_path / "g"
    exported = subprocess.run(
        [*CLI, "export", "--db", str(tmp_path / "crawl.db"), "--out", str(out),
         "--format", "graphml,gexf"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    want = {"follower_count": "long", "following_count": "long", "likes_count": "long",
            "video_count": "long", "is_verified": "boolean", "depth": "long", "status": "long",
            "following_received": "long", "following_ratio": "double", "purged": "boolean"}  # fmt: skip
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    keys = {
        k.get("attr.name"): k.get("attr.type")
        for k in ET.parse(out / "graph.graphml").getroot().findall("g:key", ns)
    }
    titles = {
        a.get("title"): a.get("type")
        for a in ET.parse(out / "graph.gexf").getroot().iter("{http://gexf.net/1.3}attribute")
    }
    for column, kind in want.items():
        assert keys[column] == kind and titles[column] == kind, column
    g = igraph.Graph.Read_GraphML(str(out / "graph.graphml"))
    h = nx.read_gexf(out / "graph.gexf")
    for seed in seeds:
        v = g.vs.find(name=seed)
        assert isinstance(v["follower_count"], int | float) and v["follower_count"] >= 0
        assert v["is_verified"] in (True, False, 0, 1)
        (node,) = [d for _, d in h.nodes(data=True) if d["label"] == seed]
        assert type(node["follower_count"]) is int and type(node["is_verified"]) is bool
        assert type(node["depth"]) is int and node["depth"] == 0
    nodes = dict(h.nodes(data=True))
    assert all("follower_count" not in d for d in nodes.values() if d["depth"] == 1)
    assert {(nodes[a]["label"], nodes[b]["label"]) for a, b in h.edges()} == set(
        db_edges(tmp_path / "crawl.db")
    )


def crawl_state(db) -> tuple:
    """What reading and what-if commands must leave as it is: users (seeds, depth, info),
    lists, edges and the settings a rerun adopts."""
    from tiktok_network.store import stored_settings

    users = sorted(_query(db, "SELECT username, depth, is_seed, info FROM users"))
    lists = sorted(_query(db, "SELECT user_id, direction, done, state, items FROM lists"))
    return users, lists, sorted(db_edges(db)), stored_settings(db)


def test_plan_refresh_and_readers_change_no_setting_and_no_seed(tmp_path, synth):
    """Issue 22.7: `plan NEWSEED --db lab.db --max-depth 4` added a seed and made the next
    crawl go to depth 4; `refresh --sampler rwrw` turned a crawl into a sample."""
    seeds = typical_seeds(synth, 2)
    newcomer = typical_seeds(synth, 40)[-1]
    db = tmp_path / "crawl.db"
    with emulator_process(tmp_path, "--graph", SYNTH) as emu:
        env = crawl_env(emu.url, XDG_STATE_HOME=str(tmp_path / "state"))

        def cli(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*CLI, *args],
                capture_output=True,
                text=True,
                env={**env, **extra},
                timeout=300,
                cwd=tmp_path,
            )

        assert run_crawl(tmp_path, emu.url, *seeds, "--max-depth", "1").returncode == 0
        before = crawl_state(db)
        log = RequestCounter(emu.log)
        sent = log.count()
        planned = cli("plan", newcomer, "--db", str(db), "--max-depth", "4")
        assert planned.returncode == 0, planned.stderr
        assert "adds no seed" in planned.stderr
        for args in (
            ("status", "--db", str(db)),
            ("export", "--db", str(db), "--out", str(tmp_path / "out")),
            ("diff", "2020-01-01", "2099-01-01", "--db", str(db)),
        ):
            done = cli(*args)
            assert done.returncode == 0, (args, done.stderr)
        assert log.count() == sent  # no command above asked the API anything
        assert crawl_state(db) == before
        # refresh does not list the options that shape a crawl; given anyway (by flag or by
        # variable), they are refused in one line.
        for flags, variables in (
            (("--sampler", "rwrw", "--max-requests", "100"), {}),
            (("--max-depth", "4"), {}),
            ((), {"TIKTOK_SAMPLER": "rwrw", "TIKTOK_MAX_REQUESTS": "100"}),
        ):
            refused = cli("refresh", "--db", str(db), *flags, **variables)
            assert refused.returncode == 1, refused.stderr
            lines = refused.stderr.strip().splitlines()
            assert len(lines) == 1 and "as it was made" in lines[0], refused.stderr
        assert crawl_state(db) == before
        refreshed = cli("refresh", "--db", str(db), "--older-than", "0s", "--no-export")
        assert refreshed.returncode == 0, refreshed.stderr
        again = run_crawl(tmp_path, emu.url)
        assert again.returncode == 0, again.stderr
    assert crawl_state(db)[3] == before[3]
    follow_calls = [r for r in emu.requests()[sent:] if r["endpoint"] in ("following", "followers")]
    assert len(follow_calls) == 0  # the complete crawl stayed complete: nothing to fetch


def snapshot_files(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_outputs_of_two_crawls_never_mix_and_a_failed_run_writes_none(tmp_path, synth):
    """Issue 22.8: a crawl that failed at start (wrong secret) on another database replaced
    `outputs/` of a different crawl with empty files."""
    seeds = typical_seeds(synth, 2)
    out = tmp_path / "out"
    with emulator_process(tmp_path, "--graph", SYNTH) as emu:
        assert run_crawl(tmp_path, emu.url, *seeds, "--max-depth", "0").returncode == 0
        kept = snapshot_files(out)
        assert kept["network.csv"].count(b"\n") > 10
        other = run_crawl(tmp_path, emu.url, seeds[0], "--db", str(tmp_path / "other.db"))
        assert other.returncode == 1 and "another crawl" in other.stderr, other.stderr
        assert len(other.stderr.strip().splitlines()) == 1
        newcomer = typical_seeds(synth, 5)[4]
        wrong = run_crawl(tmp_path, emu.url, newcomer, TIKTOK_CLIENT_SECRET="wrong")
        assert wrong.returncode == 1, wrong.stderr
        assert "Traceback" not in wrong.stderr
        assert snapshot_files(out) == kept
        other_db = tmp_path / "b.db"
        assert run_crawl(tmp_path, emu.url, seeds[1], "--db", str(other_db), "--no-export")
        exported = subprocess.run(
            [*CLI, "export", "--db", str(other_db), "--out", str(out)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert exported.returncode == 1 and "another crawl" in exported.stderr
    assert snapshot_files(out) == kept


def test_a_pseudonymised_export_never_lands_beside_a_plain_one(tmp_path, synth):
    """Issue 22.6 and 22.5: a pseudonymised export into a folder holding a plain export left
    the real-name Parquet and GraphML files beside it; a later export of fewer formats left the
    earlier formats stale and unrecorded."""
    seeds = typical_seeds(synth, 2)
    db = tmp_path / "crawl.db"
    key = tmp_path / "key"
    key.write_text("k" * 40)
    with emulator_process(tmp_path, "--graph", SYNTH) as emu:
        assert (
            run_crawl(tmp_path, emu.url, *seeds, "--max-depth", "0", "--no-export").returncode == 0
        )

    def export(folder, *args):
        return subprocess.run(
            [*CLI, "export", "--db", str(db), "--out", str(tmp_path / folder), *args],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    assert export("plain", "--format", "csv,parquet,graphml").returncode == 0
    kept = snapshot_files(tmp_path / "plain")
    refused = export("plain", "--pseudonymize", "--key-file", str(key))
    assert refused.returncode == 1 and "folder of its own" in refused.stderr, refused.stderr
    assert snapshot_files(tmp_path / "plain") == kept
    assert export("share", "--pseudonymize", "--key-file", str(key)).returncode == 0
    assert export("share").returncode == 1
    other_key = tmp_path / "key2"
    other_key.write_text("z" * 40)
    assert export("share", "--pseudonymize", "--key-file", str(other_key)).returncode == 1
    # Fewer formats into the same folder: every format there is written again and recorded.
    (tmp_path / "plain" / "graph.graphml").write_text("stale")
    again = export("plain", "--format", "csv")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "plain" / "graph.graphml").read_text() != "stale"
    recorded = _query(db, "SELECT path, options FROM outputs")
    (options,) = [o for p, o in recorded if p.endswith("plain")]
    assert {"csv", "parquet", "graphml"} <= set(json.loads(options)["formats"])


def test_a_purged_account_stays_out_of_pages_fetched_after_its_purge(tmp_path, crawl_db):
    """Issue 22.2: an account the service refuses but still lists in others' follow lists came
    back within the same refresh: pages fetched after its purge stored its name again (raw
    responses, saved_jsons.csv) and new follows attached to its tombstone. The policy: a purged
    account stays purged; entries naming it keep only its tombstone id and make no edge."""
    with emulator_process(tmp_path, "--graph", GRAPH, "--refused-fraction", "0.1") as emu:
        crawl_everyone(tmp_path, emu.url, crawl_db.args)
        refused = {
            name
            for (name,) in _query(crawl_db.target, "SELECT username FROM users WHERE status = 2")
        }
        listed = _query(
            crawl_db.target,
            "SELECT count(*) FROM edges e JOIN users u ON u.id = e.dst WHERE u.status = 2",
        )[0][0]
        assert len(refused) > 10 and listed > 20
        done = run_refresh(
            tmp_path, emu.url, crawl_db.args,
            "--lists", "--older-than", "0s", "--out", str(tmp_path / "out"),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
    purged = _query(crawl_db.target, "SELECT count(*) FROM audit")[0][0]
    assert purged == len(refused)
    tombstone_edges = _query(
        crawl_db.target,
        "SELECT count(*) FROM edges e JOIN users s ON s.id = e.src JOIN users d ON d.id = e.dst"
        " WHERE e.removed_at IS NULL AND (s.purged_at IS NOT NULL OR d.purged_at IS NOT NULL)",
    )[0][0]
    assert tombstone_edges == 0
    db_file = None if crawl_db.url else tmp_path / "crawl.db"
    names = {n for (n,) in _query(crawl_db.target, "SELECT username FROM users")}
    for name in sorted(refused):
        assert name not in names
        assert traces(name, tmp_path, db_file or crawl_db.target) == [], name


def test_every_output_the_tool_wrote_loses_a_purged_name(tmp_path, monkeypatch):
    """Issue 22.5: purged names survived in a `diff --out` file, an `analyze --compare`
    report, formats of an earlier export into the same folder, and an export that read the
    crawl before a purge and wrote after it."""
    import tiktok_network.export.folders as folders
    import tiktok_network.export.outputs as outputs

    db = tmp_path / "crawl.db"
    other = tmp_path / "other.csv"
    other.write_text("source,destination\na,b\nb,c\nc,a\n")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*CLI, *args], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path
        )
        assert done.returncode == 0, (args, done.stderr[-2000:])
        return done

    with emulator_process(tmp_path, "--graph", GRAPH, "--refused-fraction", "0.1") as emu:
        env = crawl_env(emu.url, XDG_STATE_HOME=str(tmp_path / "state"))
        crawl_everyone(tmp_path, emu.url, ())
        refused = {n for (n,) in _query(db, "SELECT username FROM users WHERE status = 2")}
        assert len(refused) > 10
        cli("export", "--db", str(db), "--out", "both", "--format", "parquet,gexf")
        cli("export", "--db", str(db), "--out", "both", "--format", "csv")
        cli("diff", "2000-01-01", "2100-01-01", "--db", str(db), "--out", "changes.csv")
        cli("analyze", "--db", str(db), "--compare", str(other), "--out", "report")
        cli("analyze", "--db", str(db), "--out-of-core", "--out", "report-ooc")
        cli("export", "--db", str(db), "--out", "to-publish", "--share", "ids")
        assert all(traces(name, tmp_path, None) for name in refused)
        written = (tmp_path / "report-ooc" / "stats.json").stat().st_mtime_ns

        def refresh_meanwhile(out, owner, formats, _write=folders.write_manifest) -> None:
            # The export has read the crawl and written its files; now a refresh purges.
            _write(out, owner, formats)
            if not (tmp_path / "refreshed").exists():
                (tmp_path / "refreshed").write_text("")
                done = run_refresh(tmp_path, emu.url, (), "--lists", "--older-than", "0s")
                assert done.returncode == 0, done.stderr[-3000:]

        monkeypatch.setattr(folders, "write_manifest", refresh_meanwhile)
        outputs.write_outputs(db, tmp_path / "during", outputs.ExportRequest())
    assert _query(db, "SELECT count(*) FROM audit")[0][0] == len(refused)
    for name in sorted(refused):
        assert traces(name, tmp_path, db) == [], name
    # the out-of-core report was written again, and out of core, as it was made
    assert (tmp_path / "report-ooc" / "stats.json").stat().st_mtime_ns != written
    rewritten = json.loads((tmp_path / "report-ooc" / "stats.json").read_text())
    assert all(n.get("out_of_core") for n in rewritten["networks"])


def test_db_copy_brings_an_older_copy_up_to_date_and_refuses_one_that_moved_on(
    tmp_path, pg_cluster
):
    """Issue 22.4: a copy into an older copy "verified" by row counts and kept stale rows
    (purged names came back in the copy); after a refresh of the source it ended in MISMATCH
    forever. A copy that moved on by itself is refused and left as it was; two copies into
    one database at once never merge two crawls."""
    db = tmp_path / "crawl.db"
    pg = pg_cluster.new_database()

    def copy(src, dst) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, "db", "copy", str(src), str(dst)], capture_output=True, text=True, timeout=300
        )

    with emulator_process(tmp_path, "--graph", GRAPH, "--refused-fraction", "0.1") as emu:
        crawl_everyone(tmp_path, emu.url, ())
        refused = {n for (n,) in _query(db, "SELECT username FROM users WHERE status = 2")}
        for target in (tmp_path / "copy.db", pg):
            first = copy(db, target)
            assert first.returncode == 0 and "verified" in first.stdout, first.stderr
        done = run_refresh(tmp_path, emu.url, (), "--lists", "--older-than", "0s")
        assert done.returncode == 0, done.stderr[-3000:]
        for target in (tmp_path / "copy.db", pg):
            again = copy(db, target)
            assert again.returncode == 0 and "verified" in again.stdout, again.stdout + again.stderr
            assert crawl_state(target)[:3] == crawl_state(db)[:3]
            names = {n for (n,) in _query(target, "SELECT username FROM users")}
            assert not names & refused
            blobs = b"".join(bytes(b) for (b,) in _query(target, "SELECT response FROM pages"))
            assert blobs and not any(
                name.encode() in zlib.decompress(bytes(b))
                for (b,) in _query(target, "SELECT response FROM pages")
                for name in refused
            )
        # The copy moves on by itself (a run of its own): a copy over it is refused.
        moved = run_refresh(
            tmp_path, emu.url, ("--db", str(tmp_path / "copy.db")), "--older-than", "0s"
        )
        assert moved.returncode == 0, moved.stderr[-2000:]
    before = crawl_state(tmp_path / "copy.db")
    runs = _query(tmp_path / "copy.db", "SELECT count(*) FROM runs")
    refused_copy = copy(db, tmp_path / "copy.db")
    assert refused_copy.returncode == 1 and "runs the source does not" in refused_copy.stderr
    assert crawl_state(tmp_path / "copy.db") == before
    assert _query(tmp_path / "copy.db", "SELECT count(*) FROM runs") == runs
    # Two copies of two crawls into one new database at once: one lands, the other is refused
    # (whichever comes first: the destination takes one copy at a time).
    other = tmp_path / "other"
    other.mkdir()
    with emulator_process(other, "--graph", GRAPH) as emu:
        seeds = parse_graph_spec(GRAPH).usernames[:5]
        assert run_crawl(other, emu.url, "--max-depth", "0", *seeds).returncode == 0
    sources = (db, other / "crawl.db")
    fresh = pg_cluster.new_database()
    procs = [
        subprocess.Popen(
            [*CLI, "db", "copy", str(src), fresh],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for src in sources
    ]
    codes = sorted(p.wait(timeout=300) for p in procs)
    assert codes == [0, 1]
    landed = [src for src, p in zip(sources, procs, strict=True) if p.returncode == 0]
    assert crawl_state(fresh)[:3] == crawl_state(landed[0])[:3]


def test_progress_counts_stored_edges_and_status_reads_the_crawls_own_quota(tmp_path, synth):
    """Issue 22.14: the progress "edges" figure counted entries received (an edge arrives
    from both ends' lists), and `status().lines(None, 20000)` counted a 200,000 quota against
    20,000."""
    import re

    import tiktok_network as tn

    seeds = typical_seeds(synth, 3)
    # --qps 25: the crawl's 131 pages take at least five seconds on any machine, so the progress
    # lines (one every 0.2 s) are printed while it runs.
    with emulator_process(tmp_path, "--graph", SYNTH, "--latency-ms", "5") as emu:
        done = run_crawl(
            tmp_path, emu.url, *seeds, "--max-depth", "1", "--direction", "both",
            "--follow-quota", "200000", "--log-every", "0.2", "--qps", "25",
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    stored = len(db_edges(tmp_path / "crawl.db"))
    progress = [ln for ln in done.stderr.splitlines() if "| entries " in ln]
    assert progress, done.stderr[-2000:]
    shown_any = False
    for line in progress:
        assert " edges " not in line.replace("edges stored", "")
        assert re.search(r"entries [\d,]+", line)
        shown = re.search(r"edges stored ([\d,]+)", line)
        if shown:  # read from the database just before the line, which only grows
            shown_any = True
            assert int(shown.group(1).replace(",", "")) <= stored
    assert shown_any
    status = tn.open(str(tmp_path / "crawl.db")).status()
    text = str(status)
    assert f"edges: {stored:,}" in text and "of 200,000 follow requests" in text
    assert "--max-depth 1" in text
    assert status.lines() == text.splitlines()


def test_info_is_never_dropped_silently_when_its_bucket_is_spent(tmp_path, synth):
    """Issue 22.10: once the info bucket was spent, --info was dropped without a word (lists
    recorded complete without profiles) while plan sized the crawl by the info bucket. Now
    it is said, those lists are recorded unjudged, the run ends with work left, and the next
    run fetches the profiles without fetching the lists again; plan says the same."""
    seeds = typical_seeds(synth, 3)
    db = tmp_path / "crawl.db"
    args = (*seeds, "--max-depth", "1", "--info", "--on-quota", "exit")
    with emulator_process(tmp_path, "--graph", SYNTH) as emu:
        env = crawl_env(emu.url, XDG_STATE_HOME=str(tmp_path / "state"))
        planned = subprocess.run(
            [*CLI, "plan", *args, "--info-quota", "30", "--db", str(tmp_path / "plan.db")],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        assert planned.returncode == 0, planned.stderr
        assert "recorded unjudged" in planned.stdout, planned.stdout
        first = run_crawl(tmp_path, emu.url, *args, "--info-quota", "30")
        assert first.returncode == 75, first.stderr[-2000:]
        assert "user-info calls are spent" in first.stderr
        unjudged = _query(db, "SELECT count(*) FROM lists WHERE state = 8")[0][0]
        without_info = _query(db, "SELECT count(*) FROM users WHERE status = 1 AND info IS NULL")[
            0
        ][0]
        assert unjudged == without_info > 10
        assert _query(
            db, "SELECT count(*) FROM lists l JOIN users u ON u.id = l.user_id"
            " WHERE u.info IS NULL AND l.state = 1",
        )[0][0] == 0  # fmt: skip
        sent = RequestCounter(emu.log).count()
        second = run_crawl(tmp_path, emu.url, "--info-quota", "1000")
        assert second.returncode == 0, second.stderr[-2000:]
        later = emu.requests()[sent:]
    assert not [r for r in later if r["endpoint"] in ("following", "followers")]
    assert len([r for r in later if r["endpoint"] == "info"]) == without_info
    assert _query(db, "SELECT count(*) FROM lists WHERE state = 8")[0][0] == 0
    assert _query(db, "SELECT count(*) FROM users WHERE status = 1 AND info IS NULL")[0][0] == 0


def test_walkers_whose_seed_cannot_be_walked_from_start_again_from_a_usable_seed(tmp_path):
    """Issue 22.12: random walks whose seed was private or missing never moved (4 of 10
    walkers at 0 steps), silently widening the intervals; with no usable seed at all, the
    sample is refused in one line."""
    graph = "synthetic:2000,seed=1"
    names = parse_graph_spec(graph).usernames
    missing = [f"nobody_{i}" for i in range(4)]
    seeds = [*missing, *names[:6]]
    args = ("--sampler", "rwrw", "--walkers", "10", "--sample-seed", "3", "--max-requests", "300")
    with emulator_process(tmp_path, "--graph", graph) as emu:
        done = run_crawl(tmp_path, emu.url, *seeds, *args, "--no-export")
        assert done.returncode == 0, done.stderr[-3000:]
        (tmp_path / "lost").mkdir()
        stuck = run_crawl(tmp_path / "lost", emu.url, *missing, *args, "--no-export")
    chains = {}
    for chain, _step, name in _query(
        tmp_path / "crawl.db",
        "SELECT chain, step, u.username FROM sample_steps s JOIN users u ON u.id = s.user_id"
        " ORDER BY chain, step",
    ):
        chains.setdefault(chain, []).append(name)
    assert len(chains) == 10 and all(len(path) > 5 for path in chains.values())
    restarted = [c for c, path in chains.items() if path[0] in missing]
    assert len(restarted) == 4 and all(chains[c][1] in seeds[4:] for c in restarted)
    assert done.stderr.count("starts again from another seed") == 4
    assert "nobody_" not in done.stderr  # logs name users by id
    assert stuck.returncode == 1, stuck.stderr[-2000:]
    errors = [ln for ln in stuck.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "no walker could start" in errors[0]


def test_hostile_text_becomes_the_same_storable_text_on_both_backends(tmp_path, crawl_db):
    """Issue 22.17: a username or display name holding a NUL ended a PostgreSQL crawl in a
    traceback and went raw into the CSVs on SQLite. The policy (api/sanitize.py): NULs removed,
    lone surrogates replaced by U+FFFD, entries whose username is no name dropped, a 10 kB bio
    kept whole, a count beyond 2^62 unknown, and the same in every export."""
    import csv

    import pyarrow.parquet as pq

    graph = parse_graph_spec(GRAPH)
    out = tmp_path / "out"
    with emulator_process(tmp_path, "--graph", GRAPH, "--hostile-text", "0.2") as emu:
        crawl_everyone(tmp_path, emu.url, crawl_db.args, "--direction", "both")
        exported = subprocess.run(
            [*CLI, "export", *(crawl_db.args or ("--db", str(tmp_path / "crawl.db"))),
             "--out", str(out), "--format", "csv,parquet,graphml,gexf"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    truth = {
        (graph.usernames[int(a)], graph.usernames[int(b)])
        for a, b in zip(*graph.edge_arrays(), strict=True)
    }
    assert set(db_edges(crawl_db.target)) == truth  # the ghost entries made no edge
    for path in out.iterdir():
        if path.suffix == ".parquet":  # binary: read below through pyarrow
            continue
        data = path.read_bytes()
        assert b"\x00" not in data and b"\\u0000" not in data and b"ghost" not in data, path.name
        assert b"\\ud800" not in data, path.name
    with open(out / "nodes.csv", newline="", encoding="utf-8") as f:
        nodes = {row["username"]: row for row in csv.DictReader(f)}
    evil = {name: row for name, row in nodes.items() if row["display_name"].startswith("Evil")}
    assert len(evil) > 30
    for name, row in evil.items():
        assert row["display_name"] == f"Evil{name[:8]}\ufffd#{graph.user_id(name)}"
        assert len(row["bio_description"]) == 10_000 - 1  # the NUL gone, the rest whole
        assert int(row["likes_count"]) == 2**40 + graph.user_id(name)
        assert row["video_count"] == ""
    table = pq.read_table(out / "nodes.parquet").to_pandas().set_index("username")
    assert not table["display_name"].fillna("").str.contains("\x00").any()
    name = next(iter(evil))
    assert table.loc[name, "display_name"] == evil[name]["display_name"]
    assert table.loc[name, "likes_count"] == 2**40 + graph.user_id(name)


def test_plan_says_exact_only_when_it_is_and_a_sample_plans_its_budget(tmp_path):
    """Issue 22.11 (honesty): `--offline` said "exact" while ignoring every level below the
    seeds; `plan --sampler rwrw --max-requests N` ignored both."""
    env = crawl_env("http://127.0.0.1:9", XDG_STATE_HOME=str(tmp_path / "state"))

    def plan(*args: str) -> dict:
        done = subprocess.run(
            [*CLI, "plan", "alice", "bobby", "carol", "--offline", "--json", "--db", str(tmp_path / "p.db"),
             *args], capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    deep = plan("--max-depth", "2", "--direction", "both")
    assert not deep["exact"] and deep["calls_high"]["following"] is None
    assert deep["calls_low"]["following"] >= 3 and deep["days_high"] is None
    assert any("depths 1 to 2 are not counted" in n for n in deep["notes"])
    seeds_only = plan("--max-depth", "0")
    assert not seeds_only["exact"]
    text = subprocess.run(
        [*CLI, "plan", "alice", "--offline", "--max-depth", "2", "--db", str(tmp_path / "q.db")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    (following,) = [ln for ln in text.stdout.splitlines() if ln.strip().startswith("following")]
    assert "(exact)" not in following and "no upper bound known" in following, text.stdout
    walk = plan("--sampler", "rwrw", "--max-requests", "5000")
    assert sum(walk["calls_high"].values()) >= 5000 and walk["days"] == 0.25
    assert sum(walk["calls"][b] for b in ("following", "followers")) == 5000
    assert any("budget of 5,000 calls" in n for n in walk["notes"])


# ------------------------------------------- sequences the model-based test found (shrunk)
def test_a_kill_9_never_leaves_a_request_uncounted_and_the_copy_can_follow(tmp_path, synth):
    """Model: `kill -9` after 25 requests, resume: the ledger counted 56 of 81 requests sent
    (it was written once a second); then `db copy` was refused for a minute ("1 workers are
    crawling it") though the killed process was gone."""
    import sqlite3

    from tiktok_network.crawl.quota import RESERVE_BLOCK

    seeds = typical_seeds(synth, 3)
    with emulator_process(tmp_path, "--graph", SYNTH) as emu:
        proc = start_crawl(tmp_path, emu.url, *seeds, "--max-depth", "2", "--info")
        RequestCounter(emu.log).wait_for(25, proc)
        proc.kill()
        proc.wait(timeout=60)
        sent = sum(r["endpoint"] in ("following", "followers", "info") for r in emu.requests())
    conn = sqlite3.connect(tmp_path / "state" / "tiktok-network" / "quota.db")
    counted = conn.execute("SELECT sum(used) FROM quota").fetchone()[0]
    conn.close()
    assert sent <= counted <= sent + 3 * RESERVE_BLOCK
    copied = subprocess.run(
        [*CLI, "db", "copy", str(tmp_path / "crawl.db"), str(tmp_path / "copy.db")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert copied.returncode == 0 and "verified" in copied.stdout, copied.stderr


def test_a_purge_reaches_a_copy_of_a_copy_and_a_purged_seed_stays_out(tmp_path, pg_cluster):
    """Model: after copy -> copy of the copy -> refresh, the copy of the copy kept a purged
    name; a purged account given again as a seed came back."""
    db = tmp_path / "crawl.db"
    pg = pg_cluster.new_database()
    back = tmp_path / "back.db"
    with emulator_process(tmp_path, "--graph", GRAPH, "--refused-fraction", "0.1") as emu:
        crawl_everyone(tmp_path, emu.url, ())
        refused = {n for (n,) in _query(db, "SELECT username FROM users WHERE status = 2")}
        for src, dst in ((db, pg), (pg, back)):
            done = subprocess.run(
                [*CLI, "db", "copy", str(src), str(dst)], capture_output=True, text=True,
                timeout=300,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
        done = run_refresh(tmp_path, emu.url, (), "--older-than", "0s")
        assert done.returncode == 0, done.stderr[-3000:]
        assert "brought up to date" in done.stderr
        again = run_crawl(tmp_path, emu.url, sorted(refused)[0], "--max-depth", "0")
        assert again.returncode == 0, again.stderr[-2000:]
        assert "purged from this crawl earlier" in again.stderr
    for target in (db, pg, back):
        names = {n for (n,) in _query(target, "SELECT username FROM users")}
        assert not names & refused, target
    for name in sorted(refused):
        assert traces(name, tmp_path, db) == [], name
