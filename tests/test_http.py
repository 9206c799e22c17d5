"""PacedSession against requests-mock and a fake clock: one test per failure mode."""

from __future__ import annotations

import email.utils
import gzip
import json
import logging
import random
import threading
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from kb4_exporter.api.body import MAX_ERROR_BODY_BYTES, MAX_RESPONSE_BYTES
from kb4_exporter.api.errors import (
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    AuthError,
    BadResponseError,
    BudgetExhaustedError,
    ForbiddenError,
    Interrupted,
    NotFoundError,
    RateLimitedError,
    ServerError,
)
from kb4_exporter.api.http import PacedSession
from kb4_exporter.api.pacing import RateLimiter, RequestLedger

T0 = 1_700_000_000.0
BASE = "https://us.api.knowbe4.test"
ACCOUNT_URL = f"{BASE}/v1/account"
TOKEN = "kb4-test-token-abc"
SECRET = "s3ntinel-T0KEN-must-never-leak"


class FakeClock:
    """Epoch time that only moves when someone sleeps."""

    def __init__(self, start: float = T0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Harness:
    def __init__(self, **overrides: Any) -> None:
        self.clock = FakeClock()
        self.ledger = RequestLedger(clock=self.clock)
        self.limiter = RateLimiter(
            per_second=4, per_minute=50, clock=self.clock, sleep=self.clock.sleep
        )
        options: dict[str, Any] = {
            "api": "reporting",
            "base_url": BASE,
            "token": lambda: TOKEN,
            "limiter": self.limiter,
            "ledger": self.ledger,
            "clock": self.clock,
            "sleep": self.clock.sleep,
            "rng": random.Random(7),
        }
        options.update(overrides)
        self.session = PacedSession(**options)


@pytest.fixture
def harness() -> Iterator[Harness]:
    made = Harness()
    yield made
    made.session.close()


def backoff_sleeps(harness: Harness) -> list[float]:
    """Sleeps between attempts (the limiter never needs to sleep for a handful of requests)."""
    return harness.clock.sleeps


# --- what is sent ------------------------------------------------------------------


def test_sends_auth_accept_user_agent_and_timeouts(harness: Harness, requests_mock: Any) -> None:
    requests_mock.get(ACCOUNT_URL, json={"name": "Acme"})

    assert harness.session.get_json("/v1/account") == {"name": "Acme"}

    sent = requests_mock.last_request
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["Accept"] == "application/json"
    assert sent.headers["User-Agent"].startswith("kb4_exporter/")
    assert sent.timeout == (10.0, 60.0)


def test_sends_query_parameters(harness: Harness, requests_mock: Any) -> None:
    requests_mock.get(f"{BASE}/v1/users", json=[])

    harness.session.get_json("/v1/users", {"status": "active", "page": 2, "per_page": 500})

    assert requests_mock.last_request.qs == {
        "status": ["active"],
        "page": ["2"],
        "per_page": ["500"],
    }


@pytest.mark.parametrize("base_url", [BASE, f"{BASE}/"])
@pytest.mark.parametrize("path", ["/v1/account", "v1/account"])
def test_joins_path_to_base_url(requests_mock: Any, base_url: str, path: str) -> None:
    requests_mock.get(ACCOUNT_URL, json={})
    harness = Harness(base_url=base_url)

    harness.session.get_json(path)

    assert requests_mock.last_request.url == ACCOUNT_URL


def test_post_with_empty_path_goes_to_the_graphql_endpoint_itself(requests_mock: Any) -> None:
    endpoint = "https://training.knowbe4.test/graphql"
    requests_mock.post(endpoint, json={"data": {"phisherMessages": {"nodes": []}}})
    harness = Harness(api="phisher", base_url=endpoint)
    body = {"query": "query { phisherMessages { nodes { id } } }", "variables": {"per": 1}}

    result = harness.session.post_json("", body)

    assert result == {"data": {"phisherMessages": {"nodes": []}}}
    sent = requests_mock.last_request
    assert sent.url == endpoint
    assert sent.json() == body
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("path", ["https://evil.test/steal", "http://evil.test/"])
def test_refuses_absolute_urls_so_the_token_only_goes_to_the_base_url(
    harness: Harness, requests_mock: Any, path: str
) -> None:
    with pytest.raises(ValueError, match="relative"):
        harness.session.get_json(path)

    assert not requests_mock.called


def test_reads_the_token_for_every_request_and_retry(requests_mock: Any) -> None:
    tokens = iter(["token-one", "token-two", "token-three"])
    requests_mock.get(ACCOUNT_URL, [{"status_code": 503}, {"json": {}}, {"json": {}}])
    harness = Harness(token=lambda: next(tokens))

    harness.session.get_json("/v1/account")
    harness.session.get_json("/v1/account")

    sent = [request.headers["Authorization"] for request in requests_mock.request_history]
    assert sent == ["Bearer token-one", "Bearer token-two", "Bearer token-three"]


def test_strips_the_newline_a_token_file_ends_with(requests_mock: Any) -> None:
    requests_mock.get(ACCOUNT_URL, json={})
    harness = Harness(token=lambda: f"{TOKEN}\n")

    harness.session.get_json("/v1/account")

    assert requests_mock.last_request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("bad_token", ["", "   ", "two words", "tab\there", "bell\x07", "café"])
def test_unusable_token_fails_before_sending_and_is_not_echoed(
    requests_mock: Any, bad_token: str
) -> None:
    requests_mock.get(ACCOUNT_URL, json={})
    harness = Harness(token=lambda: bad_token)

    with pytest.raises(AuthError, match="token is empty or contains") as caught:
        harness.session.get_json("/v1/account")

    assert not requests_mock.called
    assert harness.ledger.used() == 0
    if bad_token.strip():
        assert bad_token.strip() not in str(caught.value)


# --- budget --------------------------------------------------------------------------


def test_budget_exhaustion_raises_before_sending(requests_mock: Any) -> None:
    requests_mock.get(ACCOUNT_URL, json={})
    harness = Harness(daily_budget=2)

    harness.session.get_json("/v1/account")
    harness.session.get_json("/v1/account")
    with pytest.raises(BudgetExhaustedError) as caught:
        harness.session.get_json("/v1/account")

    assert requests_mock.call_count == 2
    assert caught.value.reason == "budget_exhausted"
    assert "budget of 2 requests" in str(caught.value)
    assert harness.session.budget_remaining() == 0


def test_zero_budget_sends_nothing(requests_mock: Any) -> None:
    requests_mock.get(ACCOUNT_URL, json={})
    harness = Harness(daily_budget=0)

    with pytest.raises(BudgetExhaustedError):
        harness.session.get_json("/v1/account")

    assert not requests_mock.called


def test_budget_frees_up_as_the_ledger_rolls_over(requests_mock: Any) -> None:
    requests_mock.get(ACCOUNT_URL, json={})
    harness = Harness(daily_budget=1)
    harness.session.get_json("/v1/account")

    harness.clock.now += 86400.0

    assert harness.session.budget_remaining() == 1
    harness.session.get_json("/v1/account")
    assert requests_mock.call_count == 2


def test_retries_stop_when_the_budget_runs_out(requests_mock: Any) -> None:
    requests_mock.get(ACCOUNT_URL, status_code=503)
    harness = Harness(daily_budget=3)

    with pytest.raises(BudgetExhaustedError):
        harness.session.get_json("/v1/account")

    assert requests_mock.call_count == 3


def test_budget_is_unknown_until_set(harness: Harness, requests_mock: Any) -> None:
    requests_mock.get(ACCOUNT_URL, json={})
    assert harness.session.budget_limit() is None
    assert harness.session.budget_remaining() is None

    harness.session.get_json("/v1/account")
    harness.session.set_daily_budget(2000 + 1000)

    assert harness.session.budget_limit() == 3000
    assert harness.session.budget_remaining() == 2999
    with pytest.raises(ValueError, match="negative"):
        harness.session.set_daily_budget(-1)


# --- 429 and Retry-After --------------------------------------------------------------


def test_429_without_retry_after_backs_off_then_succeeds(
    harness: Harness, requests_mock: Any
) -> None:
    requests_mock.get(ACCOUNT_URL, [{"status_code": 429}, {"json": {"ok": True}}])

    assert harness.session.get_json("/v1/account") == {"ok": True}

    [delay] = backoff_sleeps(harness)
    assert 1.0 <= delay <= 2.0  # backoff_base 2 s with jitter in [0.5, 1]
    stats = harness.session.stats()
    assert dict(stats.requests_by_code) == {"429": 1, "200": 1}
    assert stats.throttled == 1


def test_429_honours_retry_after_seconds(harness: Harness, requests_mock: Any) -> None:
    requests_mock.get(
        ACCOUNT_URL, [{"status_code": 429, "headers": {"Retry-After": "37"}}, {"json": {}}]
    )

    harness.session.get_json("/v1/account")

    assert backoff_sleeps(harness) == [37.0]
    assert requests_mock.request_history[1] is requests_mock.last_request


def test_429_honours_retry_after_http_date(harness: Harness, requests_mock: Any) -> None:
    retry_at = email.utils.formatdate(T0 + 45, usegmt=True)
    requests_mock.get(
        ACCOUNT_URL, [{"status_code": 429, "headers": {"Retry-After": retry_at}}, {"json": {}}]
    )

    harness.session.get_json("/v1/account")

    assert backoff_sleeps(harness) == [pytest.approx(45.0)]


def test_retry_after_in_the_past_falls_back_to_jittered_backoff(
    harness: Harness, requests_mock: Any
) -> None:
    retry_at = email.utils.formatdate(T0 - 600, usegmt=True)
    requests_mock.get(
        ACCOUNT_URL, [{"status_code": 429, "headers": {"Retry-After": retry_at}}, {"json": {}}]
    )

    harness.session.get_json("/v1/account")

    [delay] = backoff_sleeps(harness)
    assert 1.0 <= delay <= 2.0


@pytest.mark.parametrize("garbage", ["soon", "-5", "1e3", ""])
def test_unparseable_retry_after_is_ignored(requests_mock: Any, garbage: str) -> None:
    requests_mock.get(
        ACCOUNT_URL, [{"status_code": 429, "headers": {"Retry-After": garbage}}, {"json": {}}]
    )
    harness = Harness()

    harness.session.get_json("/v1/account")

    [delay] = backoff_sleeps(harness)
    assert 1.0 <= delay <= 2.0


@pytest.mark.parametrize("retry_after", ["901", "86400", "9" * 400])
def test_retry_after_over_the_cap_gives_up_at_once(requests_mock: Any, retry_after: str) -> None:
    requests_mock.get(
        ACCOUNT_URL,
        status_code=429,
        headers={"Retry-After": retry_after, "X-Request-Id": "req-429"},
    )
    harness = Harness(max_retry_after=900.0)

    with pytest.raises(RateLimitedError) as caught:
        harness.session.get_json("/v1/account")

    assert requests_mock.call_count == 1
    assert harness.clock.sleeps == []
    message = str(caught.value)
    assert "Retry-After" in message
    assert "900 s" in message
    assert "req-429" in message


def test_429_forever_raises_rate_limited_after_max_attempts(requests_mock: Any) -> None:
    requests_mock.get(ACCOUNT_URL, status_code=429)
    harness = Harness(max_attempts=4)

    with pytest.raises(RateLimitedError) as caught:
        harness.session.get_json("/v1/account")

    assert requests_mock.call_count == 4
    assert caught.value.reason == "rate_limited"
    assert caught.value.status == 429
    assert "after 4 attempts" in str(caught.value)
    assert harness.session.stats().throttled == 4
    assert len(harness.clock.sleeps) == 3  # no pointless wait after the last attempt


def test_503_retry_after_is_honoured_too(harness: Harness, requests_mock: Any) -> None:
    requests_mock.get(
        ACCOUNT_URL, [{"status_code": 503, "headers": {"Retry-After": "20"}}, {"json": {}}]
    )

    harness.session.get_json("/v1/account")

    assert backoff_sleeps(harness) == [20.0]


# --- 5xx ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_then_success(harness: Harness, requests_mock: Any, status: int) -> None:
    requests_mock.get(ACCOUNT_URL, [{"status_code": status}, {"json": {"name": "Acme"}}])

    assert harness.session.get_json("/v1/account") == {"name": "Acme"}
    assert dict(harness.session.stats().requests_by_code) == {str(status): 1, "200": 1}


def test_5xx_forever_raises_server_error_after_max_attempts(
    harness: Harness, requests_mock: Any
) -> None:
    requests_mock.get(
        ACCOUNT_URL, status_code=500, text="<html>oops</html>", headers={"X-Request-Id": "r-500"}
    )

    with pytest.raises(ServerError) as caught:
        harness.session.get_json("/v1/account")

    assert requests_mock.call_count == 5
    assert caught.value.reason == "server_error"
    message = str(caught.value)
    assert "reporting API GET /v1/account: HTTP 500" in message
    assert "after 5 attempts" in message
    assert "r-500" in message
    assert "<html>" not in message
    assert harness.ledger.used() == 5


def test_backoff_grows_exponentially_with_jitter_and_is_capped(requests_mock: Any) -> None:
    requests_mock.get(ACCOUNT_URL, status_code=502)
    harness = Harness(max_attempts=8, backoff_base=2.0, backoff_max=30.0)

    with pytest.raises(ServerError):
        harness.session.get_json("/v1/account")

    delays = backoff_sleeps(harness)
    assert len(delays) == 7
    for retry, delay in enumerate(delays):
        nominal = min(30.0, 2.0 * 2**retry)
        assert nominal / 2 <= delay <= nominal


def test_501_is_a_server_error_that_is_not_retried(harness: Harness, requests_mock: Any) -> None:
    requests_mock.get(ACCOUNT_URL, status_code=501)

    with pytest.raises(ServerError):
        harness.session.get_json("/v1/account")

    assert requests_mock.call_count == 1


# --- transport failures -----------------------------------------------------------------


def test_read_timeout_forever_raises_api_timeout(harness: Harness, requests_mock: Any) -> None:
    requests_mock.get(ACCOUNT_URL, exc=requests.exceptions.ReadTimeout("Read timed out."))

    with pytest.raises(ApiTimeoutError) as caught:
        harness.session.get_json("/v1/account")

    assert requests_mock.call_count == 5
    assert caught.value.reason == "timeout"
    assert "timed out" in str(caught.value)
    assert dict(harness.session.stats().requests_by_code) == {"timeout": 5}


def test_connect_timeout_then_success(harness: Harness, requests_mock: Any) -> None:
    requests_mock.get(
        ACCOUNT_URL, [{"exc": requests.exceptions.ConnectTimeout("connect")}, {"json": {}}]
    )

    assert harness.session.get_json("/v1/account") == {}
    assert dict(harness.session.stats().requests_by_code) == {"timeout": 1, "200": 1}


def test_connection_reset_then_success(harness: Harness, requests_mock: Any) -> None:
    reset = requests.exceptions.ConnectionError(
        ConnectionResetError(104, "Connection reset by peer")
    )
    requests_mock.get(ACCOUNT_URL, [{"exc": reset}, {"json": {"ok": 1}}])

    assert harness.session.get_json("/v1/account") == {"ok": 1}
    assert dict(harness.session.stats().requests_by_code) == {"connection": 1, "200": 1}


def test_connection_errors_forever_raise_api_connection_error(
    harness: Harness, requests_mock: Any
) -> None:
    requests_mock.get(ACCOUNT_URL, exc=requests.exceptions.ConnectionError("Connection refused"))

    with pytest.raises(ApiConnectionError) as caught:
        harness.session.get_json("/v1/account")

    assert requests_mock.call_count == 5
    assert caught.value.reason == "connection"
    assert "Connection refused" in str(caught.value)


def test_truncated_chunked_body_is_retried(harness: Harness, requests_mock: Any) -> None:
    requests_mock.get(
        ACCOUNT_URL,
        [{"exc": requests.exceptions.ChunkedEncodingError("incomplete read")}, {"json": {}}],
    )

    assert harness.session.get_json("/v1/account") == {}
    assert requests_mock.call_count == 2


def test_tls_failure_is_not_retried(harness: Harness, requests_mock: Any) -> None:
    requests_mock.get(ACCOUNT_URL, exc=requests.exceptions.SSLError("certificate verify failed"))

    with pytest.raises(ApiConnectionError, match="CA settings"):
        harness.session.get_json("/v1/account")

    assert requests_mock.call_count == 1


def test_interrupt_during_backoff_propagates(requests_mock: Any) -> None:
    requests_mock.get(ACCOUNT_URL, status_code=503)

    def shutting_down(seconds: float) -> None:
        raise Interrupted

    harness = Harness(sleep=shutting_down)

    with pytest.raises(Interrupted):
        harness.session.get_json("/v1/account")

    assert requests_mock.call_count == 1


# --- errors that are not retried ----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type", "reason", "hint"),
    [
        (401, AuthError, "auth", "API access is not enabled"),
        (403, ForbiddenError, "forbidden", "subscription level"),
        (404, NotFoundError, "not_found", "region and base URL"),
        (406, BadResponseError, "bad_response", "serves JSON"),
        (400, BadResponseError, "bad_response", "unexpected status"),
        (422, BadResponseError, "bad_response", "unexpected status"),
    ],
)
def test_client_errors_are_not_retried_and_say_what_to_fix(
    harness: Harness,
    requests_mock: Any,
    status: int,
    error_type: type[ApiError],
    reason: str,
    hint: str,
) -> None:
    requests_mock.get(ACCOUNT_URL, status_code=status, headers={"X-Request-Id": "abc-123"})

    with pytest.raises(error_type) as caught:
        harness.session.get_json("/v1/account")

    assert requests_mock.call_count == 1
    assert harness.clock.sleeps == []
    error = caught.value
    assert error.reason == reason
    assert error.status == status
    assert error.endpoint == "/v1/account"
    message = str(error)
    assert message.startswith(f"reporting API GET /v1/account: HTTP {status}")
    assert hint in message
    assert "X-Request-Id abc-123" in message


