"""Deterministic usernames and display names for emulated accounts.

Display names deliberately include what breaks naive CSV and spreadsheet handling (commas,
quotes, newlines, emoji, right-to-left text, a leading ``=``/``+``/``-``/``@``), so every export
path is exercised by every crawl of the emulator.
"""

from __future__ import annotations

_WORDS = (
    "sun",
    "moon",
    "star",
    "cat",
    "dog",
    "fox",
    "pixel",
    "dance",
    "chef",
    "vibe",
    "lofi",
    "gym",
    "art",
    "nova",
    "luna",
    "kiki",
    "jojo",
    "mika",
    "sasha",
    "leo",
    "max",
    "zoe",
    "ivy",
    "ray",
    "sky",
    "blue",
    "rose",
    "mint",
    "taco",
    "boba",
    "retro",
    "neon",
    "glow",
    "wave",
    "echo",
    "zen",
    "bolt",
    "kai",
    "remi",
    "ola",
    "nico",
    "emma",
    "liam",
    "noah",
    "aria",
    "yuki",
    "tao",
)
_SEPARATORS = ("", "_", ".", "")

_DISPLAY_TEMPLATES = (
    "{w}",
    "{W} {x}",
    "{W}, official",
    '"{W}" fan page',
    "{W} ✨",
    "{W} 🐱🎶",
    "Ünïcødé {W}",
    "{W}\nnew line",
    "=1+1 {W}",
    "+{W}",
    "-{W}-",
    "@{w}",
    "{W} 日本語",
    "مرحبا {W}",
    "{W} 'quoted' & <b>",
    "{W}; semi, colon",
)


def synthetic_username(node: int, salt: int = 0) -> str:
    """A unique TikTok-like handle: two words, an optional separator and a base-36 suffix."""
    h = (node * 2654435761 + salt * 97) & 0xFFFFFFFF
    w1 = _WORDS[h % len(_WORDS)]
    w2 = _WORDS[(h >> 8) % len(_WORDS)]
    sep = _SEPARATORS[(h >> 16) % len(_SEPARATORS)]
    # The words hold no digits, so the trailing number alone makes the name unique.
    return f"{w1}{sep}{w2}{node}"


def display_name_for(node: int, username: str) -> str:
    """A display name derived from the account, deterministic across runs."""
    word = username.strip("._0123456789") or username
    template = _DISPLAY_TEMPLATES[(node * 40503) % len(_DISPLAY_TEMPLATES)]
    return template.format(w=word, W=word.capitalize(), x=node % 1000)
