"""SQL over edge files (Parquet, CSV) by DuckDB: the analysis' reader and its out-of-core
degree tables. The store is the one package that speaks SQL, so these queries live here too,
although they read files, not the crawl database.

DuckDB works in a temporary folder it may spill to beyond ``memory_limit``, so a graph larger
than memory can still be numbered and counted. Labels are numbered in order of first
appearance (sources, then destinations), the order the text readers give, so a graph's figures
do not depend on its file format. The SQL never takes a value from outside but the file paths,
written as literals (DuckDB views take no parameters), and a memory size checked by
``memory_size``.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

READER_MEMORY_LIMIT = "2GB"  # while an edge file's labels are numbered for the in-memory report
BATCH_ROWS = 1_000_000  # edges per Arrow batch handed from DuckDB to numpy
DESTINATIONS_AFTER = 1 << 40  # a destination's position: after every source's row number


class ColumnarError(ValueError):
    """An edge file DuckDB cannot read as asked; the message names the file."""


def memory_size(limit: str) -> str:
    """``limit`` if it is a DuckDB memory size such as 4GB or 500MB (it goes into SQL text, so
    nothing else passes)."""
    if not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", limit.strip()):
        raise ColumnarError(f"{limit!r} is not a size such as 4GB or 500MB")
    return limit.strip()


@contextmanager
def _duckdb(path: Path, memory_limit: str) -> Iterator[Any]:
    """A DuckDB connection that spills to a temporary folder past ``memory_limit`` (an
    in-memory database: 1.8 s for the 11 M-edge reader against 2.7 s on a database file);
    its errors become one ``ColumnarError`` line naming ``path``."""
    import duckdb

    with tempfile.TemporaryDirectory(prefix="tiktok-network-duckdb-") as tmp:
        con = duckdb.connect()  # in memory, spilling to ``tmp`` past the limit
        try:
            con.execute(f"SET memory_limit = '{memory_size(memory_limit)}'")
            con.execute(f"SET temp_directory = '{_literal(tmp)[1:-1]}'")
            con.execute("SET preserve_insertion_order = false")
            yield con
        except duckdb.Error as exc:
            raise ColumnarError(f"{path}: cannot read ({str(exc).splitlines()[0]})") from None
        finally:
            con.close()


def _literal(path: str | Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _reader(path: Path) -> str:
    """The DuckDB table function reading ``path``, by its ending."""
    if not path.exists():
        raise ColumnarError(f"{path}: no such file")
    if path.is_dir():
        raise ColumnarError(f"{path}: is a directory")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return f"read_parquet({_literal(path)}, file_row_number = true)"
    if suffix == ".csv":
        return f"read_csv({_literal(path)}, header = true, all_varchar = true)"
    raise ColumnarError(f"{path}: --out-of-core reads Parquet or CSV edge lists")


def _create_raw(con: Any, path: Path) -> None:
    """View ``raw``: the file's first two columns as text ``s``, ``d`` and a row number ``r``."""
    reader = _reader(path)
    columns = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()]
    columns = [c for c in columns if c != "file_row_number"]
    if len(columns) < 2:
        raise ColumnarError(f"{path}: expected at least 2 columns, got {len(columns)}")
    first, second = (_quoted(c) for c in columns[:2])
    # A CSV scan has no row number that holds from run to run: its labels are numbered
    # sources first, then by label (a tie's order in the top lists is then by name).
    row = "file_row_number" if reader.startswith("read_parquet") else "0"
    con.execute(
        f"CREATE VIEW raw AS SELECT CAST({first} AS VARCHAR) AS s,"
        f" CAST({second} AS VARCHAR) AS d, {row} AS r FROM {reader}"
    )


def _number_labels(con: Any, edges: str) -> None:
    """Table ``labels`` (label, id): each distinct label of the view ``edges`` (s, d, r),
    numbered by first appearance, every source before every destination (ties by label)."""
    con.execute(
        "CREATE TABLE labels AS SELECT label,"
        " (row_number() OVER (ORDER BY first, label)) - 1 AS id"
        " FROM (SELECT label, min(position) AS first FROM"
        f" (SELECT s AS label, r AS position FROM {edges} UNION ALL"
        f"  SELECT d, r + {DESTINATIONS_AFTER} FROM {edges}) WHERE label IS NOT NULL"
        " GROUP BY label)"
    )


