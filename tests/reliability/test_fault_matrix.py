"""The fault matrix: one case per API fault, injected by the simulator over loopback.

Each case refreshes the real runtime once healthy, once with the fault and once healed.
After the faulted refresh nothing has escaped, /metrics still renders, the last good KRI
values are still served, exactly the expected sources are down with the expected
`kb4_refresh_errors_total{reason}`, their last-success timestamps still tell the age of
the data, and the exporter logged one line about it at WARNING or above (none when the
retries absorbed the fault). After the healed refresh every source is up again with the
values of the healthy refresh.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kb4_fakes import FakeClock

from kb4_exporter.refresh.results import CORE_SOURCES, TRUNCATABLE_SOURCES
from kb4_exporter.simulator import Fault, Org, PacingLimits, SimulatorServer
from reliability.harness import (
    ACCOUNT,
    Exporter,
    Scrape,
    account_for,
    added,
    exporter_records,
    shifted_clock,
    start_exporter,
)

DAY = 86400.0
GROUPS = "/v1/groups"
ENROLLMENTS = "/v1/training/enrollments"
GRAPHQL = "/graphql"
# Every PST's recipients listing, and nothing else.
RECIPIENTS = "/v1/phishing/security_tests/"
REVOKED_TOKEN = "revoked-reporting-token-0001"
# Reporting calls of one healthy refresh of the test org (see harness.ORG_SPEC).
CALLS_PER_REFRESH = 16
# Between refreshes; the whole case stays well inside the span where KRIs are stable.
PAUSE = 600.0


@dataclass
class World:
    sim: SimulatorServer
    exporter: Exporter
    clock: FakeClock
    token_file: Path
    monkeypatch: pytest.MonkeyPatch
    roll_simulator_day: Callable[[float], None]


@dataclass(frozen=True)
class Case:
    id: str
    faults: tuple[Fault, ...] = ()
    # The source whose refresh fails, and why; None when the retries absorb the fault.
    source: str | None = None
    reason: str | None = None
    # The failure ends the core refresh: the sources after it are not fetched.
    stops: bool = False
    # Sources on the same endpoint that fail the same way in the same refresh.
    shared_with: tuple[str, ...] = ()
    # kb4_api_requests_total codes the absorbed fault adds, and how many of each.
    absorbed_codes: dict[str, int] = field(default_factory=dict)
    # Back-off the exporter must have slept (on the fake clock) during the faulted refresh.
    min_backoff: float = 0.0
    read_timeout: float = 10.0
    limits: PacingLimits = field(default_factory=PacingLimits)
    arm: Callable[[World], None] | None = None
    heal: Callable[[World], None] | None = None
    # The endpoint the log line names; by default the path the fault is injected on.
    endpoint: str = ""
    # The refresh was forewarned in one line that the budget left cannot cover it.
    forewarned: bool = False

    def expected_down(self) -> set[str]:
        if self.source is None:
            return set()
        if not self.stops:
            return {self.source, *self.shared_with}
        return set(CORE_SOURCES[CORE_SOURCES.index(self.source) :])

    def failing(self) -> tuple[str, ...]:
        """The sources whose own refresh failed (each logs and counts its error)."""
        return () if self.source is None else (self.source, *self.shared_with)

    def logged_endpoint(self) -> str:
        return self.endpoint or self.faults[0].path_prefix.rstrip("/")

    def expected_truncated(self) -> set[str]:
        if self.reason != "budget_exhausted":
            return set()
        return self.expected_down() & set(TRUNCATABLE_SOURCES)


def revoke_token_before_enrollments(world: World) -> None:
    """Once, between two calls of a refresh, the token file gets a revoked token."""
    reporting = world.exporter.runtime.refresher.reporting
    fetch = reporting.enrollments
    revoked: list[bool] = []

    def revoke_then_fetch(tally: object) -> object:
        if not revoked:
            revoked.append(True)
            world.token_file.write_text(REVOKED_TOKEN + "\n")
        return fetch(tally)

    world.monkeypatch.setattr(reporting, "enrollments", revoke_then_fetch)


def rotate_token_file(world: World) -> None:
    world.token_file.write_text(world.sim.token + "\n")


def spend_budget_but(left: int) -> Callable[[World], None]:
    """Fill the exporter's ledger (as a restored state file would) to `left` calls from
    its daily budget, with entries that age out five minutes from now."""

    def arm(world: World) -> None:
        runtime = world.exporter.runtime
        reporting = next(s for s in runtime.sessions if s.api == "reporting")
        ledger = runtime.ledgers["reporting"]
        limit = reporting.budget_limit()
        assert limit is not None
        spent = limit - ledger.used() - left
        ledger.restore([world.clock() - DAY + 300.0] * spent)

    return arm


def expire_open_pst_recipients(world: World) -> None:
    """The next refresh re-reads the open PST's recipients, as it does once a day: the
    cache would otherwise spare it the faulted listing within the test's span."""
    world.monkeypatch.setattr("kb4_exporter.refresh.recipients.OPEN_PST_RECIPIENTS_MAX_AGE", 0.0)


