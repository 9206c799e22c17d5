"""A hostile KnowBe4 on loopback: the three APIs serving a `FakeOrg`, any path replaceable
by a raw, byte-level response (oversized, compressed, trickled), on one fake clock.

The org's JSON is written with `json.dumps`' ASCII escapes, so strings the tests plant
(a lone surrogate, NUL, escape sequences) reach the exporter exactly as a real server
could send them: as valid JSON. Raw responses drive the fake clock themselves (a trickle
advances it per byte), so deadlines are tested without waiting on wall time.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from kb4_fakes import FakeClock, FakeOrg

from kb4_exporter.config.secrets import Secret
from kb4_exporter.config.settings import AccountConfig, PhisherConfig, UserEventsConfig

REPORTING_TOKEN = "hostile-reporting-token-7f3a9c2e5b1d8f4a6c0e"
PHISHER_TOKEN = "hostile-phisher-token-2b8d4f6a0c1e3a5b7d9f"
EVENTS_TOKEN = "hostile-events-token-9e7c5a3b1d0f2e4a6c8b"
PHISHER_PATH = "/graphql"
EVENTS_PATH = "/events"
# No raw response runs longer than this many writes, whatever the client does.
MAX_WRITES = 100_000


class AlarmClock(FakeClock):
    """A fake clock that also keeps alarms (the exporter's request deadlines): an alarm
    goes off, on the thread that moves the clock past it, when the clock gets there."""

    def __init__(self, start: float) -> None:
        super().__init__(start)
        self._lock = threading.Lock()
        self._alarms: dict[int, tuple[float, Callable[[], None]]] = {}
        self._next_id = 0

    def alarm(self, seconds: float, action: Callable[[], None]) -> Callable[[], None]:
        with self._lock:
            alarm_id = self._next_id
            self._next_id += 1
            self._alarms[alarm_id] = (self.now + seconds, action)

        def cancel() -> None:
            with self._lock:
                self._alarms.pop(alarm_id, None)

        return cancel

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        self._ring()

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        self._ring()

    def _ring(self) -> None:
        with self._lock:
            due = [key for key, (when, _) in self._alarms.items() if when <= self.now]
            actions = [self._alarms.pop(key)[1] for key in due]
        for action in actions:
            action()


RawResponse = Callable[["Writer"], None]


@dataclass
class Writer:
    """What a raw response writes to: the client socket, the clock, and a stop flag."""

    handler: BaseHTTPRequestHandler
    clock: AlarmClock
    stopped: threading.Event
    written: int = 0

    def write(self, data: bytes) -> bool:
        """Send `data`; False once the client has gone (or the server is stopping)."""
        if self.stopped.is_set():
            return False
        try:
            self.handler.wfile.write(data)
            self.handler.wfile.flush()
        except OSError:
            return False
        self.written += len(data)
        return True

    def head(self, status: int = 200, headers: Mapping[str, str] | None = None) -> bool:
        lines = [f"HTTP/1.1 {status} Hostile"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        return self.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def trickle(self, data: bytes, seconds_per_byte: float) -> bool:
        """Send `data` one byte at a time, moving the clock on before each byte."""
        for index in range(min(len(data), MAX_WRITES)):
            self.clock.advance(seconds_per_byte)
            if not self.write(data[index : index + 1]):
                return False
        return True

    def repeat(self, chunk: bytes, times: int) -> bool:
        """Send `chunk` up to `times` times; stops as soon as the client has gone."""
        return all(self.write(chunk) for _ in range(min(times, MAX_WRITES)))


@dataclass
class HostileUpstream:
    """Reporting API at `base_url`, PhishER at `phisher_url`, User Event API at `events_url`."""

    org: FakeOrg
    clock: AlarmClock
    user_events: list[dict[str, Any]] = field(default_factory=list)
    raw: dict[str, RawResponse] = field(default_factory=dict)
    # How far the clock moves while the server prepares each ordinary response.
    seconds_per_request: float = 0.0
    requests: list[str] = field(default_factory=list)
    _stopped: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def phisher_url(self) -> str:
        return self.base_url + PHISHER_PATH

    @property
    def events_url(self) -> str:
        return self.base_url

    def account(self, **overrides: Any) -> AccountConfig:
        """An account on this upstream, unpaced (pacing is not what these tests probe)."""
        values: dict[str, Any] = {
            "name": "acme",
            "region": "us",
            "base_url": self.base_url,
            "api_token": Secret.inline(REPORTING_TOKEN),
            "phisher": PhisherConfig(self.phisher_url, Secret.inline(PHISHER_TOKEN)),
            "user_events": UserEventsConfig(self.events_url, Secret.inline(EVENTS_TOKEN)),
            "requests_per_second": 1000.0,
            "requests_per_minute": 100_000,
        }
        values.update(overrides)
        return AccountConfig(**values)

    def __enter__(self) -> Self:
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                upstream._handle(self, None)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                upstream._handle(self, json.loads(self.rfile.read(length) or b"null"))

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stopped.set()
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # --- serving -------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        parts = urlsplit(handler.path)
        self.requests.append(parts.path)
        raw = self.raw.get(parts.path)
        if raw is not None:
            raw(Writer(handler, self.clock, self._stopped))
            handler.close_connection = True
            return
        if not self._take_time(handler, self.seconds_per_request):
            handler.close_connection = True
            return
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        payload = self._payload(parts.path, query, body)
        try:
            if payload is None:
                handler.send_error(404)
                return
            data = json.dumps(payload).encode("ascii")
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:  # the client hung up (its deadline went off)
            handler.close_connection = True

    def _take_time(self, handler: BaseHTTPRequestHandler, seconds: float) -> bool:
        """Move the clock on by `seconds` in steps of a second, as time passes for a real
        server (an alarm goes off within a second of when it is due); False as soon as
        the client has hung up."""
        steps = int(seconds)
        for _ in range(steps):
            self.clock.advance(1.0)
            if _hung_up(handler.connection):
                return False
        self.clock.advance(seconds - steps)
        return True

    def _payload(self, path: str, query: Mapping[str, str], body: Any) -> Any:
        org = self.org
        if path == PHISHER_PATH:
            nodes = org.phisher_messages
            pagination = {"page": 1, "pages": 1, "per": len(nodes), "totalCount": len(nodes)}
            return {"data": {"phisherMessages": {"nodes": nodes, "pagination": pagination}}}
        if path == EVENTS_PATH:
            return {"data": self.user_events, "meta": {"next_page": None}}
        if path == "/v1/account":
            return org.account
        if path == "/v1/account/risk_score_history":
            return org.risk_history
        listings: dict[str, list[dict[str, Any]]] = {
            "/v1/users": org.archived_users if query.get("status") == "archived" else org.users,
            "/v1/groups": org.groups,
            "/v1/training/campaigns": org.training_campaigns,
            "/v1/training/enrollments": org.enrollments,
            "/v1/phishing/security_tests": org.security_tests,
            "/v1/phishing/campaigns": org.phishing_campaigns,
            "/v1/training/store_purchases": org.store_purchases,
            "/v1/training/policies": org.policies,
        }
        for pst_id, recipients in org.recipients.items():
            listings[f"/v1/phishing/security_tests/{pst_id}/recipients"] = recipients
        rows = listings.get(path)
        if rows is None:
            return None
        size = int(query.get("per_page", "100"))
        page = int(query.get("page", "1"))
        return rows[(page - 1) * size : page * size]


def _hung_up(connection: socket.socket) -> bool:
    """Whether the peer has closed or shut down its end (without waiting)."""
    try:
        return connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
