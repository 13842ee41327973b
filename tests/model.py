"""A model of how a lab uses the tool, driven by Hypothesis (stateful testing).

``CrawlModel`` runs random sequences of the real commands against an emulator whose graph
evolves: crawl, kill -9 and resume, advance the emulated clock, refresh with and without
``--lists`` (some stopped by a small user-info quota), export in every format with and without
``--as-of`` and ``--pseudonymize``, diff, analyze, ``db copy`` both ways, plan and status. After
every step it checks the promises against the emulator's truth:

- the current graph equals what the service serves on the lists recorded complete (whenever
  every list was fetched since the clock last moved), and no current follow touches a tombstone;
- no purged username, display name or bio is left anywhere the tool wrote: the databases (raw
  pages decompressed, the SQLite files byte by byte), every output folder, report and diff;
- every completeness record matches what the service served (whole lists are complete, and
  hold as many entries as the service listed);
- plan, status, export, analyze and diff leave the crawl's settings, seeds and data unchanged;
- the quota the machine's ledger counted equals the requests the emulator logged;
- a copy exports what its source exports.

``tests/test_model.py`` runs a bounded, derandomized number of sequences on both backends;
``python -m benchmarks.soak --minutes 30`` runs it with fresh random sequences until time is up.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests.crawl_helpers import CLI, RequestCounter, _query, crawl_env
from tests.test_lifecycle import emulator_json
from tiktok_network.crawl.quota import RESERVE_BLOCK
from tiktok_network.emulator.graph import parse_graph_spec
from tiktok_network.emulator.process import emulator_process

GRAPH = "synthetic:160,seed=4"
EMULATOR = (
    "--graph", GRAPH, "--seed", "5", "--refused-fraction", "0.04", "--hostile-text", "0.05",
    "--evolve-follow", "0.03", "--evolve-unfollow", "0.03", "--evolve-delete", "0.02",
    "--evolve-private", "0.02", "--day-seconds", "1000000000",
    "--follow-quota", "100000000", "--info-quota", "10000000",
)  # fmt: skip
# The crawler's own daily budgets: far above what a sequence spends (its day is a real day).
BUDGETS = ("--follow-quota", "10000000", "--info-quota", "1000000")
NAMES = parse_graph_spec(GRAPH).usernames
SEEDS = [NAMES[i] for i in (3, 17, 41, 77, 120, 151)]
FORMATS = ("csv", "parquet", "graphml", "gexf")


def _moment(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class CrawlModel(RuleBasedStateMachine):
    """One lab's crawl on one backend; ``make_db`` gives a fresh database (file or URL)."""

    # A fresh database by name: a file in the model's folder, or a PostgreSQL URL
    # (``other_backend``: the backend this model's copies go to).
    make_db: Callable[..., str]
    backend = "sqlite"
    root_dir: Path = Path(tempfile.gettempdir())

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="model-", dir=self.root_dir))
        self.key = self.root / "lab.key"
        self.key.write_text("k" * 48)
        self.db = self.make_db(self.root, "crawl")
        self._emulator = emulator_process(*EMULATOR, request_log=self.root / "requests.jsonl")
        self.emu = self._emulator.__enter__()
        self.env = crawl_env(self.emu.url, XDG_STATE_HOME=str(self.root / "state"))
        self.crawled = False  # a crawl ran to its end at least once
        self.fresh = False  # every list was fetched whole since the clock last moved
        self.purged: set[str] = set()  # usernames a purge removed (known from the database)
        self.departed_text: set[str] = set()  # their display names, kept to look for
        self.copies: list[str] = []
        self.moments: list[float] = []
        self.analyzed = 0
        self.kills = 0
        self.outputs = 0
        self.steps: list[str] = []

    # ------------------------------------------------------------------ helpers
    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*CLI, *args], capture_output=True, text=True, env=self.env, cwd=self.root,
            timeout=timeout,
        )  # fmt: skip
        assert "Traceback" not in done.stderr, (args, done.stderr[-3000:])
        return done

    def db_args(self, db: str | None = None) -> tuple[str, ...]:
        return ("--db", db or self.db)

    def target(self, db: str | None = None) -> Any:
        db = db or self.db
        return db if "://" in db else Path(db)

    def new_dir(self, kind: str) -> Path:
        self.outputs += 1
        return self.root / f"{kind}-{self.outputs}"

    def names(self, db: str | None = None) -> set[str]:
        return {n for (n,) in _query(self.target(db), "SELECT username FROM users")}

    def state(self, db: str | None = None) -> tuple:
        """What reading and what-if commands must leave as it is."""
        from tiktok_network.store import stored_settings

        t = self.target(db)
        users = sorted(_query(t, "SELECT username, depth, is_seed, info FROM users"))
        lists = sorted(_query(t, "SELECT user_id, direction, done, state, items FROM lists"))
        edges = sorted(
            _query(t, "SELECT src, dst, removed_at FROM edges")
        )  # fmt: skip
        settings = stored_settings(db or self.db)
        return users, lists, edges, settings

    def remember_purges(self, before: set[str], texts: dict[str, str]) -> None:
        """Accounts that left the database in a refresh were purged: keep their names (and
        display names) to look for everywhere afterwards."""
        gone = before - self.names()
        self.purged |= gone
        self.departed_text |= {texts[n] for n in gone if texts.get(n) and len(texts[n]) > 6}

    def display_names(self) -> dict[str, str]:
        return {
            n: d for n, d in _query(self.target(), "SELECT username, display_name FROM users") if d
        }

    def crawl_args(self, *extra: str) -> list[str]:
        return [
            "crawl", *self.db_args(), "--out", str(self.root / "crawl-out"), "--max-depth", "1",
            "--direction", "both", "--info", "--retry-base-delay", "0.01", "--log-every", "5",
            "--log-file", str(self.root / "crawl.log"), "--lease", "3", *BUDGETS, *extra,
        ]  # fmt: skip

    # -------------------------------------------------------------------- rules
    @rule(seed=st.sampled_from(SEEDS))
    def crawl(self, seed: str) -> None:
        self.steps.append(f"crawl {seed}")
        done = self.cli(*self.crawl_args(seed))
        assert done.returncode == 0, done.stderr[-3000:]
        self.crawled = True
        self.fresh = self.fresh or not self.moments  # only when nothing changed yet

    @rule(seed=st.sampled_from(SEEDS), after=st.integers(min_value=1, max_value=40))
    def kill_and_resume(self, seed: str, after: int) -> None:
        """kill -9 after ``after`` more requests (progress, not time), then run again."""
        self.steps.append(f"kill -9 after {after}, resume {seed}")
        counter = RequestCounter(self.root / "requests.jsonl")
        target = counter.count() + after
        proc = subprocess.Popen(
            [*CLI, *self.crawl_args(seed, "--no-export")], stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True, env=self.env, cwd=self.root,
        )  # fmt: skip
        while proc.poll() is None and counter.count() < target:
            time.sleep(0.002)
        if proc.poll() is None:
            proc.kill()
            self.kills += 1
        proc.wait(timeout=60)
        self.crawled = True  # at least started: the database exists
        done = self.cli(*self.crawl_args())
        assert done.returncode == 0, done.stderr[-3000:]
        self.fresh = self.fresh or not self.moments

    @rule(days=st.integers(min_value=1, max_value=20))
    def advance(self, days: int) -> None:
        self.steps.append(f"advance {days} days")
        self.moments.append(datetime.now(UTC).timestamp())
        emulator_json(self.emu.url, "/_emulator/advance", {"days": days})
        self.fresh = False

    @precondition(lambda self: self.crawled)
    @rule(lists=st.booleans(), short=st.booleans())
    def refresh(self, lists: bool, short: bool) -> None:
        """A refresh, with or without --lists; ``short``: stopped by a small info quota and
        then run again to its end."""
        self.steps.append(f"refresh lists={lists} short={short}")
        before, texts = self.names(), self.display_names()
        base = [
            "refresh", *self.db_args(), "--older-than", "0s", "--retry-base-delay", "0.01",
            "--log-file", str(self.root / "crawl.log"), *(["--lists"] if lists else []),
        ]  # fmt: skip
        if short:
            used = sum(r["endpoint"] == "info" for r in self.emu.requests())
            stopped = self.cli(
                *base, "--follow-quota", "10000000", "--info-quota", str(used + 3),
                "--on-quota", "exit",
            )  # fmt: skip
            assert stopped.returncode in (0, 75), stopped.stderr[-3000:]
            self.remember_purges(before, texts)
            self.check_no_purged_trace()
        done = self.cli(*base, *BUDGETS)
        assert done.returncode == 0, done.stderr[-3000:]
        self.remember_purges(before, texts)
        if lists:
            self.fresh = True

    @precondition(lambda self: self.crawled)
    @rule(
        formats=st.lists(st.sampled_from(FORMATS), min_size=1, max_size=4, unique=True),
        as_of=st.booleans(),
        pseudonymize=st.booleans(),
    )
    def export(self, formats: list[str], as_of: bool, pseudonymize: bool) -> None:
        self.steps.append(f"export {formats} as_of={as_of} pseudonymize={pseudonymize}")
        before = self.state()
        out = self.new_dir("export")
        args = ["export", *self.db_args(), "--out", str(out), "--format", ",".join(formats)]
        if as_of and self.moments:
            args += ["--as-of", _moment(self.moments[-1])]
        if pseudonymize:
            args += ["--pseudonymize", "--key-file", str(self.key)]
        done = self.cli(*args)
        assert done.returncode == 0, done.stderr[-3000:]
        assert self.state() == before
        if pseudonymize:
            names = self.names()
            for path in out.iterdir():
                if path.suffix in (".csv", ".graphml", ".gexf"):
                    text = path.read_text(encoding="utf-8")
                    assert not any(
                        re.search(rf"(?<![\w.]){re.escape(n)}(?![\w.])", text) for n in names
                    ), path.name

    @precondition(lambda self: self.crawled)
    @rule()
    def diff(self) -> None:
        self.steps.append("diff")
        before = self.state()
        done = self.cli(
            "diff", "2000-01-01", "2100-01-01", *self.db_args(),
            "--out", str(self.new_dir("diff")) + ".csv",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert self.state() == before

    @precondition(lambda self: self.crawled and self.analyzed < 1)
    @rule()
    def analyze(self) -> None:
        self.steps.append("analyze")
        self.analyzed += 1
        before = self.state()
        other = self.root / "other.csv"
        other.write_text("source,destination\nx1,x2\nx2,x3\nx3,x1\n")
        done = self.cli(
            "analyze",
            *self.db_args(),
            "--compare",
            str(other),
            "--out",
            str(self.new_dir("report")),
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert self.state() == before

    @precondition(lambda self: self.crawled)
    @rule(seed=st.sampled_from(SEEDS), depth=st.integers(min_value=0, max_value=3))
    def plan_and_status(self, seed: str, depth: int) -> None:
        self.steps.append(f"plan {seed} depth {depth}; status")
        before = self.state()
        sent = RequestCounter(self.root / "requests.jsonl").count()
        planned = self.cli("plan", seed, *self.db_args(), "--max-depth", str(depth))
        assert planned.returncode == 0, planned.stderr[-3000:]
        status = self.cli("status", *self.db_args())
        assert status.returncode == 0, status.stderr[-3000:]
        assert self.state() == before
        assert RequestCounter(self.root / "requests.jsonl").count() == sent

    @precondition(lambda self: self.crawled)
    @rule()
    def copy_both_ways(self) -> None:
        """Into the other backend, and back into a file (a new one, or the older copy)."""
        self.steps.append("db copy both ways")
        other = (
            self.make_db(self.root, "copy", other_backend=True)
            if not self.copies
            else self.copies[0]
        )
        back = str(self.root / "back.db")
        for src, dst in ((self.db, other), (other, back)):
            done = self.cli("db", "copy", src, dst)
            assert done.returncode == 0 and "verified" in done.stdout, done.stdout + done.stderr
        if not self.copies:
            self.copies = [other, back]
        exports = []
        for db in (self.db, other, back):
            out = self.root / f"compare-{len(exports)}"
            shutil.rmtree(out, ignore_errors=True)
            done = self.cli("export", "--db", db, "--out", str(out))
            assert done.returncode == 0, done.stderr[-2000:]
            # The same rows: a PostgreSQL crawl lists them in its own (heap) order.
            exports.append({p.name: sorted(p.read_bytes().splitlines()) for p in out.glob("*.csv")})
            shutil.rmtree(out)
        for other_export in exports[1:]:
            differ = [n for n in exports[0] if exports[0][n] != other_export.get(n)]
            detail = [
                (n, sorted(set(exports[0][n]) ^ set(other_export.get(n) or []))[:4]) for n in differ
            ]
            assert not differ and set(other_export) == set(exports[0]), detail

    # --------------------------------------------------------------- invariants
    @invariant()
    def the_graph_is_what_the_service_serves(self) -> None:
        if not self.crawled:
            return
        t = self.target()
        touching = _query(
            t,
            "SELECT count(*) FROM edges e JOIN users s ON s.id = e.src JOIN users d"
            " ON d.id = e.dst WHERE e.removed_at IS NULL AND (s.purged_at IS NOT NULL OR"
            " d.purged_at IS NOT NULL OR s.username LIKE 'tombstone-%' OR"
            " d.username LIKE 'tombstone-%')",
        )[0][0]
        assert touching == 0, "a current follow touches a tombstone"
        if not self.fresh:
            return
        served = emulator_json(self.emu.url, "/_emulator/graph")
        edges = {tuple(e) for e in served["edges"]}
        current = {
            (s, d)
            for s, d in _query(
                t,
                "SELECT s.username, d.username FROM edges e JOIN users s ON s.id = e.src"
                " JOIN users d ON d.id = e.dst WHERE e.removed_at IS NULL",
            )
        }
        lists = _query(
            t,
            "SELECT u.username, l.direction, l.state, l.items FROM lists l JOIN users u"
            " ON u.id = l.user_id WHERE l.done = 1 AND u.purged_at IS NULL",
        )
        for name, direction, state, items in lists:
            if direction == "following":
                want = {(s, d) for s, d in edges if s == name}
                have = {(s, d) for s, d in current if s == name}
            else:
                want = {(s, d) for s, d in edges if d == name}
                have = {(s, d) for s, d in current if d == name}
            want = {(s, d) for s, d in want if s not in self.purged and d not in self.purged}
            if state == 1:  # complete: exactly what the service serves today
                assert have == want, (name, direction, sorted(have ^ want)[:5])
                assert items >= len(want)

    @invariant()
    def no_purged_name_is_left_anywhere(self) -> None:
        self.check_no_purged_trace()

    def check_no_purged_trace(self) -> None:
        if not self.purged:
            return
        words = sorted(self.purged | self.departed_text)
        patterns = [
            re.compile(rb"(?<![A-Za-z0-9._])" + re.escape(w.encode()) + rb"(?![A-Za-z0-9._])")
            for w in words
        ]
        for path in sorted(self.root.rglob("*")):
            if not path.is_file() or path.suffix == ".jsonl":
                continue  # the emulator's request log is the service's, not the tool's
            data = path.read_bytes()
            if path.suffix == ".parquet":
                import pyarrow.parquet as pq

                data = pq.read_table(path).to_pandas().to_csv().encode()
            found = [w for w, p in zip(words, patterns, strict=True) if p.search(data)]
            assert not found, (str(path.relative_to(self.root)), found[:3])
        for db in (self.db, *self.copies):
            t = self.target(db)
            names = {n for (n,) in _query(t, "SELECT username FROM users")}
            assert not names & self.purged, (db, sorted(names & self.purged)[:3])
            for (blob,) in _query(t, "SELECT response FROM pages"):
                raw = zlib.decompress(bytes(blob))
                found = [w for w, p in zip(words, patterns, strict=True) if p.search(raw)]
                assert not found, (db, "raw page", found[:3])

    @invariant()
    def completeness_matches_what_was_served(self) -> None:
        if not (self.crawled and self.fresh):
            return
        rows = _query(
            self.target(),
            "SELECT u.username, l.direction, l.state FROM lists l JOIN users u"
            " ON u.id = l.user_id WHERE l.done = 1 AND u.purged_at IS NULL AND u.status = 1",
        )
        # No list of this emulator is capped or hidden: every list fetched whole is complete
        # (unjudged only while its profile waits for the info bucket, which never runs out).
        wrong = [(n, d, s) for n, d, s in rows if s != 1]
        assert not wrong, wrong[:5]

    @invariant()
    def the_ledger_counts_every_request(self) -> None:
        """Every request that reached the service was counted: in the machine's ledger (a
        SQLite crawl), in the crawl's shared quota table (a PostgreSQL crawl)."""
        buckets = "bucket IN ('following', 'followers', 'info')"
        if not self.crawled:
            return
        if self.backend == "postgresql":
            counted = _query(self.db, f"SELECT coalesce(sum(used), 0) FROM quota WHERE {buckets}")
            counted = int(counted[0][0])
        else:
            ledger = self.root / "state" / "tiktok-network" / "quota.db"
            if not ledger.exists():
                return
            conn = sqlite3.connect(ledger)
            try:
                counted = conn.execute(
                    f"SELECT coalesce(sum(used), 0) FROM quota WHERE {buckets}"
                ).fetchone()[0]
            finally:
                conn.close()
        served = sum(
            r["endpoint"] in ("following", "followers", "info") for r in self.emu.requests()
        )
        # Counted before sent, a block at a time: a kill -9 leaves at most one block per bucket
        # counted and never sent (never fewer counted than sent).
        assert served <= counted <= served + self.kills * 3 * RESERVE_BLOCK, (counted, served)

    def teardown(self) -> None:
        self._emulator.__exit__(None, None, None)
        shutil.rmtree(self.root, ignore_errors=True)
