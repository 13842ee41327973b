"""What a fetched page means for its list: the record to commit, and what the profile says of
lists that ended short. Pure functions of the claim and the page, apart from the engine's I/O."""

from __future__ import annotations

from dataclasses import dataclass

from tiktok_network.api.outcomes import Page, UserInfo
from tiktok_network.store.base import Claim, PageRecord


@dataclass(frozen=True)
class PageVerdict:
    record: PageRecord
    fresh: int  # entries not seen on the list's previous page
    note: str | None  # why the list was closed early, if it was


def page_verdict(
    claim: Claim, direction: str, page: Page, cursor: int | None, directions: tuple[str, ...]
) -> PageVerdict:
    """The record one page commits, with the entries it adds and whether it ends the list."""
    # A follow sharing its second with the next one can come back on the next page.
    previous = claim.last_page.get(direction, set())
    fresh = list({u: n for u, n in page.items if u not in previous}.items())
    claim.last_page[direction] = {u for u, _ in fresh}
    done = not page.has_more
    note = None
    if page.has_more and (page.next_cursor is None or (cursor and page.next_cursor >= cursor)):
        note = f"cursor did not move ({cursor} -> {page.next_cursor}); list ended early"
        done = True
    others_done = all(claim.lists[d].done for d in directions if d != direction)
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
        note=note,
    )
    return PageVerdict(record, len(fresh), note)


def short_list_notes(claim: Claim, info: UserInfo) -> dict[str, str]:
    """Lists that ended with fewer accounts than the profile counts: capped or filtered."""
    notes = {}
    for direction, reported in (
        ("following", info.following_count),
        ("followers", info.follower_count),
    ):
        state = claim.lists.get(direction)
        if state is None or not state.done or not isinstance(reported, int):
            continue
        if state.items < reported:
            notes[direction] = (
                f"truncated: received {state.items:,} of {reported:,} reported by user info"
            )
    return notes
