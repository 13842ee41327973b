"""What a fetched page means for its list: the record to commit, and what the profile says of
lists that ended short. Pure functions of the claim and the page, apart from the engine's I/O."""

from __future__ import annotations

from dataclasses import dataclass

from tiktok_network.api.outcomes import Page, UserInfo
from tiktok_network.api.spec import LIST_ENDPOINTS, cursor_moved
from tiktok_network.completeness import HIDDEN_BY_OWNER, ended_list_verdict
from tiktok_network.config import CrawlSettings
from tiktok_network.store.base import Claim, ListCompleteness, ListVerdict, PageRecord

NOT_JUDGED = (
    "served to its end, not judged: its profile was not fetched (the day's user-info calls"
    " were spent); a later run fetches it and judges the list"
)


@dataclass(frozen=True)
class PageVerdict:
    record: PageRecord
    note: str | None  # why the list was closed early, if it was


def page_verdict(
    claim: Claim,
    direction: str,
    page: Page,
    cursor: int | None,
    settings: CrawlSettings,
    *,
    hidden: bool = False,
) -> PageVerdict:
    """The record one page commits, with the entries it adds, whether it ends the list and, if
    it does, the list's completeness verdict."""
    # A follow sharing its second with the next one can come back on the next page.
    previous = claim.last_page.get(direction, set())
    fresh = list({u: n for u, n in page.items if u not in previous}.items())
    claim.last_page[direction] = {u for u, _ in fresh}
    received = claim.lists[direction].items + len(fresh)
    done = not page.has_more
    note = None
    broken = page.has_more and not cursor_moved(LIST_ENDPOINTS[direction], cursor, page.next_cursor)
    if broken:
        note = stuck_cursor_note(cursor, page.next_cursor)
        done = True
    limit = settings.max_list_items
    by_choice = limit if (limit is not None and received >= limit and not done) else None
    done = done or by_choice is not None
    verdict: ListVerdict | None = None
    if hidden:
        verdict = (ListCompleteness.HIDDEN, HIDDEN_BY_OWNER)
    elif broken:
        verdict = (ListCompleteness.ERROR, note)
    elif done:
        verdict = ended_list_verdict(
            direction,
            received,
            claim.reported.get(direction),
            followers_cap=settings.followers_cap,
            by_choice=by_choice,
        )
        if (
            settings.info
            and claim.reported.get(direction) is None
            and verdict[0] == ListCompleteness.COMPLETE
        ):
            verdict = (ListCompleteness.UNJUDGED, NOT_JUDGED)
    others_done = all(claim.lists[d].done for d in settings.directions if d != direction)
    record = PageRecord(
        user_id=claim.user_id,
        depth=claim.depth,
        direction=direction,
        request=page.request,
        request_cursor=cursor,
        next_cursor=page.next_cursor,
        has_more=page.has_more,
        list_done=done,
        items=page.items,
        raw=page.raw,
        log_id=page.log_id,
        fetched_at=page.fetched_at,
        user_complete=done and others_done,
        note=verdict[1] if verdict else None,
        list_state=verdict[0] if verdict else None,
        fresh=len(fresh),
    )
    return PageVerdict(record, note)


def stuck_cursor_note(cursor: int | None, next_cursor: int | None) -> str:
    """Why a list that says more follow was ended: its cursor did not move (any list's)."""
    return f"cursor did not move ({cursor} -> {next_cursor}); list ended early"


def reverdict_ended_lists(
    claim: Claim, settings: CrawlSettings, known_before: dict[str, int | None]
) -> dict[str, ListVerdict]:
    """Lists that ended complete before user info arrived (an earlier run), judged again now
    that the profile's counts are known: a list shorter than its count is capped. A list
    judged when a count was already known (``known_before``) keeps its verdict: a profile
    fetched later (a refresh) describes a later moment than the list."""
    verdicts = {}
    for direction, state in claim.lists.items():
        if known_before.get(direction) is not None:
            continue
        if state.done and state.verdict in (
            None,
            ListCompleteness.COMPLETE,
            ListCompleteness.UNJUDGED,
        ):
            verdicts[direction] = ended_list_verdict(
                direction,
                state.items,
                claim.reported.get(direction),
                followers_cap=settings.followers_cap,
            )
    return verdicts


def reported_counts(info: UserInfo) -> dict[str, int | None]:
    """The lengths the profile reports, by list (each list names its field)."""
    return {
        name: getattr(info, e.count_field) for name, e in LIST_ENDPOINTS.items() if e.count_field
    }
