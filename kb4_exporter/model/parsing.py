"""Reading untrusted JSON values: timestamps, numbers in range, strings, ids.

Every parser accepts the variants listed in knowbe4-api.md and raises `RecordError`
only when a record is unusable (e.g. not an object, or no id).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from kb4_exporter.model.untrusted_text import clean_text


class RecordError(ValueError):
    """A record from the API cannot be used at all."""


# --- primitive readers ------------------------------------------------------------


_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_timestamp(value: Any) -> float | None:
    """ISO-8601 timestamp or date-only string -> epoch seconds; anything else -> None."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    try:
        if _DATE_ONLY.match(text):
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC).timestamp()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def read_float(value: Any) -> float | None:
    """A JSON number (or numeric string) -> float; bool, NaN and anything else -> None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):  # JSON ints are unbounded: 1e400 written out overflows
        return None
    if number != number or number in (float("inf"), float("-inf")):
        return None
    return number


def read_percentage(value: Any) -> float | None:
    """A percentage in 0..100; anything outside is not a percentage and reads as None.

    Ratios derived from it are exported as 0..1, so one bogus value must not push a
    mean (or a spread between groups) out of that range.
    """
    number = read_float(value)
    return number if number is not None and 0.0 <= number <= 100.0 else None


def read_int(value: Any) -> int | None:
    number = read_float(value)
    if number is None or not number.is_integer():
        return None
    return int(number)


# Counts above this are not counts: a float (every exported value is one) holds whole
# numbers exactly only up to here.
MAX_COUNT = 2**53


def read_count(value: Any) -> int | None:
    """A whole number in 0..MAX_COUNT; a negative or absurd count reads as None."""
    number = read_int(value)
    return number if number is not None and 0 <= number <= MAX_COUNT else None


def read_score(value: Any) -> float | None:
    """A KnowBe4 risk score, 0..100 (exported as such); anything outside reads as None."""
    number = read_float(value)
    return number if number is not None and 0.0 <= number <= 100.0 else None


def read_str(value: Any) -> str | None:
    """A JSON string, cleaned (see `untrusted_text`): it may end up in a label value."""
    if isinstance(value, str):
        text = clean_text(value)
        return sys.intern(text) if len(text) <= 64 else text
    return None


def object_of(raw: Any, kind: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise RecordError(f"{kind} record is {type(raw).__name__}, expected an object")
    return raw


def required_id(raw: Mapping[str, Any], kind: str, *keys: str) -> int:
    for key in keys:
        value = read_int(raw.get(key))
        if value is not None:
            return value
    raise RecordError(f"{kind} record has no usable {'/'.join(keys)}")


# --- records listed twice ----------------------------------------------------------

T = TypeVar("T")


def unique_by_id(records: Sequence[T], key: Callable[[T], Hashable | None]) -> tuple[T, ...]:
    """`records` without later copies of an id; records without an id are all kept."""
    seen: set[Hashable] = set()
    kept: list[T] = []
    for record in records:
        record_id = key(record)
        if record_id is not None:
            if record_id in seen:
                continue
            seen.add(record_id)
        kept.append(record)
    return records if isinstance(records, tuple) and len(kept) == len(records) else tuple(kept)
