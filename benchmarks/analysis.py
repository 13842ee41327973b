"""The full report on a synthetic graph of about 10 M edges: wall time and peak memory.

Writes the graph served by the emulator (`synthetic:550000`, about 10 M follows) to Parquet,
then times `tiktok-network analyze --edges FILE` as a user runs it, reading the peak RSS of the
process from the kernel.

    .venv/bin/python -m benchmarks.analysis [--graph synthetic:550000] [--out-of-core]
    .venv/bin/python -m benchmarks.analysis --graph synthetic:5000000 --keep /tmp/g100.parquet
    .venv/bin/python -m benchmarks.analysis --edges /tmp/g100.parquet   # the file kept before

`--out-of-core` times `analyze --out-of-core` (DuckDB's degree figures) instead.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.common import machine
from tiktok_network.emulator.graph import parse_graph_spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", default="synthetic:550000")
    parser.add_argument("--edges", help="a Parquet edge file written before (--keep)")
    parser.add_argument("--keep", help="keep the Parquet edge file written here")
    parser.add_argument("--out-of-core", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.edges or args.keep or Path(tmp) / "graph.parquet")
        if args.edges:
            label = path.name
        else:
            label = args.graph
            _write_graph(args.graph, path)
        rows = pq.ParquetFile(path).metadata.num_rows
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
                label,
                "--out",
                str(Path(tmp) / "report"),
                *(["--out-of-core"] if args.out_of_core else []),
            ]
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
    print(f"machine: {machine()}")
    print(f"graph {label}: {rows:,} edge rows; exit {os.waitstatus_to_exitcode(status)}")
    print(
        f"{'out-of-core' if args.out_of_core else 'full'} report: wall {wall:.1f} s, CPU {usage.ru_utime + usage.ru_stime:.1f} s, peak RSS {usage.ru_maxrss / 2**20:.2f} GB"
    )


def _write_graph(spec: str, path: Path) -> None:
    """The emulator's graph ``spec`` as a Parquet edge list of usernames."""
    graph = parse_graph_spec(spec)
    src, dst = graph.edge_arrays()
    names = pa.array(graph.usernames, type=pa.string())
    pq.write_table(
        pa.table({"source": names.take(pa.array(src)), "destination": names.take(pa.array(dst))}),
        path,
        compression="zstd",
    )


if __name__ == "__main__":
    main()
