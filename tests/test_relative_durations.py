"""`add_relative_duration`: the forms a training campaign's relative_duration may take."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kb4_exporter.kris.relative_durations import add_relative_duration


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


START = ts("2024-01-31T15:30:00")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # fixed-length units
        ("30 days", "2024-03-01T15:30:00"),  # Jan 31 + 30 d (2024 is a leap year)
        ("1 day", "2024-02-01T15:30:00"),
        ("1 Days", "2024-02-01T15:30:00"),
        ("  30   DAYS ", "2024-03-01T15:30:00"),
        ("30days", "2024-03-01T15:30:00"),
        ("2 weeks", "2024-02-14T15:30:00"),
        ("1 week", "2024-02-07T15:30:00"),
        ("0 days", "2024-01-31T15:30:00"),
        # calendar units, day clamped to the end of the month
        ("1 month", "2024-02-29T15:30:00"),
        ("3 months", "2024-04-30T15:30:00"),
        ("12 Months", "2025-01-31T15:30:00"),
        ("1 year", "2025-01-31T15:30:00"),
        ("2 YEARS", "2026-01-31T15:30:00"),
        # several parts: calendar step first, then days
        ("1 month 15 days", "2024-03-15T15:30:00"),  # Feb 29 + 15 d
        ("1 year, 2 months and 3 days", "2025-04-03T15:30:00"),  # Mar 31 2025 + 3 d
        # ISO-8601
        ("P30D", "2024-03-01T15:30:00"),
        ("p2w", "2024-02-14T15:30:00"),
        ("P1M", "2024-02-29T15:30:00"),
        ("P1Y2M10D", "2025-04-10T15:30:00"),  # Jan 31 + 14 months = Mar 31 2025, + 10 d
        ("PT36H", "2024-02-02T03:30:00"),
        ("P1DT12H", "2024-02-02T03:30:00"),
        ("PT90M", "2024-01-31T17:00:00"),
        ("PT30S", "2024-01-31T15:30:30"),
        ("P1.5D", "2024-02-02T03:30:00"),
        ("P1,5D", "2024-02-02T03:30:00"),
    ],
)
def test_accepted_forms(text: str, expected: str) -> None:
    assert add_relative_duration(START, text) == ts(expected)


def test_month_steps_clamp_to_february_in_common_years() -> None:
    # 2023 is not a leap year: Jan 31 + 1 month = Feb 28
    assert add_relative_duration(ts("2023-01-31T00:00:00"), "1 month") == ts("2023-02-28T00:00:00")


def test_leap_day_plus_one_year() -> None:
    assert add_relative_duration(ts("2024-02-29T08:00:00"), "P1Y") == ts("2025-02-28T08:00:00")


def test_month_steps_across_year_end() -> None:
    # Nov 30 + 3 months = Feb 30 -> clamped to Feb 29 2024
    assert add_relative_duration(ts("2023-11-30T00:00:00"), "3 months") == ts("2024-02-29T00:00:00")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "30",
        "thirty days",
        "3 fortnights",
        "1 weekday",
        "-3 days",
        "30 days ago",
        "30 business days",
        "1 day2 weeks",
        ", 30 days",
        "P",
        "PT",
        "P1DT",
        "P1.5M",
        "P1.5Y",
        "PT1D",
        "P 30D",
        "Pdays",
        "string",
    ],
)
def test_rejected_forms(text: str) -> None:
    assert add_relative_duration(START, text) is None


def test_overflowing_calendar_step_is_rejected() -> None:
    assert add_relative_duration(START, "9999 years") is None


@given(days=st.integers(min_value=0, max_value=3650))
def test_day_forms_agree_with_fixed_arithmetic(days: int) -> None:
    expected = START + days * 86400
    assert add_relative_duration(START, f"{days} days") == expected
    assert add_relative_duration(START, f"P{days}D") == expected


@given(
    start=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    months=st.integers(min_value=1, max_value=120),
)
def test_month_steps_land_on_the_target_month_never_past_its_end(
    start: datetime, months: int
) -> None:
    due = add_relative_duration(start.timestamp(), f"{months} months")
    assert due is not None
    moved = datetime.fromtimestamp(due, UTC)
    assert (moved.year * 12 + moved.month) - (start.year * 12 + start.month) == months
    assert moved.day <= start.day
    assert moved.time() == start.time()
