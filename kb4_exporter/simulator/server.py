"""The simulated KnowBe4 APIs served over HTTP on a background thread.

One server answers the three APIs: the Reporting API under `base_url` (paths /v1/...),
PhishER GraphQL at `phisher_url` (/graphql) and the User Event API under
`user_events_url` (/user-events, so its listing is /user-events/events). HTTP/1.1
keep-alive works as with the real API. stop() returns within a few seconds whatever
the clients do: it wakes requests held by a timeout fault or by latency, and shuts
down idle keep-alive connections.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .app import Request, Response, SimulatorApp
from .faults import Fault
from .org import Org
from .pacing import PacingLimits
from .user_events_api import PREFIX as USER_EVENTS_PREFIX

__all__ = ["Fault", "PacingLimits", "SimulatorServer"]

log = logging.getLogger(__name__)

DEFAULT_TOKEN = "simulated-reporting-token"  # noqa: S105 - a fixed demo credential
DEFAULT_PHISHER_TOKEN = "simulated-phisher-token"  # noqa: S105 - a fixed demo credential
DEFAULT_USER_EVENTS_TOKEN = "simulated-user-events-token"  # noqa: S105 - a fixed demo credential
STOP_TIMEOUT = 5.0


class SimulatorServer:
    def __init__(
        self,
        org: Org,
        *,
        token: str = DEFAULT_TOKEN,
        phisher_token: str = DEFAULT_PHISHER_TOKEN,
        user_events_token: str = DEFAULT_USER_EVENTS_TOKEN,
        limits: PacingLimits = PacingLimits(),  # noqa: B008 - frozen, safe to share
        latency: float = 0.0,
        faults: Sequence[Fault] = (),
        clock: Callable[[], float] = time.time,
        host: str = "127.0.0.1",
        port: int = 0,
        sleep: Callable[[float], None] | None = None,
        phisher_max_per: int = 100,
        pagination: str = "cursor",
    ) -> None:
        """`clock` drives the pacing windows; `sleep` waits out `latency` (default: a
        wait that stop() interrupts)."""
        if latency < 0:
            raise ValueError("latency cannot be negative")
        self._app = SimulatorApp(
            org,
            token=token,
            phisher_token=phisher_token,
            user_events_token=user_events_token,
            limits=limits,
            faults=faults,
            clock=clock,
            phisher_max_per=phisher_max_per,
            pagination=pagination,
        )
        self._token = token
        self.pagination = pagination
        self._phisher_token = phisher_token
        self._user_events_token = user_events_token
        self._latency = latency
        self._host = host
        self._port = port
        self._stopping = threading.Event()
        self._sleep = sleep if sleep is not None else self._stopping.wait
        self._http: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        state = "running" if self._http is not None else "stopped"
        return f"<SimulatorServer {state} at {self.base_url if self._http else self._host}>"

    # --- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        if self._http is not None:
            raise RuntimeError("the simulator is already running")
        self._stopping.clear()
        self._http = _HttpServer((self._host, self._port), self)
        self._port = self._http.server_address[1]
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="kb4-simulator",
            daemon=True,
        )
        self._thread.start()
        log.info("simulated KnowBe4 API listening on %s", self.base_url)

    def stop(self) -> None:
        http, thread = self._http, self._thread
        if http is None or thread is None:
            return
        self._stopping.set()
        http.shutdown()
        http.server_close()
        thread.join(STOP_TIMEOUT)
        http.close_connections()
        if not http.wait_idle(STOP_TIMEOUT):
            log.warning("simulator stopped with requests still being answered")
        self._http = self._thread = None

    def __enter__(self) -> SimulatorServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addresses and credentials --------------------------------------------------

    @property
    def base_url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    @property
    def phisher_url(self) -> str:
        return f"{self.base_url}/graphql"

    @property
    def user_events_url(self) -> str:
        """The User Event API's base URL: clients ask for `<user_events_url>/events`."""
        return f"{self.base_url}{USER_EVENTS_PREFIX}"

    @property
    def port(self) -> int:
        return self._port

    @property
    def token(self) -> str:
        return self._token

    @property
    def phisher_token(self) -> str:
        return self._phisher_token

    @property
    def user_events_token(self) -> str:
        return self._user_events_token

    @property
    def daily_budget(self) -> int | None:
        """The daily request budget of the Reporting and PhishER tokens (None: unlimited)."""
        return self._app.daily_budget

    @property
    def user_events_daily_budget(self) -> int | None:
        """The User Event API token's daily quota (None: unlimited)."""
        return self._app.user_events_daily_budget

    # --- observation and control ------------------------------------------------------

    def request_counts(self) -> dict[str, int]:
        """Requests received per endpoint template (whatever their outcome)."""
        return self._app.request_counts()

    def status_counts(self) -> dict[int, int]:
        return self._app.status_counts()

    def reset_counts(self) -> None:
        self._app.reset_counts()

    def set_org(self, org: Org) -> None:
        self._app.set_org(org)

    def set_faults(self, faults: Sequence[Fault]) -> None:
        self._app.set_faults(faults)

    # --- used by the request handler -----------------------------------------------

    def _answer(self, request: Request) -> Response:
        if self._latency:
            self._sleep(self._latency)
        return self._app.handle(request)

    def _hold(self, seconds: float) -> bool:
        """Wait; False when stop() cut the wait short."""
        return not self._stopping.wait(seconds)

    @property
    def _is_stopping(self) -> bool:
        return self._stopping.is_set()


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], simulator: SimulatorServer) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.simulator = simulator
        self._connections: set[socket.socket] = set()
        self._active = 0
        self._idle = threading.Condition()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Registered here, in the accept loop, so that once shutdown() has returned
        # every connection is known to close_connections().
        with self._idle:
            self._active += 1
            self._connections.add(request)
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._forget(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._forget(request)

    def _forget(self, request: Any) -> None:
        with self._idle:
            self._active -= 1
            self._connections.discard(request)
            self._idle.notify_all()

    def close_connections(self) -> None:
        """Unblock handlers waiting for a keep-alive client's next request."""
        with self._idle:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its handler
                connection.shutdown(socket.SHUT_RDWR)

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, timeout)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if self.simulator._is_stopping:
            return  # connections cut by stop() are expected to fail
        log.exception("simulator: error while answering %s", client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes; with Nagle's algorithm the body of a small
    # answer waits for the client's delayed ACK, about 40 ms per request on Linux.
    disable_nagle_algorithm = True
    server_version = "kb4-simulator"
    sys_version = ""
    server: _HttpServer

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("simulator: " + format, *args)

    def _handle(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        request = Request(
            method=self.command,
            path=url.path,
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.rfile.read(length) if length > 0 else b"",
        )
        simulator = self.server.simulator
        try:
            response = simulator._answer(request)
        except Exception:
            log.exception("simulator: failed to answer %s %s", self.command, url.path)
            body = json.dumps({"message": "Internal Server Error"}).encode()
            response = Response(500, body)
        if response.hold_seconds and not simulator._hold(response.hold_seconds):
            self._reset()
            return
        if response.reset or simulator._is_stopping:
            self._reset()
            return
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-cache, no-store")
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    def _reset(self) -> None:
        """Drop the connection with a TCP RST, as a crashed proxy would."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
