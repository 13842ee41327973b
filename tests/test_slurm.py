"""slurm/crawl.sbatch under a real single-node Slurm (slurmctld, slurmd, munged).

The job script is submitted as a lab would submit it, against the emulator on loopback: it
completes with the exact graph; signalled (the script's warning signal, sent by hand with
``scancel --signal=TERM --batch``) or requeued from outside with ``scontrol requeue`` it
resumes from the durable copy of its database and ends with the exact graph, not one page
fetched twice; stopped by the day's quota, counted by the server or by itself, it is held
until just after the (emulated) quota reset in a node time zone west or east of UTC.
Signals are sent at progress points (requests the emulator logged), never at clock times.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import SYNTH
from tests.crawl_helpers import (
    KEY,
    SECRET,
    EmulatorProcess,
    RequestCounter,
    bfs_users,
    db_edges,
    emulator_process,
    page_fetches,
    pages_needed,
    truth,
)
from tests.pg_server import pg_rows
from tests.slurm_cluster import CRED_EXPIRE, SlurmCluster, missing_requirement

pytestmark = [pytest.mark.slurm, pytest.mark.xdist_group("slurm")]

SCRIPT = Path(__file__).resolve().parents[1] / "slurm" / "crawl.sbatch"
ARRAY_SCRIPT = SCRIPT.with_name("crawl-array.sbatch")

ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"}


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    why = missing_requirement()
    if why:
        pytest.skip(why)
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def seeds_of(graph, n: int) -> list[str]:
    return [
        graph.usernames[u] for u in range(graph.n_users) if 5 <= graph.following.degree(u) <= 60
    ][:n]


class Lab:
    """One test's crawl folder, scratch folder and job submissions, as a user sets them up."""

    def __init__(self, cluster: SlurmCluster, root: Path, emu: EmulatorProcess, seeds: list[str]):
        self.cluster, self.root, self.emu = cluster, root, emu
        self.crawl_dir = root / "tiktok-crawl"
        self.crawl_dir.mkdir()
        (self.crawl_dir / "seeds.csv").write_text("username\n" + "\n".join(seeds) + "\n")

    def submit(
        self,
        *crawl_args: str,
        tz: str = "UTC",
        script: Path = SCRIPT,
        sbatch: tuple = (),
        db: str | None = None,
    ) -> str:
        env = dict(self.cluster.env)
        if db:
            env["TIKTOK_DB"] = db
        env.update(
            TIKTOK_CLIENT_KEY=KEY,
            TIKTOK_CLIENT_SECRET=SECRET,
            TIKTOK_API_BASE=self.emu.url,
            CRAWL_DIR=str(self.crawl_dir),
            TIKTOK_VENV=sys.prefix,
            TIKTOK_SCRATCH=str(self.root / "scratch"),
            XDG_STATE_HOME=str(self.root / "state"),
            TZ=tz,
        )
        done = self.cluster.run(
            "sbatch",
            "--parsable",
            f"--chdir={self.root}",
            f"--output={self.root}/job-%j.log",
            *sbatch,
            str(script),
            "--retry-base-delay",
            "0.01",
            "--log-every",
            "1",
            *crawl_args,
            env=env,
        )
        return done.stdout.strip().split(";")[0]

    def job(self, job_id: str) -> dict[str, str]:
        return self.cluster.job(job_id)

    def log(self, job_id: str) -> str:
        path = self.root / f"job-{job_id}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait(self, job_id: str, ready: Callable[[dict[str, str]], bool], what: str) -> dict:
        """Poll the job until ``ready``; a guard limit only stops a hang from hanging the suite."""
        deadline = time.monotonic() + 240
        while True:
            job = self.job(job_id)
            if ready(job):
                return job
            if job.get("JobState") in ENDED:
                raise AssertionError(
                    f"job ended {job.get('JobState')} before {what}:\n{self.log(job_id)}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"job never reached {what}: {job}\n{self.log(job_id)}")
            time.sleep(0.2)

    def wait_done(self, job_id: str) -> dict[str, str]:
        deadline = time.monotonic() + 240
        while (job := self.job(job_id)).get("JobState") not in ENDED:
            assert time.monotonic() < deadline, f"job did not end: {job}\n{self.log(job_id)}"
            time.sleep(0.2)
        assert job["JobState"] == "COMPLETED", f"{job}\n{self.log(job_id)}"
        return job

    def wait_requests(self, counter: RequestCounter, target: int, job_id: str) -> None:
        deadline = time.monotonic() + 240
        while counter.count() < target:
            state = self.job(job_id).get("JobState")
            assert state not in ENDED, f"job ended before {target} requests:\n{self.log(job_id)}"
            assert time.monotonic() < deadline, f"no progress to {target} requests"
            time.sleep(0.01)


@pytest.fixture
def lab(slurm: SlurmCluster, tmp_path: Path) -> Iterator[Callable[..., Lab]]:
    with contextlib.ExitStack() as stack:

        def _make(seeds: list[str], *emulator_args: str) -> Lab:
            emu = stack.enter_context(emulator_process(tmp_path, "--graph", SYNTH, *emulator_args))
            return Lab(slurm, tmp_path, emu, seeds)

        yield _make


def assert_exact(lab: Lab, graph, seeds: list[str], depth: int) -> None:
    edges = db_edges(lab.crawl_dir / "crawl.db")  # the durable copy in CRAWL_DIR
    assert len(edges) == len(set(edges))
    assert set(edges) == truth(graph, bfs_users(graph, seeds, depth, "following"), "following")


def test_job_completes_with_the_exact_graph_from_a_staged_database(lab, synth):
    seeds = seeds_of(synth, 3)
    run = lab(seeds)
    job = run.submit("--max-depth", "1")
    run.wait_done(job)
    assert_exact(run, synth, seeds, 1)
    assert (run.crawl_dir / "outputs" / "network.csv").exists()
    log = run.log(job)
    assert "crawl complete" in log and "copied the crawl back to" in log, log
    assert not list((run.root / "scratch").rglob("*.db"))  # the working copy was cleared


def test_signalled_and_requeued_jobs_resume_to_the_exact_graph(lab, synth):
    seeds = seeds_of(synth, 3)
    depth = 2
    assert (
        pages_needed(synth, bfs_users(synth, seeds, depth, "following"), "following") > 2 * 150 + 50
    )
    run = lab(seeds, "--latency-ms", "5")
    job = run.submit("--max-depth", str(depth), "--concurrency", "4")
    counter = RequestCounter(run.emu.log)
    run.wait_requests(counter, 150, job)
    # The script's warning signal, sent by hand: drain, copy back, requeue itself.
    run.cluster.run("scancel", "--signal=TERM", "--batch", job)
    run.wait(job, lambda j: j.get("Restarts") == "1" and j.get("JobState") == "RUNNING", "rerun")
    run.wait_requests(counter, counter.count() + 150, job)
    # A requeue from outside: Slurm sends SIGTERM to the job, which drains within KillWait.
    run.cluster.run("scontrol", "requeue", job)
    done = run.wait_done(job)
    assert done["Restarts"] == "2"
    assert_exact(run, synth, seeds, depth)
    fetched = page_fetches(run.emu.requests())
    assert max(fetched.values()) == 1  # drained runs commit every page they fetched
    log = run.log(job)
    assert log.count("copied the crawl back to") == 3 and "requeued Slurm job" in log, log


@pytest.mark.parametrize(
    ("counted_by", "tz"), [("server", "America/New_York"), ("crawler", "Asia/Tokyo")]
)
def test_a_quota_stopped_job_is_held_until_just_after_the_reset(lab, synth, counted_by, tz):
    day, quota = 12.0, 25
    seeds = seeds_of(synth, 5)
    needed = pages_needed(synth, bfs_users(synth, seeds, 1, "following"), "following")
    assert needed > 2 * quota  # more than two days of quota: at least one stop on any schedule
    server_quota = quota if counted_by == "server" else 100_000
    run = lab(seeds, "--follow-quota", str(server_quota), "--day-seconds", str(day))
    crawler = ["--follow-quota", str(quota)] if counted_by == "crawler" else []
    job = run.submit("--max-depth", "1", "--day-seconds", str(day), *crawler, tz=tz)
    run.wait(
        job,
        lambda j: (
            j.get("Restarts") == "1"
            and j.get("JobState") == "PENDING"
            and j.get("Reason") == "BeginTime"
        ),
        "the hold after a quota stop",
    )
    utc = dict(run.cluster.env, TZ="UTC")  # read the begin time back in UTC
    shown = run.cluster.run("scontrol", "-o", "show", "job", job, env=utc).stdout
    begin = (
        datetime.strptime(
            next(t for t in shown.split() if t.startswith("StartTime=")).split("=", 1)[1],
            "%Y-%m-%dT%H:%M:%S",
        )
        .replace(tzinfo=UTC)
        .timestamp()
    )
    follow = [r for r in run.emu.requests() if r["endpoint"] == "following"]
    stopped_at = follow[-1]["time"]
    reset = (stopped_at // day + 1) * day
    # Slurm itself holds any requeued job for cred_expire + 1 s: a stop just before the reset
    # (drain, export and copy-back take a few seconds) meets that floor instead of the margin.
    slurm_floor = stopped_at + 10 + CRED_EXPIRE + 1
    assert reset <= begin <= max(reset + 0.05 * day, slurm_floor) + 2, (stopped_at, begin, tz)
    run.wait_done(job)
    later = [r["time"] for r in run.emu.requests() if r["endpoint"] == "following"][len(follow) :]
    assert later and min(later) >= reset  # nothing ran before the quota came back
    assert_exact(run, synth, seeds, 1)
    assert "held until" in run.log(job)


def test_a_job_array_of_workers_shares_one_postgresql_crawl(lab, synth, pg_url):
    """crawl-array.sbatch: two tasks, each a worker on the same PostgreSQL crawl; the lowest
    task writes the outputs."""
    seeds = seeds_of(synth, 3)
    run = lab(seeds, "--latency-ms", "5")
    array = run.submit("--max-depth", "2", script=ARRAY_SCRIPT, sbatch=("--array=0-1",), db=pg_url)
    for task in ("0", "1"):
        run.wait_done(f"{array}_{task}")
    edges = db_edges(pg_url)
    assert len(edges) == len(set(edges))
    assert set(edges) == truth(synth, bfs_users(synth, seeds, 2, "following"), "following")
    workers = pg_rows(pg_url, "SELECT count(*), count(ended_at) FROM workers")[0]
    assert workers == (2, 2)
    network = run.crawl_dir / "outputs" / "network.csv"
    assert network.exists() and len(network.read_text().splitlines()) == len(edges) + 1
