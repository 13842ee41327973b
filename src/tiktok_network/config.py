"""Settings: command-line flags > ``TIKTOK_*`` environment variables > ``tiktok-network.toml``.

One table (``FIELDS``) names every setting with its type and default, so the three layers can
never disagree about a name. Credentials are not settings: they come only from the
environment or a credentials file, never from argv (visible to every user of a shared machine
through ``ps``) and never from the shared config file.
"""

from __future__ import annotations

import math
import os
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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


def _optional(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value in (None, "", "none") else parse(value)


@dataclass
class CrawlSettings:
    api_base: str = DEFAULT_API_BASE
    db: str = "tiktok-network.db"
    out: str = "outputs"
    concurrency: int = 8
    qps: float | None = None
    max_depth: int = 1
    max_users: int | None = None
    max_requests: int | None = None
    direction: str = "following"
    on_quota: str = "wait"
    info: bool = False
    drain_timeout: float = 20.0
    log_every: float = 30.0
    quiet: bool = False
    log_file: str | None = None
    follow_quota: int = 20000
    info_quota: int = 1000
    separate_follow_quotas: bool = False
    day_seconds: float = 86400.0
    request_timeout: float = 30.0
    max_retries: int = 5
    retry_base_delay: float = 1.0
    rate_limit_delay: float = 10.0
    credentials: str | None = None
    outage_tolerance: float = 6 * 3600.0
    outage_probe_max: float = 60.0
    quota_ledger: str | None = None  # default: $XDG_STATE_HOME/tiktok-network/quota.db
    lease: float = 60.0  # PostgreSQL: seconds without a heartbeat before claims are taken over
    info_for: str = "expanded"  # user info for the expanded users, or for every user found
    followers_cap: int | None = None  # the API's follower cap if known: such lists are capped
    max_list_items: int | None = None  # stop each list after this many entries (by choice)
    skip_larger_than: int | None = None  # do not expand accounts with larger reported counts
    hidden_following_hint: str = spec.HIDDEN_FOLLOWING_HINT
    follow_records_quota: int = 2_000_000  # records a day the follow lists may return
    info_records_quota: int = 100_000  # records a day of the general endpoints (user info)
    older_than: float = DEFAULT_REFRESH_WINDOW  # data fetched longer ago is re-fetched
    sampler: str = "bfs"  # the sampling design: breadth-first, or one of SAMPLERS
    walkers: int = 10  # walks: independent walkers (their spread gives the intervals)
    sample_seed: int = 0  # the same seed, graph and budget give the same sample
    snowball_k: int = 10  # snowball: at most this many neighbours of a node are followed
    burn_probability: float = 0.7  # forest fire: each further neighbour burns with this chance
    # Which settings were given (flag, TIKTOK_* variable or config file) rather than defaulted:
    # a rerun takes the others from the crawl's stored settings.
    given: frozenset[str] = field(default_factory=frozenset, compare=False, repr=False)

    @property
    def directions(self) -> tuple[str, ...]:
        return ("following", "followers") if self.direction == "both" else (self.direction,)


PARSERS: dict[str, Callable[[Any], Any]] = {
    "api_base": str,
    "db": str,
    "out": str,
    "concurrency": _positive_int,
    "qps": _optional(_positive_float),
    "max_depth": _depth,
    "max_users": _optional(_positive_int),
    "max_requests": _optional(_positive_int),
    "direction": _choice(*DIRECTIONS),
    "on_quota": _choice("wait", "exit"),
    "info": _bool,
    "drain_timeout": _positive_float,
    "log_every": _positive_float,
    "quiet": _bool,
    "log_file": _optional(str),
    "follow_quota": _positive_int,
    "info_quota": _positive_int,
    "separate_follow_quotas": _bool,
    "day_seconds": _positive_float,
    "request_timeout": _positive_float,
    "max_retries": _non_negative_int,
    "retry_base_delay": _positive_float,
    "rate_limit_delay": _positive_float,
    "credentials": _optional(str),
    "outage_tolerance": _positive_float,
    "outage_probe_max": _positive_float,
    "quota_ledger": _optional(str),
    "lease": _positive_float,
    "info_for": _choice("expanded", "all"),
    "followers_cap": _optional(_positive_int),
    "max_list_items": _optional(_positive_int),
    "skip_larger_than": _optional(_non_negative_int),
    "hidden_following_hint": str,
    "follow_records_quota": _positive_int,
    "info_records_quota": _positive_int,
    "older_than": parse_duration,
    "sampler": _choice(*SAMPLERS),
    "walkers": _positive_int,
    "sample_seed": _non_negative_int,
    "snowball_k": _positive_int,
    "burn_probability": _probability,
}
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
