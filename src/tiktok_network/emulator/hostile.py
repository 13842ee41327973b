"""Quirk ``--hostile-text P``: a seeded share P of accounts whose text is what real API text
has been seen to hold (NUL bytes) and worse, so the tests cover what a crawl makes of it.

Such an account has a display name holding a NUL and a lone UTF-16 surrogate (a valid JSON
escape that is invalid Unicode), a 10 kB bio with a NUL in it, a likes count above 2^31 and a
video count above 2^64. Its follow lists begin with one extra entry whose username holds a
NUL: an entry that names no account (the graph does not hold it, so the ground truth of every
test is unchanged).
"""

from __future__ import annotations

from typing import Any

import msgspec

# Stands for a lone surrogate while the answer is built (msgspec cannot encode one); swapped
# for the JSON escape in the encoded bytes.
_MARK = "\ue000lone\ue000"
_MARK_BYTES = _MARK.encode("utf-8")
LONE_SURROGATE_ESCAPE = b"\\ud800"
BIO_LENGTH = 10_000


def display_name(node: int, name: str) -> str:
    return f"Evil\x00{name[:8]}{_MARK}#{node}"


def profile(node: int, name: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The user-info fields of a hostile account."""
    return {
        **fields,
        "display_name": display_name(node, name),
        "bio_description": "b" * (BIO_LENGTH - 2) + "\x00" + _MARK,
        "likes_count": 2**40 + node,
        "video_count": 2**70,
    }


def ghost_entry(node: int) -> bytes:
    """The list entry naming no account that begins a hostile account's lists."""
    return msgspec.json.encode({"display_name": "ghost", "username": f"ghost\x00{node}"})


def item(node: int, name: str) -> bytes:
    """A hostile account as an entry of others' lists."""
    return encode({"display_name": display_name(node, name), "username": name})


def encode(value: Any) -> bytes:
    """JSON of ``value`` with every mark turned into a lone surrogate escape."""
    return msgspec.json.encode(value).replace(_MARK_BYTES, LONE_SURROGATE_ESCAPE)


def unmark(raw: bytes) -> bytes:
    return raw.replace(_MARK_BYTES, LONE_SURROGATE_ESCAPE)
