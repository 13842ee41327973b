"""The version, apart from the package's ``__init__`` so that modules can read it without
importing the public API (which imports them)."""

__version__ = "0.1.0"
