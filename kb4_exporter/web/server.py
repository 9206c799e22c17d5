"""The exporter's HTTP(S) server: `/metrics`, a landing page, `/-/healthy` and `/-/ready`.

aiohttp serves HTTP/1.1 on an asyncio event loop of its own, in one thread. A connection
costs a few kilobytes and no thread, so clients that connect and wait, trickle a request
head or stall half-way through a TLS hello cannot crowd scrapes out; each is closed once
it has gone IDLE_TIMEOUT seconds without a complete request (TLS_HANDSHAKE_TIMEOUT for the
handshake), and aiohttp's parser answers malformed requests with a 400.

What is ours: TLS and basic auth from the `--web.config.file` (`webconfig.py`), checked
for changes on every connection and request, each new connection getting the TLS
settings in force (certificates and passwords rotate without a restart); bcrypt checks
off the event loop, throttled for unknown credentials (`basic_auth.py`); the routes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import html
import logging
import socket
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from kb4_exporter.metrics.exposition import MetricsBody
from kb4_exporter.web.basic_auth import AttemptThrottle, BasicAuthenticator
from kb4_exporter.web.listen_address import bind_listener, describe_listener, parse_listen_address
from kb4_exporter.web.tls_section import TLSSettings
from kb4_exporter.web.web_config import WebConfig
from kb4_exporter.web.web_config_reloader import WebConfigReloader

log = logging.getLogger(__name__)

# (Accept header, client accepts gzip) -> the body; called in a worker thread.
RenderMetrics = Callable[[str | None, bool], MetricsBody]
# None when ready, else what the exporter waits for.
Readiness = Callable[[], str | None]

# A connection is closed after this long without a complete request: new, kept alive
# between requests, or trickling a head. Above a 60 s scrape interval, so Prometheus
# keeps its connection between scrapes.
IDLE_TIMEOUT = 65.0
TLS_HANDSHAKE_TIMEOUT = 10.0
# Requests in flight at shutdown get this long to finish.
SHUTDOWN_TIMEOUT = 1.0
START_TIMEOUT = 10.0
# What a request head may hold: Prometheus sends a handful of short headers.
MAX_LINE_SIZE = 8190
MAX_FIELD_SIZE = 8190
MAX_HEADERS = 32
# Probes need no credentials: they reveal nothing, and Kubernetes or Docker health
# checks cannot easily send a password.
_UNAUTHENTICATED_PATHS = frozenset({"/-/healthy", "/-/ready"})
# "Server" replaces aiohttp's own, which names its version and Python's.
_COMMON_HEADERS = {
    "Cache-Control": "no-store",
    "Server": "kb4_exporter",
    "X-Content-Type-Options": "nosniff",
}
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="kb4_exporter", charset="UTF-8"'}


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


def _text(
    status: HTTPStatus, text: str = "", headers: Mapping[str, str] | None = None
) -> web.Response:
    # Fixed texts: nothing from a request is ever reflected.
    body = text or f"{status.value} {status.phrase}\n"
    return web.Response(status=status, text=body, headers=headers)


class ExporterServer:
    """Serves the exporter's endpoints over HTTP or HTTPS from `start()` to `shutdown()`."""

    def __init__(
        self,
        *,
        listen_address: str,
        render_metrics: RenderMetrics,
        readiness: Readiness,
        landing_page: LandingPage,
        web_config: WebConfigReloader | None = None,
        throttle: AttemptThrottle | None = None,
    ) -> None:
        self._address = listen_address
        self._host, self._requested_port = parse_listen_address(listen_address)
        self._render_metrics = render_metrics
        self._readiness = readiness
        self._landing = _landing_html(landing_page)
        self._web_config = web_config or WebConfigReloader(None)
        self._authenticator = BasicAuthenticator()
        self._throttle = throttle or AttemptThrottle()
        self._listener: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self._handshakes: set[asyncio.Task[None]] = set()
        # Rendering and bcrypt run off the event loop, each in its own thread, so a
        # burst of password checks never queues a scrape.
        self._render_pool = concurrent.futures.ThreadPoolExecutor(1, "kb4-render")
        self._bcrypt_pool = concurrent.futures.ThreadPoolExecutor(1, "kb4-bcrypt")

    # -- public interface --------------------------------------------------------------

    def start(self) -> None:
        """Bind (ListenError if the address is taken or invalid) and serve in a thread."""
        if self._listener is not None:
            raise RuntimeError("server already started")
        self._listener = bind_listener(self._host, self._requested_port, self._address)
        self._loop = loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="kb4-http", daemon=True)
        self._thread.start()
        serving = asyncio.run_coroutine_threadsafe(self._serve(self._listener), loop)
        serving.result(START_TIMEOUT)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every connection and stop the thread (bounded)."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and loop.is_running():
            stopping = asyncio.run_coroutine_threadsafe(self._stop(), loop)
            try:
                stopping.result(timeout)
            except (concurrent.futures.TimeoutError, OSError) as exc:
                log.warning("HTTP server did not stop cleanly: %r", exc)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
        if loop is not None and not (thread and thread.is_alive()):
            loop.close()
        if self._listener is not None:
            self._listener.close()
        self._render_pool.shutdown(wait=False, cancel_futures=True)
        self._bcrypt_pool.shutdown(wait=False, cancel_futures=True)

    @property
    def port(self) -> int:
        if self._listener is None:
            raise RuntimeError("server not started")
        return int(self._listener.getsockname()[1])

    @property
    def scheme(self) -> str:
        return "https" if self._web_config.current().tls else "http"

    @property
    def bound(self) -> str:
        """What the socket is bound to, e.g. `http://[::]:9897 (every IPv4 and IPv6 address)`."""
        if self._listener is None:
            raise RuntimeError("server not started")
        return f"{self.scheme}://{describe_listener(self._listener)}"

    @property
    def url(self) -> str:
        """A URL for reaching the server from this host (loopback for a wildcard address)."""
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(self._host, self._host)  # noqa: S104
        if ":" in host:
            host = f"[{host}]"
        return f"{self.scheme}://{host}:{self.port}"

    # -- the event loop's side ---------------------------------------------------------

    async def _serve(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(_log_loop_error)
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/", self._landing_page)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/-/healthy", self._healthy)
        app.router.add_get("/-/ready", self._ready)
        app.on_response_prepare.append(self._add_headers)
        self._runner = web.AppRunner(
            app,
            access_log=None,
            logger=_REQUEST_LOG,
            keepalive_timeout=IDLE_TIMEOUT,
            max_line_size=MAX_LINE_SIZE,
            max_field_size=MAX_FIELD_SIZE,
            max_headers=MAX_HEADERS,
            shutdown_timeout=SHUTDOWN_TIMEOUT,
        )
        await self._runner.setup()
        self._server = await loop.create_server(
            lambda: _NewConnection(self._accept), sock=listener, backlog=1024
        )

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for handshake in list(self._handshakes):
            handshake.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    def _accept(self, transport: asyncio.Transport) -> None:
        """Hand a new connection to aiohttp: at once for plain HTTP; for HTTPS after a
        handshake with the TLS settings in force now (so certificates rotate)."""
        tls = self._web_config.current().tls
        if tls is None:
            self._hand_over(transport)
            return
        transport.pause_reading()  # nothing is read before the handshake takes over
        assert self._loop is not None
        handshake = self._loop.create_task(self._handshake(transport, tls))
        self._handshakes.add(handshake)
        handshake.add_done_callback(self._handshakes.discard)

    async def _handshake(self, transport: asyncio.Transport, tls: TLSSettings) -> None:
        assert self._loop is not None
        peer = transport.get_extra_info("peername")
        early = _EarlyData()
        try:
            secure = await self._loop.start_tls(
                transport,
                early,
                tls.ssl_context,
                server_side=True,
                ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT,
            )
        except OSError as exc:  # a timeout, a reset or a TLS error: the client's problem
            log.debug("TLS handshake with %s failed: %s", peer, exc)
            return
        assert isinstance(secure, asyncio.Transport)
        if tls.client_allowed_sans and not _san_allowed(
            secure.get_extra_info("peercert"), tls.client_allowed_sans
        ):
            log.warning("client certificate of %s has no allowed SAN; closing", peer)
            secure.abort()
            return
        protocol = self._hand_over(secure)
        for chunk in early.chunks:  # request bytes that came with the end of the handshake
            protocol.data_received(chunk)

    def _hand_over(self, transport: asyncio.Transport) -> asyncio.Protocol:
        assert self._runner is not None and self._runner.server is not None
        protocol = self._runner.server()  # aiohttp's protocol for one connection
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        return protocol

    # -- requests ----------------------------------------------------------------------

    @web.middleware
    async def _guard(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        config = self._web_config.current()
        if config.auth_enabled and request.path not in _UNAUTHENTICATED_PATHS:
            refusal = await self._authenticate(request, config)
            if refusal is not None:
                refusal.force_close()  # a client without valid credentials holds no connection
                return refusal
        try:
            return await handler(request)
        except web.HTTPException as exc:  # the router's 404 and 405, with our fixed texts
            allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
            return _text(HTTPStatus(exc.status), headers=allow)

    async def _authenticate(self, request: web.Request, config: WebConfig) -> web.Response | None:
        header = request.headers.get("Authorization")
        users = config.basic_auth_users
        passed = self._authenticator.known(header, users)
        if passed is None:
            wait = self._throttle.allow(request.remote)
            if wait > 0:
                log.debug("too many unverified credentials from %s", request.remote)
                retry = {"Retry-After": str(max(1, round(wait)))}
                return _text(HTTPStatus.TOO_MANY_REQUESTS, headers=retry)
            passed = await asyncio.get_running_loop().run_in_executor(
                self._bcrypt_pool, self._authenticator.verify, header, users
            )
        return None if passed else _text(HTTPStatus.UNAUTHORIZED, headers=_CHALLENGE)

    async def _add_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(_COMMON_HEADERS)
        response.headers.update(self._web_config.current().headers)

    async def _landing_page(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self._landing,
            headers={
                "Content-Type": "text/html; charset=utf-8",
                "Content-Security-Policy": "default-src 'none'",
            },
        )

    async def _healthy(self, request: web.Request) -> web.Response:
        return _text(HTTPStatus.OK, "OK\n")

    async def _ready(self, request: web.Request) -> web.Response:
        try:
            waiting_for = self._readiness()
        except Exception:
            log.exception("readiness check failed")
            waiting_for = "the readiness check failed (see the log)"
        if waiting_for is None:
            return _text(HTTPStatus.OK, "OK\n")
        return _text(HTTPStatus.SERVICE_UNAVAILABLE, f"not ready: {waiting_for}\n")

    async def _metrics(self, request: web.Request) -> web.Response:
        accept = request.headers.get("Accept")
        gzip_ok = accepts_gzip(request.headers.get("Accept-Encoding"))
        try:
            body = await asyncio.get_running_loop().run_in_executor(
                self._render_pool, self._render_metrics, accept, gzip_ok
            )
        except Exception:
            log.exception("rendering /metrics failed")
            return _text(HTTPStatus.INTERNAL_SERVER_ERROR)
        headers = {"Content-Type": body.content_type, "Vary": "Accept, Accept-Encoding"}
        if body.gzipped:
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=body.data, headers=headers)


