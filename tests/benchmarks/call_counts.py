"""API calls per refresh, counted by the simulator: cold, warm and naive.

The simulator runs in this process without pacing, so the counts are exact and quick
to get; timing is measured elsewhere.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from kb4_exporter.simulator.app import PHISHER_PATH
from kb4_exporter.simulator.org import Org
from kb4_exporter.simulator.server import PacingLimits, SimulatorServer

from .exporter_setup import running_exporter, simulator_account, truncated_sources
from .naive_strategy import naive_refresh

RECIPIENTS_ENDPOINT = "/v1/phishing/security_tests/{id}/recipients"


@dataclass(frozen=True)
class RequestCount:
    total: int  # Reporting API requests
    recipients: int

    @classmethod
    def of(cls, counts: Mapping[str, int]) -> RequestCount:
        reporting = sum(n for endpoint, n in counts.items() if endpoint != PHISHER_PATH)
        return cls(reporting, counts.get(RECIPIENTS_ENDPOINT, 0))


@dataclass(frozen=True)
class CallCounts:
    cold: RequestCount
    warm: RequestCount
    naive: RequestCount
    phisher: int  # PhishER requests per PhishER refresh
    truncated: tuple[str, ...]  # sources a page cap cut, in any of the refreshes


def count_calls(org: Org, contract: str) -> CallCounts:
    with SimulatorServer(org, limits=PacingLimits.unlimited(), pagination=contract) as simulator:
        account = simulator_account(simulator, paced=False)
        with running_exporter(account, clock=time.time, sleep=time.sleep) as runtime:
            refresher = runtime.refresher
            simulator.reset_counts()
            refresher.refresh_core()
            cold = RequestCount.of(simulator.request_counts())
            simulator.reset_counts()
            refresher.refresh_phisher()
            phisher = simulator.request_counts().get(PHISHER_PATH, 0)
            simulator.reset_counts()
            refresher.refresh_core()
            warm = RequestCount.of(simulator.request_counts())
            exporter_truncated = truncated_sources(refresher.results)
            simulator.reset_counts()
            naive_truncated = naive_refresh(refresher.reporting, time.time())
            naive = RequestCount.of(simulator.request_counts())
    truncated = tuple(sorted({*exporter_truncated, *naive_truncated}))
    return CallCounts(cold, warm, naive, phisher, truncated)
