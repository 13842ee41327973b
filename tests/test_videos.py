"""Seeds from a topic: `seeds from-videos` against the emulator's synthetic videos."""

from __future__ import annotations

import csv
import math
import sqlite3
import subprocess
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import numpy as np

from tests.crawl_helpers import CLI, crawl_env, emulator_process
from tiktok_network.crawl.videos import build_query, windows
from tiktok_network.emulator.graph import parse_graph_spec
from tiktok_network.emulator.videos import VideoTable

GRAPH, SEED = "synthetic:4000,seed=1", 4


def seeds_from_videos(tmp_path, url, *args):
    return subprocess.run(
        [*CLI, "seeds", "from-videos", "--out", str(tmp_path / "seeds.csv"), *args],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env=crawl_env(url, XDG_STATE_HOME=str(tmp_path / "state")),
    )  # fmt: skip


def expected(table: VideoTable, query: dict, since: date, until: date) -> tuple[Counter, int]:
    """Authors (with their number of matching videos) and the calls the paging implies."""
    authors: Counter[str] = Counter()
    calls = 0
    for start, end in windows(since, until):
        found = table.search(query, f"{start:%Y%m%d}", f"{end:%Y%m%d}")
        calls += max(1, math.ceil(len(found) / 100))
        authors.update(table.usernames[int(table.author[i])] for i in found)
    return authors, calls


def read_seeds(path) -> dict[str, int]:
    with open(path, newline="") as f:
        return {row["username"]: int(row["videos"]) for row in csv.DictReader(f)}


def test_seeds_from_videos_are_exactly_the_matching_authors_over_a_long_period(tmp_path):
    table = VideoTable(parse_graph_spec(GRAPH).usernames, SEED)
    since, until = date(2025, 2, 1), date(2025, 5, 15)  # 104 days: four windows
    assert len(windows(since, until)) == 4
    cases = [
        (["--hashtag", "dance", "--hashtag", "#music"], build_query(hashtags=["dance", "music"])),
        (
            ["--keyword", "love", "--region", "US", "--region", "GB", "--not-hashtag", "fyp"],
            build_query(keywords=["love"], regions=["US", "GB"], exclude={"hashtag_name": ["fyp"]}),
        ),
    ]
    with emulator_process(tmp_path, "--graph", GRAPH, "--seed", str(SEED)) as emu:
        for args, query in cases:
            before = len([r for r in emu.requests() if r["endpoint"] == "video"])
            done = seeds_from_videos(
                tmp_path, emu.url, *args, "--since", f"{since}", "--until", f"{until}"
            )
            assert done.returncode == 0, done.stderr
            authors, calls = expected(table, query, since, until)
            assert authors
            if args[0] == "--hashtag":  # windows of several pages: cursor and search_id
                assert calls > 4
            assert read_seeds(tmp_path / "seeds.csv") == dict(authors)
            spent = len([r for r in emu.requests() if r["endpoint"] == "video"]) - before
            assert spent == calls
            assert f"{calls:,} calls over 4 windows" in done.stderr
        # The calls are on the machine's quota ledger, in the general bucket crawls read:
        # a search beyond what is left today is refused before any call.
        ledger = sqlite3.connect(tmp_path / "state" / "tiktok-network" / "quota.db")
        used = ledger.execute("SELECT sum(used) FROM quota WHERE bucket = 'info'").fetchone()[0]
        ledger.close()
        assert used == len([r for r in emu.requests() if r["endpoint"] == "video"])
        before = len(emu.requests())
        refused = seeds_from_videos(
            tmp_path, emu.url, "--hashtag", "dance", "--since", "2025-02-01", "--until",
            "2025-02-10", "--info-quota", str(used),
        )  # fmt: skip
        assert refused.returncode != 0 and "general bucket" in refused.stderr, refused.stderr
        assert len(emu.requests()) == before
        # The crawl takes the file as it is.
        crawl = subprocess.run(
            [*CLI, "crawl", "--db", str(tmp_path / "c.db"), "--seeds", str(tmp_path / "seeds.csv"),
             "--max-depth", "0", "--no-export", "--max-users", "3"],
            capture_output=True, text=True, timeout=120, cwd=tmp_path, env=crawl_env(emu.url),
        )  # fmt: skip
        assert crawl.returncode in (0, 75), crawl.stderr
        assert "seeds:" in crawl.stderr


def test_the_emulated_video_query_keeps_its_contract(tmp_path):
    table = VideoTable(parse_graph_spec(GRAPH).usernames, SEED)
    query = build_query(hashtags=["food"], match="any")
    found = table.search(query, "20250101", "20250131")
    times = table.time[found]
    assert len(found) and np.all(np.diff(times) <= 0)  # newest first
    assert np.all(times >= datetime(2025, 1, 1, tzinfo=UTC).timestamp())
    assert np.all(times < (datetime(2025, 1, 31, tzinfo=UTC) + timedelta(days=1)).timestamp())
    with emulator_process(tmp_path, "--graph", GRAPH, "--seed", str(SEED)) as emu:
        too_long = seeds_from_videos(
            tmp_path, emu.url, "--query", '{"and": []}', "--since", "2025-01-01",
            "--until", "2025-01-31", "--max-requests", "1",
        )  # fmt: skip
        assert too_long.returncode == 0, too_long.stderr
        assert "stopped early" in too_long.stderr
        for args, message in (
            (["--query", '{"and": [{"operation": "IN", "field_name": "bogus",'
              ' "field_values": ["x"]}]}'], "Invalid field_name: bogus"),
            (["--hashtag", "x", "--until", "2025-01-01"], "before --since"),
            (["--since", "2025-01-01"], "at least one condition"),
        ):  # fmt: skip
            base = ["--since", "2025-02-01", "--until", "2025-02-10"]
            done = seeds_from_videos(tmp_path, emu.url, *base, *args)
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            assert done.returncode != 0 and len(lines) == 1, done.stderr
            assert message in lines[0] and "Traceback" not in done.stderr


async def test_the_video_query_serves_every_documented_field(serve, small_graph):
    """A published client's default fields (researchtikpy asks for music_id, effect_ids,
    playlist_id and voice_to_text) and the 2025-2026 additions are served, not refused with
    400 invalid_params; a field nobody documented still is."""
    from tiktok_network.api import spec
    from tiktok_network.api.auth import Credentials
    from tiktok_network.api.client import ResearchClient
    from tiktok_network.api.outcomes import Kind

    server = await serve(small_graph)
    query = {"and": [{"operation": "IN", "field_name": "username",
                      "field_values": small_graph.usernames[:300]}]}  # fmt: skip
    researchtikpy = "id,video_description,create_time,region_code,share_count,view_count,"
    researchtikpy += "like_count,comment_count,music_id,hashtag_names,username,effect_ids,"
    researchtikpy += "playlist_id,voice_to_text"
    async with ResearchClient(Credentials("demo-key", "demo-secret"), api_base=server.url) as c:
        for fields in (researchtikpy, ",".join(spec.VIDEO_DOCUMENTED_FIELDS)):
            outcome = await c.video_query(query, "20250101", "20250130", fields=fields)
            assert outcome.kind is Kind.OK, outcome.detail
            assert outcome.videos is not None and outcome.videos.videos
            for video in outcome.videos.videos:
                assert set(video) == set(fields.split(","))
        refused = await c.video_query(query, "20250101", "20250130", fields="id,no_such_field")
        assert refused.kind is not Kind.OK and "no_such_field" in refused.detail
