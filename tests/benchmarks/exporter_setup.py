"""How the benchmarks configure the real exporter: default page caps (none), pacing on or off."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from kb4_exporter.config.secrets import Secret
from kb4_exporter.config.settings import AccountConfig, PhisherConfig, Settings
from kb4_exporter.refresh.results import AccountResults
from kb4_exporter.refresh.wiring import AccountRuntime, build_runtime
from kb4_exporter.simulator.server import DEFAULT_PHISHER_TOKEN, DEFAULT_TOKEN, SimulatorServer

ACCOUNT = "bench"
# "Pacing off": limits no benchmark comes near, and a budget no loop of refreshes exhausts.
UNPACED_PER_SECOND = 100_000.0
UNPACED_PER_MINUTE = 10_000_000
UNPACED_DAILY_BUDGET = 100_000_000
REAL_PER_SECOND = 4.0
REAL_PER_MINUTE = 50


def account_config(
    *,
    base_url: str,
    phisher_url: str,
    paced: bool,
    token: str = DEFAULT_TOKEN,
    phisher_token: str = DEFAULT_PHISHER_TOKEN,
) -> AccountConfig:
    """Paced: KnowBe4's limits and the default budget (2000 + seats). Else no limits."""
    return AccountConfig(
        name=ACCOUNT,
        region="us",
        base_url=base_url,
        api_token=Secret.inline(token),
        phisher=PhisherConfig(phisher_url, Secret.inline(phisher_token)),
        requests_per_second=REAL_PER_SECOND if paced else UNPACED_PER_SECOND,
        requests_per_minute=REAL_PER_MINUTE if paced else UNPACED_PER_MINUTE,
        daily_budget=None if paced else UNPACED_DAILY_BUDGET,
    )


def simulator_account(simulator: SimulatorServer, *, paced: bool) -> AccountConfig:
    """The account that reads an in-process simulator."""
    return account_config(
        base_url=simulator.base_url,
        phisher_url=simulator.phisher_url,
        token=simulator.token,
        phisher_token=simulator.phisher_token,
        paced=paced,
    )


@contextmanager
def running_exporter(
    account: AccountConfig,
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    state_dir: str | None = None,
) -> Iterator[AccountRuntime]:
    """The exporter's runtime for `account`; its HTTP sessions close on leaving."""
    settings = Settings(accounts=(account,), state_dir=state_dir)
    runtime = build_runtime(account, settings, clock=clock, sleep=sleep)
    try:
        yield runtime
    finally:
        for session in runtime.sessions:
            session.close()


def truncated_sources(results: AccountResults) -> tuple[str, ...]:
    return tuple(sorted(name for name, status in results.sources.items() if status.truncated))
