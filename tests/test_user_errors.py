"""Every failure a user can cause gets one line, before the work starts, never a traceback."""

from __future__ import annotations

import contextlib
import os
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
    with open(db, "r+b") as f:  # scribble over b-tree pages in the middle of the file
        for offset in range(size // 3, size // 3 + 16 * 4096, 4096):
            f.seek(offset)
            f.write(os.urandom(300))
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
