"""Seeds from arguments and CSV files as they come from spreadsheets.

A BOM, CRLF, blank lines, a header row, quoted fields, ``@names``, profile URLs, upper case and
duplicates are all normal in such files. Each row that still is not a username is reported on
one line that names the file and line, and skipped; the good rows are crawled.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from tiktok_network.usernames import InvalidUsername, normalize_username

HEADER_NAMES = (
    "username",
    "usernames",
    "user",
    "handle",
    "account",
    "screen_name",
    "name",
    "seed",
    "tiktok",
)


class SeedFileError(Exception):
    """The seed file as a whole cannot be used (missing, a directory, binary, bad column)."""


@dataclass
class Seeds:
    usernames: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    duplicates: int = 0

    def add(self, raw: str, where: str) -> None:
        try:
            name = normalize_username(raw)
        except InvalidUsername as exc:
            self.problems.append(f"{where}: skipped: {exc}")
            return
        if name in self._seen:
            self.duplicates += 1
            return
        self._seen.add(name)
        self.usernames.append(name)

    def __post_init__(self) -> None:
        self._seen: set[str] = set()


def collect_seeds(args: list[str], seed_file: str | None, column: str | None) -> Seeds:
    seeds = Seeds()
    for i, raw in enumerate(args, start=1):
        seeds.add(raw, f"argument {i}")
    if seed_file:
        read_seed_file(Path(seed_file), column, seeds)
    return seeds


def read_seed_file(path: Path, column: str | None, seeds: Seeds) -> None:
    if path.is_dir():
        raise SeedFileError(f"{path}: is a directory, not a CSV file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SeedFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise SeedFileError(f"{path}: cannot read ({exc.strerror})") from None
    if b"\x00" in data[:8192]:
        raise SeedFileError(f"{path}: looks like a binary file, not a CSV of usernames")
    lines = data.split(b"\n")
    rows: list[tuple[int, list[str]]] = []
    for lineno, raw_line in enumerate(lines, start=1):
        if lineno == 1 and raw_line.startswith(b"\xef\xbb\xbf"):
            raw_line = raw_line[3:]
        raw_line = raw_line.rstrip(b"\r")
        if not raw_line.strip():
            continue
        try:
            text = raw_line.decode("utf-8")
        except UnicodeDecodeError:
            seeds.problems.append(f"{path}:{lineno}: skipped: not UTF-8 text")
            continue
        try:
            cells = next(csv.reader(io.StringIO(text)))
        except (csv.Error, StopIteration):
            seeds.problems.append(f"{path}:{lineno}: skipped: not a CSV row")
            continue
        rows.append((lineno, cells))
    if not rows:
        return
    index, has_header = _pick_column(path, rows[0][1], column)
    for lineno, cells in rows[1:] if has_header else rows:
        if index >= len(cells):
            seeds.problems.append(f"{path}:{lineno}: skipped: no column {index + 1}")
            continue
        if not cells[index].strip():
            seeds.problems.append(f"{path}:{lineno}: skipped: empty username")
            continue
        seeds.add(cells[index], f"{path}:{lineno}")


def _pick_column(path: Path, first: list[str], column: str | None) -> tuple[int, bool]:
    """Which cell holds the username, and whether the first row is a header."""
    lowered = [c.strip().strip("\ufeff").lower() for c in first]
    if column is not None:
        wanted = column.strip().lower()
        if wanted in lowered:
            return lowered.index(wanted), True
        if wanted.isdigit() and int(wanted) >= 1:
            return int(wanted) - 1, _looks_like_header(lowered)
        raise SeedFileError(f"{path}: no column {column!r} in the header row ({', '.join(first)})")
    if _looks_like_header(lowered):
        for name in HEADER_NAMES:
            if name in lowered:
                return lowered.index(name), True
        return 0, True
    return 0, False


def _looks_like_header(cells: list[str]) -> bool:
    if any(c in HEADER_NAMES for c in cells):
        return True
    try:
        normalize_username(cells[0]) if cells else None
    except InvalidUsername:
        return len(cells) > 1 and all(c.replace("_", "").isalpha() for c in cells if c)
    return False
