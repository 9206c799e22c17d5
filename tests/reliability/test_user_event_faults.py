"""The fault matrix of the User Event API: one case per fault, injected by the simulator
on /user-events/events while the Reporting API and PhishER stay healthy.

The same rules as tests/reliability/test_fault_matrix.py: after the faulted refresh the
last good user-event counts and KRIs are still served, only `user_events` is down with
the expected `kb4_refresh_errors_total{reason}` and an unchanged last-success time, the
other sources were refreshed, one log line names the source, reason and endpoint (none
when the retries absorbed the fault); once healed, everything is back as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from kb4_fakes import FakeClock

from kb4_exporter.api.user_events import EVENTS_PATH
from kb4_exporter.simulator import Fault, Org, PacingLimits, SimulatorServer
from reliability.harness import (
    ACCOUNT,
    Exporter,
    Scrape,
    account_for,
    added,
    exporter_records,
    start_exporter,
)

SOURCE = "user_events"
EVENTS = "/user-events/events"
# Between refreshes; the whole case stays well inside the span where the data is stable.
PAUSE = 600.0


@dataclass(frozen=True)
class EventCase:
    id: str
    fault: Fault
    # Why the user-event refresh fails; None when the retries absorb the fault.
    reason: str | None = None
    # kb4_api_requests_total{api="user_events"} codes the absorbed fault adds.
    absorbed_codes: dict[str, int] = field(default_factory=dict)
    # Back-off the exporter must have slept (on the fake clock) during the faulted refresh.
    min_backoff: float = 0.0
    read_timeout: float = 10.0


CASES = [
    EventCase(
        "5xx-burst-absorbed",
        Fault("status", EVENTS, count=3, status=503),
        absorbed_codes={"503": 3},
        min_backoff=0.5 * (2 + 4 + 8),
    ),
    EventCase(
        "5xx-outage",
        Fault("status", EVENTS, status=502),
        reason="server_error",
        min_backoff=0.5 * (2 + 4 + 8 + 16),
    ),
    EventCase(
        "429-storm-without-retry-after",
        Fault("status", EVENTS, status=429),
        reason="rate_limited",
        min_backoff=0.5 * (2 + 4 + 8 + 16),
    ),
    EventCase(
        "429-storm-with-retry-after",
        Fault("retry_after", EVENTS, retry_after="30"),
        reason="rate_limited",
        min_backoff=4 * 30,
    ),
    EventCase(
        "429-burst-absorbed",
        Fault("status", EVENTS, count=2, status=429),
        absorbed_codes={"429": 2},
    ),
    EventCase("truncated-json", Fault("malformed_json", EVENTS), reason="bad_response"),
    EventCase("html-error-page-with-200", Fault("html_200", EVENTS), reason="bad_response"),
    EventCase(
        "read-timeouts",
        Fault("timeout", EVENTS, hold_seconds=60),
        reason="timeout",
        read_timeout=0.3,
    ),
    EventCase("connection-resets", Fault("reset", EVENTS), reason="connection"),
]
WRONG_SHAPE = EventCase(
    "a-list-where-the-envelope-is-expected",
    Fault("wrong_shape", EVENTS),
    reason="bad_response",
)
PARAMS = [pytest.param(case, id=case.id) for case in (*CASES, WRONG_SHAPE)]


@pytest.fixture
def sim(org: Org, clock: FakeClock) -> Iterator[SimulatorServer]:
    with SimulatorServer(org, limits=PacingLimits(), clock=clock) as running:
        yield running


def exporter_on(sim: SimulatorServer, clock: FakeClock, case: EventCase) -> Exporter:
    account = account_for(sim, user_events=True)
    return start_exporter(account, clock, read_timeout=case.read_timeout)


def user_event_counts(scrape: Scrape) -> dict[tuple[str, str], float]:
    return {
        (labels["event_type"], labels["risk_level"]): value
        for labels, value in scrape.series("kb4_user_events_24h")
    }


def assert_healthy(scrape: Scrape) -> None:
    assert scrape.up() == 1
    assert scrape.sources_down() == set()
    assert scrape.truncated() == set()
    assert user_event_counts(scrape), "the simulated org has events in the last day"


@pytest.mark.parametrize("case", PARAMS)
def test_user_event_fault(
    case: EventCase,
    sim: SimulatorServer,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    exporter = exporter_on(sim, clock, case)
    try:
        exporter.refresh()
        healthy = exporter.scrape()
        assert_healthy(healthy)

        clock.advance(PAUSE)
        sim.set_faults([case.fault])
        caplog.clear()
        slept = clock.slept
        exporter.refresh()
        faulted = exporter.scrape()
        lines = [record.getMessage() for record in exporter_records(caplog.records)]

        assert faulted.kris() == healthy.kris()
        assert user_event_counts(faulted) == user_event_counts(healthy), "last good counts kept"
        down = {SOURCE} if case.reason else set()
        assert faulted.sources_down() == down
        assert faulted.value("kb4_source_up", account=ACCOUNT, source=SOURCE) == (
            0 if case.reason else 1
        )
        assert faulted.up() == (0 if case.reason else 1)
        errors = faulted.refresh_errors()
        expected_errors = {(SOURCE, case.reason): 1} if case.reason else {}
        assert added(errors, healthy.refresh_errors()) == expected_errors
        stamps_before, stamps_after = healthy.last_success(), faulted.last_success()
        for source, stamp in stamps_after.items():
            if source in down:
                assert stamp == stamps_before[source], f"{source} must show its data's age"
            else:
                assert stamp > stamps_before[source], f"{source} was refreshed"
        for api in ("reporting", "phisher"):
            codes = added(faulted.requests_by_code(api), healthy.requests_by_code(api))
            assert set(codes) == {"200"}, f"the {api} API saw no fault"
        if case.reason is None:
            assert lines == []
            codes = added(faulted.requests_by_code(SOURCE), healthy.requests_by_code(SOURCE))
            assert {code: codes.get(code) for code in case.absorbed_codes} == case.absorbed_codes
        else:
            assert len(lines) == 1, lines
            assert f"source={SOURCE}" in lines[0]
            assert f"reason={case.reason}" in lines[0]
            # The endpoint is named, relative to the API's base URL or in full.
            assert EVENTS_PATH in lines[0]
        remaining = faulted.value("kb4_api_budget_remaining", account=ACCOUNT, api=SOURCE)
        assert remaining is not None and remaining >= 0
        assert clock.slept - slept >= case.min_backoff
        assert sim.user_events_token not in caplog.text

        sim.set_faults([])
        clock.advance(PAUSE)
        caplog.clear()
        exporter.refresh()
        healed = exporter.scrape()
        assert_healthy(healed)
        assert healed.kris() == healthy.kris()
        assert user_event_counts(healed) == user_event_counts(healthy)
        assert healed.refresh_errors() == errors
        assert exporter_records(caplog.records) == []
    finally:
        exporter.close()
