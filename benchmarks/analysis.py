"""The full report on a synthetic graph of about 10 M edges: wall time and peak memory.

Writes the graph served by the emulator (`synthetic:550000`, about 10 M follows) to Parquet,
then times `tiktok-network analyze --edges FILE` as a user runs it, reading the peak RSS of the
process from the kernel.

    .venv/bin/python -m benchmarks.analysis [--graph synthetic:550000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.common import machine
from tiktok_network.emulator.graph import parse_graph_spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", default="synthetic:550000")
    args = parser.parse_args()
    graph = parse_graph_spec(args.graph)
    src, dst = graph.edge_arrays()
    names = np.array(graph.usernames, dtype=object)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "graph.parquet"
        pq.write_table(
            pa.table({"source": names[src], "destination": names[dst]}), path, compression="zstd"
        )
        del names, src, dst
        start = time.monotonic()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tiktok_network.cli",
                "analyze",
                "--edges",
                str(path),
                "--name",
                args.graph,
                "--out",
                str(Path(tmp) / "report"),
            ]
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
    print(f"machine: {machine()}")
    print(
        f"graph {args.graph}: {graph.n_users:,} nodes, {graph.n_edges:,} edges; exit {os.waitstatus_to_exitcode(status)}"
    )
    print(
        f"full report: wall {wall:.1f} s, CPU {usage.ru_utime + usage.ru_stime:.1f} s, peak RSS {usage.ru_maxrss / 2**20:.2f} GB"
    )


if __name__ == "__main__":
    main()
