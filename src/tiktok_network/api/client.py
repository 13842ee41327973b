"""The Research API client: one place for requests, retries, rate limits and quota checks.

Every call returns an :class:`Outcome`; nothing here raises for an answer of the service. The
retry loop lives here (not in the engine) because the decision to retry needs shared state:
the token, the pause all workers honour after a 429, and the daily quota gate that must be
consulted before every attempt, retries included, since each one costs quota.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
import msgspec

from tiktok_network._version import __version__
from tiktok_network.api import sanitize, spec
from tiktok_network.api.auth import (
    AuthError,
    Credentials,
    TokenManager,
    TransientAuthError,
    describe_connection_error,
)
from tiktok_network.api.health import ApiHealth, Verdict
from tiktok_network.api.outcomes import (
    Kind,
    Outcome,
    Page,
    UserInfo,
    VideoPage,
    classify_error,
    plain_counts,
)
from tiktok_network.api.spec import (
    COMPLIANCE_PATHS,
    ENDPOINTS,
    LIST_ENDPOINTS,
    NO_CURSOR,
    PROFILE_FIELDS,
    VIDEO_FIELDS,
    VIDEO_KEY,
    VIDEO_MAX_COUNT,
    ListEndpoint,
)
from tiktok_network.ratelimit import AsyncLimiter

INFO_FIELDS = ",".join(PROFILE_FIELDS)


class Account(msgspec.Struct):
    """An entry of a list of accounts (following, followers)."""

    username: str
    display_name: str | None = None


class ErrorBody(msgspec.Struct):
    code: str = ""
    message: str | None = ""
    log_id: str | None = ""


# How the entries of each kind are decoded, and turned into a page's items.
ENTRY_TYPES: dict[str, Any] = {"account": Account, "video": dict[str, Any]}


def _account_items(entries: list[Any]) -> list[tuple[str, str | None]]:
    return [(entry.username, entry.display_name) for entry in entries]


ENTRY_ITEMS: dict[str, Callable[[list[Any]], list[tuple[str, str | None]]]] = {
    "account": _account_items,
    "video": lambda entries: [],  # a list of videos names no account: Page.videos holds them
}


def _list_decoder(endpoint: ListEndpoint) -> msgspec.json.Decoder[Any]:
    """A typed decoder of one list endpoint's answer: its entries under their key, the cursor
    and ``has_more`` (msgspec checks the shape while it parses, in one pass)."""
    entry = ENTRY_TYPES[endpoint.entry]
    data = msgspec.defstruct(
        f"{endpoint.name.title()}Data",
        [
            *((key, list[entry] | None, None) for key in endpoint.keys),  # type: ignore[valid-type]
            ("cursor", int | None, None),
            ("has_more", bool | None, None),
        ],
    )
    envelope = msgspec.defstruct(
        f"{endpoint.name.title()}Envelope",
        [("data", data | None, None), ("error", ErrorBody | None, None)],  # type: ignore[valid-type]
    )
    return msgspec.json.Decoder(envelope)


_list_decoders = {name: _list_decoder(e) for name, e in LIST_ENDPOINTS.items()}


class GenericEnvelope(msgspec.Struct):
    data: Any = None
    error: ErrorBody | None = None


_generic_decoder = msgspec.json.Decoder(GenericEnvelope)
_encoder = msgspec.json.Encoder()


async def _never() -> bool:
    return False


class QuotaGate(Protocol):
    """The engine's daily-quota bookkeeping, consulted before every attempt."""

    async def acquire(self, bucket: str) -> bool: ...

    async def exhausted(self, bucket: str, message: str | None = None) -> None: ...

    async def refund(self, bucket: str) -> None: ...


