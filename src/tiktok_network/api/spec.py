"""The Research API's contract, written once: the client and the emulator both import it.

Endpoints, list keys, field lists, error codes and limits, as ``research-api.md`` (the project's
notes on the documented and observed API) describes them. Were the client and its emulator to
write these apart, they could drift apart silently and the tests would pass against a service
that does not exist.
"""

from __future__ import annotations

TOKEN_PATH = "/v2/oauth/token/"
ENDPOINTS = {
    "following": "/v2/research/user/following/",
    "followers": "/v2/research/user/followers/",
    "info": "/v2/research/user/info/",
    "video": "/v2/research/video/query/",
}
FOLLOW_ENDPOINTS = ("following", "followers")
# The key holding a follow list's entries inside ``data``.
LIST_KEYS = {"following": "user_following", "followers": "user_followers"}

MAX_COUNT = 100  # max_count of a follow page: 1..100
DEFAULT_COUNT = 20  # when max_count is not given

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
# What a condition may test, and how (an unknown field or operation is 400 invalid_params).
QUERY_FIELDS = ("username", "region_code", "hashtag_name", "keyword", "create_date", "video_id")
QUERY_OPERATIONS = ("EQ", "IN", "GT", "GTE", "LT", "LTE")
SEARCH_ID_INVALID_MESSAGE = "Search Id {search_id} is invalid or expired"