def roll_simulator_day(world: World) -> None:
    world.roll_simulator_day(DAY)


def _server_error_cases() -> list[Case]:
    cases = []
    for status in (500, 502, 503):
        cases.append(
            Case(
                f"{status}-burst-absorbed",
                (Fault("status", ENROLLMENTS, count=3, status=status),),
                absorbed_codes={str(status): 3},
                min_backoff=0.5 * (2 + 4 + 8),
            )
        )
        cases.append(
            Case(
                f"{status}-outage",
                (Fault("status", ENROLLMENTS, status=status),),
                source="enrollments",
                reason="server_error",
                min_backoff=0.5 * (2 + 4 + 8 + 16),
            )
        )
    return cases


CASES = [
    Case(
        "429-storm-without-retry-after",
        (Fault("status", GROUPS, status=429),),
        source="groups",
        reason="rate_limited",
        stops=True,
        min_backoff=0.5 * (2 + 4 + 8 + 16),
    ),
    Case(
        "429-storm-with-retry-after",
        (Fault("retry_after", GROUPS, retry_after="30"),),
        source="groups",
        reason="rate_limited",
        stops=True,
        min_backoff=4 * 30,
    ),
    Case(
        "429-retry-after-beyond-the-cap",
        (Fault("retry_after", GROUPS, retry_after="3600"),),
        source="groups",
        reason="rate_limited",
        stops=True,
    ),
    Case(
        "429-burst-absorbed",
        (Fault("status", GROUPS, count=2, status=429),),
        absorbed_codes={"429": 2},
    ),
    Case(
        "429-burst-with-retry-after-absorbed",
        (Fault("retry_after", GROUPS, count=2, retry_after="20"),),
        absorbed_codes={"429": 2},
        min_backoff=2 * 20,
    ),
    Case(
        "daily-budget-spent-at-knowbe4",
        # Room for three calls of the second refresh, then 429s without Retry-After.
        limits=PacingLimits(daily_budget=CALLS_PER_REFRESH + 3),
        source="training_campaigns",
        reason="rate_limited",
        stops=True,
        heal=roll_simulator_day,
        endpoint="/v1/training/campaigns",
    ),
    Case(
        "daily-budget-spent-in-the-exporter-ledger",
        arm=spend_budget_but(3),
        source="training_campaigns",
        reason="budget_exhausted",
        stops=True,
        endpoint="/v1/training/campaigns",
        forewarned=True,
    ),
    *_server_error_cases(),
    Case(
        "recipients-outage",
        (Fault("status", RECIPIENTS, status=503),),
        source="recipients",
        reason="server_error",
        arm=expire_open_pst_recipients,
    ),
    Case(
        "read-timeouts",
        (Fault("timeout", GROUPS, hold_seconds=60),),
        source="groups",
        reason="timeout",
        read_timeout=0.3,
    ),
    Case(
        "read-timeouts-absorbed",
        (Fault("timeout", GROUPS, count=2, hold_seconds=60),),
        absorbed_codes={"timeout": 2},
        read_timeout=0.3,
    ),
    Case(
        "connection-resets",
        (Fault("reset", GROUPS),),
        source="groups",
        reason="connection",
    ),
    Case(
        "connection-resets-absorbed",
        (Fault("reset", GROUPS, count=2),),
        absorbed_codes={"connection": 2},
    ),
    Case(
        "truncated-json",
        (Fault("malformed_json", GROUPS),),
        source="groups",
        reason="bad_response",
    ),
    Case(
        "html-error-page-with-200",
        (Fault("html_200", GROUPS),),
        source="groups",
        reason="bad_response",
    ),
    Case(
        "object-where-a-list-is-expected",
        (Fault("wrong_shape", GROUPS),),
        source="groups",
        reason="bad_response",
    ),
    Case(
        "a-page-that-repeats-forever",
        (Fault("repeat_page", ENROLLMENTS),),
        source="enrollments",
        reason="bad_response",
    ),
    Case(
        "401-mid-refresh-then-rotated-token-file",
        arm=revoke_token_before_enrollments,
        source="enrollments",
        reason="auth",
        stops=True,
        heal=rotate_token_file,
        endpoint=ENROLLMENTS,
    ),
    Case(
        "phisher-down-reporting-fine",
        (Fault("status", GRAPHQL, status=503),),
        source="phisher",
        reason="server_error",
        shared_with=("phisher_unresolved",),
    ),
    Case(
        "phisher-connection-resets-reporting-fine",
        (Fault("reset", GRAPHQL),),
        source="phisher",
        reason="connection",
        shared_with=("phisher_unresolved",),
    ),
]


