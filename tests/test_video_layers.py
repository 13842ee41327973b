"""`--layers liked,reposted,pinned`: each expanded account's lists of videos, durable like the
follow lists, on both backends; private lists recorded as such, not failed; purges reach the
authors and mentions these lists bring in.

Kills are triggered by progress (requests the emulator logged), never by the clock."""

from __future__ import annotations

import csv
import json
import signal
import subprocess

import pytest

from tests.crawl_helpers import (
    CLI,
    RequestCounter,
    _query,
    crawl_env,
    emulator_process,
    run_cli,
    run_crawl,
)
from tiktok_network.api import spec
from tiktok_network.config import LAYERS
from tiktok_network.emulator.graph import parse_graph_spec
from tiktok_network.emulator.server import Emulator
from tiktok_network.emulator.settings import EmulatorSettings

GRAPH, SEED = "synthetic:3000,seed=2", 3
LAYER_ARGS = ("--layers", "liked,reposted,pinned")


def truth(expanded: list[str], **settings: object) -> tuple[dict, dict]:
    """What the emulator serves: each (account, layer)'s video ids, and which lists are
    private."""
    graph = parse_graph_spec(GRAPH)
    emulator = Emulator(graph, EmulatorSettings(seed=SEED, **settings))  # type: ignore[arg-type]
    table = emulator.videos
    served, private = {}, {}
    for name in expanded:
        node = graph.user_id(name)
        for layer in LAYERS:
            rows, _ = emulator.layer_list(node, layer)
            private[(name, layer)] = emulator.layer_unavailable(node, layer)
            served[(name, layer)] = (
                set() if private[(name, layer)] else {int(table.ids[i]) for i in rows}
            )
    return served, private


def stored(db, expanded: list[str]) -> dict:
    rows = _query(
        db,
        "SELECT u.username, e.relation, e.video_id FROM video_edges e JOIN users u"
        " ON u.id = e.user_id WHERE e.relation <> 'posted'",
    )
    found: dict = {(n, layer): set() for n in expanded for layer in LAYERS}
    for name, relation, video in rows:
        found[(name, relation)].add(int(video))
    return found


def delete_at_service(emu, ids: list[int]) -> None:
    """The videos' authors delete them: gone from every endpoint of the emulator."""
    import urllib.request

    body = json.dumps({"ids": ids}).encode()
    request = urllib.request.Request(f"{emu.url}/_emulator/delete_videos", data=body)
    urllib.request.urlopen(request, timeout=30).read()


def names_in_crawl(db) -> set[str]:
    return {n for (n,) in _query(db, "SELECT username FROM users")}


def layers_command(tmp_path, url, db_args, *args) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, "videos", *(db_args or ("--db", str(tmp_path / "crawl.db"))),
         "--since", "2025-01-01", "--until", "2025-01-30", "--concurrency", "2",
         "--retry-base-delay", "0.01", "--lease", "2", *LAYER_ARGS, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env=crawl_env(url, XDG_STATE_HOME=str(tmp_path / "state")),
    )  # fmt: skip


def test_the_layers_are_the_lists_in_config_and_spec():
    """--layers names the spec's lists, in their order, and nothing else (one-line error)."""
    from tiktok_network.config import PARSERS

    assert tuple(spec.VIDEO_LISTS) == LAYERS
    assert PARSERS["layers"]("pinned, LIKED") == "liked,pinned"
    assert PARSERS["layers"]("none") == ""
    with pytest.raises(ValueError, match="saved: the layers are liked, reposted, pinned"):
        PARSERS["layers"]("liked,saved")


