"""The coverage section of the report: how much of each list the crawl holds, and what that
does to the statistics (``docs/completeness.md``).

A reviewer asks three things, answered here from the completeness records: for how many nodes
is the neighbourhood complete, how many edges are missing (reported counts minus entries
received, over the lists fetched), and which statistics the gaps bias. A follower cap censors
in-degree at the cap, so the in-degree tail is fitted again below it, with the cut reported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tiktok_network.analysis.canvas import new_figure
from tiktok_network.analysis.fits import fit_degrees
from tiktok_network.store.base import ListCompleteness
from tiktok_network.store.read import CrawlReader, NodeRow

DIRECTIONS = ("following", "followers")
# Lists the API was asked for and answered (a verdict on the list itself, not on the account).
FETCHED = frozenset(
    {
        ListCompleteness.COMPLETE,
        ListCompleteness.CAPPED,
        ListCompleteness.CAPPED_BY_CHOICE,
        ListCompleteness.HIDDEN,
    }
)
MIN_CAPPED_AT_CAP = 3  # lists ending at one length before it is taken for the API's cap


def read_coverage(reader: CrawlReader, followers_cap: int | None) -> dict[str, Any]:
    """The coverage figures, and the per-node arrays the figures are drawn from."""
    rows = list(reader.nodes())
    doc: dict[str, Any] = {"users": len(rows), "directions": {}}
    for direction in DIRECTIONS:
        doc["directions"][direction] = _direction(rows, direction)
    cap, source = _cap(rows, followers_cap)
    doc["followers_cap"] = cap
    doc["followers_cap_source"] = source
    doc["points"] = {
        d: [
            (getattr(r, d).received, getattr(r, d).reported, getattr(r, d).state.label)
            for r in rows
            if getattr(r, d).state in FETCHED and getattr(r, d).reported is not None
        ]
        for d in DIRECTIONS
    }
    doc["received_followers"] = [
        (r.followers.received, r.followers.state == ListCompleteness.CAPPED)
        for r in rows
        if r.followers.state in FETCHED
    ]
    return doc


def _direction(rows: list[NodeRow], direction: str) -> dict[str, Any]:
    records = [getattr(r, direction) for r in rows]
    states = {s.label: 0 for s in ListCompleteness}
    for rec in records:
        states[rec.state.label] += 1
    fetched = [rec for rec in records if rec.state in FETCHED]
    attempted = [rec for rec in records if rec.state != ListCompleteness.PENDING]
    counted = [rec for rec in fetched if rec.reported is not None]
    received = sum(rec.received for rec in counted)
    reported = sum(rec.reported or 0 for rec in counted)
    complete = states["complete"]
    return {
        "states": states,
        "attempted": len(attempted),
        "fetched": len(fetched),
        "complete_share_of_attempted": complete / len(attempted) if attempted else None,
        "received": sum(rec.received for rec in fetched),
        "with_reported": len(counted),
        "received_where_reported": received,
        "reported": reported,
        "missing_estimate": reported - received,
    }


def _cap(rows: list[NodeRow], setting: int | None) -> tuple[int | None, str | None]:
    """The follower cap: the crawl's setting, else a length several capped lists stop at."""
    if setting:
        return setting, "the crawl's --followers-cap"
    lengths: dict[int, int] = {}
    for r in rows:
        if r.followers.state == ListCompleteness.CAPPED and r.followers.received:
            lengths[r.followers.received] = lengths.get(r.followers.received, 0) + 1
    if not lengths:
        return None, None
    longest = max(lengths)  # lists shortened by filtering end anywhere; a cap ends them here
    if lengths[longest] >= MIN_CAPPED_AT_CAP:
        return longest, f"inferred: {lengths[longest]} capped follower lists stop at {longest:,}"
    return None, None


def censoring(coverage: dict[str, Any], *, seed: int = 0) -> dict[str, Any]:
    """Which statistics the gaps affect, and the in-degree tail (followers received per
    fetched list) fitted below the cap."""
    in_degrees = np.array([r for r, _ in coverage["received_followers"]], dtype=np.int64)
    notes = []
    following = coverage["directions"]["following"]
    followers = coverage["directions"]["followers"]
    cap = coverage["followers_cap"]
    out: dict[str, Any] = {}
    if cap:
        above = int((in_degrees >= cap).sum())
        notes.append(
            f"In-degree is censored at the follower cap ({cap:,}, {coverage['followers_cap_source']}):"
            f" {above:,} follower lists reach it, and those accounts' true in-degree is larger."
            " The power-law fit of in-degree (followers received per list) below uses degrees"
            " under the cap only."
        )
        below = in_degrees[in_degrees < cap]
        out["in_degree_fit_below_cap"] = {
            "cut_at": cap,
            "nodes_cut": above,
            **fit_degrees(below, seed=seed, compare=False),  # alpha and xmin below the cut
        }
    for direction, figures in (("following", following), ("followers", followers)):
        missing = figures["missing_estimate"]
        if figures["with_reported"] and missing > 0:
            degree = "out-degree" if direction == "following" else "in-degree"
            notes.append(
                f"{direction} lists: about {missing:,} entries missing against the profiles'"
                f" counts ({figures['reported']:,} reported, {figures['received_where_reported']:,}"
                f" received): {degree}, mean degree, reciprocity and clustering are"
                " underestimated."
            )
    hidden = following["states"]["hidden"]
    if hidden:
        notes.append(
            f"{hidden:,} accounts hide whom they follow: their out-edges are known only from"
            " other accounts' follower lists."
        )
    private = following["states"]["private"] + following["states"]["not_found"]
    if private:
        notes.append(
            f"{private:,} accounts are private, deleted or not found: their lists are absent"
            " (edges to them come only from other accounts' lists)."
        )
    out["notes"] = notes
    return out


