"""The exporter's HTTP(S) server: `/metrics`, a landing page, `/-/healthy` and `/-/ready`.

One thread accepts connections; each connection gets its own thread, so a slow or
stalled client only ever holds its own thread, and every read runs against a deadline.
Connection slots are kept for clients that are being served: a connection that waits
for a request (new, or kept alive between requests) is closed, oldest first, when a new
client needs its slot, keep-alive stops near the cap, and a 401 closes the connection.
So clients that connect and wait, with or without credentials, cannot lock out scrapes.
The request parser is deliberately small and strict: GET and HEAD on four paths,
bounded request line and headers, and no byte of the request is echoed back.

TLS and basic auth come from the `--web.config.file` (see `webconfig.py`). The file and
the certificate files it names are checked for changes on every connection and request
(a few `stat` calls), so certificates and passwords rotate without a restart; a broken
file keeps the last good configuration and is logged once.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import email.utils
import errno
import functools
import gzip
import hmac
import html
import logging
import operator
import re
import secrets
import select
import selectors
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import bcrypt
import cachetools

from kb4_exporter.webconfig import TLSSettings, WebConfigReloader

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
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HTTP_VERSION = re.compile(rb"HTTP/\d\.\d")


@dataclass(frozen=True)
class LandingPage:
    """What `/` shows; links to /metrics, /-/healthy and /-/ready are added by the server."""

    title: str
    version: str
    description: str


@dataclass(frozen=True)
class Limits:
    """Bounds on what one client may send or hold."""

    max_request_line: int = 8192
    max_header_line: int = 8192
    max_header_bytes: int = 32768
    max_headers: int = 100
    # Time for the TLS handshake plus the first request's line and headers; for later
    # requests on a kept-alive connection, the time from its first byte to its last header.
    read_timeout: float = 10.0
    # How long a kept-alive connection may wait for its next request.
    idle_timeout: float = 90.0
    # A client that does not read its response is dropped after this long.
    write_timeout: float = 30.0
    # At the cap a new connection closes the longest-waiting idle one; if every
    # connection is mid-request, the new one is refused.
    max_connections: int = 256
    # Keep-alive is offered only while at most this share of max_connections is open:
    # nearer the cap a connection closes after its response instead of idling.
    keep_alive_share: float = 0.75


# --------------------------------------------------------------------------------------
# Listen address


def parse_listen_address(address: str) -> tuple[str, int]:
    """Split ":9897", "127.0.0.1:9897", "[::1]:9897" or "host:0" into (host, port).

    An empty host means every interface. Raises ValueError with the reason.
    """
    host, sep, port_text = address.rpartition(":")
    if not sep:
        raise ValueError(f"listen address {address!r}: expected host:port or :port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if not host:
            raise ValueError(f"listen address {address!r}: empty IPv6 address")
    elif ":" in host:
        raise ValueError(f"listen address {address!r}: put an IPv6 address in brackets")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"listen address {address!r}: port must be a number from 0 to 65535")
    return host, int(port_text)


def _bind(host: str, port: int, address: str) -> socket.socket:
    try:
        # Both wildcards take IPv4 too where the system allows, as Go's listeners do.
        if host in ("", "::") and socket.has_dualstack_ipv6():
            return socket.create_server(("", port), family=socket.AF_INET6, dualstack_ipv6=True)
        if not host:
            return socket.create_server(("", port))
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, _, _, _, sockaddr = infos[0]
        return socket.create_server(sockaddr[:2], family=family)
    except socket.gaierror as exc:
        raise OSError(errno.EINVAL, f"cannot listen on {address}: {exc.strerror}") from None
    except OSError as exc:
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise OSError(exc.errno, f"cannot listen on {address}: {reason}") from None


# --------------------------------------------------------------------------------------
# Basic auth


class BasicAuthenticator:
    """Checks `Authorization: Basic` credentials against bcrypt hashes.

    bcrypt is slow on purpose, so successful checks are cached for `cache_ttl` seconds.
    The cache key is an HMAC (with a per-process random key) of user, password and the
    stored hash: no password is kept in clear, and a changed hash invalidates at once.
    """

    def __init__(
        self, *, clock: Clock = time.monotonic, cache_ttl: float = 60.0, cache_size: int = 1024
    ) -> None:
        self._key = secrets.token_bytes(32)
        self._cache: cachetools.TTLCache[bytes, bool] = cachetools.TTLCache(
            maxsize=cache_size, ttl=cache_ttl, timer=clock
        )
        self._lock = threading.Lock()

    def check(self, authorization: str | None, users: Mapping[str, bytes]) -> bool:
        credentials = _parse_basic_credentials(authorization)
        if credentials is None:
            return False
        username, password = credentials
        stored = _find_hash(users, username)
        if stored is None:
            # Spend the same bcrypt time as for a real user: no user enumeration by timing.
            _checkpw(password, _dummy_hash(_cost_of(next(iter(users.values()), b""))))
            return False
        key = hmac.digest(self._key, _length_prefixed(username, password, stored), "sha256")
        with self._lock:
            if self._cache.get(key):
                return True
        if not _checkpw(password, stored):
            return False
        with self._lock:
            self._cache[key] = True
        return True


def _checkpw(password: bytes, stored: bytes) -> bool:
    # bcrypt only ever uses the first 72 bytes; htpasswd and Go truncate the same way,
    # while the Python binding refuses longer passwords instead.
    return bcrypt.checkpw(password[:72], stored)


def _parse_basic_credentials(authorization: str | None) -> tuple[bytes, bytes] | None:
    if not authorization:
        return None
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    username, sep, password = decoded.partition(b":")
    return (username, password) if sep else None


def _find_hash(users: Mapping[str, bytes], username: bytes) -> bytes | None:
    # Compare against every user, each in constant time, so timing says nothing about
    # which names exist or how much of a name matched.
    found: bytes | None = None
    for name, stored in users.items():
        if hmac.compare_digest(name.encode("utf-8"), username):
            found = stored
    return found


def _length_prefixed(*parts: bytes) -> bytes:
    return b"".join(len(part).to_bytes(4, "big") + part for part in parts)


def _cost_of(stored: bytes) -> int:
    try:
        return int(stored[4:6])
    except ValueError:
        return 10


@functools.cache
def _dummy_hash(cost: int) -> bytes:
    return bcrypt.hashpw(b"kb4_exporter-dummy", bcrypt.gensalt(rounds=max(4, min(cost, 31))))


# --------------------------------------------------------------------------------------
# HTTP/1.1 request parsing


class _HttpError(Exception):
    """Answer with this status (a fixed body) and close the connection."""

    def __init__(self, status: HTTPStatus) -> None:
        super().__init__(status.phrase)
        self.status = status


class _ClientGoneError(Exception):
    """The client closed the connection or ran out of time mid-request."""


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    version: bytes
    headers: Mapping[str, str]
    has_body: bool

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def keep_alive(self) -> bool:
        # HTTP/1.0 keep-alive is not offered; an unread body would be parsed as the next
        # request, so a request with one closes the connection too.
        tokens = {t.strip().lower() for t in (self.header("connection") or "").split(",")}
        return self.version == b"HTTP/1.1" and not self.has_body and "close" not in tokens


class _SocketReader:
    """Buffered line reads from a socket that fail once a deadline passes, however
    slowly bytes trickle in. Unlike `io.BufferedReader` it tells whether bytes of a next
    request are already buffered, which decides if the connection is idle."""

    def __init__(self, sock: socket.socket, clock: Clock) -> None:
        self._sock = sock
        self._clock = clock
        self._buffer = bytearray()
        self.deadline = clock()

    @property
    def has_unread(self) -> bool:
        if self._buffer:
            return True
        # TLS may hold decrypted bytes that the socket no longer shows as readable.
        return isinstance(self._sock, ssl.SSLSocket) and self._sock.pending() > 0

    def readline(self, limit: int) -> bytes:
        """Up to `limit` bytes ending in a newline; fewer, without one, at end of stream."""
        while True:
            end = self._buffer.find(b"\n", 0, limit)
            if end >= 0:
                return self._take(end + 1)
            if len(self._buffer) >= limit or not self._fill():
                return self._take(limit)

    def _take(self, size: int) -> bytes:
        taken = bytes(self._buffer[:size])
        del self._buffer[:size]
        return taken

    def _fill(self) -> bool:
        remaining = self.deadline - self._clock()
        if remaining <= 0:
            raise TimeoutError("read deadline passed")
        self._sock.settimeout(remaining)
        chunk = self._sock.recv(65536)
        self._buffer += chunk
        return bool(chunk)


def _read_request(reader: _SocketReader, limits: Limits) -> _Request | None:
    """Read one request head; None when the client closed an idle connection."""
    line = reader.readline(limits.max_request_line + 1)
    if line in (b"\r\n", b"\n"):  # one stray empty line before a request is allowed
        line = reader.readline(limits.max_request_line + 1)
    if not line:
        return None
    if not line.endswith(b"\n"):
        if len(line) > limits.max_request_line:
            raise _HttpError(HTTPStatus.REQUEST_URI_TOO_LONG)
        raise _ClientGoneError
    method, target, version = _split_request_line(line)
    headers = _read_headers(reader, limits)
    if version == b"HTTP/1.1" and "host" not in headers:
        raise _HttpError(HTTPStatus.BAD_REQUEST)
    return _Request(
        method=method.decode("ascii"),
        path=_path_of(target),
        version=version,
        headers=headers,
        has_body=_has_body(headers),
    )


def _split_request_line(line: bytes) -> tuple[bytes, bytes, bytes]:
    parts = line.rstrip(b"\r\n").split(b" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1]:
        raise _HttpError(HTTPStatus.BAD_REQUEST)
    method, target, version = parts
    if version not in (b"HTTP/1.0", b"HTTP/1.1"):
        if _HTTP_VERSION.fullmatch(version):
            raise _HttpError(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED)
        raise _HttpError(HTTPStatus.BAD_REQUEST)
    if any(byte <= 0x20 or byte >= 0x7F for byte in target):
        raise _HttpError(HTTPStatus.BAD_REQUEST)
    return method, target, version


def _path_of(target: bytes) -> str:
    text = target.decode("ascii")
    if text.startswith(("http://", "https://")):  # absolute-form, as proxies send it
        _, _, rest = text.partition("://")
        text = "/" + rest.partition("/")[2]
    return text.partition("?")[0].partition("#")[0]


def _read_headers(reader: _SocketReader, limits: Limits) -> dict[str, str]:
    headers: dict[str, str] = {}
    total = 0
    while True:
        line = reader.readline(limits.max_header_line + 1)
        if not line.endswith(b"\n"):
            if len(line) > limits.max_header_line:
                raise _HttpError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
            raise _ClientGoneError
        if line in (b"\r\n", b"\n"):
            return headers
        total += len(line)
        if total > limits.max_header_bytes or len(headers) >= limits.max_headers:
            raise _HttpError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
        name, sep, value = line.partition(b":")
        # No folded lines and no space before the colon: both are request-smuggling tools.
        if not sep or not _TOKEN.fullmatch(name):
            raise _HttpError(HTTPStatus.BAD_REQUEST)
        key = name.decode("ascii").lower()
        text = value.strip(b" \t\r\n").decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text


def _has_body(headers: Mapping[str, str]) -> bool:
    if "transfer-encoding" in headers:
        return True
    length = headers.get("content-length", "0").strip()
    if not length.isdigit():
        raise _HttpError(HTTPStatus.BAD_REQUEST)
    return int(length) > 0


# --------------------------------------------------------------------------------------
# Responses


@dataclass(frozen=True)
class _Response:
    status: HTTPStatus
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def error(cls, status: HTTPStatus, *headers: tuple[str, str]) -> _Response:
        # A fixed body: nothing from the request is ever reflected.
        return cls(status, f"{status.value} {status.phrase}\n".encode(), headers=headers)


def _accepts_gzip(accept_encoding: str | None) -> bool:
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


def _serialize(
    response: _Response, *, head_only: bool, keep_alive: bool, extra: Mapping[str, str]
) -> bytes:
    headers: dict[str, str] = {
        "Date": email.utils.formatdate(usegmt=True),
        "Content-Type": response.content_type,
        "Content-Length": str(len(response.body)),
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    headers.update(response.headers)
    headers.update(extra)
    if not keep_alive:
        headers["Connection"] = "close"
    lines = [f"HTTP/1.1 {response.status.value} {response.status.phrase}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + response.body


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


# --------------------------------------------------------------------------------------
# The server


@dataclass
class _Connection:
    sock: socket.socket
    peer: str
    accepted_at: float
    # Set while the connection waits for a request and nothing of it has arrived (a new
    # connection, or one kept alive between requests): only then may it be closed to
    # admit another client. None while a request is read or answered.
    waiting_since: float | None
    evicted: bool = False
    thread: threading.Thread | None = field(default=None)


@dataclass(frozen=True)
class ConnectionCounts:
    """Open connections, and how many of them wait for a request (and may be evicted)."""

    open: int
    waiting: int


class _ConnectionSlots:
    """The open connections, up to `max_connections`.

    Slots go to clients being served. A connection waiting for a request with nothing of
    it received (new, or kept alive between requests) holds its slot only until a new
    client needs it: at the cap the longest-waiting one is closed, the way nginx reuses
    idle connections. Only when every connection is mid-request is a new one refused.
    """

    def __init__(self, limits: Limits, clock: Clock) -> None:
        self._limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._open: dict[int, _Connection] = {}
        self._refusing_logged = False
        self._evicting_logged = False

    def admit(self, connection: _Connection) -> bool:
        limit = self._limits.max_connections
        with self._lock:
            if len(self._open) < limit:
                self._refusing_logged = self._evicting_logged = False
            else:
                victim = self._longest_waiting()
                if victim is None:
                    if not self._refusing_logged:
                        log.warning(
                            "connection limit (%d) reached and every connection is busy; "
                            "refusing new connections",
                            limit,
                        )
                        self._refusing_logged = True
                    return False
                if not self._evicting_logged:
                    log.warning(
                        "connection limit (%d) reached; closing idle connections to admit new ones",
                        limit,
                    )
                    self._evicting_logged = True
                log.debug("closing idle connection of %s for a new client", victim.peer)
                self._evict(victim)
            self._open[id(connection)] = connection
        return True

    def release(self, connection: _Connection) -> None:
        with self._lock:
            self._open.pop(id(connection), None)

    def replace_socket(self, connection: _Connection, sock: socket.socket) -> None:
        with self._lock:
            connection.sock = sock

    def connections(self) -> list[_Connection]:
        with self._lock:
            return list(self._open.values())

    def counts(self) -> ConnectionCounts:
        with self._lock:
            waiting = sum(c.waiting_since is not None for c in self._open.values())
            return ConnectionCounts(open=len(self._open), waiting=waiting)

    def wait_for_request(self, connection: _Connection, deadline: float) -> bool:
        """Wait, evictable, for the first bytes of a request; False to close the connection."""
        with self._lock:
            if connection.waiting_since is None:
                connection.waiting_since = self._clock()
        remaining = deadline - self._clock()
        if remaining <= 0 or not _readable(connection.sock, remaining):
            return False
        # The bytes stay unread in the socket until the connection is marked busy, so an
        # eviction racing with their arrival sees them and passes this connection by.
        with self._lock:
            if connection.evicted:
                return False
            connection.waiting_since = None
        return True

    def keep_alive_allowed(self) -> bool:
        limits = self._limits
        with self._lock:
            return len(self._open) <= limits.max_connections * limits.keep_alive_share

    def _longest_waiting(self) -> _Connection | None:
        # A waiting connection whose socket is readable has bytes of a request its thread
        # has not picked up yet: it is busy, not idle.
        waiting = [(c.waiting_since, c) for c in self._open.values() if c.waiting_since is not None]
        waiting.sort(key=operator.itemgetter(0))
        return next((c for _, c in waiting if not _readable(c.sock, 0.0)), None)

    def _evict(self, connection: _Connection) -> None:
        # Shutting the socket down wakes the connection's thread, which sees the flag and
        # closes the socket.
        connection.evicted = True
        connection.waiting_since = None
        del self._open[id(connection)]
        _shutdown_quietly(connection.sock)


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
        self._slots = _ConnectionSlots(self._limits, clock)
        self._previous_switch_interval: float | None = None
        self._handlers: Mapping[str, Callable[[_Request], _Response]] = {
            "/": self._landing_page,
            "/metrics": self._metrics,
            "/-/healthy": self._healthy,
            "/-/ready": self._ready,
        }

    # -- public interface --------------------------------------------------------------

    def start(self) -> None:
        if self._listener is not None:
            raise RuntimeError("server already started")
        self._listener = _bind(self._host, self._requested_port, self._address)
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
            _shutdown_quietly(connection.sock)
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
        connection = _Connection(sock, peer, accepted_at=now, waiting_since=now)
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

    def _serve_connection(self, connection: _Connection) -> None:
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
            _close_quietly(connection.sock)
            self._slots.release(connection)

    def _secure(self, connection: _Connection, tls: TLSSettings, deadline: float) -> bool:
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

    def _serve_requests(self, connection: _Connection, first_deadline: float) -> None:
        sock = connection.sock
        reader = _SocketReader(sock, self._clock)
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
                request = _read_request(reader, self._limits)
            except _HttpError as exc:
                self._send(sock, _Response.error(exc.status), head_only=False, keep_alive=False)
                return
            except (_ClientGoneError, TimeoutError, OSError, UnicodeDecodeError):
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

    def _keep_alive_offered(self, request: _Request, response: _Response) -> bool:
        if not request.keep_alive or self._stopping.is_set():
            return False
        # A client without valid credentials gets no idle slot to hold.
        if response.status == HTTPStatus.UNAUTHORIZED:
            return False
        return self._slots.keep_alive_allowed()

    def _send(
        self, sock: socket.socket, response: _Response, *, head_only: bool, keep_alive: bool
    ) -> bool:
        config = self._web_config.current()
        data = _serialize(
            response, head_only=head_only, keep_alive=keep_alive, extra=config.headers
        )
        try:
            sock.settimeout(self._limits.write_timeout)
            sock.sendall(data)
        except OSError:
            return False
        return True

    # -- routing -----------------------------------------------------------------------

    def _respond(self, request: _Request) -> _Response:
        if request.path not in _UNAUTHENTICATED_PATHS:
            config = self._web_config.current()
            if config.auth_enabled and not self._authenticator.check(
                request.header("authorization"), config.basic_auth_users
            ):
                return _Response.error(
                    HTTPStatus.UNAUTHORIZED,
                    ("WWW-Authenticate", 'Basic realm="kb4_exporter", charset="UTF-8"'),
                )
        handler = self._handlers.get(request.path)
        if handler is None:
            return _Response.error(HTTPStatus.NOT_FOUND)
        if request.method not in _ALLOWED_METHODS:
            return _Response.error(HTTPStatus.METHOD_NOT_ALLOWED, ("Allow", _ALLOW_HEADER))
        return handler(request)

    def _landing_page(self, request: _Request) -> _Response:
        return _Response(
            HTTPStatus.OK,
            self._landing,
            "text/html; charset=utf-8",
            (("Content-Security-Policy", "default-src 'none'"),),
        )

    def _healthy(self, request: _Request) -> _Response:
        return _Response(HTTPStatus.OK, b"OK\n")

    def _ready(self, request: _Request) -> _Response:
        try:
            ready = self._is_ready()
        except Exception:
            log.exception("readiness check failed")
            ready = False
        if ready:
            return _Response(HTTPStatus.OK, b"OK\n")
        return _Response(HTTPStatus.SERVICE_UNAVAILABLE, b"not ready\n")

    def _metrics(self, request: _Request) -> _Response:
        try:
            body, content_type = self._render_metrics(request.header("accept"))
        except Exception:
            log.exception("rendering /metrics failed")
            return _Response.error(HTTPStatus.INTERNAL_SERVER_ERROR)
        headers: tuple[tuple[str, str], ...] = (("Vary", "Accept, Accept-Encoding"),)
        if _accepts_gzip(request.header("accept-encoding")):
            body = gzip.compress(body, compresslevel=6, mtime=0)
            headers += (("Content-Encoding", "gzip"),)
        return _Response(HTTPStatus.OK, body, content_type, headers)


def _san_allowed(peer_cert: Mapping[str, Any] | None, allowed: frozenset[str]) -> bool:
    if not peer_cert:
        return False
    names = {value for _, value in peer_cert.get("subjectAltName", ())}
    return not names.isdisjoint(allowed)


def _format_peer(address: Any) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _readable(sock: socket.socket, timeout: float) -> bool:
    """Whether the socket has bytes to read, or is closed, within `timeout` seconds."""
    poller = select.poll()
    try:
        poller.register(sock, select.POLLIN)
    except ValueError:  # already closed: nothing to wait for
        return True
    return bool(poller.poll(max(0.0, timeout) * 1000))


def _shutdown_quietly(sock: socket.socket) -> None:
    # The plain socket call, also on a TLS socket: it only has to wake a blocked read.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _close_quietly(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