def test_lists_of_videos_are_collected_exactly_through_a_kill(tmp_path, crawl_db):
    """Every expanded account's liked, reposted and pinned videos, exactly as served, after a
    kill -9 mid-collection: the three cursors (a time, an index, none) each walked; a private
    list is one `hidden` record with no failure; every call is in the general budget; a
    rerun once complete asks for nothing."""
    graph = parse_graph_spec(GRAPH)
    with emulator_process(tmp_path, "--graph", GRAPH, "--seed", str(SEED)) as emu:
        done = run_crawl(
            tmp_path, emu.url, "--max-depth", "1", *crawl_db.args, *graph.usernames[:2]
        )
        assert done.returncode == 0, done.stderr
        db = crawl_db.target
        expanded = [n for (n,) in _query(db, "SELECT username FROM users WHERE status = 1")]
        served, private = truth(expanded)
        assert len(expanded) > 20 and sum(map(len, served.values())) > 100
        assert any(private.values()) and not all(private.values())
        counter = RequestCounter(emu.log)
        before = counter.count()
        first = layers_command(tmp_path, emu.url, crawl_db.args)
        counter.wait_for(before + 40, first)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
        assert _query(db, "SELECT count(*) FROM video_edges WHERE relation <> 'posted'")[0][0] > 0
        second = layers_command(tmp_path, emu.url, crawl_db.args)
        out, err = second.communicate(timeout=300)
        assert second.returncode == 0, err
        assert stored(db, expanded) == served
        states = dict(
            ((r, s), n)
            for r, s, n in _query(
                db,
                "SELECT relation, state, count(*) FROM video_units WHERE relation <> 'posted'"
                " GROUP BY relation, state",
            )
        )
        for layer in ("liked", "reposted"):
            hidden = sum(private[(n, layer)] for n in expanded)
            assert states.get((layer, "hidden"), 0) == hidden > 0
        assert states[("pinned", "complete")] == len(expanded)
        assert _query(db, "SELECT count(*) FROM video_units WHERE done = 0")[0][0] == 0
        # the general bucket counted every list call (and the query's), the follow one none
        calls = emu.requests()
        layer_calls = [r for r in calls if r["endpoint"] in LAYERS]
        assert layer_calls and all(r["status"] in (200, 400) for r in layer_calls)
        general = sum(
            used["info"]
            for days in emu.stats()["quota"].values()
            for used in days.values()
            if "info" in used
        )
        assert general == len([r for r in calls if r["endpoint"] in ("info", "video", *LAYERS)])
        # a private list is said in status, not as a failure
        status = run_cli(tmp_path, emu.url, "status", db_args=crawl_db.args)
        assert status.returncode == 0, status.stderr
        assert "liked videos:" in status.stdout and "private" in status.stdout
        again = layers_command(tmp_path, emu.url, crawl_db.args)
        _, err = again.communicate(timeout=120)
        assert again.returncode == 0, err
        assert len([r for r in emu.requests() if r["endpoint"] in LAYERS]) == len(layer_calls)


def test_crawl_with_layers_then_purge_reaches_authors_and_mentions(tmp_path):
    """`crawl --layers liked` collects the lists once the graph is walked; the pinned key the
    docs disagree on is read either way; a purged account leaves no video it wrote (crawled or
    not), no mention, no edge, in the store and in a rewritten export."""
    graph = parse_graph_spec(GRAPH)
    db = tmp_path / "crawl.db"
    with emulator_process(
        tmp_path, "--graph", GRAPH, "--seed", str(SEED), "--pinned-key", "user_pinned_videos"
    ) as emu:
        done = run_crawl(
            tmp_path, emu.url, "--max-depth", "1", "--layers", "liked,pinned", *graph.usernames[:2]
        )
        assert done.returncode == 0, done.stderr
        expanded = [n for (n,) in _query(db, "SELECT username FROM users WHERE status = 1")]
        served, _ = truth(expanded, pinned_key="user_pinned_videos")
        got = stored(db, expanded)
        for key in served:
            if key[1] != "reposted":
                assert got[key] == served[key], key
        assert any(got[(n, "pinned")] for n in expanded)
        exported = run_cli(
            tmp_path, emu.url, "export", "--format", "videos", "--out", str(tmp_path / "out")
        )
        assert exported.returncode == 0, exported.stderr
    # what accounts talk about is what they posted: no liked video's author or tag counts
    posters = {
        n
        for (n,) in _query(
            db,
            "SELECT DISTINCT u.username FROM video_edges e JOIN users u ON u.id = e.user_id"
            " WHERE e.relation = 'posted'",
        )
    }
    tagged = list(csv.DictReader((tmp_path / "out" / "account_hashtags.csv").open()))
    assert {r["username"] for r in tagged} <= posters  # none: `videos` was not run here
    assert any(
        r["username"] not in names_in_crawl(db)
        for r in csv.DictReader((tmp_path / "out" / "videos.csv").open())
    )  # a liked video by an account the crawl never met is kept, under its author's name
    # accounts of the crawl that wrote a video someone else liked, and that a video mentions
    author = _query(
        db,
        "SELECT v.author FROM videos v JOIN video_edges e ON e.video_id = v.id"
        " WHERE e.relation = 'liked' AND v.author_id IS NOT NULL ORDER BY v.id LIMIT 1",
    )[0][0]
    names = {n for (n,) in _query(db, "SELECT username FROM users")}
    victim = next(
        m
        for (ms,) in _query(db, "SELECT mentions FROM videos WHERE mentions <> '' ORDER BY id")
        for m in ms.split("|")
        if m in names
    )
    from tests.test_niches import _purge

    for name in {author, victim}:
        _purge(db, name)
    gone = _query(db, f"SELECT count(*) FROM videos WHERE author IN ('{author}', '{victim}')")[0][0]
    assert gone == 0
    mentions = [m for (m,) in _query(db, "SELECT mentions FROM videos") if m]
    assert all(victim not in m.split("|") for m in mentions)
    # every output written before is rewritten without them
    from tiktok_network.export.outputs import rewrite_recorded

    assert {what for _, what in rewrite_recorded(db)} == {"rewritten"}
    for path in (tmp_path / "out").rglob("*"):
        if path.suffix in (".csv", ".gexf", ".json"):
            text = path.read_text(encoding="utf-8")
            assert author not in text and victim not in text, path


