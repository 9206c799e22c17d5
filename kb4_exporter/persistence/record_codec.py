"""One record of the state file <-> a JSON list of its field values.

What is read back is as untrusted as what the API sends: a file written by an older
version, or edited, must not bring back what the API parsers keep out of label values
and metrics. So every value is checked against its field's declared type and range, and
strings are cleaned, before a record is built from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

from kb4_exporter.model.parsing import read_count, read_percentage, read_score
from kb4_exporter.model.untrusted_text import clean_text


class StateCorruptError(ValueError):
    """A state file, or a line of it, that cannot be used."""


def encode_record(record: Any) -> list[Any]:
    """The record's field values in declaration order, as JSON can hold them."""
    values = []
    for item in fields(record):
        value = getattr(record, item.name)
        if isinstance(value, tuple | frozenset):
            value = sorted(value) if isinstance(value, frozenset) else list(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        values.append(value)
    return values


def decode_record(cls: type[Any], values: Any, kind: str) -> Any:
    """`cls(*values)` after checking every value against the field's declared type.

    Strings are cleaned and numbers checked as the API parsers clean and check them.
    """
    declared = fields(cls)
    if not isinstance(values, list) or len(values) != len(declared):
        raise StateCorruptError(f"{kind} record has the wrong number of fields")
    for item, value in zip(declared, values, strict=True):
        if not matches(value, str(item.type)):
            raise StateCorruptError(f"{kind}.{item.name} is not a {item.type}")
        if not _in_range(item.name, value):
            raise StateCorruptError(f"{kind}.{item.name} is out of range")
    return cls(*(_cleaned(v) for v in values))


def is_count(value: Any) -> bool:
    """A whole number the API parsers keep as a count (model.read_count)."""
    return matches(value, "int") and read_count(value) == value


def _kept_by(reader: Callable[[Any], Any]) -> Callable[[Any], bool]:
    return lambda value: bool(reader(value) == value)


def _all_counts(value: Any) -> bool:
    return all(read_count(count) == count for count in value.values())


# Fields whose values the API parsers keep in range (model.read_count, read_score,
# read_percentage), by name, in every record type that has them.
_RANGES: Mapping[str, Callable[[Any], bool]] = {
    "count": _kept_by(read_count),
    "member_count": _kept_by(read_count),
    "seats": _kept_by(read_count),
    "counts": _all_counts,
    "risk_score": _kept_by(read_score),
    "phish_prone_percentage": _kept_by(read_percentage),
}


def _in_range(name: str, value: Any) -> bool:
    check = _RANGES.get(name)
    return value is None or check is None or check(value)


def _cleaned(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return tuple(_cleaned(v) for v in value)
    return value


def _is_number(value: Any) -> bool:
    """A JSON number that is also a finite float: every number read from the file ends up
    in a metric, and 1e400 written out as an integer, or NaN/Infinity (which Python's json
    accepts), would break or poison every scrape."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


_SCALARS: Mapping[str, Callable[[Any], bool]] = {
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and _is_number(v),
    "float": _is_number,
}


def matches(value: Any, declared: str) -> bool:
    """Checks the few type spellings the record classes use."""
    options = [part.strip() for part in declared.split("|")]
    if value is None:
        return "None" in options
    for option in options:
        if option in _SCALARS and _SCALARS[option](value):
            return True
        if option.startswith("tuple[") and isinstance(value, list):
            inner = option[len("tuple[") : -1].split(",")[0].strip()
            return all(_SCALARS[inner](v) for v in value)
        if option.startswith("Mapping[") and isinstance(value, dict):
            return all(isinstance(k, str) and _SCALARS["int"](v) for k, v in value.items())
    return False
