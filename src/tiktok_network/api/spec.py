"""The Research API's contract, written once: the client and the emulator both import it.

Endpoints, list keys, field lists, error codes and limits, as ``research-api.md`` (the project's
notes on the documented and observed API) describes them. Were the client and its emulator to
write these apart, they could drift apart silently and the tests would pass against a service
that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass

TOKEN_PATH = "/v2/oauth/token/"

MAX_COUNT = 100  # max_count of a follow page: 1..100
DEFAULT_COUNT = 20  # when max_count is not given

# Cursor rules of the per-user lists (research-api.md 3.3, 3.5): a Unix time in seconds (entries
# "at or before" it, newest first; none sent = now), an index into the list, or no paging.
TIMESTAMP, INDEX, NO_CURSOR = "timestamp", "index", "none"
# The daily budgets requests are counted against (research-api.md 5): the follow lists' (their
# own 20,000 a day), and the general one user info and the video endpoints share.
FOLLOW_BUDGET, GENERAL_BUDGET = "follow", "general"


@dataclass(frozen=True)
class ListEndpoint:
    """A list of one user's that the crawl pages through, described as data so that a new one
    is a new instance, not a new engine: the engine walks it page by page, the client sends
    and parses it, the quota counts it, the store keeps its entries, the emulator serves it.

    ``name`` is what the crawl calls the list (a ``--direction``, the ``lists.direction`` and
    ``pages.direction`` column, the quota bucket); ``entries_key`` the key of its entries
    inside ``data``; ``entry`` their kind ("account": ``{username, display_name}``); ``stored``
    where the store keeps them ("follows_out": edges owner -> entry, "follows_in": entry ->
    owner); ``count_field`` the user-info field that reports the list's length (how complete
    a list is, is judged against it); ``hideable``: its owner may hide it, and the refusal is
    recorded as the list's one empty page, not as a failure.
    """

    name: str
    path: str
    entries_key: str
    cursor: str = TIMESTAMP
    budget: str = FOLLOW_BUDGET
    max_count: int = MAX_COUNT
    entry: str = "account"
    stored: str = "follows_out"
    count_field: str = ""
    hideable: bool = False
    # Of a list of videos (``entry="video"``): the ``fields`` the request names in its URL, the
    # other keys the entries were documented under (the pinned list's is uncertain), and what
    # an answer refusing the list for its owner's privacy says (matched in ``error.message``).
    fields: str = ""
    other_keys: tuple[str, ...] = ()
    hidden_hint: str = ""

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key the entries may come under, the documented one first."""
        return (self.entries_key, *self.other_keys)


FOLLOWING = ListEndpoint(
    "following",
    "/v2/research/user/following/",
    "user_following",
    stored="follows_out",
    count_field="following_count",
    hideable=True,
)
FOLLOWERS = ListEndpoint(
    "followers",
    "/v2/research/user/followers/",
    "user_followers",
    stored="follows_in",
    count_field="follower_count",
)
# The video lists of a user (research-api.md 3.5), the collection's ``--layers``: their
# cursors differ (liked: a Unix time, videos "on or before" it; reposted: an index; pinned: no
# paging), they count in the general budget, and liked and reposted are often refused for the
# owner's privacy ("information cannot be returned", traktok's soft failure): recorded as the
# list's one empty page, like a hidden following list, not as a failure.
LAYER_FIELDS = (
    "id,username,create_time,region_code,hashtag_names,video_description,like_count,"
    "view_count,comment_count,share_count,video_mention_list"
)
UNAVAILABLE_HINT = "information cannot be returned"


def _video_list(name: str, key: str, cursor: str, **more: object) -> ListEndpoint:
    """One of a user's lists of videos: general budget, video fields, refusable for privacy."""
    return ListEndpoint(
        name,
        f"/v2/research/user/{name}_videos/",
        key,
        cursor=cursor,
        budget=GENERAL_BUDGET,
        entry="video",
        stored="video_edges",
        hideable=True,
        fields=LAYER_FIELDS,
        hidden_hint=UNAVAILABLE_HINT,
        **more,  # type: ignore[arg-type]
    )


LIKED = _video_list("liked", "user_liked_videos", TIMESTAMP)
REPOSTED = _video_list("reposted", "reposted_videos", INDEX)
# the official wrapper's key; one doc version says user_pinned_videos
PINNED = _video_list("pinned", "pinned_videos_list", NO_CURSOR, other_keys=("user_pinned_videos",))
VIDEO_LISTS: dict[str, ListEndpoint] = {e.name: e for e in (LIKED, REPOSTED, PINNED)}
LIST_ENDPOINTS: dict[str, ListEndpoint] = {
    e.name: e for e in (FOLLOWING, FOLLOWERS, LIKED, REPOSTED, PINNED)
}
# The lists whose entries are accounts: the follow graph's.
ACCOUNT_LISTS = tuple(n for n, e in LIST_ENDPOINTS.items() if e.entry == "account")
FOLLOW_ENDPOINTS = tuple(n for n, e in LIST_ENDPOINTS.items() if e.budget == FOLLOW_BUDGET)
# The key holding a list's entries inside ``data``.
LIST_KEYS = {n: e.entries_key for n, e in LIST_ENDPOINTS.items()}
ENDPOINTS = {
    **{n: e.path for n, e in LIST_ENDPOINTS.items()},
    "info": "/v2/research/user/info/",
    "video": "/v2/research/video/query/",
}


