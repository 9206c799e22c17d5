"""Prometheus-style durations ("30s", "90m", "24h", "7d", "1h30m") for flags and YAML."""

from __future__ import annotations

import re

_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
    "y": 31536000.0,
}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")


def parse_duration(text: str) -> float:
    """Seconds in `text`; raises ValueError naming the accepted forms."""
    cleaned = text.strip().lower()
    if not cleaned:
        raise ValueError("empty duration")
    if re.fullmatch(r"\d+(?:\.\d+)?", cleaned):
        # As in Prometheus, a number needs a unit: "90" could mean seconds or minutes.
        if float(cleaned) == 0:
            return 0.0
        raise ValueError(
            f"{text!r} has no unit: write e.g. {cleaned}s or {cleaned}m "
            "(units: ms, s, m, h, d, w, y)"
        )
    position = 0
    total = 0.0
    for match in _PART.finditer(cleaned):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(cleaned) or position == 0:
        raise ValueError(f"{text!r} is not a duration (use e.g. 30s, 15m, 1h, 7d, 1h30m)")
    return total


def format_duration(seconds: float) -> str:
    """The shortest exact Prometheus-style spelling of `seconds`, e.g. 86400 -> "1d"."""
    if seconds <= 0:
        return "0s"
    remaining = round(seconds * 1000)
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    # Under half a millisecond rounds to nothing; "" would not parse back.
    return "".join(parts) or "0s"