@dataclass
class RetryPolicy:
    max_retries: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_rate_limit_waits: int = 30
    max_token_refreshes: int = 3
    rate_limit_delay: float = 10.0  # clients seen in the wild wait 10-60 s after a 429

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform(0, min(cap, base * 2**attempt))."""
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** max(0, attempt - 1)))

    def rate_limit_pause(self, waits: int, rng: random.Random) -> float:
        """Equal jitter for 429s: never retry at once into the same window, never all together."""
        ceiling = min(
            max(self.max_delay, self.rate_limit_delay),
            self.rate_limit_delay * 2 ** max(0, waits - 1),
        )
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


class ResearchClient:
    def __init__(
        self,
        credentials: Credentials,
        *,
        api_base: str,
        concurrency: int = 8,
        timeout: float = 30.0,
        qps: float | None = None,
        retry: RetryPolicy | None = None,
        quota: QuotaGate | None = None,
        stop: asyncio.Event | None = None,
        seed: int | None = None,
        outage_tolerance: float = 6 * 3600.0,
        outage_probe_max: float = 60.0,
        answered_before: Callable[[], Awaitable[bool]] | None = None,
        limiter: AsyncLimiter | None = None,
        hidden_hint: str = spec.HIDDEN_FOLLOWING_HINT,
    ) -> None:
        """``limiter`` paces requests (default: an exact sliding window of ``qps`` per second,
        none without ``qps``); a test or a shared limiter of several clients can be given."""
        self.api_base = api_base.rstrip("/")
        self._hidden_hint = hidden_hint.lower()
        self._credentials = credentials
        self._concurrency = concurrency
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, 10.0))
        self._limiter = limiter or (AsyncLimiter(qps, margin=0.05) if qps else None)
        self.retry = retry or RetryPolicy()
        self._quota = quota
        self._stop = stop or asyncio.Event()
        self._rng = random.Random(seed)
        self._not_before = 0.0
        self._session: aiohttp.ClientSession | None = None
        self.tokens: TokenManager | None = None
        self.health = ApiHealth(
            self._probe,
            tolerance=outage_tolerance,
            probe_max=outage_probe_max,
            stop=self._stop,
            answered_before=answered_before or _never,
        )
        self.counters: dict[str, int] = {
            "requests": 0,
            "retries": 0,
            "rate_limited": 0,
            "token_refreshes": 0,
        }

    async def __aenter__(self) -> ResearchClient:
        connector = aiohttp.TCPConnector(
            limit=self._concurrency + 2, limit_per_host=self._concurrency + 2
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            headers={"User-Agent": f"tiktok-network/{__version__}"},
            raise_for_status=False,
        )
        self.tokens = TokenManager(self._credentials, self.api_base, self._session)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    # ------------------------------------------------------------------ endpoints
    async def list_page(
        self,
        endpoint: ListEndpoint | str,
        username: str,
        cursor: int | None,
        max_count: int | None = None,
    ) -> Outcome:
        """One page of one of ``username``'s lists (``spec.LIST_ENDPOINTS``, by name or
        description), starting at ``cursor``; counted in the list's own quota bucket."""
        if isinstance(endpoint, str):
            endpoint = LIST_ENDPOINTS[endpoint]
        body: dict[str, Any] = {"username": username}
        if endpoint.cursor != NO_CURSOR:
            body["max_count"] = max_count or endpoint.max_count
            if cursor:
                body["cursor"] = cursor
        request = _encoder.encode(body)
        described = endpoint
        hint = endpoint.hidden_hint or self._hidden_hint
        path = endpoint.path
        if endpoint.fields:
            path = f"{path}?fields={quote(endpoint.fields, safe=',')}"

        def parse(status: int, raw: bytes) -> Outcome:
            outcome = _parse_list(described, username, cursor, request, status, raw)
            if described.hideable and outcome.kind is not Kind.OK:
                return _hidden_list(described, outcome, hint, username, cursor, request, raw)
            return outcome

        return await self._call(endpoint.name, path, request, parse)

    async def user_info(self, username: str, fields: str = INFO_FIELDS) -> Outcome:
        request = _encoder.encode({"username": username})
        path = f"{ENDPOINTS['info']}?fields={quote(fields, safe=',')}"
        return await self._call("info", path, request, _parse_info)

    async def video_query(
        self,
        query: dict[str, Any],
        start_date: str,
        end_date: str,
        cursor: int = 0,
        search_id: str | None = None,
        max_count: int = VIDEO_MAX_COUNT,
        fields: str = ",".join(VIDEO_FIELDS),
    ) -> Outcome:
        """One page of videos matching ``query`` between two ``YYYYMMDD`` days (at most 30
        apart); the next page passes the returned cursor and search id. General bucket."""
        body: dict[str, Any] = {
            "query": query,
            "start_date": start_date,
            "end_date": end_date,
            "max_count": max_count,
        }
        if cursor:
            body["cursor"] = cursor
        if search_id:
            body["search_id"] = search_id
        path = f"{ENDPOINTS['video']}?fields={quote(fields, safe=',')}"
        return await self._call("info", path, _encoder.encode(body), _parse_videos)

    async def compliance(self, step: str, body: dict[str, Any]) -> Outcome:
        """One step of a batch compliance task (``spec.COMPLIANCE_PATHS``: create, status,
        download), its answer's ``data`` as it is. General bucket."""
        path = COMPLIANCE_PATHS[step]
        return await self._call("info", path, _encoder.encode(body), _parse_data)

    # ----------------------------------------------------------------- machinery
    async def _probe(self) -> bool:
        assert self.tokens is not None
        return await self.tokens.probe()

    # Long by design: the one retry state machine (token, 429, transient, outage) reads best
    # whole; each branch is a line or two.
    async def _call(
        self, bucket: str, path: str, request: bytes, parse: Callable[[int, bytes], Outcome]
    ) -> Outcome:
        policy = self.retry
        attempts = rate_waits = refreshes = 0
        while True:
            if self._stop.is_set():
                return Outcome(Kind.TRANSIENT, detail="interrupted by shutdown", interrupted=True)
            if not await self._honour_pause():
                return Outcome(Kind.TRANSIENT, detail="interrupted by shutdown", interrupted=True)
            if self._quota is not None and not await self._quota.acquire(bucket):
                return Outcome(Kind.QUOTA_EXHAUSTED, detail="daily quota used up (counted locally)")
            outcome, token, reached = await self._send_once(path, request, parse)
            if not reached and self._quota is not None:
                await self._quota.refund(
                    bucket
                )  # it never left this machine: the service saw nothing
            kind = outcome.kind
            if kind is not Kind.TRANSIENT:
                self.health.note_answer()
            if kind in (
                Kind.OK,
                Kind.NOT_FOUND,
                Kind.REFUSED,
                Kind.HIDDEN,
                Kind.SCOPE,
                Kind.FATAL,
                Kind.SEARCH_EXPIRED,
            ):
                return outcome
            if kind is Kind.QUOTA_EXHAUSTED:
                if self._quota is not None:
                    await self._quota.exhausted(bucket, outcome.detail)
                return outcome
            if kind is Kind.TOKEN_INVALID and refreshes < policy.max_token_refreshes:
                refreshes += 1
                self.counters["token_refreshes"] += 1
                if token is not None and self.tokens is not None:
                    try:
                        await self.tokens.invalidate(token)
                    except AuthError as exc:
                        return Outcome(Kind.FATAL, detail=str(exc))
                    except TransientAuthError as exc:
                        outcome = Outcome(Kind.TRANSIENT, detail=str(exc))
                continue
            if kind is Kind.RATE_LIMITED and rate_waits < policy.max_rate_limit_waits:
                rate_waits += 1
                self.counters["rate_limited"] += 1
                delay = max(
                    outcome.retry_after or 0.0, policy.rate_limit_pause(rate_waits, self._rng)
                )
                self._not_before = max(self._not_before, time.monotonic() + delay)
                continue
            attempts += 1
            if attempts > policy.max_retries:
                outcome.attempts = attempts
                verdict = await self.health.judge(outcome.detail)
                if verdict is Verdict.RECOVERED:  # the API was down, not this request: again
                    attempts = 0
                    continue
                if verdict is Verdict.STOPPED:
                    return Outcome(
                        Kind.TRANSIENT,
                        detail="interrupted by shutdown",
                        interrupted=True,
                    )
                if verdict is Verdict.GAVE_UP:
                    return Outcome(Kind.OUTAGE, detail=outcome.detail)
                if verdict is Verdict.UNREACHABLE:
                    return Outcome(
                        Kind.UNREACHABLE,
                        detail=f"cannot reach the Research API at {self.api_base}: "
                        f"{outcome.detail}; check --api-base (or TIKTOK_API_BASE) and the network",
                    )
                return outcome
            self.counters["retries"] += 1
            if not await self._sleep(policy.delay(attempts, self._rng)):
                return Outcome(Kind.TRANSIENT, detail="interrupted by shutdown", interrupted=True)

    async def _send_once(
        self, path: str, request: bytes, parse: Callable[[int, bytes], Outcome]
    ) -> tuple[Outcome, str | None, bool]:
        """One attempt: the outcome, the token used, and whether the request reached the
        service (a refused connection or a failed token fetch never did)."""
        assert self._session is not None and self.tokens is not None, (
            "use 'async with ResearchClient(...)'"
        )
        try:
            token = await self.tokens.token()
        except AuthError as exc:
            return Outcome(Kind.FATAL, detail=str(exc)), None, False
        except TransientAuthError as exc:
            return Outcome(Kind.TRANSIENT, detail=str(exc)), None, False
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        if self._limiter is not None:  # after the token: the slot is taken when the request leaves
            await self._limiter.acquire()
        self.counters["requests"] += 1
        try:
            async with self._session.post(
                self.api_base + path, data=request, headers=headers
            ) as resp:
                raw = await resp.read()
                status = resp.status
        except TimeoutError:
            return Outcome(Kind.TRANSIENT, detail="request timed out"), token, True
        except aiohttp.ClientConnectorError as exc:  # no connection: nothing was sent
            return Outcome(Kind.TRANSIENT, detail=describe_connection_error(exc)), token, False
        except aiohttp.ClientError as exc:
            return Outcome(Kind.TRANSIENT, detail=describe_connection_error(exc)), token, True
        # Hostile text (NUL, lone surrogates, unusable usernames) cleaned before anything
        # reads or stores the answer (api/sanitize.py).
        return parse(status, sanitize.response(raw)), token, True

    async def _honour_pause(self) -> bool:
        """Wait out a shared pause set after a 429; False if shutdown came first."""
        while (wait := self._not_before - time.monotonic()) > 0:
            if not await self._sleep(wait):
                return False
        return True

    async def _sleep(self, delay: float) -> bool:
        """Sleep unless shutdown is requested; True when the full delay passed."""
        try:
            await asyncio.wait_for(self._stop.wait(), timeout=delay)
        except TimeoutError:
            return True
        return False