def test_redirect_is_reported_not_followed(harness: Harness, requests_mock: Any) -> None:
    requests_mock.get(
        ACCOUNT_URL, status_code=301, headers={"Location": "https://eu.api.knowbe4.test/v1/account"}
    )

    with pytest.raises(BadResponseError, match=r"redirected to https://eu\.api"):
        harness.session.get_json("/v1/account")

    assert requests_mock.call_count == 1


def test_quotes_the_message_of_a_json_object_error_body(
    harness: Harness, requests_mock: Any
) -> None:
    requests_mock.get(ACCOUNT_URL, status_code=403, json={"message": "Reporting API disabled"})

    with pytest.raises(ForbiddenError, match="the server says 'Reporting API disabled'"):
        harness.session.get_json("/v1/account")


@pytest.mark.parametrize(
    "body",
    [
        {"json": ["message", "in", "a", "list"]},
        {"json": {"message": 42}},
        {"text": "<html><body>message: Bad Gateway</body></html>"},
    ],
)
def test_does_not_quote_bodies_that_are_not_json_objects_with_a_message(
    harness: Harness, requests_mock: Any, body: dict[str, Any]
) -> None:
    requests_mock.get(ACCOUNT_URL, status_code=404, **body)

    with pytest.raises(NotFoundError) as caught:
        harness.session.get_json("/v1/account")

    assert "server says" not in str(caught.value)


