"""The options of the commands that crawl, made from the settings (``config.CrawlSettings``,
where each is declared once with its default, parser, help and commands)."""

from __future__ import annotations

from typing import Any

import click

from tiktok_network.cli.errors import UserError
from tiktok_network.config import SETTINGS, CrawlSettings

REFUSED_SECRET_FLAGS = (
    "--client-key",
    "--client-secret",
    "--key",
    "--secret",
    "--token",
    "--access-token",
)
CREDENTIALS_HELP = (
    "credentials are never accepted as arguments (every user of the machine can read them with ps): "
    "set TIKTOK_CLIENT_KEY and TIKTOK_CLIENT_SECRET in the environment, or use --credentials FILE"
)


def _refuse_secret(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None:
        raise UserError(CREDENTIALS_HELP)


DEFAULTS = CrawlSettings()


def _help(setting: Any) -> str:
    text = setting.metadata["help"]
    value = getattr(DEFAULTS, setting.name, None)
    if value is None or isinstance(value, bool) or "[default:" in text:
        return text
    shown = f"{value:g}" if isinstance(value, float) else value
    return f"{text} [default: {shown}]"


def _option(setting: Any, hidden: bool) -> Any:
    """The click option of one setting (``config.setting``): flags given as None mean "not
    given", so the settings' own layers decide. ``hidden``: accepted (a crawl's command line
    turned into a plan or a refresh still parses, and is judged by the command) but not listed
    in the command's help."""
    flag = "--" + setting.name.replace("_", "-")
    kind = setting.metadata["option"]
    shown = {"help": _help(setting), "hidden": hidden}
    if kind == "flag":
        return click.option(flag, is_flag=True, default=None, **shown)
    if kind == "flag/no":
        return click.option(f"{flag}/--no-{flag[2:]}", default=None, **shown)
    if isinstance(kind, tuple):
        kind = click.Choice(list(kind))
    elif kind == "path":
        kind = click.Path(dir_okay=False)
    elif kind == "any-path":
        kind = click.Path()
    elif kind == "value":
        kind = type(setting.default)
    return click.option(flag, type=kind, **shown)


def crawl_options(command: str) -> Any:
    """The options of every setting (``config.CrawlSettings``), those ``command`` does not
    list hidden from its help; the config file option and the refused secrets."""

    def decorate(f: Any) -> Any:
        options = [_option(s, command not in s.metadata["commands"]) for s in SETTINGS]
        options.append(
            click.option(
                "--config",
                "config_file",
                type=click.Path(),
                help="Settings file. [default: tiktok-network.toml]",
            )
        )
        for name in REFUSED_SECRET_FLAGS:
            options.append(
                click.option(
                    name, hidden=True, expose_value=False, callback=_refuse_secret, is_eager=True
                )
            )
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


def seed_options(f: Any) -> Any:
    """USERS as arguments, and --seeds FILE with its --column: how every command takes seeds."""
    f = click.option(
        "--column", help="Column of the seed CSV holding usernames (name or 1-based number)."
    )(f)
    f = click.option(
        "--seeds", "seed_file", type=click.Path(), help="CSV of usernames (header detected)."
    )(f)
    return click.argument("users", nargs=-1)(f)