def test_refresh_videos_deletes_what_the_service_no_longer_lists_through_a_kill(tmp_path, crawl_db):
    """`refresh --videos`: the videos last confirmed before the window go into a batch
    compliance task; killed while the task runs, the rerun asks the same task (one create in
    all); the videos deleted at the service leave the store, their edges and the outputs, the
    deletion is audited (a count, no id), the rest are confirmed and not asked again."""
    graph = parse_graph_spec(GRAPH)
    with emulator_process(
        tmp_path, "--graph", GRAPH, "--seed", str(SEED), "--compliance-polls", "2"
    ) as emu:
        done = run_crawl(
            tmp_path, emu.url, "--max-depth", "1", *crawl_db.args, *graph.usernames[:2]
        )
        assert done.returncode == 0, done.stderr
        first = layers_command(tmp_path, emu.url, crawl_db.args)
        _, err = first.communicate(timeout=300)
        assert first.returncode == 0, err
        exported = run_cli(
            tmp_path, emu.url, "export", "--format", "videos", "--out", str(tmp_path / "out"),
            db_args=crawl_db.args,
        )  # fmt: skip
        assert exported.returncode == 0, exported.stderr
        db = crawl_db.target
        ids = [int(i) for (i,) in _query(db, "SELECT id FROM videos ORDER BY id")]
        doomed = ids[::7]
        delete_at_service(emu, doomed)

        def refresh(window: str = "0s") -> subprocess.Popen[str]:
            return subprocess.Popen(
                [*CLI, "refresh", *(crawl_db.args or ("--db", str(db))), "--videos", "--older-than", window,
                 "--retry-base-delay", "0.01"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                env=crawl_env(emu.url, XDG_STATE_HOME=str(tmp_path / "state")),
            )  # fmt: skip

        counter = RequestCounter(emu.log)
        counter.count()
        killed = refresh()
        while not [r for r in emu.requests() if r["endpoint"].startswith("compliance")][1:]:
            counter.wait_for(counter.count() + 1, killed)  # the create, then a status call
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=60)
        assert _query(db, "SELECT count(*) FROM video_checks WHERE task_id IS NOT NULL")[0][0] == 1
        second = refresh()
        _, err = second.communicate(timeout=300)
        assert second.returncode == 0, err
        left = {int(i) for (i,) in _query(db, "SELECT id FROM videos")}
        assert left == set(ids) - set(doomed)
        assert _query(db, "SELECT count(*) FROM video_edges WHERE video_id NOT IN"
                      " (SELECT id FROM videos)")[0][0] == 0  # fmt: skip
        assert _query(db, "SELECT count(*) FROM videos WHERE checked_at IS NULL")[0][0] == 0
        compliance = [r for r in emu.requests() if r["endpoint"].startswith("compliance")]
        steps = [r["endpoint"] for r in compliance]
        assert steps.count("compliance-create") == 1 and steps[-1] == "compliance-download"
        (removed,) = _query(db, "SELECT removed FROM audit WHERE tombstone = 'videos'")[0]
        assert json.loads(removed)["videos_deleted"] == len(doomed)
        assert str(doomed[0]) not in removed
        rows = list(csv.DictReader((tmp_path / "out" / "videos.csv").read_text().splitlines()))
        assert {int(r["id"]) for r in rows} == left
        # confirmed now: a refresh whose window holds that moment checks nothing
        third = refresh("1d")
        _, err = third.communicate(timeout=300)
        assert third.returncode == 0, err
        again = [r for r in emu.requests() if r["endpoint"].startswith("compliance")]
        assert len(again) == len(compliance)


