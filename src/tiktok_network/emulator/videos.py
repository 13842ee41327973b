"""Synthetic videos over the served graph, and the video query endpoint that searches them.

Every account posts a seeded number of videos during 2025, from its own region, each with a few
hashtags and description words drawn from small vocabularies (popular ones more often). The
table is numpy arrays (an author index, a time, a region, hashtag index lists, word bit masks),
so a query is a handful of vectorised comparisons: ``and`` (all conditions), ``or`` (any) and
``not`` (none) over ``username``, ``region_code``, ``hashtag_name``, ``keyword`` (a substring of
a description word or hashtag), ``create_date`` and ``video_id``, within ``start_date`` ..
``end_date`` (inclusive UTC days, at most 30 days apart). Results come newest first; the cursor
is an index into them and ``search_id`` names the result set.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import numpy as np

from tiktok_network.api import spec

HASHTAGS = (
    "fyp", "foryou", "viral", "dance", "comedy", "food", "travel", "music", "fashion", "beauty",
    "fitness", "pets", "dogsoftiktok", "catsoftiktok", "gaming", "football", "art", "diy",
    "booktok", "learnontiktok", "skincare", "recipe", "cooking", "vlog", "asmr", "prank",
    "motivation", "science", "history", "cars", "anime", "nature", "photography", "makeup",
    "trend", "duet", "challenge", "tutorial", "family", "election",
)  # fmt: skip
WORDS = (
    "today", "new", "best", "my", "first", "try", "watch", "wait", "for", "end", "how", "to",
    "make", "easy", "quick", "summer", "winter", "city", "home", "day", "night", "love",
    "funny", "crazy", "part", "story", "time", "life", "style", "secret",
)  # fmt: skip
REGIONS = ("US", "GB", "DE", "FR", "JP", "BR", "IN", "ID", "MX", "TR", "IT", "ES")
YEAR_START = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())
YEAR_SECONDS = 365 * 86400
FIRST_ID = 7_300_000_000_000_000_000


class QueryError(ValueError):
    """A video query the service answers with 400 invalid_params; the message says why."""


def _draw_masks(rng: np.random.Generator, n: int, vocabulary: int, most: int) -> np.ndarray:
    """``n`` bit masks of 1..``most`` items each, item ``i`` drawn with weight 1/(i+1)."""
    weights = 1.0 / np.arange(1, vocabulary + 1)
    weights /= weights.sum()
    masks = np.zeros(n, dtype=np.uint64)
    counts = rng.integers(1, most + 1, size=n)
    for k in range(most):
        picked = rng.choice(vocabulary, size=n, p=weights).astype(np.uint64)
        masks |= np.where(counts > k, np.uint64(1) << picked, np.uint64(0))
    return masks


GENERIC = ("fyp", "foryou", "viral", "trending", "foryoupage")  # used by every niche
GENERIC_RATE = (0.55, 0.35, 0.25, 0.12, 0.10)  # the chance a video carries each
TOPICS = (
    "cooking", "football", "booktok", "skincare", "gaming", "fitness", "travel", "anime",
    "cars", "gardening", "makeup", "science", "history", "fishing", "knitting", "coffee",
    "tennis", "dogs", "cats", "jazz", "kpop", "hiking", "finance", "parenting", "pottery",
    "chess", "surfing", "baking", "yoga", "cycling",
)  # fmt: skip
SUFFIXES = ("", "tok", "tips", "life", "lover", "daily", "community", "hacks")
BURST_DAYS = 7
BURST_RATE = 0.7  # the chance a video of the niche carries its burst tag during the burst


def vocabulary(community: int) -> list[str]:
    """The hashtags of one planted niche, most used first."""
    topic = TOPICS[community % len(TOPICS)]
    if community >= len(TOPICS):
        topic += str(community // len(TOPICS))
    return [topic + suffix for suffix in SUFFIXES]


class VideoTable:
    """The videos of every account of a graph, drawn once from ``seed``.

    Hashtags are index lists (``tag_ptr`` into ``tag_ids``, names in ``tag_names``). With
    ``communities`` (a planted graph), each niche has its own vocabulary beside the generic
    tags every niche uses, and some niches a burst: a week in which a new tag spreads through
    their videos (``truth()`` says which, for the tests that must find them)."""

    def __init__(
        self,
        usernames: list[str],
        seed: int,
        per_user: float = 2.0,
        communities: np.ndarray | None = None,
    ) -> None:
        rng = np.random.default_rng(seed + 31)
        n = len(usernames)
        self.usernames = usernames
        self._index = {name: i for i, name in enumerate(usernames)}
        made = rng.poisson(per_user, size=n)
        self.author = np.repeat(np.arange(n, dtype=np.int64), made)
        m = len(self.author)
        self.time = YEAR_START + rng.integers(0, YEAR_SECONDS, size=m)
        home = rng.integers(0, len(REGIONS), size=n)
        self.region = home[self.author]
        masks = _draw_masks(rng, m, len(HASHTAGS), 3)
        self.words = _draw_masks(rng, m, len(WORDS), 4)
        self.ids = FIRST_ID + np.arange(m, dtype=np.int64) * 7919
        self.likes = rng.integers(0, 50_000, size=m)
        self.region_names: tuple[str, ...] = REGIONS
        self.descriptions: list[str] | None = None  # served as given (--videos FILE)
        self.counts: dict[str, np.ndarray] | None = None  # views, comments, shares as given
        self.communities = communities
        self.bursts: list[dict[str, Any]] = []
        if communities is None:
            self.tag_names = list(HASHTAGS)
            rows, bits = np.nonzero(
                (masks[:, None] >> np.arange(len(HASHTAGS), dtype=np.uint64)) & np.uint64(1)
            )
            self._set_tags(rows, bits)
        else:
            self._plant(np.random.default_rng(seed + 4_099), communities)
        self._tag_index = {t: i for i, t in enumerate(self.tag_names)}

    @classmethod
    def from_file(cls, path: str, usernames: list[str]) -> VideoTable:
        """Exactly the videos of a CSV or Parquet file (``--videos FILE``): columns ``id``,
        ``username``, ``create_time`` (Unix seconds), ``region_code``, ``hashtag_names``
        (``|``-separated), ``video_description``, ``view_count``, ``like_count``,
        ``comment_count``, ``share_count``; accounts not in the graph are served too."""
        table = _read_table(path)
        names = [str(x) for x in table["username"]]
        known = list(usernames)
        index = {name: i for i, name in enumerate(known)}
        for name in names:
            if name not in index:
                index[name] = len(known)
                known.append(name)
        self = cls.__new__(cls)
        self.usernames = known
        self._index = index
        self.author = np.array([index[n] for n in names], dtype=np.int64)
        self.time = np.asarray(table["create_time"], dtype=np.int64)
        regions = [str(r or "") for r in table["region_code"]]
        self.region_names = tuple(sorted(set(regions)))
        at = {r: i for i, r in enumerate(self.region_names)}
        self.region = np.array([at[r] for r in regions], dtype=np.int64)
        self.words = np.zeros(len(names), dtype=np.uint64)
        self.ids = np.asarray(table["id"], dtype=np.int64)
        self.likes = np.asarray(table["like_count"], dtype=np.int64)
        self.counts = {
            k: np.asarray(table[k], dtype=np.int64)
            for k in ("view_count", "comment_count", "share_count")
        }
        self.descriptions = [str(d or "") for d in table["video_description"]]
        self.communities = None
        self.bursts = []
        tags = [[t for t in str(h or "").split("|") if t] for h in table["hashtag_names"]]
        self.tag_names = sorted({t for ts in tags for t in ts})
        self._tag_index = {t: i for i, t in enumerate(self.tag_names)}
        rows = np.array([i for i, ts in enumerate(tags) for _ in ts], dtype=np.int64)
        ids = np.array([self._tag_index[t] for ts in tags for t in ts], dtype=np.int64)
        self._set_tags(rows, ids)
        return self

    def _set_tags(self, rows: np.ndarray, tags: np.ndarray) -> None:
        """Each video's tags from (video, tag) pairs sorted by video."""
        counts = np.bincount(rows, minlength=len(self.author))
        self.tag_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.tag_ids = tags.astype(np.int64)
        self.tag_video = rows.astype(np.int64)

    def _plant(self, rng: np.random.Generator, communities: np.ndarray) -> None:
        """Generic tags, the niche's own (Zipf-like within its vocabulary), a stray tag of
        another niche now and then, and one burst in every third niche."""
        k = int(communities.max()) + 1 if len(communities) else 0
        names = list(GENERIC)
        vocab_start = []
        for c in range(k):
            vocab_start.append(len(names))
            names.extend(vocabulary(c))
        group = communities[self.author]
        m = len(self.author)
        pairs: list[tuple[np.ndarray, np.ndarray]] = []
        for t, rate in enumerate(GENERIC_RATE):
            hit = np.flatnonzero(rng.random(m) < rate)
            pairs.append((hit, np.full(len(hit), t)))
        weights = 1.0 / np.arange(1, len(SUFFIXES) + 1)
        weights /= weights.sum()
        own = rng.integers(1, 4, size=m)
        starts = np.asarray(vocab_start, dtype=np.int64)
        for j in range(3):
            hit = np.flatnonzero(own > j)
            pick = rng.choice(len(SUFFIXES), size=len(hit), p=weights)
            pairs.append((hit, starts[group[hit]] + pick))
        stray = np.flatnonzero(rng.random(m) < 0.05)
        other = rng.integers(0, k, size=len(stray))
        pairs.append((stray, starts[other] + rng.integers(0, len(SUFFIXES), size=len(stray))))
        day = (self.time - YEAR_START) // 86400
        for c in range(0, k, 3):
            tag = f"{vocabulary(c)[0]}challenge"
            first = int(rng.integers(20, 330))
            names.append(tag)
            during = np.flatnonzero((group == c) & (day >= first) & (day < first + BURST_DAYS))
            hit = during[rng.random(len(during)) < BURST_RATE]
            pairs.append((hit, np.full(len(hit), len(names) - 1)))
            start = YEAR_START + first * 86400
            self.bursts.append(
                {"community": c, "hashtag": tag, "start": start, "end": start + BURST_DAYS * 86400}
            )
        rows = np.concatenate([p[0] for p in pairs]).astype(np.int64)
        tags = np.concatenate([p[1] for p in pairs]).astype(np.int64)
        order = np.lexsort((tags, rows))
        rows, tags = rows[order], tags[order]
        keep = np.ones(len(rows), dtype=bool)  # one of each tag per video
        keep[1:] = (rows[1:] != rows[:-1]) | (tags[1:] != tags[:-1])
        self.tag_names = names
        self._set_tags(rows[keep], tags[keep])

    def tags_of(self, i: int) -> list[str]:
        return [self.tag_names[t] for t in self.tag_ids[self.tag_ptr[i] : self.tag_ptr[i + 1]]]

    def truth(self) -> dict[str, Any]:
        """The planted niches (each user's, and each niche's vocabulary) and bursts."""
        if self.communities is None:
            return {"communities": None, "vocabularies": None, "bursts": []}
        k = int(self.communities.max()) + 1 if len(self.communities) else 0
        return {
            "communities": {
                u: int(c) for u, c in zip(self.usernames, self.communities, strict=True)
            },
            "vocabularies": {str(c): vocabulary(c) for c in range(k)},
            "generic": list(GENERIC),
            "bursts": self.bursts,
        }

    def _tagged(self, wanted: list[int]) -> np.ndarray:
        """Videos carrying any of the tags ``wanted`` (by index)."""
        hit = np.isin(self.tag_ids, np.asarray(wanted, dtype=np.int64))
        return np.bincount(self.tag_video[hit], minlength=len(self.author)) > 0

    def __len__(self) -> int:
        return len(self.author)

    # ------------------------------------------------------------------ query
    def search(self, query: Any, start_date: Any, end_date: Any) -> np.ndarray:
        """Indexes of the matching videos, newest first (ties by id)."""
        start, end = _day(start_date, "start_date"), _day(end_date, "end_date")
        if end < start:
            raise QueryError("end_date is before start_date.")
        if (end - start) // 86400 > spec.VIDEO_MAX_DAYS:
            raise QueryError(
                f"The time range between start_date and end_date must be at most "
                f"{spec.VIDEO_MAX_DAYS} days."
            )
        mask = (self.time >= start) & (self.time < end + 86400) & self._clause(query)
        found = np.flatnonzero(mask)
        order = np.lexsort((self.ids[found], -self.time[found]))
        return found[order]

    def _clause(self, query: Any) -> np.ndarray:
        if not isinstance(query, dict) or not set(query) <= {"and", "or", "not"}:
            raise QueryError("query must be an object of and / or / not lists of conditions.")
        mask = np.ones(len(self), dtype=bool)
        for kind, conditions in query.items():
            if not isinstance(conditions, list):
                raise QueryError(f"query.{kind} must be a list of conditions.")
            masks = [self._condition(c) for c in conditions]
            if not masks:
                continue
            if kind == "and":
                mask &= np.logical_and.reduce(masks)
            elif kind == "or":
                mask &= np.logical_or.reduce(masks)
            else:
                mask &= ~np.logical_or.reduce(masks)
        return mask

    def _condition(self, condition: Any) -> np.ndarray:
        if not isinstance(condition, dict):
            raise QueryError("a condition must be an object.")
        field, operation = condition.get("field_name"), condition.get("operation")
        values = condition.get("field_values")
        if field not in spec.QUERY_FIELDS:
            raise QueryError(f"Invalid field_name: {field}")
        if operation not in spec.QUERY_OPERATIONS:
            raise QueryError(f"Invalid operation: {operation}")
        if not isinstance(values, list) or not values:
            raise QueryError("field_values must be a non-empty list.")
        if field == "create_date":
            return self._compare(self.time // 86400 * 86400, operation, _day(values[0], field))
        if field == "video_id":
            return (
                self._compare(self.ids, operation, int(values[0]))
                if operation
                not in (
                    "EQ",
                    "IN",
                )
                else np.isin(self.ids, [int(v) for v in values])
            )
        if operation not in ("EQ", "IN"):
            raise QueryError(f"Operation {operation} is not supported for {field}.")
        texts = [str(v) for v in values]
        if field == "username":
            wanted = [self._index[t] for t in texts if t in self._index]
            return np.isin(self.author, wanted)
        if field == "region_code":
            names = self.region_names
            return np.isin(self.region, [names.index(t) for t in texts if t in names])
        if field == "hashtag_name":
            wanted = {t.lower().lstrip("#") for t in texts}
            return self._tagged([i for i, tag in enumerate(self.tag_names) if tag in wanted])
        # keyword: a substring of a description word or of a hashtag
        lowered = [t.lower() for t in texts]
        tags = [i for i, h in enumerate(self.tag_names) if any(k in h for k in lowered)]
        if self.descriptions is not None:
            said = [any(k in d.lower() for k in lowered) for d in self.descriptions]
            return np.array(said, dtype=bool) | self._tagged(tags)
        words = _bits(WORDS, lambda w: any(k in w for k in lowered))
        return ((self.words & words) != 0) | self._tagged(tags)

    @staticmethod
    def _compare(column: np.ndarray, operation: str, value: int) -> np.ndarray:
        return {
            "EQ": column == value,
            "IN": column == value,
            "GT": column > value,
            "GTE": column >= value,
            "LT": column < value,
            "LTE": column <= value,
        }[operation]

    # ---------------------------------------------------------------- answers
    def video(self, i: int, fields: list[str]) -> dict[str, Any]:
        """One video as the endpoint returns it: only the requested fields."""
        tags = self.tags_of(i)
        words = [WORDS[b] for b in range(len(WORDS)) if int(self.words[i]) >> b & 1]
        likes = int(self.likes[i])
        full = {
            "id": int(self.ids[i]),
            "username": self.usernames[int(self.author[i])],
            "create_time": int(self.time[i]),
            "region_code": self.region_names[int(self.region[i])],
            "hashtag_names": tags,
            "video_description": (
                self.descriptions[i]
                if self.descriptions is not None
                else " ".join(words) + " " + " ".join(f"#{t}" for t in tags)
            ),
            "like_count": likes,
            "view_count": likes * 20 + 17,
            "comment_count": likes // 40,
            "share_count": likes // 90,
        }
        if self.counts is not None:
            full.update({k: int(v[i]) for k, v in self.counts.items()})
        return {f: full[f] if f in full else self._documented(i, f, tags, words) for f in fields}

    def _documented(self, i: int, field: str, tags: list[str], words: list[str]) -> Any:
        """A field the tool does not ask for but the service serves (``spec.
        VIDEO_DOCUMENTED_FIELDS``), drawn from the video's index so that it is stable. The
        shapes of the 2025 additions are guesses (the notes give names only)."""
        author = int(self.author[i])
        if field == "music_id":
            return 7_000_000_000_000_000_000 + (i % 997) * 104_729
        if field == "effect_ids":
            return [str(100_000 + i % 89)] if i % 4 == 0 else []
        if field == "playlist_id":
            return 0 if i % 6 else 7_200_000_000_000_000_000 + author
        if field == "voice_to_text":
            return " ".join(words)
        if field == "video_mention_list":  # a guess: the mentioned usernames
            n = len(self.usernames)
            return [self.usernames[(author + 1 + i % 7) % n]] if i % 5 == 0 and n > 1 else []
        if field == "hashtag_info_list":  # a guess: one object per hashtag
            return [
                {"hashtag_id": self._tag_index[t] + 1, "hashtag_name": t, "hashtag_description": ""}
                for t in tags
            ]
        if field == "sticker_info_list":  # a guess
            return [{"sticker_id": str(i % 31), "sticker_text": words[0]}] if i % 9 == 0 else []
        if field == "video_label":  # a guess: the label shown on the video, mostly none
            return {"content": ""}
        if field == "video_tag":  # a guess: the type of video
            return {"type_number": 1, "type_name": "normal"}
        if field == "favorites_count":
            return int(self.likes[i]) // 15
        raise KeyError(field)


FILE_COLUMNS = (
    "id", "username", "create_time", "region_code", "hashtag_names", "video_description",
    "view_count", "like_count", "comment_count", "share_count",
)  # fmt: skip


def _read_table(path: str) -> dict[str, list[Any]]:
    """The columns of a ``--videos`` file (CSV with a header, or Parquet), checked."""
    import pyarrow as pa

    try:
        if str(path).lower().endswith(".parquet"):
            import pyarrow.parquet as pq

            table = pq.read_table(path)
        else:
            import pyarrow.csv as pcsv

            table = pcsv.read_csv(
                path,
                convert_options=pcsv.ConvertOptions(
                    column_types={
                        "username": pa.string(),
                        "region_code": pa.string(),
                        "hashtag_names": pa.string(),
                        "video_description": pa.string(),
                    }
                ),
            )
    except (OSError, pa.ArrowInvalid) as exc:
        raise QueryError(f"--videos {path}: cannot be read ({exc})") from None
    missing = [c for c in FILE_COLUMNS if c not in table.column_names]
    if missing:
        raise QueryError(f"--videos {path}: lacks the columns {', '.join(missing)}")
    return {c: table.column(c).to_pylist() for c in FILE_COLUMNS}


def search_id(query: Any, start_date: Any, end_date: Any) -> str:
    """The id of one result set: the same query and range give the same id."""
    text = json.dumps([query, start_date, end_date], sort_keys=True)
    return str(int(hashlib.sha256(text.encode()).hexdigest()[:15], 16))


def _bits(vocabulary: tuple[str, ...], chosen: Any) -> np.uint64:
    bits = 0
    for i, item in enumerate(vocabulary):
        if chosen(item):
            bits |= 1 << i
    return np.uint64(bits)


def _day(value: Any, name: str) -> int:
    """Unix seconds of the start of a ``YYYYMMDD`` UTC day."""
    try:
        return int(datetime.strptime(str(value), "%Y%m%d").replace(tzinfo=UTC).timestamp())
    except ValueError:
        raise QueryError(f"{name} must be a date as YYYYMMDD.") from None


class VideoRoutes:
    """Part of ``Emulator`` (``server.py``): ``POST /v2/research/video/query/``."""

    graph: Any
    settings: Any
    log: Any
    _video_table: VideoTable | None = None
    # Pages each (client, search_id) served since its query began (``--search-id-pages``), and
    # those whose first result set expired already: made by ``Emulator.__init__``.
    _search_pages: dict[tuple[Any, str], int]
    _expired: set[tuple[Any, str]]

    @property
    def videos(self) -> VideoTable:
        """The synthetic videos, drawn at the first query (a graph that is never searched
        pays nothing)."""
        if self._video_table is None and self.settings.videos_file:
            self._video_table = VideoTable.from_file(
                self.settings.videos_file, self.graph.usernames
            )
        if self._video_table is None:
            self._video_table = VideoTable(
                self.graph.usernames,
                self.settings.seed,
                self.settings.videos_per_account,
                getattr(self.graph, "communities", None),
            )
        return self._video_table

    async def video_query(self, request: Any) -> Any:
        gated = await self._gate(request, "video")  # type: ignore[attr-defined]
        if not isinstance(gated, tuple):
            return gated
        client, charged, body = gated
        fields = [f.strip() for f in request.query.get("fields", "").split(",") if f.strip()]
        unknown = [f for f in fields if f not in spec.VIDEO_DOCUMENTED_FIELDS]
        if not fields or unknown:
            why = f"Invalid fields: {','.join(unknown)}" if unknown else "fields is required."
            return self._invalid(client, charged, "video", None, why)  # type: ignore[attr-defined]
        max_count = body.get("max_count", spec.DEFAULT_COUNT)
        cursor = body.get("cursor") or 0
        if (
            isinstance(max_count, bool)
            or not isinstance(max_count, int)
            or not (1 <= max_count <= spec.VIDEO_MAX_COUNT)
        ):
            why = f"max_count must be an integer between 1 and {spec.VIDEO_MAX_COUNT}."
            return self._invalid(client, charged, "video", None, why)  # type: ignore[attr-defined]
        if isinstance(cursor, bool) or not isinstance(cursor, int) or cursor < 0:
            return self._invalid(  # type: ignore[attr-defined]
                client, charged, "video", None, spec.INVALID_CURSOR_MESSAGE
            )
        query, start, end = body.get("query"), body.get("start_date"), body.get("end_date")
        wanted = search_id(query, start, end)
        given = body.get("search_id")
        key = (client, wanted)
        served = self._search_pages.get(key, 0)
        lifetime = self.settings.search_id_pages
        # The first result set of a query expires after ``lifetime`` pages (a client saw this
        # mid-paging); the one begun after that lasts, so a restarted window can end.
        expired = lifetime is not None and served >= lifetime and key not in self._expired
        if given not in (None, "") and (str(given) != wanted or expired):
            if expired:
                self._expired.add(key)
            why = spec.SEARCH_ID_INVALID_MESSAGE.format(search_id=given)
            return self._invalid(client, charged, "video", None, why)  # type: ignore[attr-defined]
        self._search_pages[key] = 1 if given in (None, "") else served + 1
        try:
            found = self.live_rows(self.videos.search(query, start, end))  # type: ignore[attr-defined]
        except QueryError as exc:
            return self._invalid(client, charged, "video", None, str(exc))  # type: ignore[attr-defined]
        page = found[cursor : cursor + max_count]
        data = {
            spec.VIDEO_KEY: [self.videos.video(int(i), fields) for i in page],
            "cursor": cursor + len(page),
            "has_more": cursor + len(page) < len(found),
            "search_id": wanted,
        }
        reply = self._envelope(200, "ok", "", data)  # type: ignore[attr-defined]
        return self._log_reply(client, "video", None, cursor, reply, items=len(page))  # type: ignore[attr-defined, no-any-return]
