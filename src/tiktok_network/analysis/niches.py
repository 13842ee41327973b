"""The niches around a crawl's accounts: who belongs to which, what each talks about, who
leads it, what is rising in it, and how they connect (``analyze`` on a crawl with videos).

A niche is a community of the crawled core (Leiden, modularity, on the undirected follow
graph of the expanded accounts), described by its members' videos (``tiktok-network videos``):
- its distinctive hashtags: weighted log-odds with an informative Dirichlet prior against the
  other niches (``distinctive.py``), TF-IDF beside it as the original crawler ranked them;
- its leaders: its members by PageRank on the whole follow graph (damping 0.85);
- its region mix and posting activity (videos per member per week);
- what is rising: weekly counts of its hashtags, with Kleinberg bursts (``bursts.py``);
- the PageRank quartiles' hashtags, the original crawler's analysis, by the same scores.

Files beside the report: ``communities.csv`` (username, community), ``niches.csv``
(community, size, hashtags, accounts, ...), ``quartiles.csv``, ``trends.csv`` (week, community,
hashtag, videos), ``bursts.csv``, and figures: the map of the niches and the rising hashtags.
"""

from __future__ import annotations

import csv
import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from tiktok_network.analysis.bursts import bursts
from tiktok_network.analysis.distinctive import distinctive

WEEK = 7 * 86400
MONDAY = 3 * 86400  # the Unix epoch fell on a Thursday: weeks here start on Mondays (ISO)
MIN_MEMBERS_WITH_VIDEOS = 3  # a niche is described when this many members posted
TOP_TAGS = 10
LEADERS = 5
BURST_MIN_VIDEOS = 5  # a hashtag a niche used fewer times in the period is not tested
# A burst is listed when the burst state explains its weeks better than the base rate by at
# least this many nats (its Kleinberg weight): weeks of chance ups and downs of a common tag
# score a few; a tag that spread through a niche for a week scores tens.
BURST_MIN_WEIGHT = 10.0


@dataclass
class Video:
    author: int  # index into the graph's names
    created: int | None
    region: str | None
    tags: list[str]


def analyse_niches(db: str | Path, out: Path, *, seed: int = 0) -> dict[str, Any] | None:
    """Compute and write the niche files of the crawl ``db`` into ``out``; None (nothing
    written) when the crawl holds no video."""
    from tiktok_network.analysis.edgelist import read_crawl
    from tiktok_network.store.read import CrawlReader

    with CrawlReader(db) as reader:
        if not reader.has_videos():
            _remove_files(out)  # an earlier report's, of videos since purged
            return None
        rows = list(reader.videos())
    core = read_crawl(db, core_only=True)
    index = {name: i for i, name in enumerate(core.names)}
    videos = [Video(index[a], c, r, t) for _, a, c, r, t in rows if a in index]
    membership, modularity = _communities(core, seed)
    pagerank = _pagerank(core)
    result = describe(core.names, membership, pagerank, videos)
    result["modularity"] = modularity
    result["videos"] = len(videos)
    result["backbones"] = backbone_retention(core, membership, videos)
    out.mkdir(parents=True, exist_ok=True)
    _write(out, core.names, membership, result)
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    for name in FIGURES:  # a figure this report does not draw is not left from an older one
        (figures / name).unlink(missing_ok=True)
    result["figures"] = _figures(core, membership, result, figures)
    return result


FILES = (
    "communities.csv", "niches.csv", "quartiles.csv", "trends.csv", "bursts.csv", "backbones.csv",
)  # fmt: skip
FIGURES = ("niches_map.png", "niches_rising.png", "niches_backbones.png")


def _remove_files(out: Path) -> None:
    for name in FILES:
        (out / name).unlink(missing_ok=True)
    for name in FIGURES:
        (out / "figures" / name).unlink(missing_ok=True)


