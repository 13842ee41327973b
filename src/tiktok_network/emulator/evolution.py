"""A graph that changes on the emulator's clock: follows added and removed, accounts deleted or
turned private, at set rates per emulated day, seeded, with a log of every change.

The served graph is the loaded one (immutable CSR arrays) plus an overlay: removed edges, added
edges (newest first, follow times after every loaded one) and accounts that left. An account
deleted or turned private disappears from every other account's lists (follower lists show
public accounts only); its own lists and user info answer not found or refused. Day ``d``'s
changes are drawn from ``(seed, d)`` alone, so the same seed gives the same history whatever
the requests in between. The emulator's clock is the quota clock (``--day-seconds``) plus the
days ``POST /_emulator/advance`` added; a test advances it rather than waiting.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from tiktok_network.emulator.graph import FollowGraph
from tiktok_network.quota_day import day_number


@dataclass(frozen=True)
class Rates:
    """Changes per emulated day: shares of the current follows (follow, unfollow) and of the
    visible accounts (delete, private)."""

    follow: float = 0.0
    unfollow: float = 0.0
    delete: float = 0.0
    private: float = 0.0

    @property
    def active(self) -> bool:
        return any((self.follow, self.unfollow, self.delete, self.private))


class Evolution:
    """The overlay of changes on one ``FollowGraph`` and the log that records them."""

    def __init__(self, graph: FollowGraph, rates: Rates, seed: int, day_seconds: float) -> None:
        self.graph = graph
        self.rates = rates
        self.seed = seed
        self.day_seconds = day_seconds
        n = graph.n_users
        self.gone = np.zeros(n, dtype=bool)  # deleted: not found
        self.turned_private = np.zeros(n, dtype=bool)  # private: refused
        self.removed: set[int] = set()  # loaded edges unfollowed, as src * n + dst
        # The same per user, for serving a list without scanning every removal.
        self._removed_of: dict[str, dict[int, set[int]]] = {"following": {}, "followers": {}}
        self.added: dict[str, dict[int, list[tuple[int, int]]]] = {
            "following": {},
            "followers": {},
        }  # per user: (follow time, other), newest first
        self.log: list[dict[str, Any]] = []
        self.days_applied = 0
        self.advanced_days = 0
        self._start_day = day_number(day_seconds)
        self._last_time = 0

    # ------------------------------------------------------------------ clock
    def today(self) -> int:
        """Emulated days since the emulator started (its clock plus the days advanced)."""
        return day_number(self.day_seconds) - self._start_day + self.advanced_days

    def catch_up(self) -> None:
        """Apply every day's changes up to today (a request sees the graph of its day)."""
        while self.days_applied < self.today():
            self.days_applied += 1
            self._step(self.days_applied)

    def advance(self, days: int) -> int:
        self.advanced_days += days
        self.catch_up()
        return self.days_applied

    def _now(self) -> int:
        """A follow time for a change: the emulated time, strictly after every earlier one."""
        now = int(time.time() + self.advanced_days * self.day_seconds)
        self._last_time = max(now, self._last_time + 1)
        return self._last_time

    # ----------------------------------------------------------------- serving
    @property
    def hidden(self) -> np.ndarray:
        return self.gone | self.turned_private

    def served(
        self, endpoint: str, node: int, targets: np.ndarray, times: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """One loaded list (``targets``, ``times``) as it stands today: unfollowed edges and
        accounts that left taken out, new follows first."""
        keep = ~self.hidden[targets] if len(targets) else np.zeros(0, dtype=bool)
        gone = self._removed_of[endpoint].get(node)
        if gone and len(targets):
            keep &= ~np.isin(targets, np.fromiter(gone, dtype=np.int64, count=len(gone)))
        targets, times = targets[keep], times[keep]
        added = [(t, o) for t, o in self.added[endpoint].get(node, []) if not self.hidden[o]]
        if added:
            targets = np.concatenate(
                [np.array([o for _, o in added], dtype=targets.dtype), targets]
            )
            times = np.concatenate([np.array([t for t, _ in added], dtype=np.int64), times])
        return targets, times

    def edges(self) -> set[tuple[int, int]]:
        """Every follow served today, as (follower, followed) user indexes."""
        n = self.graph.n_users
        src, dst = self.graph.edge_arrays()
        hidden = self.hidden
        keep = ~hidden[src] & ~hidden[dst]
        if self.removed:
            removed = np.fromiter(self.removed, dtype=np.int64, count=len(self.removed))
            keep &= ~np.isin(src * n + dst, removed)
        found = set(zip(src[keep].tolist(), dst[keep].tolist(), strict=True))
        for u, row in self.added["following"].items():
            if not hidden[u]:
                found.update((u, v) for _, v in row if not hidden[v])
        return found

    # ----------------------------------------------------------------- changes
    def _step(self, day: int) -> None:
        """One emulated day: deletions, accounts turned private, unfollows, then new follows."""
        rng = np.random.default_rng([self.seed, 7919, day])
        r = self.rates
        for kind, rate in (("deleted", r.delete), ("private", r.private)):
            visible = np.flatnonzero(~self.hidden)
            k = int(round(rate * len(visible)))
            if k:
                for node in sorted(rng.choice(visible, size=k, replace=False).tolist()):
                    self._leave(day, int(node), kind)
        current = sorted(self.edges())
        k = int(round(r.unfollow * len(current)))
        if k:
            for i in sorted(rng.choice(len(current), size=k, replace=False).tolist()):
                self._unfollow(day, *current[i])
        k = int(round(r.follow * len(current)))
        if k:
            self._follow_some(day, rng, k)

    def _leave(self, day: int, node: int, kind: str) -> None:
        """An account deleted or turned private: its follows leave every list with it."""
        g = self.graph
        followed = self.served("following", node, *g.following.row(node))[0]
        followers = self.served("followers", node, *g.followers.row(node))[0]
        edges = [(node, int(v)) for v in followed] + [(int(u), node) for u in followers]
        at = self._now()
        (self.gone if kind == "deleted" else self.turned_private)[node] = True
        self.log.append({"day": day, "time": at, "change": kind, "user": self._name(node)})
        for u, v in sorted(set(edges)):
            self._record(day, at, "lost", u, v, kind)

    def _unfollow(self, day: int, u: int, v: int) -> None:
        row = self.added["following"].get(u, [])
        if any(o == v for _, o in row):  # a follow made during the emulation
            self.added["following"][u] = [(t, o) for t, o in row if o != v]
            back = self.added["followers"].get(v, [])
            self.added["followers"][v] = [(t, o) for t, o in back if o != u]
        else:  # a follow of the loaded graph
            self.removed.add(u * self.graph.n_users + v)
            self._removed_of["following"].setdefault(u, set()).add(v)
            self._removed_of["followers"].setdefault(v, set()).add(u)
        self._record(day, self._now(), "lost", u, v, "unfollow")

    def _follow_some(self, day: int, rng: np.random.Generator, k: int) -> None:
        """``k`` new follows between visible accounts that do not follow each other that way."""
        visible = np.flatnonzero(~self.hidden)
        if len(visible) < 2:
            return
        existing = self.edges()
        made = 0
        for _ in range(20 * k):
            if made == k:
                break
            u, v = (int(x) for x in rng.choice(visible, size=2, replace=False))
            if (u, v) in existing or u * self.graph.n_users + v in self.removed:
                continue  # a follow already, or a loaded one unfollowed (not made again)
            existing.add((u, v))
            at = self._now()
            self.added["following"].setdefault(u, []).insert(0, (at, v))
            self.added["followers"].setdefault(v, []).insert(0, (at, u))
            self._record(day, at, "gained", u, v, "follow")
            made += 1

    def _record(self, day: int, at: int, change: str, u: int, v: int, cause: str) -> None:
        self.log.append(
            {
                "day": day,
                "time": at,
                "change": change,
                "source": self._name(u),
                "destination": self._name(v),
                "cause": cause,
            }
        )

    def _name(self, node: int) -> str:
        return self.graph.usernames[node]

    def degree(self, endpoint: str, node: int) -> int:
        """The length of a list as served today (the profile counts follow it)."""
        adjacency = self.graph.following if endpoint == "following" else self.graph.followers
        targets, times = adjacency.row(node)
        return len(self.served(endpoint, node, targets, times)[0])
