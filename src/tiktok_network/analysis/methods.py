"""A methods paragraph for a paper, written from the crawl's provenance
(``export/datapackage.py provenance``): what was collected, when, how, and with what gaps.

Every figure in it is the crawl's own record, so the paragraph cannot drift from the data; the
wording is plain and editable, and it says what the API withheld with the crawl's counts.
"""

from __future__ import annotations

from typing import Any


def _date(iso: str | None) -> str:
    return iso[:10] if iso else "an unknown date"


def methods_paragraph(origin: dict[str, Any]) -> str:
    """The paragraph for ``origin`` (a provenance dict)."""
    settings = origin.get("settings") or {}
    runs = [r for r in origin.get("runs") or [] if r.get("command") == "crawl"]
    starts = [r["started"] for r in runs if r.get("started")]
    ends = [r["ended"] for r in runs if r.get("ended")]
    source = (
        "the TikTok Research API"
        if origin.get("api_kind") == "official"
        else f"a Research API at {origin.get('api_base')} ({origin.get('api_kind')}: not TikTok's service)"
    )
    sentences = [
        f"Data were collected with tiktok-network {origin.get('tool_version')} from {source}"
        f" between {_date(min(starts) if starts else None)} and"
        f" {_date(max(ends) if ends else None)}, in {len(runs)} crawl run{'s' * (len(runs) != 1)}."
    ]
    seeds = origin.get("seeds")
    direction = settings.get("direction", "following")
    lists = "following and follower lists" if direction == "both" else f"{direction} lists"
    design = settings.get("sampler", "bfs")
    how = (
        f"breadth-first to depth {settings.get('max_depth')}"
        if design == "bfs"
        else f"with the {design} sampler"
    )
    start = (
        f"Starting from {seeds['count']:,} seed accounts (SHA-256 of the sorted list:"
        f" {seeds['sha256'][:16]}), the crawl"
        if seeds
        else "The crawl"
    )
    requests = origin.get("requests") or {}
    pages = sum((requests.get("pages_by_list") or {}).values())
    sentences.append(
        f"{start} followed {lists} {how}, fetching {pages:,} pages of follow lists and"
        f" {requests.get('profiles_fetched', 0):,} profiles."
    )
    withheld = origin.get("withheld") or {}
    states = withheld.get("lists_by_state") or {}
    for which, label in (("following", "following"), ("followers", "follower")):
        counts = states.get(which) or {}
        attempted = sum(v for k, v in counts.items() if k != "pending")
        if not attempted:
            continue
        parts = [f"{counts.get('complete', 0):,} were complete"]
        for state, words in (
            ("capped", "served only in part by the API"),
            ("capped_by_choice", "cut by the crawl's own limits"),
            ("hidden", "hidden by their owners"),
            ("private", "refused (private or restricted accounts)"),
            ("not_found", "of accounts not found"),
            ("error", "failed"),
        ):
            if counts.get(state):
                parts.append(f"{counts[state]:,} {words}")
        sentences.append(f"Of the {attempted:,} {label} lists attempted, {_join(parts)}.")
    cap = (withheld.get("followers_cap") or {}).get("setting")
    if cap:
        sentences.append(f"Follower lists were read up to {cap:,} entries each.")
    history = origin.get("history") or {}
    purged = sum((history.get("purged_by_reason") or {}).values())
    sentences.append(
        f"As the API's terms require, stored data were refreshed {history.get('refreshes', 0)}"
        f" time{'s' * (history.get('refreshes', 0) != 1)} and {purged:,} accounts no longer"
        " served were deleted with everything recorded about them."
    )
    window = origin.get("data_window") or {}
    if window.get("first_follow_seen"):
        sentences.append(
            f"The follows analysed were observed between {_date(window['first_follow_seen'])}"
            f" and {_date(window.get('last_follow_seen'))}."
        )
    return " ".join(sentences)


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
