"""The HTTP(S) server against real sockets, real certificates and real clients."""

from __future__ import annotations

import asyncio
import base64
import gzip
import http.client
import logging
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt
import pytest
import requests
import trustme
from support.web_server_kit import bump_mtime, exchange, write_server_certificates

from kb4_exporter.metrics.exposition import MetricsBody
from kb4_exporter.web import server as server_module
from kb4_exporter.web.basic_auth import AttemptThrottle
from kb4_exporter.web.listen_address import ListenError
from kb4_exporter.web.pages import LandingPage, accepts_gzip
from kb4_exporter.web.server import ExporterServer
from kb4_exporter.web.tls_handover import ConnectionHandover
from kb4_exporter.web.web_config_reloader import WebConfigReloader

PASSWORD = "correct horse"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
EXPOSITION = b"# HELP kb4_up Test.\n# TYPE kb4_up gauge\nkb4_up 1\n" * 50
LANDING = LandingPage(title="KnowBe4 <exporter>", version="1.2.3", description="KRIs & more")


@dataclass
class FakeExporter:
    """The callables the server is given, recording what they were called with."""

    waiting_for: str | None = None
    accept_headers: list[str | None] = field(default_factory=list)
    fail: bool = False
    ready_check_fails: bool = False

    def render(self, accept: str | None, gzip_ok: bool) -> MetricsBody:
        self.accept_headers.append(accept)
        if self.fail:
            raise RuntimeError("collector broke")
        content_type = "text/plain; version=0.0.4; charset=utf-8"
        if gzip_ok:
            return MetricsBody(gzip.compress(EXPOSITION), content_type, gzipped=True)
        return MetricsBody(EXPOSITION, content_type)

    def readiness(self) -> str | None:
        if self.ready_check_fails:
            raise RuntimeError("readiness check broke")
        return self.waiting_for


@dataclass
class Running:
    server: ExporterServer
    exporter: FakeExporter

    @property
    def url(self) -> str:
        return self.server.url

    def raw(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=5)
        return sock


@pytest.fixture
def start_server() -> Iterator[Callable[..., Running]]:
    started: list[ExporterServer] = []

    def start(
        web_config_file: str | None = None,
        *,
        listen_address: str = "127.0.0.1:0",
        throttle: AttemptThrottle | None = None,
    ) -> Running:
        exporter = FakeExporter()
        srv = ExporterServer(
            listen_address=listen_address,
            render_metrics=exporter.render,
            readiness=exporter.readiness,
            landing_page=LANDING,
            web_config=WebConfigReloader(web_config_file),
            throttle=throttle,
        )
        srv.start()
        started.append(srv)
        return Running(srv, exporter)

    yield start
    for srv in started:
        srv.shutdown()


@pytest.fixture
def plain(start_server: Callable[..., Running]) -> Running:
    return start_server()


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


# -- certificates ----------------------------------------------------------------------