# --- bodies that are not JSON ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "content_type"),
    [
        ("<!DOCTYPE html><html><body>Maintenance</body></html>", "text/html"),
        ('[{"id": 1, "name": "trunc', "application/json"),
        ("", "application/json"),
    ],
)
def test_200_with_a_body_that_is_not_json_is_a_bad_response(
    harness: Harness, requests_mock: Any, text: str, content_type: str
) -> None:
    requests_mock.get(ACCOUNT_URL, text=text, headers={"Content-Type": content_type})

    with pytest.raises(BadResponseError) as caught:
        harness.session.get_json("/v1/account")

    assert requests_mock.call_count == 1
    message = str(caught.value)
    assert "not JSON" in message
    assert content_type in message
    assert "Maintenance" not in message


def test_204_returns_none(harness: Harness, requests_mock: Any) -> None:
    requests_mock.get(ACCOUNT_URL, status_code=204)

    assert harness.session.get_json("/v1/account") is None


# --- limits on bodies and time -------------------------------------------------------------


def test_asks_only_for_encodings_it_reads_within_its_limits(
    harness: Harness, requests_mock: Any
) -> None:
    requests_mock.get(ACCOUNT_URL, json={})

    harness.session.get_json("/v1/account")

    assert requests_mock.last_request.headers["Accept-Encoding"] == "gzip, deflate"


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some servers send
        ("identity", lambda data: data),
    ],
)
def test_compressed_bodies_are_decoded(
    harness: Harness, requests_mock: Any, encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    body = json.dumps([{"id": n, "name": f"user {n}"} for n in range(2000)]).encode()
    requests_mock.get(ACCOUNT_URL, content=compress(body), headers={"Content-Encoding": encoding})

    assert harness.session.get_json("/v1/account") == json.loads(body)


def test_gzip_of_several_members_is_decoded(harness: Harness, requests_mock: Any) -> None:
    content = gzip.compress(b'[{"id": 1},') + gzip.compress(b'{"id": 2}]')
    requests_mock.get(ACCOUNT_URL, content=content, headers={"Content-Encoding": "gzip"})

    assert harness.session.get_json("/v1/account") == [{"id": 1}, {"id": 2}]


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b" " * (MAX_RESPONSE_BYTES + 1), {}),
        (b"[]", {"Content-Length": str(MAX_RESPONSE_BYTES + 1)}),
        (b"[]", {"Content-Length": "9" * 5000}),
        (gzip.compress(b" " * (MAX_RESPONSE_BYTES + 1)), {"Content-Encoding": "gzip"}),
        (gzip.compress(b"") * (MAX_RESPONSE_BYTES // 20 + 1), {"Content-Encoding": "gzip"}),
    ],
    ids=["plain", "declared", "declared-5000-digits", "gzip-bomb", "gzip-of-nothing"],
)
def test_body_over_the_limit_is_a_bad_response_not_retried(
    harness: Harness, requests_mock: Any, content: bytes, headers: dict[str, str]
) -> None:
    requests_mock.get(ACCOUNT_URL, content=content, headers=headers)

    with pytest.raises(BadResponseError, match="a body over 16 MiB"):
        harness.session.get_json("/v1/account")

    assert requests_mock.call_count == 1


