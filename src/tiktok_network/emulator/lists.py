"""The follow-list endpoints: cursor paging over the graph, with the reported quirks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from aiohttp import web

from tiktok_network.api import spec
from tiktok_network.emulator import hostile
from tiktok_network.emulator.faults import seeded_unit
from tiktok_network.emulator.settings import ErrorTriple
from tiktok_network.emulator.state import LIST_KEYS, EmulatorState


class ListRoutes(EmulatorState):
    """Part of ``Emulator`` (``server.py``): the handlers and helpers of one concern."""

    def list_handler(
        self, endpoint: spec.ListEndpoint
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """The handler of a per-user list endpoint, by the kind of its entries."""
        if endpoint.entry != "account":
            raise ValueError(f"the emulator serves no list of {endpoint.entry} entries")

        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._follow_list(request, endpoint.name)

        return handle

    # Long by design: validation, quirks and paging of one endpoint in the order a request
    # meets them, as the emulator tests read it.
    async def _follow_list(self, request: web.Request, endpoint: str) -> web.StreamResponse:
        gated = await self._gate(request, endpoint)
        if isinstance(gated, web.Response):
            return gated
        client, charged, body = gated
        username = body.get("username")
        max_count = body.get("max_count", spec.DEFAULT_COUNT)
        cursor = body.get("cursor")
        if not isinstance(username, str) or not username:
            return self._invalid(client, charged, endpoint, None, "username is required.")
        if max_count is None:
            max_count = spec.DEFAULT_COUNT
        if (
            isinstance(max_count, bool)
            or not isinstance(max_count, int)
            or not 1 <= max_count <= spec.MAX_COUNT
        ):
            return self._invalid(
                client,
                charged,
                endpoint,
                username,
                f"max_count must be an integer between 1 and {spec.MAX_COUNT}.",
            )
        if cursor is not None and (
            isinstance(cursor, bool) or not isinstance(cursor, int) or cursor < 0
        ):
            return self._invalid(client, charged, endpoint, username, spec.INVALID_CURSOR_MESSAGE)
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
        if endpoint == "following" and self.hidden_following[node]:
            hidden = self.settings.hidden_following_response
            if hidden is not None:
                return self._fail(
                    client, charged, endpoint, username, cursor, self._error(hidden, username)
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
        evolving = self.evolution.rates.active
        if endpoint == "following":
            if self.hidden_following[node]:  # answered as an empty list
                return self.graph.following.row(node)[0][:0], self.graph.following.row(node)[1][:0]
            targets, times = self.graph.following.row(node)
            return (
                self.evolution.served(endpoint, node, targets, times)
                if evolving
                else (targets, times)
            )
        targets, times = self.graph.followers.row(node)
        if evolving:
            targets, times = self.evolution.served(endpoint, node, targets, times)
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
            and seeded_unit(s.seed, "short", endpoint, username, cursor) < s.short_pages
        ):
            count = 1 + int(
                seeded_unit(s.seed, "short-n", endpoint, username, cursor) * (max_count - 1)
            )
        end = min(start + count, len(targets))
        page = targets[start:end]
        has_more = end < len(targets)
        if len(page):
            next_cursor = int(times[end - 1]) - 1
            if (
                s.same_second_repeats
                and has_more
                and len(page) >= 2
                and seeded_unit(s.seed, "repeat", endpoint, username, cursor)
                < s.same_second_repeats
            ):
                next_cursor += 1  # the boundary follow shares its second with the next one
        else:
            next_cursor = cursor or int(time.time())
        item = self._item if self.settings.hostile_text else self.graph.item_json
        items = b",".join([item(int(t)) for t in page])
        if self.settings.hostile_text and self.hostile[node] and not cursor:
            items = hostile.ghost_entry(node) + (b"," + items if items else b"")
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

    def _item(self, node: int) -> bytes:
        if self.hostile[node]:
            return hostile.item(node, self.graph.usernames[node])
        return self.graph.item_json(node)

    def _lookup(self, username: Any) -> tuple[int | None, ErrorTriple | None]:
        """The account behind a username, or how the service refuses to serve it."""
        s = self.settings
        node = self.graph.user_id(username) if isinstance(username, str) else None
        if node is None or node in self.missing_ids or self.evolution.gone[node]:
            return None, s.not_found
        if self.refused[node] or self.private[node] or self.evolution.turned_private[node]:
            return None, s.refused
        return node, None
