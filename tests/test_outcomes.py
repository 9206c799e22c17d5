"""What an attempt came to, in our error types and words, without a session around it."""

from __future__ import annotations

import requests
import urllib3
from urllib3.connection import HTTPConnection

from kb4_exporter.api.errors import (
    ApiConnectionError,
    ApiTimeoutError,
    BadResponseError,
    ConnectTimeoutError,
    HostUnreachableError,
    RateLimitedError,
)
from kb4_exporter.api.outcomes import (
    MAX_QUOTED_CHARS,
    Call,
    Failure,
    Received,
    api_error,
    quoted,
    status_failure,
    transport_failure,
)
from kb4_exporter.api.redaction import REDACTED

TOKEN = "s3ntinel-T0KEN-must-never-leak"
BASE = "https://us.api.knowbe4.test"
T0 = 1_700_000_000.0
TIMEOUT = (10.0, 60.0)
POOL = urllib3.HTTPConnectionPool("localhost")


def received(status: int, content: bytes = b"", headers: dict[str, str] | None = None) -> Received:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers or {})
    return Received(response, content)


def classify(reply: Received) -> Failure:
    return status_failure(reply, api="reporting", base_url=BASE, token=TOKEN, now=T0)


def test_a_call_is_named_by_api_method_and_path_only() -> None:
    call = Call("reporting", "GET", f"{BASE}/v1/users?page=2")

    assert (call.endpoint, call.where) == ("/v1/users", "reporting API GET /v1/users")
    assert Call("phisher", "POST", "https://training.knowbe4.test").endpoint == "/"


def test_a_retried_status_keeps_its_retry_after() -> None:
    failure = classify(received(429, headers={"Retry-After": "30", "X-Request-Id": "r-1"}))

    assert failure.error_type is RateLimitedError
    assert (failure.retryable, failure.retry_after, failure.status) == (True, 30.0, 429)
    assert failure.request_id == "r-1"
    assert failure.detail.startswith("HTTP 429 Too Many Requests: ")


def test_a_status_that_is_not_retried_ignores_retry_after() -> None:
    failure = classify(received(400, headers={"Retry-After": "30"}))

    assert (failure.retryable, failure.retry_after) == (False, None)


def test_an_unknown_status_has_no_phrase_and_is_unexpected() -> None:
    assert (
        classify(received(299 + 300)).detail == "HTTP 599 : KnowBe4 server error; try again later"
    )
    assert classify(received(418)).detail.endswith("unexpected status")


def test_the_server_message_is_quoted_redacted_before_it_is_cut() -> None:
    echo = "x" * (MAX_QUOTED_CHARS - 10) + TOKEN
    body = f'{{"message": "{echo}"}}'.encode()

    failure = classify(received(403, body))

    assert TOKEN[:8] not in failure.detail
    assert REDACTED in failure.detail


def test_quoting_puts_text_on_one_line_within_its_limit() -> None:
    assert quoted("a\nb\tc\x00d", TOKEN, 50) == "a b c d"
    assert quoted("y" * 30, TOKEN, 10) == "y" * 9 + "…"
    assert quoted(f"cut: {TOKEN[:12]}", TOKEN, 100) == f"cut: {REDACTED}"


def test_a_connection_that_could_not_be_opened_is_an_unreachable_host_worth_a_retry() -> None:
    refused = urllib3.exceptions.NewConnectionError(HTTPConnection("localhost"), "refused")
    wrapped = requests.exceptions.ConnectionError(
        urllib3.exceptions.MaxRetryError(POOL, "/", refused)
    )

    failure = transport_failure(wrapped, TIMEOUT)

    assert (failure.error_type, failure.retryable) == (HostUnreachableError, True)


def test_a_connection_that_broke_is_a_connection_error_worth_a_retry() -> None:
    failure = transport_failure(requests.exceptions.ConnectionError("reset by peer"), TIMEOUT)

    assert (failure.error_type, failure.retryable) == (ApiConnectionError, True)
    assert failure.detail == "connection failed: reset by peer"


def test_timeouts_say_which_limits_they_hit() -> None:
    connect = transport_failure(requests.exceptions.ConnectTimeout("slow"), TIMEOUT)
    read = transport_failure(
        requests.exceptions.ChunkedEncodingError(
            urllib3.exceptions.ReadTimeoutError(POOL, "/", "read timed out")
        ),
        TIMEOUT,
    )

    assert connect.error_type is ConnectTimeoutError
    assert read.error_type is ApiTimeoutError
    assert "(connect 10 s, read 60 s)" in read.detail
    assert connect.retryable and read.retryable


def test_a_body_that_does_not_decompress_is_not_retried() -> None:
    failure = transport_failure(requests.exceptions.ContentDecodingError("bad gzip"), TIMEOUT)

    assert (failure.error_type, failure.retryable) == (BadResponseError, False)


def test_the_error_names_the_call_attempts_note_and_request_id_and_never_the_token() -> None:
    call = Call("reporting", "GET", f"{BASE}/v1/account")
    failure = Failure(
        RateLimitedError, f"HTTP 429: echoed {TOKEN}", retryable=True, status=429, request_id="r-9"
    )

    error = api_error(call, failure, attempts=3, token=TOKEN, note="giving up")

    assert isinstance(error, RateLimitedError)
    assert str(error) == (
        f"reporting API GET /v1/account: HTTP 429: echoed {REDACTED} (after 3 attempts); "
        "giving up [X-Request-Id r-9]"
    )
    assert (error.endpoint, error.status) == ("/v1/account", 429)


def test_a_first_attempt_is_not_counted_in_the_message() -> None:
    call = Call("reporting", "GET", f"{BASE}/v1/account")
    failure = Failure(BadResponseError, "HTTP 200 but the body is not JSON", retryable=False)

    assert str(api_error(call, failure, attempts=1, token=TOKEN)) == (
        "reporting API GET /v1/account: HTTP 200 but the body is not JSON"
    )
