"""Attacks from the scraper's side of `serve`, each against the real server on loopback.

Each test is a row of the scraper-side table in docs/reliability.md: what a hostile or
broken client (or operator) does, and what the server must still do meanwhile. Floods
are a fixed number of sockets from 127.0.0.1, every wait is bounded, and nothing sleeps:
the throttle's clock is injected, and the server's own timeouts are far longer than a
test, so no connection is closed for taking too long.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest
import requests
import trustme
from prometheus_client import CollectorRegistry
from support.web_server_kit import (
    ManualClock,
    basic_auth,
    bump_mtime,
    exchange,
    half_client_hello,
    open_connections,
    open_files_for,
    raise_open_file_limit,
    send_to_all,
    write_server_certificates,
)

from kb4_exporter.metrics.exposition import MetricsBody
from kb4_exporter.web.basic_auth import AttemptThrottle, Rate
from kb4_exporter.web.pages import LandingPage
from kb4_exporter.web.server import ExporterServer
from kb4_exporter.web.tls_handover import MAX_CONNECTIONS
from kb4_exporter.web.web_config_metrics import WebConfigCollector
from kb4_exporter.web.web_config_reloader import WebConfigReloader

pytestmark = pytest.mark.slow

FLOOD = 1000
SCRAPES = 5
PASSWORD = "correct horse"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
EXPOSITION = b"# HELP kb4_up Test.\n# TYPE kb4_up gauge\nkb4_up 1\n"
SERVER_LOG = "kb4_exporter.web.server"


@dataclass
class Target:
    """A running server, the reloader of its web config and the CA that trusts it."""

    server: ExporterServer
    web_config: WebConfigReloader
    ca_file: str

    @property
    def port(self) -> int:
        return self.server.port

    def scrape(self, scheme: str, **kwargs: object) -> requests.Response:
        url = f"{scheme}://127.0.0.1:{self.port}/metrics"
        return requests.get(url, verify=self.ca_file, timeout=10, **kwargs)  # type: ignore[arg-type]

    def reload_failures(self) -> float | None:
        registry = CollectorRegistry()
        registry.register(WebConfigCollector(self.web_config))
        return registry.get_sample_value("kb4_web_config_reload_failures_total")


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    write_server_certificates(tmp_path, trustme.CA())
    return tmp_path


def write_web_config(directory: Path, *, tls: bool, auth: bool) -> Path:
    lines = []
    if tls:
        lines += ["tls_server_config:", "  cert_file: server.crt", "  key_file: server.key"]
    if auth:
        lines += ["basic_auth_users:", f"  prometheus: '{HASH}'"]
    path = directory / "web.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def start() -> Iterator[Callable[..., Target]]:
    started: list[ExporterServer] = []

    def run(
        pki: Path,
        *,
        tls: bool,
        auth: bool,
        throttle: AttemptThrottle | None = None,
        max_connections: int = MAX_CONNECTIONS,
    ) -> Target:
        web_config = WebConfigReloader(str(write_web_config(pki, tls=tls, auth=auth)))
        server = ExporterServer(
            listen_address="127.0.0.1:0",
            render_metrics=lambda accept, gzip_ok: MetricsBody(EXPOSITION, "text/plain"),
            readiness=lambda: None,
            landing_page=LandingPage("t", "v", "d"),
            web_config=web_config,
            throttle=throttle,
            max_connections=max_connections,
        )
        server.start()
        started.append(server)
        return Target(server, web_config, str(pki / "ca.crt"))

    yield run
    for server in started:
        server.shutdown()


def flood(port: int, count: int) -> contextlib.AbstractContextManager[list[socket.socket]]:
    """`count` TCP connections from 127.0.0.1, closed on exit."""
    needed = open_files_for(count)
    if not raise_open_file_limit(needed):
        pytest.skip(f"needs {needed} open files, more than the hard limit")
    return open_connections(port, count)


def basic(password: str) -> dict[str, str]:
    return {"Authorization": basic_auth("prometheus", password)}


# -- floods from one address -----------------------------------------------------------


@pytest.mark.parametrize("trickle", [True, False], ids=["slowloris", "silent"])
def test_a_thousand_slow_connections_from_one_address_do_not_stop_scrapes(
    start: Callable[..., Target], pki: Path, trickle: bool
) -> None:
    target = start(pki, tls=False, auth=True)
    with flood(target.port, FLOOD) as socks:
        for round_ in range(3):
            if trickle:  # busy but slow: a request head a line at a time, never ending
                line = b"GET /metrics HTTP/1.1\r\nHost: x\r\n" if round_ == 0 else b"X-a: b\r\n"
                send_to_all(socks, line)
            for _ in range(SCRAPES):
                response = target.scrape("http", headers=basic(PASSWORD))
                assert (response.status_code, response.content) == (200, EXPOSITION)


def test_a_thousand_half_sent_tls_hellos_do_not_stop_tls_scrapes(
    start: Callable[..., Target], pki: Path
) -> None:
    target = start(pki, tls=True, auth=True)
    with flood(target.port, FLOOD) as socks:
        send_to_all(socks, half_client_hello())
        for _ in range(SCRAPES):
            response = target.scrape("https", headers=basic(PASSWORD))
            assert (response.status_code, response.content) == (200, EXPOSITION)


def closed_by_the_server(sock: socket.socket, wait: float) -> bool:
    """Whether the server closed `sock` within `wait` seconds."""
    sock.settimeout(wait)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "plain"])
def test_open_connections_are_capped_by_closing_the_oldest(
    start: Callable[..., Target], pki: Path, tls: bool
) -> None:
    # Memory stays bounded whatever one client opens: an idle TLS connection holds
    # asyncio's 256 KiB read buffer.
    target = start(pki, tls=tls, auth=False, max_connections=4)
    with flood(target.port, 6) as socks:
        assert [closed_by_the_server(sock, 5.0) for sock in socks[:2]] == [True, True]
        assert [closed_by_the_server(sock, 0.2) for sock in socks[2:]] == [False] * 4
        # A scraper's fresh connection is the newest: it lives to finish its scrape.
        response = target.scrape("https" if tls else "http")
        assert (response.status_code, response.content) == (200, EXPOSITION)


# -- the web config file ---------------------------------------------------------------


def empty(path: Path) -> None:
    path.write_text("")


def comments_only(path: Path) -> None:
    path.write_text("# tls_server_config and basic_auth_users moved elsewhere\n")


def delete(path: Path) -> None:
    path.unlink()


def half_saved(path: Path) -> None:
    # A non-atomic save caught half-way: TLS settings written, the users not yet.
    text = path.read_text()
    path.write_text(text[: text.index("basic_auth_users")])


@pytest.mark.parametrize("damage", [empty, comments_only, delete, half_saved])
def test_a_damaged_web_config_never_drops_tls_or_auth(
    start: Callable[..., Target],
    pki: Path,
    caplog: pytest.LogCaptureFixture,
    damage: Callable[[Path], None],
) -> None:
    target = start(pki, tls=True, auth=True)
    assert target.scrape("https", headers=basic(PASSWORD)).status_code == 200
    path = pki / "web.yml"
    damage(path)
    if path.exists():
        bump_mtime(path, 10)

    with caplog.at_level(logging.ERROR, logger="kb4_exporter.web.web_config_reloader"):
        assert target.scrape("https").status_code == 401
        assert target.scrape("https", headers=basic("wrong")).status_code == 401
        assert target.scrape("https", headers=basic(PASSWORD)).status_code == 200
        with pytest.raises(requests.exceptions.ConnectionError):
            target.scrape("http")
    assert target.reload_failures() == 1
    refusals = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(refusals) == 1
    assert "web config reload refused" in refusals[0].getMessage()


# -- malformed requests ----------------------------------------------------------------


@pytest.mark.parametrize(
    "content_length",
    [
        b"\xb2",  # a superscript two in Latin-1: str.isdigit() says yes
        "\N{SUPERSCRIPT TWO}".encode(),
        "\N{ARABIC-INDIC DIGIT THREE}".encode(),
        b"9" * 5000,
        b"1_0",
        b"+5",
        b"0x10",
        b"5, 5",
    ],
    ids=[
        "latin-1-superscript",
        "utf-8-superscript",
        "arabic-indic",
        "5000-digits",
        "underscore",
        "plus",
        "hex",
        "list",
    ],
)
def test_a_bad_content_length_is_a_400_without_a_traceback(
    start: Callable[..., Target],
    pki: Path,
    caplog: pytest.LogCaptureFixture,
    content_length: bytes,
) -> None:
    target = start(pki, tls=False, auth=True)  # refused before authentication
    request = b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: " + content_length + b"\r\n\r\n"
    with caplog.at_level(logging.DEBUG):
        answer = exchange(target.port, request)
        assert target.scrape("http", headers=basic(PASSWORD)).status_code == 200
    assert answer.split(b" ", 2)[1] == b"400"
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert all("\n" not in r.getMessage() for r in caplog.records if r.name == SERVER_LOG)


# -- password guessing -----------------------------------------------------------------


def test_password_guessing_is_throttled_and_never_slows_authorised_scrapes(
    start: Callable[..., Target], pki: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    throttle = AttemptThrottle(
        clock=ManualClock(), per_client=Rate(burst=5, per_second=0.5), overall=Rate(20, 2)
    )
    target = start(pki, tls=False, auth=True, throttle=throttle)
    assert target.scrape("http", headers=basic(PASSWORD)).status_code == 200  # learnt once

    # Guesses block inside bcrypt until released: a check that never ends must not hold
    # up anyone whose credentials are already known.
    release = threading.Event()
    checks: list[bytes] = []
    real_checkpw = bcrypt.checkpw

    def slow_checkpw(password: bytes, hashed: bytes) -> bool:
        checks.append(password)
        assert release.wait(10), "the test never released the guesses"
        return real_checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", slow_checkpw)
    statuses: list[int] = []

    def guess(n: int) -> None:
        statuses.append(target.scrape("http", headers=basic(f"guess {n}")).status_code)

    guessers = [threading.Thread(target=guess, args=(n,)) for n in range(40)]
    try:
        for thread in guessers:
            thread.start()
        for _ in range(SCRAPES):
            response = target.scrape("http", headers=basic(PASSWORD))
            assert (response.status_code, response.content) == (200, EXPOSITION)
    finally:
        release.set()
        for thread in guessers:
            thread.join(10)
    # The first scrape spent one of the address's five checks; four guesses got theirs.
    assert len(checks) == 4
    assert sorted(statuses) == [401] * 4 + [429] * 36
