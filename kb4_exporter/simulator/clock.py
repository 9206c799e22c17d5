"""Time helpers for the generator: API timestamp formats, duration arithmetic, and
keeping generated timestamps clear of KRI boundaries.

The duration parser here is the simulator's own. The exporter and the test oracle
each have theirs, so a bug in one does not hide in the others.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

MINUTE = 60
HOUR = 3600
DAY = 86400

# Generated timestamps keep at least this far from every KRI boundary, so an exporter
# refreshing a little after `now` computes the same KRIs as the oracle at `now`.
BOUNDARY_MARGIN = 2 * HOUR + 10 * MINUTE


def iso(stamp: float) -> str:
    """Epoch seconds -> the API's timestamp format, e.g. 2019-04-02T15:02:38.000Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(int(stamp)))


def iso_or_none(stamp: float | None) -> str | None:
    return None if stamp is None else iso(stamp)


def iso_date(stamp: float) -> str:
    """Epoch seconds -> a date-only string, e.g. 2021-02-07."""
    return time.strftime("%Y-%m-%d", time.gmtime(int(stamp)))


def parse_iso(text: str) -> float:
    """ISO-8601 timestamp (with Z or an offset) or date -> epoch seconds; ValueError otherwise."""
    # Some clients lower-case the whole query string, "t" and "z" included.
    cleaned = text.strip().upper()
    if cleaned.endswith("Z"):
        cleaned = cleaned[:-1] + "+00:00"
    parsed = datetime.fromisoformat(cleaned)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def clear_of(stamp: int, boundaries: Iterable[float], *, margin: float = BOUNDARY_MARGIN) -> int:
    """Move `stamp` just outside any boundary it sits within `margin` of.

    It moves to the side it was already on, so "before the boundary" stays before.
    """
    for boundary in boundaries:
        if abs(stamp - boundary) < margin:
            stamp = int(boundary - margin - MINUTE) if stamp < boundary else int(boundary + margin)
    return stamp


_WORDS = re.compile(r"^\s*(\d+)\s*(day|week|month|year)s?\s*$", re.IGNORECASE)
_ISO = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$", re.IGNORECASE)


def parse_relative_duration(text: str | None) -> tuple[int, int] | None:
    """A relative duration -> (months, days), or None when it cannot be understood."""
    if not text:
        return None
    words = _WORDS.match(text)
    if words:
        amount, unit = int(words.group(1)), words.group(2).lower()
        return {
            "day": (0, amount),
            "week": (0, 7 * amount),
            "month": (amount, 0),
            "year": (12 * amount, 0),
        }[unit]
    iso_match = _ISO.match(text.strip())
    if iso_match and any(iso_match.groups()):
        years, months, weeks, days = (int(part or 0) for part in iso_match.groups())
        return 12 * years + months, 7 * weeks + days
    return None


def add_duration(stamp: float, months: int, days: int) -> float:
    """Calendar addition: months first (day clamped to the month's length), then days."""
    moment = datetime.fromtimestamp(stamp, UTC)
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return (moment.replace(year=year, month=month, day=day) + timedelta(days=days)).timestamp()
