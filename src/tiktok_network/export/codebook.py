"""The codebook: what every column of every file the exports write holds, declared once.

``datapackage.json`` (``export/datapackage.py``) is generated from it, so a file's schema, its
types and the meaning of an empty cell travel with the data. A column the exports write and the
codebook does not describe fails the tests (``tests/test_datapackage.py``), so the two cannot
drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from tiktok_network.store.base import ListCompleteness, UserStatus

TIME = "UTC, ISO 8601 to the second (YYYY-MM-DDTHH:MM:SSZ)"
EMPTY_UNKNOWN = "empty: not known (the profile was not fetched, or the API did not give it)"


@dataclass(frozen=True)
class Field:
    """One column: its Table Schema type, what it holds, its unit, what empty means."""

    name: str
    type: str
    description: str
    unit: str | None = None
    empty: str | None = None  # what an empty cell means; None: never empty

    def schema(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name, "type": self.type}
        text = self.description
        if self.unit:
            text += f" Unit: {self.unit}."
        if self.empty:
            text += f" {self.empty[0].upper()}{self.empty[1:]}."
        out["description"] = text
        return out


# What each completeness state and status code means (docs/completeness.md), by enum member.
STATE_MEANINGS = {
    ListCompleteness.PENDING: "not fetched yet, or in progress",
    ListCompleteness.COMPLETE: "served to its end, and no shorter than the profile's count",
    ListCompleteness.CAPPED: "the API withheld part of it (at its cap, or short of the count)",
    ListCompleteness.CAPPED_BY_CHOICE: "stopped by --max-list-items or --skip-larger-than",
    ListCompleteness.HIDDEN: "its owner hid it (a following list)",
    ListCompleteness.PRIVATE: "the API refused the account (private or restricted)",
    ListCompleteness.NOT_FOUND: "no such account (deleted, banned or mistyped)",
    ListCompleteness.ERROR: "failed every retry, or a broken cursor ended it",
    ListCompleteness.UNJUDGED: "served to its end; the profile's count is not known yet",
}
STATUS_MEANINGS = {
    UserStatus.QUEUED: "no verdict yet",
    UserStatus.PARSED: "lists fetched",
    UserStatus.REFUSED: "refused by the API (private or restricted)",
    UserStatus.NOT_FOUND: "not found",
    UserStatus.FAILED: "failed every retry",
}


def _states() -> str:
    return "; ".join(f"{state.label}: {STATE_MEANINGS[state]}" for state in ListCompleteness)


def _statuses() -> str:
    return "; ".join(f"{int(s)} {STATUS_MEANINGS[s]}" for s in UserStatus)


ACCOUNT = "The account's username (or its keyed pseudonym in a pseudonymised export)."
STATUS = Field("status", "integer", f"The crawl's verdict on the account: {_statuses()}.")


def _list_fields(direction: str) -> tuple[Field, ...]:
    whose = "accounts it follows" if direction == "following" else "accounts following it"
    return (
        Field(f"{direction}_state", "string", f"How much of its list of {whose} the crawl holds: {_states()}."),
        Field(f"{direction}_received", "integer", "Entries of the list received.", "accounts"),
        Field(
            f"{direction}_reported", "integer", "The count its profile reports.", "accounts",
            EMPTY_UNKNOWN,
        ),
        Field(
            f"{direction}_ratio", "number", "received / reported, to 4 decimals.", None,
            "empty: no reported count",
        ),
    )  # fmt: skip


EDGE_FIELDS = (
    Field("source", "string", "The account that follows. " + ACCOUNT),
    Field("destination", "string", "The account followed. " + ACCOUNT),
    Field("first_seen", "string", "When the crawl first saw this follow.", TIME),
    Field(
        "found_via", "string",
        "The list it was found in: following (the source's) or followers (the destination's).",
        None, "empty: the page that found it was purged with its owner",
    ),
    Field("last_seen", "string", "When the crawl last saw this follow.", TIME),
)  # fmt: skip

NODE_FIELDS = (
    Field("username", "string", ACCOUNT),
    Field("display_name", "string", "The display name the API gave.", None, "empty: not given"),
    Field("depth", "integer", "Breadth-first depth: seeds are 0.", "hops"),
    STATUS,
    Field("first_seen", "string", "When the crawl first met the account.", TIME),
    Field("follower_count", "integer", "Followers the profile reports.", "accounts", EMPTY_UNKNOWN),
    Field("following_count", "integer", "Accounts the profile reports following.", "accounts", EMPTY_UNKNOWN),
    Field("likes_count", "integer", "Likes the profile reports.", "likes", EMPTY_UNKNOWN),
    Field("video_count", "integer", "Videos the profile reports.", "videos", EMPTY_UNKNOWN),
    Field("is_verified", "boolean", "Whether TikTok verified the account.", None, EMPTY_UNKNOWN),
    Field("bio_description", "string", "The profile's bio.", None, EMPTY_UNKNOWN),
    Field("avatar_url", "string", "The profile picture's address.", None, EMPTY_UNKNOWN),
    *_list_fields("following"),
    *_list_fields("followers"),
    Field("notes", "string", "Why a list is not complete, per direction.", None, "empty: nothing to say"),
    Field("last_seen", "string", "When the crawl last met the account.", TIME, "empty: not recorded"),
    Field("first_run", "integer", "The crawl run that first met it (runs in datapackage.json).", None, EMPTY_UNKNOWN),
    Field("last_run", "integer", "The crawl run that last met it.", None, EMPTY_UNKNOWN),
    Field("info_fetched_at", "string", "When its profile was fetched.", TIME, "empty: never"),
    Field("purged", "boolean", "Purged under the terms: a tombstone id replaces the username and nothing else is kept."),
)  # fmt: skip

# Files with a table, by name. Parquet files hold the CSVs' columns with their own types.
TABLES: dict[str, tuple[Field, ...]] = {
    "network.csv": (
        Field("source", "string", "The account that follows. " + ACCOUNT),
        Field("destination", "string", "The account followed. " + ACCOUNT),
    ),
    "parsing_list.csv": (Field("username", "string", ACCOUNT), STATUS),
    "queue.csv": (Field("username", "string", "An account met and not fetched yet. " + ACCOUNT),),
    "saved_jsons.csv": (
        Field("username", "string", "The account whose list page this is. " + ACCOUNT),
        Field("json", "string", "The API's response to one page request, as received (JSON)."),
    ),
    "time_stamps.csv": (
        Field("username", "string", ACCOUNT),
        Field("timestamp", "string", "When the page was fetched.", TIME),
    ),
    "nodes.csv": NODE_FIELDS,
    "edges.csv": EDGE_FIELDS,
    "nodes.parquet": NODE_FIELDS,
    "edges.parquet": EDGE_FIELDS,
}

VIDEO_FIELDS = (
    Field("id", "integer", "The video's id."),
    Field("username", "string", "Its author (need not be an account of the crawl for a liked, reposted or pinned video). " + ACCOUNT, None, "empty: not given"),
    Field("create_time", "string", "When it was posted.", TIME, "empty: not given"),
    Field("region_code", "string", "The region the API gives for it.", None, "empty: not given"),
    Field("hashtags", "string", "Its hashtags, |-joined.", None, "empty: none"),
    Field("description", "string", "Its description.", None, "empty: none"),
    Field("view_count", "integer", "Views.", "views", EMPTY_UNKNOWN),
    Field("like_count", "integer", "Likes.", "likes", EMPTY_UNKNOWN),
    Field("comment_count", "integer", "Comments.", "comments", EMPTY_UNKNOWN),
    Field("share_count", "integer", "Shares.", "shares", EMPTY_UNKNOWN),
    Field("first_seen", "string", "When the crawl first saw it.", TIME, EMPTY_UNKNOWN),
    Field("last_seen", "string", "When the crawl last saw it.", TIME, EMPTY_UNKNOWN),
    Field("mentions", "string", "Accounts it mentions, |-joined.", None, "empty: none"),
)  # fmt: skip
ACCOUNT_VIDEO_FIELDS = (
    Field("username", "string", ACCOUNT),
    Field("video_id", "integer", "The video (videos.csv id)."),
    Field("relation", "string", "How the account relates to it: posted, liked, reposted or pinned."),
    Field("first_seen", "string", "When the crawl first saw the relation.", TIME),
    Field("last_seen", "string", "When the crawl last saw it.", TIME),
)  # fmt: skip
ACCOUNT_HASHTAG_FIELDS = (
    Field("username", "string", ACCOUNT),
    Field("hashtag", "string", "A hashtag the account used in a video it posted."),
    Field("videos", "integer", "Its posted videos carrying the hashtag.", "videos"),
    Field("first_used", "string", "Its first such video.", TIME, EMPTY_UNKNOWN),
    Field("last_used", "string", "Its last such video.", TIME, EMPTY_UNKNOWN),
)  # fmt: skip
COOCCURRENCE_FIELDS = (
    Field("hashtag_a", "string", "A hashtag (hashtag_a < hashtag_b)."),
    Field("hashtag_b", "string", "The other hashtag."),
    Field("videos", "integer", "Videos carrying both.", "videos"),
    Field("accounts", "integer", "Accounts that posted both on one video.", "accounts"),
)  # fmt: skip
TABLES.update(
    {
        "videos.csv": VIDEO_FIELDS,
        "videos.parquet": VIDEO_FIELDS,
        "account_videos.csv": ACCOUNT_VIDEO_FIELDS,
        "account_hashtags.csv": ACCOUNT_HASHTAG_FIELDS,
        "account_hashtags.parquet": ACCOUNT_HASHTAG_FIELDS,
        "hashtag_cooccurrence.csv": COOCCURRENCE_FIELDS,
        "hashtag_cooccurrence.parquet": COOCCURRENCE_FIELDS,
    }
)

# A share folder's tables (export/share.py): ids only.
TABLES.update(
    {
        "accounts.csv": (Field("account", "string", ACCOUNT),),
        "follows.csv": (
            Field("source", "string", "The account that follows. " + ACCOUNT),
            Field("destination", "string", "The account followed. " + ACCOUNT),
        ),
    }
)

# Files without a table: what each is.
DOCUMENTS = {
    "graph.graphml": ("application/graphml+xml", "The follow graph for igraph and networkx: nodes.csv's columns as node attributes."),
    "graph.gexf": ("application/gexf+xml", "The follow graph for Gephi: nodes.csv's columns as node attributes."),
    "account_hashtags.gexf": ("application/gexf+xml", "account_hashtags.csv as a bipartite network for Gephi (node kind: account or hashtag)."),
    "aggregates.json": ("application/json", "The network's figures as tiktok-network's report computes them (no account named) and the completeness counts of the lists."),
    "rehydrate.py": ("text/x-python", "Re-collects the accounts' profiles and lists with the reader's own Research API access."),
    "README.md": ("text/markdown", "What the share folder holds and how to re-collect it."),
    "hashtag_cooccurrence.gexf": ("application/gexf+xml", "hashtag_cooccurrence.csv as a network for Gephi."),
}  # fmt: skip
