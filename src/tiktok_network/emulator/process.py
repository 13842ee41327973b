"""The one launcher of an emulator in its own process, for tests and benchmarks (the demo runs
one in-process): ``tiktok-network emulator`` as a user starts it, its URL read from the first
line it prints, stopped with SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CLI = [sys.executable, "-m", "tiktok_network.cli"]


class EmulatorDidNotStart(RuntimeError):
    """The emulator process exited or printed something else than its URL."""


@dataclass
class EmulatorProcess:
    url: str
    proc: subprocess.Popen[str]
    log: Path | None = None

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def requests(self) -> list[dict]:
        """Every request logged so far (``request_log`` must have been given)."""
        assert self.log is not None, "start the emulator with a request log"
        text = self.log.read_text() if self.log.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def stats(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/_emulator/stats", timeout=30) as resp:
            return json.loads(resp.read())


@contextmanager
def emulator_process(
    *args: str, port: int = 0, request_log: Path | None = None
) -> Iterator[EmulatorProcess]:
    """Run ``tiktok-network emulator ARGS`` on 127.0.0.1:``port`` (0: a free one) until the
    block ends."""
    argv = [*CLI, "emulator", "--port", str(port), *args]
    if request_log is not None:
        argv += ["--request-log", str(request_log)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    if not first.startswith("listening on "):
        proc.kill()
        err = proc.stderr.read() if proc.stderr else ""
        raise EmulatorDidNotStart(f"emulator did not start: {first!r} {err}")
    try:
        yield EmulatorProcess(first.strip().removeprefix("listening on "), proc, request_log)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