@pytest.mark.parametrize(
    ("content", "encoding"),
    [(b"not gzip at all", "gzip"), (b"[]", "br"), (b"[]", "compress")],
)
def test_a_body_that_does_not_decode_is_a_bad_response(
    harness: Harness, requests_mock: Any, content: bytes, encoding: str
) -> None:
    requests_mock.get(ACCOUNT_URL, content=content, headers={"Content-Encoding": encoding})

    with pytest.raises(BadResponseError):
        harness.session.get_json("/v1/account")

    assert requests_mock.call_count == 1


def test_an_error_body_over_its_limit_keeps_the_status_and_is_not_quoted(
    harness: Harness, requests_mock: Any
) -> None:
    message = json.dumps({"message": "x" * (MAX_ERROR_BODY_BYTES + 1)})
    requests_mock.get(ACCOUNT_URL, status_code=403, text=message)

    with pytest.raises(ForbiddenError) as caught:
        harness.session.get_json("/v1/account")

    assert "server says" not in str(caught.value)


def expired_at_once(seconds: float, action: Callable[[], None]) -> Callable[[], None]:
    """An alarm that goes off as soon as it is set: every request overruns its deadline."""
    action()
    return lambda: None


def test_a_request_over_its_deadline_is_a_timeout_whatever_it_read(requests_mock: Any) -> None:
    requests_mock.get(ACCOUNT_URL, json={"name": "Acme"})
    harness = Harness(alarm=expired_at_once)

    with pytest.raises(ApiTimeoutError, match="no complete response within 120 s"):
        harness.session.get_json("/v1/account")

    assert requests_mock.call_count == 5
    assert harness.session.stats().requests_by_code == {"200": 5}


