"""Parquet, GraphML and GEXF exports, for pandas/Arrow, igraph and Gephi.

Parquet streams from SQLite in row groups, so it works at any size. GraphML and GEXF are whole
XML documents that Gephi loads into memory: above ``GRAPH_EDGE_LIMIT`` edges they stop with a
message unless forced, instead of writing gigabytes nobody can open.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from tiktok_network.export.atomic import atomic_path, export_session
from tiktok_network.export.csvs import (
    COMPLETENESS_COLUMNS,
    EDGE_COLUMNS,
    INFO_COLUMNS,
    PROVENANCE_COLUMNS,
    node_records,
)
from tiktok_network.quota_day import iso_utc
from tiktok_network.store.read import CrawlReader

GRAPH_EDGE_LIMIT = 2_000_000
ROW_GROUP = 500_000


def _info_types() -> dict[str, Any]:
    import pyarrow as pa

    counts = dict.fromkeys(
        ("follower_count", "following_count", "likes_count", "video_count"), pa.int64
    )
    return {
        **counts,
        "is_verified": pa.bool_,
        "bio_description": pa.string,
        "avatar_url": pa.string,
    }


def _completeness_types() -> dict[str, Any]:
    import pyarrow as pa

    kinds = {"state": pa.string, "received": pa.int64, "reported": pa.int64, "ratio": pa.float64}
    return {c: kinds[c.split("_")[1]] for c in COMPLETENESS_COLUMNS}


def _typed(kind: Any, value: Any) -> Any:
    """A user-info value as its Parquet type ``kind``; None where unknown or not of that type."""
    import pyarrow as pa

    if value is None or value == "":
        return None
    if kind is pa.int64:
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if kind is pa.bool_:
        return value if isinstance(value, bool) else None
    if kind is pa.float64:
        return float(value) if isinstance(value, int | float) else None
    return str(value)


class ExportTooLarge(Exception):
    """A GraphML/GEXF export above the size limit; the message says how to force it."""


def _nodes(snap: CrawlReader) -> Iterator[dict[str, Any]]:
    """Node attributes: unknown user-info fields as '' (GraphML/GEXF have no null)."""
    for record in node_records(snap):
        for column in (*INFO_COLUMNS, *COMPLETENESS_COLUMNS, "notes", *PROVENANCE_COLUMNS):
            if record[column] is None:
                record[column] = ""
        record["display_name"] = record["display_name"] or ""
        yield record


def export_parquet(snap: CrawlReader, out: Path) -> dict[str, int]:
    """edges.parquet and nodes.parquet, each written a row group at a time: the memory held is
    one row group and the usernames, whatever the size of the crawl (``docs/performance.md``)."""
    return {
        "edges.parquet": _write_edges_parquet(snap, out / "edges.parquet"),
        "nodes.parquet": _write_nodes_parquet(snap, out / "nodes.parquet"),
    }


def _write_row_groups(
    path: Path, schema: Any, rows: Iterator[Any], size: int, table_of: Any
) -> int:
    """Write ``rows`` to a Parquet file ``size`` at a time, each group made a table by
    ``table_of(group, schema)``; an empty input still gets its schema. Returns the rows."""
    import pyarrow.parquet as pq

    total = 0
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        group: list[Any] = []
        for row in rows:
            group.append(row)
            if len(group) >= size:
                writer.write_table(table_of(group, schema))
                total += len(group)
                group = []
        if group or not total:
            writer.write_table(table_of(group, schema))
            total += len(group)
    return total


def _write_edges_parquet(snap: CrawlReader, path: Path) -> int:
    """The edges, converted a row group at a time in Arrow: usernames taken by id from one
    Arrow array, times formatted once per distinct second, so no Python string per edge."""
    import pyarrow as pa

    schema = pa.schema([(name, pa.string()) for name in EDGE_COLUMNS])
    names = pa.array(snap.names(), type=pa.string())
    return _write_row_groups(
        path,
        schema,
        snap.edges_with_provenance(),
        ROW_GROUP,
        lambda group, schema: _edge_table(group, names, schema),
    )


def _edge_table(
    batch: list[tuple[int, int, float, str | None, float]], names: Any, schema: Any
) -> Any:
    import pyarrow as pa

    src, dst, first, via, last = zip(*batch, strict=True) if batch else ((),) * 5
    return pa.table(
        {
            "source": names.take(pa.array(src, type=pa.int64())),
            "destination": names.take(pa.array(dst, type=pa.int64())),
            "first_seen": _iso_seconds(first),
            "found_via": pa.array(via, type=pa.string()),
            "last_seen": _iso_seconds(last),
        },
        schema=schema,
    )


def _iso_seconds(times: tuple[float, ...]) -> Any:
    """Unix times as ``iso_utc`` writes them. A row group's edges came in a few hundred page
    commits, so their distinct seconds are few: each is formatted once and taken by position
    (Arrow's own strftime took 0.36 s a row group of 500,000, most of the export's time)."""
    import numpy as np
    import pyarrow as pa

    seconds = np.floor(np.asarray(times, dtype=np.float64)).astype(np.int64)
    distinct, position = np.unique(seconds, return_inverse=True)
    text = pa.array([iso_utc(float(s)) for s in distinct.tolist()], type=pa.string())
    return text.take(pa.array(position.reshape(-1)))


def _write_nodes_parquet(snap: CrawlReader, path: Path) -> int:
    """The nodes, typed (nulls where a value is unknown, not ''), a row group at a time."""
    import pyarrow as pa

    info_types = _info_types()
    schema = pa.schema(
        [
            ("username", pa.string()),
            ("display_name", pa.string()),
            ("depth", pa.int64()),
            ("status", pa.int64()),
            ("first_seen", pa.string()),
            *((column, info_types[column]()) for column in INFO_COLUMNS),
            *((column, kind()) for column, kind in _completeness_types().items()),
            ("notes", pa.string()),
            ("last_seen", pa.string()),
            ("first_run", pa.int64()),
            ("last_run", pa.int64()),
            ("info_fetched_at", pa.string()),
            ("purged", pa.bool_()),
        ]
    )
    types = {
        **info_types,
        **_completeness_types(),
        "last_seen": pa.string,
        "first_run": pa.int64,
        "last_run": pa.int64,
        "info_fetched_at": pa.string,
    }

    def typed(record: dict[str, Any]) -> dict[str, Any]:
        del record["id"]
        for column, kind in types.items():
            record[column] = _typed(kind, record[column])
        record["display_name"] = record["display_name"] or ""
        record["notes"] = record["notes"] or ""
        return record

    return _write_row_groups(
        path,
        schema,
        (typed(record) for record in node_records(snap)),
        ROW_GROUP // 10,  # a node row is about ten edges' worth
        lambda group, schema: pa.Table.from_pylist(group, schema=schema),
    )


def _check_size(snap: CrawlReader, fmt: str, force: bool) -> int:
    m = snap.edge_count()
    if m > GRAPH_EDGE_LIMIT and not force:
        raise ExportTooLarge(
            f"{m:,} edges is more than Gephi can open as {fmt} (limit {GRAPH_EDGE_LIMIT:,}): "
            "use --format parquet, or --force to write it anyway"
        )
    return m


# The type of every node attribute in GraphML and GEXF, so Gephi and igraph read numbers as
# numbers and flags as booleans (counts may pass 2^31: long). Unknown values are left out.
NODE_TYPES: dict[str, str] = {
    "display_name": "string",
    "depth": "long",
    "status": "long",
    "first_seen": "string",
    "follower_count": "long",
    "following_count": "long",
    "likes_count": "long",
    "video_count": "long",
    "is_verified": "boolean",
    "bio_description": "string",
    "avatar_url": "string",
    **{
        c: {"state": "string", "received": "long", "reported": "long", "ratio": "double"}[
            c.split("_")[1]
        ]
        for c in COMPLETENESS_COLUMNS
    },
    "notes": "string",
    "last_seen": "string",
    "first_run": "long",
    "last_run": "long",
    "info_fetched_at": "string",
    "purged": "boolean",
}
EDGE_ATTRIBUTES = ("first_seen", "found_via", "last_seen")


def _attribute_text(kind: str, value: Any) -> str | None:
    """A node attribute as XML text of its declared type; None where unknown or of another
    type (a count the service sent as text is not a number)."""
    if value is None or value == "":
        return None
    if kind == "boolean":
        return ("true" if value else "false") if isinstance(value, bool) else None
    if kind == "long":
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else None
    if kind == "double":
        return repr(float(value)) if isinstance(value, int | float) else None
    return _xml_text(value)


def _typed_nodes(snap: CrawlReader) -> Iterator[tuple[Any, str, list[tuple[int, str]]]]:
    """(store id, username, [(attribute index, text)]) of every node, unknowns left out."""
    kinds = list(NODE_TYPES.items())
    for record in node_records(snap):
        values = []
        for i, (name, kind) in enumerate(kinds):
            text = _attribute_text(kind, record[name])
            if text is not None:
                values.append((i, text))
        yield record["id"], record["username"], values


def export_graphml(snap: CrawlReader, out: Path, force: bool = False) -> dict[str, int]:
    """GraphML written as a stream with typed keys (igraph, networkx and Gephi read them)."""
    m = _check_size(snap, "GraphML", force)
    with atomic_path(out / "graph.graphml") as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">\n'
            '<key id="v_name" for="node" attr.name="name" attr.type="string"/>\n'
        )
        for i, (name, kind) in enumerate(NODE_TYPES.items()):
            f.write(f'<key id="v{i}" for="node" attr.name="{name}" attr.type="{kind}"/>\n')
        for i, name in enumerate(EDGE_ATTRIBUTES):
            f.write(f'<key id="e{i}" for="edge" attr.name="{name}" attr.type="string"/>\n')
        f.write('<graph id="G" edgedefault="directed">\n')
        for uid, username, values in _typed_nodes(snap):
            f.write(f'<node id="n{uid}"><data key="v_name">{escape(_xml_text(username))}</data>')
            f.writelines(f'<data key="v{i}">{escape(text)}</data>' for i, text in values)
            f.write("</node>\n")
        for s, d, t, v, last in snap.edges_with_provenance():
            f.write(
                f'<edge source="n{s}" target="n{d}"><data key="e0">{iso_utc(t)}</data>'
                f'<data key="e1">{escape(v or "")}</data>'
                f'<data key="e2">{iso_utc(last)}</data></edge>\n'
            )
        f.write("</graph>\n</graphml>\n")
    return {"graph.graphml": m}


def export_gexf(snap: CrawlReader, out: Path, force: bool = False) -> dict[str, int]:
    """GEXF 1.3 written as a stream; node attributes are declared once and typed."""
    m = _check_size(snap, "GEXF", force)
    with atomic_path(out / "graph.gexf") as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n<gexf xmlns="http://gexf.net/1.3" version="1.3">\n'
        )
        f.write(
            '<meta><creator>tiktok-network</creator></meta>\n<graph defaultedgetype="directed">\n'
        )
        f.write('<attributes class="node">\n')
        for i, (name, kind) in enumerate(NODE_TYPES.items()):
            f.write(f'<attribute id="{i}" title={quoteattr(name)} type="{kind}"/>\n')
        f.write(
            '</attributes>\n<attributes class="edge"><attribute id="0" title="first_seen" type="string"/>'
            '<attribute id="1" title="found_via" type="string"/>'
            '<attribute id="2" title="last_seen" type="string"/></attributes>\n<nodes>\n'
        )
        for uid, username, values in _typed_nodes(snap):
            f.write(f'<node id="{uid}" label={quoteattr(_xml_text(username))}><attvalues>')
            f.writelines(f'<attvalue for="{i}" value={quoteattr(text)}/>' for i, text in values)
            f.write("</attvalues></node>\n")
        f.write("</nodes>\n<edges>\n")
        for n, (s, d, t, v, last) in enumerate(snap.edges_with_provenance()):
            f.write(
                f'<edge id="{n}" source="{s}" target="{d}"><attvalues><attvalue for="0" value="{iso_utc(t)}"/>'
                f'<attvalue for="1" value="{escape(v or "")}"/>'
                f'<attvalue for="2" value="{iso_utc(last)}"/></attvalues></edge>\n'
            )
        f.write("</edges>\n</graph>\n</gexf>\n")
    return {"graph.gexf": m}


def _xml_text(value: Any) -> str:
    """Text safe for XML 1.0: control characters other than tab/newline are dropped."""
    text = str(value)
    return "".join(c for c in text if c in "\t\n\r" or ord(c) >= 0x20)


def _videos(snap: CrawlReader, out: Path, force: bool = False) -> dict[str, int]:
    from tiktok_network.export.videos import export_videos

    return export_videos(snap, out, force)


FORMATS = {
    "parquet": lambda snap, out, force: export_parquet(snap, out),
    "graphml": export_graphml,
    "gexf": export_gexf,
    "videos": _videos,
}


def export_graph_formats(
    db: str | Path, out: str | Path, formats: list[str], force: bool = False, **view: Any
) -> dict[str, int]:
    """Write the requested non-CSV formats from one read snapshot."""
    written: dict[str, int] = {}
    with export_session(db, out, **view) as (snap, out_dir):
        for fmt in formats:
            written.update(FORMATS[fmt](snap, out_dir, force))
    return written
