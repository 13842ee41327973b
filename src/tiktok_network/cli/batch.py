"""Batch jobs: a database staged on node-local scratch, and Slurm's requeue and hold."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import TYPE_CHECKING

from tiktok_network.store import database_errors

if TYPE_CHECKING:
    from tiktok_network.config import CrawlSettings
    from tiktok_network.store.staging import StagedDatabase
from tiktok_network.cli.errors import UserError, say


def stage_in(settings: CrawlSettings, stage_dir: str) -> StagedDatabase:
    """Copy --db to the stage folder and point the crawl at the copy."""
    from tiktok_network.store.errors import NotACrawlDatabase
    from tiktok_network.store.staging import StagedDatabase

    stage = StagedDatabase.under(settings.db, stage_dir)
    try:
        found = stage.stage_in()
    except NotACrawlDatabase as exc:
        raise UserError(str(exc)) from None
    except (OSError, *database_errors()) as exc:
        raise UserError(f"cannot stage {stage.durable} into {stage_dir}: {exc}") from None
    say(
        f"working on {stage.local}, "
        + (f"copied from {stage.durable}" if found else f"new; copied to {stage.durable} on exit")
    )
    settings.db = str(stage.local)
    return stage


def stage_out(stage: StagedDatabase) -> None:
    """Copy the crawl back at exit; the local copy is removed once it is safe elsewhere."""
    try:
        stage.stage_out()
    except (OSError, *database_errors()) as exc:
        say(f"error: could not copy {stage.local} back to {stage.durable} (kept): {exc}")
        return
    stage.discard_local()
    say(f"copied the crawl back to {stage.durable}")


def requeue_slurm_job(settings: CrawlSettings, *, hold: bool) -> None:
    """Put this Slurm job back in the queue; after a quota stop, hold it until the reset.

    A requeue makes Slurm send SIGTERM to every process of the job, scontrol included, so
    SIGTERM is ignored from here on (the crawl is committed and copied back; an ignored
    signal stays ignored in the scontrol children). A held requeue is race-free: the job is
    requeued held, its begin time set, then released, so whatever dies half-way leaves it
    held rather than free to start before the quota resets. The begin time is relative
    (``now+N`` seconds), which Slurm cannot misread in the node's local time zone.
    """
    import math
    import subprocess

    from tiktok_network.quota_day import iso_utc, next_reset

    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        say("warning: --slurm-requeue outside a Slurm job (no SLURM_JOB_ID): not requeued")
        return
    for sig in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    if hold:
        margin = min(120.0, 0.05 * settings.day_seconds)
        begin = next_reset(settings.day_seconds) + margin
        delay = max(1, math.ceil(begin - time.time()))
        commands = [
            ["scontrol", "requeuehold", job],
            ["scontrol", "update", f"JobId={job}", f"StartTime=now+{delay}"],
            ["scontrol", "release", job],
        ]
        done = f"requeued Slurm job {job}, held until {iso_utc(time.time() + delay)} (quota reset)"
    else:
        commands = [["scontrol", "requeue", job]]
        done = f"requeued Slurm job {job}"
    for command in commands:
        try:
            subprocess.run(command, check=True, capture_output=True, text=True, timeout=60)
        except subprocess.CalledProcessError as exc:
            say(f"warning: {' '.join(command)} failed: {exc.stderr.strip() or exc}")
            return
        except (OSError, subprocess.SubprocessError) as exc:
            say(f"warning: {' '.join(command)} failed: {exc}")
            return
    say(done)


async def sync_stage(stage: StagedDatabase, every: float) -> None:
    """Copy the staged database back now and then, so a lost node loses little."""
    while True:
        await asyncio.sleep(every)
        try:
            await asyncio.to_thread(stage.stage_out)
        except (OSError, *database_errors()) as exc:
            say(f"warning: could not copy the crawl back to {stage.durable}: {exc}")
