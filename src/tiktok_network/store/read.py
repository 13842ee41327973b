"""The read model: every query that status, the exports, the analysis and the Python API make.

A ``CrawlReader`` is one read-only transaction on the crawl database, so every file of one
export, and every figure of one analysis, describes the same instant even while a crawl keeps
writing (WAL lets readers and the writer go on together). Rows come in batches, never as one
list in memory, so a crawl of tens of millions of edges exports in constant memory. A second
backend implements the same methods.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from tiktok_network.pseudonyms import Pseudonymizer
    from tiktok_network.store.base import ReadConnection

from tiktok_network.completeness import stored_state
from tiktok_network.store.backends import display_name, open_read_connection
from tiktok_network.store.base import (
    DONE,
    RUN_COMMAND,
    ListCompleteness,
    UserStatus,
    crawl_settings,
)
from tiktok_network.store.sqlite_db import decompress

BATCH = 10_000


@dataclass(frozen=True)
class ListRecord:
    """The completeness record of one list (``docs/completeness.md``)."""

    state: ListCompleteness
    received: int
    reported: int | None
    reason: str | None

    @property
    def ratio(self) -> float | None:
        """Received over reported; None where the count is unknown or zero."""
        return self.received / self.reported if self.reported else None


@dataclass(frozen=True)
class NodeRow:
    user_id: int
    username: str
    display_name: str | None
    depth: int
    status: int | None
    first_seen: float
    info: str | None
    following: ListRecord
    followers: ListRecord
    last_seen: float | None = None  # provenance (None in a crawl made before it was kept)
    first_run: int | None = None
    last_run: int | None = None
    info_at: float | None = None
    purged: bool = False

    @classmethod
    def of(cls, row: tuple[Any, ...]) -> NodeRow:
        uid, name, display, depth, status, first_seen, info, user_state = row[:8]
        reported = {"following": row[8], "followers": row[9]}
        records = {}
        for i, direction in enumerate(("following", "followers")):
            list_state, done, items, note = row[10 + 4 * i : 14 + 4 * i]
            received = int(items or 0)
            records[direction] = ListRecord(
                stored_state(list_state, done, received, reported[direction], user_state, status),
                received,
                reported[direction],
                note,
            )
        last_seen, first_run, last_run, info_at, purged = row[18:23]
        return cls(
            uid,
            name,
            display,
            depth,
            status,
            first_seen,
            info,
            **records,
            last_seen=last_seen,
            first_run=first_run,
            last_run=last_run,
            info_at=info_at,
            purged=bool(purged),
        )


class CrawlReader:
    """A read-only view of a crawl database at one instant, SQLite file or PostgreSQL URL.

    The SQL is written once for both: each backend's read connection (``SqliteReadConnection``,
    ``PgReadConnection``, chosen by ``store.open_read_connection``) runs it in one snapshot,
    scans in batches; PostgreSQL translates the placeholders.
    """

    def __init__(
        self,
        db: str | Path,
        *,
        as_of: float | None = None,
        pseudonyms: Pseudonymizer | None = None,
    ) -> None:
        """``as_of``: the graph as it stood at that moment (edges first seen by then and not
        removed by then); default: as it stands now. ``pseudonyms``: every username that
        leaves the reader is a keyed id, and identifying profile fields are dropped."""
        self.as_of = as_of
        self.pseudonyms = pseudonyms
        self.conn: ReadConnection = open_read_connection(db)
        self.name = display_name(db)
        self._names: list[str | None] | None = None
        self._records: bool | None = None
        self._concat = self.conn.concat
        self._history = self.has_column("edges", "removed_at")
        self.edges_sql = self._edge_view()

    def _edge_view(self) -> str:
        """The edges of the graph at the reader's moment, as a table expression (src, dst,
        page_id, first_seen, last_seen, removed_at). A crawl made before edges carried their
        times (schema 3) has only current edges, first seen when their page was fetched."""
        if not self._history:
            return (
                "(SELECT e.src, e.dst, e.page_id, p.fetched_at AS first_seen,"
                " p.fetched_at AS last_seen, NULL AS removed_at"
                " FROM edges e JOIN pages p ON p.id = e.page_id)"
            )
        if self.as_of is None:
            return (
                "(SELECT src, dst, page_id, first_seen, last_seen, removed_at FROM edges"
                " WHERE removed_at IS NULL)"
            )
        at = repr(float(self.as_of))
        return (
            "(SELECT src, dst, page_id, first_seen, last_seen, removed_at FROM edges"
            f" WHERE first_seen <= {at} AND (removed_at IS NULL OR removed_at > {at})"
            " UNION ALL SELECT src, dst, NULL, first_seen, last_seen, removed_at"
            f" FROM edge_history WHERE first_seen <= {at} AND removed_at > {at})"
        )

    def _pseudonym(self, name: str | None) -> str | None:
        return self.pseudonyms.name(name) if self.pseudonyms is not None else name

    def __enter__(self) -> CrawlReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    def has_table(self, name: str) -> bool:
        return self.conn.has_table(name)

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
        yield from self.conn.stream(sql, params, BATCH)

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        return self.conn.execute(sql, params).fetchone()[0]

    # ----------------------------------------------------------------- users
    def names(self) -> list[str | None]:
        """Usernames indexed by user id (ids are dense), loaded once."""
        if self._names is None:
            names: list[str | None] = [None] * (
                self._one("SELECT coalesce(max(id), 0) FROM users") + 1
            )
            for i, name in self._rows("SELECT id, username FROM users"):
                names[i] = self._pseudonym(name)
            self._names = names
        return self._names

    def has_users(self) -> bool:
        return self.conn.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None

    def parsing_list(self) -> Iterator[tuple[str, int]]:
        """(username, status) of every user with a verdict, in the order they got it."""
        for name, status in self._rows(
            "SELECT username, status FROM users WHERE status IS NOT NULL"
            f" {self._users_at()} ORDER BY finished_at, id"
        ):
            yield self._pseudonym(name) or "", status

    def queue(self) -> Iterator[tuple[str]]:
        for (name,) in self._rows(
            f"SELECT username FROM users WHERE status IS NULL {self._users_at()} ORDER BY depth, id"
        ):
            yield (self._pseudonym(name) or "",)

    def _users_at(self, alias: str = "") -> str:
        """The condition that keeps the users known at the reader's moment."""
        if self.as_of is None:
            return ""
        return f"AND {alias}first_seen <= {float(self.as_of)!r}"

    def has_column(self, table: str, column: str) -> bool:
        return self.conn.has_column(table, column)

    def _has_records(self) -> bool:
        """Whether the crawl keeps completeness records (schema 3); an older one is read as it
        is and its records derived."""
        if self._records is None:
            self._records = self.has_column("users", "following_reported")
        return self._records

    def nodes(self) -> Iterator[NodeRow]:
        """Every user with its completeness record per list, in id order."""
        v3 = self._has_records()
        reported = "u.following_reported, u.followers_reported" if v3 else "NULL, NULL"
        state = "{0}.state" if v3 else "NULL"
        lists = ", ".join(f"{state.format(a)}, {a}.done, {a}.items, {a}.note" for a in ("a", "b"))
        provenance = (
            "u.last_seen, u.first_run, u.last_run, u.info_at,"
            " CASE WHEN u.purged_at IS NULL THEN 0 ELSE 1 END"
            if self._history
            else "u.first_seen, NULL, NULL, u.info_at, 0"
        )
        for row in self._rows(
            "SELECT u.id, u.username, u.display_name, u.depth, u.status, u.first_seen, u.info,"
            f" u.state, {reported}, {lists}, {provenance} FROM users u"
            " LEFT JOIN lists a ON a.user_id = u.id AND a.direction = 'following'"
            " LEFT JOIN lists b ON b.user_id = u.id AND b.direction = 'followers'"
            f" WHERE 1 = 1 {self._users_at('u.')} ORDER BY u.id"
        ):
            node = NodeRow.of(row)
            if self.pseudonyms is not None:
                node = self._pseudonymised(node, self.pseudonyms)
            yield node

    @staticmethod
    def _pseudonymised(node: NodeRow, pseudonyms: Pseudonymizer) -> NodeRow:
        import json
        from dataclasses import replace

        info = json.dumps(pseudonyms.profile(json.loads(node.info))) if node.info else None
        return replace(
            node, username=pseudonyms.name(node.username) or "", display_name=None, info=info
        )

    def known_usernames(self, names: list[str]) -> set[str]:
        known: set[str] = set()
        for start in range(0, len(names), 500):
            chunk = names[start : start + 500]
            marks = ",".join("?" * len(chunk))
            known.update(
                r[0]
                for r in self.conn.execute(
                    f"SELECT username FROM users WHERE username IN ({marks})", tuple(chunk)
                ).fetchall()
            )
        return known

    def users_without_info(self, names: list[str], depth: int) -> int:
        """Of ``names`` and the users at ``depth``: how many have no user info and no verdict."""
        lacking = {
            r[0]
            for r in self._rows(
                "SELECT username FROM users WHERE depth = ? AND info IS NULL AND status IS NULL",
                (depth,),
            )
        }
        known = self.known_usernames(names)
        for start in range(0, len(names), 500):
            chunk = [n for n in names[start : start + 500] if n in known]
            if not chunk:
                continue
            marks = ",".join("?" * len(chunk))
            lacking.update(
                r[0]
                for r in self.conn.execute(
                    f"SELECT username FROM users WHERE username IN ({marks})"
                    " AND info IS NULL AND status IS NULL",
                    tuple(chunk),
                ).fetchall()
            )
        return len(lacking) + sum(1 for n in set(names) if n not in known)

    # A user with no verdict, no user info and no list started: the planner needs only how
    # many there are per depth (most of a large crawl), not a row each.
    _BLANK = (
        "u.status IS NULL AND u.info IS NULL"
        " AND NOT EXISTS (SELECT 1 FROM lists l WHERE l.user_id = u.id)"
    )

    def plan_rows(self) -> Iterator[tuple[Any, ...]]:
        """What the planner needs of every user that is not blank, by depth then id: (depth,
        status, state, has info, following reported, followers reported, then done, items,
        pages of the following and of the followers list)."""
        return self._rows(f"{self._plan_select()} WHERE NOT ({self._BLANK}) ORDER BY u.depth, u.id")

    def _plan_select(self, *, named: bool = False) -> str:
        """The columns of ``plan_rows`` (after the id and username, with ``named``)."""
        v3 = self._has_records()
        reported = "u.following_reported, u.followers_reported" if v3 else "NULL, NULL"
        return (
            f"SELECT {'u.id, u.username, ' if named else ''}u.depth, u.status, u.state,"
            f" u.info IS NOT NULL, {reported}, a.done, a.items, a.pages, b.done, b.items,"
            " b.pages FROM users u"
            " LEFT JOIN lists a ON a.user_id = u.id AND a.direction = 'following'"
            " LEFT JOIN lists b ON b.user_id = u.id AND b.direction = 'followers'"
        )

    def users_at(self, depth: int) -> Iterator[tuple[Any, ...]]:
        """Every user at ``depth``, by username: its id and username, then the columns of
        ``plan_rows`` (a plan's pilot chooses whom to expand from them; ids depend on the
        order pages were committed in, usernames do not)."""
        return self._rows(
            f"{self._plan_select(named=True)} WHERE u.depth = ? ORDER BY u.username", (depth,)
        )

    def meta(self, key: str) -> str | None:
        """One value of the crawl's ``meta`` table (None where it is not set)."""
        if not self.has_table("meta"):
            return None
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def blank_users(self) -> dict[int, int]:
        """Users with nothing known but their depth, counted per depth."""
        return dict(
            self.conn.execute(
                f"SELECT u.depth, count(*) FROM users u WHERE {self._BLANK} GROUP BY u.depth"
            ).fetchall()
        )

    def completeness_counts(self) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
        """Per direction: users by completeness state of that list, and entries received."""
        counts: dict[str, dict[str, int]] = {}
        received: dict[str, int] = {}
        v3 = self._has_records()
        for direction in ("following", "followers"):
            by_state = dict.fromkeys((s.label for s in ListCompleteness), 0)
            reported = f"u.{direction}_reported" if v3 else "NULL"
            state = "l.state" if v3 else "NULL"
            total = 0
            for list_state, done, user_state, status, short, n, items in self._rows(
                f"SELECT {state}, l.done, u.state, u.status,"
                f" CASE WHEN l.items < {reported} THEN 1 ELSE 0 END, count(*),"
                " sum(coalesce(l.items, 0)) FROM users u LEFT JOIN lists l"
                " ON l.user_id = u.id AND l.direction = ? GROUP BY 1, 2, 3, 4, 5",
                (direction,),
            ):
                # The rule needs received < reported only: stand-ins that keep that relation.
                verdict = stored_state(list_state, done, 0, 1 if short else 0, user_state, status)
                by_state[verdict.label] += int(n)
                total += int(items or 0)
            counts[direction], received[direction] = by_state, total
        return counts, received

    def depth_profile(self) -> dict[str, Any]:
        """Users known and crawled per depth: the coverage figures of the analysis report."""
        rows = self.conn.execute(
            "SELECT depth, count(*), sum(CASE WHEN status = ? THEN 1 ELSE 0 END) FROM users"
            " GROUP BY depth",
            (UserStatus.PARSED,),
        ).fetchall()
        return {
            "known": sum(k for _, k, _ in rows),
            "crawled": sum(c or 0 for _, _, c in rows),
            "depth_profile": {str(d): {"known": k, "crawled": c or 0} for d, k, c in rows},
        }

    # ----------------------------------------------------------------- pages
    def page_responses(self) -> Iterator[tuple[int, str]]:
        """(user id, raw response JSON) of every page, in the order they were fetched
        (pseudonymised where the reader is: the list owner's name comes with the page)."""
        pseudonyms = self.pseudonyms
        if pseudonyms is None:
            for user_id, blob in self._rows("SELECT user_id, response FROM pages ORDER BY id"):
                yield user_id, decompress(blob).decode("utf-8")
            return
        for user_id, blob, owner in self._rows(
            "SELECT p.user_id, p.response, u.username FROM pages p"
            " JOIN users u ON u.id = p.user_id ORDER BY p.id"
        ):
            yield user_id, pseudonyms.page(decompress(blob).decode("utf-8"), owner)

    def page_times(self) -> Iterator[tuple[int, float]]:
        return self._rows("SELECT user_id, fetched_at FROM pages ORDER BY id")

    # ----------------------------------------------------------------- edges
    def edge_count(self) -> int:
        return int(self._one(f"SELECT count(*) FROM {self.edges_sql} e"))

    def edge_ids(self) -> Iterator[tuple[int, int]]:
        return self._rows(f"SELECT src, dst FROM {self.edges_sql} e")

    def edges_with_provenance(self) -> Iterator[tuple[int, int, float, str | None, float]]:
        """(src, dst, first seen, found via following or followers list, last seen); found
        via is None where the page that found it was purged with its owner."""
        return self._rows(
            "SELECT e.src, e.dst, e.first_seen, p.direction, e.last_seen"
            f" FROM {self.edges_sql} e LEFT JOIN pages p ON p.id = e.page_id"
        )

    def summary(self) -> tuple[int, int, float]:
        """Users known, edges, edge reciprocity: the demo's closing figures."""
        users = int(self._one("SELECT count(*) FROM users"))
        edges = self.edge_count()
        mutual = int(
            self._one(
                f"SELECT count(*) FROM {self.edges_sql} e WHERE EXISTS"
                f" (SELECT 1 FROM {self.edges_sql} r WHERE r.src = e.dst AND r.dst = e.src)"
            )
        )
        return users, edges, (mutual / edges if edges else 0.0)

    # ------------------------------------------------------------- compliance
    def compliance(self, cutoff: float) -> dict[str, Any]:
        """What a refresh with this cutoff would re-fetch (``status``): profiles and lists
        fetched before it, accounts recorded unavailable to ask again, the calls that takes,
        the oldest fetch of the data held, the round in progress and the purges so far."""
        if not self._history:
            return {}
        parsed, unavailable = UserStatus.PARSED, (UserStatus.REFUSED, UserStatus.NOT_FOUND)
        profiles = int(
            self._one(
                f"SELECT count(*) FROM users WHERE status = {parsed:d} AND purged_at IS NULL"
                " AND coalesce(info_at, 0) < ?",
                (cutoff,),
            )
        )
        recheck = int(
            self._one(
                f"SELECT count(*) FROM users WHERE status IN ({unavailable[0]:d}, {unavailable[1]:d})"
                " AND purged_at IS NULL AND coalesce(finished_at, 0) < ?",
                (cutoff,),
            )
        )
        lists, list_calls = self.conn.execute(
            "SELECT count(*), coalesce(sum(CASE WHEN pages > 1 THEN pages ELSE 1 END), 0)"
            " FROM lists WHERE done = 1 AND coalesce(ended_at, 0) < ?",
            (cutoff,),
        ).fetchone()
        oldest = self.conn.execute(
            "SELECT min(t) FROM (SELECT min(info_at) AS t FROM users WHERE purged_at IS NULL"
            " UNION ALL SELECT min(started_at) FROM lists WHERE done = 1) x"
        ).fetchone()[0]
        return {
            "profiles": profiles,
            "recheck": recheck,
            "lists": int(lists or 0),
            "info_calls": profiles + recheck,
            "follow_calls": int(list_calls or 0),
            "oldest": oldest,
            "in_round": int(self._one("SELECT count(*) FROM users WHERE refresh_due IS NOT NULL")),
            "purged": int(self._one("SELECT count(*) FROM users WHERE purged_at IS NOT NULL")),
        }

    # ---------------------------------------------------------------- history
    def crawl_identity(self) -> str | None:
        """What tells this crawl from every other (the moment its database was made; a
        ``db copy`` is a database of its own): output folders are kept to one crawl by it."""
        if not self.has_table("meta"):
            return None
        row = self.conn.execute("SELECT value FROM meta WHERE key='created_at'").fetchone()
        return None if row is None else str(row[0])

    def outputs(self) -> list[tuple[str, str, dict[str, Any]]]:
        """The output folders the tool wrote from this crawl: (path, kind, options)."""
        import json

        if not self.has_table("outputs"):
            return []
        return [
            (path, kind, json.loads(options))
            for path, kind, options in self.conn.execute(
                "SELECT path, kind, options FROM outputs ORDER BY path"
            ).fetchall()
        ]

    def purges(self) -> int:
        """How many accounts were purged so far (an export that saw fewer writes again)."""
        if not self.has_table("audit"):
            return 0
        return self._one("SELECT count(*) FROM audit")

    def audit(self) -> list[tuple[float, int | None, str, str, dict[str, int]]]:
        """Every purge: (when, run, tombstone id, reason, what kind of data and how much)."""
        import json

        if not self.has_table("audit"):
            return []
        return [
            (at, run, tombstone, reason, json.loads(removed))
            for at, run, tombstone, reason, removed in self.conn.execute(
                "SELECT at, run_id, tombstone, reason, removed FROM audit ORDER BY id"
            ).fetchall()
        ]

    def provenance(self) -> dict[str, Any]:
        """How the data was collected, for ``datapackage.json`` and the methods paragraph:
        every run (times, exit, tool version, API base, command, settings, pages per list
        endpoint), the quota used per bucket, the purges by reason, the profiles fetched, the
        window the follows were seen in, and the seeds' count and SHA-256 of their sorted
        usernames (as held: seeds of every run; a purged seed counts as its tombstone). Settings hold no secret (the engine stores the
        credentials' hash only)."""
        import json

        pages: dict[int, dict[str, int]] = {}
        for run_id, direction, count in self._rows(
            "SELECT run_id, direction, count(*) FROM pages GROUP BY run_id, direction"
        ):
            pages.setdefault(run_id, {})[direction] = int(count)
        runs = []
        for run_id, started, ended, version, api_base, settings, status in self._rows(
            "SELECT id, started_at, ended_at, tool_version, api_base, settings, exit_status"
            " FROM runs ORDER BY id"
        ):
            stored = json.loads(settings) if settings else {}
            runs.append(
                {
                    "id": run_id,
                    "started_at": started,
                    "ended_at": ended,
                    "exit_status": status,
                    "tool_version": version,
                    "api_base": api_base,
                    "command": stored.get(RUN_COMMAND, "crawl"),
                    "settings": stored,
                    "pages": pages.get(run_id, {}),
                }
            )
        quota = {
            bucket: {"days": int(days), "calls": int(used or 0)}
            for bucket, days, used in self._rows(
                "SELECT bucket, count(DISTINCT day), sum(used) FROM quota GROUP BY bucket"
            )
        }
        purges: dict[str, int] = {}
        if self.has_table("audit"):
            for reason, count in self._rows("SELECT reason, count(*) FROM audit GROUP BY reason"):
                purges[str(reason)] = int(count)
        first, last = self.conn.execute(
            f"SELECT min(first_seen), max(last_seen) FROM {self.edges_sql} e"
        ).fetchone()
        profiles = self._one("SELECT count(*) FROM users WHERE info_at IS NOT NULL")
        seeds = sorted(
            name for (name,) in self._rows("SELECT username FROM users WHERE is_seed = 1")
        )
        return {
            "seeds": {
                "count": len(seeds),
                "sha256": hashlib.sha256("\n".join(seeds).encode()).hexdigest(),
            }
            if seeds
            else None,
            "runs": runs,
            "quota": quota,
            "purges": purges,
            "profiles_fetched": int(profiles),
            "follows_seen": {"first": first, "last": last},
        }

    def changes(self, since: float, until: float) -> Iterator[tuple[int, int, str, float]]:
        """(src, dst, "gained" or "lost", when observed) for every follow present at ``until``
        and not at ``since`` (gained, at its first sighting) or the reverse (lost, when it was
        found gone): the net change between the two moments, in time order."""
        if not self._history:
            return iter(())
        a, b = repr(float(since)), repr(float(until))
        intervals = (
            "(SELECT src, dst, first_seen, removed_at FROM edges"
            " UNION ALL SELECT src, dst, first_seen, removed_at FROM edge_history)"
        )
        at = "first_seen <= {t} AND (removed_at IS NULL OR removed_at > {t})"
        return self._rows(
            f"SELECT src, dst, 'gained', first_seen FROM {intervals} i WHERE {at.format(t=b)}"
            f" AND NOT EXISTS (SELECT 1 FROM {intervals} j WHERE j.src = i.src AND j.dst = i.dst"
            f" AND {at.format(t=a)})"
            f" UNION ALL SELECT src, dst, 'lost', max(removed_at) FROM {intervals} i"
            f" WHERE {at.format(t=a)} AND NOT EXISTS (SELECT 1 FROM {intervals} j"
            f" WHERE j.src = i.src AND j.dst = i.dst AND {at.format(t=b)}) GROUP BY src, dst"
            " ORDER BY 4, 1, 2"
        )

    # ------------------------------------------------------------- a sample
    def has_videos(self) -> bool:
        """Whether the crawl holds any video (``tiktok-network videos``)."""
        return (
            self.has_table("videos")
            and self.conn.execute("SELECT 1 FROM videos LIMIT 1").fetchone() is not None
        )

    def videos(self) -> Iterator[tuple[int, str, int | None, str | None, list[str]]]:
        """(video id, author's username, create time, region, hashtags) of every video an
        account of the crawl posted (as the video query found it: a video another account
        liked is not its author's post of the period), by id; names pass the reader's
        pseudonyms like every other."""
        if not self.has_table("videos"):
            return
        for vid, name, created, region, tags in self._rows(
            "SELECT v.id, u.username, v.create_time, v.region_code, v.hashtags FROM videos v"
            f" JOIN users u ON u.id = v.author_id WHERE u.purged_at IS NULL{self._posted()}"
            " ORDER BY v.id"
        ):
            yield (
                int(vid),
                self._pseudonym(name) or "",
                created,
                region,
                ([t for t in tags.split("|") if t] if tags else []),
            )

    def _posted(self) -> str:
        """The condition that keeps the videos the query found posted (schema 8 on: before it,
        every video stored was)."""
        if not self._lists_kept():
            return ""
        return (
            " AND EXISTS (SELECT 1 FROM video_edges e WHERE e.video_id = v.id"
            " AND e.user_id = v.author_id AND e.relation = 'posted')"
        )

    def _alive(self, alias: str) -> str:
        """The condition that keeps accounts not purged (an older layout has no purges)."""
        return f"{alias}purged_at IS NULL" if self.has_column("users", "purged_at") else "1 = 1"

    def video_count(self) -> int:
        return int(self._one("SELECT count(*) FROM videos")) if self.has_table("videos") else 0

    def _lists_kept(self) -> bool:
        """Whether the crawl's schema keeps lists of videos (version 8: units by relation,
        videos with their author's name and mentions)."""
        return self.has_table("video_units") and self.has_column("video_units", "relation")

    def video_units(self) -> list[tuple[str, str, int, int, int, int]]:
        """Every unit of the video query (not the lists of ``--layers``): start and end date,
        done, pages, videos, and its accounts (not purged)."""
        if not self.has_table("video_units"):
            return []
        posted = " WHERE u.relation = 'posted'" if self._lists_kept() else ""
        return [
            (a, b, int(done), int(pages), int(videos), int(members))
            for a, b, done, pages, videos, members in self._rows(
                "SELECT u.start_date, u.end_date, u.done, u.pages, u.videos, (SELECT count(*)"
                " FROM video_unit_members m JOIN users x ON x.id = m.user_id"
                f" WHERE m.unit_id = u.id AND {self._alive('x.')}) FROM video_units u{posted}"
                " ORDER BY u.id"
            )
        ]

    def video_lists(self) -> dict[str, dict[str, int]]:
        """The lists of videos (``--layers``) by name: how many ended in each state
        (complete, hidden, unavailable, error), are ``open``, and the ``pages`` and ``videos``
        they took."""
        if not self._lists_kept():
            return {}
        found: dict[str, dict[str, int]] = {}
        for relation, state, done, n, pages, videos in self._rows(
            "SELECT relation, state, done, count(*), coalesce(sum(pages), 0),"
            " coalesce(sum(videos), 0) FROM video_units WHERE relation <> 'posted'"
            " GROUP BY relation, state, done ORDER BY relation"
        ):
            counts = found.setdefault(relation, {"open": 0, "pages": 0, "videos": 0})
            key = "open" if not done else (state or "complete")
            counts[key] = counts.get(key, 0) + int(n)
            counts["pages"] += int(pages)
            counts["videos"] += int(videos)
        return found

    def accounts_without_list(self, layer: str) -> int:
        """Expanded accounts (not purged) whose list ``layer`` no unit covers yet."""
        covered = (
            " AND id NOT IN (SELECT m.user_id FROM video_unit_members m JOIN video_units u"
            " ON u.id = m.unit_id WHERE u.relation = ?)"
            if self._lists_kept()
            else ""
        )
        return int(
            self._one(
                f"SELECT count(*) FROM users WHERE state = {DONE:d} AND status = {UserStatus.PARSED:d}"
                f" AND {self._alive('')}{covered}",
                (layer,) if covered else (),
            )
        )

    def accounts_without_unit(self, start: str, end: str) -> int:
        """Expanded accounts (not purged) that no unit of this window covers yet: what a
        collection of the window would plan."""
        covered = (
            " AND id NOT IN (SELECT m.user_id FROM video_unit_members m JOIN video_units u"
            " ON u.id = m.unit_id WHERE u.start_date = ? AND u.end_date = ?)"
            if self.has_table("video_units")
            else ""
        )
        params = (start, end) if covered else ()
        return int(
            self._one(
                f"SELECT count(*) FROM users WHERE state = {DONE:d} AND status = {UserStatus.PARSED:d}"
                f" AND {self._alive('')}{covered}",
                params,
            )
        )

    def video_rows(self, *, posted_only: bool = False) -> Iterator[tuple[Any, ...]]:
        """Every video as exported: id, author, create time, region, hashtags (``|``-joined),
        description, view, like, comment and share counts, first and last seen, and the
        accounts it mentions (``|``-joined). The author is an account of the crawl, or (a
        liked, reposted or pinned video's) the name the service gave; ``posted_only``: the
        videos of the crawl's accounts alone (what the account--hashtag network is made of)."""
        if not self.has_table("videos"):
            return
        v8 = self.has_column("videos", "author")
        author = "coalesce(u.username, v.author)" if v8 else "u.username"
        mentions = "v.mentions" if v8 else "NULL"
        for row in self._rows(
            f"SELECT v.id, {author}, v.create_time, v.region_code, v.hashtags, v.description,"
            " v.view_count, v.like_count, v.comment_count, v.share_count, v.first_seen,"
            f" v.last_seen, {mentions} FROM videos v {'' if posted_only else 'LEFT '}JOIN users u"
            " ON u.id = v.author_id WHERE (u.id IS NULL OR u.purged_at IS NULL)"
            f"{self._posted() if posted_only else ''} ORDER BY v.id"
        ):
            named = "|".join(self._pseudonym(m) or "" for m in str(row[12] or "").split("|") if m)
            yield (row[0], self._pseudonym(row[1]) or "", *row[2:12], named)

    def video_edges(self) -> Iterator[tuple[str, int, str, float, float]]:
        """Account -> video edges: username, video id, relation (posted, ...), first and last
        seen."""
        if not self.has_table("video_edges"):
            return
        for name, vid, relation, first, last in self._rows(
            "SELECT u.username, e.video_id, e.relation, e.first_seen, e.last_seen"
            " FROM video_edges e JOIN users u ON u.id = e.user_id WHERE u.purged_at IS NULL"
            " ORDER BY e.user_id, e.video_id, e.relation"
        ):
            yield self._pseudonym(name) or "", int(vid), relation, first, last

    def sample_steps(self) -> dict[int, list[int]]:
        """A sampled crawl's chains (``store/sampling.py``): user ids in step order."""
        if not self.has_table("sample_steps"):
            return {}
        from tiktok_network.store.sampling import steps

        return steps(lambda sql, params: self.conn.execute(sql, params))

    def sample_calls_spent(self) -> int:
        """Calls a sampled crawl turned into data so far (what its budget counts)."""
        from tiktok_network.store.sampling import calls_spent

        return calls_spent(lambda sql, params: self.conn.execute(sql, params))

    def last_settings(self) -> dict[str, Any]:
        """The settings of the crawl's last crawl run (its sampling design among them), not of
        a refresh or a plan."""
        return crawl_settings(self.conn.execute("SELECT settings FROM runs ORDER BY id DESC"))

    def degree_table(self) -> dict[int, tuple[int, int, int]]:
        """For every expanded (parsed) user: accounts it follows, accounts following it and
        accounts it follows that follow it back, in the current edges."""
        e = self.edges_sql
        rows = self._rows(
            "SELECT u.id, coalesce(o.n, 0), coalesce(i.n, 0), coalesce(m.n, 0) FROM users u"
            f" LEFT JOIN (SELECT src AS id, count(*) AS n FROM {e} e GROUP BY src) o ON o.id = u.id"
            f" LEFT JOIN (SELECT dst AS id, count(*) AS n FROM {e} e GROUP BY dst) i ON i.id = u.id"
            f" LEFT JOIN (SELECT a.src AS id, count(*) AS n FROM {e} a JOIN {e} b"
            " ON b.src = a.dst AND b.dst = a.src GROUP BY a.src) m ON m.id = u.id"
            f" WHERE u.status = {int(UserStatus.PARSED)}"
        )
        return {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in rows}

    def neighbourhoods(self, ids: list[int]) -> dict[int, tuple[set[int], set[int], bool]]:
        """For each user: whom it follows, who follows it (current edges), and whether its
        lists were served (parsed)."""
        found: dict[int, tuple[set[int], set[int], bool]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            places = ",".join("?" * len(chunk))
            for user_id, status in self._rows(
                f"SELECT id, status FROM users WHERE id IN ({places})", tuple(chunk)
            ):
                found[user_id] = (set(), set(), status == UserStatus.PARSED)
            for src, dst in self._rows(
                f"SELECT src, dst FROM {self.edges_sql} e WHERE src IN ({places})", tuple(chunk)
            ):
                found[src][0].add(dst)
            for src, dst in self._rows(
                f"SELECT src, dst FROM {self.edges_sql} e WHERE dst IN ({places})", tuple(chunk)
            ):
                found[dst][1].add(src)
        return found

    def edge_array(self) -> np.ndarray:
        """The (m, 2) edge array of user ids, filled a batch at a time: never a list of m
        tuples."""
        import numpy as np  # only the analysis and the share need it: not every start-up

        edges = np.empty((self.edge_count(), 2), dtype=np.int64)
        filled = 0
        batch: list[tuple[int, int]] = []
        for row in self.edge_ids():
            batch.append(row)
            if len(batch) == BATCH:
                edges[filled : filled + BATCH] = batch
                filled += BATCH
                batch = []
        if batch:
            edges[filled : filled + len(batch)] = batch
            filled += len(batch)
        return edges[:filled]

    def graph_arrays(self) -> tuple[list[str], np.ndarray, np.ndarray, str]:
        """Names by id, a mask of parsed users, the (m, 2) edge array and a content digest."""
        import numpy as np  # only the analysis needs it: not every command's start-up

        top = self._one("SELECT coalesce(max(id), 0) FROM users")
        names = [""] * (top + 1)
        parsed = np.zeros(top + 1, dtype=bool)
        for user_id, username, status in self._rows("SELECT id, username, status FROM users"):
            names[user_id] = username
            parsed[user_id] = status == UserStatus.PARSED
        edges = self.edge_array()
        last_page = self._one("SELECT max(id) FROM pages")
        digest = hashlib.sha256(f"{self.name}:{len(edges)}:{last_page}".encode()).hexdigest()
        return names, parsed, edges, digest
