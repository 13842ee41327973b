"""``refresh --videos``: the stored videos re-checked through the batch compliance task.

The terms want stored data refreshed within the window and what is no longer available
deleted (research-api.md 6). Videos are not re-fetched one by one: the videos last confirmed
before the window go, at most 10,000 ids at a time, into a validation task (research-api.md
11); its status is asked until it is done, then the ids still valid are downloaded. The others
are deleted with their edges, and the deletion audited; the recorded outputs are written again
after the run, as after any refresh.

Durable like the rest: a batch is a row of ``video_checks`` made before its task, its task id
committed as soon as the service gives it (a run killed while the task runs asks the same task
again, and pays no second create), and its answer applied in one transaction. Each step is one
call of the general budget, counted before it is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from tiktok_network.api import spec
from tiktok_network.api.outcomes import Kind, Outcome
from tiktok_network.crawl.modes import Engine
from tiktok_network.crawl.results import StopReason
from tiktok_network.store.videos import VideoCheck

log = logging.getLogger("tiktok_network.crawl")


class TaskForgotten(Exception):
    """The service refused a status or download of the task: it no longer knows it."""


POLL_FIRST, POLL_MOST = 1.0, 60.0  # seconds between status calls: doubling, at most a minute


async def check_videos(engine: Engine, cutoff: float, poll: float = POLL_FIRST) -> None:
    """Every video last confirmed before ``cutoff`` checked, batch by batch, unless the run
    stops first (the next run goes on with the open batches)."""
    store = engine.store
    made = await store.plan_video_checks(cutoff, spec.COMPLIANCE_MAX_IDS)
    checks = await store.open_video_checks()
    log.info(
        "videos: %d batches to check (%d new), %d videos",
        len(checks),
        made,
        sum(len(c.video_ids) for c in checks),
    )
    for check in checks:
        if engine.stop_reason is not None or not await _check(engine, check, poll):
            return


async def _check(engine: Engine, check: VideoCheck, poll: float) -> bool:
    """One batch to its end; False when the run stops first."""
    store = engine.store
    task = check.task_id
    for _ in range(2):  # a task the service no longer knows is made again, once
        if task is None:
            made = await _ask(engine, "create", {"type": "video", "ids": check.video_ids})
            if made is None:
                return False
            task = str((made.data or {}).get("task_id") or "")
            if made.kind is not Kind.OK or not task:
                return _give_up(engine, f"the service made no task ({made.detail or 'no id'})")
            await store.set_video_check_task(check.check_id, task)
        try:
            valid = await _result(engine, task, poll)
        except TaskForgotten:
            await store.set_video_check_task(check.check_id, None)
            task = None
            continue
        if valid is None:
            return False
        removed = await store.finish_video_check(check, valid)
        engine.stats.pages += 1
        log.info(
            "videos: batch %d checked: %d still valid, %d deleted",
            check.check_id,
            len(valid & set(check.video_ids)),
            removed,
        )
        return True
    return _give_up(engine, "the service forgot the task twice")


async def _result(engine: Engine, task: str, poll: float) -> set[int] | None:
    """The ids the task found valid; None when the run stops first. Raises ``TaskForgotten``
    when the service no longer knows the task."""
    wait = poll
    while True:
        status = await _ask(engine, "status", {"task_id": task})
        if status is None:
            return None
        if status.kind is not Kind.OK:
            raise TaskForgotten(task)
        if (status.data or {}).get("status") == spec.COMPLIANCE_DONE:
            break
        if not await _sleep(engine, wait):
            return None
        wait = min(POLL_MOST, wait * 2)
    answer = await _ask(engine, "download", {"task_id": task})
    if answer is None:
        return None
    if answer.kind is not Kind.OK:
        raise TaskForgotten(task)
    listed = (answer.data or {}).get("valid_ids")
    if not isinstance(listed, list):
        _give_up(engine, "the task's download lists no valid_ids")
        return None
    return {int(i) for i in listed if isinstance(i, int) and not isinstance(i, bool)}


async def _ask(engine: Engine, step: str, body: dict[str, Any]) -> Outcome | None:
    """One step's answer (OK, or a refusal of this task); None when the run stops (asked to,
    the quota with --on-quota exit, an outage, a refused scope)."""
    client = engine.client
    assert client is not None
    while True:
        if not engine.may_call():
            return None
        outcome = await client.compliance(step, body)
        if outcome.kind is Kind.OK:
            return outcome
        if outcome.kind is Kind.QUOTA_EXHAUSTED:
            if await engine.quota_exhausted():
                continue
            return None
        if outcome.interrupted:
            return None
        if outcome.kind is Kind.OUTAGE:
            engine.request_stop(StopReason.OUTAGE)
            return None
        if outcome.kind in (Kind.SCOPE, Kind.FATAL, Kind.UNREACHABLE):
            engine.fail(f"batch compliance refused: {outcome.detail}")
            return None
        return outcome


def _give_up(engine: Engine, why: str) -> bool:
    log.warning("videos: batch compliance: %s: run refresh --videos again to retry", why[:300])
    engine.request_stop(StopReason.FAILED_USERS)
    return False


async def _sleep(engine: Engine, seconds: float) -> bool:
    """Wait between status calls; False when the run is asked to stop meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(engine.stop_event.wait(), timeout=seconds)
    return not engine.stop_event.is_set()