def _communities(core: Any, seed: int) -> tuple[np.ndarray, float]:
    """Leiden (modularity) on the undirected core; igraph's generator seeded for the call."""
    import igraph as ig

    g = ig.Graph(n=core.n_nodes, edges=np.column_stack([core.src, core.dst]).tolist())
    u = g.as_undirected(mode="collapse")
    ig.set_random_number_generator(random.Random(seed))
    try:
        parts = u.community_leiden(objective_function="modularity", n_iterations=-1)
    finally:
        ig.set_random_number_generator(random)
    return np.asarray(parts.membership, dtype=np.int64), float(parts.modularity)


def _pagerank(core: Any) -> np.ndarray:
    import igraph as ig

    g = ig.Graph(
        n=core.n_nodes, edges=np.column_stack([core.src, core.dst]).tolist(), directed=True
    )
    return np.asarray(g.pagerank(directed=True, damping=0.85))


def describe(
    names: list[str], membership: np.ndarray, pagerank: np.ndarray, videos: list[Video]
) -> dict[str, Any]:
    """Every figure of the niches from the communities, PageRank and videos (pure: tested
    without a crawl)."""
    by_niche: dict[int, list[Video]] = defaultdict(list)
    for v in videos:
        by_niche[int(membership[v.author])].append(v)
    sizes = Counter(int(c) for c in membership)
    described = {
        c: vs
        for c, vs in by_niche.items()
        if len({v.author for v in vs}) >= MIN_MEMBERS_WITH_VIDEOS
    }
    counts = {str(c): Counter(t for v in vs for t in set(v.tags)) for c, vs in described.items()}
    ranked = distinctive(counts, top=TOP_TAGS)
    niches = []
    for c in sorted(described, key=lambda c: (-sizes[c], c)):
        vs = described[c]
        members = np.flatnonzero(membership == c)
        leaders = members[np.argsort(-pagerank[members], kind="stable")[:LEADERS]]
        regions = Counter(v.region or "?" for v in vs)
        times = [v.created for v in vs if v.created is not None]
        weeks = max(1.0, (max(times) - min(times)) / WEEK) if times else 1.0
        niches.append(
            {
                "community": c,
                "size": sizes[c],
                "members_with_videos": len({v.author for v in vs}),
                "videos": len(vs),
                "hashtags": [r.tag for r in ranked[str(c)]],
                "scores": [
                    {"hashtag": r.tag, "videos": r.count, "z": r.z, "tfidf": r.tfidf}
                    for r in ranked[str(c)]
                ],
                "accounts": [names[i] for i in leaders],
                "regions": {k: n / len(vs) for k, n in regions.most_common(3)},
                "videos_per_member_week": len(vs) / max(1, len(members)) / weeks,
            }
        )
    return {
        "communities": len(sizes),
        "niches": niches,
        "quartiles": _quartiles(names, pagerank, videos),
        "trends": _trends(described),
    }


def backbone_retention(
    core: Any, membership: np.ndarray, videos: list[Video]
) -> list[dict[str, Any]]:
    """What the disparity filter and the noise-corrected backbone keep, threshold by
    threshold, of the hashtag co-occurrence network and of the community graph."""
    from itertools import combinations

    from tiktok_network.analysis.backbones import retention

    networks = {}
    pairs: Counter[tuple[str, str]] = Counter()
    for v in videos:
        pairs.update(combinations(sorted(set(v.tags)), 2))
    if pairs:
        tags = sorted({t for pair in pairs for t in pair})
        at = {t: i for i, t in enumerate(tags)}
        networks["hashtag co-occurrence"] = (
            np.array([at[a] for a, _ in pairs]),
            np.array([at[b] for _, b in pairs]),
            np.array(list(pairs.values()), dtype=float),
            len(tags),
        )
    a, b = membership[core.src], membership[core.dst]
    between = Counter((int(min(x, y)), int(max(x, y))) for x, y in zip(a, b, strict=True) if x != y)
    if between:
        networks["community graph"] = (
            np.array([x for x, _ in between]),
            np.array([y for _, y in between]),
            np.array(list(between.values()), dtype=float),
            int(membership.max()) + 1,
        )
    rows = []
    for name, (u, v, w, n) in networks.items():
        nodes = len(np.unique(np.concatenate([u, v])))
        for r in retention(u, v, w, n):
            rows.append(
                {
                    "network": name,
                    "method": r.method,
                    "threshold": r.threshold,
                    "nodes": r.nodes,
                    "edges": r.edges,
                    "largest_component": r.largest_component,
                    "nodes_total": nodes,
                    "edges_total": len(w),
                }
            )
    return rows


