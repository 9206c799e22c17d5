"""The server under a connection flood: clients that connect and wait, with or without
a request, with or without credentials, must not lock `/metrics` out.

Each test fills a small connection cap the way an attacker fills the real one (256) and
then scrapes. Waits are bounded waits for a server state, never sleeps.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt
import pytest
import requests
import trustme

from kb4_exporter.server import ConnectionCounts, ExporterServer, LandingPage, Limits

EXPOSITION = b"# HELP kb4_up Test.\n# TYPE kb4_up gauge\nkb4_up 1\n"
HEALTHY = b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n"
PARTIAL_METRICS = b"GET /metrics HTTP/1.1\r\nHost: x\r\n"  # the blank line never comes
PASSWORD = "correct horse"
# Long enough that no real-time deadline passes during a test.
LIMITS = Limits(max_connections=4, read_timeout=60.0, idle_timeout=600.0)
# Keep-alive at any fill, as before near-cap closing existed: eviction alone is tested.
ALWAYS_KEEP_ALIVE = Limits(
    max_connections=4, read_timeout=60.0, idle_timeout=600.0, keep_alive_share=1.0
)


@dataclass
class Exporter:
    """The server's callables; `/metrics` can be held mid-response with `hold`."""

    hold: threading.Event | None = None
    rendering: threading.Event = field(default_factory=threading.Event)

    def render(self, accept: str | None) -> tuple[bytes, str]:
        self.rendering.set()
        if self.hold is not None:
            assert self.hold.wait(5), "the test never released the render"
        return EXPOSITION, "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Running:
    server: ExporterServer
    exporter: Exporter
    clients: list[socket.socket] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=5)
        self.clients.append(sock)
        return sock

    def counts(self) -> ConnectionCounts:
        return self.server.connection_counts()


@pytest.fixture
def start_server() -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(limits: Limits, web_config_file: str | None = None) -> Running:
        exporter = Exporter()
        server = ExporterServer(
            listen_address="127.0.0.1:0",
            render_metrics=exporter.render,
            is_ready=lambda: True,
            landing_page=LandingPage(title="t", version="v", description="d"),
            web_config_file=web_config_file,
            limits=limits,
        )
        server.start()
        started.append(Running(server, exporter))
        return started[-1]

    yield start
    for running in started:
        for sock in running.clients:
            sock.close()
        running.server.shutdown()


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for the server to reach a state; fail after `timeout` seconds of real time."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the server did not reach the expected state"
        threading.Event().wait(0.005)


