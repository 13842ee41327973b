"""The Research API emulator: an aiohttp server on loopback.

It answers the endpoints a follow-graph crawler uses with the envelopes, statuses and error
bodies of ``research-api.md``, and adds what the real service does only now and then (faults,
quirks, quota exhaustion, revoked tokens) on demand and reproducibly, so the crawler's
handling of each can be tested over real HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import numpy as np
from aiohttp import web

from tiktok_network.api import spec
from tiktok_network.emulator.accounting import ClientWindows, QuotaBook, RequestLog
from tiktok_network.emulator.auth import AuthRoutes
from tiktok_network.emulator.compliance import ComplianceRoutes
from tiktok_network.emulator.evolution import Evolution, Rates
from tiktok_network.emulator.faults import Faults
from tiktok_network.emulator.graph import FollowGraph
from tiktok_network.emulator.info import InfoRoutes
from tiktok_network.emulator.layers import LayerRoutes
from tiktok_network.emulator.lists import ListRoutes
from tiktok_network.emulator.settings import EmulatorSettings, ErrorTriple
from tiktok_network.emulator.state import json_decoder, json_encoder
from tiktok_network.emulator.videos import VideoRoutes


class LogIds:
    """``YYYYMMDDHHMMSS`` followed by 18 hex digits, like the real service's log ids."""

    def __init__(self) -> None:
        self._second = -1
        self._stamp = ""
        self._counter = random.getrandbits(40)

    def next(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(now))
        self._counter += 1
        return f"{self._stamp}{self._counter & 0xFFFFFFFFFFFFFFFFFF:018X}"


