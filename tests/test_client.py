"""The API client against the emulator (and, for answers the emulator never gives, a tiny server)."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp import web

from tiktok_network.api.auth import Credentials
from tiktok_network.api.client import ResearchClient, RetryPolicy
from tiktok_network.api.outcomes import Kind, classify_error
from tiktok_network.emulator.settings import ErrorTriple

CREDS = Credentials("demo-key", "demo-secret")
FAST = RetryPolicy(max_retries=4, base_delay=0.01, max_delay=0.05)


def client_for(url: str, **kw) -> ResearchClient:
    kw.setdefault("retry", FAST)
    return ResearchClient(kw.pop("credentials", CREDS), api_base=url, **kw)


async def test_pages_walk_and_token_is_reused(serve, small_graph):
    server = await serve(small_graph)
    node = max(range(small_graph.n_users), key=small_graph.following.degree)
    user = small_graph.usernames[node]
    async with client_for(server.url) as client:
        seen, cursor = [], None
        while True:
            outcome = await client.list_page("following", user, cursor)
            assert outcome.kind is Kind.OK
            page = outcome.page
            seen += [u for u, _ in page.items]
            if not page.has_more:
                break
            cursor = page.next_cursor
    assert sorted(seen) == sorted(
        small_graph.usernames[int(t)] for t in small_graph.following.row(node)[0]
    )
    assert server.emulator.log.by_endpoint["token"]["200"] == 1


async def test_revoked_token_is_refreshed_once_and_the_request_retried(serve, small_graph):
    server = await serve(small_graph, revoke_every=0.2)
    user = small_graph.usernames[0]
    async with client_for(server.url) as client:
        assert (await client.list_page("following", user, None)).kind is Kind.OK
        await asyncio.sleep(0.3)
        assert (await client.list_page("following", user, None)).kind is Kind.OK
        assert client.counters["token_refreshes"] == 1
    assert server.emulator.log.by_endpoint["token"]["200"] == 2


async def test_oauth_error_body_on_http_200_is_detected(serve, small_graph):
    server = await serve(small_graph)
    async with client_for(server.url, credentials=Credentials("demo-key", "nope")) as client:
        outcome = await client.list_page("following", small_graph.usernames[0], None)
    assert outcome.kind is Kind.FATAL and "credentials rejected" in outcome.detail
    assert "nope" not in outcome.detail


async def test_transient_faults_are_retried_until_success(serve, small_graph):
    server = await serve(
        small_graph, faults={"500": 0.1, "504-html": 0.05, "truncated": 0.05, "reset": 0.05}, seed=3
    )
    async with client_for(
        server.url, retry=RetryPolicy(max_retries=10, base_delay=0.01, max_delay=0.02)
    ) as client:
        for user in small_graph.usernames[:60]:
            outcome = await client.list_page("following", user, None)
            assert outcome.kind is Kind.OK, outcome.detail
        assert client.counters["retries"] == sum(server.emulator.log.faults.values()) > 0


async def test_retries_are_bounded_and_each_costs_quota(serve, small_graph):
    server = await serve(small_graph, faults={"500": 1.0})
    async with client_for(server.url) as client:
        outcome = await client.list_page("following", small_graph.usernames[0], None)
    assert outcome.kind is Kind.TRANSIENT and outcome.attempts == FAST.max_retries + 1
    assert server.emulator.log.by_endpoint["following"]["500"] == FAST.max_retries + 1


@pytest.mark.parametrize(
    ("settings", "kind"),
    [
        ({"refused_fraction": 1.0}, Kind.REFUSED),
        ({"refused_fraction": 1.0, "refused": ErrorTriple(403, "forbidden", "x")}, Kind.REFUSED),
        ({"missing": frozenset({"MISSING"})}, Kind.NOT_FOUND),
        (
            {
                "missing": frozenset({"MISSING"}),
                "not_found": ErrorTriple(500, "internal_error", "user does not exist"),
            },
            Kind.NOT_FOUND,
        ),
        ({"scope_not_authorized": True}, Kind.SCOPE),
        ({"follow_quota": 0}, Kind.QUOTA_EXHAUSTED),
    ],
)
async def test_inaccessible_accounts_and_fatal_answers_are_classified_by_meaning(
    serve, small_graph, settings, kind
):
    server = await serve(small_graph, **settings)
    user = "MISSING" if "missing" in settings else small_graph.usernames[0]
    async with client_for(server.url) as client:
        outcome = await client.list_page("following", user, None)
    assert outcome.kind is kind, outcome.detail
    assert server.emulator.log.snapshot()["total_requests"] == 2  # token + one call: never retried


async def test_short_term_429_pauses_and_succeeds(serve, small_graph):
    server = await serve(small_graph, qps=4)
    policy = RetryPolicy(base_delay=0.01, rate_limit_delay=0.3)
    async with client_for(server.url, concurrency=8, retry=policy) as client:
        outcomes = await asyncio.gather(
            *(client.list_page("following", u, None) for u in small_graph.usernames[:12])
        )
    assert all(o.kind is Kind.OK for o in outcomes)
    assert client.counters["rate_limited"] > 0


async def test_client_side_qps_is_an_exact_sliding_window(serve, small_graph):
    # The server answers 429 above 8/s: the 11 requests sent at once would get some. Its
    # margin over the client's 4/s lets a busy machine delay a batch without a false alarm.
    server = await serve(small_graph, qps=8)
    async with client_for(server.url, qps=4, concurrency=11) as client:
        start = time.monotonic()
        outcomes = await asyncio.gather(
            *(client.list_page("following", u, None) for u in small_graph.usernames[:11])
        )
        elapsed = time.monotonic() - start
    assert all(o.kind is Kind.OK for o in outcomes)
    assert client.counters["rate_limited"] == 0
    assert elapsed >= 1.75  # 11 requests at 4 per second: windows at 0, 1 and 2 s


async def test_every_request_has_a_timeout(serve, small_graph):
    server = await serve(small_graph, latency=(1.0, 0.0))
    async with client_for(
        server.url, timeout=0.2, retry=RetryPolicy(max_retries=1, base_delay=0.01)
    ) as client:
        outcome = await client.list_page("following", small_graph.usernames[0], None)
        retries = client.counters["retries"]
    # Nothing ever answered in time (the server takes 1 s), so the API counts as unreachable,
    # said at once: the try and its one retry, no outage probing (no clock read: "timed out"
    # is the proof the timeout, not the answer, ended each request).
    assert outcome.kind is Kind.UNREACHABLE and "timed out" in outcome.detail
    assert retries == 1


@pytest.fixture
async def odd_server():
    """A real HTTP server answering what the emulator never does: bad shapes, unknown codes."""
    answers: dict[str, tuple[int, bytes]] = {}

    async def token(request):
        return web.json_response(
            {"access_token": "clt.odd", "expires_in": 7200, "token_type": "Bearer"}
        )

    async def following(request):
        status, body = answers["following"]
        return web.Response(status=status, body=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v2/oauth/token/", token)
    app.router.add_post("/v2/research/user/following/", following)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", answers
    await runner.cleanup()


@pytest.mark.parametrize(
    ("status", "body", "kind", "needle"),
    [
        (
            200,
            b'{"data": [1, 2], "error": {"code": "ok", "message": "", "log_id": "x"}}',
            Kind.FATAL,
            "shape",
        ),
        (
            200,
            b'{"data": {"user_following": "nope", "has_more": false}, "error": {"code": "ok"}}',
            Kind.FATAL,
            "shape",
        ),
        (200, b'{"data": {"user_following": []}, "error": {"code": "ok"}}', Kind.FATAL, "has_more"),
        (
            200,
            b'{"data": {"user_following": []}, "error": {"code": "weird", "message": "?"}}',
            Kind.TRANSIENT,
            "weird",
        ),
        (502, b'{"unexpected": true}', Kind.TRANSIENT, "shape"),
        (
            400,
            b'{"error": {"code": "brand_new_code", "message": "something new"}}',
            Kind.TRANSIENT,
            "brand_new_code",
        ),
        (200, b"[1, 2, 3]", Kind.FATAL, "shape"),
    ],
)
async def test_answers_of_the_wrong_shape_give_clear_outcomes(
    odd_server, status, body, kind, needle
):
    url, answers = odd_server
    answers["following"] = (status, body)
    async with client_for(url, retry=RetryPolicy(max_retries=1, base_delay=0.01)) as client:
        outcome = await client.list_page("following", "someone", None)
    assert outcome.kind is kind and needle in outcome.detail


def test_classification_table():
    assert (
        classify_error(400, "invalid_params", "The username x is invalid: cannot find the user")
        is Kind.NOT_FOUND
    )
    assert (
        classify_error(400, "invalid_params", "API cannot return this user's information")
        is Kind.REFUSED
    )
    assert classify_error(400, "invalid_params", "Invalid count or cursor") is Kind.TRANSIENT
    assert classify_error(500, "internal_error", "Invalid count or cursor") is Kind.TRANSIENT
    assert classify_error(500, "internal_error", "") is Kind.TRANSIENT
    assert classify_error(429, "rate_limit_exceeded", "") is Kind.RATE_LIMITED
    assert classify_error(429, "daily_quota_limit_exceeded", "") is Kind.QUOTA_EXHAUSTED
    assert classify_error(401, "access_token_invalid", "") is Kind.TOKEN_INVALID
    assert classify_error(401, "scope_not_authorized", "") is Kind.SCOPE
    assert classify_error(403, "", "") is Kind.REFUSED
    assert classify_error(404, "", "") is Kind.NOT_FOUND
    assert classify_error(400, "invalid_params", "user is private") is Kind.REFUSED
