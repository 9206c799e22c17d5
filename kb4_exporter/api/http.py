"""The paced, retrying HTTP session every KnowBe4 call goes through.

Each attempt, retries included, passes the daily budget check, the rate limiter and the
ledger before it is sent, so the exporter's own count matches what KnowBe4 charges.
`PacedSession` composes the parts that do one job each: the budget and request counts
(`usage.py`), the pace and ledger (`pacing.py`), the deadlines (`deadline.py`), one
attempt within its limits (`transport.py`, `body.py`), what an attempt came to and how
it is worded (`outcomes.py`) and whether it is tried again (`retry.py`).
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import requests

from kb4_exporter import __version__
from kb4_exporter.api.deadline import Alarm, RefreshDeadline, thread_alarm
from kb4_exporter.api.errors import AuthError
from kb4_exporter.api.outcomes import (
    MAX_QUOTED_CHARS,
    Call,
    Failure,
    api_error,
    decode_json,
    not_json_failure,
    quoted,
    status_failure,
)
from kb4_exporter.api.pacing import Clock, RateLimiter, RequestLedger, Sleep
from kb4_exporter.api.redaction import redact
from kb4_exporter.api.retry import GiveUp, RetryPolicy
from kb4_exporter.api.transport import Transport
from kb4_exporter.api.usage import ApiStatsSnapshot, DailyBudget, RequestCounter
from kb4_exporter.config.secrets import unsendable_reason

logger = logging.getLogger(__name__)

DEFAULT_USER_AGENT: Final = f"kb4_exporter/{__version__}"
DEFAULT_CONNECT_TIMEOUT: Final = 10.0
DEFAULT_READ_TIMEOUT: Final = 60.0
# A whole request, connect to last byte of the body: well over any real page, well under
# what a server trickling bytes could otherwise hold a refresh for.
REQUEST_DEADLINE_SECONDS: Final = 120.0


@dataclass(frozen=True)
class JsonReply:
    """A decoded JSON body with the response headers the callers read (e.g. paging)."""

    body: Any
    headers: Mapping[str, str]


class RequestToken:
    """The API token, read afresh for every attempt (token files are rotated while the
    exporter runs), and the latest one read, to redact what servers echo of it."""

    def __init__(self, api: str, read: Callable[[], str]) -> None:
        self._api = api
        self._read = read
        self.latest = ""

    def read(self, call: Call) -> str:
        token = self._read().strip()
        # The same rule as configuration checks (`unsendable_reason`). Never echo the
        # value: requests would put it in an InvalidHeader message.
        if unsendable_reason(token):
            raise AuthError(
                f"{call.where}: the {self._api} API token is empty or contains spaces, "
                "control or non-ASCII characters; check the token file or variable",
                endpoint=call.endpoint,
            )
        self.latest = token
        return token


class PacedSession:
    """One HTTP session for one KnowBe4 API ("reporting" or "phisher").

    Safe for one thread making requests while others read `stats()` and the budget.
    """

    def __init__(
        self,
        *,
        api: str,
        base_url: str,
        token: Callable[[], str],
        limiter: RateLimiter,
        ledger: RequestLedger,
        clock: Clock,
        sleep: Sleep,
        daily_budget: int | None = None,
        session: requests.Session | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        request_deadline: float = REQUEST_DEADLINE_SECONDS,
        alarm: Alarm = thread_alarm,
        max_attempts: int = 5,
        backoff_base: float = 2.0,
        backoff_max: float = 120.0,
        max_retry_after: float = 900.0,
        rng: random.Random | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
    ) -> None:
        if not api:
            raise ValueError("api must name the API, e.g. 'reporting'")
        if not base_url.startswith(("https://", "http://")):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        for name, value in (
            ("connect_timeout", connect_timeout),
            ("read_timeout", read_timeout),
            ("request_deadline", request_deadline),
            ("backoff_base", backoff_base),
            ("backoff_max", backoff_max),
            ("max_retry_after", max_retry_after),
        ):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        self.api = api
        self._base_url = base_url
        self._token = RequestToken(api, token)
        self._limiter = limiter
        self._ledger = ledger
        self._clock = clock
        self._sleep = sleep
        self._budget = DailyBudget(ledger, daily_budget)
        self._counter = RequestCounter()
        self._deadline = RefreshDeadline(clock, request_deadline)
        self._transport = Transport(
            session=session,
            timeout=(connect_timeout, read_timeout),
            alarm=alarm,
            user_agent=user_agent,
            counter=self._counter,
        )
        self._retry = RetryPolicy(
            max_attempts=max_attempts,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            max_retry_after=max_retry_after,
            rng=rng if rng is not None else random.Random(),  # noqa: S311 - jitter, not crypto
        )

    # --- public interface ---------------------------------------------------------

    def get_json(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        """GET `path` (relative to the base URL) and return the decoded JSON body."""
        return self._request("GET", path, params=params).body

    def get_reply(self, path: str, params: Mapping[str, str | int] | None = None) -> JsonReply:
        """GET `path` and return the decoded JSON body with the response headers."""
        return self._request("GET", path, params=params)

    def post_json(self, path: str, body: Mapping[str, Any]) -> Any:
        """POST a JSON body to `path` ("" for the base URL itself, e.g. GraphQL)."""
        return self._request("POST", path, body=body).body

    def set_daily_budget(self, budget: int | None) -> None:
        """Set the rolling 24 h request budget, once `/v1/account` has told the seats."""
        self._budget.set_limit(budget)

    def budget_limit(self) -> int | None:
        return self._budget.limit()

    def budget_remaining(self) -> int | None:
        """Requests left in the rolling window by our own ledger; None until the budget is known."""
        return self._budget.remaining()

    def stats(self) -> ApiStatsSnapshot:
        return self._counter.snapshot()

    @contextmanager
    def refresh_deadline(self, at: float) -> Iterator[None]:
        """Until the block ends, no request is sent after `at` (epoch seconds) and none
        runs past it: a refresh that cannot finish by then fails with `timeout`."""
        with self._deadline.until(at):
            yield

    def quote_server_text(self, text: str, limit: int = MAX_QUOTED_CHARS) -> str:
        """Server-provided `text` made fit to quote in a message: the token of the latest
        request redacted (whole or cut off), then on one line and at most `limit` chars."""
        return quoted(text, self._token.latest, limit)

    def close(self) -> None:
        """Release pooled connections (of a session this object created)."""
        self._transport.close()

    def __repr__(self) -> str:
        return f"PacedSession(api={self.api!r}, base_url={self._base_url!r})"

    # --- one call: attempts and the waits between them -------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> JsonReply:
        call = Call(self.api, method, self._url(path))
        attempt = 1
        while True:
            outcome = self._attempt(call, params, body)
            if isinstance(outcome, JsonReply):
                return outcome
            wait = self._retry.next_wait(
                attempt,
                retryable=outcome.retryable,
                retry_after=outcome.retry_after,
                wait_fits=self._deadline.allows_wait,
            )
            if isinstance(wait, GiveUp):
                raise api_error(
                    call, outcome, attempts=attempt, token=self._token.latest, note=wait.note
                )
            self._log_retry(call, outcome, attempt, wait)
            self._sleep(wait)
            attempt += 1

    def _attempt(
        self,
        call: Call,
        params: Mapping[str, str | int] | None,
        body: Mapping[str, Any] | None,
    ) -> JsonReply | Failure:
        """One attempt: admitted by the budget, token, pace and deadline, then sent."""
        self._budget.ensure_room(call)
        token = self._token.read(call)
        self._limiter.acquire()
        seconds = self._deadline.attempt_seconds(call)
        self._ledger.record()
        outcome = self._transport.send(call, token, params=params, body=body, seconds=seconds)
        if isinstance(outcome, Failure):
            return outcome
        if not outcome.ok:
            return status_failure(
                outcome, api=self.api, base_url=self._base_url, token=token, now=self._clock()
            )
        try:
            return JsonReply(decode_json(outcome), outcome.response.headers)
        # The decoder recurses per nesting level: a body nested deeper than the
        # interpreter's limit raises RecursionError, not ValueError.
        except (ValueError, RecursionError):
            failure = not_json_failure(outcome, token)
            raise api_error(call, failure, attempts=1, token=token) from None

    def _url(self, path: str) -> str:
        if urlsplit(path).scheme:
            # The token must only ever go to the configured host.
            raise ValueError(f"path must be relative to the base URL, got {path!r}")
        if not path:
            return self._base_url
        return f"{self._base_url.rstrip('/')}/{path.lstrip('/')}"

    def _log_retry(self, call: Call, failure: Failure, attempt: int, delay: float) -> None:
        # A 429 back-off can last minutes: say so at info, not only at debug.
        logger.log(
            logging.INFO if failure.status == 429 else logging.DEBUG,
            "%s: %s; retry %d of %d in %.1f s",
            call.where,
            redact(failure.detail, (self._token.latest,)),
            attempt,
            self._retry.max_attempts - 1,
            delay,
        )