def coverage_figures(coverage: dict[str, Any], folder: Path, slug: str) -> list[str]:
    """Received vs reported degree, and the follower-list CCDF with capped lists marked."""
    written = []
    fig, ax = new_figure((7, 5))
    top = 1
    for direction, colour in (("following", "#d62728"), ("followers", "#1f77b4")):
        points = [(rec, rep) for rec, rep, _ in coverage["points"][direction]]
        if points:
            x = np.array([rep for _, rep in points], dtype=float) + 1
            y = np.array([rec for rec, _ in points], dtype=float) + 1
            top = max(top, x.max(), y.max())
            ax.loglog(x, y, ".", markersize=4, alpha=0.6, color=colour, label=direction)
    ax.loglog([1, top], [1, top], color="black", linewidth=1, label="received = reported")
    if coverage["followers_cap"]:
        ax.axhline(
            coverage["followers_cap"] + 1, color="grey", linestyle="--", label="follower cap"
        )
    labels = (
        "Entries received vs the profile's count (+1, log scale)",
        "reported by user info + 1",
        "received in the list + 1",
    )
    written.append(_save(fig, ax, labels, folder / f"{slug}_coverage_received_vs_reported.png"))

    received = coverage["received_followers"]
    if received:
        fig, ax = new_figure((7, 5))
        # One point per list at (k, P(K >= k)), so a capped list is marked, not a value.
        degrees = np.array([r for r, _ in received], dtype=float)
        mark = np.array([c for _, c in received])
        ascending = np.sort(degrees)
        share = (len(degrees) - np.searchsorted(ascending, degrees, side="left")) / len(degrees)
        keep = degrees > 0
        others, capped = keep & ~mark, keep & mark
        ax.loglog(degrees[others], share[others], ".", markersize=5, label="other fetched lists")
        ax.loglog(
            degrees[capped], share[capped], "x", color="#d62728", markersize=6, label="capped lists"
        )
        if coverage["followers_cap"]:
            ax.axvline(
                coverage["followers_cap"], color="grey", linestyle="--", label="follower cap"
            )
        labels = (
            "Followers received per fetched list (CCDF), capped lists marked",
            "followers received k (log scale)",
            "P(K >= k) (log scale)",
        )
        written.append(_save(fig, ax, labels, folder / f"{slug}_coverage_followers_ccdf.png"))
    return written


def _save(fig: Any, ax: Any, labels: tuple[str, str, str], path: Path) -> str:
    """Title and axes, grid and legend, then the PNG; returns its path in the report."""
    title, xlabel, ylabel = labels
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    return f"figures/{path.name}"


def coverage_lines(coverage: dict[str, Any]) -> list[tuple[str, str]]:
    """The coverage section as (figure, value) rows of the report."""
    lines = []
    for direction in DIRECTIONS:
        d = coverage["directions"][direction]
        share = d["complete_share_of_attempted"]
        states = ", ".join(f"{k} {v:,}" for k, v in d["states"].items() if v)
        lines.append(
            (
                f"{direction} lists: complete / attempted",
                f"{d['states']['complete']:,} / {d['attempted']:,}"
                + (f" ({share:.1%})" if share is not None else "")
                + f"; {states}",
            )
        )
        lines.append(
            (
                f"{direction}: missing entries (reported - received)",
                f"{d['missing_estimate']:,} ({d['reported']:,} reported - "
                f"{d['received_where_reported']:,} received, over {d['with_reported']:,} "
                "fetched lists with a known count)",
            )
        )
    if coverage["followers_cap"]:
        lines.append(
            ("follower cap", f"{coverage['followers_cap']:,} ({coverage['followers_cap_source']})")
        )
    fit = coverage.get("in_degree_fit_below_cap")
    if fit:
        text = (
            f"alpha {fit['alpha']:.3f}, xmin {fit['xmin']:.0f}, tail {fit['tail_size']:,}: {fit['verdict']}"
            if "alpha" in fit
            else fit.get("skipped", "not fitted")
        )
        lines.append(
            (
                f"in-degree fit below the cap ({fit['nodes_cut']:,} nodes cut at {fit['cut_at']:,})",
                text,
            )
        )
    for note in coverage.get("notes", []):
        lines.append(("affected statistics", note))
    return lines
