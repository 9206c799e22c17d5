"""Fixtures of the reliability suite: the simulated org, a fake clock, a fast simulator."""

from __future__ import annotations

import pytest
from kb4_fakes import FakeClock

from kb4_exporter.simulator import Org
from reliability.harness import START, answer_without_nagle, make_org


@pytest.fixture(scope="session")
def org() -> Org:
    return make_org()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture(autouse=True)
def _fast_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    answer_without_nagle(monkeypatch)
