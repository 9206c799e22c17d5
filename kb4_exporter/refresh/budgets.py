"""Daily request budgets that follow the account's seats.

KnowBe4 allows 2,000 requests a day plus one per seat (Reporting API; PhishER gets the
same as a guide) and ten per seat for the User Event API. Until /v1/account has given
the seats, the seatless base caps the calls: an account endpoint that fails (403 on
some tenants) must not leave them uncapped. A configured --kb4.daily-budget wins for the
Reporting API and PhishER.
"""

from __future__ import annotations

from kb4_exporter.api.http import PacedSession
from kb4_exporter.config.settings import BASE_DAILY_BUDGET

# The User Event API allows ten calls per seat per day.
USER_EVENT_CALLS_PER_SEAT = 10


def reporting_budget(configured: int | None, seats: int | None) -> int:
    """The daily budget of the Reporting API and PhishER: the configured one, else the
    base plus one per seat (the base alone while the seats are unknown)."""
    return configured if configured is not None else BASE_DAILY_BUDGET + (seats or 0)


class SeatBudgets:
    def __init__(
        self,
        configured: int | None,
        reporting: PacedSession,
        phisher: PacedSession | None,
        user_events: PacedSession | None,
    ) -> None:
        self._configured = configured
        self._paced_by_seats = [s for s in (reporting, phisher) if s is not None]
        self._user_events = user_events
        for session in self._paced_by_seats:
            session.set_daily_budget(reporting_budget(configured, None))

    def apply(self, seats: int | None) -> None:
        """The budgets of an account with `seats` (None: unknown)."""
        if self._configured is None:
            for session in self._paced_by_seats:
                session.set_daily_budget(reporting_budget(None, seats))
        if self._user_events is not None and seats:
            self._user_events.set_daily_budget(USER_EVENT_CALLS_PER_SEAT * seats)
