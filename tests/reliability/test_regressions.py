"""Regression tests of the bugs the reliability suite found, one per fix, on small fakes."""

from __future__ import annotations

import re
from pathlib import Path

import kb4_fakes as fakes
import pytest
import requests_mock
from prometheus_client.exposition import generate_latest

from kb4_exporter.commands.runtimes import build_registry
from kb4_exporter.config.settings import Settings
from kb4_exporter.kris.specs import KriValue
from kb4_exporter.kris.values import compute_kris
from kb4_exporter.model.reporting import User
from kb4_exporter.model.snapshot import Snapshot
from kb4_exporter.persistence.state_file import read_state, state_path
from kb4_exporter.refresh.recipients import OPEN_PST_RECIPIENTS_MAX_AGE
from kb4_exporter.refresh.wiring import AccountRuntime

REMEDIAL = re.compile("remedial", re.IGNORECASE)
OPEN_PST_RECIPIENTS = f"{fakes.BASE_URL}/v1/phishing/security_tests/12/recipients"


def test_failed_recipients_fetch_keeps_that_psts_last_good_recipients(
    api: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    before = runtime.refresher.results
    api.get(OPEN_PST_RECIPIENTS, status_code=503)
    # A day later the open PST's recipients are due to be read again.
    clock.advance(OPEN_PST_RECIPIENTS_MAX_AGE)
    assert not runtime.refresher.refresh_core()
    after = runtime.refresher.results
    assert not after.sources["recipients"].up
    assert after.errors[("recipients", "server_error")] == 1
    # PST 12 is open, so it is fetched again at least daily; its fetch failing must not
    # drop the summary of its last good fetch (repeat clickers would fall from 1 to 0).
    assert after.snapshot.recipients == before.snapshot.recipients
    assert after.kris == before.kris
    assert 12 in runtime.refresher.recipient_cache


def test_429_that_outlasts_the_retries_stops_the_refresh(
    api: requests_mock.Mocker, clock: fakes.FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # KnowBe4's limits are account-wide: once the retries of one call are spent on 429s,
    # every further call of the refresh would be refused too (and each refusal counts).
    api.get(f"{fakes.BASE_URL}/v1/groups", status_code=429)
    runtime = fakes.runtime_for(clock)
    assert not runtime.refresher.refresh_core()
    paths = [request.path for request in api.request_history]
    assert paths == ["/v1/account", "/v1/users"] + ["/v1/groups"] * 5
    results = runtime.refresher.results
    assert results.errors == {("groups", "rate_limited"): 1}
    assert not results.sources["enrollments"].up
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1


@pytest.mark.parametrize("status", [200, 503])
def test_deeply_nested_json_is_a_bad_response_not_a_crash(
    api: requests_mock.Mocker, clock: fakes.FakeClock, status: int
) -> None:
    # The JSON decoder recurses per nesting level: a body nested deeper than the
    # interpreter's recursion limit raises RecursionError, not a ValueError.
    nested = "[" * 100_000 + "]" * 100_000
    api.get(f"{fakes.BASE_URL}/v1/groups", text=nested, status_code=status)
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    results = runtime.refresher.results
    reason = "bad_response" if status == 200 else "server_error"
    assert results.errors == {("groups", reason): 1}
    assert results.sources["users"].up and results.sources["enrollments"].up


def test_phish_prone_percentages_outside_0_to_100_are_ignored(
    api: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    org = fakes.small_org()
    org.users[0]["phish_prone_percentage"] = 150.0  # group 100 only
    org.users[3]["phish_prone_percentage"] = -5.0  # group 200 only
    fakes.serve_org(api, org)
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    values = {kri.spec.slug: kri for kri in runtime.refresher.results.kris}
    # Only user 2 (PPP 30, in both groups) is left: a mean of 0.30, no spread.
    prone = values["kb4_phishing_prone_pct"]
    assert prone.value == pytest.approx(0.30)
    assert prone.sample_size == 1
    assert values["kb4_department_ppp_delta_pct"].value == 0.0


def test_ppp_kris_do_not_depend_on_the_order_of_users() -> None:
    # Plain float sums round differently by order: 0.1 + 0.2 + 0.3 != 0.3 + 0.2 + 0.1.
    users = [
        User(uid, ppp, None, (1,) if uid < 4 else (2,), None, "active")
        for uid, ppp in enumerate([0.1, 0.2, 0.3, 0.0], start=1)
    ]

    def kris(order: list[User]) -> tuple[KriValue, ...]:
        snapshot = Snapshot(users=tuple(order))
        return compute_kris(snapshot, fakes.NOW, remedial_pattern=REMEDIAL, phisher_enabled=False)

    assert kris(users) == kris(list(reversed(users)))


def _saved_state_lines(tmp_path: Path, clock: fakes.FakeClock) -> tuple[Path, list[str]]:
    account = fakes.account_config()
    settings = Settings(accounts=(account,), state_dir=str(tmp_path))
    runtime = fakes.runtime_for(clock, settings=settings, account=account)
    runtime.refresher.refresh_core()
    runtime.refresher.refresh_phisher()
    runtime.save_state()
    path = state_path(str(tmp_path), account.name)
    return path, path.read_text().splitlines()


def _restart(tmp_path: Path, clock: fakes.FakeClock) -> AccountRuntime:
    account = fakes.account_config()
    settings = Settings(accounts=(account,), state_dir=str(tmp_path))
    return fakes.runtime_for(clock, settings=settings, account=account)


@pytest.mark.parametrize(
    ("seats", "risk_score"),
    [("1" + "0" * 400, "31.5"), ("4", "NaN"), ("4", "Infinity")],
    ids=["huge-int-seats", "nan-risk-score", "infinite-risk-score"],
)
def test_state_file_numbers_that_are_no_finite_float_make_it_corrupt(
    api: requests_mock.Mocker,
    clock: fakes.FakeClock,
    tmp_path: Path,
    seats: str,
    risk_score: str,
) -> None:
    # The seats set the budget gauge: 10**400 made every later scrape raise OverflowError.
    # NaN and Infinity (Python's json reads them) would be served as the risk score.
    path, lines = _saved_state_lines(tmp_path, clock)
    account_line = next(i for i, line in enumerate(lines) if line.startswith('["account"'))
    lines[account_line] = f'["account", ["Acme", "Diamond", {seats}, {risk_score}]]'
    path.write_text("\n".join(lines) + "\n")
    restarted = _restart(tmp_path, clock)
    assert not restarted.load_state()
    generate_latest(build_registry([restarted]))


def test_state_file_line_nested_past_the_recursion_limit_is_corrupt_not_fatal(
    api: requests_mock.Mocker, clock: fakes.FakeClock, tmp_path: Path
) -> None:
    path, lines = _saved_state_lines(tmp_path, clock)
    path.write_text(lines[0] + "\n" + "[" * 100_000 + "]" * 100_000 + "\n")
    assert read_state(path, "acme") is None