@dataclass
class Pki:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as files."""

    dir: Path
    ca: trustme.CA

    @property
    def ca_file(self) -> str:
        return str(self.dir / "ca.crt")

    @property
    def client(self) -> tuple[str, str]:
        return str(self.dir / "client.crt"), str(self.dir / "client.key")

    def write(self) -> None:
        write_server_certificates(self.dir, self.ca)
        client = self.ca.issue_cert("prometheus.example")
        client.cert_chain_pems[0].write_to_path(self.client[0])
        client.private_key_pem.write_to_path(self.client[1])


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(directory, trustme.CA())
    pki.write()
    return pki


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


def web_config(path: Path, pki: Pki | None, *, users: bool = False, client: str = "") -> str:
    lines: list[str] = []
    if pki is not None:
        lines += [
            "tls_server_config:",
            f"  cert_file: {pki.dir / 'server.crt'}",
            f"  key_file: {pki.dir / 'server.key'}",
        ]
        if client:
            lines += [f"  client_auth_type: {client}", f"  client_ca_file: {pki.ca_file}"]
    if users:
        lines += ["basic_auth_users:", f"  prometheus: '{HASH}'"]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


# -- listen addresses ------------------------------------------------------------------


def test_all_interfaces_reaches_ipv4_and_ipv6(start_server: Callable[..., Running]) -> None:
    running = start_server(listen_address=":0")
    assert running.url == f"http://127.0.0.1:{running.server.port}"
    if socket.has_dualstack_ipv6():
        expected = f"http://[::]:{running.server.port} (every IPv4 and IPv6 address)"
    else:
        expected = f"http://0.0.0.0:{running.server.port} (every IPv4 address)"
    assert running.server.bound == expected  # what the log says: all of it
    assert requests.get(f"{running.url}/-/healthy", timeout=5).status_code == 200
    if socket.has_dualstack_ipv6():
        url = f"http://[::1]:{running.server.port}/-/healthy"
        assert requests.get(url, timeout=5).status_code == 200


def test_ipv6_loopback(start_server: Callable[..., Running]) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    running = start_server(listen_address="[::1]:0")
    assert running.url == f"http://[::1]:{running.server.port}"
    assert requests.get(f"{running.url}/-/healthy", timeout=5).text == "OK\n"


def test_loopback_is_described_as_it_is(plain: Running) -> None:
    assert plain.server.bound == f"http://127.0.0.1:{plain.server.port}"


def test_busy_port_is_one_clear_error(plain: Running) -> None:
    other = ExporterServer(
        listen_address=f"127.0.0.1:{plain.server.port}",
        render_metrics=plain.exporter.render,
        readiness=plain.exporter.readiness,
        landing_page=LANDING,
    )
    with pytest.raises(ListenError) as caught:
        other.start()
    assert str(caught.value) == (
        f"cannot listen on 127.0.0.1:{plain.server.port}: "
        "address already in use (another process has the port)"
    )
    other.shutdown()


def test_port_before_start_is_an_error() -> None:
    srv = ExporterServer(
        listen_address="127.0.0.1:0",
        render_metrics=FakeExporter().render,
        readiness=FakeExporter().readiness,
        landing_page=LANDING,
    )
    with pytest.raises(RuntimeError):
        _ = srv.port
    srv.shutdown()


# -- endpoints -------------------------------------------------------------------------


def test_metrics_passes_accept_and_gzips_for_prometheus(plain: Running) -> None:
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    response = requests.get(
        f"{plain.url}/metrics",
        headers={"Accept": accept, "Accept-Encoding": "gzip"},
        timeout=5,
        stream=True,
    )
    raw_body = response.raw.read(decode_content=False)
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert gzip.decompress(raw_body) == EXPOSITION
    assert int(response.headers["Content-Length"]) == len(raw_body) < len(EXPOSITION)
    assert plain.exporter.accept_headers == [accept]


@pytest.mark.parametrize("accept_encoding", ["identity", "gzip;q=0", "br, deflate"])
def test_metrics_uncompressed_unless_gzip_is_accepted(plain: Running, accept_encoding: str) -> None:
    response = requests.get(
        f"{plain.url}/metrics", headers={"Accept-Encoding": accept_encoding}, timeout=5
    )
    assert "Content-Encoding" not in response.headers
    assert response.content == EXPOSITION


def test_metrics_failure_is_a_fixed_500(plain: Running, caplog: pytest.LogCaptureFixture) -> None:
    plain.exporter.fail = True
    with caplog.at_level(logging.ERROR, logger="kb4_exporter.web.pages"):
        response = requests.get(f"{plain.url}/metrics", timeout=5)
    assert response.status_code == 500
    assert response.text == "500 Internal Server Error\n"
    assert "rendering /metrics failed" in caplog.text


def test_healthy(plain: Running) -> None:
    response = requests.get(f"{plain.url}/-/healthy", timeout=5)
    assert (response.status_code, response.text) == (200, "OK\n")


def test_ready_follows_the_exporter_and_says_what_it_waits_for(plain: Running) -> None:
    assert requests.get(f"{plain.url}/-/ready", timeout=5).status_code == 200
    plain.exporter.waiting_for = "account acme (users)"
    response = requests.get(f"{plain.url}/-/ready", timeout=5)
    assert (response.status_code, response.text) == (503, "not ready: account acme (users)\n")


def test_ready_is_503_when_the_check_raises(plain: Running) -> None:
    plain.exporter.ready_check_fails = True
    response = requests.get(f"{plain.url}/-/ready", timeout=5)
    assert response.status_code == 503
    assert "readiness check failed" in response.text


def test_landing_page_escapes_and_links(plain: Running) -> None:
    response = requests.get(f"{plain.url}/", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "KnowBe4 &lt;exporter&gt;" in response.text
    assert "KRIs &amp; more" in response.text
    assert "1.2.3" in response.text
    for link in ('href="metrics"', 'href="-/healthy"', 'href="-/ready"'):
        assert link in response.text
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Server"] == "kb4_exporter"  # no library or Python version


@pytest.mark.parametrize("path", ["/metricsx", "/metrics/", "/index.html", "/-/reload"])
def test_other_paths_are_404(plain: Running, path: str) -> None:
    response = requests.get(f"{plain.url}{path}", timeout=5)
    assert (response.status_code, response.text) == (404, "404 Not Found\n")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"])
@pytest.mark.parametrize("path", ["/", "/metrics", "/-/healthy", "/-/ready"])
def test_other_methods_are_405_with_allow(plain: Running, method: str, path: str) -> None:
    response = requests.request(method, f"{plain.url}{path}", timeout=5)
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["Allow"].split(",")} == {"GET", "HEAD"}


@pytest.mark.parametrize("path", ["/", "/metrics", "/-/healthy", "/-/ready"])
def test_head_has_the_headers_of_get_and_no_body(plain: Running, path: str) -> None:
    get = requests.get(f"{plain.url}{path}", headers={"Accept-Encoding": "identity"}, timeout=5)
    raw = exchange(
        plain.server.port, f"HEAD {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    )
    head, _, body = raw.partition(b"\r\n\r\n")
    assert status_of(raw) == 200
    assert body == b""
    assert f"Content-Length: {len(get.content)}".encode() in head


def test_keep_alive_serves_several_requests_on_one_connection(plain: Running) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", plain.server.port, timeout=5)
    try:
        for path in ("/metrics", "/-/healthy", "/nope", "/metrics"):
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            assert response.status in (200, 404)
        assert connection.sock is not None  # never reconnected
    finally:
        connection.close()


def test_connection_close_is_honoured(plain: Running) -> None:
    raw = exchange(
        plain.server.port, b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert b"Connection: close" in raw
    assert raw.endswith(b"\r\n\r\nOK\n")


def test_http10_closes_after_the_response(plain: Running) -> None:
    raw = exchange(plain.server.port, b"GET /-/healthy HTTP/1.0\r\n\r\n")
    assert status_of(raw) == 200
    assert raw.endswith(b"OK\n")


# -- request limits and malformed requests ---------------------------------------------


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-%d: v\r\n" % i for i in range(40))
        + b"\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / FTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"G<T / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
)
def test_malformed_or_oversized_requests_are_400_and_closed(
    plain: Running, request_bytes: bytes
) -> None:
    raw = exchange(plain.server.port, request_bytes)  # returns once the server has closed
    assert status_of(raw) == 400


def test_a_pipelined_request_after_a_body_is_its_own_request(plain: Running) -> None:
    raw = exchange(
        plain.server.port,
        b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
        b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    first, second = raw.split(b"HTTP/1.1 ")[1:]
    assert first.startswith(b"405") and second.startswith(b"200")
    assert second.endswith(b"\r\n\r\nOK\n")  # the body was not read as a request


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /<script>alert(1)</script> HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /<script>alert(1)</script> HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /metrics?<script> HTTP/1.1\r\nHost: <script>\r\nAccept-Encoding: identity\r\n\r\n",
        b"GET /-/ready HTTP/1.1\r\nHost: x\r\nAccept: <script>\r\n\r\n",
    ],
)
def test_nothing_from_a_request_is_reflected(plain: Running, request_bytes: bytes) -> None:
    raw = exchange(
        plain.server.port, request_bytes.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
    )
    assert raw.startswith(b"HTTP/1.1 ")
    assert b"script" not in raw.lower()


def test_requests_url_with_script_is_a_plain_404(plain: Running) -> None:
    response = requests.get(f"{plain.url}/<script>alert(1)</script>", timeout=5)
    assert response.status_code == 404
    assert "script" not in response.text.lower()


# -- slow and stalled clients ----------------------------------------------------------


def test_stalled_client_does_not_block_scrapes(plain: Running) -> None:
    silent = plain.raw()  # connected, sends nothing
    partial = plain.raw()
    partial.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # stops mid-header
    try:
        for _ in range(3):
            response = requests.get(f"{plain.url}/metrics", timeout=5)
            assert response.status_code == 200
    finally:
        silent.close()
        partial.close()


def test_a_connection_without_a_complete_request_is_closed_after_the_idle_timeout(
    start_server: Callable[..., Running], monkeypatch: pytest.MonkeyPatch
) -> None:
    # aiohttp times connections on the event loop's own clock, which cannot be
    # injected: a short timeout, and a bounded wait for the server to close.
    monkeypatch.setattr(server_module, "IDLE_TIMEOUT", 0.3)
    running = start_server()
    with running.raw() as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\n")
        for _ in range(3):
            sock.sendall(b"X-Trickle: 1\r\n")  # bytes keep coming; no request completes
        sock.settimeout(5)
        try:
            answer = sock.recv(100)
        except ConnectionResetError:  # closed with bytes of the request left unread
            answer = b""
        assert answer == b""  # closed by the server, not answered


def test_a_401_closes_the_connection(authed: Running, pki: Pki) -> None:
    context = ssl.create_default_context(cafile=pki.ca_file)
    with (
        socket.create_connection(("127.0.0.1", authed.server.port), timeout=5) as sock,
        context.wrap_socket(sock, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        raw = b""
        while chunk := tls.recv(65536):
            raw += chunk
    assert status_of(raw) == 401
    assert b"Connection: close" in raw


def test_shutdown_closes_idle_connections_and_the_port(plain: Running) -> None:
    idle = plain.raw()
    idle.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
    assert idle.recv(4096).startswith(b"HTTP/1.1 200")
    port = plain.server.port
    plain.server.shutdown()
    assert idle.recv(100) == b""
    idle.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)


# -- TLS -------------------------------------------------------------------------------


def test_a_connection_that_is_not_a_stream_is_refused_with_a_clear_error() -> None:
    handover = ConnectionHandover(asyncio.Protocol, WebConfigReloader(None))
    with pytest.raises(TypeError, match="expected a stream transport, got DatagramTransport"):
        handover.new_connection().connection_made(asyncio.DatagramTransport())


def test_tls_serves_metrics_to_a_verifying_client(
    start_server: Callable[..., Running], pki: Pki, tmp_path: Path
) -> None:
    running = start_server(web_config(tmp_path / "web.yml", pki))
    assert running.url == f"https://127.0.0.1:{running.server.port}"
    response = requests.get(f"{running.url}/metrics", verify=pki.ca_file, timeout=5)
    assert response.status_code == 200
    assert response.content == EXPOSITION


def test_plain_http_to_the_tls_port_fails(
    start_server: Callable[..., Running], pki: Pki, tmp_path: Path
) -> None:
    running = start_server(web_config(tmp_path / "web.yml", pki))
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{running.server.port}/metrics", timeout=5)


def test_untrusted_server_certificate_is_rejected_by_the_client(
    start_server: Callable[..., Running], pki: Pki, tmp_path: Path
) -> None:
    running = start_server(web_config(tmp_path / "web.yml", pki))
    stranger = make_pki(tmp_path / "stranger")
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{running.url}/metrics", verify=stranger.ca_file, timeout=5)


def test_stalled_tls_client_does_not_block_scrapes(
    start_server: Callable[..., Running], pki: Pki, tmp_path: Path
) -> None:
    running = start_server(web_config(tmp_path / "web.yml", pki))
    with running.raw():  # TCP connected, never starts the handshake
        for _ in range(3):
            response = requests.get(f"{running.url}/metrics", verify=pki.ca_file, timeout=5)
            assert response.status_code == 200


def test_required_client_certificate(
    start_server: Callable[..., Running], pki: Pki, tmp_path: Path
) -> None:
    running = start_server(
        web_config(tmp_path / "web.yml", pki, client="RequireAndVerifyClientCert")
    )
    url = f"{running.url}/metrics"
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url, verify=pki.ca_file, timeout=5)
    stranger = make_pki(tmp_path / "stranger")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url, verify=pki.ca_file, cert=stranger.client, timeout=5)
    response = requests.get(url, verify=pki.ca_file, cert=pki.client, timeout=5)
    assert response.status_code == 200


def test_a_client_without_a_certificate_is_closed_without_an_answer(
    start_server: Callable[..., Running], pki: Pki, tmp_path: Path
) -> None:
    running = start_server(
        web_config(tmp_path / "web.yml", pki, client="RequireAndVerifyClientCert")
    )
    context = ssl.create_default_context(cafile=pki.ca_file)
    # With TLS 1.3 the client's side of the handshake ends before the server checks the
    # client's certificate; asyncio then closes without sending the TLS alert.
    with (
        socket.create_connection(("127.0.0.1", running.server.port), timeout=5) as sock,
        context.wrap_socket(sock, server_hostname="127.0.0.1") as tls,
    ):
        try:
            answer = tls.recv(100)
        except (ssl.SSLError, ConnectionResetError):
            answer = b""
        assert answer == b""


def test_optional_client_certificate(
    start_server: Callable[..., Running], pki: Pki, tmp_path: Path
) -> None:
    running = start_server(web_config(tmp_path / "web.yml", pki, client="VerifyClientCertIfGiven"))
    url = f"{running.url}/metrics"
    assert requests.get(url, verify=pki.ca_file, timeout=5).status_code == 200
    assert requests.get(url, verify=pki.ca_file, cert=pki.client, timeout=5).status_code == 200


@pytest.mark.parametrize(("allowed", "served"), [("prometheus.example", True), ("other", False)])
def test_client_allowed_sans(
    start_server: Callable[..., Running], pki: Pki, tmp_path: Path, allowed: str, served: bool
) -> None:
    path = Path(web_config(tmp_path / "web.yml", pki, client="RequireAndVerifyClientCert"))
    path.write_text(path.read_text() + f"  client_allowed_sans: [{allowed}]\n")
    running = start_server(str(path))
    url = f"{running.url}/metrics"
    if served:
        assert requests.get(url, verify=pki.ca_file, cert=pki.client, timeout=5).status_code == 200
    else:
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(url, verify=pki.ca_file, cert=pki.client, timeout=5)


def test_certificate_rotation_without_restart(
    start_server: Callable[..., Running], pki: Pki, tmp_path: Path
) -> None:
    running = start_server(web_config(tmp_path / "web.yml", pki))
    url = f"{running.url}/metrics"
    old_ca = tmp_path / "old-ca.crt"
    old_ca.write_bytes(Path(pki.ca_file).read_bytes())
    assert requests.get(url, verify=str(old_ca), timeout=5).status_code == 200

    # Same file names, a new CA: what cert-manager or a Kubernetes secret update does.
    pki.ca = trustme.CA()
    pki.write()
    for name in ("server.crt", "server.key"):
        bump_mtime(pki.dir / name, 10)

    assert requests.get(url, verify=pki.ca_file, timeout=5).status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(url, verify=str(old_ca), timeout=5)


def test_web_config_rotation_to_new_files(
    start_server: Callable[..., Running], pki: Pki, tmp_path: Path
) -> None:
    config = tmp_path / "web.yml"
    running = start_server(web_config(config, pki))
    url = f"{running.url}/metrics"
    replacement = make_pki(tmp_path / "next")
    web_config(config, replacement)
    bump_mtime(config, 10)
    assert requests.get(url, verify=replacement.ca_file, timeout=5).status_code == 200


def test_broken_web_config_keeps_serving_the_last_good_one(
    start_server: Callable[..., Running], pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "web.yml"
    running = start_server(web_config(config, pki, users=True))
    config.write_text("tls_server_config:\n  cert_file: /nonexistent.crt\n")
    bump_mtime(config, 10)
    with caplog.at_level(logging.ERROR, logger="kb4_exporter.web.web_config_reloader"):
        for _ in range(3):
            response = requests.get(
                f"{running.url}/metrics",
                verify=pki.ca_file,
                auth=("prometheus", PASSWORD),
                timeout=5,
            )
            assert response.status_code == 200
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1


# -- basic auth ------------------------------------------------------------------------


@pytest.fixture
def authed(start_server: Callable[..., Running], pki: Pki, tmp_path: Path) -> Running:
    return start_server(web_config(tmp_path / "web.yml", pki, users=True))


@pytest.mark.parametrize(
    ("auth", "status"),
    [
        (None, 401),
        (("prometheus", "wrong"), 401),
        (("nobody", PASSWORD), 401),
        (("Prometheus", PASSWORD), 401),
        (("prometheus", PASSWORD), 200),
    ],
)
def test_basic_auth_over_tls(
    authed: Running, pki: Pki, auth: tuple[str, str] | None, status: int
) -> None:
    for path in ("/metrics", "/"):
        response = requests.get(f"{authed.url}{path}", verify=pki.ca_file, auth=auth, timeout=5)
        assert response.status_code == status
        if status == 401:
            assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
            assert response.text == "401 Unauthorized\n"


def test_unauthenticated_404_does_not_reveal_paths(authed: Running, pki: Pki) -> None:
    response = requests.get(f"{authed.url}/secret-path", verify=pki.ca_file, timeout=5)
    assert response.status_code == 401


def test_probes_need_no_password(authed: Running, pki: Pki) -> None:
    for path in ("/-/healthy", "/-/ready"):
        response = requests.get(f"{authed.url}{path}", verify=pki.ca_file, timeout=5)
        assert response.status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        "Bearer abc",
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"prometheus:" + b"x" * 200).decode(),
        "Basic",
    ],
)
def test_malformed_authorization_is_401(authed: Running, pki: Pki, header: str) -> None:
    response = requests.get(
        f"{authed.url}/metrics", verify=pki.ca_file, headers={"Authorization": header}, timeout=5
    )
    assert response.status_code == 401


def test_password_rotation_without_restart(
    start_server: Callable[..., Running], pki: Pki, tmp_path: Path
) -> None:
    config = tmp_path / "web.yml"
    running = start_server(web_config(config, pki, users=True))
    url = f"{running.url}/metrics"
    session = requests.Session()  # one kept-alive connection across the rotation

    def get(password: str) -> int:
        auth = ("prometheus", password)
        return session.get(url, auth=auth, verify=pki.ca_file, timeout=5).status_code

    assert get(PASSWORD) == 200

    new_hash = bcrypt.hashpw(b"new password", bcrypt.gensalt(rounds=4)).decode()
    config.write_text(config.read_text().replace(HASH, new_hash))
    bump_mtime(config, 10)

    assert get(PASSWORD) == 401
    assert get("new password") == 200


@pytest.mark.parametrize(
    ("header", "gzip_ok"),
    [
        ("gzip", True),
        ("br, GZip;q=0.5", True),
        ("gzip;q=0", False),
        ("gzip;q=0.000", False),
        ("identity", False),
        (None, False),
    ],
)
def test_accepts_gzip(header: str | None, gzip_ok: bool) -> None:
    assert accepts_gzip(header) is gzip_ok
