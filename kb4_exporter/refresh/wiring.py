"""Wiring of one configured account: paced sessions, clients, refresher and its state file."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from kb4_exporter import __version__
from kb4_exporter.api.deadline import Alarm, thread_alarm
from kb4_exporter.api.errors import AuthError
from kb4_exporter.api.http import DEFAULT_READ_TIMEOUT, REQUEST_DEADLINE_SECONDS, PacedSession
from kb4_exporter.api.pacing import RateLimiter, RequestLedger
from kb4_exporter.api.phisher import PhisherClient
from kb4_exporter.api.reporting import ReportingClient
from kb4_exporter.api.user_events import UserEventsClient
from kb4_exporter.config.secrets import Secret, SecretError
from kb4_exporter.config.settings import AccountConfig, Settings
from kb4_exporter.kris.breakdowns import BreakdownLimits
from kb4_exporter.logs import register_secret
from kb4_exporter.persistence.state_codec import AccountState
from kb4_exporter.persistence.state_dir_lock import StateDirBusyError, lock_state_dir
from kb4_exporter.persistence.state_file import (
    read_state,
    remove_stale_temp_files,
    state_path,
    write_state,
)
from kb4_exporter.refresh.account import AccountRefresher
from kb4_exporter.refresh.settings import RefreshSettings
from kb4_exporter.refresh.views import AccountView, ApiUsage

log = logging.getLogger(__name__)

# The exit status of a state dir another exporter holds: a configuration error, as for any
# other setting that cannot work.
EXIT_STATE_DIR_BUSY = 2

# Extra seconds on each pacing window, so latency jitter between us and KnowBe4 never
# lets the server see one request too many in its window (each 429 costs budget).
PACING_GUARD_SECONDS = 0.25


@dataclass
class AccountRuntime:
    config: AccountConfig
    refresher: AccountRefresher
    sessions: tuple[PacedSession, ...]
    ledgers: dict[str, RequestLedger]
    state_file: Path | None
    clock: Callable[[], float]
    # Task ("core", "phisher", "user_events") -> how long one refresh of it may run: its
    # refresh interval (see build_runtime). A refresh still running then would hold up the
    # next one.
    refresh_seconds: Mapping[str, float] = field(default_factory=dict)
    # Kept here, not in the refresher's results: at shutdown the main thread saves while
    # a refresh may still publish, and a counter in the results could undo that publish.
    state_write_errors: int = 0
    _errors_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # PhishER refreshes run on a thread of their own: one save at a time, so the file
    # written last holds the newest results.
    _save_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def view(self) -> AccountView:
        apis = []
        for session in self.sessions:
            stats = session.stats()
            apis.append(
                ApiUsage(
                    api=session.api,
                    requests_by_code=stats.requests_by_code,
                    throttled=stats.throttled,
                    budget_limit=session.budget_limit(),
                    budget_remaining=session.budget_remaining(),
                )
            )
        return AccountView(self.refresher.results, tuple(apis), self.state_write_errors)

    def refresh_core(self) -> bool:
        with self._refresh_deadline("core"):
            return self.refresher.refresh_core()

    def refresh_phisher(self) -> bool:
        with self._refresh_deadline("phisher"):
            return self.refresher.refresh_phisher()

    def refresh_phisher_unresolved(self) -> bool:
        with self._refresh_deadline("phisher_unresolved"):
            return self.refresher.refresh_phisher_unresolved()

    def refresh_user_events(self) -> bool:
        with self._refresh_deadline("user_events"):
            return self.refresher.refresh_user_events()

    @contextmanager
    def _refresh_deadline(self, task: str) -> Iterator[None]:
        """No request of the refresh is sent after its deadline, and none runs past it."""
        seconds = self.refresh_seconds.get(task)
        with ExitStack() as stack:
            if seconds is not None:
                at = self.clock() + seconds
                for session in self.sessions:
                    stack.enter_context(session.refresh_deadline(at))
            yield

    def load_state(self) -> bool:
        """Take the state dir (see `hold_state_dir`), then adopt the persisted state, if
        any; True when data was loaded. `serve` and `once` call this before anything else;
        `check`, which keeps no state, never does."""
        if self.state_file is None:
            return False
        hold_state_dir(str(self.state_file.parent))
        removed = remove_stale_temp_files(self.state_file, self.clock())
        if removed:
            log.info(
                "removed %d temporary state files left by an interrupted write",
                removed,
                extra={"account": self.config.name},
            )
        state = read_state(self.state_file, self.config.name)
        if state is None:
            return False
        for api, stamps in state.ledgers.items():
            if api in self.ledgers:
                self.ledgers[api].restore(stamps)
        self.refresher.restore(state.snapshot, state.sources, state.recipient_cache)
        log.info(
            "loaded state from %s (%d PSTs' recipients cached)",
            self.state_file,
            len(state.recipient_cache),
            extra={"account": self.config.name},
        )
        return True

    def save_state(self) -> None:
        """Persist data and ledgers; a failure is logged and counted, never fatal."""
        if self.state_file is None:
            return
        with self._save_lock:
            self._save_state(self.state_file)

    def _save_state(self, state_file: Path) -> None:
        results = self.refresher.results
        state = AccountState(
            snapshot=results.snapshot,
            sources=dict(results.sources),
            recipient_cache=dict(self.refresher.recipient_cache),
            ledgers={api: ledger.timestamps() for api, ledger in self.ledgers.items()},
            saved_at=self.clock(),
        )
        try:
            write_state(state_file, state, self.config.name)
        except OSError as err:
            with self._errors_lock:
                self.state_write_errors += 1
            log.error(
                "cannot write state file %s: %s; the previous file is kept",
                state_file,
                err.strerror or err,
                extra={"account": self.config.name},
            )


def hold_state_dir(state_dir: str) -> None:
    """Take the state dir for this process before anything else happens; exit when
    another exporter has it. A dir that cannot be locked at all (read-only, without a
    lock file) is no reason not to start: its state cannot be written either."""
    try:
        lock_state_dir(state_dir)
    except StateDirBusyError as err:
        log.error("%s", err)
        raise SystemExit(EXIT_STATE_DIR_BUSY) from None
    except OSError as err:
        log.warning(
            "cannot lock state dir %s (%s); another exporter on it would go unnoticed",
            state_dir,
            err.strerror or err,
        )


def token_reader(secret: Secret, api: str) -> Callable[[], str]:
    """Reads the token on each request (files rotate); an unreadable token is an auth failure."""

    def read() -> str:
        try:
            token = secret.read()
        except SecretError as err:
            raise AuthError(f"{api}: cannot read the API token: {err}") from None
        register_secret(token)
        return token

    return read


def build_runtime(
    account: AccountConfig,
    settings: Settings,
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    max_attempts: int = 5,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    alarm: Alarm = thread_alarm,
) -> AccountRuntime:
    ledgers: dict[str, RequestLedger] = {}
    sessions: list[PacedSession] = []

    # Daily budgets are the refresher's to set: they follow the seats /v1/account reports.
    def session(api: str, base_url: str, token: Callable[[], str]) -> PacedSession:
        ledger = RequestLedger(clock=clock)
        ledgers[api] = ledger
        limiter = RateLimiter(
            per_second=account.requests_per_second,
            per_minute=account.requests_per_minute,
            clock=clock,
            sleep=sleep,
            guard=PACING_GUARD_SECONDS,
        )
        paced = PacedSession(
            max_attempts=max_attempts,
            read_timeout=read_timeout,
            api=api,
            base_url=base_url,
            token=token,
            limiter=limiter,
            ledger=ledger,
            clock=clock,
            sleep=sleep,
            alarm=alarm,
            user_agent=f"kb4_exporter/{__version__}",
        )
        sessions.append(paced)
        return paced

    caps = account.page_caps
    reporting_token = token_reader(account.api_token, "reporting")
    reporting_session = session("reporting", account.base_url, reporting_token)
    reporting = ReportingClient(reporting_session, caps)
    phisher = None
    if account.phisher is not None:
        phisher_token = token_reader(account.phisher.token, "phisher")
        # PhishER publishes no limits; it gets the Reporting API's as a guide.
        phisher_session = session("phisher", account.phisher.url, phisher_token)
        phisher = PhisherClient(
            phisher_session,
            max_pages=caps.get("phisher"),
            unresolved_max_pages=caps.get("phisher_unresolved"),
        )
    user_events = None
    if account.user_events is not None:
        events_token = token_reader(account.user_events.token, "user_events")
        # Its quota (ten calls per seat) is set once /v1/account has given the seats.
        events_session = session("user_events", account.user_events.url, events_token)
        user_events = UserEventsClient(events_session, max_pages=caps.get("user_events"))
    refresher = AccountRefresher(
        name=account.name,
        region=account.region,
        reporting=reporting,
        phisher=phisher,
        user_events=user_events,
        settings=RefreshSettings(
            remedial_pattern=settings.remedial_pattern,
            phisher_lookback=settings.phisher_lookback,
            refresh_interval=settings.refresh_interval,
            phisher_refresh_interval=settings.phisher_refresh_interval,
            phisher_unresolved_interval=settings.phisher_unresolved_interval,
            phisher_unresolved_horizon=settings.phisher_unresolved_horizon,
            daily_budget=account.daily_budget,
            limits=BreakdownLimits(
                max_groups=settings.max_groups,
                max_psts=settings.max_psts,
                max_campaigns=settings.max_campaigns,
                max_event_types=settings.max_event_types,
            ),
        ),
        clock=clock,
    )
    state_file = state_path(settings.state_dir, account.name) if settings.state_dir else None
    # A refresh may run as long as its interval, and never less long than one request may:
    # a shorter interval (a demo, a test) must not cut a request within its own deadline.
    refresh_seconds = {
        task: max(interval, REQUEST_DEADLINE_SECONDS)
        for task, interval in (
            ("core", settings.refresh_interval),
            ("phisher", settings.phisher_refresh_interval),
            ("phisher_unresolved", settings.phisher_unresolved_interval),
            ("user_events", settings.phisher_refresh_interval),
        )
    }
    return AccountRuntime(
        account, refresher, tuple(sessions), ledgers, state_file, clock, refresh_seconds
    )
