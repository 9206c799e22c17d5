"""Fixtures of the reliability suite: the simulated org and a fake clock."""

from __future__ import annotations

import pytest
from kb4_fakes import FakeClock

from kb4_exporter.simulator import Org
from reliability.harness import START, make_org


@pytest.fixture(scope="session")
def org() -> Org:
    return make_org()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)
