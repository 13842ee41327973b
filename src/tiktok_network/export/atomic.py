"""Atomic writes for every export format, and the checks made before an export begins.

Each output is written under a temporary name beside its target (``.NAME.PID.tmp``), flushed to
disk and renamed over the target, so a reader, a signal or a kill never leaves half a file: the
previous file stays until the new one is whole. Temporary files of an export that was killed
(its process is gone) are removed by the next export, whatever the format.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tiktok_network.store.read import CrawlReader


class OutputNotWritable(Exception):
    """The output folder cannot be created or written; checked before any work is done."""


def check_output_dir(out: str | Path) -> Path:
    """Create ``out`` and prove a file can be written there, so that a crawl or an analysis
    that takes hours does not fail at its very end."""
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / ".write-test") as probe:
            probe.write_bytes(b"ok")
        (folder / ".write-test").unlink()
    except OSError as exc:
        raise OutputNotWritable(
            f"{folder}: cannot write outputs there ({exc.strerror or exc}): choose another --out"
        ) from None
    return folder


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path to write; renamed over ``path`` (after an fsync) if the block succeeds,
    removed if it fails or is interrupted."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def remove_stale_temporaries(out_dir: Path) -> None:
    """Temporary files left by an export that was killed (its process is gone), any format."""
    for tmp in out_dir.glob(".*.*.tmp"):
        pid = tmp.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            with contextlib.suppress(OSError):
                tmp.unlink()


@contextlib.contextmanager
def export_session(
    db: str | Path, out: str | Path, **view: Any
) -> Iterator[tuple[CrawlReader, Path]]:
    """What every export begins with: the output folder made and cleared of a killed export's
    leftovers, and one read snapshot of the crawl that all files of this export share
    (``view``: the reader's ``as_of`` and ``pseudonyms``)."""
    from tiktok_network.store.read import CrawlReader

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out_dir)
    with CrawlReader(db, **view) as reader:
        yield reader, out_dir
