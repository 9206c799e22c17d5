"""What one attempt came to, in this exporter's error types and words.

Failures leave the API layer only as the types in `errors.py`, with messages that name
the API, method, path and status and say what to fix; never with the token. Text a
server sent (an error's `message`, a header) is quoted redacted, on one line and short.
"""

from __future__ import annotations

import http
import json
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import requests
import urllib3

from kb4_exporter.api.body import MAX_RESPONSE_BYTES, mib
from kb4_exporter.api.errors import (
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    AuthError,
    BadResponseError,
    ConnectTimeoutError,
    ForbiddenError,
    HostUnreachableError,
    NotFoundError,
    RateLimitedError,
    ServerError,
)
from kb4_exporter.api.redaction import redact
from kb4_exporter.api.retry import RETRIED_STATUSES, parse_retry_after

# Server-provided text is quoted in messages; keep it short and on one line. It is
# redacted before it is cut: a cut first could leave a part of an echoed token that
# no longer matches the whole token.
MAX_QUOTED_CHARS: Final = 200
_MAX_HEADER_CHARS: Final = 100

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
class Call:
    """One request as messages name it."""

    api: str  # "reporting", "phisher", ...
    method: str
    url: str

    @property
    def endpoint(self) -> str:
        """The URL path, for messages and `ApiError.endpoint`."""
        return urlsplit(self.url).path or "/"

    @property
    def where(self) -> str:
        return f"{self.api} API {self.method} {self.endpoint}"


@dataclass(frozen=True)
class Received:
    """A response whose body was read whole (within the limits)."""

    response: requests.Response
    content: bytes | bytearray | None  # None: an error body over MAX_ERROR_BODY_BYTES

    @property
    def ok(self) -> bool:
        return 200 <= self.response.status_code < 300


@dataclass(frozen=True)
class Failure:
    """One failed attempt: the error to raise if no retry is left, and whether to retry."""

    error_type: type[ApiError]
    detail: str
    retryable: bool
    status: int | None = None
    retry_after: float | None = None
    request_id: str | None = None


def api_error(
    call: Call, failure: Failure, *, attempts: int, token: str, note: str = ""
) -> ApiError:
    """The error to raise for `failure`, its message redacted."""
    message = f"{call.where}: {failure.detail}"
    if attempts > 1:
        message += f" (after {attempts} attempts)"
    if note:
        message += f"; {note}"
    if failure.request_id:
        message += f" [X-Request-Id {failure.request_id}]"
    return failure.error_type(
        redact(message, (token,)), endpoint=call.endpoint, status=failure.status
    )


# --- a response arrived -----------------------------------------------------------------


def status_failure(
    received: Received, *, api: str, base_url: str, token: str, now: float
) -> Failure:
    """A response with a status other than 2xx."""
    response = received.response
    status = response.status_code
    error_type, hint = _status_hint(status, response, api=api, base_url=base_url, token=token)
    detail = f"HTTP {status} {_phrase(status)}: {hint}"
    server_message = _server_message(received.content, token)
    if server_message:
        detail += f"; the server says {server_message!r}"
    retryable = status in RETRIED_STATUSES
    retry_after = None
    if retryable:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
    return Failure(
        error_type,
        detail,
        retryable=retryable,
        status=status,
        retry_after=retry_after,
        request_id=_header_value(response, "X-Request-Id", token),
    )


def _status_hint(
    status: int, response: requests.Response, *, api: str, base_url: str, token: str
) -> tuple[type[ApiError], str]:
    """The error type of `status` and what to do about it."""
    if status == 401:
        return AuthError, (
            f"the {api} API token is wrong, expired, revoked or from another region, "
            "or API access is not enabled for the account"
        )
    if status == 403:
        return ForbiddenError, (
            "the token is valid but not allowed this call; check the subscription level "
            "(API access needs Platinum or Diamond) and the token's permissions"
        )
    if status == 404:
        return NotFoundError, f"check the region and base URL ({base_url})"
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


