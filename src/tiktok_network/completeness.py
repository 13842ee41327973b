"""How complete one follow list is: the rules, written once.

The engine decides a list's verdict when the list ends (or when user info arrives after it
ended); the read model fills in the verdict of lists that never ended from the user's status.
Both call these pure functions, so ``docs/completeness.md`` describes one rule, not two.

The API withholds in ways a client sees only indirectly: it answers a refused or missing
account with an error (``private``, ``not_found``), may answer a following list its owner hid
with an error or an empty page (``hidden``), and ends long or filtered follower lists early
without saying so. Only the last needs inference: a list that reached the cap the API is known
to apply (``--followers-cap``), or that ended with fewer entries than the profile reports, is
``capped``. A list is ``complete`` only when none of this applies.
"""

from __future__ import annotations

from tiktok_network.store.base import ListCompleteness, ListVerdict, UserState, UserStatus


def ended_list_verdict(
    direction: str,
    received: int,
    reported: int | None,
    *,
    followers_cap: int | None = None,
    by_choice: int | None = None,
) -> ListVerdict:
    """The verdict on a list the API served to its end (or that the crawl stopped by choice).

    ``received`` counts distinct entries; ``reported`` is the profile's count when user info was
    fetched; ``by_choice`` is ``--max-list-items`` when the crawl stopped the list there.
    """
    if by_choice is not None:
        return (
            ListCompleteness.CAPPED_BY_CHOICE,
            f"stopped at {received:,} entries by --max-list-items {by_choice:,}",
        )
    if direction == "followers" and followers_cap and received >= followers_cap:
        return ListCompleteness.CAPPED, f"reached the API's follower cap ({followers_cap:,})"
    if reported is not None:
        if direction == "following" and received == 0 and reported > 0:
            return (
                ListCompleteness.HIDDEN,
                f"served empty while the profile reports {reported:,}: hidden by its owner",
            )
        if received < reported:
            return (
                ListCompleteness.CAPPED,
                f"received {received:,} of {reported:,} reported by user info",
            )
    return ListCompleteness.COMPLETE, None


HIDDEN_BY_OWNER = "the API answered that its owner hid it"


def skipped_verdict(direction: str, reported: int, limit: int) -> ListVerdict:
    """A list not fetched because the account is larger than ``--skip-larger-than``."""
    count = "follower_count" if direction == "followers" else "following_count"
    return (
        ListCompleteness.CAPPED_BY_CHOICE,
        f"skipped: {count} {reported:,} > --skip-larger-than {limit:,}",
    )


def stored_state(
    list_state: int | None,
    done: bool | None,
    received: int,
    reported: int | None,
    user_state: int,
    user_status: int | None,
) -> ListCompleteness:
    """The verdict the read model shows for one list: the stored one, else what the user's
    status implies (refused accounts are ``private``; given-up ones ``error``)."""
    if list_state is not None:
        return ListCompleteness(list_state)
    if done:  # ended before completeness records existed (a migrated or copied crawl)
        short = reported is not None and received < reported
        return ListCompleteness.CAPPED if short else ListCompleteness.COMPLETE
    if user_status == UserStatus.REFUSED:
        return ListCompleteness.PRIVATE
    if user_status == UserStatus.NOT_FOUND:
        return ListCompleteness.NOT_FOUND
    if user_state == UserState.FAILED or user_status == UserStatus.FAILED:
        return ListCompleteness.ERROR
    return ListCompleteness.PENDING
