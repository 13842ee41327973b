"""Moments and durations as users write them: ISO 8601 dates or UTC timestamps (``2026-11-30``,
``2026-11-30T14:05:00Z``), and durations such as ``15d``, ``36h``, ``90m``, ``0s``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

# The refresh window of the Research API's terms as quoted since 2023 (docs/compliance.md).
DEFAULT_REFRESH_WINDOW = 15 * 86400.0
UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([wdhms]?)\s*$", re.IGNORECASE)


def parse_duration(value: object) -> float:
    """Seconds in ``15d``, ``36h``, ``90m``, ``30s`` or ``2w`` (a bare number is seconds)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("must not be negative")
        return float(value)
    match = _DURATION.match(str(value))
    if match is None:
        raise ValueError("expected a duration such as 15d, 36h, 90m or 0s")
    number, unit = match.groups()
    return float(number) * UNITS[(unit or "s").lower()]


def parse_moment(value: str) -> float:
    """Unix seconds of an ISO 8601 date or timestamp. A timestamp without a zone is UTC; a date
    alone means the end of that UTC day (what stood on that date, its last changes included)."""
    text = value.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = datetime.fromisoformat(text).replace(tzinfo=UTC)
            return (day + timedelta(days=1)).timestamp() - 1e-6
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{value!r} is not an ISO 8601 date or UTC timestamp (e.g. 2026-11-30 or "
            "2026-11-30T14:05:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def show_duration(seconds: float) -> str:
    """A duration the way users write it: ``15d``, ``36h``, ``0s``."""
    for unit in ("d", "h", "m"):
        if seconds >= UNITS[unit] and seconds % UNITS[unit] == 0:
            return f"{int(seconds // UNITS[unit])}{unit}"
    return f"{seconds:g}s"
