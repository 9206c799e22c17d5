"""Demo mode: the built-in simulator in-process, with one account pointed at it.

The account uses all three simulated APIs (Reporting, PhishER and the User Event API),
so every metric and dashboard panel has data. The simulator is imported only when a demo
starts: other commands, and `--help`, do not pay for loading it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from kb4_exporter.config.secrets import Secret
from kb4_exporter.config.settings import AccountConfig, PhisherConfig, Settings, UserEventsConfig

log = logging.getLogger(__name__)

DEMO_ACCOUNT = "demo"
DEMO_USERS = 1000
DEMO_SEED = 1
# Tokens of the in-process simulator only; they open nothing else.
DEMO_TOKEN = "demo-reporting-token"  # noqa: S105
DEMO_PHISHER_TOKEN = "demo-phisher-token"  # noqa: S105
DEMO_USER_EVENTS_TOKEN = "demo-user-events-token"  # noqa: S105
# What --config.check shows for the simulator's URLs: its port is picked when it starts.
PLANNED_ADDRESS = "<built-in simulator on a free loopback port>"


# The org is generated for one moment; regenerating it keeps its timestamps (the
# PhishER backlog reported 4-24 h ago, the user events of the last day) current when a
# demo runs for days.
REGENERATE_SECONDS = 6 * 3600.0


@contextmanager
def demo_settings(settings: Settings) -> Iterator[Settings]:
    """Start the simulator on a free loopback port; yield settings that use it."""
    from kb4_exporter.simulator.org import OrgSpec, generate_org
    from kb4_exporter.simulator.server import SimulatorServer

    spec = OrgSpec(users=DEMO_USERS, seed=DEMO_SEED)
    server = SimulatorServer(
        generate_org(spec, time.time()),
        token=DEMO_TOKEN,
        phisher_token=DEMO_PHISHER_TOKEN,
        user_events_token=DEMO_USER_EVENTS_TOKEN,
    )
    server.start()
    stop = threading.Event()

    def regenerate() -> None:
        while not stop.wait(REGENERATE_SECONDS):
            server.set_org(generate_org(spec, time.time()))

    threading.Thread(target=regenerate, name="demo-org", daemon=True).start()
    log.info("demo mode: simulated KnowBe4 API at %s", server.base_url)
    account = demo_account(server.base_url, server.phisher_url, server.user_events_url)
    try:
        yield settings.with_accounts((account,))
    finally:
        stop.set()
        server.stop()


def planned_demo_settings(settings: Settings) -> Settings:
    """The settings a demo will run with, for --config.check, without starting it."""
    account = demo_account(PLANNED_ADDRESS, PLANNED_ADDRESS, PLANNED_ADDRESS)
    return settings.with_accounts((account,))


def demo_account(base_url: str, phisher_url: str, user_events_url: str) -> AccountConfig:
    return AccountConfig(
        name=DEMO_ACCOUNT,
        region="us",
        base_url=base_url,
        api_token=Secret.inline(DEMO_TOKEN),
        phisher=PhisherConfig(url=phisher_url, token=Secret.inline(DEMO_PHISHER_TOKEN)),
        user_events=UserEventsConfig(
            url=user_events_url, token=Secret.inline(DEMO_USER_EVENTS_TOKEN)
        ),
    )
