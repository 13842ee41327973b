"""Shared fixtures: graphs (loaded once) and an emulator served on a free loopback port."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import tiktok_network
from tiktok_network.emulator.graph import FollowGraph, load_edge_list, parse_graph_spec
from tiktok_network.emulator.server import RunningEmulator, start_emulator
from tiktok_network.emulator.settings import EmulatorSettings

# The SNAP graphs ship inside the package (data/graphs/README.md): a clone needs nothing else.
GRAPHS = Path(tiktok_network.__file__).parent / "data" / "graphs"
WIKI_VOTE = GRAPHS / "Wiki-Vote.txt.gz"
FACEBOOK = GRAPHS / "facebook_combined.txt.gz"


def graph_text(path: Path) -> str:
    """The decompressed text of a bundled graph file."""
    return gzip.decompress(path.read_bytes()).decode("utf-8")


DEMO_KEY, DEMO_SECRET = "demo-key", "demo-secret"


@pytest.fixture(scope="session")
def wiki_vote() -> FollowGraph:
    return load_edge_list(WIKI_VOTE)


SYNTH = "synthetic:3000,seed=5"  # the crawl tests' ground truth: 3,000 users, ~56 k follows


@pytest.fixture(scope="session")
def synth() -> FollowGraph:
    return parse_graph_spec(SYNTH)


@pytest.fixture(scope="session")
def small_graph() -> FollowGraph:
    return parse_graph_spec("synthetic:3000,seed=5")


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Any]]:
    """Start emulators on free ports for the test; all are stopped afterwards."""
    started: list[RunningEmulator] = []

    async def _start(graph: FollowGraph, **settings: Any) -> RunningEmulator:
        server = await start_emulator(graph, EmulatorSettings(**settings))
        started.append(server)
        return server

    yield _start
    for server in started:
        await server.stop()


class ApiSession:
    """A bare client for poking the emulator in tests (the product's client is tested apart)."""

    def __init__(self, base: str, session: aiohttp.ClientSession) -> None:
        self.base = base
        self.http = session
        self.token = ""

    async def authenticate(self, key: str = DEMO_KEY, secret: str = DEMO_SECRET) -> dict[str, Any]:
        async with self.http.post(
            f"{self.base}/v2/oauth/token/",
            data={"client_key": key, "client_secret": secret, "grant_type": "client_credentials"},
        ) as resp:
            body = await resp.json()
        self.token = body.get("access_token", "")
        return body

    async def post(self, path: str, body: Any, token: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token if token is None else token}"}
        async with self.http.post(f"{self.base}{path}", json=body, headers=headers) as resp:
            raw = await resp.read()
            try:
                import json

                return resp.status, json.loads(raw)
            except ValueError:
                return resp.status, raw

    async def walk(self, endpoint: str, username: str, max_count: int = 100) -> list[str]:
        """Every username of one list, following the cursor chain to the end."""
        out: list[str] = []
        cursor = None
        key = "user_following" if endpoint == "following" else "user_followers"
        for _ in range(100000):
            body: dict[str, Any] = {"username": username, "max_count": max_count}
            if cursor is not None:
                body["cursor"] = cursor
            status, reply = await self.post(f"/v2/research/user/{endpoint}/", body)
            assert status == 200, reply
            data = reply["data"]
            out += [item["username"] for item in data.get(key, [])]
            if not data["has_more"]:
                return out
            assert data["cursor"] != cursor
            cursor = data["cursor"]
        raise AssertionError("cursor walk did not end")

    async def stats(self) -> dict[str, Any]:
        async with self.http.get(f"{self.base}/_emulator/stats") as resp:
            return await resp.json()


@pytest.fixture
async def api() -> AsyncIterator[Callable[[RunningEmulator], ApiSession]]:
    session = aiohttp.ClientSession()

    def _make(server: RunningEmulator) -> ApiSession:
        return ApiSession(server.url, session)

    yield _make
    await session.close()


@pytest.fixture(scope="session")
def pg_cluster():
    """One PostgreSQL server for the session (TIKTOK_TEST_PG, or an embedded one)."""
    from tests.pg_server import PgCluster

    cluster = PgCluster()
    yield cluster
    cluster.close()


@pytest.fixture
def pg_url(pg_cluster) -> str:
    """A fresh, empty database on the session's PostgreSQL."""
    return pg_cluster.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def crawl_db(request, tmp_path):
    """The test runs once on a SQLite file and once on a PostgreSQL database."""
    from tests.crawl_helpers import CrawlDb

    if request.param == "sqlite":
        return CrawlDb(tmp_path)
    return CrawlDb(tmp_path, request.getfixturevalue("pg_cluster").new_database())