def decode_json(received: Received) -> Any:
    """The JSON of a 2xx body (None for 204), in UTF-8, -16 or -32, with or without a
    byte order mark; ValueError (or RecursionError, nested past the interpreter's
    limit) when it is not JSON."""
    if received.response.status_code == 204:
        return None
    return json.loads(received.content or b"")


def not_json_failure(received: Received, token: str) -> Failure:
    response = received.response
    content_type = _header_value(response, "Content-Type", token) or "none"
    return Failure(
        BadResponseError,
        f"HTTP {response.status_code} but the body is not JSON "
        f"(Content-Type {content_type}, {len(received.content or b'')} bytes)",
        retryable=False,
        status=response.status_code,
        request_id=_header_value(response, "X-Request-Id", token),
    )


def body_too_large_failure() -> Failure:
    return Failure(
        BadResponseError,
        f"a body over {mib(MAX_RESPONSE_BYTES)} (on the wire or decompressed), "
        "more than any page of this API; not read further",
        retryable=False,
    )


# --- no (whole) response ------------------------------------------------------------------


def deadline_failure(seconds: float) -> Failure:
    """The attempt's watchdog shut it down: a timeout, whatever the read made of it."""
    return Failure(
        ApiTimeoutError,
        f"no complete response within {seconds:g} s (the deadline of a request or "
        "of the refresh); the server is too slow or sends a trickle",
        retryable=True,
    )


def transport_failure(exc: Exception, timeout: tuple[float, float]) -> Failure:
    """A requests or urllib3 error (connect, TLS, read, decompression)."""
    connect, read = timeout
    # A read timeout in the body comes from urllib3 itself, which the body is read from.
    if isinstance(exc, requests.Timeout) or _caused_by(exc, urllib3.exceptions.ReadTimeoutError):
        unreachable = isinstance(exc, requests.ConnectTimeout)
        return Failure(
            ConnectTimeoutError if unreachable else ApiTimeoutError,
            f"timed out (connect {connect:g} s, read {read:g} s): {exc}",
            retryable=True,
        )
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return Failure(
            BadResponseError,
            f"the body does not decompress as its Content-Encoding says: {exc}",
            retryable=False,
        )
    if isinstance(exc, _PERMANENT_TRANSPORT_ERRORS):
        return Failure(
            HostUnreachableError,
            f"cannot connect: {exc}; check the URL, proxy and CA settings",
            retryable=False,
        )
    if _caused_by(exc, urllib3.exceptions.NewConnectionError):
        # urllib3 could not open a connection at all (refused, DNS), as opposed to a
        # connection that broke after it was made.
        return Failure(HostUnreachableError, f"cannot connect: {exc}", retryable=True)
    return Failure(ApiConnectionError, f"connection failed: {exc}", retryable=True)


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


# --- quoting what the server sent ------------------------------------------------------------


def quoted(text: str, token: str, limit: int = MAX_QUOTED_CHARS) -> str:
    """Server-provided `text` made fit to quote in a message: `token` redacted (whole or
    cut off), then on one line and at most `limit` chars (see MAX_QUOTED_CHARS)."""
    printable = "".join(ch if ch.isprintable() else " " for ch in redact(text, (token,)))
    printable = printable.strip()
    return printable if len(printable) <= limit else printable[: limit - 1] + "…"


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _header_value(response: requests.Response, name: str, token: str) -> str | None:
    value = response.headers.get(name)
    if not value:
        return None
    return quoted(value, token, _MAX_HEADER_CHARS)


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
    return quoted(origin, token, _MAX_HEADER_CHARS)


def _server_message(content: bytes | bytearray | None, token: str) -> str | None:
    """The `message` of a JSON-object error body; HTML pages and other shapes are not quoted."""
    if content is None:
        return None
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):
        return None
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message.strip():
        return None
    return quoted(message, token)
