"""Regression tests of the bugs the reliability suite found, one per fix, on small fakes."""

from __future__ import annotations

import kb4_fakes as fakes
import pytest
import requests_mock

OPEN_PST_RECIPIENTS = f"{fakes.BASE_URL}/v1/phishing/security_tests/12/recipients"


@pytest.fixture
def clock() -> fakes.FakeClock:
    return fakes.FakeClock()


@pytest.fixture
def api(requests_mock: requests_mock.Mocker) -> requests_mock.Mocker:
    fakes.serve_org(requests_mock, fakes.small_org())
    return requests_mock


def test_failed_recipients_fetch_keeps_that_psts_last_good_recipients(
    api: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    before = runtime.refresher.results
    api.get(OPEN_PST_RECIPIENTS, status_code=503)
    clock.advance(3600)
    assert not runtime.refresher.refresh_core()
    after = runtime.refresher.results
    assert not after.sources["recipients"].up
    assert after.errors[("recipients", "server_error")] == 1
    # PST 12 is open, so it is fetched again each refresh; its fetch failing must not
    # drop the summary of its last good fetch (repeat clickers would fall from 1 to 0).
    assert after.snapshot.recipients == before.snapshot.recipients
    assert after.kris == before.kris
    assert 12 in runtime.refresher.recipient_cache
