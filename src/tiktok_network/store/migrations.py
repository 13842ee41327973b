"""Schema versions: both backends record theirs in a ``schema_version`` table and move an
older crawl forward one step at a time; a crawl made by a newer tool is refused, never read
with the wrong layout."""

from __future__ import annotations

from tiktok_network.store.errors import NotACrawlDatabase

APP_ID = "tiktok-network"


def newer_message(name: str, found: int, known: int) -> str:
    return (
        f"{name}: written by a newer tiktok-network (schema version {found}; this one knows up "
        f"to {known}): upgrade tiktok-network to use it"
    )


def check_version(found: int, known: int, name: str) -> None:
    if found > known:
        raise NotACrawlDatabase(newer_message(name, found, known))
