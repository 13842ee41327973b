"""The engine in-process, against the emulator or a server that misbehaves on purpose."""

from __future__ import annotations

import csv
import json
import sqlite3

from aiohttp import web

from tiktok_network.api.auth import Credentials
from tiktok_network.config import CrawlSettings
from tiktok_network.crawl.engine import Engine
from tiktok_network.export.csvs import export_csvs

CREDS = Credentials("demo-key", "demo-secret")


def settings_for(tmp_path, url: str, **kw) -> CrawlSettings:
    kw.setdefault("max_depth", 0)
    return CrawlSettings(
        api_base=url,
        db=str(tmp_path / "c.db"),
        out=str(tmp_path / "out"),
        retry_base_delay=0.01,
        **kw,
    )


async def test_info_fetches_user_fields_as_node_attributes(tmp_path, serve, small_graph):
    server = await serve(small_graph)
    seeds = small_graph.usernames[:3]
    result = await Engine(settings_for(tmp_path, server.url, info=True), CREDS).run(seeds)
    assert result.exit_code == 0 and result.stats.infos == 3
    export_csvs(tmp_path / "c.db", tmp_path / "out")
    rows = {
        r["username"]: r
        for r in csv.DictReader((tmp_path / "out" / "nodes.csv").open(encoding="utf-8"))
    }
    for name in seeds:
        node = small_graph.user_id(name)
        assert int(rows[name]["follower_count"]) == small_graph.followers.degree(node)
        assert int(rows[name]["following_count"]) == small_graph.following.degree(node)
    assert server.emulator.log.by_endpoint["info"]["200"] == 3


async def test_info_quota_exhaustion_does_not_stop_the_lists(tmp_path, serve, small_graph):
    """The lists go on without the profiles; then the run waits for the info bucket's next
    day (here: exits 75, --on-quota exit) to fetch the profiles it could not."""
    server = await serve(small_graph)
    settings = settings_for(tmp_path, server.url, info=True, info_quota=2, on_quota="exit")
    result = await Engine(settings, CREDS).run(small_graph.usernames[:5])
    assert result.exit_code == 75 and result.reason == "quota" and result.stats.infos == 2
    assert result.stats.users_done[1] == 5


async def test_a_cursor_that_does_not_move_ends_the_list_with_a_warning(tmp_path, caplog):
    calls = []

    async def token(request):
        return web.json_response(
            {"access_token": "clt.x", "expires_in": 7200, "token_type": "Bearer"}
        )

    async def following(request):
        body = await request.json()
        calls.append(body.get("cursor"))
        data = {
            "user_following": [{"username": f"u{len(calls)}", "display_name": "x"}],
            "cursor": 1700000000,
            "has_more": True,
        }
        return web.json_response(
            {"data": data, "error": {"code": "ok", "message": "", "log_id": "l"}}
        )

    app = web.Application()
    app.router.add_post("/v2/oauth/token/", token)
    app.router.add_post("/v2/research/user/following/", following)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    try:
        result = await Engine(settings_for(tmp_path, url), CREDS).run(["stuck_user"])
    finally:
        await runner.cleanup()
    assert result.exit_code == 0
    assert calls == [None, 1700000000]  # the second answer repeats the cursor: stop, do not loop
    assert "cursor did not move" in caplog.text
    conn = sqlite3.connect(tmp_path / "c.db")
    assert conn.execute("SELECT status FROM users WHERE username='stuck_user'").fetchone() == (1,)
    assert conn.execute("SELECT note FROM lists").fetchone()[0].startswith("cursor did not move")
    assert conn.execute("SELECT count(*) FROM edges").fetchone() == (2,)


async def test_raw_responses_keep_provenance(tmp_path, serve, small_graph):
    server = await serve(small_graph)
    user = small_graph.usernames[0]
    await Engine(settings_for(tmp_path, server.url), CREDS).run([user])
    conn = sqlite3.connect(tmp_path / "c.db")
    direction, request, log_id, fetched_at = conn.execute(
        "SELECT direction, request, log_id, fetched_at FROM pages"
    ).fetchone()
    assert direction == "following" and json.loads(request) == {"username": user, "max_count": 100}
    assert len(log_id) == 32 and fetched_at > 1.7e9
    version, api_base = conn.execute("SELECT tool_version, api_base FROM runs").fetchone()
    assert version and api_base == server.url


async def test_a_mode_decides_the_rounds_and_what_the_run_is_recorded_as(
    tmp_path, serve, small_graph
):
    """A mode handed to the engine (here a pilot's info round): the engine runs its rounds
    with no flag of its own; the users get their user info, no list is fetched, and the run
    is recorded as a plan, so it defines no setting of the crawl."""
    from tiktok_network.crawl.modes import InfoRound, Listed
    from tiktok_network.store import stored_settings

    server = await serve(small_graph)
    seeds = small_graph.usernames[:4]
    settings = settings_for(tmp_path, server.url, info=True, max_depth=1)
    result = await Engine(settings, CREDS, mode=InfoRound()).run(seeds)
    assert result.exit_code == 0 and result.stats.infos == 4 and result.stats.pages == 0
    log = server.emulator.log.by_endpoint
    assert log["info"]["200"] == 4 and "following" not in log
    assert stored_settings(settings.db) == {}
    with sqlite3.connect(settings.db) as conn:
        ids = [i for (i,) in conn.execute("SELECT id FROM users WHERE username = ?", (seeds[0],))]
    result = await Engine(settings, CREDS, mode=Listed(ids)).run([])
    assert result.exit_code == 0 and result.stats.pages >= 1
    with sqlite3.connect(settings.db) as conn:
        expanded = {n for (n,) in conn.execute("SELECT username FROM users WHERE status = 1")}
        commands = [json.loads(s)["command"] for (s,) in conn.execute("SELECT settings FROM runs")]
    assert expanded == {seeds[0]} and commands == ["plan", "plan"]
    assert stored_settings(settings.db) == {}
