"""Pseudonymised exports: usernames replaced by a keyed hash, identifying profile fields dropped.

The hash is HMAC-SHA256 under a secret key the lab keeps (``--key-file``): the same account
gets the same id in every export made with the key, so exports made months apart can be joined,
while nobody without the key can recompute an id from a guessed username (a plain hash could be
reversed by hashing a list of known accounts). Counts, completeness records and timestamps stay.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import msgspec

MIN_KEY_BYTES = 16
# Profile fields that identify a person or lead back to the account; everything else is kept.
IDENTIFYING_FIELDS = ("display_name", "bio_description", "avatar_url", "bio_url", "open_id")
KEY_HELP = (
    "make one with: python -c 'import secrets; print(secrets.token_hex(32))' > FILE; "
    "chmod 600 FILE (keep it: the same key gives the same ids)"
)


class KeyFileError(ValueError):
    """A key file that cannot be used; the message says why and how to make one."""


def load_key(path: str | Path) -> bytes:
    """The secret key in ``path`` (its bytes, surrounding whitespace removed)."""
    try:
        key = Path(path).read_bytes().strip()
    except OSError as exc:
        raise KeyFileError(
            f"{path}: cannot read the key file ({exc.strerror or exc}): {KEY_HELP}"
        ) from None
    if len(key) < MIN_KEY_BYTES:
        raise KeyFileError(
            f"{path}: the key is {len(key)} bytes; a key needs at least {MIN_KEY_BYTES}: {KEY_HELP}"
        )
    return key


class Pseudonymizer:
    """Maps usernames to keyed ids and strips identifying fields from profiles and pages."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._cache: dict[str, str] = {}

    def name(self, username: str | None) -> str | None:
        """The pseudonym of one account: ``u`` and 32 hex digits (128 bits of the HMAC)."""
        if username is None:
            return None
        found = self._cache.get(username)
        if found is None:
            digest = hmac.new(self._key, username.encode("utf-8"), hashlib.sha256).hexdigest()
            found = self._cache[username] = "u" + digest[:32]
            if len(self._cache) > 1_000_000:
                self._cache.clear()
        return found

    def profile(self, info: dict[str, Any]) -> dict[str, Any]:
        """A user-info record without the fields that identify the person."""
        return {k: v for k, v in info.items() if k not in IDENTIFYING_FIELDS}

    def page(self, raw: str, owner: str | None) -> str:
        """A raw response with every listed account pseudonymised and identifying fields
        dropped; the list owner's name is also taken out of any message text."""
        body = msgspec.json.decode(raw.encode("utf-8"))
        return msgspec.json.encode(self._walk(body, owner)).decode("utf-8")

    def _walk(self, node: Any, owner: str | None) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key in IDENTIFYING_FIELDS:
                    continue
                if key == "username" and isinstance(value, str):
                    out[key] = self.name(value)
                else:
                    out[key] = self._walk(value, owner)
            return out
        if isinstance(node, list):
            return [self._walk(v, owner) for v in node]
        if isinstance(node, str) and owner and owner in node:
            return node.replace(owner, self.name(owner) or "")
        return node
