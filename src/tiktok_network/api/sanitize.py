"""Hostile text from the service, made storable the same way on every backend and export.

The Research API's JSON can carry what no crawl database or spreadsheet should hold: a NUL
character (PostgreSQL's text type refuses it, CSV readers cut cells at it), a lone UTF-16
surrogate (valid JSON escape, invalid Unicode: nothing can encode it as UTF-8), or a list entry
whose "username" is not a name at all. Other API clients met such values (NUL bytes in real API
text). The policy, applied to the response before anything reads or stores it:

- a NUL is removed from every string; a lone surrogate becomes U+FFFD (the replacement
  character); every other character is kept, newlines included;
- a list entry whose username holds a control character or a surrogate is dropped (it names
  no account a crawl could ask for, and removing characters could turn it into another one);
- the raw response stored (and exported in saved_jsons.csv) is the cleaned one.

Long text (a 10 kB bio) is kept whole; counts beyond what a database integer holds are
dropped by the typed outcome (``outcomes.plain_counts``). Responses with nothing to clean are
passed through untouched: one regular-expression scan of the bytes.
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec

# JSON escapes of the characters this module cleans: C0 controls and DEL (a NUL among them)
# and surrogates. Anything else never needs the slow path.
_SUSPECT = re.compile(rb"\\u(?:00[01][0-9a-fA-F]|007[fF]|[dD][89a-fA-F][0-9a-fA-F]{2})")


def response(raw: bytes) -> bytes:
    """``raw`` with its strings cleaned (module docstring); unchanged when clean already or
    not JSON (the caller's decoder then says what is wrong)."""
    if not _SUSPECT.search(raw):
        return raw
    try:
        body = json.loads(raw.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return raw
    return msgspec.json.encode(_clean(body))


def text(value: str) -> str:
    """One string as stored: no NUL, lone surrogates replaced."""
    value = value.replace("\x00", "")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        value = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
    return value


def usable_username(name: Any) -> bool:
    """Whether a listed username can name an account: text without control characters or
    surrogates (real usernames are letters, digits, '_' and '.')."""
    return (
        isinstance(name, str)
        and bool(name)
        and not any(ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF for c in name)
    )


def _clean(node: Any) -> Any:
    if isinstance(node, str):
        return text(node)
    if isinstance(node, list):
        return [
            _clean(v)
            for v in node
            if not (isinstance(v, dict) and "username" in v and not usable_username(v["username"]))
        ]
    if isinstance(node, dict):
        return {text(str(k)): _clean(v) for k, v in node.items()}
    return node
