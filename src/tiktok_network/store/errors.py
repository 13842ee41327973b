"""What the store raises for a crawl it cannot use, whatever the backend."""

from __future__ import annotations


class NotACrawlDatabase(Exception):
    """The database exists but is not a usable tiktok-network crawl (foreign, newer, missing,
    unreachable); the message names it (a URL without its password)."""


class CrawlInUse(Exception):
    """Another live process is crawling into the same SQLite database."""
