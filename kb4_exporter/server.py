"""The exporter's HTTP(S) server: `/metrics`, a landing page, `/-/healthy` and `/-/ready`.

One thread accepts connections; each connection gets its own thread, so a slow or
stalled client only ever holds its own thread, and every read runs against a deadline.
Connection slots (`connection_slots.py`) go to clients being served, and a 401 closes
the connection, so clients that connect and wait, with or without credentials, cannot
lock out scrapes. Requests are parsed strictly (`http_messages.py`): GET and HEAD on
four paths.

TLS and basic auth come from the `--web.config.file` (see `webconfig.py`). The file and
the certificate files it names are checked for changes on every connection and request
(a few `stat` calls), so certificates and passwords rotate without a restart; a broken
file keeps the last good configuration and is logged once.
"""

from __future__ import annotations

import contextlib
import gzip
import html
import logging
import selectors
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from kb4_exporter.basic_auth import BasicAuthenticator
from kb4_exporter.connection_slots import Connection, ConnectionCounts, ConnectionSlots
from kb4_exporter.http_limits import Limits
from kb4_exporter.http_messages import (
    ClientGoneError,
    HttpError,
    Request,
    Response,
    SocketReader,
    accepts_gzip,
    read_request,
    serialize_response,
)
from kb4_exporter.listen_address import bind_listener, parse_listen_address
from kb4_exporter.sockets import close_quietly, shutdown_quietly
from kb4_exporter.webconfig import TLSSettings, WebConfigReloader

# Several of these live in their own modules; callers import the server's API from here.
__all__ = [
    "SCRAPE_SWITCH_INTERVAL",
    "BasicAuthenticator",
    "Clock",
    "ConnectionCounts",
    "ExporterServer",
    "LandingPage",
    "Limits",
    "RenderMetrics",
    "parse_listen_address",
]

log = logging.getLogger(__name__)

RenderMetrics = Callable[[str | None], tuple[bytes, str]]
Clock = Callable[[], float]

# How often a busy thread must offer the interpreter lock while the server runs.
SCRAPE_SWITCH_INTERVAL = 0.001

_ALLOWED_METHODS = ("GET", "HEAD")
_ALLOW_HEADER = ", ".join(_ALLOWED_METHODS)
# Probes need no credentials: they reveal nothing, and Kubernetes or Docker health
# checks cannot easily send a password.
_UNAUTHENTICATED_PATHS = frozenset({"/-/healthy", "/-/ready"})


@dataclass(frozen=True)
class LandingPage:
    """What `/` shows; links to /metrics, /-/healthy and /-/ready are added by the server."""

    title: str
    version: str
    description: str


def _landing_html(page: LandingPage) -> bytes:
    title, version, description = (
        html.escape(page.title),
        html.escape(page.version),
        html.escape(page.description),
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n'
        f'<head><meta charset="utf-8"><title>{title}</title></head>\n'
        f"<body>\n<h1>{title}</h1>\n<p>{description}</p>\n<p>Version: {version}</p>\n"
        "<ul>\n"
        '<li><a href="metrics">Metrics</a></li>\n'
        '<li><a href="-/healthy">Health</a></li>\n'
        '<li><a href="-/ready">Readiness</a></li>\n'
        "</ul>\n</body>\n</html>\n"
    ).encode()


