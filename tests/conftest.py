"""Fixtures shared by the test modules: a fake clock and the small fake org on
requests-mock (see tests/kb4_fakes.py)."""

from __future__ import annotations

import kb4_fakes as fakes
import pytest
import requests_mock


@pytest.fixture
def clock() -> fakes.FakeClock:
    return fakes.FakeClock()


@pytest.fixture
def small_org() -> fakes.FakeOrg:
    """The small org of kb4_fakes; a test may change it between refreshes."""
    return fakes.small_org()


@pytest.fixture
def api(requests_mock: requests_mock.Mocker, small_org: fakes.FakeOrg) -> requests_mock.Mocker:
    """`small_org` served like the Reporting API and PhishER."""
    fakes.serve_org(requests_mock, small_org)
    return requests_mock
