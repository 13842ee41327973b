"""A crawl database staged on node-local scratch and copied back to durable storage.

On a cluster the durable place (the submit directory, a home or project folder) is usually a
network filesystem, where SQLite's WAL locking is unsafe, and a requeued job may start on
another node, where a node-local database is not. So a Slurm job works on a local copy: it is
made from the durable copy at start and written back with SQLite's online backup (a consistent
snapshot, taken while the writer goes on) periodically and at every exit. The durable copy is
replaced atomically (temporary file beside it, fsync, rename), so a job killed during the copy
leaves the previous one whole.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path

from tiktok_network.store.sqlite import NotACrawlDatabase, connect


def _open_source(src: Path) -> sqlite3.Connection:
    """Read-only where possible, so the durable copy on a network filesystem is never turned
    into a WAL database; a WAL file left by a crawl run there directly needs a writer."""
    try:
        return connect(src, readonly=True)
    except (NotACrawlDatabase, sqlite3.OperationalError):
        return connect(src)


def backup_database(src: Path, dst: Path) -> None:
    """Copy the crawl database ``src`` to ``dst`` atomically with SQLite's online backup."""
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    source = _open_source(src)
    try:
        target = sqlite3.connect(tmp)
        try:
            source.backup(target)
            # The copy needs no WAL of its own: a lone file is what gets renamed into place.
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    finally:
        source.close()
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    # A -wal or -shm left beside the old file would be replayed into the new one.
    for leftover in (Path(f"{dst}-wal"), Path(f"{dst}-shm")):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
    os.replace(tmp, dst)
    _fsync_dir(dst.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class StagedDatabase:
    """The durable crawl database and the local working copy a run uses instead."""

    durable: Path
    local: Path
    # The periodic copy runs in a thread and may still be running at the final one.
    _copying: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def under(cls, durable: str | Path, stage_dir: str | Path) -> StagedDatabase:
        durable = Path(durable).resolve()
        return cls(durable, Path(stage_dir).resolve() / durable.name)

    def stage_in(self) -> bool:
        """Make the local copy from the durable one; False when there is none yet (new crawl).

        A local file left by an earlier run on this node is replaced: the durable copy was
        written at that run's exit and is the one every node agrees on.
        """
        self.local.parent.mkdir(parents=True, exist_ok=True)
        self.discard_local()
        if not self.durable.exists():
            return False
        backup_database(self.durable, self.local)
        return True

    def discard_local(self) -> None:
        """Remove the working copy (after a successful final copy back)."""
        suffixes = ("", "-wal", "-shm", ".lock")
        for path in (Path(f"{self.local}{suffix}") for suffix in suffixes):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def stage_out(self) -> None:
        """Write the local copy back over the durable one (a consistent snapshot)."""
        with self._copying:
            if not self.local.exists():
                return
            self.durable.parent.mkdir(parents=True, exist_ok=True)
            backup_database(self.local, self.durable)


__all__ = ["NotACrawlDatabase", "StagedDatabase", "backup_database"]
