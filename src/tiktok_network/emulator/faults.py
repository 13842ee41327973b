"""Reproducible faults: a hash of seed, request and occurrence decides, not interleaving."""

from __future__ import annotations

import hashlib

from aiohttp import web

from tiktok_network.api import spec
from tiktok_network.emulator.settings import FAULT_KINDS
from tiktok_network.emulator.state import EmulatorState


def seeded_unit(*parts: object) -> float:
    """A reproducible draw in [0, 1) from the given parts (seed, request key, occurrence)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class Faults(EmulatorState):
    """Part of ``Emulator`` (``server.py``): the handlers and helpers of one concern."""

    def _draw_fault(self, endpoint: str, username: str, cursor: int) -> str | None:
        faults = self.settings.faults
        if not faults:
            return None
        key = (endpoint, username, cursor)
        k = self._occurrences.get(key, 0)
        self._occurrences[key] = k + 1
        u = seeded_unit(self.settings.seed, "fault", endpoint, username, cursor, k)
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
