"""The emulator over real HTTP: envelopes, tokens, lists, info, accounts, quirks, quotas, faults."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import Counter

import aiohttp

from tests.conftest import WIKI_VOTE, graph_text
from tiktok_network.emulator.graph import FollowGraph
from tiktok_network.emulator.settings import ErrorTriple

FOLLOWING = "/v2/research/user/following/"
FOLLOWERS = "/v2/research/user/followers/"
INFO = "/v2/research/user/info/"


def wiki_edges() -> set[tuple[str, str]]:
    edges = set()
    for line in graph_text(WIKI_VOTE).splitlines():
        if line and not line.startswith("#"):
            a, b = line.split()
            edges.add((a, b))
    return edges


# ------------------------------------------------------------------------------ token
async def test_token_issues_clt_bearer_tokens(serve, api, small_graph):
    client = api(await serve(small_graph))
    body = await client.authenticate()
    assert body["access_token"].startswith("clt.")
    assert body["expires_in"] == 7200 and body["token_type"] == "Bearer"


async def test_token_errors_are_flat_oauth_bodies_with_settable_status(serve, api, small_graph):
    server = await serve(small_graph)
    client = api(server)
    bad = await client.authenticate(secret="wrong")
    assert bad["error"] == "invalid_client" and "access_token" not in bad and bad["log_id"]
    async with client.http.post(
        f"{server.url}/v2/oauth/token/", data={"client_key": "demo-key"}
    ) as r:
        assert r.status == 200
        assert (await r.json())["error"] == "invalid_request"
    async with client.http.post(
        f"{server.url}/v2/oauth/token/",
        data={"client_key": "demo-key", "client_secret": "demo-secret", "grant_type": "password"},
    ) as r:
        assert (await r.json())["error"] == "unsupported_grant_type"
    strict = api(await serve(small_graph, oauth_error_status=401))
    async with strict.http.post(
        f"{strict.base}/v2/oauth/token/",
        data={"client_key": "x", "client_secret": "y", "grant_type": "client_credentials"},
    ) as r:
        assert r.status == 401 and (await r.json())["error"] == "invalid_client"


async def test_research_calls_need_a_live_bearer_token(serve, api, small_graph):
    server = await serve(small_graph, token_ttl=0.5)
    client = api(server)
    user = small_graph.usernames[0]
    status, body = await client.post(FOLLOWING, {"username": user}, token="")
    assert status == 401 and body["error"]["code"] == "access_token_invalid"
    status, body = await client.post(FOLLOWING, {"username": user}, token="clt.forged")
    assert status == 401
    await client.authenticate()
    assert (await client.post(FOLLOWING, {"username": user}))[0] == 200
    await asyncio.sleep(0.6)
    status, body = await client.post(FOLLOWING, {"username": user})
    assert status == 401 and body["error"]["code"] == "access_token_invalid"


async def test_revoke_every_invalidates_live_tokens(serve, api, small_graph):
    client = api(await serve(small_graph, revoke_every=0.3))
    await client.authenticate()
    user = small_graph.usernames[0]
    assert (await client.post(FOLLOWING, {"username": user}))[0] == 200
    await asyncio.sleep(0.45)
    assert (await client.post(FOLLOWING, {"username": user}))[0] == 401


async def test_scope_not_authorized_switch(serve, api, small_graph):
    client = api(await serve(small_graph, scope_not_authorized=True))
    await client.authenticate()
    status, body = await client.post(FOLLOWING, {"username": small_graph.usernames[0]})
    assert status == 401 and body["error"]["code"] == "scope_not_authorized"


# ----------------------------------------------------------------------- follow lists
async def test_page_shape_defaults_and_max_count_bounds(serve, api, small_graph):
    client = api(await serve(small_graph))
    await client.authenticate()
    hub = max(range(small_graph.n_users), key=small_graph.following.degree)
    user = small_graph.usernames[hub]
    status, body = await client.post(FOLLOWING, {"username": user})
    assert status == 200
    assert body["error"]["code"] == "ok" and body["error"]["message"] == ""
    assert len(body["error"]["log_id"]) == 32 and body["error"]["log_id"][:8].isdigit()
    data = body["data"]
    assert len(data["user_following"]) == 20 and data["has_more"] is True
    assert set(data["user_following"][0]) == {"display_name", "username"}
    for bad in (0, 101, -5, "ten", 2.5):
        status, body = await client.post(FOLLOWING, {"username": user, "max_count": bad})
        assert status == 400 and body["error"]["code"] == "invalid_params", bad
    status, body = await client.post(FOLLOWING, {"username": user, "max_count": 100})
    assert len(body["data"]["user_following"]) == 100


async def test_missing_null_and_zero_cursor_all_mean_now(serve, api, small_graph):
    client = api(await serve(small_graph))
    await client.authenticate()
    user = small_graph.usernames[1]
    pages = [
        (await client.post(FOLLOWERS, body))[1]["data"]
        for body in (
            {"username": user},
            {"username": user, "cursor": None},
            {"username": user, "cursor": 0},
        )
    ]
    assert pages[0] == pages[1] == pages[2]


async def test_lists_are_newest_first_and_cursor_is_at_or_before(serve, api, small_graph):
    client = api(await serve(small_graph))
    await client.authenticate()
    node = max(range(small_graph.n_users), key=small_graph.followers.degree)
    targets, times = small_graph.followers.row(node)
    assert all(times[i] > times[i + 1] for i in range(len(times) - 1))
    user = small_graph.usernames[node]
    _, body = await client.post(
        FOLLOWERS, {"username": user, "max_count": 5, "cursor": int(times[7])}
    )
    got = [item["username"] for item in body["data"]["user_followers"]]
    assert got == [small_graph.usernames[int(t)] for t in targets[7:12]]


async def test_cursor_walk_over_wiki_vote_returns_exactly_the_file_edges(serve, api, wiki_vote):
    client = api(await serve(wiki_vote))
    await client.authenticate()
    users = wiki_vote.usernames
    sem = asyncio.Semaphore(16)

    async def walk(endpoint: str, user: str) -> list[str]:
        async with sem:
            return await client.walk(endpoint, user)

    following = await asyncio.gather(*(walk("following", u) for u in users))
    followers = await asyncio.gather(*(walk("followers", u) for u in users))
    out_edges = [(u, v) for u, vs in zip(users, following, strict=True) for v in vs]
    in_edges = [(u, v) for v, us in zip(users, followers, strict=True) for u in us]
    expected = wiki_edges()
    assert len(out_edges) == len(expected) == 103689
    assert set(out_edges) == expected
    assert len(in_edges) == len(expected) and set(in_edges) == expected


async def test_undirected_graph_serves_each_pair_as_mutual_follow(tmp_path, serve, api):
    from tiktok_network.emulator.graph import load_edge_list

    path = tmp_path / "konect.txt"
    path.write_text("% sym unweighted\n% 3 3 3\n1 2 \n2 3  \n3 1\n")
    graph = load_edge_list(path, undirected=True)
    assert graph.n_edges == 6
    client = api(await serve(graph))
    await client.authenticate()
    assert sorted(await client.walk("following", "1")) == ["2", "3"]
    assert sorted(await client.walk("followers", "1")) == ["2", "3"]


# -------------------------------------------------------------------------- user info
async def test_user_info_returns_only_requested_fields_and_graph_counts(serve, api, small_graph):
    client = api(await serve(small_graph))
    await client.authenticate()
    node = 7
    user = small_graph.usernames[node]
    status, body = await client.post(
        f"{INFO}?fields=display_name,follower_count,following_count", {"username": user}
    )
    assert status == 200
    assert set(body["data"]) == {"display_name", "follower_count", "following_count"}
    assert body["data"]["follower_count"] == small_graph.followers.degree(node)
    assert body["data"]["following_count"] == small_graph.following.degree(node)
    fields = "display_name,bio_description,avatar_url,is_verified,follower_count,following_count,likes_count,video_count,open_id,is_private"
    status, body = await client.post(f"{INFO}?fields={fields}", {"username": user})
    assert set(body["data"]) == set(fields.split(","))
    status, body = await client.post(f"{INFO}?fields=display_name,shoe_size", {"username": user})
    assert status == 400 and body["error"]["code"] == "invalid_params"
    status, body = await client.post(INFO, {"username": user})
    assert status == 400


# ---------------------------------------------------------------- inaccessible accounts
async def test_refused_missing_and_unknown_accounts_get_the_default_triples(
    serve, api, small_graph
):
    missing = small_graph.usernames[3]
    server = await serve(small_graph, refused_fraction=0.2, missing=frozenset({missing}))
    client = api(server)
    await client.authenticate()
    refused = [u for i, u in enumerate(small_graph.usernames) if server.emulator.refused[i]]
    assert 0.15 < len(refused) / small_graph.n_users < 0.25
    status, body = await client.post(FOLLOWING, {"username": refused[0]})
    assert (status, body["error"]["code"]) == (400, "invalid_params")
    assert body["error"]["message"] == "API cannot return this user's information"
    for user in (missing, "no_such_user_xyz"):
        status, body = await client.post(FOLLOWING, {"username": user})
        assert (status, body["error"]["code"]) == (400, "invalid_params")
        assert (
            "cannot find the user" in body["error"]["message"] and user in body["error"]["message"]
        )


async def test_error_triples_can_be_replaced(serve, api, small_graph):
    client = api(
        await serve(
            small_graph,
            refused_fraction=1.0,
            refused=ErrorTriple(403, "forbidden", "cannot be accessed"),
            not_found=ErrorTriple(500, "internal_error", "{username} does not exist"),
        )
    )
    await client.authenticate()
    status, body = await client.post(FOLLOWING, {"username": small_graph.usernames[0]})
    assert (status, body["error"]["code"]) == (403, "forbidden")
    status, body = await client.post(FOLLOWING, {"username": "ghost"})
    assert (status, body["error"]["message"]) == (500, "ghost does not exist")


# ------------------------------------------------------------------------------ quirks
async def test_short_pages_keep_has_more_and_the_walk_complete(serve, api, small_graph):
    client = api(await serve(small_graph, short_pages=0.5))
    await client.authenticate()
    node = max(range(small_graph.n_users), key=small_graph.followers.degree)
    user = small_graph.usernames[node]
    short = 0
    cursor = None
    seen: list[str] = []
    while True:
        _, body = await client.post(
            FOLLOWERS, {"username": user, "max_count": 100, "cursor": cursor}
        )
        data = body["data"]
        seen += [i["username"] for i in data["user_followers"]]
        if not data["has_more"]:
            break
        short += len(data["user_followers"]) < 100
        cursor = data["cursor"]
    assert short >= 1
    assert sorted(seen) == sorted(
        small_graph.usernames[int(t)] for t in small_graph.followers.row(node)[0]
    )


async def test_empty_ok_page_may_omit_the_list_key(serve, api):
    import numpy as np

    graph = FollowGraph(["aa", "bb", "cc"], np.array([0, 1]), np.array([1, 2]))
    user = "cc"  # follows nobody
    for omit in (False, True):
        client = api(await serve(graph, omit_empty_list=omit))
        await client.authenticate()
        status, body = await client.post(FOLLOWING, {"username": user})
        assert status == 200 and body["data"]["has_more"] is False
        assert ("user_following" in body["data"]) is (not omit)


async def test_same_second_repeats_duplicate_boundary_entries_only(serve, api, small_graph):
    client = api(await serve(small_graph, same_second_repeats=1.0))
    await client.authenticate()
    node = max(range(small_graph.n_users), key=small_graph.followers.degree)
    got = await client.walk("followers", small_graph.usernames[node])
    truth = [small_graph.usernames[int(t)] for t in small_graph.followers.row(node)[0]]
    pages = math.ceil(len(truth) / 100)
    assert len(got) == len(truth) + pages - 1  # one repeat per page boundary
    assert set(got) == set(truth)


async def test_followers_cap_and_public_only(serve, api, small_graph):
    node = max(range(small_graph.n_users), key=small_graph.followers.degree)
    user = small_graph.usernames[node]
    client = api(await serve(small_graph, followers_cap=150))
    await client.authenticate()
    assert len(await client.walk("followers", user)) == 150
    server = await serve(small_graph, private_fraction=0.3, followers_public_only=True)
    client = api(server)
    await client.authenticate()
    got = await client.walk("followers", user)
    truth = [int(t) for t in small_graph.followers.row(node)[0]]
    assert got == [small_graph.usernames[t] for t in truth if not server.emulator.private[t]]
    assert len(got) < len(truth)


async def test_hidden_following_lists_leave_followers_served(serve, api, small_graph):
    """--hidden-following: a share of accounts hide whom they follow; their followers are
    still served. The answer is a guessed 400 (undocumented) or, on request, an empty page."""
    from tiktok_network.api import spec

    server = await serve(small_graph, hidden_following=0.3, seed=4)
    client = api(server)
    await client.authenticate()
    hidden = server.emulator.hidden_following
    assert 0.25 < hidden.mean() < 0.35
    sample = [u for u in range(200) if small_graph.following.degree(u) > 0][:60]
    for node in sample:
        user = small_graph.usernames[node]
        status, body = await client.post(FOLLOWING, {"username": user, "max_count": 100})
        if hidden[node]:
            assert status == 400 and body["error"]["code"] == spec.INVALID_PARAMS
            assert body["error"]["message"] == spec.HIDDEN_FOLLOWING_MESSAGE
        else:
            assert status == 200
        followers = await client.walk("followers", user)
        assert len(followers) == small_graph.followers.degree(node)
    assert any(hidden[n] for n in sample) and not all(hidden[n] for n in sample)
    from tiktok_network.emulator.settings import parse_hidden_response

    quiet = await serve(
        small_graph,
        hidden_following=0.3,
        seed=4,
        hidden_following_response=parse_hidden_response("empty"),
    )
    client = api(quiet)
    await client.authenticate()
    node = next(n for n in sample if hidden[n])
    assert await client.walk("following", small_graph.usernames[node]) == []


async def test_profile_counts_drift_from_the_lists_and_bio_url_is_served(serve, api, small_graph):
    fields = "follower_count,following_count,bio_url"
    users = [u for u in range(300) if small_graph.followers.degree(u) >= 20][:40]
    exact = api(await serve(small_graph))
    drifting = api(await serve(small_graph, count_drift=0.2, seed=9))
    for client in (exact, drifting):
        await client.authenticate()
    off = 0
    for node in users:
        user = small_graph.usernames[node]
        body = {"username": user}
        _, plain = await exact.post(f"{INFO}?fields={fields}", body)
        _, drifted = await drifting.post(f"{INFO}?fields={fields}", body)
        true_in, true_out = small_graph.followers.degree(node), small_graph.following.degree(node)
        assert plain["data"]["follower_count"] == true_in
        assert plain["data"]["following_count"] == true_out
        assert isinstance(plain["data"]["bio_url"], str)
        reported = drifted["data"]["follower_count"]
        assert abs(reported - true_in) <= 0.2 * true_in + 1
        off += reported != true_in
    assert off > len(users) // 2


# ------------------------------------------------------------------------------ quotas
async def test_follow_quota_is_shared_and_exhaustion_gives_429(serve, api, small_graph):
    client = api(await serve(small_graph, follow_quota=5, info_quota=2))
    await client.authenticate()
    user = small_graph.usernames[0]
    for path in (FOLLOWING, FOLLOWERS, FOLLOWING, FOLLOWERS, FOLLOWING):
        assert (await client.post(path, {"username": user}))[0] == 200
    status, body = await client.post(FOLLOWERS, {"username": user})
    assert status == 429 and body["error"]["code"] == "daily_quota_limit_exceeded"
    info = f"{INFO}?fields=display_name"
    assert (await client.post(info, {"username": user}))[0] == 200
    assert (await client.post(info, {"username": user}))[0] == 200
    assert (await client.post(info, {"username": user}))[0] == 429
    stats = await client.stats()
    (day_usage,) = stats["quota"]["demo-key"].values()
    assert day_usage == {"follow": 5, "info": 2}


async def test_separate_follow_quotas_and_per_client_accounting(serve, api, small_graph):
    client = api(
        await serve(
            small_graph, follow_quota=2, separate_follow_quotas=True, clients={"a": "1", "b": "2"}
        )
    )
    user = small_graph.usernames[0]
    await client.authenticate("a", "1")
    for path in (FOLLOWING, FOLLOWING, FOLLOWERS, FOLLOWERS):
        assert (await client.post(path, {"username": user}))[0] == 200
    assert (await client.post(FOLLOWING, {"username": user}))[0] == 429
    await client.authenticate("b", "2")
    assert (await client.post(FOLLOWING, {"username": user}))[0] == 200


async def test_failed_requests_count_unless_told_otherwise(serve, api, small_graph):
    for counts, expected in ((True, 429), (False, 200)):
        client = api(await serve(small_graph, follow_quota=2, failed_requests_count=counts))
        await client.authenticate()
        await client.post(FOLLOWING, {"username": "ghost_user"})
        await client.post(FOLLOWING, {"username": "ghost_user"})
        assert (await client.post(FOLLOWING, {"username": small_graph.usernames[0]}))[0] == expected


async def test_quota_resets_at_the_emulated_midnight(serve, api, small_graph):
    day = 1.0
    # Start just after a day boundary so the exhaustion and the reset both happen in this test.
    await asyncio.sleep(day - (time.time() % day) + 0.05)
    client = api(await serve(small_graph, follow_quota=3, day_seconds=day))
    await client.authenticate()
    user = small_graph.usernames[0]
    codes = [(await client.post(FOLLOWING, {"username": user}))[0] for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    await asyncio.sleep(day - (time.time() % day) + 0.05)
    assert (await client.post(FOLLOWING, {"username": user}))[0] == 200
    assert len((await client.stats())["quota"]["demo-key"]) == 2


async def test_short_term_rate_limit(serve, api, small_graph):
    client = api(await serve(small_graph, qps=5))
    await client.authenticate()
    user = small_graph.usernames[0]
    codes = [(await client.post(FOLLOWING, {"username": user}))[0] for _ in range(8)]
    assert codes[:5] == [200] * 5 and set(codes[5:]) == {429}
    status, body = await client.post(FOLLOWING, {"username": user})
    assert body["error"]["code"] == "rate_limit_exceeded"
    await asyncio.sleep(1.05)
    assert (await client.post(FOLLOWING, {"username": user}))[0] == 200


# ------------------------------------------------------------------- latency and faults
async def test_latency_is_added(serve, api, small_graph):
    client = api(await serve(small_graph, latency=(0.05, 0.0)))
    await client.authenticate()
    start = time.perf_counter()
    for _ in range(5):
        await client.post(FOLLOWING, {"username": small_graph.usernames[0]})
    assert time.perf_counter() - start >= 0.25


async def _fault_sequence(serve, api, graph: FollowGraph, seed: int, n: int) -> list[str]:
    faults = {
        "500": 0.10,
        "500-empty": 0.05,
        "504-html": 0.05,
        "truncated": 0.05,
        "cursor-400": 0.05,
        "reset": 0.05,
    }
    server = await serve(graph, faults=faults, seed=seed)
    client = api(server)
    await client.authenticate()
    kinds = []
    for i in range(n):
        body = {"username": graph.usernames[i % graph.n_users], "max_count": 100}
        try:
            async with client.http.post(
                f"{server.url}{FOLLOWING}",
                json=body,
                headers={"Authorization": f"Bearer {client.token}"},
            ) as resp:
                raw = await resp.read()
        except aiohttp.ClientError:
            kinds.append("reset")
            continue
        if resp.status == 504:
            assert resp.content_type == "text/html" and raw.startswith(b"<html>")
            kinds.append("504-html")
        elif resp.status == 500:
            kinds.append("500" if json.loads(raw)["error"]["message"] else "500-empty")
        elif resp.status == 400:
            assert json.loads(raw)["error"]["message"] == "Invalid count or cursor"
            kinds.append("cursor-400")
        else:
            try:
                json.loads(raw)
                kinds.append("ok")
            except ValueError:
                kinds.append("truncated")
    assert Counter(kinds) == Counter(
        {k: v for k, v in server.emulator.log.faults.items()} | {"ok": kinds.count("ok")}
    )
    return kinds


async def test_faults_occur_at_their_rates_and_replay_with_the_seed(serve, api, small_graph):
    n = 2000
    first = await _fault_sequence(serve, api, small_graph, seed=11, n=n)
    counts = Counter(first)
    for kind, p in {
        "500": 0.10,
        "500-empty": 0.05,
        "504-html": 0.05,
        "truncated": 0.05,
        "cursor-400": 0.05,
        "reset": 0.05,
    }.items():
        sd = math.sqrt(n * p * (1 - p))
        assert abs(counts[kind] - n * p) < 4 * sd, (kind, counts[kind])
    assert await _fault_sequence(serve, api, small_graph, seed=11, n=n) == first
    assert await _fault_sequence(serve, api, small_graph, seed=12, n=n) != first


# -------------------------------------------------------------- request log and stats
async def test_request_log_and_stats_count_every_request(tmp_path, serve, api, small_graph):
    log = tmp_path / "requests.jsonl"
    server = await serve(small_graph, request_log=str(log))
    client = api(server)
    await client.authenticate()
    await client.post(FOLLOWING, {"username": small_graph.usernames[0], "max_count": 10})
    await client.post(FOLLOWERS, {"username": "ghost"})
    await client.post(FOLLOWING, {"username": small_graph.usernames[0]}, token="bad")
    stats = await client.stats()
    assert stats["requests"]["following"] == {"200": 1, "401": 1}
    assert stats["requests"]["followers"] == {"400": 1}
    await server.stop()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [entry["endpoint"] for entry in lines] == [
        "token",
        "following",
        "followers",
        "following",
    ]
    first = lines[1]
    assert first["client"] == "demo-key" and first["username"] == small_graph.usernames[0]
    assert first["status"] == 200 and first["items"] == min(10, small_graph.following.degree(0))
    assert set(first) >= {
        "time",
        "client",
        "endpoint",
        "username",
        "cursor",
        "status",
        "error_code",
        "items",
    }
    assert lines[2]["error_code"] == "invalid_params"


# ------------------------------------------------------------------------- bad input
async def test_bad_bodies_get_invalid_params_and_content_type_is_not_enforced(
    serve, api, small_graph
):
    server = await serve(small_graph)
    client = api(server)
    await client.authenticate()
    headers = {"Authorization": f"Bearer {client.token}"}
    for raw in (b"not json", b"[1,2]", b'{"max_count": 5}', b""):
        async with client.http.post(f"{server.url}{FOLLOWING}", data=raw, headers=headers) as r:
            assert r.status == 400 and (await r.json())["error"]["code"] == "invalid_params"
    body = json.dumps({"username": small_graph.usernames[0]}).encode()
    async with client.http.post(
        f"{server.url}{FOLLOWING}", data=body, headers=headers | {"Content-Type": "text/plain"}
    ) as r:
        assert r.status == 200
