"""Client credentials and bearer tokens of the emulated service: issue, check, revoke."""

from __future__ import annotations

import asyncio
import secrets
import time

from aiohttp import web

from tiktok_network.emulator.state import EmulatorState, json_encoder


class AuthRoutes(EmulatorState):
    """Part of ``Emulator`` (``server.py``): the handlers and helpers of one concern."""

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
        return web.Response(body=json_encoder.encode(body), content_type="application/json")

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
        return web.Response(
            status=status, body=json_encoder.encode(body), content_type="application/json"
        )

    def _client_of(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        entry = self.tokens.get(token.strip())
        if entry is None or entry[1] <= time.monotonic():
            return None
        return entry[0]

    async def _revoke_loop(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            self.tokens.clear()
