"""The crawl: engine, frontier, quota bookkeeping, seeds."""
