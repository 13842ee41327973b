"""The report: stats.json, report.md, a self-contained report.html and figures/*.png.

One call analyses each network (a crawl is analysed twice: the fully crawled core and
everything discovered, each labelled), fits and plots its degree distributions, and puts all
of them beside published reference networks converted to the same definitions.
"""

from __future__ import annotations

import base64
import html
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from tiktok_network._version import __version__
from tiktok_network.analysis.canvas import new_figure
from tiktok_network.analysis.coverage import (
    censoring,
    coverage_figures,
    coverage_lines,
    read_coverage,
)
from tiktok_network.analysis.edgelist import EdgeList
from tiktok_network.analysis.estimators import (
    WALKS,
    Sample,
    convergence_figure,
    estimate,
    sample_of,
)
from tiktok_network.analysis.fits import ccdf, fit_degrees
from tiktok_network.analysis.stats import DegreeSummary, network_summary

BFS_WARNING = (
    "Breadth-first crawls over-represent high-degree accounts: an incomplete BFS sees a degree "
    "distribution shifted towards hubs, and its mean degree, clustering and diameter differ from "
    "the whole network's (Kurant, Markopoulou & Thiran, 'On the bias of BFS', ITC 2010; Gjoka et "
    "al., 'Walking in Facebook', INFOCOM 2010). Read statistics of a partial crawl as statistics "
    "of the sample, not of TikTok."
)
COMPARE_KEYS = (
    ("nodes", "nodes", "{:,.0f}"),
    ("edges", "edges (directed)", "{:,.0f}"),
    ("mean_degree", "mean degree (edges/node)", "{:.2f}"),
    ("edge_reciprocity", "edge reciprocity", "{:.3f}"),
    ("average_clustering", "average local clustering", "{:.4f}"),
    ("mean_distance", "mean distance", "{:.2f}"),
    ("diameter", "diameter", "{:.0f}"),
    ("effective_diameter_90", "90% effective diameter", "{:.2f}"),
    ("assortativity_undirected", "degree assortativity", "{:+.3f}"),
)


@dataclass
class Network:
    """One network of the report: its edge list in memory, or (``--out-of-core``) only its
    degree figures, computed by DuckDB."""

    label: str
    edges: EdgeList | None
    crawl: dict[str, Any] | None = None  # coverage and depth profile of a crawl
    coverage: dict[str, Any] | None = None  # completeness records (analysis/coverage.py)
    sample: Sample | None = None  # the crawl's sample, for population estimates
    degrees: DegreeSummary | None = None  # instead of edges, out of core


def crawl_networks(db: str | Path, label: str) -> list[Network]:
    """A crawl analysed twice: its crawled core (users whose lists were fetched) and everything
    it discovered, both with its coverage and depth profile."""
    from tiktok_network.analysis.edgelist import read_crawl
    from tiktok_network.store import stored_settings
    from tiktok_network.store.read import CrawlReader

    cap = stored_settings(db).get("followers_cap")
    with CrawlReader(db) as reader:
        info = reader.depth_profile()
        coverage = read_coverage(reader, cap if isinstance(cap, int) else None)
    core = read_crawl(db, f"{label} core", core_only=True)
    return [
        Network(f"{label}: crawled core", core, info, coverage, sample_of(db)),
        Network(f"{label}: everything discovered", read_crawl(db, f"{label} all"), info),
    ]


def crawl_networks_out_of_core(db: str | Path, label: str, memory_limit: str) -> list[Network]:
    """The two networks of ``crawl_networks`` by their degrees only: the crawl streamed to
    Parquet (``export --format parquet``'s writer, flat memory), then read by DuckDB; the
    coverage section as in memory (it is one row per account, not per edge)."""
    import tempfile

    from tiktok_network.analysis.out_of_core import summarise
    from tiktok_network.export.graph_formats import export_parquet
    from tiktok_network.store import stored_settings
    from tiktok_network.store.read import CrawlReader

    cap = stored_settings(db).get("followers_cap")
    with tempfile.TemporaryDirectory(prefix="tiktok-network-") as tmp, CrawlReader(db) as reader:
        info = reader.depth_profile()
        coverage = read_coverage(reader, cap if isinstance(cap, int) else None)
        export_parquet(reader, Path(tmp))
        edges, nodes = Path(tmp) / "edges.parquet", Path(tmp) / "nodes.parquet"
        core = summarise(edges, f"{label} core", core_of=nodes, memory_limit=memory_limit)
        everything = summarise(edges, f"{label} all", memory_limit=memory_limit)
    return [
        Network(f"{label}: crawled core", None, info, coverage, sample_of(db), degrees=core),
        Network(f"{label}: everything discovered", None, info, degrees=everything),
    ]


