"""Every knob of the emulator, with the specification's defaults.

Where ``research-api.md`` marks a behaviour uncertain, it is a setting here with the stated
default, so a test or a user's dry run can reproduce either reading of the documentation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tiktok_network.api import spec

FAULT_KINDS = ("500", "500-empty", "504-html", "truncated", "cursor-400", "reset")

NOT_FOUND_MESSAGE = spec.NOT_FOUND_MESSAGE
REFUSED_MESSAGE = spec.REFUSED_MESSAGE
HIDDEN_FOLLOWING_MESSAGE = spec.HIDDEN_FOLLOWING_MESSAGE


def parse_hidden_response(text: str) -> ErrorTriple | None:
    """``empty`` (an OK page with no entries and has_more false) or ``STATUS:CODE[:MESSAGE]``."""
    if str(text).strip().lower() == "empty":
        return None
    return ErrorTriple.parse(str(text), HIDDEN_FOLLOWING_MESSAGE)


class SettingsError(ValueError):
    """An emulator option that cannot be understood; the message says which and why."""


@dataclass(frozen=True)
class ErrorTriple:
    """How the service answers one kind of inaccessible account."""

    status: int
    code: str
    message: str

    @classmethod
    def parse(cls, text: str, default_message: str) -> ErrorTriple:
        """``STATUS:CODE[:MESSAGE]``, e.g. ``403:forbidden`` (the original crawler's guess)."""
        parts = text.split(":", 2)
        try:
            status = int(parts[0])
        except ValueError as exc:
            raise SettingsError(
                f"bad response triple {text!r}: expected STATUS:CODE[:MESSAGE]"
            ) from exc
        if len(parts) < 2 or not parts[1]:
            raise SettingsError(f"bad response triple {text!r}: expected STATUS:CODE[:MESSAGE]")
        return cls(status, parts[1], parts[2] if len(parts) == 3 else default_message)


def parse_faults(text: str | None) -> dict[str, float]:
    """``500=0.05,reset=0.01`` into per-request probabilities, validated."""
    faults: dict[str, float] = {}
    if not text:
        return faults
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        kind, sep, value = item.partition("=")
        if not sep or kind not in FAULT_KINDS:
            raise SettingsError(
                f"bad fault {item!r}: expected KIND=PROBABILITY with KIND one of {', '.join(FAULT_KINDS)}"
            )
        try:
            p = float(value)
        except ValueError as exc:
            raise SettingsError(f"bad fault probability in {item!r}") from exc
        if not 0 <= p <= 1:
            raise SettingsError(f"bad fault probability in {item!r}: must be between 0 and 1")
        faults[kind] = p
    if sum(faults.values()) > 1:
        raise SettingsError("fault probabilities add up to more than 1")
    return faults


def parse_latency(text: str | None) -> tuple[float, float]:
    """``MEAN[,JITTER]`` in milliseconds into seconds."""
    if not text:
        return 0.0, 0.0
    try:
        parts = [float(p) for p in text.split(",")]
    except ValueError as exc:
        raise SettingsError(f"bad latency {text!r}: expected MEAN[,JITTER] in ms") from exc
    if len(parts) > 2 or any(p < 0 for p in parts):
        raise SettingsError(f"bad latency {text!r}: expected MEAN[,JITTER] in ms, not negative")
    return parts[0] / 1000, (parts[1] if len(parts) == 2 else 0.0) / 1000


def parse_clients(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    clients: dict[str, str] = {}
    for item in items:
        key, sep, secret = item.partition(":")
        if not sep or not key or not secret:
            raise SettingsError(f"bad client {item.split(':')[0]!r}: expected KEY:SECRET")
        clients[key] = secret
    return clients


@dataclass
class EmulatorSettings:
    clients: dict[str, str] = field(default_factory=lambda: {"demo-key": "demo-secret"})
    seed: int = 0
    # tokens
    token_ttl: float = 7200.0
    revoke_every: float | None = None
    oauth_error_status: int = 200
    scope_not_authorized: bool = False
    # accounts it cannot serve
    refused_fraction: float = 0.0
    private_fraction: float = 0.0
    missing: frozenset[str] = frozenset()
    not_found: ErrorTriple = ErrorTriple(400, spec.INVALID_PARAMS, NOT_FOUND_MESSAGE)
    refused: ErrorTriple = ErrorTriple(400, spec.INVALID_PARAMS, REFUSED_MESSAGE)
    # quirks, all off by default
    short_pages: float = 0.0
    omit_empty_list: bool = False
    same_second_repeats: float = 0.0
    followers_cap: int | None = None
    followers_public_only: bool = False
    hidden_following: float = 0.0  # share of accounts that hide whom they follow
    # How a hidden following list is answered: an error triple, or None for an empty OK page.
    # The default is a guess (the answer is undocumented).
    hidden_following_response: ErrorTriple | None = ErrorTriple(
        400, spec.INVALID_PARAMS, HIDDEN_FOLLOWING_MESSAGE
    )
    count_drift: float = 0.0  # profile counts off the lists by up to this share, either way
    # A search_id expires after serving this many pages (clients saw "Search Id ... is invalid
    # or expired" mid-paging: research-api.md 11); a query without one starts afresh.
    search_id_pages: int | None = None
    videos_per_account: float = 2.0  # synthetic videos an account posts in 2025, on average
    videos_file: str | None = None  # serve exactly these videos (CSV or Parquet)
    # liked and reposted lists their owners keep private (research-api.md 3.5: "often")
    layers_unavailable: float = 0.3
    pinned_key: str = "pinned_videos_list"  # or user_pinned_videos: the docs disagree
    compliance_polls: int = 1  # status calls a compliance task answers "processing" to
    hostile_text: float = 0.0  # share of accounts with NULs, lone surrogates, huge counts
    # the graph changing on the emulator's clock (evolution.py): shares per emulated day
    evolve_follow: float = 0.0
    evolve_unfollow: float = 0.0
    evolve_delete: float = 0.0
    evolve_private: float = 0.0
    # quotas
    follow_quota: int = 20000
    info_quota: int = 1000
    separate_follow_quotas: bool = False
    qps: float | None = None
    failed_requests_count: bool = True
    day_seconds: float = 86400.0
    # latency and faults
    latency: tuple[float, float] = (0.0, 0.0)
    faults: dict[str, float] = field(default_factory=dict)
    request_log: str | None = None


# ---------------------------------------------------------------------- options as data
@dataclass(frozen=True)
class Option:
    """One emulator setting as a command-line option: declared once, here. The CLI builds its
    options from this table and ``settings_from_options`` builds the settings, so a new quirk
    is one field above and one line below."""

    field: str  # the EmulatorSettings field it sets
    flag: str  # "--name", or "--on/--off" for a switch pair
    help: str
    kind: str = "text"  # float, int, flag, switch, text, many
    parse: Callable[[Any], Any] | None = None  # CLI value -> setting value
    metavar: str | None = None


def _names(text: str) -> frozenset[str]:
    return frozenset(m.strip() for m in str(text).split(",") if m.strip())


OPTIONS: tuple[Option, ...] = (
    Option("seed", "--seed", "Seed for faults, quirks and account states.", "int"),
    Option(
        "clients",
        "--client",
        "Accepted client credentials (repeatable). Default demo-key:demo-secret.",
        "many",
        parse_clients,
        "KEY:SECRET",
    ),
    Option("token_ttl", "--token-ttl", "Token lifetime in seconds.", "float"),
    Option(
        "revoke_every", "--revoke-every", "Invalidate every live token each N seconds.", "float"
    ),
    Option(
        "oauth_error_status",
        "--oauth-error-status",
        "HTTP status of OAuth error bodies (the service was seen answering 200).",
        "int",
    ),
    Option(
        "scope_not_authorized",
        "--scope-not-authorized",
        "Answer follow endpoints with 401 scope_not_authorized.",
        "flag",
    ),
    Option(
        "refused_fraction",
        "--refused-fraction",
        "Share of accounts the API refuses to return.",
        "float",
    ),
    Option(
        "private_fraction",
        "--private-fraction",
        "Share of private accounts (refused, and hidden by --followers-public-only).",
        "float",
    ),
    Option("missing", "--missing", "Accounts answered as not found.", "text", _names, "USER,..."),
    Option(
        "not_found",
        "--not-found-response",
        "Replace the answer for unknown accounts (default 400:invalid_params).",
        "text",
        lambda text: ErrorTriple.parse(str(text), NOT_FOUND_MESSAGE),
        "STATUS:CODE[:MESSAGE]",
    ),
    Option(
        "refused",
        "--refused-response",
        "Replace the answer for refused accounts (default 400:invalid_params).",
        "text",
        lambda text: ErrorTriple.parse(str(text), REFUSED_MESSAGE),
        "STATUS:CODE[:MESSAGE]",
    ),
    Option(
        "short_pages",
        "--short-pages",
        "Quirk: share of pages shorter than max_count while has_more is true.",
        "float",
    ),
    Option(
        "omit_empty_list",
        "--omit-empty-list",
        "Quirk: drop the list key from empty OK pages.",
        "flag",
    ),
    Option(
        "same_second_repeats",
        "--same-second-repeats",
        "Quirk: share of page boundaries whose last entry repeats on the next page.",
        "float",
    ),
    Option(
        "followers_cap", "--followers-cap", "Quirk: serve at most N followers per account.", "int"
    ),
    Option(
        "followers_public_only",
        "--followers-public-only",
        "Quirk: follower lists hide private accounts.",
        "flag",
    ),
    Option(
        "hidden_following",
        "--hidden-following",
        "Quirk: share of accounts whose following list is hidden (followers still served).",
        "float",
    ),
    Option(
        "hidden_following_response",
        "--hidden-following-response",
        "How a hidden following list is answered: 'empty' (an OK page, has_more false) or"
        " STATUS:CODE[:MESSAGE]; default 400:invalid_params, a guess (undocumented).",
        "text",
        parse_hidden_response,
        "empty|STATUS:CODE[:MESSAGE]",
    ),
    Option(
        "search_id_pages",
        "--search-id-pages",
        "Quirk: a video query's search_id expires after serving N pages (the next page with it"
        " is refused: 'Search Id ... is invalid or expired'); a query without one starts afresh.",
        "int",
    ),
    Option(
        "videos_file",
        "--videos",
        "Serve exactly the videos of this CSV or Parquet file (columns id, username,"
        " create_time in Unix seconds, region_code, hashtag_names '|'-separated,"
        " video_description, view_count, like_count, comment_count, share_count) instead of"
        " synthetic ones.",
        "text",
        None,
        "FILE",
    ),
    Option(
        "layers_unavailable",
        "--layers-unavailable",
        "Share of accounts whose liked and reposted lists are private: answered 400, 'the"
        " user's ... information cannot be returned'.",
        "float",
    ),
    Option(
        "compliance_polls",
        "--compliance-polls",
        "Batch compliance: status calls a task answers 'processing' to before 'completed'.",
        "int",
    ),
    Option(
        "pinned_key",
        "--pinned-key",
        "The key of the pinned videos inside data: pinned_videos_list (the official wrapper's)"
        " or user_pinned_videos (another doc version's).",
    ),
    Option(
        "videos_per_account",
        "--videos-per-account",
        "Synthetic videos each account posts over 2025, on average (Poisson).",
        "float",
    ),
    Option(
        "hostile_text",
        "--hostile-text",
        "Quirk: share of accounts whose text holds NULs and lone surrogates, with a 10 kB bio,"
        " counts above 2^31 and 2^64, and a list entry naming no account (emulator/hostile.py).",
        "float",
    ),
    Option(
        "count_drift",
        "--count-drift",
        "Quirk: profile follower/following counts differ from the lists by up to this share.",
        "float",
    ),
    Option(
        "evolve_follow",
        "--evolve-follow",
        "Evolving graph: new follows per emulated day, as a share of the current follows.",
        "float",
    ),
    Option(
        "evolve_unfollow",
        "--evolve-unfollow",
        "Evolving graph: unfollows per emulated day, as a share of the current follows.",
        "float",
    ),
    Option(
        "evolve_delete",
        "--evolve-delete",
        "Evolving graph: share of visible accounts deleted each emulated day (not found).",
        "float",
    ),
    Option(
        "evolve_private",
        "--evolve-private",
        "Evolving graph: share of visible accounts turned private each emulated day (refused).",
        "float",
    ),
    Option("follow_quota", "--follow-quota", "Follow calls per client per day.", "int"),
    Option("info_quota", "--info-quota", "User-info calls per client per day.", "int"),
    Option(
        "separate_follow_quotas",
        "--separate-follow-quotas",
        "Followers and following get a quota each instead of sharing one.",
        "flag",
    ),
    Option(
        "qps", "--qps", "Short-term limit: requests per second per client (429 beyond).", "float"
    ),
    Option(
        "failed_requests_count",
        "--failed-requests-count/--failed-requests-free",
        "Whether failed requests use quota.",
        "switch",
    ),
    Option(
        "day_seconds",
        "--day-seconds",
        "Length of a quota day in real seconds (tests cross midnight quickly).",
        "float",
    ),
    Option(
        "latency",
        "--latency-ms",
        "Added latency per request.",
        "text",
        parse_latency,
        "MEAN[,JITTER]",
    ),
    Option(
        "faults",
        "--faults",
        "Fault probabilities: 500, 500-empty, 504-html, truncated, cursor-400, reset.",
        "text",
        parse_faults,
        "KIND=P,...",
    ),
    Option(
        "request_log", "--request-log", "Append one JSON line per request.", "text", str, "PATH"
    ),
)


def settings_from_options(values: Mapping[str, Any]) -> EmulatorSettings:
    """The settings for the options given (None, or an empty list, means not given)."""
    given: dict[str, Any] = {}
    for option in OPTIONS:
        value = values.get(option.field)
        if value is None or (option.kind == "many" and not value):
            continue
        given[option.field] = option.parse(value) if option.parse else value
    return EmulatorSettings(**given)