def test_refresh_videos_stopped_by_the_quota_goes_on_with_the_same_task(tmp_path, crawl_db):
    """The general bucket runs out while the task runs (`--on-quota exit`: exit 75): the next
    runs, on later quota days, ask the same task (one create in all) and end with exactly the
    deletions made at the service."""
    graph = parse_graph_spec(GRAPH)
    day, quota = 2.0, 14
    db_args = crawl_db.args or ("--db", str(tmp_path / "crawl.db"))
    with emulator_process(
        tmp_path, "--graph", GRAPH, "--seed", str(SEED), "--info-quota", str(quota),
        "--day-seconds", str(day),
    ) as emu:  # fmt: skip
        done = run_crawl(tmp_path, emu.url, "--max-depth", "0", *crawl_db.args,
                         *graph.usernames[:12])  # fmt: skip
        assert done.returncode == 0, done.stderr
        quota_args = ("--info-quota", str(quota), "--day-seconds", str(day))
        for _ in range(30):  # the collection itself may need more than one day
            done = run_cli(tmp_path, emu.url, "videos", "--since", "2025-01-01", "--until",
                           "2025-01-30", "--layers", "liked", "--on-quota", "exit", *quota_args,
                           db_args=db_args)  # fmt: skip
            if done.returncode == 0:
                break
            assert done.returncode == 75, done.stderr
        db = crawl_db.target
        ids = [int(i) for (i,) in _query(db, "SELECT id FROM videos ORDER BY id")]
        assert len(ids) > 5
        doomed = ids[::3]
        delete_at_service(emu, doomed)
        codes = []
        for _ in range(30):
            done = run_cli(tmp_path, emu.url, "refresh", "--videos", "--older-than", "0s",
                           "--on-quota", "exit", *quota_args, db_args=db_args)  # fmt: skip
            codes.append(done.returncode)
            if done.returncode == 0:
                break
            assert done.returncode == 75, done.stderr
        assert codes[0] == 75 and codes[-1] == 0, codes
        creates = [r for r in emu.requests() if r["endpoint"] == "compliance-create"]
    assert {int(i) for (i,) in _query(db, "SELECT id FROM videos")} == set(ids) - set(doomed)
    assert _query(db, "SELECT count(*), count(task_id) FROM video_checks")[0] == (1, 1)
    assert len(creates) == 1  # every later call asked the task the first run made


def test_refresh_videos_makes_the_task_again_when_the_service_forgot_it(tmp_path, crawl_db):
    """A run killed while its task ran; the service restarted meanwhile and no longer knows
    the task: the rerun's status call is refused, it makes the task again (one create at each
    service) and ends with exactly the deletions."""
    graph = parse_graph_spec(GRAPH)
    db_args = crawl_db.args or ("--db", str(tmp_path / "crawl.db"))
    service = ("--graph", GRAPH, "--seed", str(SEED))
    # the first service's task stays "processing": the kill lands while it runs, however slow
    with emulator_process(tmp_path, *service, "--compliance-polls", "50") as emu:
        done = run_crawl(tmp_path, emu.url, "--max-depth", "0", *crawl_db.args,
                         *graph.usernames[:12])  # fmt: skip
        assert done.returncode == 0, done.stderr
        done = run_cli(tmp_path, emu.url, "videos", "--since", "2025-01-01", "--until",
                       "2025-01-30", "--layers", "liked", db_args=db_args)  # fmt: skip
        assert done.returncode == 0, done.stderr
        db = crawl_db.target
        ids = [int(i) for (i,) in _query(db, "SELECT id FROM videos ORDER BY id")]
        doomed = ids[::4]
        delete_at_service(emu, doomed)
        port = emu.port
        command = [*CLI, "refresh", *db_args, "--videos", "--older-than", "0s",
                   "--retry-base-delay", "0.01"]  # fmt: skip
        killed = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
            env=crawl_env(emu.url, XDG_STATE_HOME=str(tmp_path / "state")),
        )  # fmt: skip
        counter = RequestCounter(emu.log)
        while "compliance-status" not in [r["endpoint"] for r in emu.requests()]:
            counter.wait_for(counter.count() + 1, killed)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=60)
        first_creates = [r for r in emu.requests() if r["endpoint"] == "compliance-create"]
    assert _query(db, "SELECT count(task_id) FROM video_checks")[0][0] == 1
    with emulator_process(tmp_path, *service, "--compliance-polls", "1", port=port) as emu:
        delete_at_service(emu, doomed)
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=300, cwd=tmp_path,
            env=crawl_env(emu.url, XDG_STATE_HOME=str(tmp_path / "state")),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        steps = [r["endpoint"] for r in emu.requests() if r["endpoint"].startswith("compliance")]
    assert len(first_creates) == 1 and steps.count("compliance-create") == 1
    assert steps[0] == "compliance-status" and steps[-1] == "compliance-download"
    assert {int(i) for (i,) in _query(db, "SELECT id FROM videos")} == set(ids) - set(doomed)
