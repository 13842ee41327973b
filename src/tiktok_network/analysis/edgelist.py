"""Directed edge lists for analysis, from a crawl database or a file, as integer arrays.

Every input becomes the same thing: ``names`` (node labels) and two int64 arrays ``src`` and
``dst`` (``src`` follows ``dst``), with duplicate edges and self-loops removed and counted, so
every statistic downstream is computed on one well-defined simple directed graph.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tiktok_network.analysis.arrays import unique_sorted
from tiktok_network.edgefile import EdgeFileError, read_label_pairs


class EdgeListError(Exception):
    """An input that cannot be analysed; the message names the file (and line)."""


@dataclass
class EdgeList:
    name: str
    names: list[str]
    src: np.ndarray
    dst: np.ndarray
    duplicates_removed: int = 0
    self_loops_removed: int = 0
    checksum: str = ""

    @property
    def n_nodes(self) -> int:
        return len(self.names)

    @property
    def n_edges(self) -> int:
        return len(self.src)


def sha256_of(path: Path) -> str:
    """Checksum of the content: a gzip file hashes as its decompressed text, so the same edge
    list gives the same figure in stats.json whether or not it was compressed."""
    digest = hashlib.sha256()
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    with gzip.open(path, "rb") if gzipped else open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def simplify(
    name: str, names: list[str], src: np.ndarray, dst: np.ndarray, checksum: str = ""
) -> EdgeList:
    """Drop self-loops and repeated edges, counting both. Each edge is one int64 key
    (source x n + destination) sorted in place; a self-loop's key is set to -1 first so the
    sort puts them all at the front, where they are cut off: one array of keys and one of the
    distinct keys at a time, 16 bytes an edge at the peak."""
    n = max(len(names), 1)
    keys = src.astype(np.int64)
    keys *= n
    keys += dst
    loops = src == dst
    self_loops = int(loops.sum())
    keys[loops] = -1
    del loops
    keys.sort()
    unique = unique_sorted(keys[self_loops:], presorted=True)
    del keys
    sources, destinations = np.divmod(unique, n)
    return EdgeList(
        name,
        names,
        sources,
        destinations,
        duplicates_removed=int(len(src) - self_loops - len(unique)),
        self_loops_removed=self_loops,
        checksum=checksum,
    )


def _index(labels: list[str]) -> tuple[list[str], np.ndarray]:
    """Labels to dense integer ids, in order of first appearance."""
    index: dict[str, int] = {}
    ids = np.fromiter(
        (index.setdefault(label, len(index)) for label in labels), dtype=np.int64, count=len(labels)
    )
    return list(index), ids


def read_text_edges(path: Path, name: str | None = None, undirected: bool = False) -> EdgeList:
    """SNAP (``#``, tabs) or KONECT (``%``, spaces) text: the first two fields of each line."""
    try:
        sources, targets = read_label_pairs(path)
    except EdgeFileError as exc:
        raise EdgeListError(str(exc)) from None
    return _from_labels(path, sources, targets, name, undirected)


def read_csv_edges(path: Path, name: str | None = None, undirected: bool = False) -> EdgeList:
    """CSV with a header row: ``source,destination`` (or the first two columns)."""
    import csv

    try:
        f = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115
    except FileNotFoundError:
        raise EdgeListError(f"{path}: no such file") from None
    except OSError as exc:
        raise EdgeListError(f"{path}: cannot read ({exc.strerror})") from None
    a: list[str] = []
    b: list[str] = []
    with f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            if header is None:
                raise EdgeListError(f"{path}: empty file")
            for row in reader:
                if not row:
                    continue
                if len(row) < 2:
                    raise EdgeListError(
                        f"{path}:{reader.line_num}: expected at least 2 columns, got {len(row)}"
                    )
                a.append(row[0])
                b.append(row[1])
        except UnicodeDecodeError:
            raise EdgeListError(f"{path}: not UTF-8 text") from None
        except csv.Error as exc:
            raise EdgeListError(f"{path}:{reader.line_num}: {exc}") from None
    return _from_labels(path, a, b, name, undirected)


def read_parquet_edges(path: Path, name: str | None = None, undirected: bool = False) -> EdgeList:
    """The first two columns of a Parquet file, labels numbered by DuckDB in order of first
    appearance (the text readers' order): 100 M edges in about 20 s and 2.4 GB, against
    66 s and 9.7 GB through pyarrow's dictionaries (``docs/performance.md``). Rows with an
    empty end are left out."""
    from tiktok_network.store.columnar import ColumnarError, parquet_edge_ids

    try:
        labels, src, dst = parquet_edge_ids(path)
    except ColumnarError as exc:
        raise EdgeListError(str(exc)) from None
    if len(src) == 0:
        raise EdgeListError(f"{path}: no edges")
    if undirected:
        src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
    return simplify(name or path.stem, labels, src, dst, sha256_of(path))


def _from_labels(
    path: Path, a: list[str], b: list[str], name: str | None, undirected: bool
) -> EdgeList:
    if not a:
        raise EdgeListError(f"{path}: no edges")
    names, ids = _index(a + b)
    src, dst = ids[: len(a)], ids[len(a) :]
    if undirected:
        src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
    return simplify(name or path.stem, names, src, dst, sha256_of(path))


def read_edges(path: str | Path, name: str | None = None, undirected: bool = False) -> EdgeList:
    """Any supported edge-list file, chosen by its ending."""
    path = Path(path)
    if path.is_dir():
        raise EdgeListError(f"{path}: is a directory")
    suffix = path.suffix.lower()
    if suffix == ".gz":  # compressed text: SNAP/KONECT (read_label_pairs gunzips)
        return read_text_edges(path, name or Path(path.stem).stem, undirected)
    if suffix == ".parquet":
        return read_parquet_edges(path, name, undirected)
    if suffix == ".csv":
        return read_csv_edges(path, name, undirected)
    return read_text_edges(path, name, undirected)


def read_crawl(db: str | Path, name: str | None = None, core_only: bool = False) -> EdgeList:
    """The follow graph of a crawl; ``core_only`` keeps users whose lists were fetched."""
    from tiktok_network.store import crawl_label
    from tiktok_network.store.errors import NotACrawlDatabase
    from tiktok_network.store.read import CrawlReader

    label = crawl_label(db)
    try:
        with CrawlReader(db) as reader:
            names, parsed, edges, digest = reader.graph_arrays()
    except NotACrawlDatabase as exc:
        raise EdgeListError(str(exc)) from None
    src, dst = edges[:, 0], edges[:, 1]
    if core_only:
        keep = parsed[src] & parsed[dst]
        src, dst = src[keep], dst[keep]
    return from_ids(name or label, names, src, dst, digest)


def from_ids(
    name: str, names: list[str | None], src: np.ndarray, dst: np.ndarray, checksum: str = ""
) -> EdgeList:
    """The edge list of ``src[i] -> dst[i]``, ids indexing ``names``: only the accounts an
    edge names become nodes, numbered in id order."""
    used = unique_sorted(np.concatenate([src, dst]))
    remap = np.full(len(names), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return simplify(name, [str(names[i]) for i in used], remap[src], remap[dst], checksum)
