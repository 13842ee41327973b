"""One error decorator for every command, and the one way the CLI says a line.

Every failure a user can cause becomes one line on stderr and an exit status, never a
traceback; lines also go to the --log-file when there is one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from tiktok_network.store import database_errors, display_name

if TYPE_CHECKING:
    pass


class UserError(click.ClickException):
    """An error the user can fix; printed as one line."""

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def one_line_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn every failure a user can cause into one line on stderr and a status, never a
    traceback: the project's own errors, a damaged or unreadable database, unwritable outputs."""
    import functools

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from tiktok_network.config import ConfigError
        from tiktok_network.crawl.run import RunError
        from tiktok_network.export.atomic import OutputNotWritable
        from tiktok_network.export.folders import FolderTaken
        from tiktok_network.store.errors import CrawlInUse, NotACrawlDatabase
        from tiktok_network.store.ledger import LedgerError

        db = kwargs.get("db") or "the database"
        try:
            return command(*args, **kwargs)
        except BrokenPipeError:
            _quiet_exit()  # `status | head`: the reader had enough; not an error
        except (
            ConfigError,
            RunError,
            NotACrawlDatabase,
            CrawlInUse,
            OutputNotWritable,
            FolderTaken,
            LedgerError,
        ) as exc:
            raise UserError(str(exc)) from None
        except database_errors() as exc:
            raise UserError(describe_database_error(display_name(db), exc)) from None

    return wrapper


def _quiet_exit() -> None:
    """Stop writing to a pipe whose reader is gone (its later flushes go nowhere), exit 0."""
    import os
    import sys

    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    sys.exit(0)


def describe_database_error(db: str, exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "malformed" in text or "not a database" in text or "corrupt" in text:
        return (
            f"{db}: the database is damaged ({text}): restore it from a copy (the durable "
            f"--db of a --stage-dir run, or a backup), or salvage what is left with SQLite's .recover command"
        )
    if "readonly" in text or "read-only" in text:
        return f"{db}: the database is read-only ({text}): a crawl must be able to write it"
    return f"{db}: database error ({text})"


def say(message: str, *, quiet: bool = False) -> None:
    """A line on stderr (unless ``quiet``) and in the --log-file; a closed log pipe never turns
    it into a crash (the data is safe)."""
    from tiktok_network.cli.progress import to_log_files

    to_log_files(message)
    if not quiet:
        with contextlib.suppress(OSError):
            click.echo(message, err=True)
