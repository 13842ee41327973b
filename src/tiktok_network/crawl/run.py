"""One way to prepare and run a crawl, shared by every command and the Python API.

A run starts the same whether ``crawl``, ``refresh``, ``plan`` or ``tiktok_network.crawl()``
asks for it: the settings resolved (flags > ``TIKTOK_*`` > toml), the crawl's stored settings
adopted (a rerun continues the crawl as it was run), the credentials loaded. Each step's
failure is a ``RunError`` holding the one line a user reads; nothing here prints (the CLI says
the warnings and changes ``Prepared`` carries, the Python API returns them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tiktok_network.api.auth import Credentials
from tiktok_network.config import (
    ConfigError,
    CrawlSettings,
    adopt_stored,
    load_credentials,
    refresh_conflicts,
    resolve,
)
from tiktok_network.store import stored_settings
from tiktok_network.store.errors import NotACrawlDatabase


class RunError(Exception):
    """A run that cannot start: the message is the one line to show (the CLI exits 1)."""


@dataclass
class Prepared:
    """Settings ready to run, with what the user should be told before the run."""

    settings: CrawlSettings
    credentials: Credentials | None
    warnings: list[str] = field(default_factory=list)  # about the credentials
    changes: list[str] = field(default_factory=list)  # given now, other than the crawl's


def prepare(
    flags: Mapping[str, Any],
    *,
    config: str | None = None,
    credentials: bool = True,
    env: Mapping[str, str] | None = None,
) -> Prepared:
    """Resolve ``flags`` and adopt the crawl's stored settings; load the credentials unless
    ``credentials`` is False (a plan that fetches nothing needs none)."""
    try:
        settings = resolve(flags, env=env, config=config)
        creds, warnings = load_credentials(settings.credentials) if credentials else (None, [])
    except ConfigError as exc:
        raise RunError(str(exc)) from exc
    return Prepared(settings, creds, warnings, adopt_crawl_settings(settings))


def adopt_crawl_settings(settings: CrawlSettings) -> list[str]:
    """The crawl's depth, directions, quotas and design where not given now; returns one line
    per setting given now that differs from the crawl's."""
    try:
        return adopt_stored(settings, stored_settings(settings.db))
    except (NotACrawlDatabase, ConfigError) as exc:
        raise RunError(str(exc)) from exc


def check_sample_budget(settings: CrawlSettings) -> None:
    """A sample is drawn within a budget of calls; a breadth-first limit on users means
    nothing to it."""
    if settings.sampler == "bfs":
        return
    if settings.max_users is not None:
        raise RunError(
            f"--max-users is for breadth-first crawls: a sample's budget is --max-requests N"
            f" (calls over the whole crawl) with --sampler {settings.sampler}"
        )
    if settings.max_requests is None and settings.sampler != "snowball":
        raise RunError(
            f"--sampler {settings.sampler} needs a budget: --max-requests N (calls over the "
            "whole crawl)"
        )


def refuse_other_shape(settings: CrawlSettings) -> None:
    """A refresh re-fetches the crawl as it was made: a depth, direction or sampling design
    other than the crawl's would change the crawl, so it is refused before any work."""
    conflicts = refresh_conflicts(settings, stored_settings(settings.db))
    if conflicts:
        raise RunError(
            "refresh re-fetches the crawl as it was made: "
            + ", ".join(conflicts)
            + " (to change the crawl, run crawl)"
        )


def outputs_after(export: str, exit_code: int, fetched: bool) -> str:
    """What to do with the outputs after a crawl run: ``write``; ``keep`` (the run failed
    before fetching anything, so the outputs there stay as they were); ``later`` (a batch job
    with work left: written when the crawl completes); ``none`` (--no-export).

    ``export`` is always, at-end (a job that must leave in time) or never."""
    if export == "never":
        return "none"
    if exit_code != 0 and not fetched:
        return "keep"
    if export == "always" or exit_code != 75:
        return "write"
    return "later"
