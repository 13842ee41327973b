"""Small pieces tested on their own: limiter (fake clock), usernames, settings layers, quota days."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from tiktok_network.config import ConfigError, load_credentials, resolve
from tiktok_network.quota_day import day_label, day_number, next_reset
from tiktok_network.ratelimit import AsyncLimiter, SlidingWindow
from tiktok_network.usernames import InvalidUsername, normalize_username


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_sliding_window_is_exact():
    clock = FakeClock()
    window = SlidingWindow(3, 1.0, clock)
    assert [window.try_acquire() for _ in range(3)] == [0, 0, 0]
    assert window.try_acquire() == pytest.approx(1.0)
    clock.now += 0.5
    assert window.try_acquire() == pytest.approx(0.5)
    clock.now += 0.5
    assert window.try_acquire() == 0


async def test_async_limiter_never_exceeds_the_limit_in_any_window():
    clock = FakeClock()
    limiter = AsyncLimiter(10, 1.0, clock=clock, sleep=clock.sleep)
    stamps = []

    async def one():
        await limiter.acquire()
        stamps.append(clock.now)

    await asyncio.gather(*(one() for _ in range(55)))
    for t in stamps:
        assert sum(1 for s in stamps if t <= s < t + 1.0) <= 10
    assert stamps[-1] - stamps[0] >= 5.0 - 1e-9


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("alice", "alice"),
        ("@Alice", "alice"),
        ("  bob.b_1 ", "bob.b_1"),
        ("https://www.tiktok.com/@carol?lang=en", "carol"),
        ("tiktok.com/@dave/video/123", "dave"),
        ('"eve"', "eve"),
    ],
)
def test_usernames_are_normalised(raw, name):
    assert normalize_username(raw) == name


@pytest.mark.parametrize(
    "raw", ["a", "x" * 25, "bad name", "café", "https://example.com/@x", "", "@"]
)
def test_invalid_usernames_are_refused(raw):
    with pytest.raises(InvalidUsername):
        normalize_username(raw)


def test_settings_layers_flags_over_env_over_file(tmp_path):
    config = tmp_path / "tiktok-network.toml"
    config.write_text('concurrency = 3\nmax_depth = 4\ndb = "file.db"\n[crawl]\n')
    config.write_text('[crawl]\nconcurrency = 3\nmax-depth = 4\ndb = "file.db"\n')
    env = {"TIKTOK_MAX_DEPTH": "5", "TIKTOK_DB": "env.db"}
    s = resolve({"db": "flag.db"}, env=env, config=str(config))
    assert (s.concurrency, s.max_depth, s.db) == (3, 5, "flag.db")
    with pytest.raises(ConfigError, match="TIKTOK_CONCURRENCY"):
        resolve({}, env={"TIKTOK_CONCURRENCY": "many"}, config=str(config))
    config.write_text("colour = 'blue'\n")
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        resolve({}, env={}, config=str(config))
    config.write_text("client_secret = 'x'\n")
    with pytest.raises(ConfigError, match="do not belong"):
        resolve({}, env={}, config=str(config))
    with pytest.raises(ConfigError, match="not found"):
        resolve({}, env={}, config=str(tmp_path / "absent.toml"))


def test_credentials_from_env_or_file(tmp_path):
    creds, warnings = load_credentials(
        None, env={"TIKTOK_CLIENT_KEY": "k", "TIKTOK_CLIENT_SECRET": "s3cr3t"}
    )
    assert (creds.client_key, creds.client_secret, warnings) == ("k", "s3cr3t", [])
    assert "s3cr3t" not in repr(creds)
    path = tmp_path / "c"
    path.write_text('export TIKTOK_CLIENT_KEY=fk\nclient_secret = "fs"\n')
    path.chmod(0o600)
    creds, warnings = load_credentials(str(path), env={})
    assert (creds.client_key, creds.client_secret, warnings) == ("fk", "fs", [])
    with pytest.raises(ConfigError, match="no credentials"):
        load_credentials(None, env={})


def test_quota_days():
    assert day_number(86400, 86400 * 3 + 5) == 3
    assert next_reset(86400, 86400 * 3 + 5) == 86400 * 4
    assert day_label(20000) == "2024-10-04"
    assert day_label(7, 10.0) == "day-7"


def test_the_repository_stands_alone_without_a_shared_folder_beside_it():
    """A user's clone has no shared/ folder beside it: nothing under src/, tests/, benchmarks/ may reach for it."""
    root = Path(__file__).resolve().parents[1]
    offenders = [
        f"{path.relative_to(root)}:{lineno}"
        for folder in ("src", "tests", "benchmarks")
        for path in (root / folder).rglob("*")
        if path.is_file() and path.suffix in {".py", ".json", ".toml", ".sbatch", ".sh", ".md"}
        for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), start=1)
        if re.search(r"\.\./+shared|parents\[\d\]\s*/\s*[\"']shared", line)
        and "re.search" not in line
    ]
    assert offenders == []


