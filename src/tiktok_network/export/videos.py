"""What accounts post, exported (``export --format videos``): the videos, the account -> video
edges, the account -- hashtag bipartite network and the hashtag co-occurrence network.

Files (each written atomically; a purge rewrites them like every recorded output):
- ``videos.csv`` / ``videos.parquet``: one row per video (id, username of its author,
  create_time in UTC, region_code, hashtags ``|``-joined, description, view/like/comment/share
  counts, first and last seen, the accounts it mentions ``|``-joined); a liked, reposted or
  pinned video's author need not be an account of the crawl;
- ``account_videos.csv``: username, video_id, relation (``posted``, ``liked``, ``reposted``,
  ``pinned``), first_seen, last_seen;
- ``account_hashtags.csv`` / ``.parquet`` / ``.gexf``: username, hashtag, videos (how many of
  the videos the account posted carry it), first_used, last_used: a bipartite network (GEXF nodes have
  ``kind`` account or hashtag);
- ``hashtag_cooccurrence.csv`` / ``.parquet`` / ``.gexf``: hashtag_a, hashtag_b (a < b),
  videos (how many carry both), accounts (how many accounts posted both on one video): the
  network the niches' backbones are drawn from.
Counts are exact; the two networks are built in memory (hashtags and pairs, not videos).
"""

from __future__ import annotations

import csv
from collections import Counter
from itertools import combinations
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from tiktok_network.export.atomic import atomic_path
from tiktok_network.quota_day import iso_utc
from tiktok_network.store.read import CrawlReader

VIDEO_COLUMNS = (
    "id", "username", "create_time", "region_code", "hashtags", "description", "view_count",
    "like_count", "comment_count", "share_count", "first_seen", "last_seen", "mentions",
)  # fmt: skip


def _iso(value: Any) -> str | None:
    return iso_utc(value) if isinstance(value, int | float) else None


def export_videos(snap: CrawlReader, out: Path, force: bool = False) -> dict[str, int]:
    """Every video file above from one read snapshot; {} when the crawl holds no video."""
    if not snap.has_videos():
        return {}
    import pyarrow as pa
    import pyarrow.parquet as pq

    raw = list(snap.video_rows())
    rows = [(*r[:2], _iso(r[2]), *r[3:10], _iso(r[10]), _iso(r[11]), r[12]) for r in raw]
    counts: dict[str, int] = {}
    _csv(out / "videos.csv", VIDEO_COLUMNS, rows)
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in VIDEO_COLUMNS]
    table = pa.table(
        {
            name: pa.array(list(col), type=_type(name))
            for name, col in zip(VIDEO_COLUMNS, columns, strict=True)
        }
    )
    with atomic_path(out / "videos.parquet") as tmp:
        pq.write_table(table, tmp, compression="zstd")
    counts["videos.csv"] = counts["videos.parquet"] = len(rows)
    edges = [(n, v, r, _iso(f), _iso(la)) for n, v, r, f, la in snap.video_edges()]
    _csv(
        out / "account_videos.csv",
        ("username", "video_id", "relation", "first_seen", "last_seen"),
        edges,
    )
    counts["account_videos.csv"] = len(edges)
    used, first, last, pairs, pair_accounts = _networks(list(snap.video_rows(posted_only=True)))
    bipartite = [(n, t, k, _iso(a), _iso(b)) for n, t, k, a, b in _uses(used, first, last)]
    columns_b = ("username", "hashtag", "videos", "first_used", "last_used")
    _csv(out / "account_hashtags.csv", columns_b, bipartite)
    _parquet(out / "account_hashtags.parquet", columns_b, bipartite)
    _bipartite_gexf(out / "account_hashtags.gexf", bipartite)
    co = [(a, b, n, len(pair_accounts[(a, b)])) for (a, b), n in sorted(pairs.items())]
    columns_c = ("hashtag_a", "hashtag_b", "videos", "accounts")
    _csv(out / "hashtag_cooccurrence.csv", columns_c, co)
    _parquet(out / "hashtag_cooccurrence.parquet", columns_c, co)
    _cooccurrence_gexf(out / "hashtag_cooccurrence.gexf", co)
    for name in ("account_hashtags", "hashtag_cooccurrence"):
        n = len(bipartite) if name == "account_hashtags" else len(co)
        for suffix in (".csv", ".parquet", ".gexf"):
            counts[name + suffix] = n
    return counts


def _type(name: str) -> Any:
    import pyarrow as pa

    if name == "id" or name.endswith("_count"):
        return pa.int64()
    return pa.string()


