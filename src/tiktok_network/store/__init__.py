"""Crawl state: SQLite (default) behind one interface."""
