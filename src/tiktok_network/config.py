"""Settings: command-line flags > ``TIKTOK_*`` environment variables > ``tiktok-network.toml``.

Each setting is declared once, as a field of ``CrawlSettings`` with its default, parser, help
and the commands that list it: the three layers, the Python API and the CLI's options are
made from it, so they can never disagree about a name. Credentials are not settings: they come only from the
environment or a credentials file, never from argv (visible to every user of a shared machine
through ``ps``) and never from the shared config file.
"""

from __future__ import annotations

import math
import os
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tiktok_network.api import spec
from tiktok_network.moments import DEFAULT_REFRESH_WINDOW, parse_duration

if TYPE_CHECKING:
    from tiktok_network.api.auth import Credentials

CONFIG_FILE = "tiktok-network.toml"
DEFAULT_API_BASE = "https://open.tiktokapis.com"
DIRECTIONS = ("following", "followers", "both")
# Sampling designs (crawl/samplers.py, docs/sampling.md): whom to visit next.
SAMPLERS = ("bfs", "snowball", "forest-fire", "rw", "rwrw", "mhrw", "nbrw")
# The settings that define a sample: a crawl keeps them for its whole life.
SAMPLE_DESIGN = ("sampler", "walkers", "sample_seed", "snowball_k", "burn_probability")


