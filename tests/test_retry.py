"""The retry policy on its own: when to give up, how long to wait, and Retry-After."""

from __future__ import annotations

import email.utils
import random

import pytest

from kb4_exporter.api.retry import RETRIED_STATUSES, GiveUp, RetryPolicy, parse_retry_after

T0 = 1_700_000_000.0


class FixedRandom(random.Random):
    """`uniform` always lands on the same fraction of its range."""

    def __init__(self, fraction: float) -> None:
        super().__init__()
        self.fraction = fraction

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.fraction


def policy(fraction: float = 1.0, **overrides: float) -> RetryPolicy:
    settings: dict[str, float] = {
        "max_attempts": 5,
        "backoff_base": 2.0,
        "backoff_max": 120.0,
        "max_retry_after": 900.0,
    }
    settings.update(overrides)
    return RetryPolicy(
        max_attempts=int(settings["max_attempts"]),
        backoff_base=settings["backoff_base"],
        backoff_max=settings["backoff_max"],
        max_retry_after=settings["max_retry_after"],
        rng=FixedRandom(fraction),
    )


def always(seconds: float) -> bool:
    return True


def test_the_back_off_doubles_per_attempt_up_to_its_cap() -> None:
    delays = [policy(backoff_max=30.0).delay(attempt, None) for attempt in range(1, 8)]

    assert delays == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_jitter_takes_the_wait_down_to_half_never_below() -> None:
    assert policy(fraction=0.0).delay(3, None) == 4.0
    assert policy(fraction=0.5).delay(3, None) == 6.0


def test_a_huge_attempt_number_stays_at_the_cap() -> None:
    assert policy().delay(10_000, None) == 120.0


def test_retry_after_wins_only_when_longer_than_the_back_off() -> None:
    assert policy().delay(1, 37.0) == 37.0
    assert policy().delay(3, 0.0) == 8.0


def test_a_retryable_failure_waits_while_attempts_are_left() -> None:
    wait = policy().next_wait(4, retryable=True, retry_after=None, wait_fits=always)

    assert wait == 16.0


@pytest.mark.parametrize(("attempt", "retryable"), [(5, True), (1, False)])
def test_no_retry_after_the_last_attempt_or_a_permanent_failure(
    attempt: int, retryable: bool
) -> None:
    wait = policy().next_wait(attempt, retryable=retryable, retry_after=None, wait_fits=always)

    assert wait == GiveUp()


def test_a_retry_after_over_the_cap_gives_up_and_says_why() -> None:
    wait = policy().next_wait(1, retryable=True, retry_after=901.0, wait_fits=always)

    assert isinstance(wait, GiveUp)
    assert "901 s (Retry-After)" in wait.note
    assert "900 s" in wait.note


def test_a_retry_after_at_the_cap_is_waited_for() -> None:
    assert policy().next_wait(1, retryable=True, retry_after=900.0, wait_fits=always) == 900.0


def test_a_wait_past_the_refresh_deadline_gives_up() -> None:
    asked: list[float] = []

    def never(seconds: float) -> bool:
        asked.append(seconds)
        return False

    wait = policy().next_wait(1, retryable=True, retry_after=None, wait_fits=never)

    assert isinstance(wait, GiveUp)
    assert "deadline" in wait.note
    assert asked == [2.0]


def test_only_throttling_and_transient_server_errors_are_retried() -> None:
    assert sorted(RETRIED_STATUSES) == [429, 500, 502, 503, 504]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("37", 37.0),
        (" 2.5 ", 2.5),
        (email.utils.formatdate(T0 + 45, usegmt=True), 45.0),
        (email.utils.formatdate(T0 - 600, usegmt=True), 0.0),
        ("Tue, 14 Nov 2023 22:14:05", 45.0),  # no zone: read as UTC
    ],
)
def test_retry_after_reads_seconds_or_an_http_date(value: str, seconds: float) -> None:
    assert parse_retry_after(value, T0 + 0.0) == pytest.approx(seconds)


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1e3", "Tue, 99 Foo"])
def test_an_unreadable_retry_after_is_none(value: str | None) -> None:
    assert parse_retry_after(value, T0) is None