class ExporterServer:
    """Serves the exporter's endpoints over HTTP or HTTPS until `shutdown()`."""

    def __init__(
        self,
        *,
        listen_address: str,
        render_metrics: RenderMetrics,
        is_ready: Callable[[], bool],
        landing_page: LandingPage,
        web_config_file: str | None = None,
        limits: Limits | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self._address = listen_address
        self._host, self._requested_port = parse_listen_address(listen_address)
        self._render_metrics = render_metrics
        self._is_ready = is_ready
        self._landing = _landing_html(landing_page)
        self._web_config = WebConfigReloader(web_config_file)  # raises WebConfigError
        self._limits = limits or Limits()
        self._clock = clock
        self._authenticator = BasicAuthenticator(clock=clock)
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._slots = ConnectionSlots(self._limits, clock)
        self._previous_switch_interval: float | None = None
        self._handlers: Mapping[str, Callable[[Request], Response]] = {
            "/": self._landing_page,
            "/metrics": self._metrics,
            "/-/healthy": self._healthy,
            "/-/ready": self._ready,
        }

    # -- public interface --------------------------------------------------------------

    def start(self) -> None:
        if self._listener is not None:
            raise RuntimeError("server already started")
        self._listener = bind_listener(self._host, self._requested_port, self._address)
        self._listener.setblocking(False)
        # shutdown() writes to this pair to wake the accept loop at once.
        self._wakeup_reader, self._wakeup_writer = socket.socketpair()
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name="kb4-http-accept", daemon=True
        )
        self._accept_thread.start()
        self._previous_switch_interval = sys.getswitchinterval()
        # A refresh parses pages in a busy thread; a scrape waiting for the interpreter
        # lock waits up to one switch interval each time it needs it, and the default 5 ms
        # made up most of the /metrics tail latency while a refresh ran.
        sys.setswitchinterval(min(self._previous_switch_interval, SCRAPE_SWITCH_INTERVAL))
        log.debug("listening on %s", self.url)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every connection and join the threads (bounded)."""
        self._stopping.set()
        if self._accept_thread is not None:
            with contextlib.suppress(OSError):
                self._wakeup_writer.send(b"\0")
            self._accept_thread.join(timeout)
            self._wakeup_reader.close()
            self._wakeup_writer.close()
        if self._listener is not None:
            self._listener.close()
        connections = self._slots.connections()
        for connection in connections:
            shutdown_quietly(connection.sock)
        deadline = time.monotonic() + timeout
        for connection in connections:
            if connection.thread is not None:
                connection.thread.join(max(0.0, deadline - time.monotonic()))
        if self._previous_switch_interval is not None:
            sys.setswitchinterval(self._previous_switch_interval)
            self._previous_switch_interval = None

    @property
    def port(self) -> int:
        if self._listener is None:
            raise RuntimeError("server not started")
        return int(self._listener.getsockname()[1])

    @property
    def url(self) -> str:
        scheme = "https" if self._web_config.current().tls else "http"
        host = self._host
        if not host:
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        elif host == "0.0.0.0":  # noqa: S104 - only turned into a loopback URL
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{self.port}"

    def connection_counts(self) -> ConnectionCounts:
        return self._slots.counts()

    # -- accepting ---------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wakeup_reader, selectors.EVENT_READ)
            while not self._stopping.is_set():
                selector.select()
                try:
                    sock, address = self._listener.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as exc:
                    log.warning("accept failed: %s", exc.strerror)
                    continue
                self._start_connection(sock, _format_peer(address))

    def _start_connection(self, sock: socket.socket, peer: str) -> None:
        now = self._clock()
        connection = Connection(sock, peer, accepted_at=now, waiting_since=now)
        if not self._slots.admit(connection):
            sock.close()
            return
        connection.thread = threading.Thread(
            target=self._serve_connection, args=(connection,), name="kb4-http", daemon=True
        )
        try:
            connection.thread.start()
        except RuntimeError:  # the system is out of threads: drop this one connection
            log.error("cannot start a thread for %s; closing its connection", peer)
            sock.close()
            self._slots.release(connection)

    # -- one connection ----------------------------------------------------------------

    def _serve_connection(self, connection: Connection) -> None:
        try:
            # The TLS handshake and the first request share one deadline from accept.
            deadline = connection.accepted_at + self._limits.read_timeout
            config = self._web_config.current()
            if config.tls is not None and not (
                # Until the client's hello arrives the connection is idle and evictable.
                self._slots.wait_for_request(connection, deadline)
                and self._secure(connection, config.tls, deadline)
            ):
                return
            self._serve_requests(connection, deadline)
        except Exception:
            log.exception("unexpected error serving %s", connection.peer)
        finally:
            close_quietly(connection.sock)
            self._slots.release(connection)

    def _secure(self, connection: Connection, tls: TLSSettings, deadline: float) -> bool:
        raw = connection.sock
        remaining = deadline - self._clock()
        if remaining <= 0:
            return False
        raw.settimeout(remaining)
        try:
            wrapped = tls.ssl_context.wrap_socket(
                raw, server_side=True, do_handshake_on_connect=False
            )
        except (ssl.SSLError, OSError) as exc:
            log.debug("TLS setup for %s failed: %s", connection.peer, exc)
            return False
        self._slots.replace_socket(connection, wrapped)
        try:
            wrapped.do_handshake()
        except (ssl.SSLError, OSError) as exc:
            log.debug("TLS handshake with %s failed: %s", connection.peer, exc)
            return False
        if tls.client_allowed_sans and not _san_allowed(
            wrapped.getpeercert(), tls.client_allowed_sans
        ):
            log.warning("client certificate of %s has no allowed SAN", connection.peer)
            return False
        return True

    def _serve_requests(self, connection: Connection, first_deadline: float) -> None:
        sock = connection.sock
        reader = SocketReader(sock, self._clock)
        wait_deadline = first_deadline
        first_request = True
        while not self._stopping.is_set():
            # Bytes already buffered are a pipelined request: the connection stays busy.
            if not reader.has_unread and not self._slots.wait_for_request(
                connection, wait_deadline
            ):
                return
            # The first request's head is due by the accept deadline; a later one gets
            # read_timeout from its first byte.
            reader.deadline = (
                first_deadline if first_request else self._clock() + self._limits.read_timeout
            )
            try:
                request = read_request(reader, self._limits)
            except HttpError as exc:
                self._send(sock, Response.error(exc.status), head_only=False, keep_alive=False)
                return
            except (ClientGoneError, TimeoutError, OSError, UnicodeDecodeError):
                return
            if request is None:
                return
            response = self._respond(request)
            keep_alive = self._keep_alive_offered(request, response)
            if not self._send(
                sock, response, head_only=request.method == "HEAD", keep_alive=keep_alive
            ):
                return
            if not keep_alive:
                return
            first_request = False
            wait_deadline = self._clock() + self._limits.idle_timeout

    def _keep_alive_offered(self, request: Request, response: Response) -> bool:
        if not request.keep_alive or self._stopping.is_set():
            return False
        # A client without valid credentials gets no idle slot to hold.
        if response.status == HTTPStatus.UNAUTHORIZED:
            return False
        return self._slots.keep_alive_allowed()

    def _send(
        self, sock: socket.socket, response: Response, *, head_only: bool, keep_alive: bool
    ) -> bool:
        config = self._web_config.current()
        data = serialize_response(
            response, head_only=head_only, keep_alive=keep_alive, extra=config.headers
        )
        try:
            sock.settimeout(self._limits.write_timeout)
            sock.sendall(data)
        except OSError:
            return False
        return True

    # -- routing -----------------------------------------------------------------------

    def _respond(self, request: Request) -> Response:
        if request.path not in _UNAUTHENTICATED_PATHS:
            config = self._web_config.current()
            if config.auth_enabled and not self._authenticator.check(
                request.header("authorization"), config.basic_auth_users
            ):
                return Response.error(
                    HTTPStatus.UNAUTHORIZED,
                    ("WWW-Authenticate", 'Basic realm="kb4_exporter", charset="UTF-8"'),
                )
        handler = self._handlers.get(request.path)
        if handler is None:
            return Response.error(HTTPStatus.NOT_FOUND)
        if request.method not in _ALLOWED_METHODS:
            return Response.error(HTTPStatus.METHOD_NOT_ALLOWED, ("Allow", _ALLOW_HEADER))
        return handler(request)

    def _landing_page(self, request: Request) -> Response:
        return Response(
            HTTPStatus.OK,
            self._landing,
            "text/html; charset=utf-8",
            (("Content-Security-Policy", "default-src 'none'"),),
        )

    def _healthy(self, request: Request) -> Response:
        return Response(HTTPStatus.OK, b"OK\n")

    def _ready(self, request: Request) -> Response:
        try:
            ready = self._is_ready()
        except Exception:
            log.exception("readiness check failed")
            ready = False
        if ready:
            return Response(HTTPStatus.OK, b"OK\n")
        return Response(HTTPStatus.SERVICE_UNAVAILABLE, b"not ready\n")

    def _metrics(self, request: Request) -> Response:
        try:
            body, content_type = self._render_metrics(request.header("accept"))
        except Exception:
            log.exception("rendering /metrics failed")
            return Response.error(HTTPStatus.INTERNAL_SERVER_ERROR)
        headers: tuple[tuple[str, str], ...] = (("Vary", "Accept, Accept-Encoding"),)
        if accepts_gzip(request.header("accept-encoding")):
            body = gzip.compress(body, compresslevel=6, mtime=0)
            headers += (("Content-Encoding", "gzip"),)
        return Response(HTTPStatus.OK, body, content_type, headers)


def _san_allowed(peer_cert: Mapping[str, Any] | None, allowed: frozenset[str]) -> bool:
    if not peer_cert:
        return False
    names = {value for _, value in peer_cert.get("subjectAltName", ())}
    return not names.isdisjoint(allowed)


def _format_peer(address: Any) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
