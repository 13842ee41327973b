"""Is it the user or the API? Telling an outage from a failure of one account's request.

A request that fails every retry used to mark its user "failed after retries"; when the whole
API was down (a network outage, a restart of the service, a mistyped base URL) that turned an
outage into a verdict on hundreds of users and ended the crawl "complete". Now a request that
exhausts its retries asks this object first:

- the API is probed (a token request: it costs no quota). If it answers, the API is up and
  the failure belongs to the user. If not, every worker pauses while one probe loop backs off (1 s, 2 s,
  ... up to ``probe_max``) until the API answers again (the request is then retried from
  scratch) or ``tolerance`` seconds have passed (the crawl stops with work left);
- a run that has never had an answer, for an API base that never answered this crawl, is not
  waited for: a wrong ``--api-base`` or a closed port is said at once.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger("tiktok_network.api")


class Verdict(enum.Enum):
    USER = "user"  # the API answers: the failure is this request's own
    RECOVERED = "recovered"  # the API was down and answers again: retry the request
    GAVE_UP = "gave_up"  # down for longer than the tolerance: stop with work left
    UNREACHABLE = "unreachable"  # never reached in this crawl: a wrong address, say so
    STOPPED = "stopped"  # shutdown requested while waiting


class ApiHealth:
    def __init__(
        self,
        probe: Callable[[], Awaitable[bool]],
        *,
        tolerance: float,
        probe_max: float,
        stop: asyncio.Event,
        answered_before: Callable[[], Awaitable[bool]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probe = probe
        self.tolerance = tolerance
        self.probe_max = probe_max
        self._stop = stop
        self._answered_before = answered_before
        self._clock = clock
        self.last_answer = float("-inf")
        self.down_since: float | None = None  # set while an outage is being waited out
        self._outage: asyncio.Task[Verdict] | None = None

    def note_answer(self) -> None:
        """The API answered (any answer but a transport failure, 5xx or garbage)."""
        self.last_answer = self._clock()

    async def judge(self, detail: str) -> Verdict:
        """Whose fault is a request that failed every retry?"""
        # An answer to another request while this one failed is not enough: an outage may have
        # begun since. Only an answer now (the probe) clears the API.
        if self._outage is None or self._outage.done():
            if await self._probe():
                self.note_answer()
                return Verdict.USER
            # Asked only now: on a large crawl it reads the pages table.
            if self.last_answer == float("-inf") and not await self._answered_before():
                return Verdict.UNREACHABLE
            self._outage = asyncio.create_task(self._wait_out(detail))
        return await asyncio.shield(self._outage)

    async def _wait_out(self, detail: str) -> Verdict:
        start = self._clock()
        self.down_since = start
        log.warning(
            "the API does not answer (%s): pausing every request and probing until it does "
            "(for up to %s)",
            detail,
            _duration(self.tolerance),
        )
        delay = 1.0
        try:
            while self._clock() - start < self.tolerance:
                try:
                    await asyncio.wait_for(self._stop.wait(), timeout=delay)
                    return Verdict.STOPPED
                except TimeoutError:
                    pass
                if await self._probe():
                    self.note_answer()
                    log.warning(
                        "the API answers again after %s: resuming", _duration(self._clock() - start)
                    )
                    return Verdict.RECOVERED
                delay = min(self.probe_max, delay * 2)
            log.warning("the API did not answer for %s: stopping", _duration(self.tolerance))
            return Verdict.GAVE_UP
        finally:
            self.down_since = None


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"
