"""`tiktok-network videos`: the videos of every expanded account, durable like the follow lists.

Kills are triggered by progress (video requests the emulator logged), never by the clock."""

from __future__ import annotations

import re
import signal
import subprocess
from datetime import date

from tests.crawl_helpers import (
    CLI,
    RequestCounter,
    _query,
    crawl_env,
    emulator_process,
    run_cli,
    run_crawl,
)
from tiktok_network.crawl.video_collection import video_windows
from tiktok_network.emulator.graph import parse_graph_spec
from tiktok_network.emulator.videos import VideoTable

GRAPH, SEED, PER_ACCOUNT = "synthetic:3000,seed=2", 3, 30.0
SINCE, UNTIL = date(2025, 1, 1), date(2025, 3, 31)


def videos_command(tmp_path, url, db_args, *args) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, "videos", *(db_args or ("--db", str(tmp_path / "crawl.db"))),
         "--since", SINCE.isoformat(), "--until", UNTIL.isoformat(), "--video-page-size", "5",
         "--usernames-per-query", "10", "--concurrency", "2", "--retry-base-delay", "0.01",
         "--lease", "2", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env=crawl_env(url, XDG_STATE_HOME=str(tmp_path / "state")),
    )  # fmt: skip


def served(expanded: list[str]) -> set[int]:
    """The videos the emulator serves for these accounts over the period: the truth."""
    graph = parse_graph_spec(GRAPH)
    table = VideoTable(graph.usernames, SEED, PER_ACCOUNT)
    query = {"and": [{"operation": "IN", "field_name": "username", "field_values": expanded}]}
    found: set[int] = set()
    for start, end in video_windows(SINCE, UNTIL):
        found |= {int(table.ids[i]) for i in table.search(query, start, end)}
    return found


def test_videos_are_collected_exactly_through_kills_and_expired_search_ids(tmp_path, crawl_db):
    """The video set stored equals what the emulator serves for the expanded accounts over
    the period, exactly: after a kill -9 mid-collection, with search_ids expiring every two
    pages (the window starts again, nothing is stored twice); a rerun once complete asks for
    nothing; a purged account's videos go."""
    graph = parse_graph_spec(GRAPH)
    seeds = graph.usernames[:2]
    with emulator_process(
        tmp_path, "--graph", GRAPH, "--seed", str(SEED), "--search-id-pages", "2",
        "--videos-per-account", str(PER_ACCOUNT),
    ) as emu:  # fmt: skip
        done = run_crawl(tmp_path, emu.url, "--max-depth", "1", *crawl_db.args, *seeds)
        assert done.returncode == 0, done.stderr
        db = crawl_db.target
        expanded = [n for (n,) in _query(db, "SELECT username FROM users WHERE status = 1")]
        truth = served(expanded)
        assert len(expanded) > 20 and len(truth) > 100
        assert emu.log is not None
        counter = RequestCounter(emu.log)
        before = counter.count()
        first = videos_command(tmp_path, emu.url, crawl_db.args)
        counter.wait_for(before + 25, first)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
        stored_then = _query(db, "SELECT count(*) FROM videos")[0][0]
        assert 0 < stored_then < len(truth)
        second = videos_command(tmp_path, emu.url, crawl_db.args)
        out, err = second.communicate(timeout=300)  # a dead worker's units: after --lease
        assert second.returncode == 0, err
        assert "videos complete" in err
        ids = {int(i) for (i,) in _query(db, "SELECT id FROM videos")}
        assert ids == truth
        edges = _query(db, "SELECT count(*), count(DISTINCT video_id) FROM video_edges")[0]
        assert edges == (len(truth), len(truth))
        restarts, pages, open_units = _query(
            db, "SELECT sum(restarts), sum(pages), sum(1 - done) FROM video_units"
        )[0]
        assert restarts > 0 and open_units == 0
        calls = [r for r in emu.requests() if r["endpoint"] == "video"]
        # every call is a committed page, a restart, or one the kill cut off (at most the
        # two in flight and the pages whose commit it beat)
        assert pages + restarts <= len(calls) <= pages + restarts + 4
        again = videos_command(tmp_path, emu.url, crawl_db.args)
        _, err = again.communicate(timeout=120)
        assert again.returncode == 0, err
        assert len([r for r in emu.requests() if r["endpoint"] == "video"]) == len(calls)
        # a purged account leaves its videos behind nowhere
        author = _query(db, "SELECT author_id FROM videos ORDER BY id LIMIT 1")[0][0]
        from tiktok_network.store import open_store

        store = open_store(db)
        try:
            store.transact(
                lambda execute: __import__(
                    "tiktok_network.store.lifecycle", fromlist=["purge"]
                ).purge(execute, [(author, "test")], 0.0, 0)
            )
        finally:
            store.close()
        left = _query(db, f"SELECT count(*) FROM videos WHERE author_id = {author}")[0][0]
        edges_left = _query(db, f"SELECT count(*) FROM video_edges WHERE user_id = {author}")
        members = _query(db, f"SELECT count(*) FROM video_unit_members WHERE user_id = {author}")
        assert left == 0 and edges_left[0][0] == 0 and members[0][0] == 0


