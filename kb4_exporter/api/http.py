"""The paced, retrying HTTP session every KnowBe4 call goes through.

Each attempt, retries included, passes the daily budget check, the rate limiter and the
ledger before it is sent, so the exporter's own count matches what KnowBe4 charges.
Failures leave this module only as the types in `errors.py`, with messages that name the
API, method, path and status and say what to fix; never with the token.
"""

from __future__ import annotations

import email.utils
import http
import logging
import math
import random
import re
import threading
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Final
from urllib.parse import urlsplit

import requests
import urllib3

from kb4_exporter import __version__
from kb4_exporter.api.errors import (
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    AuthError,
    BadResponseError,
    BudgetExhaustedError,
    ConnectTimeoutError,
    ForbiddenError,
    HostUnreachableError,
    NotFoundError,
    RateLimitedError,
    ServerError,
)
from kb4_exporter.api.pacing import Clock, RateLimiter, RequestLedger, Sleep
from kb4_exporter.redaction import redact
from kb4_exporter.secrets import unsendable_reason

logger = logging.getLogger(__name__)

DEFAULT_USER_AGENT: Final = f"kb4_exporter/{__version__}"

RETRIED_STATUSES: Final = frozenset({429, 500, 502, 503, 504})

DEFAULT_CONNECT_TIMEOUT: Final = 10.0
DEFAULT_READ_TIMEOUT: Final = 60.0

# Server-provided text is quoted in messages; keep it short and on one line. It is
# redacted before it is cut: a cut first could leave a part of an echoed token that
# no longer matches the whole token.
_MAX_QUOTED_CHARS: Final = 200
_MAX_HEADER_CHARS: Final = 100
_DELTA_SECONDS = re.compile(r"^\d+(\.\d+)?$")

# requests errors that mean the request can never succeed as built: retrying is pointless.
_PERMANENT_TRANSPORT_ERRORS: Final = (
    requests.exceptions.SSLError,
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidHeader,
    requests.exceptions.URLRequired,
)


@dataclass(frozen=True)
class ApiStatsSnapshot:
    """Requests sent so far, for `kb4_api_requests_total` and `kb4_api_throttled_total`."""

    requests_by_code: Mapping[str, int]  # HTTP status as str, or "timeout" / "connection"
    throttled: int  # number of 429 responses


@dataclass(frozen=True)
class JsonReply:
    """A decoded JSON body with the response headers the callers read (e.g. paging)."""

    body: Any
    headers: Mapping[str, str]


@dataclass(frozen=True)
class _Call:
    method: str
    url: str
    endpoint: str  # the URL path, for messages and `ApiError.endpoint`


