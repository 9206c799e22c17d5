"""Strings from the network, made safe to keep, compare and export as label values.

JSON can carry what no exposition may: a lone UTF-16 surrogate ("\\ud800" is valid JSON,
but no UTF-8 encoder accepts it, so one in a label value fails every render of /metrics),
NUL and other control characters. Every string read from an API response, and again
every string read from a state file, passes through `clean_text`, so whatever reaches a
label value is printable UTF-8 of bounded length.
"""

from __future__ import annotations

import re
from typing import Final

# Longer names are cut: a Prometheus server with `label_value_length_limit` set rejects
# the whole scrape over one long label value, and no KnowBe4 name needs more.
MAX_TEXT_CHARS: Final = 256
REPLACEMENT: Final = "\ufffd"
_ELLIPSIS: Final = "\u2026"
# C0 and C1 controls, DEL, and the surrogate range (only lone surrogates survive JSON
# decoding as such: a valid pair becomes one code point).
_UNSAFE: Final = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Line breaks and tabs in a name read as the space they stand for.
_SPACES: Final = frozenset("\t\n\x0b\x0c\r")


def clean_text(text: str) -> str:
    """`text` with control characters and lone surrogates replaced, cut to MAX_TEXT_CHARS."""
    if len(text) > MAX_TEXT_CHARS:
        text = text[: MAX_TEXT_CHARS - 1] + _ELLIPSIS
    if text.isprintable():  # the common case, checked in C
        return text
    return _UNSAFE.sub(_replacement, text)


def _replacement(match: re.Match[str]) -> str:
    return " " if match.group() in _SPACES else REPLACEMENT