# ---------------------------------------------------------------------- parsing
def _error_outcome(status: int, raw: bytes) -> Outcome:
    """Classify an answer that is not a usable OK page."""
    try:
        env = _generic_decoder.decode(raw)
    except msgspec.ValidationError:
        return _shape_outcome(status, "the body is JSON but not an API envelope")
    except msgspec.DecodeError:
        snippet = "HTML" if raw.lstrip()[:1] == b"<" else "not JSON" if raw else "empty"
        return Outcome(Kind.TRANSIENT, status=status, detail=f"HTTP {status}, body {snippet}")
    if env.error is None:
        return _shape_outcome(status, "no error object")
    code, message = env.error.code or "", env.error.message or ""
    if code == "ok" and status == 200:
        return _shape_outcome(status, "the data object is not what the endpoint documents")
    kind = classify_error(status, code, message)
    return Outcome(
        kind,
        status=status,
        code=code,
        detail=f"HTTP {status} {code}: {message}".strip().rstrip(":"),
        log_id=env.error.log_id or "",
    )


def _shape_outcome(status: int, why: str) -> Outcome:
    """JSON that is not what the API documents: fatal on a 200 (the API changed), else retried."""
    if status >= 500 or status == 429:
        return Outcome(
            Kind.TRANSIENT, status=status, detail=f"HTTP {status}, unexpected response shape: {why}"
        )
    return Outcome(
        Kind.FATAL, status=status, detail=f"unexpected response shape (HTTP {status}): {why}"
    )


