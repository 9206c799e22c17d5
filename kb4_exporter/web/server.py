"""The exporter's HTTP(S) server: `/metrics`, a landing page, `/-/healthy` and `/-/ready`.

aiohttp serves HTTP/1.1 on an asyncio event loop of its own, in one thread. A connection
costs a few kilobytes and no thread, so clients that connect and wait, trickle a request
head or stall half-way through a TLS hello cannot crowd scrapes out; each is closed once
it has gone IDLE_TIMEOUT seconds without a complete request (TLS_HANDSHAKE_TIMEOUT for the
handshake), and aiohttp's parser answers malformed requests with a 400.

What is ours, each in its module: the paths and their answers (`pages.py`); basic auth
and response headers from the `--web.config.file` (`request_guard.py`, `basic_auth.py`);
handing each connection to aiohttp, after a handshake with the TLS settings in force
(`tls_handover.py`); the listening socket (`listen_address.py`). This module runs them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
import threading
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from kb4_exporter.web.basic_auth import AttemptThrottle, BasicAuthenticator
from kb4_exporter.web.listen_address import bind_listener, describe_listener, parse_listen_address
from kb4_exporter.web.pages import ExporterPages, LandingPage, Readiness, RenderMetrics
from kb4_exporter.web.request_guard import RequestGuard
from kb4_exporter.web.tls_handover import MAX_CONNECTIONS, ConnectionHandover
from kb4_exporter.web.web_config_reloader import WebConfigReloader

log = logging.getLogger(__name__)

# A connection is closed after this long without a complete request: new, kept alive
# between requests, or trickling a head. Above a 60 s scrape interval, so Prometheus
# keeps its connection between scrapes.
IDLE_TIMEOUT = 65.0
# Requests in flight at shutdown get this long to finish.
SHUTDOWN_TIMEOUT = 1.0
START_TIMEOUT = 10.0
# What a request head may hold: Prometheus sends a handful of short headers.
MAX_LINE_SIZE = 8190
MAX_FIELD_SIZE = 8190
MAX_HEADERS = 32


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
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self._address = listen_address
        self._max_connections = max_connections
        self._host, self._requested_port = parse_listen_address(listen_address)
        self._web_config = web_config or WebConfigReloader(None)
        # Rendering and bcrypt run off the event loop, each in its own thread, so a
        # burst of password checks never queues a scrape.
        self._render_pool = concurrent.futures.ThreadPoolExecutor(1, "kb4-render")
        self._bcrypt_pool = concurrent.futures.ThreadPoolExecutor(1, "kb4-bcrypt")
        self._pages = ExporterPages(
            render_metrics=render_metrics,
            readiness=readiness,
            landing_page=landing_page,
            render_pool=self._render_pool,
        )
        self._guard = RequestGuard(
            self._web_config,
            authenticator=BasicAuthenticator(),
            throttle=throttle or AttemptThrottle(),
            bcrypt_pool=self._bcrypt_pool,
        )
        self._listener: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self._handover: ConnectionHandover | None = None

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
        app = web.Application(middlewares=[self._guard.middleware])
        self._pages.add_routes(app.router)
        app.on_response_prepare.append(self._guard.add_headers)
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
        http_protocol = self._runner.server
        if http_protocol is None:
            raise RuntimeError("aiohttp's runner made no server in setup()")
        self._handover = ConnectionHandover(
            http_protocol, self._web_config, max_connections=self._max_connections
        )
        self._server = await loop.create_server(
            self._handover.new_connection, sock=listener, backlog=1024
        )

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._handover is not None:
            self._handover.cancel_handshakes()
        if self._runner is not None:
            await self._runner.cleanup()


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
