"""Training campaigns' relative durations ("30 days", "2 weeks", "1 month 15 days", "P30D").

The API does not document the format of `relative_duration` (the sample says "string"),
so every plausible form is accepted; anything else gives no due date.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime
from functools import lru_cache

DAY = 86400.0
HOUR = 3600.0

_FIXED_WORD_UNITS = {"day": DAY, "week": 7 * DAY}
_WORD_PART = re.compile(r"(\d+)\s*(day|week|month|year)s?", re.IGNORECASE)
# Between parts: a comma and/or whitespace, optionally followed by "and".
_WORD_SEPARATOR = re.compile(r"\s*,\s*(?:and\s+)?|\s+(?:and\s+)?", re.IGNORECASE)
_NUMBER = r"(\d+(?:[.,]\d+)?)"
_ISO_DURATION = re.compile(
    rf"P(?:(\d+)Y)?(?:(\d+)M)?(?:{_NUMBER}W)?(?:{_NUMBER}D)?"
    rf"(?:T(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?",
    re.IGNORECASE,
)


def add_relative_duration(start: float, text: str) -> float | None:
    """`start` (epoch seconds) plus a campaign's relative duration, or None if unparseable.

    Accepts "<n> day(s)|week(s)|month(s)|year(s)" in any case and spacing, several parts
    joined by spaces, commas or "and" ("1 month 15 days"), and ISO-8601 durations such as
    "P30D", "P2W", "P1Y2M10D" or "PT36H". Months and years are calendar steps in UTC with
    the day clamped to the end of the month (Jan 31 + 1 month = Feb 28/29); days, weeks and
    hours are fixed lengths added after the calendar step.
    """
    parsed = _parse_relative_duration(text)
    if parsed is None:
        return None
    months, seconds = parsed
    if months == 0:
        return start + seconds
    try:
        moved = _add_months(datetime.fromtimestamp(start, UTC), months)
    except (OverflowError, OSError, ValueError):
        return None
    return moved.timestamp() + seconds


def _add_months(moment: datetime, months: int) -> datetime:
    year, month_index = divmod(moment.year * 12 + moment.month - 1 + months, 12)
    month = month_index + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


@lru_cache(maxsize=256)
def _parse_relative_duration(text: str) -> tuple[int, float] | None:
    """(calendar months, fixed seconds), or None; cached, campaigns repeat the same text."""
    cleaned = text.strip()
    if not cleaned:
        return None
    if cleaned[0] in "Pp":
        return _parse_iso_duration(cleaned)
    return _parse_word_duration(cleaned)


def _parse_word_duration(text: str) -> tuple[int, float] | None:
    months, seconds = 0, 0.0
    position = 0
    for part in _WORD_PART.finditer(text):
        gap_ok = (
            part.start() == 0
            if position == 0
            else _WORD_SEPARATOR.fullmatch(text, position, part.start()) is not None
        )
        if not gap_ok:
            return None
        amount, unit = int(part.group(1)), part.group(2).lower()
        if unit == "month":
            months += amount
        elif unit == "year":
            months += 12 * amount
        else:
            seconds += amount * _FIXED_WORD_UNITS[unit]
        position = part.end()
    if position != len(text):
        return None
    return months, seconds


def _parse_iso_duration(text: str) -> tuple[int, float] | None:
    match = _ISO_DURATION.fullmatch(text)
    # "P", "PT" and a dangling "T" match the pattern but name no amount.
    if match is None or not any(match.groups()) or text[-1] in "Tt":
        return None
    years, months, weeks, days, hours, minutes, secs = (
        None if group is None else group.replace(",", ".") for group in match.groups()
    )
    total_months = int(years or 0) * 12 + int(months or 0)
    seconds = (
        float(weeks or 0) * 7 * DAY
        + float(days or 0) * DAY
        + float(hours or 0) * HOUR
        + float(minutes or 0) * 60
        + float(secs or 0)
    )
    return total_months, seconds