def account_hashtags(snap: CrawlReader) -> list[tuple[str, str, int, Any, Any]]:
    """The account--hashtag network as ``account_hashtags.csv`` holds it: (username, hashtag,
    videos, first use, last use), times in Unix seconds (the Python API's ``hashtags()``)."""
    used, first, last, _, _ = _networks(list(snap.video_rows(posted_only=True)))
    return _uses(used, first, last)


def _uses(used: Counter, first: dict, last: dict) -> list[tuple[str, str, int, Any, Any]]:
    return [(n, t, k, first[(n, t)], last[(n, t)]) for (n, t), k in sorted(used.items())]


def _networks(rows: list[tuple[Any, ...]]) -> tuple[Counter, dict, dict, Counter, dict]:
    """Account--hashtag uses (with first and last use) and hashtag pairs (videos, accounts),
    from the rows as read (times in Unix seconds)."""
    used: Counter[tuple[str, str]] = Counter()
    first: dict[tuple[str, str], Any] = {}
    last: dict[tuple[str, str], Any] = {}
    pairs: Counter[tuple[str, str]] = Counter()
    pair_accounts: dict[tuple[str, str], set[str]] = {}
    for _, name, created, _, tags, *_ in rows:
        unique = sorted({t for t in (tags or "").split("|") if t})
        stamp = created if isinstance(created, int | float) else None
        for tag in unique:
            key = (name, tag)
            used[key] += 1
            if stamp is not None:
                first[key] = min(first.get(key, stamp), stamp)
                last[key] = max(last.get(key, stamp), stamp)
            else:
                first.setdefault(key, None)
                last.setdefault(key, None)
        for a, b in combinations(unique, 2):
            pairs[(a, b)] += 1
            pair_accounts.setdefault((a, b), set()).add(name)
    return used, first, last, pairs, pair_accounts


def _csv(path: Path, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(columns)
        w.writerows(rows)


def _parquet(path: Path, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = list(zip(*rows, strict=True)) if rows else [[] for _ in columns]
    table = pa.table(
        {
            c: pa.array(list(v)) if rows else pa.array([], type=pa.string())
            for c, v in zip(columns, data, strict=True)
        }
    )
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def _gexf_head(kind: str, attributes: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gexf xmlns="http://gexf.net/1.3" version="1.3">\n'
        f'<graph defaultedgetype="{kind}">\n{attributes}'
    )


def _bipartite_gexf(path: Path, rows: list[tuple[Any, ...]]) -> None:
    """Accounts and hashtags as two kinds of node; an edge weighs the account's videos with
    the tag."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as f:
        f.write(
            _gexf_head(
                "undirected",
                '<attributes class="node"><attribute id="0" title="kind" type="string"/>'
                "</attributes>\n",
            )
        )
        accounts = sorted({r[0] for r in rows})
        tags = sorted({r[1] for r in rows})
        f.write("<nodes>\n")
        for name in accounts:
            f.write(f'<node id={quoteattr("a:" + name)} label={quoteattr(name)}><attvalues>'
                    '<attvalue for="0" value="account"/></attvalues></node>\n')  # fmt: skip
        for tag in tags:
            f.write(f'<node id={quoteattr("h:" + tag)} label={quoteattr("#" + tag)}><attvalues>'
                    '<attvalue for="0" value="hashtag"/></attvalues></node>\n')  # fmt: skip
        f.write("</nodes>\n<edges>\n")
        for i, (name, tag, n, *_) in enumerate(rows):
            f.write(f'<edge id="{i}" source={quoteattr("a:" + name)} '
                    f'target={quoteattr("h:" + tag)} weight="{n}"/>\n')  # fmt: skip
        f.write("</edges>\n</graph>\n</gexf>\n")


def _cooccurrence_gexf(path: Path, rows: list[tuple[Any, ...]]) -> None:
    """Hashtags as nodes; an edge weighs the videos that carry both."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as f:
        f.write(_gexf_head("undirected", ""))
        tags = sorted({r[0] for r in rows} | {r[1] for r in rows})
        f.write("<nodes>\n")
        f.writelines(f"<node id={quoteattr(t)} label={quoteattr('#' + t)}/>\n" for t in tags)
        f.write("</nodes>\n<edges>\n")
        for i, (a, b, n, _) in enumerate(rows):
            f.write(f'<edge id="{i}" source={quoteattr(a)} target={quoteattr(b)} weight="{n}"/>\n')
        f.write("</edges>\n</graph>\n</gexf>\n")