def test_each_attempt_gets_the_shorter_of_the_request_and_refresh_deadlines(
    requests_mock: Any,
) -> None:
    requests_mock.get(ACCOUNT_URL, json={})
    alarms: list[float] = []

    def recording_alarm(seconds: float, action: Callable[[], None]) -> Callable[[], None]:
        alarms.append(seconds)
        return lambda: None

    harness = Harness(alarm=recording_alarm)
    harness.session.get_json("/v1/account")
    with harness.session.refresh_deadline(T0 + 30):
        harness.session.get_json("/v1/account")
    with harness.session.refresh_deadline(T0 + 3600):
        harness.session.get_json("/v1/account")

    assert alarms == [120.0, 30.0, 120.0]


def test_nothing_is_sent_after_the_refresh_deadline(harness: Harness, requests_mock: Any) -> None:
    requests_mock.get(ACCOUNT_URL, json={})

    with (
        harness.session.refresh_deadline(T0),
        pytest.raises(ApiTimeoutError, match="not sent, the refresh ran past its deadline"),
    ):
        harness.session.get_json("/v1/account")

    assert requests_mock.call_count == 0
    assert harness.ledger.used() == 0


def test_no_retry_waits_past_the_refresh_deadline(harness: Harness, requests_mock: Any) -> None:
    requests_mock.get(ACCOUNT_URL, status_code=503)

    with (
        harness.session.refresh_deadline(T0 + 0.5),
        pytest.raises(ServerError, match="would pass its deadline before the next attempt"),
    ):
        harness.session.get_json("/v1/account")

    assert requests_mock.call_count == 1
    assert harness.clock.sleeps == []