@contextmanager
def world_for(
    case: Case,
    org: Org,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[World]:
    simulator_clock, roll = shifted_clock(clock)
    with SimulatorServer(org, limits=case.limits, clock=simulator_clock) as sim:
        token_file = tmp_path / "reporting-token"
        token_file.write_text(sim.token + "\n")
        token_file.chmod(0o600)
        account = account_for(sim, token_file=token_file)
        exporter = start_exporter(
            account, clock, state_dir=tmp_path / "state", read_timeout=case.read_timeout
        )
        try:
            yield World(sim, exporter, clock, token_file, monkeypatch, roll)
        finally:
            exporter.close()


def assert_healthy(scrape: Scrape) -> None:
    assert scrape.up() == 1
    assert scrape.sources_down() == set()
    assert scrape.truncated() == set()
    assert None not in scrape.kris().values(), scrape.kris()


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_fault(
    case: Case,
    org: Org,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with world_for(case, org, clock, tmp_path, monkeypatch) as world:
        exporter = world.exporter
        exporter.refresh()
        healthy = exporter.scrape()
        assert_healthy(healthy)
        assert 429 not in world.sim.status_counts(), "the exporter's pacing keeps under limits"

        clock.advance(PAUSE)
        world.sim.set_faults(case.faults)
        if case.arm is not None:
            case.arm(world)
        caplog.clear()
        slept = clock.slept
        exporter.refresh()
        faulted = exporter.scrape()
        lines = [record.getMessage() for record in exporter_records(caplog.records)]

        assert faulted.kris() == healthy.kris(), "the last good values are kept"
        assert faulted.sources_down() == case.expected_down()
        assert faulted.truncated() == case.expected_truncated()
        assert faulted.up() == (0 if case.source else 1)
        errors = faulted.refresh_errors()
        expected_errors = {(source, case.reason): 1 for source in case.failing() if case.reason}
        assert added(errors, healthy.refresh_errors()) == expected_errors
        stamps_before, stamps_after = healthy.last_success(), faulted.last_success()
        for source, stamp in stamps_after.items():
            if source in case.expected_down():
                assert stamp == stamps_before[source], f"{source} must show its data's age"
            else:
                assert stamp > stamps_before[source], f"{source} was refreshed"
        if case.source is None:
            assert lines == []
            codes = added(
                faulted.requests_by_code("reporting"), healthy.requests_by_code("reporting")
            )
            assert {code: codes.get(code) for code in case.absorbed_codes} == case.absorbed_codes
        else:
            if case.forewarned:
                warning, *lines = lines
                assert warning.startswith("the last complete refresh took "), warning
            assert len(lines) == len(case.failing()), lines
            for source, line in zip(case.failing(), lines, strict=True):
                assert f"source={source}" in line
                assert f"reason={case.reason}" in line
                assert case.logged_endpoint() in line
        remaining = faulted.value("kb4_api_budget_remaining", account=ACCOUNT, api="reporting")
        assert remaining is not None and remaining >= 0
        if case.reason == "budget_exhausted":
            assert remaining == 0
        assert clock.slept - slept >= case.min_backoff
        assert world.sim.token not in caplog.text
        assert REVOKED_TOKEN not in caplog.text

        world.sim.set_faults([])
        if case.heal is not None:
            case.heal(world)
        clock.advance(PAUSE)
        caplog.clear()
        exporter.refresh()
        healed = exporter.scrape()
        assert_healthy(healed)
        assert healed.kris() == healthy.kris()
        assert healed.refresh_errors() == errors
        assert exporter_records(caplog.records) == []