class ConfigError(ValueError):
    """A setting that cannot be used; the message says which and where it came from."""


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _choice(*options: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if str(value) not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return str(value)

    return parse


def _probability(value: Any) -> float:
    x = float(value)
    if not 0 < x < 1:  # NaN fails this too
        raise ValueError("must be between 0 and 1 (exclusive)")
    return x


# The largest whole number a setting may hold: what a SQLite or PostgreSQL BIGINT column
# stores (settings are stored with every run and reach SQL as parameters).
MAX_INT = 2**62
# A follow graph's diameter is a few dozen steps at most: deeper means "no limit".
MAX_DEPTH = 1000


def _int(value: Any) -> int:
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("must be a whole number")
    n = int(value)
    if n > MAX_INT:
        raise ValueError(f"must be at most {MAX_INT:,}")
    return n


def _positive_int(value: Any) -> int:
    n = _int(value)
    if n < 1:
        raise ValueError("must be at least 1")
    return n


def _non_negative_int(value: Any) -> int:
    n = _int(value)
    if n < 0:
        raise ValueError("must not be negative")
    return n


def _depth(value: Any) -> int:
    n = int(value)
    if n < 0:
        raise ValueError("must not be negative")
    if n > MAX_DEPTH:
        raise ValueError(
            f"must be at most {MAX_DEPTH:,} (no follow graph is that deep: {MAX_DEPTH:,} means"
            " no limit)"
        )
    return n


def _positive_float(value: Any) -> float:
    x = float(value)
    if not math.isfinite(x):
        raise ValueError("must be a finite number")
    if x <= 0:
        raise ValueError("must be positive")
    return x


def _iso_date(value: Any) -> str:
    """A day as YYYY-MM-DD (kept as text: run settings are stored as JSON)."""
    import datetime as dt

    try:
        return dt.date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise ValueError("must be a date as YYYY-MM-DD") from None


def _page_size(value: Any) -> int:
    n = _positive_int(value)
    if n > 100:
        raise ValueError("must be at most 100 (the API's largest page)")
    return n


LAYERS = tuple(spec.VIDEO_LISTS)  # liked, reposted, pinned


def _layers(value: Any) -> str:
    """``liked,reposted,pinned`` or part of it (a list or tuple too), in that order; ``""``."""
    names = value if isinstance(value, list | tuple) else str(value or "").split(",")
    wanted = {str(n).strip().lower() for n in names if str(n).strip()} - {"none"}
    unknown = sorted(wanted - set(LAYERS))
    if unknown:
        raise ValueError(f"{', '.join(unknown)}: the layers are {', '.join(LAYERS)}")
    return ",".join(n for n in LAYERS if n in wanted)


def _optional(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value in (None, "", "none") else parse(value)


# The commands whose options list a setting (TIKTOK_* variables, the toml file and the Python
# API take every setting): a plan forecasts and ends at the quota, a refresh re-fetches the
# crawl as it was made (its shape is the crawl's), so each lists only what applies to it.
CRAWL, PLAN, REFRESH, VIDEOS = "crawl", "plan", "refresh", "videos"
EVERY = frozenset({CRAWL, PLAN, REFRESH, VIDEOS})
SHAPE = frozenset({CRAWL, PLAN})  # what the crawl is: a refresh keeps the crawl's
RUNNING = frozenset({CRAWL, REFRESH, VIDEOS})  # how a long run ends and reports: a plan is short
OUTPUTS = frozenset({CRAWL, REFRESH})  # the runs that write the CSV outputs


def setting(
    default: Any,
    parse: Callable[[Any], Any],
    help: str,
    *,
    option: Any = "value",
    commands: frozenset[str] = EVERY,
) -> Any:
    """A field of ``CrawlSettings`` with all that is said of it, once: its default, the parser
    of its value from a flag, a ``TIKTOK_*`` variable, the toml file or the Python API, its
    help, the option's kind (``"value"``, typed by the default; ``"flag"``; ``"flag/no"``; a
    tuple of choices; ``"path"``) and the commands that list it (``cli/options.py`` makes the
    options from this)."""
    return field(
        default=default,
        metadata={"parse": parse, "help": help, "option": option, "commands": commands},
    )


@dataclass
class CrawlSettings:
    api_base: str = setting(DEFAULT_API_BASE, str, "Research API base URL (or TIKTOK_API_BASE).")
    db: str = setting(
        "tiktok-network.db",
        str,
        "Crawl database: a SQLite file, or postgresql://user@host/dbname shared by workers"
        " (password from the URL, PGPASSWORD or ~/.pgpass).",
    )
    out: str = setting("outputs", str, "Folder for the CSV outputs.", commands=OUTPUTS)
    concurrency: int = setting(8, _positive_int, "Requests in flight.")
    qps: float | None = setting(
        None, _optional(_positive_float), "Client-side limit of requests per second.", option=float
    )
    max_depth: int = setting(
        1, _depth, "Seeds are depth 0; 0 fetches only their lists.", commands=SHAPE
    )
    max_users: int | None = setting(
        None,
        _optional(_positive_int),
        "Stop after this many users' lists were started.",
        option=int,
        commands=SHAPE,
    )
    max_requests: int | None = setting(
        None,
        _optional(_positive_int),
        "Stop this run after this many requests (with --sampler other than bfs: the sample's "
        "budget, counted over the whole crawl).",
        option=int,
    )
    direction: str = setting(
        "following",
        _choice(*DIRECTIONS),
        "Which lists to fetch.",
        option=DIRECTIONS,
        commands=SHAPE,
    )
    on_quota: str = setting(
        "wait",
        _choice("wait", "exit"),
        "When the daily quota is used up: sleep to 00:00 UTC, or exit 75.",
        option=("wait", "exit"),
        commands=RUNNING,
    )
    info: bool = setting(
        False,
        _bool,
        "Also fetch user info (1,000/day bucket).",
        option="flag/no",
        commands=SHAPE,
    )
    drain_timeout: float = setting(
        20.0, _positive_float, "Seconds in-flight requests get on shutdown.", commands=RUNNING
    )
    log_every: float = setting(
        30.0, _positive_float, "Seconds between progress lines off a terminal.", commands=RUNNING
    )
    quiet: bool = setting(False, _bool, "Print only errors.", option="flag")
    log_file: str | None = setting(
        None, _optional(str), "Also append every log line to this file.", option="path"
    )
    follow_quota: int = setting(20000, _positive_int, "Follow calls per day for this client.")
    info_quota: int = setting(1000, _positive_int, "User-info calls per day.")
    separate_follow_quotas: bool = setting(
        False, _bool, "Followers and following have a quota each.", option="flag"
    )
    day_seconds: float = setting(
        86400.0, _positive_float, "Length of a quota day (emulator tests)."
    )
    request_timeout: float = setting(30.0, _positive_float, "Seconds per request.")
    max_retries: int = setting(5, _non_negative_int, "Retries of a transient failure.")
    retry_base_delay: float = setting(1.0, _positive_float, "First backoff delay in seconds.")
    rate_limit_delay: float = setting(
        10.0, _positive_float, "First pause after a 429 rate limit, seconds."
    )
    credentials: str | None = setting(
        None,
        _optional(str),
        "File with TIKTOK_CLIENT_KEY=/TIKTOK_CLIENT_SECRET= lines.",
        option="any-path",
    )
    outage_tolerance: float = setting(
        6 * 3600.0,
        _positive_float,
        "Seconds the whole API may not answer before the crawl stops with work left "
        "(meanwhile it pauses and probes).",
    )
    outage_probe_max: float = setting(
        60.0, _positive_float, "Longest pause between probes of an API that does not answer."
    )
    quota_ledger: str | None = setting(
        None,
        _optional(str),
        "The daily quota ledger shared by every crawl with these credentials. "
        "[default: $XDG_STATE_HOME/tiktok-network/quota.db]",
        option="path",
    )
    lease: float = setting(
        60.0,
        _positive_float,
        "PostgreSQL: seconds without a heartbeat before a worker's users are taken over.",
    )
    info_for: str = setting(
        "expanded",
        _choice("expanded", "all"),
        "User info for the users whose lists are fetched, or for every user found (implies --info).",
        option=("expanded", "all"),
        commands=SHAPE,
    )
    followers_cap: int | None = setting(
        None,
        _optional(_positive_int),
        "The API's follower cap, if known (reported near 4,000-5,000): lists reaching it are"
        " recorded capped. [default: unknown: compare with the profile counts]",
        option=int,
        commands=SHAPE,
    )
    max_list_items: int | None = setting(
        None,
        _optional(_positive_int),
        "Stop each list after N entries (recorded capped_by_choice). [default: no limit]",
        option=int,
        commands=SHAPE,
    )
    skip_larger_than: int | None = setting(
        None,
        _optional(_non_negative_int),
        "Do not expand accounts whose reported count in a crawled direction exceeds N (their "
        "user info is fetched first). [default: no limit]",
        option=int,
        commands=SHAPE,
    )
    hidden_following_hint: str = setting(
        spec.HIDDEN_FOLLOWING_HINT,
        str,
        "Text of the API's error for a following list hidden by its owner (undocumented: the "
        "default is a guess).",
    )
    follow_records_quota: int = setting(
        2_000_000, _positive_int, "Follow-list records a day (plan's forecast)."
    )
    info_records_quota: int = setting(
        100_000, _positive_int, "Records a day of the general endpoints (plan's forecast)."
    )
    older_than: float = setting(
        DEFAULT_REFRESH_WINDOW,
        parse_duration,
        "Re-fetch data fetched longer ago than this (15d, 36h, 0s). [default: 15d]",
        option=str,
        commands=frozenset({REFRESH}),
    )
    sampler: str = setting(
        "bfs",
        _choice(*SAMPLERS),
        "Sampling design: breadth-first, snowball (k neighbours a node), forest fire, random "
        "walk, re-weighted, Metropolis-Hastings or non-backtracking walk (docs/sampling.md).",
        option=SAMPLERS,
        commands=SHAPE,
    )
    walkers: int = setting(
        10,
        _positive_int,
        "Walks: independent walkers, started at seeds drawn with --sample-seed.",
        commands=SHAPE,
    )
    sample_seed: int = setting(
        0,
        _non_negative_int,
        "Random seed of the sampler: the same seed gives the same sample.",
        commands=SHAPE,
    )
    snowball_k: int = setting(
        10, _positive_int, "Snowball: neighbours followed from each node, at most.", commands=SHAPE
    )
    burn_probability: float = setting(
        0.7,
        _probability,
        "Forest fire: the chance that one more neighbour burns.",
        commands=SHAPE,
    )
    since: str | None = setting(
        None,
        _optional(_iso_date),
        "Videos: the first day of the period (YYYY-MM-DD, UTC). [default: 29 days before --until]",
        option=str,
        commands=frozenset({VIDEOS}),
    )
    until: str | None = setting(
        None,
        _optional(_iso_date),
        "Videos: the last day of the period (YYYY-MM-DD, UTC). [default: today]",
        option=str,
        commands=frozenset({VIDEOS}),
    )
    usernames_per_query: int = setting(
        100,
        _positive_int,
        "Videos: accounts in one query's username IN condition (the API's limit is"
        " undocumented; third-party clients send up to 100).",
        commands=frozenset({VIDEOS}),
    )
    layers: str = setting(
        "",
        _layers,
        "Videos of each expanded account's lists too: liked, reposted, pinned (comma-separated;"
        " a list its owner keeps private is recorded as such, not failed). General budget.",
        option=str,
        commands=frozenset({CRAWL, VIDEOS}),
    )
    video_page_size: int = setting(
        100, _page_size, "Videos: videos a page asks for (1-100).", commands=frozenset({VIDEOS})
    )
    # Which settings were given (flag, TIKTOK_* variable or config file) rather than defaulted:
    # a rerun takes the others from the crawl's stored settings.
    given: frozenset[str] = field(default_factory=frozenset, compare=False, repr=False)

    @property
    def layer_lists(self) -> tuple[str, ...]:
        """The lists of videos ``--layers`` names."""
        return tuple(n for n in self.layers.split(",") if n)

    @property
    def directions(self) -> tuple[str, ...]:
        return ("following", "followers") if self.direction == "both" else (self.direction,)


# Every setting's parser (TIKTOK_* variables, the toml file, the Python API), from the fields.
PARSERS: dict[str, Callable[[Any], Any]] = {
    f.name: f.metadata["parse"] for f in fields(CrawlSettings) if "parse" in f.metadata
}
SETTINGS = tuple(f for f in fields(CrawlSettings) if "parse" in f.metadata)
# Settings that shape the crawl itself: stored with every run, taken by a rerun that does not
# give them, and reported when a rerun changes them.
CRAWL_SHAPE = (
    "max_depth",
    "direction",
    "info",
    "follow_quota",
    "info_quota",
    "separate_follow_quotas",
    "day_seconds",
    "info_for",
    "followers_cap",
    "max_list_items",
    "skip_larger_than",
    *SAMPLE_DESIGN,
)


# What a crawl fetched and how it walked: a refresh re-fetches the crawl as it was made, so
# these are the crawl's own there (a refresh that gave another would change the crawl).
REFRESH_KEEPS = (
    "max_depth",
    "direction",
    "info",
    "followers_cap",
    "max_list_items",
    "skip_larger_than",
    *SAMPLE_DESIGN,
)


def refresh_conflicts(settings: CrawlSettings, stored: Mapping[str, Any]) -> list[str]:
    """The settings given to a refresh that differ from the crawl's own (``REFRESH_KEEPS``),
    as ``--flag given (the crawl's: value)``."""
    defaults = CrawlSettings()
    conflicts = []
    for name in REFRESH_KEEPS:
        if name not in settings.given:
            continue
        try:
            before = PARSERS[name](stored[name]) if name in stored else getattr(defaults, name)
        except (TypeError, ValueError):
            continue
        if getattr(settings, name) != before:
            flag = f"--{name.replace('_', '-')}"
            conflicts.append(
                f"{flag} {_show(getattr(settings, name))} (the crawl's: {_show(before)})"
            )
    return conflicts


def adopt_stored(settings: CrawlSettings, stored: Mapping[str, Any]) -> list[str]:
    """Take the crawl-shaping settings not given now from the last run's; return one line per
    setting given now that differs from what the crawl was run with."""
    changes: list[str] = []
    _check_design(settings, stored)
    if stored.get("sampler", "bfs") != "bfs" and "max_requests" not in settings.given:
        # A sample's budget counts the whole crawl's calls: a rerun keeps it.
        settings.max_requests = stored.get("max_requests")  # type: ignore[assignment]
    for name in CRAWL_SHAPE:
        if name not in stored:
            continue
        try:
            before = PARSERS[name](stored[name])
        except (TypeError, ValueError):
            continue
        now = getattr(settings, name)
        if name not in settings.given:
            setattr(settings, name, before)
        elif now != before:
            changes.append(f"--{name.replace('_', '-')} {_show(before)} -> {_show(now)}")
    return changes


def _check_design(settings: CrawlSettings, stored: Mapping[str, Any]) -> None:
    """A sample is drawn with one design for its whole life: mixing two would make its
    estimates meaningless, so a different design given for a sampled crawl is an error."""
    if stored.get("sampler", "bfs") == "bfs":
        return
    for name in SAMPLE_DESIGN:
        if name in settings.given and name in stored and stored[name] != getattr(settings, name):
            raise ConfigError(
                f"this crawl's sample was drawn with --{name.replace('_', '-')} {stored[name]}: "
                "a sample keeps its design (use a new --db for another)"
            )


def _show(value: Any) -> str:
    return (
        str(value).lower()
        if isinstance(value, bool)
        else f"{value:g}"
        if isinstance(value, float)
        else str(value)
    )


def load_config_file(path: str | Path | None) -> tuple[dict[str, Any], str]:
    """The ``[crawl]`` table (or top level) of the TOML file, and its name for messages."""
    explicit = path is not None
    target = Path(path) if path else Path(os.environ.get("TIKTOK_CONFIG", CONFIG_FILE))
    if not target.exists():
        if explicit:
            raise ConfigError(f"{target}: config file not found")
        return {}, str(target)
    try:
        data = tomllib.loads(target.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{target}: cannot read config file ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{target}: {exc}") from None
    table = data.get("crawl", data)
    return {k.replace("-", "_"): v for k, v in table.items() if not isinstance(v, dict)}, str(
        target
    )


def resolve(
    flags: Mapping[str, Any], env: Mapping[str, str] | None = None, config: str | None = None
) -> CrawlSettings:
    """Merge the three layers; flags given as None mean "not given"."""
    env = os.environ if env is None else env
    file_values, file_name = load_config_file(config)
    for key in file_values:
        if key in ("client_key", "client_secret"):
            raise ConfigError(
                f"{file_name}: credentials do not belong in the config file; use TIKTOK_CLIENT_KEY/TIKTOK_CLIENT_SECRET or --credentials FILE"
            )
        if key not in PARSERS:
            raise ConfigError(f"{file_name}: unknown setting {key!r}")
    values: dict[str, Any] = {}
    for name, parse in PARSERS.items():
        env_name = f"TIKTOK_{name.upper()}"
        if flags.get(name) is not None:
            raw, source = flags[name], f"--{name.replace('_', '-')}"
        elif env_name in env:
            raw, source = env[env_name], env_name
        elif name in file_values:
            raw, source = file_values[name], f"{file_name}: {name}"
        else:
            continue
        try:
            values[name] = parse(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bad value {raw!r} for {source}: {exc}") from None
    settings = CrawlSettings(**values, given=frozenset(values))
    if settings.info_for == "all" and "info" not in values:
        settings.info = True  # --info-for all implies --info
    _check_sampler(settings, values)
    if not settings.api_base.startswith(("http://", "https://")):
        raise ConfigError(
            f"bad API base {settings.api_base!r}: expected an http:// or https:// URL"
        )
    return settings


def _check_sampler(settings: CrawlSettings, values: Mapping[str, Any]) -> None:
    """A sampler moves on the undirected neighbourhood, so it fetches both lists of a node."""
    if settings.sampler == "bfs":
        return
    if "direction" in values and settings.direction != "both":
        raise ConfigError(
            f"--sampler {settings.sampler} moves on followings and followers together: "
            "it needs --direction both"
        )
    settings.direction = "both"
    if settings.info_for == "all":
        raise ConfigError(
            f"--info-for all is for breadth-first crawls, not --sampler {settings.sampler}"
        )


def load_credentials(
    path: str | None, env: Mapping[str, str] | None = None
) -> tuple[Credentials, list[str]]:
    """Credentials from ``--credentials FILE`` or the environment, and any warnings.

    The file holds ``TIKTOK_CLIENT_KEY=...`` and ``TIKTOK_CLIENT_SECRET=...`` lines (``client_key``
    and ``client_secret`` work too, quotes optional).
    """
    env = os.environ if env is None else env
    warnings: list[str] = []
    key, secret = env.get("TIKTOK_CLIENT_KEY", ""), env.get("TIKTOK_CLIENT_SECRET", "")
    if path:
        file_path = Path(path)
        try:
            mode = file_path.stat().st_mode
            text = file_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"{path}: cannot read credentials file ({getattr(exc, 'strerror', None) or exc})"
            ) from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            warnings.append(f"{path} is readable by other users: run 'chmod 600 {path}'")
        parsed = _parse_credentials(text)
        missing = [
            f"TIKTOK_{name.upper()}="
            for name in ("client_key", "client_secret")
            if not parsed.get(name)
        ]
        if missing:
            raise ConfigError(
                f"{path}: no {' and no '.join(missing)} line: the file needs the two lines "
                "TIKTOK_CLIENT_KEY=... and TIKTOK_CLIENT_SECRET=..."
            )
        key, secret = parsed["client_key"], parsed["client_secret"]
    if not key or not secret:
        raise ConfigError(
            "no credentials: set TIKTOK_CLIENT_KEY and TIKTOK_CLIENT_SECRET in the environment, "
            "or give --credentials FILE with those two lines"
        )
    from tiktok_network.api.auth import Credentials  # aiohttp: only when a crawl needs it

    return Credentials(key, secret), warnings


def _parse_credentials(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        name = name.strip().lower().removeprefix("export ").strip().removeprefix("tiktok_")
        value = value.strip().strip("'\"")
        if name in ("client_key", "client_secret"):
            out[name] = value
    return out
