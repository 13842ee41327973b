"""The video lists of a user: liked, reposted and pinned videos (research-api.md 3.5).

Each account's lists are drawn once from the seed, out of the video table the video query
serves (so a liked video is one the query can also return, with the same fields):

- **liked**: newest like first; the cursor is a Unix time in seconds, videos liked "on or
  before" it (none sent, or 0, is now; a millisecond value is read as seconds, as for the
  follow lists); the next cursor is the last like's second minus one;
- **reposted**: an index into the list ("start from the specified index");
- **pinned**: at most three of the account's own videos, in one answer with no paging, under
  the key ``--pinned-key`` (the official wrapper's ``pinned_videos_list``; one doc version says
  ``user_pinned_videos``).

A share of accounts (``--layers-unavailable``) keeps its liked and reposted lists private: the
answer is a 400 saying the information cannot be returned (the wording traktok matches; the
status and code are a guess). Every call counts in the general bucket, like the video query.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from aiohttp import web

from tiktok_network.api import spec
from tiktok_network.emulator.faults import seeded_unit

UNAVAILABLE_MESSAGE = (
    "The user's {layer} videos information cannot be returned"
    " (a guess at the wording's context: undocumented)"
)
MEAN_SIZE = {"liked": 12.0, "reposted": 4.0}  # videos per list, on average (Poisson)
PINNED_MOST = 3
LIKE_SPAN = 180 * 86_400  # likes fall within the half year before the emulated "now"
NOW = 1_767_225_600  # 2026-01-01: the emulated now the likes are counted back from


def _rng(seed: int, layer: str, node: int) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}:{layer}:{node}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


class LayerRoutes:
    """Part of ``Emulator`` (``server.py``): the liked, reposted and pinned lists."""

    graph: Any
    settings: Any
    log: Any

    def layer_list(self, node: int, layer: str) -> tuple[np.ndarray, np.ndarray]:
        """The video rows (indices into the video table) of one of ``node``'s lists, in the
        order served, with the second of each like (liked) or zeros."""
        table = self.videos  # type: ignore[attr-defined]
        if layer == "pinned":
            own = np.flatnonzero(table.author == node) if len(table) else np.empty(0, np.int64)
            rng = _rng(self.settings.seed, layer, node)
            k = min(len(own), int(rng.integers(0, PINNED_MOST + 1)))
            rows = np.sort(rng.choice(own, size=k, replace=False)) if k else own[:0]
            return rows.astype(np.int64), np.zeros(len(rows), np.int64)
        rng = _rng(self.settings.seed, layer, node)
        size = min(len(table), int(rng.poisson(MEAN_SIZE[layer])))
        rows = rng.choice(len(table), size=size, replace=False) if size else np.empty(0, np.int64)
        if layer == "liked":  # distinct seconds, newest first
            offsets = np.sort(rng.choice(LIKE_SPAN, size=size, replace=False))
            return rows.astype(np.int64), (NOW - offsets).astype(np.int64)
        return rows.astype(np.int64), np.zeros(size, np.int64)

    def layer_unavailable(self, node: int, layer: str) -> bool:
        """Whether the owner keeps this list private (liked and reposted only)."""
        if layer == "pinned":
            return False
        return seeded_unit(self.settings.seed, "layer", layer, node) < (
            self.settings.layers_unavailable
        )

    def layer_handler(self, endpoint: spec.ListEndpoint) -> Any:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._layer(request, endpoint)

        return handle

    async def _layer(self, request: web.Request, endpoint: spec.ListEndpoint) -> web.Response:
        layer = endpoint.name
        gated = await self._gate(request, layer)  # type: ignore[attr-defined]
        if not isinstance(gated, tuple):
            return gated  # type: ignore[no-any-return]
        client, charged, body = gated
        invalid = self._invalid  # type: ignore[attr-defined]
        fields = [f.strip() for f in request.query.get("fields", "").split(",") if f.strip()]
        unknown = [f for f in fields if f not in spec.VIDEO_DOCUMENTED_FIELDS]
        if not fields or unknown:
            why = f"Invalid fields: {','.join(unknown)}" if unknown else "fields is required."
            return invalid(client, charged, layer, None, why)  # type: ignore[no-any-return]
        username = body.get("username")
        if not isinstance(username, str) or not username:
            return invalid(client, charged, layer, None, "username is required.")  # type: ignore[no-any-return]
        max_count = body.get("max_count", spec.DEFAULT_COUNT)
        cursor = body.get("cursor") or 0
        paged = endpoint.cursor != spec.NO_CURSOR
        if paged and (
            isinstance(max_count, bool)
            or not isinstance(max_count, int)
            or not 1 <= max_count <= spec.MAX_COUNT
        ):
            why = f"max_count must be an integer between 1 and {spec.MAX_COUNT}."
            return invalid(client, charged, layer, username, why)  # type: ignore[no-any-return]
        if paged and (isinstance(cursor, bool) or not isinstance(cursor, int) or cursor < 0):
            return invalid(client, charged, layer, username, spec.INVALID_CURSOR_MESSAGE)  # type: ignore[no-any-return]
        node, refusal = self._lookup(username)  # type: ignore[attr-defined]
        if refusal is not None:
            return self._fail(  # type: ignore[attr-defined, no-any-return]
                client,
                charged,
                layer,
                username,
                cursor,
                self._error(refusal, username),  # type: ignore[attr-defined]
            )
        if self.layer_unavailable(node, layer):
            return invalid(  # type: ignore[no-any-return]
                client, charged, layer, username, UNAVAILABLE_MESSAGE.format(layer=layer)
            )
        rows, seconds = self.layer_list(node, layer)
        if self.deleted_videos:  # type: ignore[attr-defined]
            live = np.isin(rows, self.live_rows(rows))  # type: ignore[attr-defined]
            rows, seconds = rows[live], seconds[live]
        data: dict[str, Any]
        if endpoint.cursor == spec.TIMESTAMP:
            if cursor > 10**11:
                cursor //= 1000
            start = int(np.searchsorted(-seconds, -cursor, side="left")) if cursor else 0
            page = rows[start : start + max_count]
            end = start + len(page)
            data = {
                "cursor": int(seconds[end - 1]) - 1 if len(page) else (cursor or NOW),
                "has_more": end < len(rows),
            }
        elif endpoint.cursor == spec.INDEX:
            page = rows[cursor : cursor + max_count]
            data = {"cursor": cursor + len(page), "has_more": cursor + len(page) < len(rows)}
        else:
            page = rows
            data = {}
        key = self.settings.pinned_key if layer == "pinned" else endpoint.entries_key
        table = self.videos  # type: ignore[attr-defined]
        data[key] = [table.video(int(i), fields) for i in page]
        reply = self._envelope(200, "ok", "", data)  # type: ignore[attr-defined]
        return self._log_reply(client, layer, username, cursor, reply, items=len(page))  # type: ignore[attr-defined, no-any-return]
