"""The paced, retrying HTTP session every KnowBe4 call goes through.

Each attempt, retries included, passes the daily budget check, the rate limiter and the
ledger before it is sent, so the exporter's own count matches what KnowBe4 charges.
Failures leave this module only as the types in `errors.py`, with messages that name the
API, method, path and status and say what to fix; never with the token.

Every limit on what a server can make the exporter hold is explicit (README, "Limits on
what KnowBe4 can send"): each wait for the socket (connect and read timeouts), each
request as a whole (REQUEST_DEADLINE_SECONDS, see `deadline.py`), each refresh (its
deadline, set by the runtime), and each body, on the wire and after decompression
(MAX_RESPONSE_BYTES; MAX_ERROR_BODY_BYTES for an error's body, read for its message only).
"""

from __future__ import annotations

import email.utils
import http
import json
import logging
import math
import random
import re
import threading
import types
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Final
from urllib.parse import urlsplit

import requests
import urllib3
from urllib3.response import ContentDecoder, DeflateDecoder, GzipDecoder

from kb4_exporter import __version__
from kb4_exporter.api.deadline import Alarm, DeadlineAdapter, thread_alarm, watched_request
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
from kb4_exporter.api.redaction import redact
from kb4_exporter.config.secrets import unsendable_reason

logger = logging.getLogger(__name__)

DEFAULT_USER_AGENT: Final = f"kb4_exporter/{__version__}"

RETRIED_STATUSES: Final = frozenset({429, 500, 502, 503, 504})

DEFAULT_CONNECT_TIMEOUT: Final = 10.0
DEFAULT_READ_TIMEOUT: Final = 60.0
# A whole request, connect to last byte of the body: well over any real page, well under
# what a server trickling bytes could otherwise hold a refresh for.
REQUEST_DEADLINE_SECONDS: Final = 120.0
# A page of 500 records is a megabyte or two. A body over this (on the wire, or after
# decompression, whichever comes first) is `bad_response`: parsed, it would take ten
# times its size in memory.
MAX_RESPONSE_BYTES: Final = 16 * 1024 * 1024
# The body of an error status is read for its message only.
MAX_ERROR_BODY_BYTES: Final = 64 * 1024
_READ_CHUNK_BYTES: Final = 64 * 1024
# Only what `_decoder` can decompress within the limits above.
ACCEPT_ENCODING: Final = "gzip, deflate"

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


class _BodyTooLarge(Exception):  # noqa: N818 - internal signal: stop reading the body
    pass


