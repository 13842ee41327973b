"""The shape of store/ that issue 23 tracks: its lines, the SQL written twice, and the modules
outside store/ that choose a backend or import one.

    python -m benchmarks.store_shape [--threshold 0.9] [--pairs]

SQL written twice: every string literal of store/ that reads as SQL (joined where Python joins
adjacent literals), normalised (whitespace, ``%s`` and ``?`` placeholders, ``excluded.`` and
case), compared pairwise with ``difflib``; a pair counts when it is at least ``--threshold``
alike, is 60 characters or more, and sits in two different functions. Choosing a backend:
``is_database_url``, ``.pg`` or ``.shared`` tests outside store/; importing one: a module of
store/ named for a backend (sqlite, sqlite_db, postgres, pg_db, pg_quota).
"""

from __future__ import annotations

import argparse
import ast
import difflib
import re
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "tiktok_network"
SQL = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|WITH|ALTER)\b", re.I)
BACKENDS = ("sqlite", "sqlite_db", "postgres", "pg_db", "pg_quota")
CHOOSES = re.compile(r"is_database_url\(|\.pg\b|\.shared\b")


def literals(path: Path) -> list[tuple[str, str]]:
    """(function, normalised SQL) for each SQL string literal of a module."""
    tree = ast.parse(path.read_text())
    found: list[tuple[str, str]] = []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = where
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{path.name}:{child.name}"
            if isinstance(child, ast.Constant) and isinstance(child.value, str):
                text = child.value
            elif isinstance(child, ast.JoinedStr):
                text = "".join(
                    v.value if isinstance(v, ast.Constant) else "{}" for v in child.values
                )
            else:
                visit(child, name)
                continue
            if SQL.match(text):
                found.append((name, normalise(text)))

    visit(tree, path.name)
    return found


def normalise(sql: str) -> str:
    text = re.sub(r"\s+", " ", sql.lower()).strip()
    return text.replace("%s", "?")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--pairs", action="store_true", help="list the pairs")
    args = parser.parse_args()
    store = sorted((SRC / "store").glob("*.py"))
    lines = sum(len(p.read_text().splitlines()) for p in store)
    every = [(where, sql) for p in store for where, sql in literals(p) if len(sql) >= 60]
    pairs = []
    for i, (wa, a) in enumerate(every):
        for wb, b in every[i + 1 :]:
            if wa != wb and difflib.SequenceMatcher(None, a, b).ratio() >= args.threshold:
                pairs.append((wa, wb, a[:70]))
    outside = [p for p in SRC.rglob("*.py") if "store" not in p.relative_to(SRC).parts[:1]]
    choosing = {
        str(p.relative_to(SRC)): len(CHOOSES.findall(p.read_text()))
        for p in outside
        if CHOOSES.search(p.read_text())
    }
    importing = sorted(
        str(p.relative_to(SRC))
        for p in outside
        if re.search(rf"tiktok_network\.store\.({'|'.join(BACKENDS)})\b", p.read_text())
    )
    print(f"store/: {len(store)} files, {lines:,} lines")
    print(f"SQL literals written twice (>= {args.threshold:.0%} alike): {len(pairs)} pairs")
    if args.pairs:
        for wa, wb, head in pairs:
            print(f"  {wa} ~ {wb}: {head}")
    print(
        f"modules outside store/ choosing a backend: {len(choosing)} ({sum(choosing.values())} tests)"
    )
    for name, n in sorted(choosing.items()):
        print(f"  {name}: {n}")
    print(f"modules outside store/ importing a backend module: {len(importing)}")
    for name in importing:
        print(f"  {name}")


if __name__ == "__main__":
    main()