def parquet_edge_ids(path: str | Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The labels of a Parquet edge file and each row's two ids (int32 arrays, rows with an
    empty end left out), handed over in Arrow batches: no Python object per edge, and no
    dictionary per row group (pyarrow's: 9.7 GB at 100 M edges; this, 2.4 GB)."""
    import pyarrow.parquet as pq

    path = Path(path)
    try:
        rows = pq.ParquetFile(path).metadata.num_rows
    except FileNotFoundError:
        raise ColumnarError(f"{path}: no such file") from None
    except Exception as exc:  # pyarrow raises many kinds for a bad file
        raise ColumnarError(f"{path}: cannot read Parquet ({exc})") from None
    with _duckdb(path, READER_MEMORY_LIMIT) as con:
        _create_raw(con, path)
        _number_labels(con, "raw")
        src = np.empty(rows, dtype=np.int32)
        dst = np.empty(rows, dtype=np.int32)
        filled = 0
        joined = con.sql(
            "SELECT ls.id::INTEGER, ld.id::INTEGER FROM raw"
            " JOIN labels ls ON ls.label = raw.s JOIN labels ld ON ld.label = raw.d"
        )
        for batch in joined.to_arrow_reader(BATCH_ROWS):
            k = batch.num_rows
            src[filled : filled + k] = batch.column(0).to_numpy()
            dst[filled : filled + k] = batch.column(1).to_numpy()
            filled += k
        labels = con.sql("SELECT label FROM labels ORDER BY id").to_arrow_table()
        return labels.column(0).to_pylist(), src[:filled], dst[:filled]


@dataclass
class DegreeTables:
    """An edge file reduced to what follows from degrees: counts, the degree histograms
    (degree, accounts) of the three degree kinds, the assortativities, the top accounts."""

    nodes: int
    rows: int  # rows with both ends
    self_loops: int
    edges: int  # distinct, no self-loop
    linked_pairs: int
    histograms: dict[str, list[tuple[int, int]]]  # "in", "out", "undirected"
    assortativity: dict[str, float | None]
    top_in_degree: list[tuple[str, int]]


def degree_tables(
    path: str | Path,
    *,
    undirected: bool = False,
    core_of: str | Path | None = None,
    memory_limit: str,
) -> DegreeTables:
    """Number, deduplicate and count an edge file's edges in DuckDB. ``undirected``: each row
    is a mutual pair; ``core_of``: a nodes.parquet whose rows of ``status`` 1 (lists fetched)
    are the only accounts kept."""
    path = Path(path)
    with _duckdb(path, memory_limit) as con:
        _create_raw(con, path)
        if core_of is None and not con.execute("SELECT 1 FROM raw LIMIT 1").fetchone():
            raise ColumnarError(f"{path}: no edges")
        kept = "SELECT s, d, r FROM raw WHERE s IS NOT NULL AND d IS NOT NULL"
        if core_of is not None:
            crawled = f"SELECT username FROM read_parquet({_literal(core_of)}) WHERE status = 1"
            kept += f" AND s IN ({crawled}) AND d IN ({crawled})"
        if undirected:
            kept = f"SELECT s, d, r FROM ({kept}) UNION ALL SELECT d, s, r FROM ({kept})"
        con.execute(f"CREATE VIEW kept AS {kept}")
        _number_labels(con, "kept")
        return _count(con)


def _one(con: Any, sql: str) -> Any:
    return con.execute(sql).fetchone()[0]


def _count(con: Any) -> DegreeTables:
    """The tables and figures of ``degree_tables``, one statement each."""
    nodes = int(_one(con, "SELECT count(*) FROM labels"))
    rows = int(_one(con, "SELECT count(*) FROM kept"))
    loops = int(_one(con, "SELECT count(*) FROM kept WHERE s = d"))
    con.execute(
        "CREATE TABLE e AS SELECT DISTINCT ls.id AS s, ld.id AS d FROM kept"
        " JOIN labels ls ON ls.label = kept.s JOIN labels ld ON ld.label = kept.d"
        " WHERE kept.s <> kept.d"
    )
    con.execute("CREATE TABLE outdeg AS SELECT s AS id, count(*) AS k FROM e GROUP BY s")
    con.execute("CREATE TABLE indeg AS SELECT d AS id, count(*) AS k FROM e GROUP BY d")
    con.execute(
        "CREATE TABLE pairs AS SELECT DISTINCT least(s, d) AS a, greatest(s, d) AS b FROM e"
    )
    con.execute(
        "CREATE TABLE undeg AS SELECT id, count(*) AS k FROM"
        " (SELECT a AS id FROM pairs UNION ALL SELECT b FROM pairs) GROUP BY id"
    )
    histograms = {
        kind: [
            (int(k), int(c))
            for k, c in con.execute(
                f"SELECT k, count(*) FROM {table} GROUP BY k ORDER BY k"
            ).fetchall()
        ]
        for kind, table in (("in", "indeg"), ("out", "outdeg"), ("undirected", "undeg"))
    }
    top = con.execute(
        "SELECT l.label, i.k FROM indeg i JOIN labels l ON l.id = i.id"
        " ORDER BY i.k DESC, l.id LIMIT 10"
    ).fetchall()
    return DegreeTables(
        nodes=nodes,
        rows=rows,
        self_loops=loops,
        edges=int(_one(con, "SELECT count(*) FROM e")),
        linked_pairs=int(_one(con, "SELECT count(*) FROM pairs")),
        histograms=histograms,
        assortativity=_assortativities(con),
        top_in_degree=[(str(label), int(k)) for label, k in top],
    )


def _assortativities(con: Any) -> dict[str, float | None]:
    """Pearson's r of the degrees at the two ends of each edge (four directed pairings) and of
    each linked pair in both directions (undirected), as ``analysis/stats.py`` defines them."""
    if not _one(con, "SELECT count(*) FROM e"):
        return {}
    out_in, in_in, out_out, in_out = con.execute(
        "SELECT corr(os.k, idd.k), corr(coalesce(ins.k, 0), idd.k),"
        " corr(os.k, coalesce(od.k, 0)), corr(coalesce(ins.k, 0), coalesce(od.k, 0))"
        " FROM e JOIN outdeg os ON os.id = e.s JOIN indeg idd ON idd.id = e.d"
        " LEFT JOIN indeg ins ON ins.id = e.s LEFT JOIN outdeg od ON od.id = e.d"
    ).fetchone()
    (undirected,) = con.execute(
        "WITH ends AS (SELECT ua.k AS x, ub.k AS y FROM pairs"
        " JOIN undeg ua ON ua.id = pairs.a JOIN undeg ub ON ub.id = pairs.b)"
        " SELECT corr(x, y) FROM (SELECT x, y FROM ends UNION ALL SELECT y, x FROM ends)"
    ).fetchone()
    figures = {
        "assortativity_out_in": out_in,
        "assortativity_in_in": in_in,
        "assortativity_out_out": out_out,
        "assortativity_in_out": in_out,
        "assortativity_undirected": undirected,
    }
    return {k: None if v is None or np.isnan(v) else float(v) for k, v in figures.items()}