def _parse_list(
    endpoint: ListEndpoint,
    username: str,
    cursor: int | None,
    request: bytes,
    status: int,
    raw: bytes,
) -> Outcome:
    try:
        env = _list_decoders[endpoint.name].decode(raw)
    except msgspec.ValidationError as exc:
        outcome = _error_outcome(status, raw)
        if outcome.kind is Kind.TRANSIENT or outcome.code not in ("ok", ""):
            return outcome
        return Outcome(
            Kind.FATAL,
            status=status,
            detail=f"unexpected response shape from {endpoint.name}: {exc}",
        )
    except msgspec.DecodeError:
        return _error_outcome(status, raw)
    error = env.error
    if status != 200 or error is None or error.code != "ok":
        return _error_outcome(status, raw)
    data = env.data
    paged = endpoint.cursor != NO_CURSOR
    if data is None and not paged:
        return _shape_outcome(status, f"{endpoint.name}: no data")
    if paged and (data is None or data.has_more is None):
        return Outcome(
            Kind.FATAL,
            status=status,
            detail=f"unexpected response shape from {endpoint.name}: no has_more",
        )
    listed = next((found for key in endpoint.keys if (found := getattr(data, key)) is not None), [])
    page = Page(
        endpoint=endpoint.name,
        username=username,
        request_cursor=cursor,
        items=ENTRY_ITEMS[endpoint.entry](listed),
        next_cursor=data.cursor if paged else None,
        has_more=bool(data.has_more) if paged else False,
        raw=raw,
        log_id=error.log_id or "",
        request=request,
        fetched_at=time.time(),
        videos=listed if endpoint.entry == "video" else [],
    )
    return Outcome(Kind.OK, status=status, code="ok", log_id=page.log_id, page=page)


