"""Every failure a user can cause gets one line, before the work starts, never a traceback."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import SYNTH
from tests.crawl_helpers import CLI, crawl_env, emulator_process, run_crawl


@pytest.fixture(scope="module")
def crawled(tmp_path_factory, synth) -> Path:
    """A small finished crawl (with user info) to damage, copy and export."""
    root = tmp_path_factory.mktemp("crawled")
    seeds = [u for u in synth.usernames[:200] if synth.following.degree(synth.user_id(u)) >= 5][:2]
    with emulator_process(root, "--graph", SYNTH) as emu:
        done = run_crawl(root, emu.url, *seeds, "--max-depth", "1", "--info")
    assert done.returncode == 0, done.stderr
    return root / "crawl.db"


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, **kw
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env, **kw
    )


def one_error_line(done: subprocess.CompletedProcess, needle: str) -> str:
    assert done.returncode != 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and needle in errors[0], done.stderr
    return errors[0]


def test_a_damaged_database_is_named_as_such_by_every_command(tmp_path, crawled):
    db = tmp_path / "damaged.db"
    shutil.copy(crawled, db)
    size = db.stat().st_size
    noise = random.Random(3)  # the same damage every run
    with open(db, "r+b") as f:  # scribble over b-tree pages in the middle of the file
        for offset in range(size // 3, size // 3 + 16 * 4096, 4096):
            f.seek(offset)
            f.write(noise.randbytes(300))
    env = crawl_env("http://127.0.0.1:9", XDG_STATE_HOME=str(tmp_path / "state"))
    for args in (
        ("status", "--db", str(db)),
        ("export", "--db", str(db), "--out", str(tmp_path / "o")),
        ("analyze", "--db", str(db), "--out", str(tmp_path / "r")),
        ("crawl", "--db", str(db), "--out", str(tmp_path / "o2")),
    ):
        one_error_line(cli(*args, cwd=tmp_path, env=env), "the database is damaged")


def test_a_directory_or_a_foreign_file_as_db(tmp_path):
    env = crawl_env("http://127.0.0.1:9", XDG_STATE_HOME=str(tmp_path / "state"))
    for command in ("status", "crawl", "export"):
        one_error_line(cli(command, "--db", str(tmp_path), cwd=tmp_path, env=env), "is a directory")
    foreign = tmp_path / "notes.db"
    foreign.write_text("just text\n" * 100)
    one_error_line(
        cli("status", "--db", str(foreign), cwd=tmp_path), "not a tiktok-network database"
    )


@contextlib.contextmanager
def read_only_copy(db: Path, tmp_path: Path) -> Iterator[Path]:
    """``db`` in a folder the caller cannot write: chmod for a user, a read-only bind mount
    for root (whom permissions do not stop)."""
    src = tmp_path / "lab"
    src.mkdir()
    shutil.copy(db, src / "lab.db")
    if os.geteuid() != 0:
        os.chmod(src / "lab.db", 0o444)
        os.chmod(src, 0o555)
        try:
            yield src / "lab.db"
        finally:
            os.chmod(src, 0o755)
        return
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "--bind", str(src), str(mnt)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot make a read-only mount here: {mounted.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(mnt)], check=True)
        yield mnt / "lab.db"
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_a_read_only_database_is_called_read_only(tmp_path, crawled):
    env = crawl_env("http://127.0.0.1:9", XDG_STATE_HOME=str(tmp_path / "state"))
    with read_only_copy(crawled, tmp_path) as db:
        one_error_line(
            cli("crawl", "--db", str(db), "--no-export", cwd=tmp_path, env=env), "read-only"
        )


def test_unwritable_outputs_are_refused_before_any_work(tmp_path, synth, crawled):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = blocker / "outputs"  # cannot exist: its parent is a file
    with emulator_process(tmp_path, "--graph", SYNTH) as emu:
        done = run_crawl(tmp_path, emu.url, synth.usernames[0], "--out", str(out))
        sent = len(emu.requests())
    one_error_line(done, "cannot write outputs there")
    assert sent == 0  # refused before the crawl began
    analysed = cli("analyze", "--db", str(crawled), "--out", str(out), cwd=tmp_path)
    one_error_line(analysed, "cannot write outputs there")
    assert "nodes" not in analysed.stdout  # no statistics were computed first


def test_seed_credentials_and_log_file_messages_say_what_is_wrong(tmp_path, synth):
    header_only = tmp_path / "seeds.csv"
    header_only.write_text("username\n")
    with emulator_process(tmp_path, "--graph", SYNTH) as emu:
        empty = run_crawl(tmp_path, emu.url, "--seeds", str(header_only))
        creds = tmp_path / "creds.env"
        creds.write_text("TIKTOK_CLIENT_KEY=demo-key\n")
        creds.chmod(0o600)
        partial = run_crawl(
            tmp_path, emu.url, "alice", "--credentials", str(creds), key="", secret=""
        )
        log = tmp_path / "crawl.log"
        seed = next(u for u in synth.usernames if synth.following.degree(synth.user_id(u)) > 5)
        logged = run_crawl(tmp_path, emu.url, seed, "--max-depth", "0", "--log-file", str(log))
    assert empty.returncode == 2
    assert f"no valid seed in {header_only}: it holds no usernames" in empty.stderr
    one_error_line(partial, f"{creds}: no TIKTOK_CLIENT_SECRET= line")
    assert logged.returncode == 0, logged.stderr
    text = log.read_text()
    assert "crawl complete" in text and "outputs:" in text


def test_typed_parquet_nodes_and_export_counts_named(tmp_path, crawled):
    out = tmp_path / "x"
    done = cli(
        "export",
        "--db",
        str(crawled),
        "--out",
        str(out),
        "--format",
        "parquet,graphml",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert (
        "graph.graphml:" in done.stdout and " edges" in done.stdout and " rows" not in done.stdout
    )
    nodes = pq.read_table(out / "nodes.parquet").to_pandas()
    schema = pq.read_schema(out / "nodes.parquet")
    assert str(schema.field("follower_count").type) == "int64"
    assert str(schema.field("is_verified").type) == "bool"
    parsed = nodes[nodes["status"] == 1]
    queued = nodes[nodes["status"] == 0]
    assert parsed["follower_count"].notna().all()
    assert len(queued) and queued["follower_count"].isna().all()  # null, not ''


# ------------------------------------------------- issue 22.15: one line, never a traceback
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--qps", "nan"), "--qps: must be a finite number"),
        (("--qps", "inf"), "--qps: must be a finite number"),
        (("--max-depth", "99999999999999999999"), "--max-depth: must be at most 1,000"),
        (("--max-users", "99999999999999999999"), "--max-users: must be at most"),
        (("--quota-ledger", "/proc/nowhere/quota.db"), "cannot open the quota ledger"),
        (("--log-file", "/proc/nowhere/crawl.log"), "cannot write the log file"),
    ],
)
def test_impossible_settings_are_one_line_errors_before_any_work(tmp_path, args, needle):
    env = crawl_env("http://127.0.0.1:9", XDG_STATE_HOME=str(tmp_path / "state"))
    done = cli("crawl", "someone", "--db", str(tmp_path / "c.db"), *args, cwd=tmp_path, env=env)
    one_error_line(done, needle)
    assert done.returncode in (1, 2)


def test_bad_video_searches_and_plans_are_one_line_errors(tmp_path):
    env = crawl_env("http://127.0.0.1:9", XDG_STATE_HOME=str(tmp_path / "state"))
    search = ("seeds", "from-videos", "--since", "2025-01-01", "--out", str(tmp_path / "s.csv"))
    future = cli(*search, "--hashtag", "x", "--until", "9999-12-31", cwd=tmp_path, env=env)
    one_error_line(future, "is in the future")
    text = '{"operation": "IN", "field_name": "hashtag_name", "field_values": ["x"]}'
    for _ in range(2000):
        text = '{"and": [' + text + "]}"
    deep = cli(*search, "--until", "2025-01-10", "--query", text, cwd=tmp_path, env=env)
    one_error_line(deep, "--query")
    shallow = cli(
        *search, "--until", "2025-01-10", "--query", '{"and": [{"and": []}]}', cwd=tmp_path, env=env
    )
    one_error_line(shallow, "--query")
    plan = cli("plan", "someone", "--offline", "--max-depth", str(10**9), cwd=tmp_path, env=env)
    one_error_line(plan, "--max-depth")


def test_status_into_a_closed_pipe_exits_quietly(tmp_path, crawled):
    read, write = os.pipe()
    os.close(read)  # the reader is gone before status writes a byte
    try:
        done = subprocess.run(
            [*CLI, "status", "--db", str(crawled)],
            stdout=write, stderr=subprocess.PIPE, text=True, timeout=120,
        )  # fmt: skip
    finally:
        os.close(write)
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_a_wrong_secret_is_said_before_waiting_for_the_quota(tmp_path, synth):
    seeds = [u for u in synth.usernames[:300] if synth.following.degree(synth.user_id(u)) >= 5]
    with emulator_process(tmp_path, "--graph", SYNTH) as emu:
        first = run_crawl(tmp_path, emu.url, seeds[0], "--max-depth", "0")
        assert first.returncode == 0, first.stderr
        # The day's quota is used up by the crawl's own count; the secret is wrong.
        wrong = run_crawl(
            tmp_path, emu.url, seeds[1], "--max-depth", "1", "--follow-quota", "1",
            TIKTOK_CLIENT_SECRET="wrong", timeout=60,
        )  # fmt: skip
    one_error_line(wrong, "credentials rejected")
    assert wrong.returncode == 1 and "waiting until" not in wrong.stderr


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    """A folder on a tmpfs of ``size`` (root only): a disk that fills up for real."""
    path.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a full disk is made with a small tmpfs, which needs root")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)])
    if made.returncode != 0:
        pytest.skip("this machine does not let the tests mount a tmpfs")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)])


def test_a_full_disk_is_one_line_and_loses_nothing_fetched(tmp_path, crawled, synth):
    seeds = [u for u in synth.usernames[:200] if synth.following.degree(synth.user_id(u)) >= 5][:2]
    with small_disk(tmp_path / "full", "24k") as full:
        env = crawl_env("http://127.0.0.1:9", XDG_STATE_HOME=str(tmp_path / "state"))
        for fmt in ("csv", "graphml"):
            done = cli(
                "export", "--db", str(crawled), "--out", str(full / fmt), "--format", fmt,
                cwd=tmp_path, env=env,
            )  # fmt: skip
            one_error_line(done, "No space left on device")
        with emulator_process(tmp_path, "--graph", SYNTH) as emu:
            crawl = run_crawl(
                tmp_path, emu.url, *seeds, "--max-depth", "1", "--out", str(full / "o"),
                "--db", str(tmp_path / "safe.db"),
            )  # fmt: skip
        one_error_line(crawl, "the crawl is safe in")
        assert subprocess.run(
            [*CLI, "export", "--db", str(tmp_path / "safe.db"), "--out", str(tmp_path / "o")],
            capture_output=True, text=True,
        ).returncode == 0  # fmt: skip
    with small_disk(tmp_path / "fulldb", "300k") as full:
        with emulator_process(tmp_path, "--graph", SYNTH) as emu:
            crawl = run_crawl(
                tmp_path, emu.url, *seeds, "--max-depth", "3", "--direction", "both",
                "--db", str(full / "c.db"), "--no-export",
            )  # fmt: skip
        one_error_line(crawl, "database or disk is full")
        assert "never retrieved" not in crawl.stderr
        kept = subprocess.run(
            [*CLI, "status", "--db", str(full / "c.db")], capture_output=True, text=True
        )
        assert kept.returncode == 0 and "pages: 0 " not in kept.stdout, kept.stderr
