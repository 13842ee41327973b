"""The follow graph the emulator serves, kept in compact numpy arrays.

A graph of a million users and twenty million edges must load in under a minute and 2 GB, so
nothing here holds a Python object per edge: edges are integer arrays sorted into two CSR
indexes (who a user follows, who follows a user), each list newest first. Every edge has one
follow time, unique across the whole graph by construction, so a cursor walk with the
at-or-before rule returns each edge exactly once unless a quirk asks otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tiktok_network.edgefile import EdgeFileError, bundled_graph, read_label_pairs
from tiktok_network.emulator.names import display_name_for

# Follow times start here (2019-01-01T00:00:00Z) and spread over about five years.
EPOCH_START = 1546300800
TIME_SPAN = 5 * 365 * 86400


class GraphLoadError(Exception):
    """A graph source that cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Adjacency:
    """One direction of the graph in CSR form: ``targets[offsets[u]:offsets[u+1]]``.

    ``ages`` holds follow times as uint32 seconds after ``EPOCH_START`` (half the memory of
    int64), descending within each row: lists are served newest first.
    """

    offsets: np.ndarray  # int64, n + 1
    targets: np.ndarray  # int32, m
    ages: np.ndarray  # uint32, m

    def row(self, node: int) -> tuple[np.ndarray, np.ndarray]:
        """Targets and follow times (unix seconds, int64) of one user's list."""
        start, end = self.offsets[node], self.offsets[node + 1]
        return self.targets[start:end], self.ages[start:end].astype(np.int64) + EPOCH_START

    def degree(self, node: int) -> int:
        return int(self.offsets[node + 1] - self.offsets[node])