def test_bundled_graphs_load_by_name_and_from_gzip():
    from tiktok_network.emulator.graph import parse_graph_spec

    wiki = parse_graph_spec("wiki-vote")
    assert (wiki.n_users, wiki.n_edges) == (7115, 103689)
    facebook = parse_graph_spec("ego-facebook")  # undirected pairs: each a mutual follow
    assert (facebook.n_users, facebook.n_edges) == (4039, 2 * 88234)


def test_settings_are_declared_once_and_each_command_lists_its_own():
    """Every setting (a field of CrawlSettings) has its parser, help and commands; a command's
    options are exactly the settings it lists, and each setting reaches resolve() as a flag,
    a TIKTOK_* variable and a toml key alike."""
    from dataclasses import fields

    from click.testing import CliRunner

    from tiktok_network.cli import app
    from tiktok_network.config import SETTINGS, CrawlSettings, resolve

    declared = {f.name for f in fields(CrawlSettings)} - {"given"}
    assert {s.name for s in SETTINGS} == declared
    for command in ("crawl", "plan", "refresh", "videos"):
        shown = CliRunner().invoke(app, [command, "--help"], terminal_width=200).output
        for s in SETTINGS:
            flag = "--" + s.name.replace("_", "-")
            listed = f"  {flag} " in shown or f"  {flag}/" in shown
            assert listed == (command in s.metadata["commands"]), (command, flag)
    assert "  --out " not in CliRunner().invoke(app, ["plan", "--help"]).output
    assert "  --since " not in CliRunner().invoke(app, ["crawl", "--help"]).output
    for s in SETTINGS:
        if s.metadata["option"] in ("flag", "flag/no"):
            continue
        value = str(s.default) if s.default is not None else "7"
        if s.name == "older_than":
            value = "3d"
        if s.name in ("since", "until"):
            value = "2025-03-01"
        by_env = resolve({}, env={f"TIKTOK_{s.name.upper()}": value})
        by_flag = resolve({s.name: value}, env={})
        assert getattr(by_env, s.name) == getattr(by_flag, s.name), s.name
        assert s.name in by_env.given and s.name in by_flag.given


def _module_imports() -> dict[str, set[str]]:
    """Every tiktok_network module and the tiktok_network modules it imports (anywhere in it)."""
    import ast

    root = Path(__file__).resolve().parents[1] / "src"
    files = {}
    for path in (root / "tiktok_network").rglob("*.py"):
        name = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
        files[name] = path
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module in files:
                graph[name].add(node.module)
                graph[name].update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                graph[name].update(a.name for a in node.names if a.name in files)
    return {name: {t for t in targets if t in files} for name, targets in graph.items()}


def test_the_layers_hold_no_cycle_nothing_imports_the_cli_and_only_the_store_speaks_sql():
    graph = _module_imports()
    assert not [
        (a, b)
        for a, targets in graph.items()
        for b in targets
        if b.startswith("tiktok_network.cli") and not a.startswith("tiktok_network.cli")
    ]
    seen: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> None:
        seen[node] = 1
        for nxt in graph[node]:
            assert seen.get(nxt) != 1, f"import cycle: {' -> '.join([*path, node, nxt])}"
            if nxt not in seen:
                visit(nxt, [*path, node])
        seen[node] = 2

    for module in graph:
        if module not in seen:
            visit(module, [])
    src = Path(__file__).resolve().parents[1] / "src" / "tiktok_network"
    speaking_sql = sorted(
        str(path.relative_to(src))
        for path in src.rglob("*.py")
        if re.search(r"execute\(|sqlite3", path.read_text()) and path.parent.name != "store"
    )
    assert speaking_sql == []


def test_the_quota_day_is_counted_on_the_engines_clock():
    """The tracker reads the clock it is given (the engine's): a day that ends on that clock
    gives the full budget back and names the next reset on it, whatever the wall clock says."""
    from tiktok_network.config import CrawlSettings
    from tiktok_network.crawl.quota import QuotaTracker

    clock = FakeClock()
    settings = CrawlSettings(day_seconds=100.0, follow_quota=3)
    day = day_number(100.0, clock())
    tracker = QuotaTracker("c", settings, {"following": (3, False)}, day, clock=clock)
    follow = tracker.group("following")
    assert tracker.is_exhausted(follow)
    assert tracker.next_reset() == (day + 1) * 100.0
    clock.now = (day + 1) * 100.0  # the next day, on the tracker's clock
    assert not tracker.is_exhausted(follow) and tracker.day == day + 1
    assert asyncio.run(tracker.acquire("following"))
    assert tracker.follow_used() == 1 and tracker.next_reset() == (day + 2) * 100.0
