"""Text edge lists (SNAP ``#``/tabs/CRLF, KONECT ``%``/spaces) read into label pairs.

The emulator serves such files and the analysis reads them; both need the same tolerance for
comments, CRLF and trailing spaces, and the same refusal of a line that is not two labels,
because a silently skipped line is a missing edge in every statistic computed later.
"""

from __future__ import annotations

from pathlib import Path


class EdgeFileError(Exception):
    """An edge-list file that cannot be read; the message names the file and line."""


def read_label_pairs(path: Path) -> tuple[list[str], list[str]]:
    """The first two fields of every non-comment line: (sources, targets)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise EdgeFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise EdgeFileError(f"{path}: is a directory") from None
    except OSError as exc:
        raise EdgeFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise EdgeFileError(f"{path}:{line}: not UTF-8 text") from None
    sources: list[str] = []
    targets: list[str] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0][0] in "#%":
            continue
        if len(fields) < 2:
            raise EdgeFileError(f"{path}:{lineno}: expected two node labels, got {line.strip()!r}")
        sources.append(fields[0])
        targets.append(fields[1])
    if not sources:
        raise EdgeFileError(f"{path}: no edges")
    return sources, targets