class _NewConnection(asyncio.Protocol):
    """A connection just accepted, until the server hands it to aiohttp."""

    def __init__(self, accept: Callable[[asyncio.Transport], None]) -> None:
        self._accept = accept

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._accept(transport)


class _EarlyData(asyncio.Protocol):
    """Holds what arrives between the end of a TLS handshake and aiohttp taking over."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an `Accept-Encoding` value allows gzip (listed, with a q other than 0)."""
    for item in (accept_encoding or "").split(","):
        coding, _, params = item.partition(";")
        if coding.strip().lower() != "gzip":
            continue
        quality = params.strip().lower()
        return not (quality.startswith("q=") and _is_zero(quality[2:]))
    return False


def _is_zero(text: str) -> bool:
    try:
        return float(text) == 0
    except ValueError:
        return False


def _san_allowed(peer_cert: Mapping[str, Any] | None, allowed: frozenset[str]) -> bool:
    if not peer_cert:
        return False
    names = {value for _, value in peer_cert.get("subjectAltName", ())}
    return not names.isdisjoint(allowed)


class _BadRequestsInOneLine(logging.Filter):
    """aiohttp logs a malformed request with a traceback at error level; a client's
    mistake is worth one debug line, not a traceback per request."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            # aiohttp quotes the offending bytes (escaped) over several lines: one, bounded.
            log.debug("bad request: %.200s", " ".join(str(error.message).split()))
            return False
        return True


_REQUEST_LOG = logging.getLogger(f"{__name__}.requests")
_REQUEST_LOG.addFilter(_BadRequestsInOneLine())


def _log_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # One line, e.g. when accept() runs out of file descriptors under a flood.
    log.error("HTTP server: %s: %r", context.get("message"), context.get("exception"))
