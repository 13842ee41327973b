"""`tiktok-network seeds from-videos`: a seed CSV of the authors of the videos on a topic."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click

from tiktok_network.cli.errors import UserError, one_line_errors, say

EXAMPLES = """\b
Examples:
  tiktok-network seeds from-videos --hashtag booktok --since 2025-03-01 --until 2025-05-31
  tiktok-network seeds from-videos --keyword election --region DE --region AT \\
      --not-hashtag fyp --since 2025-01-01 --until 2025-02-15 --out election-seeds.csv
  tiktok-network seeds from-videos --query '{"or": [...], "not": [...]}' --since ... --until ...
"""


@click.group()
def seeds() -> None:
    """Make seed files for `crawl --seeds` (from a topic rather than known usernames)."""


@seeds.command("from-videos", epilog=EXAMPLES)
@click.option(
    "--hashtag", multiple=True, help="Videos with this hashtag (repeatable: any of them)."
)
@click.option("--keyword", multiple=True, help="Videos whose description holds this keyword.")
@click.option("--region", multiple=True, help="Videos from this region code (US, DE, ...).")
@click.option("--username", multiple=True, help="Videos of this account.")
@click.option("--not-hashtag", multiple=True, help="Leave out videos with this hashtag.")
@click.option("--not-keyword", multiple=True, help="Leave out videos with this keyword.")
@click.option("--not-region", multiple=True, help="Leave out videos from this region.")
@click.option(
    "--match",
    type=click.Choice(["all", "any"]),
    default="all",
    show_default=True,
    help="Whether a video must meet every given condition or any one of them.",
)
@click.option("--query", "raw_query", help="The query object as JSON (instead of the options).")
@click.option("--since", required=True, help="First day of the period (YYYY-MM-DD).")
@click.option("--until", required=True, help="Last day of the period (YYYY-MM-DD, inclusive).")
@click.option("--out", default="seeds.csv", show_default=True, help="The seed CSV to write.")
@click.option(
    "--max-requests",
    type=int,
    default=1000,
    show_default=True,
    help="Calls of the general bucket to spend at most (1,000 a day, shared with user info).",
)
@click.option(
    "--max-records",
    type=int,
    default=100_000,
    show_default=True,
    help="Videos to read at most (100,000 records a day).",
)
@click.option("--api-base", help="Research API base URL (or TIKTOK_API_BASE).")
@click.option("--credentials", type=click.Path(), help="File with the client key and secret.")
@click.option(
    "--quota-ledger",
    type=click.Path(dir_okay=False),
    help="The daily quota ledger shared with crawls. [default: $XDG_STATE_HOME/tiktok-network/quota.db]",
)
@click.option("--info-quota", type=int, help="Calls a day of the general bucket. [default: 1000]")
@click.option("--config", "config_file", type=click.Path(), help="Settings file.")
@one_line_errors
def from_videos(
    hashtag: tuple[str, ...],
    keyword: tuple[str, ...],
    region: tuple[str, ...],
    username: tuple[str, ...],
    not_hashtag: tuple[str, ...],
    not_keyword: tuple[str, ...],
    not_region: tuple[str, ...],
    match: str,
    raw_query: str | None,
    since: str,
    until: str,
    out: str,
    max_requests: int,
    max_records: int,
    config_file: str | None,
    **flags: Any,
) -> None:
    """Write a seed CSV (username, videos, first_video, last_video) of the accounts that posted
    videos matching the conditions between --since and --until; periods longer than the API's
    30 days are split, and every page costs one call of the general bucket."""
    from tiktok_network.config import ConfigError, load_credentials, resolve
    from tiktok_network.crawl.videos import build_query, check_query

    try:
        first, last = date.fromisoformat(since), date.fromisoformat(until)
    except ValueError as exc:
        raise UserError(f"--since/--until: {exc} (expected YYYY-MM-DD)") from None
    if last < first:
        raise UserError(f"--until {until} is before --since {since}")
    today = datetime.now(UTC).date()
    if last > today:
        raise UserError(f"--until {until} is in the future: the videos end today ({today})")
    if raw_query is not None:
        try:
            query = json.loads(raw_query)
        except (ValueError, RecursionError) as exc:
            raise UserError(f"--query is not JSON: {str(exc)[:200]}") from None
        wrong = check_query(query)
        if wrong is not None:
            raise UserError(f"--query: {wrong}")
    else:
        query = build_query(
            hashtags=hashtag,
            keywords=keyword,
            regions=region,
            usernames=username,
            exclude={
                "hashtag_name": not_hashtag,
                "keyword": not_keyword,
                "region_code": not_region,
            },
            match=match,
        )
        if not any(query.values()):
            raise UserError("give at least one condition (--hashtag, --keyword, ...) or --query")
    try:
        settings = resolve(flags, config=config_file)
        credentials, warnings = load_credentials(settings.credentials)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    for warning in warnings:
        say(f"warning: {warning}")
    ledger = _GeneralBucket(settings, credentials)
    left = ledger.left()
    if left <= 0:
        raise UserError(
            f"the general bucket (video query, user info) is used up today: {ledger.used:,} of"
            f" {settings.info_quota:,} calls with these credentials; it resets at 00:00 UTC"
        )
    found = asyncio.run(
        _search(settings, credentials, query, first, last, min(max_requests, left), max_records)
    )
    ledger.spend(found.calls)
    rows = _write(Path(out), found)
    say(
        f"{out}: {rows:,} accounts from {found.records:,} videos; {found.calls:,} calls over"
        f" {found.windows} windows of at most 30 days"
        + (
            f"; stopped early at {found.stopped}: the file holds what was found"
            if found.stopped
            else ""
        )
    )


class _GeneralBucket:
    """Today's use of the general bucket by these credentials, from the machine's quota ledger
    (``--quota-ledger``), which every crawl with them reads: a video search spends calls a
    crawl's user info then does not have."""

    def __init__(self, settings: Any, credentials: Any) -> None:
        from tiktok_network.crawl.quota import client_id
        from tiktok_network.quota_day import day_number
        from tiktok_network.store.ledger import default_ledger_path

        self.path = settings.quota_ledger or str(default_ledger_path())
        self.client = client_id(credentials.client_key, settings.api_base)
        self.day = day_number(settings.day_seconds)
        self.quota = settings.info_quota
        self.used = 0

    def left(self) -> int:
        from tiktok_network.store.ledger import QuotaLedger

        ledger = QuotaLedger(self.path)
        try:
            use = ledger.day_use(self.client, self.day).get("info")
        finally:
            ledger.close()
        self.used = use.used if use is not None else 0
        return self.quota - self.used

    def spend(self, calls: int) -> None:
        from tiktok_network.store.base import QuotaDelta
        from tiktok_network.store.ledger import QuotaLedger

        ledger = QuotaLedger(self.path)
        try:
            ledger.add([QuotaDelta(self.client, self.day, "info", calls)])
        finally:
            ledger.close()


async def _search(settings: Any, credentials: Any, query: Any, first: date, last: date,
                  max_requests: int, max_records: int) -> Any:  # fmt: skip
    from tiktok_network.api.client import ResearchClient, RetryPolicy
    from tiktok_network.crawl.videos import VideoQueryError, authors_of_videos

    async with ResearchClient(
        credentials,
        api_base=settings.api_base,
        timeout=settings.request_timeout,
        retry=RetryPolicy(max_retries=settings.max_retries, base_delay=settings.retry_base_delay),
    ) as client:
        try:
            return await authors_of_videos(
                client, query, first, last, max_calls=max_requests, max_records=max_records
            )
        except VideoQueryError as exc:
            raise UserError(f"the video query was refused: {exc}") from None


def _write(path: Path, found: Any) -> int:
    from tiktok_network.export.csvs import atomic_csv
    from tiktok_network.quota_day import iso_utc

    authors = sorted(found.authors.values(), key=lambda a: (-a.videos, a.username))
    try:
        return atomic_csv(
            path,
            ("username", "videos", "first_video", "last_video"),
            ((a.username, a.videos, iso_utc(a.first), iso_utc(a.last)) for a in authors),
        )
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