def _quartiles(names: list[str], pagerank: np.ndarray, videos: list[Video]) -> list[dict[str, Any]]:
    """Accounts with videos in four PageRank quartiles (1: the highest), each with its
    distinctive hashtags, and those only it has among the quartiles' most used (the
    original's "specific to each quartile")."""
    authors = sorted({v.author for v in videos}, key=lambda a: -pagerank[a])
    if len(authors) < 4:
        return []
    quartile = {a: 1 + (i * 4) // len(authors) for i, a in enumerate(authors)}
    counts = {str(q): Counter() for q in range(1, 5)}
    for v in videos:
        counts[str(quartile[v.author])].update(set(v.tags))
    ranked = distinctive(counts, top=TOP_TAGS)
    tops = {q: {t for t, _ in c.most_common(TOP_TAGS)} for q, c in counts.items()}
    out = []
    for q in range(1, 5):
        others = set().union(*(tops[str(o)] for o in range(1, 5) if o != q))
        out.append(
            {
                "quartile": q,
                "accounts": sum(1 for a in authors if quartile[a] == q),
                "hashtags": [r.tag for r in ranked[str(q)]],
                "only_here": sorted(tops[str(q)] - others),
            }
        )
    return out


def _trends(described: dict[int, list[Video]]) -> dict[str, Any]:
    """Weekly counts of each niche's hashtags over the period of its videos, and the bursts
    (Kleinberg) of those used at least ``BURST_MIN_VIDEOS`` times."""
    times = [v.created for vs in described.values() for v in vs if v.created is not None]
    if not times:
        return {"first_week": None, "weeks": 0, "rows": [], "bursts": []}
    first = _week(min(times))
    n_weeks = _week(max(times)) - first + 1
    rows: list[tuple[int, int, str, int]] = []
    found = []
    for c, vs in described.items():
        totals = [0] * n_weeks
        per_tag: dict[str, list[int]] = defaultdict(lambda: [0] * n_weeks)
        for v in vs:
            if v.created is None:
                continue
            w = _week(v.created) - first
            totals[w] += 1
            for t in set(v.tags):
                per_tag[t][w] += 1
        for tag, hits in per_tag.items():
            rows += [(first + w, c, tag, n) for w, n in enumerate(hits) if n]
            if sum(hits) < BURST_MIN_VIDEOS:
                continue
            for b in bursts(hits, totals):
                if b.weight < BURST_MIN_WEIGHT:
                    continue
                found.append(
                    {
                        "community": c,
                        "hashtag": tag,
                        "start": _week_start(first + b.start),
                        "end": _week_start(first + b.end + 1),
                        "videos": sum(hits[b.start : b.end + 1]),
                        "weight": b.weight,
                    }
                )
    found.sort(key=lambda b: -b["weight"])
    return {"first_week": _week_start(first), "weeks": n_weeks, "rows": rows, "bursts": found}


def _week(t: int) -> int:
    return (t + MONDAY) // WEEK


def _week_start(week: int) -> str:
    """The Monday a week begins on."""
    return datetime.fromtimestamp(week * WEEK - MONDAY, UTC).strftime("%Y-%m-%d")


def _write(out: Path, names: list[str], membership: np.ndarray, result: dict[str, Any]) -> None:
    from tiktok_network.export.atomic import atomic_path

    with atomic_path(out / "communities.csv") as tmp, tmp.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["username", "community"])
        w.writerows((name, int(c)) for name, c in zip(names, membership, strict=True))
    with atomic_path(out / "niches.csv") as tmp, tmp.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["community", "size", "hashtags", "accounts", "members_with_videos", "videos",
             "regions", "videos_per_member_week"]
        )  # fmt: skip
        for n in result["niches"]:
            w.writerow(
                [
                    n["community"],
                    n["size"],
                    "|".join(n["hashtags"]),
                    "|".join(n["accounts"]),
                    n["members_with_videos"],
                    n["videos"],
                    "|".join(f"{k}:{v:.2f}" for k, v in n["regions"].items()),
                    f"{n['videos_per_member_week']:.3f}",
                ]
            )
    with atomic_path(out / "quartiles.csv") as tmp, tmp.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["quartile", "accounts", "hashtags", "only_here"])
        for q in result["quartiles"]:
            w.writerow(
                [q["quartile"], q["accounts"], "|".join(q["hashtags"]), "|".join(q["only_here"])]
            )
    with atomic_path(out / "trends.csv") as tmp, tmp.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["week", "community", "hashtag", "videos"])
        w.writerows((_week_start(wk), c, t, n) for wk, c, t, n in sorted(result["trends"]["rows"]))
    with atomic_path(out / "backbones.csv") as tmp, tmp.open("w", newline="") as f:
        columns = ["network", "method", "threshold", "nodes", "edges", "largest_component",
                   "nodes_total", "edges_total"]  # fmt: skip
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(result["backbones"])
    with atomic_path(out / "bursts.csv") as tmp, tmp.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["community", "hashtag", "start", "end", "videos", "weight"])
        w.writerows(
            (b["community"], b["hashtag"], b["start"], b["end"], b["videos"], f"{b['weight']:.2f}")
            for b in result["trends"]["bursts"]
        )


