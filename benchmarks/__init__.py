"""Benchmarks, run by hand: `.venv/bin/python -m benchmarks.NAME`; each prints its figures last."""