def _references() -> dict[str, Any]:
    text = (
        resources.files("tiktok_network")
        .joinpath("data/reference_networks.json")
        .read_text(encoding="utf-8")
    )
    return json.loads(text)


def crawl_networks_as(
    db: str | Path, label: str, *, out_of_core: bool, memory_limit: str
) -> list[Network]:
    """A crawl's two networks, in memory or by their degrees only (``--out-of-core``)."""
    if out_of_core:
        return crawl_networks_out_of_core(db, label, memory_limit)
    return crawl_networks(db, label)


def file_network(
    path: str | Path,
    name: str | None = None,
    *,
    undirected: bool = False,
    out_of_core: bool = False,
    memory_limit: str = "4GB",
    reference: bool = False,
) -> Network:
    """One edge file as a network of the report. ``out_of_core``: by its degrees, through
    DuckDB; a ``reference`` (``--compare``) file DuckDB does not read (SNAP or KONECT text) is
    read in memory instead: published graphs are small, and refusing them would leave the
    report without its comparison."""
    from tiktok_network.analysis.edgelist import read_edges
    from tiktok_network.analysis.out_of_core import summarise

    by_duckdb = Path(path).suffix.lower() in (".parquet", ".csv")
    if out_of_core and (by_duckdb or not reference):
        summary = summarise(path, name, undirected=undirected, memory_limit=memory_limit)
        return Network(name or summary.stats["name"], None, degrees=summary)
    el = read_edges(path, name, undirected)
    return Network(name or el.name, el)


def reference_networks() -> list[dict[str, Any]]:
    return _references()["networks"]


def reference_notes() -> dict[str, Any]:
    """What the confidence tags mean, the definitions and the known conflicts of the
    published figures: a paper citing the comparison must be able to say how sure each is."""
    refs = _references()
    return {"tags": refs.get("tags", {}), "notes": refs.get("notes", [])}


def analyse(
    networks: list[Network],
    out: Path,
    *,
    seed: int = 0,
    niches: dict[str, Any] | None = None,
    methods: str | None = None,
) -> dict[str, Any]:
    """Compute everything, write every file, return what stats.json holds; ``niches``: the
    crawl's niches (``analysis/niches.py``), already written beside the report; ``methods``:
    the crawl's methods paragraph (``analysis/methods.py``)."""
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    started = time.time()
    results = []
    for net in networks:
        stats, in_deg, out_deg, und = _figures_and_degrees(net, seed)
        stats["label"] = net.label
        if net.crawl:
            stats["crawl"] = net.crawl
        if not stats.get("empty"):
            stats["degree_fits"] = {
                kind: fit_degrees(deg, seed=seed)
                for kind, deg in (("in", in_deg), ("out", out_deg), ("undirected", und))
            }
            stats["figures"] = _figures(net, figures, in_deg, out_deg, und, stats)
        if net.coverage is not None:
            coverage = {**net.coverage, **censoring(net.coverage, seed=seed)}
            stats.setdefault("figures", [])
            stats["figures"] += coverage_figures(coverage, figures, _slug(net.label))
            stats["coverage"] = {
                k: v for k, v in coverage.items() if k not in ("points", "received_followers")
            }
        if net.sample is not None:
            stats["estimates"] = estimate(net.sample)
            if net.sample.design in WALKS and net.sample.walkers:
                path = figures / f"{_slug(net.label)}_sampling_convergence.png"
                convergence_figure(net.sample, stats["estimates"], path)
                stats.setdefault("figures", []).append(f"figures/{path.name}")
        results.append(stats)
    doc = {
        "tool": "tiktok-network",
        "version": __version__,
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": round(time.time() - started, 2),
        "networks": results,
        "references": reference_networks(),
        "reference_notes": reference_notes(),
        "notes": {"bfs_bias": BFS_WARNING},
    }
    if methods:
        doc["methods"] = methods
    if niches is not None:
        doc["niches"] = {k: v for k, v in niches.items() if k != "trends"}
        doc["niches"]["bursts"] = niches["trends"]["bursts"][:20]
    estimated = [n["estimates"] for n in results if "estimates" in n]
    if estimated:  # for scripts: the crawl's design and its estimates of the population
        doc["estimates"] = estimated[0]
    (out / "stats.json").write_text(
        json.dumps(doc, indent=2, ensure_ascii=False, default=_jsonable), encoding="utf-8"
    )
    (out / "report.md").write_text(render_markdown(doc), encoding="utf-8")
    (out / "report.html").write_text(render_html(doc, out), encoding="utf-8")
    return doc


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _figures_and_degrees(
    net: Network, seed: int
) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray]:
    """The network's figures and its in-, out- and undirected degree arrays."""
    assert net.degrees is not None or net.edges is not None
    summary = net.degrees or network_summary(net.edges, seed=seed)
    return (
        dict(summary.stats),
        summary.in_degrees,
        summary.out_degrees,
        summary.undirected_degrees,
    )


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")[:60] or "network"


