"""`kb4-exporter simulate`: serve the simulated KnowBe4 APIs until interrupted."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType

import click

from .faults import KINDS, Fault
from .org import OrgSpec, generate_org
from .pacing import PacingLimits
from .routes import CURSOR, PAGINATIONS
from .server import (
    DEFAULT_PHISHER_TOKEN,
    DEFAULT_TOKEN,
    DEFAULT_USER_EVENTS_TOKEN,
    SimulatorServer,
)


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT`, `:PORT` (loopback) or `[IPv6]:PORT` -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


def _listen_option(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, int]:
    try:
        return parse_listen(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


def _fault_option(
    ctx: click.Context, param: click.Parameter, values: Sequence[str]
) -> tuple[Fault, ...]:
    try:
        return tuple(Fault.parse(value) for value in values)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


def _limit(value: int) -> int | None:
    return value or None


@click.command(
    "simulate",
    # Every flag also reads an environment variable: KB4_SIMULATOR_<FLAG>, e.g.
    # KB4_SIMULATOR_USERS for --users.
    context_settings={"auto_envvar_prefix": "KB4_SIMULATOR", "show_default": True},
    help=(
        "Serve a simulated KnowBe4 Reporting API, PhishER GraphQL API and User Event API "
        "over a generated org, with the real APIs' pacing limits, for demos, tests and "
        "benchmarks. Every flag also reads an environment variable, KB4_SIMULATOR_ and the "
        "flag's name, e.g. KB4_SIMULATOR_USERS for --users."
    ),
)
@click.option(
    "--listen",
    default="127.0.0.1:8080",
    show_default=True,
    envvar="KB4_SIMULATOR_LISTEN",
    callback=_listen_option,
    help="HOST:PORT to listen on (port 0 picks a free one).",
)
@click.option("--users", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same org.")
@click.option(
    "--phisher-backlog",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="HIGH/CRITICAL unresolved PhishER messages reported 4-24 h ago.",
)
@click.option(
    "--training-history-quarters",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Past quarterly training campaigns for every user (12: three years of them).",
)
@click.option(
    "--now",
    type=float,
    default=None,
    help="Epoch seconds to generate the org for [default: the start time].",
)
@click.option(
    "--latency", type=click.FloatRange(min=0), default=0.0, show_default=True, help="Seconds."
)
@click.option(
    "--per-second", type=click.IntRange(min=0), default=4, show_default=True, help="0: no limit."
)
@click.option(
    "--per-minute", type=click.IntRange(min=0), default=50, show_default=True, help="0: no limit."
)
@click.option(
    "--daily-budget",
    type=click.IntRange(min=0),
    default=None,
    help=(
        "Requests per token per 24 h [default: 2000 + seats; the User Event API token "
        "10 per seat]; 0: no limit."
    ),
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    callback=_fault_option,
    metavar="KIND[:ARG]:PATH[:COUNT]",
    help=(f"Inject failures (repeatable), e.g. status:503:/v1/users:3. Kinds: {', '.join(KINDS)}."),
)
@click.option(
    "--pagination",
    type=click.Choice(PAGINATIONS),
    default=CURSOR,
    show_default=True,
    help=(
        "How Reporting API listings page: cursor (X-Next-Cursor header, as the API does "
        "since 2026; page is ignored) or page (the legacy page/per_page contract)."
    ),
)
@click.option("--token", default=DEFAULT_TOKEN, envvar="KB4_SIMULATOR_TOKEN", show_default=True)
@click.option(
    "--phisher-token",
    default=DEFAULT_PHISHER_TOKEN,
    envvar="KB4_SIMULATOR_PHISHER_TOKEN",
    show_default=True,
)
@click.option(
    "--user-events-token",
    default=DEFAULT_USER_EVENTS_TOKEN,
    envvar="KB4_SIMULATOR_USER_EVENTS_TOKEN",
    show_default=True,
)
def simulate(
    listen: tuple[str, int],
    users: int,
    seed: int,
    phisher_backlog: int,
    training_history_quarters: int,
    now: float | None,
    latency: float,
    per_second: int,
    per_minute: int,
    daily_budget: int | None,
    faults: tuple[Fault, ...],
    pagination: str,
    token: str,
    phisher_token: str,
    user_events_token: str,
) -> None:
    started = time.monotonic()
    spec = OrgSpec(
        users=users,
        seed=seed,
        phisher_backlog=phisher_backlog,
        training_history_quarters=training_history_quarters,
    )
    org = generate_org(spec, time.time() if now is None else now)
    limits = PacingLimits(_limit(per_second), _limit(per_minute), daily_budget)
    server = SimulatorServer(
        org,
        token=token,
        phisher_token=phisher_token,
        user_events_token=user_events_token,
        limits=limits,
        latency=latency,
        faults=faults,
        pagination=pagination,
        host=listen[0],
        port=listen[1],
    )
    try:
        server.start()
    except OSError as error:
        raise click.ClickException(f"cannot listen on {listen[0]}:{listen[1]}: {error}") from None
    click.echo(
        f"Simulated org: {users} users, seed {seed}, generated in "
        f"{time.monotonic() - started:.1f} s\n"
        f"Reporting API:   {server.base_url}  (token: {token})\n"
        f"PhishER GraphQL: {server.phisher_url}  (token: {phisher_token})\n"
        f"User Event API:  {server.user_events_url}  (token: {user_events_token})\n"
        f"Limits per token: {per_second or 'no limit'}/s, {per_minute or 'no limit'}/min, "
        f"{_per_day(server.daily_budget)}/day (Reporting, PhishER), "
        f"{_per_day(server.user_events_daily_budget)}/day (User Event API)"
        + f"; listings page by {pagination}"
        + (f"; faults: {len(faults)}" if faults else "")
        + "\nPress Ctrl+C to stop.",
    )
    try:
        wait_for_signal()
    finally:
        server.stop()


def _per_day(budget: int | None) -> str:
    return "no limit" if budget is None else str(budget)


def wait_for_signal(ready: Callable[[], None] | None = None) -> None:
    """Block until SIGINT or SIGTERM; `ready` runs once the handlers are in place."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if ready is not None:
            ready()
        while not stop.wait(1.0):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