def test_videos_says_what_is_wrong_in_one_line(tmp_path):
    """A period the query cannot take, a date that is none, a database with no crawl: one line,
    exit 1, no traceback, and no database made where there was none."""
    cases = (
        (["--since", "2025-04-01", "--until", "2025-03-01"], "is after --until"),
        (["--since", "2025-13-01"], "must be a date as YYYY-MM-DD"),
        (["--until", "2999-01-01"], "is in the future"),
        ([], "holds no crawl"),
    )
    for args, message in cases:
        done = subprocess.run(
            [*CLI, "videos", "--db", str(tmp_path / "none.db"), *args],
            capture_output=True, text=True, timeout=60, cwd=tmp_path,
            env=crawl_env("http://127.0.0.1:9", XDG_STATE_HOME=str(tmp_path / "state")),
        )  # fmt: skip
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert done.returncode == 1 and len(lines) == 1, done.stderr
        assert message in lines[0] and "Traceback" not in done.stderr
        assert not (tmp_path / "none.db").exists()


def test_the_plan_of_a_collection_changes_nothing_and_its_range_holds(tmp_path, crawl_db):
    """`videos --plan` before any video: at least one call a unit, nothing written (no unit,
    no run). After two months are collected it learns the videos per account and day: the
    next quarter's calls fall within its range, and `status` says where the collection is."""
    graph = parse_graph_spec("synthetic:3000,seed=2")
    common = ("--video-page-size", "5", "--usernames-per-query", "10")
    with emulator_process(
        tmp_path, "--graph", "synthetic:3000,seed=2", "--videos-per-account", "30"
    ) as emu:
        # one request at a time: the accounts get the same ids, so the same units, every run
        done = run_crawl(tmp_path, emu.url, "--max-depth", "1", "--concurrency", "1",
                         *crawl_db.args, *graph.usernames[:2])  # fmt: skip
        assert done.returncode == 0, done.stderr
        db = crawl_db.target
        args = (*(crawl_db.args or ("--db", str(tmp_path / "crawl.db"))), *common)
        runs = _query(db, "SELECT count(*) FROM runs")[0][0]
        first = run_cli(tmp_path, emu.url, "videos", "--since", "2025-01-01", "--until",
                        "2025-03-01", "--plan", db_args=args)  # fmt: skip
        assert first.returncode == 0, first.stderr
        assert "6 units to page" in first.stdout and "at least 6 " in first.stdout
        assert _query(db, "SELECT count(*) FROM runs")[0][0] == runs
        assert _query(db, "SELECT count(*) FROM video_units")[0][0] == 0
        done = run_cli(tmp_path, emu.url, "videos", "--since", "2025-01-01", "--until",
                       "2025-03-01", db_args=args)  # fmt: skip
        assert done.returncode == 0, done.stderr
        plan = run_cli(tmp_path, emu.url, "videos", "--since", "2025-03-02", "--until",
                       "2025-05-30", "--plan", db_args=args)  # fmt: skip
        low, estimate, high = (
            float(x.replace(",", ""))
            for x in re.search(
                r"about ([\d,]+) \(at least ([\d,]+), at most about ([\d,]+)", plan.stdout
            ).group(2, 1, 3)
        )
        before = len([r for r in emu.requests() if r["endpoint"] == "video"])
        done = run_cli(tmp_path, emu.url, "videos", "--since", "2025-03-02", "--until",
                       "2025-05-30", db_args=args)  # fmt: skip
        assert done.returncode == 0, done.stderr
        calls = len([r for r in emu.requests() if r["endpoint"] == "video"]) - before
        assert low <= calls <= high and abs(calls - estimate) <= 0.3 * calls, plan.stdout
        status = run_cli(tmp_path, emu.url, "status", db_args=crawl_db.args)
        videos = _query(db, "SELECT count(*) FROM videos")[0][0]
        assert f"videos: {videos:,} collected; units 15 finished, 0 open" in status.stdout