def _hidden_list(
    endpoint: ListEndpoint,
    outcome: Outcome,
    hint: str,
    username: str,
    cursor: int | None,
    request: bytes,
    raw: bytes,
) -> Outcome:
    """A list its owner hid: the answer is kept as the list's one (empty) page, so its raw
    response and log id are stored like any other."""
    if not hint or hint not in outcome.detail.lower():
        return outcome
    page = Page(
        endpoint=endpoint.name,
        username=username,
        request_cursor=cursor,
        items=[],
        next_cursor=None,
        has_more=False,
        raw=raw,
        log_id=outcome.log_id,
        request=request,
        fetched_at=time.time(),
    )
    return Outcome(
        Kind.HIDDEN,
        status=outcome.status,
        code=outcome.code,
        detail=outcome.detail,
        log_id=outcome.log_id,
        page=page,
    )


def _ok_envelope(status: int, raw: bytes) -> tuple[Any, str] | Outcome:
    """The ``data`` and log id of an ``ok`` answer of the general endpoints, or the outcome
    of anything else (an error body, a body that is not JSON)."""
    try:
        env = _generic_decoder.decode(raw)
    except msgspec.DecodeError:
        return _error_outcome(status, raw)
    if status != 200 or env.error is None or env.error.code != "ok":
        return _error_outcome(status, raw)
    return env.data, env.error.log_id or ""


def _data_object(status: int, raw: bytes, what: str) -> tuple[dict[str, Any], str] | Outcome:
    """The ``data`` object and log id of an ``ok`` answer, or the outcome of anything else."""
    answer = _ok_envelope(status, raw)
    if isinstance(answer, Outcome):
        return answer
    data, log_id = answer
    if not isinstance(data, dict):
        return _shape_outcome(status, f"{what} data is not an object")
    return data, log_id


def _parse_info(status: int, raw: bytes) -> Outcome:
    answer = _data_object(status, raw, "user info")
    if isinstance(answer, Outcome):
        return answer
    data, log_id = answer
    try:
        info = plain_counts(msgspec.convert(data, UserInfo))
    except msgspec.ValidationError as exc:
        return _shape_outcome(status, f"user info fields of unexpected types ({exc})")
    return Outcome(Kind.OK, status=status, code="ok", log_id=log_id, info=info)


def _parse_data(status: int, raw: bytes) -> Outcome:
    answer = _data_object(status, raw, "the answer's")
    if isinstance(answer, Outcome):
        return answer
    data, log_id = answer
    return Outcome(Kind.OK, status=status, code="ok", log_id=log_id, data=data)


def _parse_videos(status: int, raw: bytes) -> Outcome:
    answer = _ok_envelope(status, raw)
    if isinstance(answer, Outcome):
        return answer
    data, log_id = answer
    if not isinstance(data, dict) or not isinstance(data.get(VIDEO_KEY, []), list):
        return _shape_outcome(status, "video query data is not an object with a videos list")
    page = VideoPage(
        [v for v in data.get(VIDEO_KEY, []) if isinstance(v, dict)],
        int(data.get("cursor") or 0),
        bool(data.get("has_more")),
        str(data.get("search_id") or ""),
    )
    return Outcome(Kind.OK, status=status, code="ok", log_id=log_id, videos=page)