class FollowGraph:
    """Users and directed follow edges (``src`` follows ``dst``), with a follow time per edge."""

    def __init__(
        self,
        usernames: list[str],
        src: np.ndarray,
        dst: np.ndarray,
        *,
        seed: int = 0,
        private: np.ndarray | None = None,
        communities: np.ndarray | None = None,
    ) -> None:
        """``communities``: each user's planted group, where the graph has them (``planted:``)."""
        self.usernames = usernames
        self.communities = communities
        self.index = {name: i for i, name in enumerate(usernames)}
        n = len(usernames)
        src_by_rank, dst_by_rank, ages_by_rank = _ranked_edges(src, dst, n, seed)
        del src, dst
        self.following = _adjacency(src_by_rank, dst_by_rank, ages_by_rank, n)
        self.followers = _adjacency(dst_by_rank, src_by_rank, ages_by_rank, n)
        self.private = private if private is not None else np.zeros(n, dtype=bool)
        self._item_cache: list[bytes | None] = [None] * n

    @property
    def n_users(self) -> int:
        return len(self.usernames)

    @property
    def n_edges(self) -> int:
        return len(self.following.targets)

    def user_id(self, username: str) -> int | None:
        return self.index.get(username)

    def item_json(self, node: int) -> bytes:
        """The JSON object of one list entry, built once per user and cached."""
        cached = self._item_cache[node]
        if cached is None:
            import msgspec

            name = self.usernames[node]
            cached = msgspec.json.encode(
                {"display_name": display_name_for(node, name), "username": name}
            )
            self._item_cache[node] = cached
        return cached

    def edge_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Every follow as two int64 arrays of user indexes (follower, followed)."""
        offsets = self.following.offsets
        src = np.repeat(np.arange(self.n_users, dtype=np.int64), np.diff(offsets))
        return src, self.following.targets.astype(np.int64)

    def edges(self) -> Iterable[tuple[str, str]]:
        """Every edge as (follower, followed) usernames; for tests and small graphs."""
        names = self.usernames
        offsets, targets = self.following.offsets, self.following.targets
        for u in range(self.n_users):
            for v in targets[offsets[u] : offsets[u + 1]]:
                yield names[u], names[int(v)]


def _ranked_edges(
    src: np.ndarray, dst: np.ndarray, n: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deduplicated edges placed at a seeded random rank, with the follow time of each rank.

    Self-loops and repeated edges are dropped (a user follows an account once, never itself).
    Rank ``r`` gets a time inside its own slot of ``spacing`` seconds, so times grow with rank,
    no two edges share a second, and every list's cursor walk is exact.
    """
    keys = np.asarray(src, dtype=np.int64) * n
    keys += np.asarray(dst, dtype=np.int64)
    keys = keys[(keys // n) != (keys % n)]
    keys.sort()
    if len(keys):
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    m = len(keys)
    rng = np.random.default_rng(seed + 7919)
    rank = rng.permutation(m)
    src_by_rank = np.empty(m, dtype=np.int32)
    dst_by_rank = np.empty(m, dtype=np.int32)
    src_by_rank[rank] = keys // n
    dst_by_rank[rank] = keys % n
    del keys, rank
    spacing = max(1, TIME_SPAN // max(m, 1))
    ages = np.arange(m, dtype=np.int64) * spacing + rng.integers(0, spacing, size=m)
    return src_by_rank, dst_by_rank, ages.astype(np.uint32)


def _adjacency(
    rows_by_rank: np.ndarray, cols_by_rank: np.ndarray, ages_by_rank: np.ndarray, n: int
) -> Adjacency:
    """Group edges by row, newest first within a row.

    Inputs are indexed by rank and follow times grow with rank, so one in-place sort of
    ``row * m + (m - 1 - rank)`` orders rows and, inside each row, times descending: far
    cheaper in time and memory than a lexsort or an argsort.
    """
    m = len(rows_by_rank)
    keys = rows_by_rank.astype(np.int64)
    keys *= m
    keys += m - 1
    keys -= np.arange(m, dtype=np.int64)
    keys.sort()
    np.remainder(keys, max(m, 1), out=keys)
    np.subtract(m - 1, keys, out=keys)  # the ranks, in serving order
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows_by_rank, minlength=n), out=offsets[1:])
    return Adjacency(offsets, cols_by_rank[keys], ages_by_rank[keys])


def load_edge_list(path: str | Path, *, undirected: bool = False, seed: int = 0) -> FollowGraph:
    """Read a SNAP (``#``, tabs, CRLF) or KONECT (``%``, spaces) edge list.

    Node labels become usernames unchanged. Any line that does not hold two labels stops the
    load with an error naming the file and line, because a silently skipped line is a missing
    edge in every statistic computed later.
    """
    try:
        sources, targets = read_label_pairs(Path(path))
    except EdgeFileError as exc:
        raise GraphLoadError(str(exc)) from None
    index: dict[str, int] = {}
    s = np.fromiter(
        (index.setdefault(x, len(index)) for x in sources), dtype=np.int64, count=len(sources)
    )
    d = np.fromiter(
        (index.setdefault(x, len(index)) for x in targets), dtype=np.int64, count=len(targets)
    )
    names = list(index)
    if undirected:
        s, d = np.concatenate([s, d]), np.concatenate([d, s])
    return FollowGraph(names, s, d, seed=seed)


def parse_graph_spec(spec: str, *, undirected: bool = False, seed: int = 0) -> FollowGraph:
    """``synthetic:N[,seed=S]``, a bundled graph (``wiki-vote``, ``ego-facebook``) or a path."""
    if spec.startswith("planted:"):
        return _planted(spec, seed)
    if spec.startswith("synthetic:"):
        from tiktok_network.emulator.synthetic import synthetic_edges

        parts = spec.split(":", 1)[1].split(",")
        try:
            n = int(parts[0].replace("_", ""))
            options = dict(p.split("=", 1) for p in parts[1:] if p)
            graph_seed = int(options.pop("seed", seed))
        except ValueError as exc:
            raise GraphLoadError(
                f"bad graph spec {spec!r}: expected synthetic:N or synthetic:N,seed=S"
            ) from exc
        if options:
            raise GraphLoadError(f"bad graph spec {spec!r}: unknown option {next(iter(options))!r}")
        if n < 2:
            raise GraphLoadError(f"bad graph spec {spec!r}: needs at least 2 users")
        names, src, dst = synthetic_edges(n, seed=graph_seed)
        return FollowGraph(names, src, dst, seed=graph_seed)
    bundled = bundled_graph(spec)
    if bundled is not None:
        path, pairs_undirected = bundled
        return load_edge_list(path, undirected=undirected or pairs_undirected, seed=seed)
    return load_edge_list(spec, undirected=undirected, seed=seed)


def _planted(spec: str, seed: int) -> FollowGraph:
    """``planted:N[,k=K][,mix=M][,seed=S]``: a degree-corrected block model with K groups."""
    from tiktok_network.emulator.synthetic import planted_edges

    parts = spec.split(":", 1)[1].split(",")
    usage = "expected planted:N[,k=K][,mix=M][,seed=S]"
    try:
        n = int(parts[0].replace("_", ""))
        options = dict(p.split("=", 1) for p in parts[1:] if p)
        graph_seed = int(options.pop("seed", seed))
        k = int(options.pop("k", 20))
        mix = float(options.pop("mix", 0.15))
    except ValueError as exc:
        raise GraphLoadError(f"bad graph spec {spec!r}: {usage}") from exc
    if options:
        raise GraphLoadError(f"bad graph spec {spec!r}: unknown option {next(iter(options))!r}")
    if n < 2 or not 1 <= k <= n or not 0.0 <= mix <= 1.0:
        raise GraphLoadError(f"bad graph spec {spec!r}: {usage}, 1 <= K <= N, 0 <= M <= 1")
    names, src, dst, groups = planted_edges(n, communities=k, mix=mix, seed=graph_seed)
    return FollowGraph(names, src, dst, seed=graph_seed, communities=groups)