def test_the_emulator_serves_exactly_the_videos_of_a_file(tmp_path):
    """`emulator --videos FILE`: the collection stores the file's videos of the crawled
    accounts within the period, field for field (quotes, commas and non-ASCII included); a
    file that cannot be served is said in one line at start."""
    import csv as csvmod
    import random as rnd

    graph = parse_graph_spec("synthetic:300,seed=1")
    authors = graph.usernames[:5]
    draw = rnd.Random(7)
    rows = []
    for i in range(120):
        tags = draw.sample(["dogs", "cats", "pets", "fyp", "münchen"], 2)
        rows.append({
            "id": 7_400_000_000_000_000_000 + i * 13,
            "username": draw.choice([*authors, graph.usernames[200]]),
            "create_time": 1_735_689_600 + draw.randrange(120 * 86400),
            "region_code": draw.choice(["DE", "AT", "CH"]),
            "hashtag_names": "|".join(tags),
            "video_description": f'a "quoted" video, with a comma #{tags[0]}',
            "view_count": draw.randrange(10**6), "like_count": draw.randrange(10**5),
            "comment_count": draw.randrange(999), "share_count": draw.randrange(99),
        })  # fmt: skip
    path = tmp_path / "videos.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csvmod.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with emulator_process(
        tmp_path, "--graph", "synthetic:300,seed=1", "--videos", str(path)
    ) as emu:
        done = run_crawl(tmp_path, emu.url, "--max-depth", "0", *authors)
        assert done.returncode == 0, done.stderr
        done = run_cli(tmp_path, emu.url, "videos", "--since", "2025-01-01", "--until",
                       "2025-03-31", "--video-page-size", "7")  # fmt: skip
        assert done.returncode == 0, done.stderr
    start, end = 1_735_689_600, 1_735_689_600 + 90 * 86400
    expected = {
        r["id"]: r for r in rows if r["username"] in authors and start <= r["create_time"] < end
    }
    stored = {
        vid: (name, created, region, tags, desc, views, likes, comments, shares)
        for vid, name, created, region, tags, desc, views, likes, comments, shares in _query(
            tmp_path / "crawl.db",
            "SELECT v.id, u.username, v.create_time, v.region_code, v.hashtags, v.description,"
            " v.view_count, v.like_count, v.comment_count, v.share_count FROM videos v"
            " JOIN users u ON u.id = v.author_id",
        )
    }
    assert set(stored) == set(expected) and len(expected) > 30
    for vid, r in expected.items():
        assert stored[vid] == (
            r["username"], r["create_time"], r["region_code"], r["hashtag_names"],
            r["video_description"], r["view_count"], r["like_count"], r["comment_count"],
            r["share_count"],
        )  # fmt: skip
    bad = tmp_path / "bad.csv"
    bad.write_text("id,username\n1,someone\n")
    started = subprocess.run(
        [*CLI, "emulator", "--graph", "synthetic:300,seed=1", "--videos", str(bad)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    lines = [line for line in started.stderr.splitlines() if line.strip()]
    assert started.returncode == 1 and len(lines) == 1 and "lacks the columns" in lines[0]


def test_a_collection_waits_for_the_general_quota_and_ends_exact(tmp_path, crawl_db):
    """The general bucket (here 4 calls an emulated day of 2 s) runs out mid-collection: the
    run waits for the next day and goes on from each unit's last page, never more than the
    quota a day, and the videos stored are exactly those served."""
    graph = parse_graph_spec("synthetic:3000,seed=2")
    day, quota = 2.0, 4
    with emulator_process(
        tmp_path, "--graph", "synthetic:3000,seed=2", "--videos-per-account", "60",
        "--info-quota", str(quota), "--day-seconds", str(day),
    ) as emu:  # fmt: skip
        done = run_crawl(tmp_path, emu.url, "--max-depth", "0", *crawl_db.args,
                         *graph.usernames[:12])  # fmt: skip
        assert done.returncode == 0, done.stderr
        done = run_cli(tmp_path, emu.url, "videos", "--since", "2025-01-01", "--until",
                       "2025-01-30", "--video-page-size", "5", "--usernames-per-query", "4",
                       "--concurrency", "2", "--info-quota", str(quota), "--day-seconds",
                       str(day), db_args=crawl_db.args or ("--db", str(tmp_path / "crawl.db")))  # fmt: skip
        requests = emu.requests()
        days_used = emu.stats()["quota"]["demo-key"]  # the service's own count, by quota day
    assert done.returncode == 0, done.stderr
    assert "waiting until" in done.stderr
    calls = [r for r in requests if r["endpoint"] == "video" and r["status"] == 200]
    info = [used.get("info", 0) for used in days_used.values()]
    assert len([n for n in info if n]) >= 3 and sum(info) >= len(calls), days_used
    expanded = [
        n for (n,) in _query(crawl_db.target, "SELECT username FROM users WHERE status = 1")
    ]
    table = VideoTable(graph.usernames, 0, 60.0)
    query = {"and": [{"operation": "IN", "field_name": "username", "field_values": expanded}]}
    truth = {int(table.ids[i]) for i in table.search(query, "20250101", "20250130")}
    assert len(calls) > 3 * quota  # more than a day's quota: the waits were needed
    assert {int(i) for (i,) in _query(crawl_db.target, "SELECT id FROM videos")} == truth


def test_a_copy_carries_the_videos_and_the_collection_goes_on_there(tmp_path, pg_cluster):
    """`db copy` of a crawl with videos to PostgreSQL: the videos, edges and units arrive; the
    collection goes on in the copy for the next window with new unit ids (the sequence follows
    the copied ids) and stores nothing twice; a copy again over the older copy refuses the runs
    the source lacks, as for any crawl."""
    graph = parse_graph_spec("synthetic:3000,seed=2")
    copy_url = pg_cluster.new_database()
    with emulator_process(
        tmp_path, "--graph", "synthetic:3000,seed=2", "--videos-per-account", "30"
    ) as emu:
        done = run_crawl(tmp_path, emu.url, "--max-depth", "0", *graph.usernames[:12])
        assert done.returncode == 0, done.stderr
        first = ("--since", "2025-01-01", "--until", "2025-01-30", "--usernames-per-query", "4")
        done = run_cli(tmp_path, emu.url, "videos", *first)
        assert done.returncode == 0, done.stderr
        copied = subprocess.run([*CLI, "db", "copy", str(tmp_path / "crawl.db"), copy_url],
                                capture_output=True, text=True, timeout=300)  # fmt: skip
        assert copied.returncode == 0, copied.stderr
        tables = ("videos", "video_edges", "video_units", "video_unit_members")
        for table in tables:
            here = _query(tmp_path / "crawl.db", f"SELECT count(*) FROM {table}")
            assert _query(copy_url, f"SELECT count(*) FROM {table}") == here, table
        units_before = {i for (i,) in _query(copy_url, "SELECT id FROM video_units")}
        more = ("--since", "2025-01-31", "--until", "2025-03-01", "--usernames-per-query", "4")
        done = run_cli(tmp_path, emu.url, "videos", *more, db_args=("--db", copy_url))
        assert done.returncode == 0, done.stderr
        units_after = {i for (i,) in _query(copy_url, "SELECT id FROM video_units")}
        assert len(units_after) == 2 * len(units_before) and min(units_after - units_before) > max(
            units_before
        )
        again = run_cli(tmp_path, emu.url, "videos", *first, db_args=("--db", copy_url))
        assert again.returncode == 0 and "0 units planned now, 0 open" in again.stderr
        ids = [i for (i,) in _query(copy_url, "SELECT id FROM videos")]
        assert (
            len(ids)
            == len(set(ids))
            > _query(tmp_path / "crawl.db", "SELECT count(*) FROM videos")[0][0]
        )
        refused = subprocess.run([*CLI, "db", "copy", str(tmp_path / "crawl.db"), copy_url],
                                 capture_output=True, text=True, timeout=300)  # fmt: skip
        assert refused.returncode == 1 and "runs the source does not" in refused.stderr
