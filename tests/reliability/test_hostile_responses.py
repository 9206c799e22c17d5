"""Hostile bytes from KnowBe4: bodies too large, on the wire or once decompressed, and
servers too slow to ever finish (a trickle of bytes, slow headers, slow pages).

A body over MAX_RESPONSE_BYTES is `bad_response` after at most that many bytes are read;
a request over REQUEST_DEADLINE_SECONDS and a refresh over its interval are `timeout`.
Either way the source goes down, its last good data stays, and the rest of the refresh
goes on. The trickles move the shared fake clock as they send, so the deadlines go off
in fake time: nothing here waits on the wall clock.
"""

from __future__ import annotations

import gzip
import socket
import threading
import tracemalloc
import zlib
from collections.abc import Iterator
from functools import cache

import pytest
from kb4_fakes import NOW, small_org

from kb4_exporter.api.body import MAX_RESPONSE_BYTES
from kb4_exporter.api.errors import ApiTimeoutError
from kb4_exporter.api.http import REQUEST_DEADLINE_SECONDS, PacedSession
from kb4_exporter.api.pacing import RateLimiter, RequestLedger
from kb4_exporter.config.settings import Settings
from reliability.harness import Exporter, Scrape, start_hostile_exporter
from reliability.hostile_upstream import REPORTING_TOKEN, AlarmClock, HostileUpstream, Writer

GROUPS = "/v1/groups"
MIB = 1024 * 1024
JSON = {"Content-Type": "application/json"}
# What a body may cost in memory while it is read and refused: the body itself and the
# chunks on their way.
MEMORY_BOUND = 2 * MAX_RESPONSE_BYTES + 8 * MIB
# What a client reading at most MAX_RESPONSE_BYTES can have taken from the server: that,
# plus what the two sockets' buffers held when it hung up.
SENT_BOUND = MAX_RESPONSE_BYTES + 16 * MIB


@pytest.fixture
def upstream() -> Iterator[HostileUpstream]:
    with HostileUpstream(small_org(NOW), AlarmClock(NOW)) as up:
        yield up


def refreshed(upstream: HostileUpstream, settings: Settings | None = None) -> Exporter:
    exporter = start_hostile_exporter(upstream, settings=settings)
    exporter.refresh()
    return exporter


def refresh_errors_after_fault(
    upstream: HostileUpstream, exporter: Exporter
) -> tuple[Scrape, dict[tuple[str, str], float]]:
    """Refresh with the fault in place: the scrape and what grew in the error counters."""
    before = exporter.scrape().refresh_errors()
    exporter.refresh()
    after = exporter.scrape()
    grown = {key: value - before.get(key, 0) for key, value in after.refresh_errors().items()}
    return after, {key: value for key, value in grown.items() if value}


def assert_only_groups_failed(
    scrape: Scrape, reason: str, grown: dict[tuple[str, str], float]
) -> None:
    assert grown == {("groups", reason): 1}
    assert scrape.sources_down() == {"groups"}
    # The last good groups stay on /metrics.
    assert scrape.value("kb4_group_users", account="acme", group="Sales", group_id="100") == 2


def test_body_over_the_limit_is_bad_response(upstream: HostileUpstream) -> None:
    exporter = refreshed(upstream)
    writers: list[Writer] = []

    def endless_body(out: Writer) -> None:
        writers.append(out)
        if out.head(200, JSON):
            out.write(b"[")
            out.repeat(b'{"id": 1, "name": "padding"},' * 32_768, times=200)  # 200 x 1 MiB

    upstream.raw[GROUPS] = endless_body
    tracemalloc.start()
    try:
        scrape, grown = refresh_errors_after_fault(upstream, exporter)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert_only_groups_failed(scrape, "bad_response", grown)
    assert [writer.written < SENT_BOUND for writer in writers] == [True]
    assert peak < MEMORY_BOUND


def test_declared_length_over_the_limit_is_refused_unread(upstream: HostileUpstream) -> None:
    exporter = refreshed(upstream)
    writers: list[Writer] = []

    def huge_declared(out: Writer) -> None:
        writers.append(out)
        headers = {**JSON, "Content-Length": str(200 * MIB)}
        if out.head(200, headers):
            out.repeat(b" " * MIB, times=200)

    upstream.raw[GROUPS] = huge_declared
    scrape, grown = refresh_errors_after_fault(upstream, exporter)

    assert_only_groups_failed(scrape, "bad_response", grown)
    assert writers[0].written < SENT_BOUND - MAX_RESPONSE_BYTES


