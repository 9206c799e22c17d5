"""What the exporter has spent of an API: counts by outcome and the daily budget."""

from __future__ import annotations

import pytest

from kb4_exporter.api.errors import BudgetExhaustedError
from kb4_exporter.api.outcomes import Call
from kb4_exporter.api.pacing import RequestLedger
from kb4_exporter.api.usage import DailyBudget, RequestCounter

T0 = 1_700_000_000.0
CALL = Call("reporting", "GET", "https://us.api.knowbe4.test/v1/account")


def test_attempts_are_counted_by_code_and_only_429_is_throttled() -> None:
    counter = RequestCounter()
    for code in (200, 429, "timeout", 429, 503, "connection", 200):
        counter.count(code)

    snapshot = counter.snapshot()

    assert dict(snapshot.requests_by_code) == {
        "200": 2,
        "429": 2,
        "timeout": 1,
        "503": 1,
        "connection": 1,
    }
    assert snapshot.throttled == 2


def test_a_snapshot_does_not_change_with_later_counts() -> None:
    counter = RequestCounter()
    counter.count(200)
    snapshot = counter.snapshot()

    counter.count(200)

    assert snapshot.requests_by_code == {"200": 1}
    with pytest.raises(TypeError):
        snapshot.requests_by_code["200"] = 5  # type: ignore[index]


def test_the_budget_refuses_once_the_ledger_reaches_it() -> None:
    ledger = RequestLedger(clock=lambda: T0)
    budget = DailyBudget(ledger, 2)
    ledger.record()
    budget.ensure_room(CALL)
    ledger.record()

    with pytest.raises(BudgetExhaustedError, match="GET /v1/account: not sent") as caught:
        budget.ensure_room(CALL)

    assert caught.value.endpoint == "/v1/account"
    assert budget.remaining() == 0


def test_an_unknown_budget_refuses_nothing() -> None:
    ledger = RequestLedger(clock=lambda: T0)
    budget = DailyBudget(ledger)
    for _ in range(3):
        ledger.record()

    budget.ensure_room(CALL)

    assert (budget.limit(), budget.remaining()) == (None, None)


def test_a_negative_budget_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        DailyBudget(RequestLedger(clock=lambda: T0), -1)