@dataclass(frozen=True)
class _Failure:
    """One failed attempt: the error to raise if no retry is left, and whether to retry."""

    error_type: type[ApiError]
    detail: str
    retryable: bool
    status: int | None = None
    retry_after: float | None = None
    request_id: str | None = None


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
            ("backoff_base", backoff_base),
            ("backoff_max", backoff_max),
            ("max_retry_after", max_retry_after),
        ):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        self.api = api
        self._base_url = base_url
        self._token = token
        self._limiter = limiter
        self._ledger = ledger
        self._clock = clock
        self._sleep = sleep
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        self._timeout = (connect_timeout, read_timeout)
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._max_retry_after = max_retry_after
        self._rng = rng if rng is not None else random.Random()  # noqa: S311 - jitter, not crypto
        self._user_agent = user_agent
        self._lock = threading.Lock()
        self._daily_budget: int | None = None
        self._requests_by_code: dict[str, int] = {}
        self._throttled = 0
        self._last_token = ""  # the token of the latest request, to redact its replies
        self.set_daily_budget(daily_budget)

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
        if budget is not None and budget < 0:
            raise ValueError(f"daily budget must not be negative, got {budget}")
        with self._lock:
            self._daily_budget = budget

    def budget_limit(self) -> int | None:
        with self._lock:
            return self._daily_budget

    def budget_remaining(self) -> int | None:
        """Requests left in the rolling window by our own ledger; None until the budget is known."""
        limit = self.budget_limit()
        if limit is None:
            return None
        return max(0, limit - self._ledger.used())

    def stats(self) -> ApiStatsSnapshot:
        with self._lock:
            return ApiStatsSnapshot(
                requests_by_code=types.MappingProxyType(dict(self._requests_by_code)),
                throttled=self._throttled,
            )

    def quote_server_text(self, text: str, limit: int = _MAX_QUOTED_CHARS) -> str:
        """Server-provided `text` made fit to quote in a message: the token of the latest
        request redacted (whole or cut off), then on one line and at most `limit` chars."""
        return _quoted(text, self._last_token, limit)

    def close(self) -> None:
        """Release pooled connections (of a session this object created)."""
        if self._owns_session:
            self._session.close()

    def __repr__(self) -> str:
        return f"PacedSession(api={self.api!r}, base_url={self._base_url!r})"

    # --- one call: attempts, retries, back-off ------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> JsonReply:
        url = self._url(path)
        call = _Call(method=method, url=url, endpoint=urlsplit(url).path or "/")
        for attempt in range(1, self._max_attempts + 1):
            self._ensure_budget(call)
            token = self._read_token(call)
            self._limiter.acquire()
            self._ledger.record()
            try:
                response = self._session.request(
                    method,
                    url,
                    params=params,
                    json=body,
                    headers=self._headers(token),
                    timeout=self._timeout,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                failure = self._transport_failure(exc)
            else:
                self._count(response.status_code)
                if 200 <= response.status_code < 300:
                    return JsonReply(self._decode(response, call, token), response.headers)
                failure = self._status_failure(response, token)

            if not failure.retryable or attempt == self._max_attempts:
                raise self._error(call, failure, attempts=attempt, token=token)
            if failure.retry_after is not None and failure.retry_after > self._max_retry_after:
                note = (
                    f"the server asks to wait {failure.retry_after:.0f} s (Retry-After), more "
                    f"than the {self._max_retry_after:.0f} s this exporter waits; giving up"
                )
                raise self._error(call, failure, attempts=attempt, token=token, note=note)
            delay = self._retry_delay(attempt, failure.retry_after)
            # A 429 back-off can last minutes: say so at info, not only at debug.
            logger.log(
                logging.INFO if failure.status == 429 else logging.DEBUG,
                "%s API %s %s: %s; retry %d of %d in %.1f s",
                self.api,
                call.method,
                call.endpoint,
                _redact(failure.detail, token),
                attempt,
                self._max_attempts - 1,
                delay,
            )
            self._sleep(delay)
        raise AssertionError("unreachable: the last attempt always returns or raises")

    def _url(self, path: str) -> str:
        if urlsplit(path).scheme:
            # The token must only ever go to the configured host.
            raise ValueError(f"path must be relative to the base URL, got {path!r}")
        if not path:
            return self._base_url
        return f"{self._base_url.rstrip('/')}/{path.lstrip('/')}"

    def _ensure_budget(self, call: _Call) -> None:
        limit = self.budget_limit()
        if limit is None:
            return
        used = self._ledger.used()
        if used >= limit:
            raise BudgetExhaustedError(
                f"{self._where(call)}: not sent, the daily budget of {limit} requests is spent "
                f"({used} in the last 24 h by this exporter's ledger); it frees up as the "
                "oldest requests age out",
                endpoint=call.endpoint,
            )

    def _read_token(self, call: _Call) -> str:
        # Read per request: token files are rotated while the exporter runs.
        token = self._token().strip()
        # The same rule as configuration checks (`unsendable_reason`). Never echo the
        # value: requests would put it in an InvalidHeader message.
        if unsendable_reason(token):
            raise AuthError(
                f"{self._where(call)}: the {self.api} API token is empty or contains spaces, "
                "control or non-ASCII characters; check the token file or variable",
                endpoint=call.endpoint,
            )
        self._last_token = token
        return token

    def _headers(self, token: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": self._user_agent,
        }

    def _retry_delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = min(self._backoff_max, self._backoff_base * 2.0 ** min(attempt - 1, 62))
        # Jitter keeps concurrent exporters from retrying in lockstep; never below half.
        jittered = backoff * self._rng.uniform(0.5, 1.0)
        return jittered if retry_after is None else max(retry_after, jittered)

    def _count(self, code: int | str) -> None:
        with self._lock:
            key = str(code)
            self._requests_by_code[key] = self._requests_by_code.get(key, 0) + 1
            if code == 429:
                self._throttled += 1

    # --- classifying outcomes -------------------------------------------------------

    def _transport_failure(self, exc: requests.RequestException) -> _Failure:
        if isinstance(exc, requests.Timeout):
            self._count("timeout")
            connect, read = self._timeout
            unreachable = isinstance(exc, requests.ConnectTimeout)
            return _Failure(
                ConnectTimeoutError if unreachable else ApiTimeoutError,
                f"timed out (connect {connect:g} s, read {read:g} s): {exc}",
                retryable=True,
            )
        self._count("connection")
        if isinstance(exc, _PERMANENT_TRANSPORT_ERRORS):
            return _Failure(
                HostUnreachableError,
                f"cannot connect: {exc}; check the URL, proxy and CA settings",
                retryable=False,
            )
        if _never_connected(exc):
            return _Failure(HostUnreachableError, f"cannot connect: {exc}", retryable=True)
        return _Failure(ApiConnectionError, f"connection failed: {exc}", retryable=True)

    def _status_failure(self, response: requests.Response, token: str) -> _Failure:
        status = response.status_code
        request_id = _header_value(response, "X-Request-Id", token)
        server_message = _server_message(response, token)
        retry_after = None
        if status in RETRIED_STATUSES:
            retry_after = _parse_retry_after(response.headers.get("Retry-After"), self._clock())
        error_type, hint = self._classify_status(status, response, token)
        detail = f"HTTP {status} {_phrase(status)}: {hint}"
        if server_message:
            detail += f"; the server says {server_message!r}"
        return _Failure(
            error_type,
            detail,
            retryable=status in RETRIED_STATUSES,
            status=status,
            retry_after=retry_after,
            request_id=request_id,
        )

    def _classify_status(
        self, status: int, response: requests.Response, token: str
    ) -> tuple[type[ApiError], str]:
        if status == 401:
            return AuthError, (
                f"the {self.api} API token is wrong, expired, revoked or from another region, "
                "or API access is not enabled for the account"
            )
        if status == 403:
            return ForbiddenError, (
                "the token is valid but not allowed this call; check the subscription level "
                "(API access needs Platinum or Diamond) and the token's permissions"
            )
        if status == 404:
            return NotFoundError, f"check the region and base URL ({self._base_url})"
        if status == 429:
            return RateLimitedError, (
                "KnowBe4's rate limit or daily request budget is spent; lower the request "
                "rate or refresh less often"
            )
        if status >= 500:
            return ServerError, "KnowBe4 server error; try again later"
        if 300 <= status < 400:
            location = _header_value(response, "Location", token) or "nowhere"
            return BadResponseError, f"redirected to {location}; check the base URL"
        if status == 406:
            return BadResponseError, "the API refused the requested format (it serves JSON)"
        return BadResponseError, "unexpected status"

    def _decode(self, response: requests.Response, call: _Call, token: str) -> Any:
        if response.status_code == 204:
            return None
        try:
            return response.json()
        # The decoder recurses per nesting level: a body nested deeper than the
        # interpreter's limit raises RecursionError, not ValueError.
        except (ValueError, RecursionError):
            content_type = _header_value(response, "Content-Type", token) or "none"
            failure = _Failure(
                BadResponseError,
                f"HTTP {response.status_code} but the body is not JSON "
                f"(Content-Type {content_type}, {len(response.content)} bytes)",
                retryable=False,
                status=response.status_code,
                request_id=_header_value(response, "X-Request-Id", token),
            )
            raise self._error(call, failure, attempts=1, token=token) from None

    # --- messages ---------------------------------------------------------------------

    def _where(self, call: _Call) -> str:
        return f"{self.api} API {call.method} {call.endpoint}"

    def _error(
        self, call: _Call, failure: _Failure, *, attempts: int, token: str, note: str = ""
    ) -> ApiError:
        message = f"{self._where(call)}: {failure.detail}"
        if attempts > 1:
            message += f" (after {attempts} attempts)"
        if note:
            message += f"; {note}"
        if failure.request_id:
            message += f" [X-Request-Id {failure.request_id}]"
        return failure.error_type(
            _redact(message, token), endpoint=call.endpoint, status=failure.status
        )


def _never_connected(exc: BaseException) -> bool:
    """Whether requests wraps urllib3's failure to open a connection (refused, DNS), as
    opposed to a connection that broke after it was made."""
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, urllib3.exceptions.NewConnectionError):
            return True
        pending.extend(current.args)
        pending.append(getattr(current, "reason", None))
        pending.append(current.__cause__)
        pending.append(current.__context__)
    return False


def _redact(text: str, token: str) -> str:
    """Belt and braces: servers and libraries may echo what they were sent."""
    return redact(text, (token,))


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _header_value(response: requests.Response, name: str, token: str) -> str | None:
    value = response.headers.get(name)
    if not value:
        return None
    return _quoted(value, token, _MAX_HEADER_CHARS)


def _server_message(response: requests.Response, token: str) -> str | None:
    """The `message` of a JSON-object error body; HTML pages and other shapes are not quoted."""
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return None
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message.strip():
        return None
    return _quoted(message, token, _MAX_QUOTED_CHARS)


def _quoted(text: str, token: str, limit: int) -> str:
    """Server-provided text, redacted first and only then cut (see _MAX_QUOTED_CHARS)."""
    return _one_line(_redact(text, token), limit)


def _one_line(text: str, limit: int) -> str:
    printable = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    return printable if len(printable) <= limit else printable[: limit - 1] + "…"


def _parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a delta-seconds or HTTP-date `Retry-After`; None if absent or bad."""
    if value is None:
        return None
    text = value.strip()
    if _DELTA_SECONDS.match(text):
        return float(text)  # may be inf for absurd values: over any cap, so we give up
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)