class Emulator(
    AuthRoutes, Faults, ListRoutes, InfoRoutes, VideoRoutes, LayerRoutes, ComplianceRoutes
):
    """State and request handlers of one emulated service."""

    def __init__(self, graph: FollowGraph, settings: EmulatorSettings | None = None) -> None:
        self.graph = graph
        self.settings = settings or EmulatorSettings()
        self.quota = QuotaBook(self.settings)
        self.window = ClientWindows(self.settings.qps) if self.settings.qps else None
        self.log = RequestLog(self.settings.request_log)
        self.log_ids = LogIds()
        self.tokens: dict[str, tuple[str, float]] = {}
        self._occurrences: dict[tuple[str, str, int], int] = {}
        self._latency_rng = random.Random(self.settings.seed)
        draw = np.random.default_rng(self.settings.seed + 1).random(graph.n_users)
        s = self.settings
        self.refused = draw < s.refused_fraction
        self.private = (draw >= s.refused_fraction) & (
            draw < s.refused_fraction + s.private_fraction
        )
        self.missing_ids = {i for name in s.missing if (i := graph.user_id(name)) is not None}
        hide = np.random.default_rng(self.settings.seed + 2).random(graph.n_users)
        self.hidden_following = (hide < s.hidden_following) & ~self.refused & ~self.private
        hostile = np.random.default_rng(self.settings.seed + 3).random(graph.n_users)
        self.hostile = hostile < s.hostile_text
        rates = Rates(s.evolve_follow, s.evolve_unfollow, s.evolve_delete, s.evolve_private)
        self.evolution = Evolution(graph, rates, s.seed, s.day_seconds)
        self._search_pages = {}
        self._expired = set()
        self._validation_tasks = {}
        self.deleted_videos = set()
        if s.videos_file:  # read now: a file that cannot be served is said at start
            from tiktok_network.emulator.settings import SettingsError
            from tiktok_network.emulator.videos import QueryError, VideoTable

            try:
                self._video_table = VideoTable.from_file(s.videos_file, graph.usernames)
            except QueryError as exc:
                raise SettingsError(str(exc)) from None

    # ------------------------------------------------------------------ app
    def app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_post(spec.TOKEN_PATH, self.token)
        for endpoint in spec.LIST_ENDPOINTS.values():
            handler = (
                self.layer_handler(endpoint)
                if endpoint.entry == "video"
                else self.list_handler(endpoint)
            )
            app.router.add_post(endpoint.path, handler)
        app.router.add_post(spec.ENDPOINTS["info"], self.info)
        app.router.add_post(spec.ENDPOINTS["video"], self.video_query)
        app.router.add_post(spec.COMPLIANCE_PATHS["create"], self.compliance_create)
        app.router.add_post(spec.COMPLIANCE_PATHS["status"], self.compliance_status)
        app.router.add_post(spec.COMPLIANCE_PATHS["download"], self.compliance_download)
        app.router.add_post("/_emulator/delete_videos", self.delete_videos)
        app.router.add_get("/_emulator/stats", self.stats)
        app.router.add_post("/_emulator/advance", self.advance)
        app.router.add_get("/_emulator/changes", self.changes)
        app.router.add_get("/_emulator/graph", self.served_graph)
        app.router.add_get("/_emulator/truth", self.truth)
        app.on_startup.append(self._start_background)
        app.on_cleanup.append(self._stop_background)
        return app

    async def _start_background(self, app: web.Application) -> None:
        self._tasks = [asyncio.create_task(self._flush_log_loop())]
        if self.settings.revoke_every:
            self._tasks.append(asyncio.create_task(self._revoke_loop(self.settings.revoke_every)))

    async def _stop_background(self, app: web.Application) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.log.close()

    async def _flush_log_loop(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            self.log.flush()

    # ---------------------------------------------------------- responses
    def _envelope(self, status: int, code: str, message: str, data: Any = None) -> web.Response:
        body: dict[str, Any] = {}
        if data is not None:
            body["data"] = data
        body["error"] = {"code": code, "message": message, "log_id": self.log_ids.next()}
        return web.Response(
            status=status, body=json_encoder.encode(body), content_type="application/json"
        )

    def _error(self, triple: ErrorTriple, username: str = "") -> web.Response:
        return self._envelope(triple.status, triple.code, triple.message.format(username=username))

    async def _latency(self) -> None:
        mean, jitter = self.settings.latency
        if mean or jitter:
            delay = self._latency_rng.gauss(mean, jitter) if jitter else mean
            if delay > 0:
                await asyncio.sleep(delay)

    # ------------------------------------------------------ common gate
    # Long by design: the checks in the order the service applies them (auth, rate, quota,
    # body), each a few lines; the order is the behaviour under test.
    async def _gate(
        self, request: web.Request, endpoint: str
    ) -> tuple[str, tuple[str, int], dict[str, Any]] | web.Response:
        """Authentication, rate limit, quota and body parsing shared by research endpoints.

        Returns the client, the quota bucket it was charged to and the parsed body, or the
        error response to send (already logged).
        """
        await self._latency()
        if self.evolution.rates.active:
            self.evolution.catch_up()  # the graph of the emulated day this request arrives on
        client = self._client_of(request)
        if client is None:
            return self._log_reply(
                None,
                endpoint,
                None,
                None,
                self._envelope(
                    401,
                    spec.ACCESS_TOKEN_INVALID,
                    "The access token is invalid or not found in the request.",
                ),
            )
        if self.settings.scope_not_authorized and endpoint in spec.FOLLOW_ENDPOINTS:
            return self._log_reply(
                client,
                endpoint,
                None,
                None,
                self._envelope(
                    401,
                    spec.SCOPE_NOT_AUTHORIZED,
                    "The user did not authorize the scope required for completing this request.",
                ),
            )
        if self.window is not None and not self.window.allow(client):
            return self._log_reply(
                client,
                endpoint,
                None,
                None,
                self._envelope(429, spec.RATE_LIMIT_EXCEEDED, "API rate limit was exceeded."),
            )
        charged = self.quota.try_spend(client, endpoint)
        if charged is None:
            return self._log_reply(
                client,
                endpoint,
                None,
                None,
                self._envelope(429, spec.DAILY_QUOTA_LIMIT_EXCEEDED, "Daily quota limit exceeded."),
            )
        raw = await request.read()
        try:
            body = json_decoder.decode(raw)
        except msgspec.DecodeError:
            body = None
        if not isinstance(body, dict):
            return self._invalid(
                client, charged, endpoint, None, "Invalid request body: expected a JSON object."
            )
        return client, charged, body

    def _log_reply(
        self,
        client: str | None,
        endpoint: str,
        username: str | None,
        cursor: int | None,
        response: web.Response,
        items: int | None = None,
        fault: str | None = None,
    ) -> web.Response:
        code = None
        if response.status != 200 or fault:
            code = fault or self._code_of(response)
        self.log.record(
            client=client,
            endpoint=endpoint,
            username=username,
            cursor=cursor,
            status=response.status,
            code=code,
            items=items,
            fault=fault,
        )
        return response

    @staticmethod
    def _code_of(response: web.Response) -> str | None:
        try:
            return json_decoder.decode(response.body)["error"]["code"]  # type: ignore[arg-type]
        except Exception:
            return None

    def _invalid(
        self,
        client: str | None,
        charged: bool,
        endpoint: str,
        username: str | None,
        message: str,
    ) -> web.Response:
        """A 400 invalid_params answer to a request the service refuses to read."""
        return self._fail(
            client,
            charged,
            endpoint,
            username,
            None,
            self._envelope(400, spec.INVALID_PARAMS, message),
        )

    def _fail(
        self,
        client: str,
        charged: tuple[str, int],
        endpoint: str,
        username: str | None,
        cursor: int | None,
        response: web.Response,
        fault: str | None = None,
    ) -> web.Response:
        """An error answer to a request that was charged: refund it if failures do not count."""
        if not self.settings.failed_requests_count:
            self.quota.refund(client, *charged)
        return self._log_reply(client, endpoint, username, cursor, response, fault=fault)

    # --------------------------------------------------------- user info

    # ------------------------------------------------------------ evolution
    async def advance(self, request: web.Request) -> web.Response:
        """Move the emulated clock ``days`` forward, applying those days' changes."""
        try:
            days = int((await request.json()).get("days", 1))
        except (ValueError, TypeError, AttributeError):
            return web.json_response({"error": 'expected {"days": N}'}, status=400)
        if days < 0:
            return web.json_response({"error": "days must not be negative"}, status=400)
        return web.json_response({"day": self.evolution.advance(days)})

    async def changes(self, request: web.Request) -> web.Response:
        """Every change the evolving graph made, in order (the tests' ground truth)."""
        self.evolution.catch_up()
        body = {"day": self.evolution.days_applied, "changes": self.evolution.log}
        return web.Response(body=json_encoder.encode(body), content_type="application/json")

    async def truth(self, request: web.Request) -> web.Response:
        """What a planted graph's analysis should find: each account's niche, the niches'
        vocabularies and the planted bursts (times in Unix seconds)."""
        return web.Response(
            body=json_encoder.encode(self.videos.truth()), content_type="application/json"
        )

    async def served_graph(self, request: web.Request) -> web.Response:
        """The follows the service serves today, and the accounts that left (small graphs)."""
        ev = self.evolution
        ev.catch_up()
        names = self.graph.usernames
        body = {
            "day": ev.days_applied,
            "edges": sorted([names[u], names[v]] for u, v in ev.edges()),
            "deleted": sorted(names[i] for i in np.flatnonzero(ev.gone)),
            "private": sorted(names[i] for i in np.flatnonzero(ev.turned_private)),
        }
        return web.Response(body=json_encoder.encode(body), content_type="application/json")

    # -------------------------------------------------------------- stats
    async def stats(self, request: web.Request) -> web.Response:
        body = self.log.snapshot()
        body["quota"] = self.quota.snapshot()
        body["tokens_live"] = len(self.tokens)
        body["graph"] = {"users": self.graph.n_users, "edges": self.graph.n_edges}
        return web.Response(body=json_encoder.encode(body), content_type="application/json")


class RunningEmulator:
    """A started emulator: its URL, its state, and how to stop it."""

    def __init__(self, emulator: Emulator, runner: web.AppRunner, port: int) -> None:
        self.emulator = emulator
        self.runner = runner
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_emulator(
    graph: FollowGraph,
    settings: EmulatorSettings | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
) -> RunningEmulator:
    emulator = Emulator(graph, settings)
    runner = web.AppRunner(emulator.app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
    bound = sockets[0].getsockname()[1] if sockets else port
    return RunningEmulator(emulator, runner, bound)


@contextlib.asynccontextmanager
async def running_emulator(
    graph: FollowGraph, settings: EmulatorSettings | None = None, *, port: int = 0
) -> AsyncIterator[RunningEmulator]:
    """Serve ``graph`` on loopback for the duration of the block (tests, demo, benchmarks)."""
    server = await start_emulator(graph, settings, port=port)
    try:
        yield server
    finally:
        await server.stop()