# Long by design: three figures drawn in sequence with shared styling.
def _figures(
    net: Network,
    folder: Path,
    in_deg: np.ndarray,
    out_deg: np.ndarray,
    und: np.ndarray,
    stats: dict[str, Any],
) -> list[str]:
    slug = _slug(net.label)
    written = []
    fig, ax = new_figure((7, 5))
    for name, deg, colour in (
        ("in-degree", in_deg, "#1f77b4"),
        ("out-degree", out_deg, "#d62728"),
        ("undirected degree", und, "#2ca02c"),
    ):
        x, y = ccdf(deg)
        if len(x):
            ax.loglog(
                x,
                y,
                marker=".",
                linestyle="none",
                markersize=4,
                label=name,
                color=colour,
                alpha=0.8,
            )
    fit = stats["degree_fits"].get("in", {})
    if "alpha" in fit:
        x, y = ccdf(in_deg)
        xs = np.logspace(math.log10(fit["xmin"]), math.log10(max(x.max(), fit["xmin"] * 1.01)), 50)
        y0 = y[np.searchsorted(x, fit["xmin"])]
        ax.loglog(
            xs,
            y0 * (xs / fit["xmin"]) ** (1 - fit["alpha"]),
            color="black",
            linewidth=1.2,
            label=f"power-law fit, in-degree (alpha={fit['alpha']:.2f}, xmin={fit['xmin']:.0f})",
        )
    ax.set_title(f"Degree distributions: {net.label}")
    ax.set_xlabel("degree k (log scale)")
    ax.set_ylabel("P(K >= k) (log scale)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = folder / f"{slug}_degree_ccdf.png"
    fig.savefig(path)
    written.append(f"figures/{path.name}")
    sizes = stats.get("community_sizes") or []
    if sizes:
        fig, ax = new_figure((7, 4))
        x, y = ccdf(np.array(sizes))
        ax.loglog(x, y, marker="o", linestyle="none", markersize=4)
        ax.set_title(f"Community sizes (Leiden, modularity {stats['modularity']:.3f}): {net.label}")
        ax.set_xlabel("community size (log scale)")
        ax.set_ylabel("P(size >= s) (log scale)")
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        path = folder / f"{slug}_community_sizes.png"
        fig.savefig(path)
        written.append(f"figures/{path.name}")
    profile = (net.crawl or {}).get("depth_profile")
    if profile:
        depths = sorted(int(d) for d in profile)
        fig, ax = new_figure((7, 4))
        known = [profile[str(d)]["known"] for d in depths]
        done = [profile[str(d)]["crawled"] for d in depths]
        ax.bar([d - 0.2 for d in depths], known, width=0.4, label="discovered")
        ax.bar([d + 0.2 for d in depths], done, width=0.4, label="lists fetched")
        ax.set_yscale("log")
        ax.set_xticks(depths)
        ax.set_title(f"Crawl depth profile: {net.label}")
        ax.set_xlabel("depth (seeds are 0)")
        ax.set_ylabel("accounts (log scale)")
        ax.legend()
        fig.tight_layout()
        path = folder / f"{slug}_depth_profile.png"
        fig.savefig(path)
        written.append(f"figures/{path.name}")
    return written


# ------------------------------------------------------------------------------- rendering
def _fmt(value: Any, pattern: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    try:
        return pattern.format(value)
    except (ValueError, TypeError):
        return str(value)


def _comparison_rows(doc: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    columns = [n["label"] for n in doc["networks"] if not n.get("empty")] + [
        r["name"] for r in doc["references"]
    ]
    rows = []
    for key, title, pattern in COMPARE_KEYS:
        row = [title]
        for n in doc["networks"]:
            if not n.get("empty"):
                row.append(_fmt(n.get(key), pattern))
        for r in doc["references"]:
            ref_key = "assortativity" if key == "assortativity_undirected" else key
            row.append(_fmt(r.get(ref_key), pattern))
        rows.append(row)
    return columns, rows


def _structure_lines(n: dict[str, Any]) -> list[tuple[str, str]]:
    """Clustering, components and distances: the lines that need the graph in memory."""
    return [
        ("average local clustering (undirected)", f"{n['average_clustering']:.4f}"),
        (
            "global transitivity / fraction of closed triangles",
            f"{n['global_transitivity']:.4f} / {n['fraction_closed_triangles']:.4f}",
        ),
        ("triangles", f"{n['triangles']:,}"),
        (
            "WCC: count, largest (nodes/edges)",
            f"{n['wcc_count']:,}, {n['largest_wcc_nodes']:,} / {n['largest_wcc_edges']:,}",
        ),
        (
            "SCC: count, largest (nodes/edges)",
            f"{n['scc_count']:,}, {n['largest_scc_nodes']:,} / {n['largest_scc_edges']:,}",
        ),
        ("diameter, mean distance, 90% effective diameter", _distance_line(n)),
    ]


# Long by design: the lines of one report section, in reading order (a template as code).
def _network_lines(n: dict[str, Any]) -> list[tuple[str, str]]:
    if n.get("empty"):
        return [("graph", "empty: no edges, nothing to measure")]
    lines = [
        (
            "nodes / edges",
            f"{n['nodes']:,} / {n['edges']:,} (removed: {n['duplicate_edges_removed']:,} duplicate edges, {n['self_loops_removed']:,} self-loops)",
        ),
        ("density, mean degree", f"{n['density']:.3g}, {n['mean_degree']:.2f}"),
        ("max in-degree / out-degree", f"{n['max_in_degree']:,} / {n['max_out_degree']:,}"),
        (
            "edge reciprocity / pair reciprocity",
            f"{n['edge_reciprocity']:.4f} / {n['pair_reciprocity']:.4f}",
        ),
        (
            "assortativity out-in / in-in / out-out / in-out / undirected",
            " / ".join(
                _fmt(n.get(k), "{:+.4f}")
                for k in (
                    "assortativity_out_in",
                    "assortativity_in_in",
                    "assortativity_out_out",
                    "assortativity_in_out",
                    "assortativity_undirected",
                )
            ),
        ),
    ]
    if "average_clustering" in n:  # not out of core: the graph's structure
        lines += _structure_lines(n)
    if n.get("not_computed"):
        lines.append(
            (
                "not computed (out of core)",
                "; ".join(n["not_computed"])
                + ": these need the graph in memory (analyze without --out-of-core)",
            )
        )
    if "communities" in n:
        lines.append(
            ("communities (Leiden), modularity", f"{n['communities']:,}, {n['modularity']:.4f}")
        )
        for i, c in enumerate(n["largest_communities"][:3], start=1):
            lines.append((f"community {i} ({c['size']:,} accounts)", ", ".join(c["top_accounts"])))
    if "top_pagerank" in n:
        lines.append(("top by PageRank", ", ".join(t["account"] for t in n["top_pagerank"])))
    lines.append(
        (
            "top by in-degree",
            ", ".join(f"{t['account']} ({t['value']:.0f})" for t in n["top_in_degree"]),
        )
    )
    for kind, fit in n.get("degree_fits", {}).items():
        if "alpha" in fit:
            text = (
                f"alpha {fit['alpha']:.3f}{_alpha_error(fit)}, xmin {fit['xmin']:.0f}, tail {fit['tail_size']:,}, KS {fit['ks_distance']:.4f}{_subsample(fit)}; "
                f"vs lognormal R={fit['vs_lognormal']['loglikelihood_ratio']:.2f} p={fit['vs_lognormal']['p']:.3f}; "
                f"vs truncated power law R={fit['vs_truncated_power_law']['loglikelihood_ratio']:.2f} "
                f"p={fit['vs_truncated_power_law']['p']:.3f}: {fit['verdict']}"
            )
        else:
            text = fit.get("skipped", "not fitted")
        lines.append((f"power-law fit, {kind}-degree", text))
    crawl = n.get("crawl")
    if crawl:
        lines.append(
            (
                "crawl coverage",
                f"{crawl['crawled']:,} accounts with lists fetched of {crawl['known']:,} discovered ({crawl['crawled'] / max(crawl['known'], 1):.1%})",
            )
        )
    return lines


ESTIMATE_KEYS = (
    ("mean_degree", "mean degree (distinct accounts followed or following)", "{:.2f}"),
    ("mean_in_degree", "mean in-degree (followers)", "{:.2f}"),
    ("mean_out_degree", "mean out-degree (following)", "{:.2f}"),
    ("reciprocity", "edge reciprocity", "{:.3f}"),
    ("average_clustering", "average local clustering", "{:.4f}"),
)


def _alpha_error(fit: dict[str, Any]) -> str:
    se = fit.get("alpha_standard_error")
    return f" ± {1.96 * se:.3f} (95%)" if se else ""


def _subsample(fit: dict[str, Any]) -> str:
    """Large degree sequences are fitted on a seeded random subsample: the report says so."""
    if "subsample" not in fit:
        return ""
    return f" (fitted on a random {fit['subsample']:,} of {fit['n']:,} positive degrees)"


def _distance_line(n: dict[str, Any]) -> str:
    """The distances, exact or sampled; a sampled line gives each figure's error bound."""
    if n.get("distances_exact", True):
        return (
            f"{n['diameter']}, {n['mean_distance']:.3f}, {n['effective_diameter_90']:.2f}"
            " (exact, largest WCC, undirected)"
        )
    se = n.get("mean_distance_standard_error")
    low, high = n.get("effective_diameter_90_interval") or (None, None)
    mean = f"{n['mean_distance']:.3f}" + (f" ± {1.96 * se:.3f}" if se is not None else "")
    effective = f"{n['effective_diameter_90']:.2f}" + (
        f" (95% interval {low:.2f} to {high:.2f})" if low is not None else ""
    )
    return (
        f"at least {n['diameter']}, {mean}, {effective}: estimated from"
        f" {n['distance_sources']:,} sampled BFS sources (largest WCC, undirected; the diameter"
        " is the longest distance they reach, the ± a 95% interval from their spread)"
    )


def estimate_lines(est: dict[str, Any]) -> list[tuple[str, str]]:
    """The estimates as report lines: design, each figure with its interval, convergence."""
    lines = [
        ("design", est["design"] + ("" if est["corrects_bias"] else " (figures of the sample)"))
    ]
    lines.append(("visits (distinct users)", f"{est['visits']:,} ({est['distinct_users']:,})"))
    for key, label, pattern in ESTIMATE_KEYS:
        figure = est[key]
        if figure["value"] is None:
            lines.append((label, "not estimated"))
            continue
        text = pattern.format(figure["value"])
        if figure["ci_low"] is not None:
            low, high = pattern.format(figure["ci_low"]), pattern.format(figure["ci_high"])
            text += f" [{low}, {high}]"
        lines.append((label, text))
    if est.get("interval"):
        lines.append(("interval", est["interval"]))
    conv = est.get("convergence")
    if conv:
        rhat = conv["gelman_rubin"]
        share = conv["geweke_within_2"]
        lines.append(("Gelman-Rubin R-hat (degree)", "n/a" if rhat is None else f"{rhat:.3f}"))
        lines.append(("walkers with |Geweke z| <= 2", "n/a" if share is None else f"{share:.0%}"))
    if est.get("note"):
        lines.append(("note", est["note"]))
    return lines


# The sections a network may have beside its figures: key in stats.json, title, its lines.
SECTIONS: tuple[tuple[str, str, Callable[[dict[str, Any]], list[tuple[str, str]]]], ...] = (
    ("estimates", "Estimates", estimate_lines),
    ("coverage", "Coverage", coverage_lines),
)


def _cell(text: str) -> str:
    """Text for a Markdown table cell (a bar would end the cell)."""
    return text.replace("|", "/")


def render_markdown(doc: dict[str, Any]) -> str:
    out = [f"# Network report (tiktok-network {doc['version']}, {doc['generated_at']})", ""]
    for n in doc["networks"]:
        out += [f"## {n['label']}", "", "| figure | value |", "|---|---|"]
        out += [f"| {k} | {v.replace('|', '/')} |" for k, v in _network_lines(n)]
        for key, title, lines in SECTIONS:
            if key in n:
                out += ["", f"### {title}: {n['label']}", "", "| figure | value |", "|---|---|"]
                out += [f"| {_cell(k)} | {_cell(v)} |" for k, v in lines(n[key])]
        out += [""] + [f"![{f}]({f})" for f in n.get("figures", [])] + [""]
    columns, rows = _comparison_rows(doc)
    out += [
        "## Side by side with published networks",
        "",
        "| | " + " | ".join(columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    out += ["", "Sources of the reference figures:", ""]
    out += [f"- {r['name']}: {r['source']} [{r['confidence']}]" for r in doc["references"]]
    about = doc.get("reference_notes") or {}
    out += ["", "Confidence tags:", ""]
    out += [f"- **{tag}**: {meaning}" for tag, meaning in (about.get("tags") or {}).items()]
    out += ["", "Definitions and known conflicts:", ""]
    out += [f"- {note}" for note in about.get("notes") or []]
    out += ["", f"**Sampling bias.** {doc['notes']['bfs_bias']}", ""]
    if doc.get("methods"):
        out += ["## Methods (generated from the crawl's provenance)", "", doc["methods"], ""]
    if "niches" in doc:
        for title, columns, rows in niche_tables(doc["niches"]):
            out += [f"## {title}", "", "| " + " | ".join(columns) + " |"]
            out += ["|---" * len(columns) + "|"]
            out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
            out += [""]
        out += [f"![{f}]({f})" for f in doc["niches"].get("figures", [])] + [""]
    return "\n".join(out)


def render_html(doc: dict[str, Any], out: Path) -> str:
    esc = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Network report: {esc(', '.join(n['label'] for n in doc['networks']))}</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:14px}td,th{border:1px solid #ccc;padding:4px 8px;"
        "text-align:left;vertical-align:top}th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee;margin:.5em 0}"
        ".warn{background:#fff6e0;border-left:4px solid #e0a000;padding:.6em 1em}</style></head><body>",
        f"<h1>Network report</h1><p>tiktok-network {esc(doc['version'])}, generated {esc(doc['generated_at'])}.</p>",
    ]
    for n in doc["networks"]:
        parts.append(f"<h2>{esc(n['label'])}</h2><table><tr><th>figure</th><th>value</th></tr>")
        parts += [f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in _network_lines(n)]
        parts.append("</table>")
        for key, title, lines in SECTIONS:
            if key in n:
                parts.append(f"<h3>{title}: {esc(n['label'])}</h3><table>")
                parts += [f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in lines(n[key])]
                parts.append("</table>")
        for f in n.get("figures", []):
            data = base64.b64encode((out / f).read_bytes()).decode()
            parts.append(f"<img alt='{esc(f)}' src='data:image/png;base64,{data}'>")
    columns, rows = _comparison_rows(doc)
    parts.append("<h2>Side by side with published networks</h2><table><tr><th></th>")
    parts += [f"<th>{esc(c)}</th>" for c in columns]
    parts.append("</tr>")
    for r in rows:
        parts.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>")
    parts.append("</table><p>Sources:</p><ul>")
    parts += [
        f"<li>{esc(r['name'])}: {esc(r['source'])} [{esc(r['confidence'])}]</li>"
        for r in doc["references"]
    ]
    about = doc.get("reference_notes") or {}
    parts.append("</ul><p>Confidence tags:</p><ul>")
    parts += [
        f"<li><b>{esc(tag)}</b>: {esc(meaning)}</li>"
        for tag, meaning in (about.get("tags") or {}).items()
    ]
    parts.append("</ul><p>Definitions and known conflicts:</p><ul>")
    parts += [f"<li>{esc(note)}</li>" for note in about.get("notes") or []]
    parts.append(f"</ul><p class='warn'><b>Sampling bias.</b> {esc(doc['notes']['bfs_bias'])}</p>")
    if doc.get("methods"):
        parts.append("<h2>Methods (generated from the crawl's provenance)</h2>")
        parts.append(f"<p>{esc(doc['methods'])}</p>")
    if "niches" in doc:
        for title, columns, rows in niche_tables(doc["niches"]):
            parts.append(f"<h2>{esc(title)}</h2><table><tr>")
            parts += [f"<th>{esc(c)}</th>" for c in columns]
            parts.append("</tr>")
            for r in rows:
                parts.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>")
            parts.append("</table>")
        for f in doc["niches"].get("figures", []):
            data = base64.b64encode((out / f).read_bytes()).decode()
            parts.append(f"<img alt='{esc(f)}' src='data:image/png;base64,{data}'>")
    parts.append("</body></html>")
    return "".join(parts)


def niche_tables(niches: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """The niches section as tables (title, columns, rows) for both renderings."""
    rows = [
        [
            str(n["community"]),
            f"{n['size']:,} ({n['members_with_videos']:,} posted {n['videos']:,} videos)",
            ", ".join(f"#{t}" for t in n["hashtags"][:6]),
            ", ".join(n["accounts"][:3]),
            ", ".join(f"{k} {v:.0%}" for k, v in n["regions"].items()),
            f"{n['videos_per_member_week']:.2f}",
        ]
        for n in niches["niches"][:30]
    ]
    bursts = [
        [f"#{b['hashtag']}", str(b["community"]), f"{b['start']} to {b['end']}", str(b["videos"])]
        for b in niches.get("bursts", [])
    ]
    quartiles = [
        [str(q["quartile"]), f"{q['accounts']:,}", ", ".join(f"#{t}" for t in q["hashtags"][:6]),
         ", ".join(f"#{t}" for t in q["only_here"][:6])]
        for q in niches.get("quartiles", [])
    ]  # fmt: skip
    backbones = [
        [b["network"], b["method"], f"{b['threshold']:g}", f"{b['nodes']:,} of {b['nodes_total']:,}",
         f"{b['edges']:,} of {b['edges_total']:,}", f"{b['largest_component']:,}"]
        for b in niches.get("backbones", [])
    ]  # fmt: skip
    title = (
        f"Niches: {niches['communities']:,} communities (Leiden, modularity"
        f" {niches['modularity']:.3f}), {len(niches['niches']):,} described by {niches['videos']:,}"
        " videos; hashtags by weighted log-odds z-score (Monroe et al. 2008)"
    )
    return [
        (title, ["niche", "members", "distinctive hashtags", "leaders (PageRank)", "regions",
                 "videos per member a week"], rows),
        ("Rising hashtags (Kleinberg bursts, weekly)", ["hashtag", "niche", "weeks", "videos"],
         bursts),
        ("Hashtags by PageRank quartile (1: highest)", ["quartile", "accounts", "distinctive",
         "only in this quartile's top 10"], quartiles),
        ("Backbones (disparity filter: Serrano et al. 2009; noise-corrected: Coscia & Neffke"
         " 2017): what each threshold keeps", ["network", "method", "threshold", "nodes",
         "edges", "largest component"], backbones),
    ]  # fmt: skip