def test_the_refresh_deadline_ends_with_its_block(harness: Harness, requests_mock: Any) -> None:
    requests_mock.get(ACCOUNT_URL, json={})
    with harness.session.refresh_deadline(T0 - 1):
        pass

    assert harness.session.get_json("/v1/account") == {}


# --- stats, logging, secrecy ------------------------------------------------------------------


def test_stats_count_every_attempt_per_code(harness: Harness, requests_mock: Any) -> None:
    requests_mock.get(
        ACCOUNT_URL,
        [
            {"status_code": 429},
            {"status_code": 503},
            {"exc": requests.exceptions.ReadTimeout},
            {"exc": requests.exceptions.ConnectionError},
            {"json": {}},
        ],
    )
    requests_mock.get(f"{BASE}/v1/missing", status_code=404)

    harness.session.get_json("/v1/account")
    with pytest.raises(NotFoundError):
        harness.session.get_json("/v1/missing")

    stats = harness.session.stats()
    assert dict(stats.requests_by_code) == {
        "429": 1,
        "503": 1,
        "timeout": 1,
        "connection": 1,
        "200": 1,
        "404": 1,
    }
    assert stats.throttled == 1
    assert harness.ledger.used() == 6
    with pytest.raises(TypeError):
        stats.requests_by_code["200"] = 0  # type: ignore[index]


