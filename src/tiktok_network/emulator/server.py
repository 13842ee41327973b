"""The Research API emulator: an aiohttp server on loopback.

It answers the endpoints a follow-graph crawler uses with the envelopes, statuses and error
bodies of ``research-api.md``, and adds what the real service does only now and then (faults,
quirks, quota exhaustion, revoked tokens) on demand and reproducibly, so the crawler's
handling of each can be tested over real HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import numpy as np
from aiohttp import web

from tiktok_network.api import spec
from tiktok_network.emulator.accounting import ClientWindows, QuotaBook, RequestLog
from tiktok_network.emulator.graph import FollowGraph
from tiktok_network.emulator.settings import FAULT_KINDS, EmulatorSettings, ErrorTriple

LIST_KEYS = {endpoint: key.encode() for endpoint, key in spec.LIST_KEYS.items()}

_json = msgspec.json.Encoder()
_decode = msgspec.json.Decoder()


def _unit(*parts: object) -> float:
    """A reproducible draw in [0, 1) from the given parts (seed, request key, occurrence)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


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


class Emulator:
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

    # ------------------------------------------------------------------ app
    def app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_post(spec.TOKEN_PATH, self.token)
        app.router.add_post(spec.ENDPOINTS["following"], self.following)
        app.router.add_post(spec.ENDPOINTS["followers"], self.followers)
        app.router.add_post(spec.ENDPOINTS["info"], self.info)
        app.router.add_get("/_emulator/stats", self.stats)
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

    async def _revoke_loop(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            self.tokens.clear()

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
        return web.Response(status=status, body=_json.encode(body), content_type="application/json")

    def _error(self, triple: ErrorTriple, username: str = "") -> web.Response:
        return self._envelope(triple.status, triple.code, triple.message.format(username=username))

    async def _latency(self) -> None:
        mean, jitter = self.settings.latency
        if mean or jitter:
            delay = self._latency_rng.gauss(mean, jitter) if jitter else mean
            if delay > 0:
                await asyncio.sleep(delay)

    # -------------------------------------------------------------- token
    async def token(self, request: web.Request) -> web.Response:
        await self._latency()
        form = await request.post()
        key, secret, grant = (
            form.get("client_key"),
            form.get("client_secret"),
            form.get("grant_type"),
        )
        status = self.settings.oauth_error_status
        if not key or not secret or not grant:
            missing = "client_key" if not key else "client_secret" if not secret else "grant_type"
            return self._oauth_error(status, "invalid_request", f"{missing} is missed in request.")
        if grant != "client_credentials":
            return self._oauth_error(
                status, "unsupported_grant_type", "Grant type is not supported."
            )
        if self.settings.clients.get(str(key)) != secret:
            return self._oauth_error(status, "invalid_client", "Client key or secret is invalid.")
        token = "clt." + secrets.token_urlsafe(30)
        self.tokens[token] = (str(key), time.monotonic() + self.settings.token_ttl)
        self.log.record(
            client=str(key),
            endpoint="token",
            username=None,
            cursor=None,
            status=200,
            code=None,
            items=None,
        )
        body = {
            "access_token": token,
            "expires_in": int(self.settings.token_ttl),
            "token_type": "Bearer",
        }
        return web.Response(body=_json.encode(body), content_type="application/json")

    def _oauth_error(self, status: int, error: str, description: str) -> web.Response:
        self.log.record(
            client=None,
            endpoint="token",
            username=None,
            cursor=None,
            status=status,
            code=error,
            items=None,
        )
        body = {"error": error, "error_description": description, "log_id": self.log_ids.next()}
        return web.Response(status=status, body=_json.encode(body), content_type="application/json")

    def _client_of(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        entry = self.tokens.get(token.strip())
        if entry is None or entry[1] <= time.monotonic():
            return None
        return entry[0]

    # ------------------------------------------------------ common gate
    async def _gate(
        self, request: web.Request, endpoint: str
    ) -> tuple[str, tuple[str, int], dict[str, Any]] | web.Response:
        """Authentication, rate limit, quota and body parsing shared by research endpoints.

        Returns the client, the quota bucket it was charged to and the parsed body, or the
        error response to send (already logged).
        """
        await self._latency()
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
        if self.settings.scope_not_authorized and endpoint != "info":
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
            body = _decode.decode(raw)
        except msgspec.DecodeError:
            body = None
        if not isinstance(body, dict):
            return self._fail(
                client,
                charged,
                endpoint,
                None,
                None,
                self._envelope(
                    400, spec.INVALID_PARAMS, "Invalid request body: expected a JSON object."
                ),
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
            return _decode.decode(response.body)["error"]["code"]  # type: ignore[arg-type]
        except Exception:
            return None

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

    def _draw_fault(self, endpoint: str, username: str, cursor: int) -> str | None:
        faults = self.settings.faults
        if not faults:
            return None
        key = (endpoint, username, cursor)
        k = self._occurrences.get(key, 0)
        self._occurrences[key] = k + 1
        u = _unit(self.settings.seed, "fault", endpoint, username, cursor, k)
        acc = 0.0
        for kind in FAULT_KINDS:
            acc += faults.get(kind, 0.0)
            if u < acc:
                return kind
        return None

    def _fault_response(self, kind: str) -> web.Response:
        if kind == "500":
            return self._envelope(
                500, "internal_error", "Something went wrong. Please try again later."
            )
        if kind == "500-empty":
            return self._envelope(500, "internal_error", "")
        if kind == "cursor-400":
            return self._envelope(400, spec.INVALID_PARAMS, spec.INVALID_CURSOR_MESSAGE)
        # 504-html
        html = b"<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway Time-out</h1></center></body></html>"
        return web.Response(status=504, body=html, content_type="text/html")

    def _lookup(self, username: Any) -> tuple[int | None, ErrorTriple | None]:
        """The account behind a username, or how the service refuses to serve it."""
        s = self.settings
        node = self.graph.user_id(username) if isinstance(username, str) else None
        if node is None or node in self.missing_ids:
            return None, s.not_found
        if self.refused[node] or self.private[node]:
            return None, s.refused
        return node, None

    # ---------------------------------------------------- follow endpoints
    async def following(self, request: web.Request) -> web.StreamResponse:
        return await self._follow_list(request, "following")

    async def followers(self, request: web.Request) -> web.StreamResponse:
        return await self._follow_list(request, "followers")

    async def _follow_list(self, request: web.Request, endpoint: str) -> web.StreamResponse:
        gated = await self._gate(request, endpoint)
        if isinstance(gated, web.Response):
            return gated
        client, charged, body = gated
        username = body.get("username")
        max_count = body.get("max_count", spec.DEFAULT_COUNT)
        cursor = body.get("cursor")
        if not isinstance(username, str) or not username:
            return self._fail(
                client,
                charged,
                endpoint,
                None,
                None,
                self._envelope(400, spec.INVALID_PARAMS, "username is required."),
            )
        if max_count is None:
            max_count = spec.DEFAULT_COUNT
        if (
            isinstance(max_count, bool)
            or not isinstance(max_count, int)
            or not 1 <= max_count <= spec.MAX_COUNT
        ):
            return self._fail(
                client,
                charged,
                endpoint,
                username,
                None,
                self._envelope(
                    400,
                    spec.INVALID_PARAMS,
                    f"max_count must be an integer between 1 and {spec.MAX_COUNT}.",
                ),
            )
        if cursor is not None and (
            isinstance(cursor, bool) or not isinstance(cursor, int) or cursor < 0
        ):
            return self._fail(
                client,
                charged,
                endpoint,
                username,
                None,
                self._envelope(400, spec.INVALID_PARAMS, spec.INVALID_CURSOR_MESSAGE),
            )
        cursor = int(cursor or 0)
        fault = self._draw_fault(endpoint, username, cursor)
        if fault == "reset":
            self._fail(
                client, charged, endpoint, username, cursor, web.Response(status=599), fault=fault
            )
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # aiohttp drops the connection without a reply
        if fault is not None and fault != "truncated":
            return self._fail(
                client,
                charged,
                endpoint,
                username,
                cursor,
                self._fault_response(fault),
                fault=fault,
            )
        node, refusal = self._lookup(username)
        if refusal is not None:
            return self._fail(
                client, charged, endpoint, username, cursor, self._error(refusal, username)
            )
        payload, n_items = self._page(endpoint, node, cursor, max_count)  # type: ignore[arg-type]
        if fault == "truncated":
            payload = payload[: len(payload) // 2]
            self._log_reply(
                client, endpoint, username, cursor, web.Response(status=200), fault=fault
            )
        else:
            self.log.record(
                client=client,
                endpoint=endpoint,
                username=username,
                cursor=cursor,
                status=200,
                code=None,
                items=n_items,
            )
        return web.Response(body=payload, content_type="application/json")

    def _list_of(self, endpoint: str, node: int) -> tuple[np.ndarray, np.ndarray]:
        s = self.settings
        if endpoint == "following":
            return self.graph.following.row(node)
        targets, times = self.graph.followers.row(node)
        if s.followers_public_only and len(targets):
            keep = ~self.private[targets]
            targets, times = targets[keep], times[keep]
        if s.followers_cap is not None:
            targets, times = targets[: s.followers_cap], times[: s.followers_cap]
        return targets, times

    def _page(self, endpoint: str, node: int, cursor: int, max_count: int) -> tuple[bytes, int]:
        """One page of a list, newest first, holding follows at or before ``cursor``."""
        s = self.settings
        targets, times = self._list_of(endpoint, node)
        if cursor > 10**11:  # a millisecond cursor, as some doc examples show
            cursor //= 1000
        start = int(np.searchsorted(-times, -cursor, side="left")) if cursor else 0
        count = max_count
        username = self.graph.usernames[node]
        if (
            s.short_pages
            and max_count > 1
            and _unit(s.seed, "short", endpoint, username, cursor) < s.short_pages
        ):
            count = 1 + int(_unit(s.seed, "short-n", endpoint, username, cursor) * (max_count - 1))
        end = min(start + count, len(targets))
        page = targets[start:end]
        has_more = end < len(targets)
        if len(page):
            next_cursor = int(times[end - 1]) - 1
            if (
                s.same_second_repeats
                and has_more
                and len(page) >= 2
                and _unit(s.seed, "repeat", endpoint, username, cursor) < s.same_second_repeats
            ):
                next_cursor += 1  # the boundary follow shares its second with the next one
        else:
            next_cursor = cursor or int(time.time())
        item = self.graph.item_json
        items = b",".join([item(int(t)) for t in page])
        key = LIST_KEYS[endpoint]
        if not len(page) and s.omit_empty_list:
            data = b'{"cursor":%d,"has_more":%s}' % (next_cursor, b"true" if has_more else b"false")
        else:
            data = b'{"%s":[%s],"cursor":%d,"has_more":%s}' % (
                key,
                items,
                next_cursor,
                b"true" if has_more else b"false",
            )
        payload = b'{"data":%s,"error":{"code":"ok","message":"","log_id":"%s"}}' % (
            data,
            self.log_ids.next().encode(),
        )
        return payload, len(page)

    # --------------------------------------------------------- user info
    async def info(self, request: web.Request) -> web.Response:
        gated = await self._gate(request, "info")
        if isinstance(gated, web.Response):
            return gated
        client, charged, body = gated
        fields_param = request.query.get("fields", "")
        fields = [f.strip() for f in fields_param.split(",") if f.strip()]
        unknown = [f for f in fields if f not in spec.INFO_FIELDS]
        username = body.get("username")
        if not fields or unknown:
            why = f"Invalid fields: {','.join(unknown)}" if unknown else "fields is required."
            return self._fail(
                client, charged, "info", None, None, self._envelope(400, spec.INVALID_PARAMS, why)
            )
        if "open_id" in body and "username" in body:
            return self._fail(
                client,
                charged,
                "info",
                None,
                None,
                self._envelope(
                    400, spec.INVALID_PARAMS, "Only one of username and open_id may be given."
                ),
            )
        if "open_id" in body:
            username = self._username_of_open_id(body.get("open_id"))
        if not isinstance(username, str) or not username:
            return self._fail(
                client,
                charged,
                "info",
                None,
                None,
                self._envelope(400, spec.INVALID_PARAMS, "username is required."),
            )
        node, refusal = self._lookup(username)
        if refusal is not None:
            return self._fail(
                client, charged, "info", username, None, self._error(refusal, username)
            )
        profile = self.profile(node)  # type: ignore[arg-type]
        data = {f: profile[f] for f in fields}
        self.log.record(
            client=client,
            endpoint="info",
            username=username,
            cursor=None,
            status=200,
            code=None,
            items=1,
        )
        return self._envelope(200, "ok", "", data)

    def _open_id(self, node: int) -> str:
        return hashlib.blake2b(f"{self.settings.seed}:{node}".encode(), digest_size=16).hexdigest()

    def _username_of_open_id(self, open_id: Any) -> str | None:
        if not isinstance(open_id, str):
            return None
        for node in range(self.graph.n_users):  # rare path; a dict would cost memory at scale
            if self._open_id(node) == open_id:
                return self.graph.usernames[node]
        return None

    def profile(self, node: int) -> dict[str, Any]:
        """Every user-info field of one account; the two counts agree with the graph."""
        from tiktok_network.emulator.names import display_name_for

        name = self.graph.usernames[node]
        followers = self.graph.followers.degree(node)
        h = int(_unit(self.settings.seed, "profile", node) * 2**32)
        return {
            "display_name": display_name_for(node, name),
            "bio_description": f"bio of {name}, line one\nline two",
            "avatar_url": f"https://p16-sign.tiktokcdn.example/avatar/{name}.jpeg",
            "is_verified": followers >= 1000,
            "follower_count": followers,
            "following_count": self.graph.following.degree(node),
            "likes_count": followers * (h % 200) + h % 1000,
            "video_count": h % 500,
            "open_id": self._open_id(node),
            "is_private": bool(self.private[node]),
        }

    # -------------------------------------------------------------- stats
    async def stats(self, request: web.Request) -> web.Response:
        body = self.log.snapshot()
        body["quota"] = self.quota.snapshot()
        body["tokens_live"] = len(self.tokens)
        body["graph"] = {"users": self.graph.n_users, "edges": self.graph.n_edges}
        return web.Response(body=_json.encode(body), content_type="application/json")


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