def _figures(core: Any, membership: np.ndarray, result: dict[str, Any], figures: Path) -> list[str]:
    """The map of the niches and the rising hashtags, as PNG files (paths relative to the
    report's folder)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    niches = result["niches"]
    if niches:
        path = figures / "niches_map.png"
        _niche_map(core, membership, niches, path, plt)
        made.append(f"figures/{path.name}")
    if result["trends"]["bursts"]:
        path = figures / "niches_rising.png"
        _rising(result, path, plt)
        made.append(f"figures/{path.name}")
    if result["backbones"]:
        path = figures / "niches_backbones.png"
        _retention_figure(result["backbones"], path, plt)
        made.append(f"figures/{path.name}")
    return made


def _retention_figure(rows: list[dict[str, Any]], path: Path, plt: Any) -> None:
    """For each network and filter: the share of nodes, edges and the largest component
    each threshold keeps (the curves the original crawler plotted)."""
    networks = sorted({r["network"] for r in rows})
    methods = ("disparity", "noise-corrected")
    fig, axes = plt.subplots(len(networks), 2, figsize=(10, 3.6 * len(networks)), squeeze=False)
    for i, net in enumerate(networks):
        for j, method in enumerate(methods):
            ax = axes[i][j]
            chosen = [r for r in rows if r["network"] == net and r["method"] == method]
            xs = [r["threshold"] for r in chosen]
            for key, label in (
                ("nodes", "nodes"),
                ("edges", "edges"),
                ("largest_component", "largest component"),
            ):
                total = (
                    chosen[0]["edges_total" if key == "edges" else "nodes_total"] if chosen else 1
                )
                ax.plot(xs, [r[key] / max(1, total) for r in chosen], marker="o", label=label)
            ax.set_title(f"{net}: {method}", fontsize=10)
            ax.set_xlabel(
                "alpha (kept below)" if method == "disparity" else "delta (sd kept above)"
            )
            if method == "disparity":
                ax.set_xscale("log")
                ax.invert_xaxis()
            ax.set_ylim(0, 1.05)
            ax.set_ylabel("share kept")
            ax.legend(fontsize=8)
    fig.suptitle("Backbones: what each threshold keeps (stricter to the right)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _niche_map(
    core: Any, membership: np.ndarray, niches: list[dict[str, Any]], path: Path, plt: Any
) -> None:
    """The community graph (niches as nodes sized by members, edges by follows between them)
    in a force layout, each labelled with its top hashtag."""
    import igraph as ig

    shown = [n["community"] for n in niches]
    pos = {c: i for i, c in enumerate(shown)}
    weights: Counter[tuple[int, int]] = Counter()
    for a, b in zip(membership[core.src], membership[core.dst], strict=True):
        a, b = int(a), int(b)
        if a != b and a in pos and b in pos:
            weights[(min(pos[a], pos[b]), max(pos[a], pos[b]))] += 1
    g = ig.Graph(n=len(shown), edges=list(weights))
    layout = (
        g.layout_fruchterman_reingold(
            weights=[math.log1p(w) for w in weights.values()] or None, seed=None, niter=500
        )
        if weights
        else g.layout_circle()
    )
    xy = np.asarray(layout.coords) if len(shown) else np.zeros((0, 2))
    fig, ax = plt.subplots(figsize=(9, 7))
    top = max(weights.values()) if weights else 1
    for (i, j), w in weights.items():
        ax.plot(
            *zip(xy[i], xy[j], strict=True), color="#999", lw=0.3 + 3 * w / top, alpha=0.5, zorder=1
        )
    sizes = np.array([n["size"] for n in niches], dtype=float)
    colours = plt.cm.tab20(np.arange(len(shown)) % 20)
    ax.scatter(
        xy[:, 0],
        xy[:, 1],
        s=60 + 1500 * sizes / sizes.max(),
        c=colours,
        zorder=2,
        edgecolors="white",
    )
    for k, n in enumerate(niches):
        label = f"#{n['hashtags'][0]}" if n["hashtags"] else f"niche {n['community']}"
        ax.annotate(
            f"{label}\n{n['size']:,} accounts",
            xy[k],
            xytext=(0, -14 - 30 * math.sqrt(sizes[k] / sizes.max())),
            textcoords="offset points",
            ha="center",
            va="top",
            fontsize=8,
            zorder=3,
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85},
        )
    ax.margins(0.15)
    ax.set_title(
        "Niches: communities of the crawled accounts, labelled by their most distinctive hashtag"
    )
    ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _rising(result: dict[str, Any], path: Path, plt: Any) -> None:
    """Weekly videos of the strongest bursting hashtags, each in its niche."""
    first = result["trends"]["first_week"]
    weeks = result["trends"]["weeks"]
    start = _week(int(datetime.fromisoformat(first).replace(tzinfo=UTC).timestamp()))
    chosen = result["trends"]["bursts"][:6]
    names = {
        n["community"]: f"#{n['hashtags'][0]}" if n["hashtags"] else f"niche {n['community']}"
        for n in result["niches"]
    }
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for b in chosen:
        series = [0] * weeks
        for wk, c, t, n in result["trends"]["rows"]:
            if c == b["community"] and t == b["hashtag"]:
                series[int(wk - start)] = n
        niche = names.get(b["community"], f"niche {b['community']}")
        line = ax.plot(range(weeks), series, marker=".", label=f"#{b['hashtag']} in {niche}")
        first_week = _week(int(datetime.fromisoformat(b["start"]).replace(tzinfo=UTC).timestamp()))
        last_week = _week(int(datetime.fromisoformat(b["end"]).replace(tzinfo=UTC).timestamp()))
        ax.axvspan(
            first_week - start - 0.5, last_week - start - 0.5, color=line[0].get_color(), alpha=0.12
        )
    ax.set_xlabel(f"week since {first}")
    ax.set_ylabel("videos with the hashtag")
    ax.set_title("Rising hashtags: the strongest bursts, shaded (Kleinberg 2002)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
