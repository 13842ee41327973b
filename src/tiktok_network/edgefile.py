"""Text edge lists (SNAP ``#``/tabs/CRLF, KONECT ``%``/spaces) read into label pairs.

The emulator serves such files and the analysis reads them; both need the same tolerance for
comments, CRLF and trailing spaces, and the same refusal of a line that is not two labels,
because a silently skipped line is a missing edge in every statistic computed later.
"""

from __future__ import annotations

import gzip
import zlib
from importlib import resources
from pathlib import Path

# Real graphs shipped with the package (data/graphs/README.md gives source, licence and the
# published statistics): name -> (file, served as undirected pairs by default).
BUNDLED_GRAPHS: dict[str, tuple[str, bool]] = {
    "wiki-vote": ("Wiki-Vote.txt.gz", False),
    "ego-facebook": ("facebook_combined.txt.gz", True),
}


class EdgeFileError(Exception):
    """An edge-list file that cannot be read; the message names the file and line."""


def bundled_graph(name: str) -> tuple[Path, bool] | None:
    """The packaged file of a bundled graph and whether it lists undirected pairs."""
    entry = BUNDLED_GRAPHS.get(name.lower())
    if entry is None:
        return None
    filename, undirected = entry
    return Path(str(resources.files("tiktok_network") / "data" / "graphs" / filename)), undirected


def read_bytes(path: Path) -> bytes:
    """A file's content, gunzipped when it is gzip (the bundled graphs are stored that way)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise EdgeFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise EdgeFileError(f"{path}: is a directory") from None
    except OSError as exc:
        raise EdgeFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise EdgeFileError(f"{path}: damaged gzip file ({exc})") from None
    return raw


def read_label_pairs(path: Path) -> tuple[list[str], list[str]]:
    """The first two fields of every non-comment line: (sources, targets); gzip is read as is."""
    raw = read_bytes(path)
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
