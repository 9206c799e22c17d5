"""Our own error types for KnowBe4 API failures.

Each error carries a `reason`, one of the values of the `reason` label of
`kb4_refresh_errors_total`, so callers never need to look at HTTP details. Messages
name the endpoint and status but never a token.
"""

from __future__ import annotations

REASONS = (
    "auth",
    "forbidden",
    "not_found",
    "rate_limited",
    "server_error",
    "timeout",
    "connection",
    "bad_response",
    "budget_exhausted",
)


class ApiError(Exception):
    """A KnowBe4 API call failed; `reason` is the metric label value."""

    reason = "bad_response"
    # True when no connection to the host could be made at all (refused, unknown name,
    # TLS failure, connect timeout): every further call to that host would fail too.
    host_unreachable = False

    def __init__(self, message: str, *, endpoint: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.status = status


class AuthError(ApiError):
    """401: the token is wrong, expired, or the API is not enabled for it."""

    reason = "auth"


class ForbiddenError(ApiError):
    """403: the token is valid but not allowed this call."""

    reason = "forbidden"


class NotFoundError(ApiError):
    """404: wrong path or wrong region."""

    reason = "not_found"


class RateLimitedError(ApiError):
    """429 after every retry was spent."""

    reason = "rate_limited"


class ServerError(ApiError):
    """5xx after every retry was spent."""

    reason = "server_error"


class ApiTimeoutError(ApiError):
    reason = "timeout"


class ConnectTimeoutError(ApiTimeoutError):
    """No connection was established in time: the host is unreachable from here."""

    host_unreachable = True


class ApiConnectionError(ApiError):
    reason = "connection"


class HostUnreachableError(ApiConnectionError):
    """The connection itself failed: refused, unknown host name, TLS, bad URL."""

    host_unreachable = True


class BadResponseError(ApiError):
    """The response was not the JSON shape the endpoint is known to return."""

    reason = "bad_response"


class BudgetExhaustedError(ApiError):
    """The exporter's own ledger says the daily budget is spent; no request was sent."""

    reason = "budget_exhausted"


class Interrupted(Exception):  # noqa: N818 - a shutdown signal, not an error
    """The exporter is shutting down; waits and requests stop as soon as possible."""