@dataclass(frozen=True)
class _Received:
    """A response whose body was read whole (within the limits)."""

    response: requests.Response
    content: bytes | bytearray | None  # None: an error body over MAX_ERROR_BODY_BYTES


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
        self._token = token
        self._limiter = limiter
        self._ledger = ledger
        self._clock = clock
        self._sleep = sleep
        self._owns_session = session is None
        self._session = session if session is not None else _deadline_session()
        self._timeout = (connect_timeout, read_timeout)
        self._request_deadline = request_deadline
        self._alarm = alarm
        # Epoch seconds by which the running refresh must end (see `refresh_deadline`).
        self._refresh_deadline: float | None = None
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

    @contextmanager
    def refresh_deadline(self, at: float) -> Iterator[None]:
        """Until the block ends, no request is sent after `at` (epoch seconds) and none
        runs past it: a refresh that cannot finish by then fails with `timeout`."""
        self._refresh_deadline = at
        try:
            yield
        finally:
            self._refresh_deadline = None

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
            seconds = self._ensure_refresh_time(call)
            self._ledger.record()
            outcome = self._send(call, token, params, body, seconds)
            if isinstance(outcome, _Received):
                status = outcome.response.status_code
                if 200 <= status < 300:
                    body = self._decode(outcome, call, token)
                    return JsonReply(body, outcome.response.headers)
                failure = self._status_failure(outcome, token)
            else:
                failure = outcome

            if not failure.retryable or attempt == self._max_attempts:
                raise self._error(call, failure, attempts=attempt, token=token)
            if failure.retry_after is not None and failure.retry_after > self._max_retry_after:
                note = (
                    f"the server asks to wait {failure.retry_after:.0f} s (Retry-After), more "
                    f"than the {self._max_retry_after:.0f} s this exporter waits; giving up"
                )
                raise self._error(call, failure, attempts=attempt, token=token, note=note)
            delay = self._retry_delay(attempt, failure.retry_after)
            deadline = self._refresh_deadline
            if deadline is not None and self._clock() + delay >= deadline:
                note = "the refresh would pass its deadline before the next attempt; giving up"
                raise self._error(call, failure, attempts=attempt, token=token, note=note)
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

    def _send(
        self,
        call: _Call,
        token: str,
        params: Mapping[str, str | int] | None,
        body: Mapping[str, Any] | None,
        seconds: float,
    ) -> _Received | _Failure:
        """One attempt, over within `seconds` whatever the server does."""
        response: requests.Response | None = None
        content: bytearray | None = None
        failure: _Failure | None = None
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
                    content = _read_body(response)
            # The body is read from urllib3 directly: its errors are not wrapped by requests.
            except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
                failure = _transport_failure(exc, self._timeout)
            except _BodyTooLarge:
                failure = _Failure(
                    BadResponseError,
                    f"a body over {_mib(MAX_RESPONSE_BYTES)} (on the wire or decompressed), "
                    "more than any page of this API; not read further",
                    retryable=False,
                )
            expired = watchdog.expired
        if expired:
            # Whatever the read made of the connection shut under it, it is a timeout.
            failure = _Failure(
                ApiTimeoutError,
                f"no complete response within {seconds:g} s (the deadline of a request or "
                "of the refresh); the server is too slow or sends a trickle",
                retryable=True,
            )
        if response is not None:
            self._count(response.status_code)
        else:
            assert failure is not None
            timed_out = issubclass(failure.error_type, ApiTimeoutError)
            self._count("timeout" if timed_out else "connection")
        if failure is not None:
            return failure
        assert response is not None
        return _Received(response, content)

    def _ensure_refresh_time(self, call: _Call) -> float:
        """Seconds the next attempt may take; ApiTimeoutError once the refresh is over time."""
        deadline = self._refresh_deadline
        if deadline is None:
            return self._request_deadline
        left = deadline - self._clock()
        if left <= 0:
            raise ApiTimeoutError(
                f"{self._where(call)}: not sent, the refresh ran past its deadline (its "
                "refresh interval); the rest waits for the next refresh",
                endpoint=call.endpoint,
            )
        return min(self._request_deadline, left)

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
            "Accept-Encoding": ACCEPT_ENCODING,
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

    def _status_failure(self, received: _Received, token: str) -> _Failure:
        response = received.response
        status = response.status_code
        request_id = _header_value(response, "X-Request-Id", token)
        server_message = _server_message(received.content, token)
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
            return BadResponseError, (
                f"redirected to {_redirect_origin(response, token)}; check the base URL"
            )
        if status == 406:
            return BadResponseError, "the API refused the requested format (it serves JSON)"
        return BadResponseError, "unexpected status"

    def _decode(self, received: _Received, call: _Call, token: str) -> Any:
        response, content = received.response, received.content or b""
        if response.status_code == 204:
            return None
        try:
            return _json(content)
        # The decoder recurses per nesting level: a body nested deeper than the
        # interpreter's limit raises RecursionError, not ValueError.
        except (ValueError, RecursionError):
            content_type = _header_value(response, "Content-Type", token) or "none"
            failure = _Failure(
                BadResponseError,
                f"HTTP {response.status_code} but the body is not JSON "
                f"(Content-Type {content_type}, {len(content)} bytes)",
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


def _deadline_session() -> requests.Session:
    session = requests.Session()
    adapter = DeadlineAdapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _read_body(response: requests.Response) -> bytearray | None:
    """The body, decompressed, read in chunks and never past its limit.

    A 2xx body over MAX_RESPONSE_BYTES raises _BodyTooLarge; an error status's body over
    MAX_ERROR_BODY_BYTES is not needed whole, so it reads as None.
    """
    ok = 200 <= response.status_code < 300
    try:
        return _read_within(response, MAX_RESPONSE_BYTES if ok else MAX_ERROR_BODY_BYTES)
    except _BodyTooLarge:
        if ok:
            raise
        return None


def _read_within(response: requests.Response, limit: int) -> bytearray:
    """The limit holds on the wire and after decompression, each counted as it is read:
    a gzip bomb stops at the limit, and so does a compressed stream that never yields."""
    declared = response.headers.get("Content-Length", "").strip()
    if len(declared) > 20 or (declared.isascii() and declared.isdigit() and int(declared) > limit):
        raise _BodyTooLarge
    decoder = _decoder(response.headers.get("Content-Encoding", ""))
    body = bytearray()
    on_the_wire = 0
    for data in response.raw.stream(_READ_CHUNK_BYTES, decode_content=False):
        on_the_wire += len(data)
        if on_the_wire > limit:
            raise _BodyTooLarge
        if decoder is None:
            body += data
        else:
            _inflate(decoder, data, body, limit)
        if len(body) > limit:
            raise _BodyTooLarge
    if decoder is not None:
        # A tail left undecompressed is output past the limit (see `_inflate`).
        if decoder.has_unconsumed_tail:
            raise _BodyTooLarge
        body += decoder.flush()
    if len(body) > limit:
        raise _BodyTooLarge
    return body


def _decoder(content_encoding: str) -> ContentDecoder | None:
    """urllib3's decoder for the encodings this exporter accepts (ACCEPT_ENCODING)."""
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return GzipDecoder()
    if encoding == "deflate":
        return DeflateDecoder()
    raise requests.exceptions.ContentDecodingError(
        f"Content-Encoding {encoding[:40]!r} was not asked for ({ACCEPT_ENCODING})"
    )


def _inflate(decoder: ContentDecoder, data: bytes, body: bytearray, limit: int) -> None:
    """Decompress `data` into `body`, stopping just past `limit` (the bomb is never
    expanded further)."""
    try:
        body += decoder.decompress(data, max_length=limit + 1 - len(body))
        while decoder.has_unconsumed_tail and len(body) <= limit:
            more = decoder.decompress(b"", max_length=limit + 1 - len(body))
            if not more:
                break
            body += more
    except zlib.error as err:
        raise requests.exceptions.ContentDecodingError(f"cannot decompress: {err}") from None


def _json(content: bytes | bytearray) -> Any:
    """JSON from a body in UTF-8, -16 or -32, with or without a byte order mark."""
    return json.loads(content)


def _transport_failure(exc: Exception, timeout: tuple[float, float]) -> _Failure:
    connect, read = timeout
    # A read timeout in the body comes from urllib3 itself, which the body is read from.
    if isinstance(exc, requests.Timeout) or _caused_by(exc, urllib3.exceptions.ReadTimeoutError):
        unreachable = isinstance(exc, requests.ConnectTimeout)
        return _Failure(
            ConnectTimeoutError if unreachable else ApiTimeoutError,
            f"timed out (connect {connect:g} s, read {read:g} s): {exc}",
            retryable=True,
        )
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return _Failure(
            BadResponseError,
            f"the body does not decompress as its Content-Encoding says: {exc}",
            retryable=False,
        )
    if isinstance(exc, _PERMANENT_TRANSPORT_ERRORS):
        return _Failure(
            HostUnreachableError,
            f"cannot connect: {exc}; check the URL, proxy and CA settings",
            retryable=False,
        )
    if _caused_by(exc, urllib3.exceptions.NewConnectionError):
        # urllib3 could not open a connection at all (refused, DNS), as opposed to a
        # connection that broke after it was made.
        return _Failure(HostUnreachableError, f"cannot connect: {exc}", retryable=True)
    return _Failure(ApiConnectionError, f"connection failed: {exc}", retryable=True)


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """Whether `kind` is somewhere in what requests wrapped into `exc`."""
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return True
        pending.extend(current.args)
        pending.append(getattr(current, "reason", None))
        pending.append(current.__cause__)
        pending.append(current.__context__)
    return False


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB"


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


def _redirect_origin(response: requests.Response, token: str) -> str:
    """Where a refused redirect points: scheme, host and port only. The path and query
    are not quoted: a server may have put anything there, an encoded token included."""
    location = response.headers.get("Location", "")
    try:
        parts = urlsplit(location)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "an unreadable Location"
    if not parts.scheme or not host:
        return "a relative Location" if location else "nowhere"
    origin = f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")
    return _quoted(origin, token, _MAX_HEADER_CHARS)


def _server_message(content: bytes | bytearray | None, token: str) -> str | None:
    """The `message` of a JSON-object error body; HTML pages and other shapes are not quoted."""
    if content is None:
        return None
    try:
        body = _json(content)
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
