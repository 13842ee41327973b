"""Client-credentials tokens: fetched once, shared by every worker, refreshed before expiry.

The token is a secret like the client secret: it is kept in memory only, never logged, never
stored, and never part of an exception message.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass

import aiohttp
import msgspec

from tiktok_network.api.spec import TOKEN_PATH

REFRESH_MARGIN = 300.0  # refresh 5 minutes before expiry, as the reference clients do


class AuthError(Exception):
    """Credentials rejected or the token endpoint unusable; the message is safe to print."""


class TransientAuthError(Exception):
    """The token endpoint failed in a way worth retrying (5xx, network, HTML)."""


@dataclass(frozen=True)
class Credentials:
    client_key: str
    client_secret: str

    def __repr__(self) -> str:  # never show the secret, even in a debugger or a traceback
        return "Credentials(client_key=<hidden>, client_secret=<hidden>)"


class TokenResponse(msgspec.Struct):
    access_token: str | None = None
    expires_in: float | None = None
    token_type: str | None = None
    error: str | None = None
    error_description: str | None = None
    log_id: str | None = None


_decoder = msgspec.json.Decoder(TokenResponse)


class TokenManager:
    """Single-flight token fetch and refresh for one client."""

    def __init__(
        self, credentials: Credentials, api_base: str, session: aiohttp.ClientSession
    ) -> None:
        self._credentials = credentials
        self._url = api_base.rstrip("/") + TOKEN_PATH
        self._session = session
        self._token: str | None = None
        self._expires_at = 0.0
        self._margin = REFRESH_MARGIN
        self._lock = asyncio.Lock()
        self.refreshes = 0

    async def token(self) -> str:
        """A token valid for at least a little while longer."""
        if self._token is not None and time.monotonic() < self._refresh_at():
            return self._token
        async with self._lock:
            if self._token is None or time.monotonic() >= self._refresh_at():
                await self._fetch()
            assert self._token is not None
            return self._token

    async def invalidate(self, token: str) -> None:
        """The service rejected ``token`` (401): fetch a new one unless another worker did."""
        async with self._lock:
            if self._token == token:
                self._token = None
                await self._fetch()

    async def probe(self) -> bool:
        """Does the API host answer? A fresh token fetch: free of quota, and a refusal of the
        credentials is an answer too."""
        async with self._lock:
            try:
                await self._fetch()
            except TransientAuthError:
                return False
            except AuthError:
                return True
            return True

    def _refresh_at(self) -> float:
        return self._expires_at - self._margin

    async def _fetch(self) -> None:
        form = {
            "client_key": self._credentials.client_key,
            "client_secret": self._credentials.client_secret,
            "grant_type": "client_credentials",
        }
        try:
            async with self._session.post(
                self._url, data=form, headers={"Cache-Control": "no-cache"}
            ) as resp:
                raw = await resp.read()
                status = resp.status
        except TimeoutError:
            raise TransientAuthError("token request timed out") from None
        except aiohttp.ClientError as exc:
            raise TransientAuthError(
                f"token request failed: {describe_connection_error(exc)}"
            ) from None
        try:
            body = _decoder.decode(raw)
        except msgspec.DecodeError:
            if status >= 500 or status == 429:
                raise TransientAuthError(f"token endpoint answered HTTP {status}") from None
            raise AuthError(
                f"token endpoint answered HTTP {status} with a body that is not JSON"
            ) from None
        # The service may answer 200 with an OAuth error body: check the body, not the status.
        if body.error or not body.access_token:
            if body.error in ("server_error", "temporarily_unavailable") or status >= 500:
                raise TransientAuthError(f"token endpoint: {body.error or f'HTTP {status}'}")
            raise AuthError(_describe(body.error, body.error_description, body.log_id))
        ttl = float(body.expires_in or 7200)
        self._margin = min(REFRESH_MARGIN, ttl / 10)
        self._token = body.access_token
        self._expires_at = time.monotonic() + ttl
        self.refreshes += 1


def describe_connection_error(exc: aiohttp.ClientError) -> str:
    """The error's class and, for a failed connection, the OS reason ("Connection refused"):
    never aiohttp's message, which can carry request details."""
    reason = ""
    os_error = getattr(exc, "os_error", None)
    if isinstance(exc, aiohttp.ClientConnectorError) and os_error is not None:
        reason = f": {os.strerror(os_error.errno) if os_error.errno else type(os_error).__name__}"
    return f"connection error ({type(exc).__name__}{reason})"


def _describe(error: str | None, description: str | None, log_id: str | None) -> str:
    if error == "invalid_client":
        hint = "check TIKTOK_CLIENT_KEY and TIKTOK_CLIENT_SECRET (or --credentials FILE)"
        return f"credentials rejected by the token endpoint (invalid_client): {hint}"
    what = error or "no access_token in the answer"
    extra = f": {description}" if description else ""
    return f"token request refused ({what}){extra}" + (f" [log_id {log_id}]" if log_id else "")
