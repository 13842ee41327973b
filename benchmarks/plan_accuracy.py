"""How close `plan` comes: crawl a bundled graph to depth k, plan depth k+1, crawl it, compare.

    python -m benchmarks.plan_accuracy [--graph wiki-vote] [--seeds 30 25 28] [--depth 1]
                                       [--direction both]

Prints, per bucket, the planned calls with their range and the calls the emulator then logged.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tiktok_network.emulator.process import emulator_process

CLI = [sys.executable, "-m", "tiktok_network.cli"]


def follow_calls(log: Path) -> dict[str, int]:
    counts = {"following": 0, "followers": 0, "info": 0}
    for line in log.read_text().splitlines():
        endpoint = json.loads(line)["endpoint"]
        if endpoint in counts:
            counts[endpoint] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", default="wiki-vote")
    parser.add_argument("--seeds", nargs="+", default=["30", "25", "28"])
    parser.add_argument("--depth", type=int, default=1, help="depth crawled before the plan")
    parser.add_argument("--direction", default="both")
    parser.add_argument("--info", action="store_true", help="crawl with --info")
    parser.add_argument("--ahead", type=int, default=1, help="depths planned beyond --depth")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        log = root / "requests.jsonl"
        env = dict(os.environ, TIKTOK_CLIENT_KEY="demo-key", TIKTOK_CLIENT_SECRET="demo-secret")
        emu_args = ["--graph", args.graph, "--follow-quota", "100000000", "--info-quota", "1000000"]
        with emulator_process(*emu_args, request_log=log) as emu:
            url = emu.url
            common = [
                "--api-base",
                url,
                "--db",
                str(root / "c.db"),
                "--direction",
                args.direction,
                "--quota-ledger",
                str(root / "ledger.db"),
                "--follow-quota",
                "100000000",
                "--info-quota",
                "1000000",
                "--quiet",
            ] + (["--info"] if args.info else [])
            crawl = [*CLI, "crawl", *common, "--no-export"]
            subprocess.run(
                [*crawl, *args.seeds, "--max-depth", str(args.depth)], env=env, check=True
            )
            planned = json.loads(
                subprocess.run(
                    [*CLI, "plan", *common, "--max-depth", str(args.depth + args.ahead), "--json"],
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            before = follow_calls(log)
            target = str(args.depth + args.ahead)
            subprocess.run([*crawl, "--max-depth", target], env=env, check=True)
            after = follow_calls(log)
    print(
        f"{args.graph}, seeds {' '.join(args.seeds)}, {args.direction}: depth {args.depth} "
        f"crawled, plan for depth {args.depth + args.ahead}"
    )
    for bucket in ("following", "followers", "info"):
        real = after[bucket] - before[bucket]
        low, high = planned["calls_low"][bucket], planned["calls_high"][bucket]
        inside = "inside" if low <= real <= high else "OUTSIDE"
        print(
            f"  {bucket:<10} planned {planned['calls'][bucket]:>7,} (range {low:,} to "
            f"{high:,})   real {real:>7,}   {inside}"
        )


if __name__ == "__main__":
    main()
