"""Prometheus-style durations: parsing flag values and printing them back."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kb4_exporter.config.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("15m", 900.0),
        ("24h", 86_400.0),
        ("1h30m", 5_400.0),
        ("500ms", 0.5),
        ("1s500ms", 1.5),
        ("7d", 604_800.0),
        ("2w", 1_209_600.0),
        ("1y", 31_536_000.0),
        ("1.5h", 5_400.0),
        (" 1H ", 3_600.0),
        ("0s", 0.0),
        ("0", 0.0),
    ],
)
def test_parse_accepts_numbers_with_units_and_compounds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text", ["abc", "5x", "h", "1h30", "1h 30m", "-5s", "10 s", "1e3s", "s10", "1hh", "."]
)
def test_parse_rejects_malformed_text_and_names_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a duration \(use e\.g\. 30s") as caught:
        parse_duration(text)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize(("text", "number"), [("90", "90"), ("2.5", "2.5"), (" 3600 ", "3600")])
def test_parse_rejects_a_number_without_a_unit_and_suggests_one(text: str, number: str) -> None:
    # Prometheus durations need a unit: "90" may mean 90 s to one user and 90 min to another.
    with pytest.raises(ValueError, match=rf"{re.escape(repr(text))} has no unit") as caught:
        parse_duration(text)
    assert f"{number}s or {number}m" in str(caught.value)


@pytest.mark.parametrize("text", ["", "   "])
def test_parse_rejects_empty_text(text: str) -> None:
    with pytest.raises(ValueError, match="empty duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (86_400.0, "1d"),
        (3_600.0, "1h"),
        (604_800.0, "7d"),
        (5_400.0, "1h30m"),
        (0.5, "500ms"),
        (90_061.001, "1d1h1m1s1ms"),
        (0.0, "0s"),
        (-3.0, "0s"),
    ],
)
def test_format_gives_the_shortest_exact_spelling(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_of_a_positive_duration_below_a_millisecond_is_never_empty() -> None:
    # An empty string would not parse back, so --config.check would print nonsense.
    assert format_duration(0.0001) == "0s"


@given(st.integers(min_value=0, max_value=10 * 365 * 86_400_000))
def test_format_then_parse_round_trips_every_whole_millisecond(milliseconds: int) -> None:
    seconds = milliseconds / 1000
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, abs=1e-9)


@pytest.mark.parametrize("text", ["10s", "90s", "1h30m", "500ms", "7d", "36h", "2w"])
def test_parse_then_format_then_parse_is_stable(text: str) -> None:
    seconds = parse_duration(text)
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)