def read_response(sock: socket.socket) -> bytes:
    """One whole response (head and Content-Length body) from a kept-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed mid-response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    return head + b"\r\n\r\n" + body


def is_closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def is_open(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        sock.recv(1)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)
    return False


def idle_keep_alive_client(running: Running) -> socket.socket:
    """A client that asks for /-/healthy (no credentials needed) and holds on."""
    sock = running.connect()
    sock.sendall(HEALTHY)
    response = read_response(sock)
    assert response.startswith(b"HTTP/1.1 200")
    assert b"Connection: close" not in response
    return sock


def idle_keep_alive_clients(running: Running, count: int) -> list[socket.socket]:
    """`count` idle clients, each counted as waiting before the next: oldest first."""
    already_waiting = running.counts().waiting
    clients: list[socket.socket] = []
    for _ in range(count):
        clients.append(idle_keep_alive_client(running))
        wait_for_waiting(running, already_waiting + len(clients))
    return clients


def wait_for_waiting(running: Running, count: int) -> None:
    wait_until(lambda: running.counts().waiting == count)


def scrape(
    running: Running, *, auth: tuple[str, str] | None = None, verify: str | bool = True
) -> requests.Response:
    """A scrape on a new connection, as Prometheus makes after losing its old one."""
    return requests.get(f"{running.url}/metrics", auth=auth, verify=verify, timeout=5)


# -- idle clients are evicted, oldest first --------------------------------------------


def test_idle_keep_alive_clients_at_the_cap_do_not_block_a_scrape(
    start_server: Callable[..., Running],
) -> None:
    running = start_server(ALWAYS_KEEP_ALIVE)
    idle = idle_keep_alive_clients(running, 4)

    response = scrape(running)

    assert (response.status_code, response.content) == (200, EXPOSITION)
    assert is_closed_by_server(idle[0])  # the longest idle made room
    assert all(is_open(sock) for sock in idle[1:])


@pytest.mark.parametrize("silent_count", [4, 10])
def test_silent_sockets_at_the_cap_do_not_block_a_scrape(
    start_server: Callable[..., Running], silent_count: int
) -> None:
    running = start_server(LIMITS)
    silent = [running.connect() for _ in range(silent_count)]  # connect, never send
    wait_until(lambda: running.counts() == ConnectionCounts(open=4, waiting=4))

    for _ in range(3):
        response = scrape(running)
        assert (response.status_code, response.content) == (200, EXPOSITION)
    assert is_closed_by_server(silent[0])
    assert is_open(silent[-1])  # the newest silent socket is the last to go


def test_a_kept_alive_client_is_served_again_after_idling_at_the_cap(
    start_server: Callable[..., Running],
) -> None:
    # Eviction takes the longest-waiting connection, so the scraper's own kept-alive
    # connection, newer than the flood, keeps working.
    running = start_server(ALWAYS_KEEP_ALIVE)
    flood = [running.connect() for _ in range(3)]
    scraper = idle_keep_alive_client(running)
    wait_until(lambda: running.counts() == ConnectionCounts(open=4, waiting=4))
    newcomer = idle_keep_alive_client(running)

    scraper.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")

    assert read_response(scraper).endswith(EXPOSITION)
    assert is_closed_by_server(flood[0])
    assert is_open(newcomer)


# -- busy connections are never evicted ------------------------------------------------


def test_connections_mid_request_are_never_evicted(
    start_server: Callable[..., Running],
) -> None:
    running = start_server(ALWAYS_KEEP_ALIVE)
    busy = [running.connect() for _ in range(3)]
    for sock in busy:
        sock.sendall(PARTIAL_METRICS)
    wait_until(lambda: running.counts() == ConnectionCounts(open=3, waiting=0))
    [idle] = idle_keep_alive_clients(running, 1)

    assert scrape(running).status_code == 200  # took the idle slot
    assert is_closed_by_server(idle)

    for sock in busy:
        sock.sendall(b"\r\n")
        assert read_response(sock).endswith(EXPOSITION)


def test_a_full_server_of_busy_connections_refuses_rather_than_evicts(
    start_server: Callable[..., Running],
) -> None:
    running = start_server(LIMITS)
    busy = [running.connect() for _ in range(4)]
    for sock in busy:
        sock.sendall(PARTIAL_METRICS)
    wait_until(lambda: running.counts() == ConnectionCounts(open=4, waiting=0))

    assert is_closed_by_server(running.connect())

    for sock in busy:
        sock.sendall(b"\r\n")
        assert read_response(sock).endswith(EXPOSITION)


def test_a_connection_being_answered_is_never_evicted(
    start_server: Callable[..., Running],
) -> None:
    running = start_server(
        Limits(max_connections=2, read_timeout=60.0, idle_timeout=600.0, keep_alive_share=1.0)
    )
    running.exporter.hold = threading.Event()
    answering = running.connect()
    answering.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert running.exporter.rendering.wait(5)
    idle = running.connect()  # waiting for its first request: the one to evict
    wait_until(lambda: running.counts() == ConnectionCounts(open=2, waiting=1))

    try:
        newcomer = running.connect()
        assert is_closed_by_server(idle)
    finally:
        running.exporter.hold.set()

    assert read_response(answering).endswith(EXPOSITION)
    newcomer.sendall(HEALTHY)
    assert read_response(newcomer).startswith(b"HTTP/1.1 200")


# -- keep-alive is not offered where it would hold slots -------------------------------


def test_keep_alive_stops_near_the_cap(start_server: Callable[..., Running]) -> None:
    running = start_server(LIMITS)  # 4 connections, keep-alive while at most 3 are open
    held = [idle_keep_alive_client(running) for _ in range(3)]
    fourth = running.connect()
    fourth.sendall(HEALTHY)

    assert b"Connection: close" in read_response(fourth)
    assert is_closed_by_server(fourth)
    assert all(is_open(sock) for sock in held)


@pytest.fixture
def auth_config(tmp_path: Path) -> str:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    path = tmp_path / "web.yml"
    path.write_text(f"basic_auth_users:\n  prometheus: '{hashed}'\n")
    return str(path)


def test_a_401_closes_the_connection(
    start_server: Callable[..., Running], auth_config: str
) -> None:
    running = start_server(LIMITS, auth_config)
    sock = running.connect()
    sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")

    response = read_response(sock)

    assert response.startswith(b"HTTP/1.1 401")
    assert b"Connection: close" in response
    assert is_closed_by_server(sock)


def test_unauthenticated_clients_cannot_fill_the_cap(
    start_server: Callable[..., Running], auth_config: str
) -> None:
    running = start_server(ALWAYS_KEEP_ALIVE, auth_config)
    for _ in range(8):
        sock = running.connect()
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock).startswith(b"HTTP/1.1 401")
        assert is_closed_by_server(sock)
    wait_until(lambda: running.counts() == ConnectionCounts(open=0, waiting=0))
    probes = idle_keep_alive_clients(running, 4)  # probes need no credentials

    response = scrape(running, auth=("prometheus", PASSWORD))

    assert (response.status_code, response.content) == (200, EXPOSITION)
    assert is_closed_by_server(probes[0])


# -- the same over TLS -----------------------------------------------------------------


@pytest.fixture
def tls_config(tmp_path: Path) -> tuple[str, str]:
    """A web config serving TLS for 127.0.0.1, and the CA file that trusts it."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "server.crt"))
    cert.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.crt"))
    path = tmp_path / "web.yml"
    path.write_text(
        "tls_server_config:\n"
        f"  cert_file: {tmp_path / 'server.crt'}\n"
        f"  key_file: {tmp_path / 'server.key'}\n"
    )
    return str(path), str(tmp_path / "ca.crt")


def test_idle_tls_clients_and_silent_sockets_do_not_block_a_tls_scrape(
    start_server: Callable[..., Running], tls_config: tuple[str, str]
) -> None:
    web_config_file, ca_file = tls_config
    running = start_server(ALWAYS_KEEP_ALIVE, web_config_file)
    context = ssl.create_default_context(cafile=ca_file)
    silent = [running.connect() for _ in range(2)]  # no TLS handshake ever starts
    idle_tls = []
    for _ in range(2):
        tls = context.wrap_socket(running.connect(), server_hostname="127.0.0.1")
        tls.sendall(HEALTHY)
        assert read_response(tls).startswith(b"HTTP/1.1 200")
        idle_tls.append(tls)
    wait_until(lambda: running.counts() == ConnectionCounts(open=4, waiting=4))

    for _ in range(3):
        response = scrape(running, verify=ca_file)
        assert (response.status_code, response.content) == (200, EXPOSITION)
    assert all(is_closed_by_server(sock) for sock in silent)
    for tls in idle_tls:
        tls.close()
