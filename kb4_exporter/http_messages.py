"""HTTP/1.1 on the wire for the exporter's server: read a request head, serialise a response.

The parser is deliberately small and strict: bounded request line and headers, every
read against a deadline, and no byte of the request is echoed back.
"""

from __future__ import annotations

import email.utils
import re
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus

from kb4_exporter.http_limits import Limits

Clock = Callable[[], float]

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HTTP_VERSION = re.compile(rb"HTTP/\d\.\d")


class HttpError(Exception):
    """Answer with this status (a fixed body) and close the connection."""

    def __init__(self, status: HTTPStatus) -> None:
        super().__init__(status.phrase)
        self.status = status


class ClientGoneError(Exception):
    """The client closed the connection or ran out of time mid-request."""


@dataclass(frozen=True)
class Request:
    """One request head: method, path without query, version and headers."""

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


class SocketReader:
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


def read_request(reader: SocketReader, limits: Limits) -> Request | None:
    """Read one request head; None when the client closed an idle connection."""
    line = reader.readline(limits.max_request_line + 1)
    if line in (b"\r\n", b"\n"):  # one stray empty line before a request is allowed
        line = reader.readline(limits.max_request_line + 1)
    if not line:
        return None
    if not line.endswith(b"\n"):
        if len(line) > limits.max_request_line:
            raise HttpError(HTTPStatus.REQUEST_URI_TOO_LONG)
        raise ClientGoneError
    method, target, version = _split_request_line(line)
    headers = _read_headers(reader, limits)
    if version == b"HTTP/1.1" and "host" not in headers:
        raise HttpError(HTTPStatus.BAD_REQUEST)
    return Request(
        method=method.decode("ascii"),
        path=_path_of(target),
        version=version,
        headers=headers,
        has_body=_has_body(headers),
    )


def _split_request_line(line: bytes) -> tuple[bytes, bytes, bytes]:
    parts = line.rstrip(b"\r\n").split(b" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1]:
        raise HttpError(HTTPStatus.BAD_REQUEST)
    method, target, version = parts
    if version not in (b"HTTP/1.0", b"HTTP/1.1"):
        if _HTTP_VERSION.fullmatch(version):
            raise HttpError(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED)
        raise HttpError(HTTPStatus.BAD_REQUEST)
    if any(byte <= 0x20 or byte >= 0x7F for byte in target):
        raise HttpError(HTTPStatus.BAD_REQUEST)
    return method, target, version


def _path_of(target: bytes) -> str:
    text = target.decode("ascii")
    if text.startswith(("http://", "https://")):  # absolute-form, as proxies send it
        _, _, rest = text.partition("://")
        text = "/" + rest.partition("/")[2]
    return text.partition("?")[0].partition("#")[0]


def _read_headers(reader: SocketReader, limits: Limits) -> dict[str, str]:
    headers: dict[str, str] = {}
    total = 0
    while True:
        line = reader.readline(limits.max_header_line + 1)
        if not line.endswith(b"\n"):
            if len(line) > limits.max_header_line:
                raise HttpError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
            raise ClientGoneError
        if line in (b"\r\n", b"\n"):
            return headers
        total += len(line)
        if total > limits.max_header_bytes or len(headers) >= limits.max_headers:
            raise HttpError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
        name, sep, value = line.partition(b":")
        # No folded lines and no space before the colon: both are request-smuggling tools.
        if not sep or not _TOKEN.fullmatch(name):
            raise HttpError(HTTPStatus.BAD_REQUEST)
        key = name.decode("ascii").lower()
        text = value.strip(b" \t\r\n").decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text


def _has_body(headers: Mapping[str, str]) -> bool:
    if "transfer-encoding" in headers:
        return True
    length = headers.get("content-length", "0").strip()
    if not length.isdigit():
        raise HttpError(HTTPStatus.BAD_REQUEST)
    return int(length) > 0


@dataclass(frozen=True)
class Response:
    """A status, a body and its own headers; the common ones are added when sent."""

    status: HTTPStatus
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def error(cls, status: HTTPStatus, *headers: tuple[str, str]) -> Response:
        # A fixed body: nothing from the request is ever reflected.
        return cls(status, f"{status.value} {status.phrase}\n".encode(), headers=headers)


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


def serialize_response(
    response: Response, *, head_only: bool, keep_alive: bool, extra: Mapping[str, str]
) -> bytes:
    """The bytes to send: status line, headers (common, own, then `extra`), body unless HEAD."""
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