def test_retries_log_at_debug_but_429_back_offs_at_info(
    harness: Harness, requests_mock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    requests_mock.get(ACCOUNT_URL, [{"status_code": 503}, {"status_code": 429}, {"json": {}}])

    with caplog.at_level(logging.DEBUG, logger="kb4_exporter"):
        harness.session.get_json("/v1/account")

    retries = [r for r in caplog.records if r.name == "kb4_exporter.api.http"]
    assert [r.levelno for r in retries] == [logging.DEBUG, logging.INFO]
    assert "retry 1 of 4" in retries[0].getMessage()
    assert "HTTP 503" in retries[0].getMessage()


def _echoing_failures(requests_mock: Any) -> None:
    """Upstream failures whose text repeats what was sent, token included."""
    echo = {"message": f"invalid token Bearer {SECRET}"}
    requests_mock.get(f"{BASE}/v1/401", status_code=401, json=echo)
    requests_mock.get(f"{BASE}/v1/403", status_code=403, json=echo)
    requests_mock.get(f"{BASE}/v1/404", status_code=404, json=echo)
    requests_mock.get(f"{BASE}/v1/429", status_code=429, json=echo)
    requests_mock.get(f"{BASE}/v1/503", status_code=503, json=echo)
    requests_mock.get(f"{BASE}/v1/html", text=f"<p>{SECRET}</p>")
    requests_mock.get(
        f"{BASE}/v1/reset",
        exc=requests.exceptions.ConnectionError(f"reset while sending Bearer {SECRET}"),
    )
    requests_mock.get(
        f"{BASE}/v1/timeout", exc=requests.exceptions.ReadTimeout(f"timed out {SECRET}")
    )
    requests_mock.get(
        f"{BASE}/v1/header", exc=requests.exceptions.InvalidHeader(f"bad value Bearer {SECRET}")
    )


def test_token_never_appears_in_exceptions_or_logs(
    requests_mock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    _echoing_failures(requests_mock)
    harness = Harness(token=lambda: SECRET)
    raised: list[ApiError] = []

    with caplog.at_level(logging.DEBUG):
        for path in ("401", "403", "404", "429", "503", "html", "reset", "timeout", "header"):
            with pytest.raises(ApiError) as caught:
                harness.session.get_json(f"/v1/{path}")
            raised.append(caught.value)
        harness.session.set_daily_budget(0)
        with pytest.raises(BudgetExhaustedError) as exhausted:
            harness.session.get_json("/v1/401")
        raised.append(exhausted.value)

    assert requests_mock.call_count > len(raised)  # the retried ones did retry
    for error in raised:
        for text in (str(error), repr(error), str(error.__cause__), str(error.__context__)):
            assert SECRET not in text
    assert caplog.records, "retries should have been logged at DEBUG"
    for record in caplog.records:
        assert SECRET not in record.getMessage()
    assert SECRET not in repr(harness.session)
    assert "<redacted>" in str(raised[0])


def test_stats_and_budget_can_be_read_while_requests_run(requests_mock: Any) -> None:
    requests_mock.get(ACCOUNT_URL, json={})
    harness = Harness(daily_budget=10_000)
    stop = threading.Event()
    seen: list[int] = []

    def reader() -> None:
        while not stop.is_set():
            stats = harness.session.stats()
            remaining = harness.session.budget_remaining()
            assert remaining is not None
            seen.append(sum(stats.requests_by_code.values()))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(200):
            harness.session.get_json("/v1/account")
    finally:
        stop.set()
        thread.join(timeout=10)

    assert seen == sorted(seen)  # counts only ever grow
    assert harness.session.budget_remaining() == 10_000 - 200


# --- construction and lifecycle ---------------------------------------------------------------


class CountingSession(requests.Session):
    def __init__(self) -> None:
        super().__init__()
        self.closed = 0

    def close(self) -> None:
        self.closed += 1
        super().close()


def test_close_leaves_an_injected_session_to_its_owner() -> None:
    injected = CountingSession()
    harness = Harness(session=injected)

    harness.session.close()

    assert injected.closed == 0


def test_an_injected_session_is_the_one_used(requests_mock: Any) -> None:
    requests_mock.get(ACCOUNT_URL, json={})
    injected = CountingSession()
    injected.headers["X-Test"] = "injected"
    harness = Harness(session=injected)

    harness.session.get_json("/v1/account")

    assert requests_mock.last_request.headers["X-Test"] == "injected"


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ({"api": ""}, "api"),
        ({"base_url": "us.api.knowbe4.com"}, "base_url"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"connect_timeout": 0.0}, "connect_timeout"),
        ({"read_timeout": float("inf")}, "read_timeout"),
        ({"max_retry_after": -1.0}, "max_retry_after"),
    ],
)
def test_rejects_bad_settings(override: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Harness(**override)
