"""One attempt at one request: sent, and its body read, within a deadline.

Every limit on what a server can make the exporter hold is explicit (README, "Limits on
what KnowBe4 can send"): each wait for the socket (connect and read timeouts), the
attempt as a whole (its deadline, see `deadline.py`) and its body, on the wire and after
decompression (see `body.py`). Redirects are not followed: the token goes to the
configured host only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
import urllib3

from kb4_exporter.api.body import ACCEPT_ENCODING, BodyTooLargeError, read_body
from kb4_exporter.api.deadline import Alarm, DeadlineAdapter, watched_request
from kb4_exporter.api.errors import ApiTimeoutError
from kb4_exporter.api.outcomes import (
    Call,
    Failure,
    Received,
    body_too_large_failure,
    deadline_failure,
    transport_failure,
)
from kb4_exporter.api.usage import RequestCounter


class Transport:
    """Sends attempts over one requests session and counts each by its outcome."""

    def __init__(
        self,
        *,
        session: requests.Session | None,
        timeout: tuple[float, float],
        alarm: Alarm,
        user_agent: str,
        counter: RequestCounter,
    ) -> None:
        self._owns_session = session is None
        self._session = session if session is not None else _deadline_session()
        self._timeout = timeout  # (connect, read) seconds
        self._alarm = alarm
        self._user_agent = user_agent
        self._counter = counter

    def send(
        self,
        call: Call,
        token: str,
        *,
        params: Mapping[str, str | int] | None,
        body: Mapping[str, Any] | None,
        seconds: float,
    ) -> Received | Failure:
        """One attempt, over within `seconds` whatever the server does."""
        response: requests.Response | None = None
        outcome: Received | Failure
        with watched_request(self._alarm, seconds) as watchdog:
            try:
                response = self._session.request(
                    call.method,
                    call.url,
                    params=params,
                    json=body,
                    headers=self._headers(token),
                    timeout=self._timeout,
                    allow_redirects=False,
                    stream=True,
                )
                with response:
                    outcome = Received(response, read_body(response))
            # The body is read from urllib3 directly: its errors are not wrapped by requests.
            except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
                outcome = transport_failure(exc, self._timeout)
            except BodyTooLargeError:
                outcome = body_too_large_failure()
            expired = watchdog.expired
        if expired:
            # Whatever the read made of the connection shut under it, it is a timeout.
            outcome = deadline_failure(seconds)
        self._counter.count(_counted_as(response, outcome))
        return outcome

    def close(self) -> None:
        """Release pooled connections (of a session this object created)."""
        if self._owns_session:
            self._session.close()

    def _headers(self, token: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "Accept-Encoding": ACCEPT_ENCODING,
            "User-Agent": self._user_agent,
        }


def _counted_as(response: requests.Response | None, outcome: Received | Failure) -> int | str:
    """The attempt's status, or what kept it from getting one."""
    if response is not None:
        return response.status_code
    timed_out = isinstance(outcome, Failure) and issubclass(outcome.error_type, ApiTimeoutError)
    return "timeout" if timed_out else "connection"


def _deadline_session() -> requests.Session:
    session = requests.Session()
    adapter = DeadlineAdapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
