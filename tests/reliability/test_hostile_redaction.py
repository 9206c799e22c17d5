"""Hostile echoes of the token: a server that quotes the token it was sent back in a
refused redirect, an error message or a header, URL-encoded, in another case or cut.

No run of the token that redaction is meant to catch reaches a log line or an error,
however it was transformed; of a refused redirect only the origin is quoted at all.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from urllib.parse import quote, unquote

import pytest
from kb4_fakes import NOW, small_org

from kb4_exporter.api.redaction import MIN_REDACTED_RUN
from kb4_exporter.logs import LogfmtFormatter, register_secret
from reliability.harness import exporter_records, start_hostile_exporter
from reliability.hostile_upstream import REPORTING_TOKEN, AlarmClock, HostileUpstream, Writer

TOKEN = REPORTING_TOKEN


def transformed_copies(token: str) -> list[str]:
    return [
        quote(token, safe=""),
        quote(quote(token, safe=""), safe=""),
        token.upper(),
        token.swapcase(),
        token[5:35],
        f"...{token[-10:]}",
    ]


def copies_left(text: str) -> list[str]:
    view = unquote(unquote(unquote(text))).lower()
    needle = TOKEN.lower()
    size = MIN_REDACTED_RUN
    return [
        needle[i : i + size] for i in range(len(needle) - size + 1) if needle[i : i + size] in view
    ]


@pytest.fixture
def upstream() -> Iterator[HostileUpstream]:
    with HostileUpstream(small_org(NOW), AlarmClock(NOW)) as up:
        yield up


def echo_in_redirect(out: Writer) -> None:
    query = "&".join(f"c{n}={copy}" for n, copy in enumerate(transformed_copies(TOKEN)))
    location = f"https://{TOKEN.lower()[:20]}.evil.example/login?{query}"
    out.head(302, {"Location": location, "Content-Length": "0"})


def echo_in_error(out: Writer) -> None:
    body = json.dumps({"message": "invalid token " + " ".join(transformed_copies(TOKEN))})
    headers = {
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        "X-Request-Id": f"req-{quote(TOKEN, safe='')}",
    }
    if out.head(401, headers):
        out.write(body.encode())


@pytest.mark.parametrize(
    ("path", "echo", "source", "reason"),
    [
        ("/v1/groups", echo_in_redirect, "groups", "bad_response"),
        ("/v1/users", echo_in_error, "users", "auth"),
    ],
    ids=["refused-redirect", "error-message-and-request-id"],
)
def test_no_echo_of_the_token_reaches_a_log_line(
    upstream: HostileUpstream,
    caplog: pytest.LogCaptureFixture,
    path: str,
    echo: object,
    source: str,
    reason: str,
) -> None:
    exporter = start_hostile_exporter(upstream)
    register_secret(TOKEN)
    upstream.raw[path] = echo  # type: ignore[assignment]
    caplog.set_level(logging.DEBUG)

    exporter.refresh()

    results = exporter.runtime.refresher.results
    assert results.errors.get((source, reason)) == 1
    records = exporter_records(caplog.records, logging.DEBUG)
    assert any(source in record.getMessage() for record in records)
    formatter = LogfmtFormatter()
    for record in records:
        assert copies_left(record.getMessage()) == []
        assert copies_left(formatter.format(record)) == []
