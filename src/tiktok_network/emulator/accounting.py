"""What the emulator counts: daily quotas, the short-term rate limit, and the request log.

Tests and benchmarks count requests exactly from these records, so they are kept apart from
the request handlers and exposed through ``GET /_emulator/stats`` and a JSONL log.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from typing import IO, Any

import msgspec

from tiktok_network.api import spec
from tiktok_network.emulator.settings import EmulatorSettings
from tiktok_network.quota_day import day_number
from tiktok_network.ratelimit import SlidingWindow


class QuotaBook:
    """Requests used per client, per quota day and per bucket (follow, followers, info)."""

    def __init__(self, settings: EmulatorSettings) -> None:
        self.settings = settings
        self.used: dict[tuple[str, int, str], int] = defaultdict(int)

    def bucket(self, endpoint: str) -> str:
        if endpoint in ("info", "video", *spec.VIDEO_LISTS) or endpoint.startswith("compliance"):
            return "info"
        return endpoint if self.settings.separate_follow_quotas else "follow"

    def limit(self, bucket: str) -> int:
        return self.settings.info_quota if bucket == "info" else self.settings.follow_quota

    def try_spend(self, client: str, endpoint: str) -> tuple[str, int] | None:
        """Count one request; None when the bucket is already exhausted for today."""
        bucket = self.bucket(endpoint)
        key = (client, day_number(self.settings.day_seconds), bucket)
        if self.used[key] >= self.limit(bucket):
            return None
        self.used[key] += 1
        return bucket, key[1]

    def refund(self, client: str, bucket: str, day: int) -> None:
        key = (client, day, bucket)
        if self.used[key] > 0:
            self.used[key] -= 1

    def snapshot(self) -> dict[str, dict[str, dict[str, int]]]:
        out: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
        for (client, day, bucket), n in self.used.items():
            out[client][str(day)][bucket] = n
        return {c: dict(d) for c, d in out.items()}


class ClientWindows:
    """The short-term limit of the emulator: one exact sliding window per client."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.windows: dict[str, SlidingWindow] = {}

    def allow(self, client: str) -> bool:
        window = self.windows.get(client)
        if window is None:
            window = self.windows[client] = SlidingWindow(self.rate)
        return window.try_acquire() == 0


class RequestLog:
    """Counters by endpoint and status, plus an optional JSONL line per request."""

    def __init__(self, path: str | None) -> None:
        self.by_endpoint: dict[str, Counter[str]] = defaultdict(Counter)
        self.faults: Counter[str] = Counter()
        self.items_served = 0
        self._file: IO[bytes] | None = open(path, "ab", buffering=0) if path else None  # noqa: SIM115
        self._encoder = msgspec.json.Encoder()

    def record(
        self,
        *,
        client: str | None,
        endpoint: str,
        username: str | None,
        cursor: int | None,
        status: int | str,
        code: str | None,
        items: int | None,
        fault: str | None = None,
    ) -> None:
        self.by_endpoint[endpoint][str(status)] += 1
        if fault:
            self.faults[fault] += 1
        if items:
            self.items_served += items
        if self._file is not None:
            entry: dict[str, Any] = {
                "time": round(time.time(), 6),
                "client": client,
                "endpoint": endpoint,
                "username": username,
                "cursor": cursor,
                "status": status,
                "error_code": code,
                "items": items,
            }
            if fault:
                entry["fault"] = fault
            self._file.write(self._encoder.encode(entry) + b"\n")

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": {ep: dict(c) for ep, c in self.by_endpoint.items()},
            "total_requests": sum(sum(c.values()) for c in self.by_endpoint.values()),
            "faults": dict(self.faults),
            "items_served": self.items_served,
        }