def owner_is_source(name: str) -> bool:
    """Whether the owner of list ``name`` is the source of the edges its entries make (its
    following) rather than their target (its followers): how the store orients them."""
    return LIST_ENDPOINTS[name].stored == "follows_out"


def cursor_moved(endpoint: ListEndpoint, cursor: int | None, next_cursor: int | None) -> bool:
    """Whether a page that says more follow moved its list's cursor the way the list pages:
    back in time for a timestamp (none sent is now), forward for an index."""
    if next_cursor is None:
        return False
    if endpoint.cursor == INDEX:
        return next_cursor > (cursor or 0)
    return not cursor or next_cursor < cursor


# The quota bucket each request is counted in, and the budget each bucket belongs to (the
# video query is counted in user info's bucket: the general budget is one).
BUCKET_BUDGETS = {
    **{n: e.budget for n, e in LIST_ENDPOINTS.items()},
    "info": GENERAL_BUDGET,
}

# Fields user info can return; the client asks for the profile ones (not open_id, is_private).
INFO_FIELDS = (
    "display_name",
    "bio_description",
    "avatar_url",
    "is_verified",
    "follower_count",
    "following_count",
    "likes_count",
    "video_count",
    "open_id",
    "is_private",
    "bio_url",  # documented later than the others (research-api notes, 2026-11)
)
PROFILE_FIELDS = INFO_FIELDS[:8]
# How the service answers for a following list its owner hid: not documented. This triple is
# a guess (a 4xx invalid_params like the refused-account answer), marked as such wherever it is
# used; the emulator can answer otherwise (--hidden-following-response).
HIDDEN_FOLLOWING_MESSAGE = "The user's following list is not visible (a guess: undocumented)"
# What the client looks for in an error message to tell a hidden following list (a setting,
# --hidden-following-hint, for when the real wording is learnt).
HIDDEN_FOLLOWING_HINT = "following list is not visible"

# error.code values.
OK = "ok"
ACCESS_TOKEN_INVALID = "access_token_invalid"
SCOPE_NOT_AUTHORIZED = "scope_not_authorized"
SCOPE_PERMISSION_MISSED = "scope_permission_missed"
RATE_LIMIT_EXCEEDED = "rate_limit_exceeded"
DAILY_QUOTA_LIMIT_EXCEEDED = "daily_quota_limit_exceeded"
INVALID_PARAMS = "invalid_params"

# Messages the service was seen to send for accounts it cannot serve (research-api.md 4.3).
NOT_FOUND_MESSAGE = "The username {username} is invalid: cannot find the user"
REFUSED_MESSAGE = "API cannot return this user's information"
INVALID_CURSOR_MESSAGE = "Invalid count or cursor"

# Video query (research-api.md 3.x, 10): the general bucket of 1,000 requests and 100,000 records
# a day, shared with user info; at most 30 days between start_date and end_date; a page of at most
# 100 videos; the cursor is an index into the result set that ``search_id`` names.
VIDEO_KEY = "videos"
VIDEO_MAX_DAYS = 30
VIDEO_MAX_COUNT = 100
VIDEO_FIELDS = (
    "id",
    "username",
    "create_time",
    "region_code",
    "hashtag_names",
    "video_description",
    "like_count",
    "view_count",
    "comment_count",
    "share_count",
)
# Every field the video query is documented to return (research-api.md 3.5 and 11): the
# emulator accepts each, as the service does; a published client (researchtikpy's
# ``get_videos_query``) asks for music_id, effect_ids, playlist_id and voice_to_text by default.
# Added 2025-04-17: video_mention_list, hashtag_info_list, sticker_info_list, video_label,
# video_tag; 2026-05-21: favorites_count. The shapes of the 2025 additions are not in the
# project's notes: the emulator's are guesses, marked where it makes them.
VIDEO_DOCUMENTED_FIELDS = (
    *VIDEO_FIELDS,
    "music_id",
    "effect_ids",
    "playlist_id",
    "voice_to_text",
    "video_mention_list",
    "hashtag_info_list",
    "sticker_info_list",
    "video_label",
    "video_tag",
    "favorites_count",
)
# What a condition may test, and how (an unknown field or operation is 400 invalid_params).
QUERY_FIELDS = ("username", "region_code", "hashtag_name", "keyword", "create_date", "video_id")
QUERY_OPERATIONS = ("EQ", "IN", "GT", "GTE", "LT", "LTE")
SEARCH_ID_INVALID_MESSAGE = "Search Id {search_id} is invalid or expired"

# Batch compliance (research-api.md 11, added 2025-05-16): a task of up to 10,000 video ids, its
# status asked until it is done, then the ids still valid downloaded. The paths are the notes';
# the bodies and answers (``ids``/``type`` in, ``task_id``, ``status``, ``valid_ids`` out) are
# not in them: a guess, kept here alone so that learning the real shape is one edit. Counted in
# the general budget (a guess too: the notes do not say).
COMPLIANCE_PATHS = {
    "create": "/v2/research/validation_task/create/",
    "status": "/v2/research/validation_task_status/get/",
    "download": "/v2/research/validation_task/download/",
}
COMPLIANCE_MAX_IDS = 10_000
COMPLIANCE_DONE = "completed"
