"""TikTok usernames: what a valid handle is and how users write one.

Handles are 2 to 24 characters of a-z, 0-9, ``_`` and ``.``, compared case-insensitively.
Users paste them as ``name``, ``@name`` or a profile URL, so all three are accepted.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

USERNAME_RE = re.compile(r"^[a-z0-9_.]{2,24}$")
PROFILE_HOSTS = {"tiktok.com", "www.tiktok.com", "m.tiktok.com", "vm.tiktok.com"}


class InvalidUsername(ValueError):
    """A seed that is not a TikTok username; the message says why."""


def is_valid_username(name: str) -> bool:
    return bool(USERNAME_RE.match(name))


def normalize_username(raw: str) -> str:
    """``Alice``, ``@alice`` or ``https://www.tiktok.com/@alice?lang=en`` -> ``alice``."""
    text = raw.strip().strip('"').strip()
    if "/" in text or text.lower().startswith(("http:", "https:", "www.", "tiktok.com")):
        text = _from_url(text)
    text = text.removeprefix("@").lower()
    if not text:
        raise InvalidUsername("empty username")
    if len(text) > 24:
        raise InvalidUsername(f"{_show(text)} is longer than 24 characters")
    if len(text) < 2:
        raise InvalidUsername(f"{_show(text)} is shorter than 2 characters")
    if not USERNAME_RE.match(text):
        bad = sorted({c for c in text if not re.match(r"[a-z0-9_.]", c)})
        raise InvalidUsername(
            f"{_show(text)} has characters not allowed in a username: {''.join(bad)!r}"
        )
    return text


def _from_url(text: str) -> str:
    url = text if "://" in text else f"https://{text}"
    parts = urlsplit(url)
    if parts.hostname not in PROFILE_HOSTS:
        raise InvalidUsername(f"{_show(text)} is not a TikTok profile URL")
    for segment in parts.path.split("/"):
        if segment.startswith("@"):
            return segment
    raise InvalidUsername(f"{_show(text)} is a URL without an @username")


def _show(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")