@cache
def gzip_bomb() -> bytes:
    """256 MiB of spaces, gzipped to a few hundred kilobytes."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [compressor.compress(b" " * MIB) for _ in range(256)]
    return b"".join(parts) + compressor.flush()


def test_gzip_bomb_is_bad_response_with_bounded_memory(upstream: HostileUpstream) -> None:
    exporter = refreshed(upstream)
    bomb = gzip_bomb()
    assert len(bomb) < MIB

    def serve_bomb(out: Writer) -> None:
        headers = {**JSON, "Content-Encoding": "gzip", "Content-Length": str(len(bomb))}
        if out.head(200, headers):
            out.write(bomb)

    upstream.raw[GROUPS] = serve_bomb
    tracemalloc.start()
    try:
        scrape, grown = refresh_errors_after_fault(upstream, exporter)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert_only_groups_failed(scrape, "bad_response", grown)
    assert peak < MEMORY_BOUND


def test_compressed_stream_without_output_is_cut_on_the_wire(upstream: HostileUpstream) -> None:
    exporter = refreshed(upstream)
    writers: list[Writer] = []
    empty_members = gzip.compress(b"") * 50_000  # about 1 MiB that decompresses to nothing

    def nothing_forever(out: Writer) -> None:
        writers.append(out)
        if out.head(200, {**JSON, "Content-Encoding": "gzip"}):
            out.repeat(empty_members, times=200)

    upstream.raw[GROUPS] = nothing_forever
    scrape, grown = refresh_errors_after_fault(upstream, exporter)

    assert_only_groups_failed(scrape, "bad_response", grown)
    assert writers[0].written < SENT_BOUND


# --- deadlines --------------------------------------------------------------------------

SECONDS_PER_BYTE = 5.0


def test_body_trickled_past_the_request_deadline_is_a_timeout(upstream: HostileUpstream) -> None:
    exporter = refreshed(upstream)
    body = b"[" + b" " * 100 + b"]"  # valid JSON, 102 bytes: 510 s at 5 s a byte

    def trickle(out: Writer) -> None:
        if out.head(200, {**JSON, "Content-Length": str(len(body))}):
            out.trickle(body, SECONDS_PER_BYTE)

    upstream.raw[GROUPS] = trickle
    started = upstream.clock()
    scrape, grown = refresh_errors_after_fault(upstream, exporter)

    assert_only_groups_failed(scrape, "timeout", grown)
    # Five attempts, each cut at the deadline (plus one byte's wait), and the back-off.
    attempts = upstream.requests.count(GROUPS) - 1
    assert attempts == 5
    assert upstream.clock() - started < 5 * (REQUEST_DEADLINE_SECONDS + SECONDS_PER_BYTE) + 60


def test_headers_trickled_past_the_request_deadline_are_a_timeout(
    upstream: HostileUpstream,
) -> None:
    exporter = refreshed(upstream)
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + b"X-Pad: x\r\n" * 20

    def slow_head(out: Writer) -> None:
        out.trickle(head, SECONDS_PER_BYTE)

    upstream.raw[GROUPS] = slow_head
    scrape, grown = refresh_errors_after_fault(upstream, exporter)

    assert_only_groups_failed(scrape, "timeout", grown)


def test_refresh_past_its_interval_stops_with_timeout(upstream: HostileUpstream) -> None:
    interval = 450.0
    exporter = refreshed(upstream, Settings(accounts=(), refresh_interval=interval))
    # Every call answers in 100 s, within the request deadline, but the core refresh's
    # eleven calls would then take 1,100 s.
    upstream.seconds_per_request = 100.0
    started = upstream.clock()
    served = len(upstream.requests)

    assert not exporter.runtime.refresh_core()

    results = exporter.runtime.refresher.results
    timed_out = {source for (source, reason), n in results.errors.items() if reason == "timeout"}
    assert {"enrollments", "security_tests", "risk_history"} <= timed_out
    assert not any(results.sources[source].up for source in timed_out)
    # No call was sent after the deadline, and none ran past it (by more than the second
    # the fake server's clock moves in one step).
    assert upstream.clock() - started <= interval + 1
    assert len(upstream.requests) - served <= interval // upstream.seconds_per_request + 1
    # The next refresh starts afresh, within a deadline of its own.
    upstream.seconds_per_request = 0.0
    assert exporter.runtime.refresh_core()


def test_an_interval_shorter_than_a_request_deadline_cuts_no_request_sooner(
    upstream: HostileUpstream,
) -> None:
    # PhishER refreshing every minute (a demo, a test) still lets its one call take the
    # 120 s any request may take; a longer one is cut at that.
    exporter = refreshed(upstream, Settings(accounts=(), phisher_refresh_interval=60.0))
    upstream.seconds_per_request = 90.0

    assert exporter.runtime.refresh_phisher()

    upstream.seconds_per_request = REQUEST_DEADLINE_SECONDS + 30
    started = upstream.clock()
    assert not exporter.runtime.refresh_phisher()
    results = exporter.runtime.refresher.results
    assert results.errors.get(("phisher", "timeout")) == 1
    assert upstream.clock() - started <= REQUEST_DEADLINE_SECONDS + 1


def test_tls_handshake_trickled_past_the_request_deadline_is_a_timeout() -> None:
    """A server that answers the ClientHello with a TLS record it sends one byte at a time."""
    clock = AlarmClock(NOW)
    listener = socket.create_server(("127.0.0.1", 0))
    sent: list[int] = []

    def trickle_a_handshake() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(4096)  # the ClientHello
            # A handshake record header announcing 16 KiB, then its body, byte by byte.
            record = b"\x16\x03\x03\x40\x00" + b"\x02" * 16_384
            for index in range(len(record)):
                clock.advance(SECONDS_PER_BYTE)
                try:
                    connection.sendall(record[index : index + 1])
                except OSError:
                    break
                sent.append(index)

    server = threading.Thread(target=trickle_a_handshake, daemon=True)
    server.start()
    session = PacedSession(
        api="reporting",
        base_url=f"https://127.0.0.1:{listener.getsockname()[1]}",
        token=lambda: REPORTING_TOKEN,
        limiter=RateLimiter(per_second=1000, per_minute=100_000, clock=clock, sleep=clock.sleep),
        ledger=RequestLedger(clock=clock),
        clock=clock,
        sleep=clock.sleep,
        alarm=clock.alarm,
        max_attempts=1,
    )
    try:
        with pytest.raises(ApiTimeoutError, match="no complete response within 120 s"):
            session.get_json("/v1/account")
    finally:
        session.close()
        server.join(timeout=10)
        listener.close()

    assert not server.is_alive()
    assert len(sent) <= REQUEST_DEADLINE_SECONDS / SECONDS_PER_BYTE + 2
