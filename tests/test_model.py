"""The model-based test (tests/model.py) on both backends: a bounded, derandomized number of
random command sequences, each checked against the emulator's truth after every step.

Deterministic: Hypothesis draws the same sequences on every run (``derandomize``, no example
database), kills are triggered by requests logged, and every check is against the emulator's
own state. The long soak with fresh sequences is ``python -m benchmarks.soak --minutes 30``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.model import CrawlModel

SETTINGS = settings(
    max_examples=4,
    stateful_step_count=10,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_random_sequences_of_commands_keep_every_promise(tmp_path, request, backend):
    cluster = request.getfixturevalue("pg_cluster")

    def make_db(root: Path, name: str, other_backend: bool = False) -> str:
        postgres = (backend == "postgresql") != other_backend
        return cluster.new_database() if postgres else str(root / f"{name}.db")

    machine = type(
        f"CrawlModel_{backend}",
        (CrawlModel,),
        {"make_db": staticmethod(make_db), "backend": backend, "root_dir": tmp_path},
    )
    run_state_machine_as_test(machine, settings=SETTINGS)
