"""What tests and benchmarks of the exporter's HTTP server share: certificate files,
web config files changed on disk, credentials, a clock, and clients that are raw,
slow or hostile. Every client connects to 127.0.0.1 and every wait is bounded.

Tests import it as `support.web_server_kit`; `python -m tests.benchmarks.server_floods`
as `tests.support.web_server_kit`. It imports nothing else from tests/, so either works.
"""

from __future__ import annotations

import base64
import contextlib
import os
import resource
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import trustme

# Both ends of a loopback connection live in the test's process; the rest is headroom.
_FILES_PER_CONNECTION = 2
_FILES_HEADROOM = 256


def write_server_certificates(directory: Path, ca: trustme.CA) -> None:
    """server.crt and server.key for 127.0.0.1 and localhost, and ca.crt, in `directory`."""
    server = ca.issue_cert("127.0.0.1", "localhost")
    server.cert_chain_pems[0].write_to_path(str(directory / "server.crt"))
    server.private_key_pem.write_to_path(str(directory / "server.key"))
    ca.cert_pem.write_to_path(str(directory / "ca.crt"))


def bump_mtime(path: str | Path, seconds: int = 10) -> None:
    """Move a file's mtime forward so a change is seen without waiting on the clock."""
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + seconds * 1_000_000_000))


class ManualClock:
    """A monotonic clock that moves only when a test sets `now`."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def basic_auth(user: str, password: str) -> str:
    """The `Authorization` header value of HTTP basic auth."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def exchange(port: int, request: bytes) -> bytes:
    """Send raw bytes, return everything the server sends until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def half_client_hello() -> bytes:
    """The first half of a real TLS ClientHello: a handshake that never completes."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    outgoing = ssl.MemoryBIO()
    client = context.wrap_bio(ssl.MemoryBIO(), outgoing, server_hostname="127.0.0.1")
    with contextlib.suppress(ssl.SSLWantReadError):
        client.do_handshake()
    hello = outgoing.read()
    return hello[: len(hello) // 2]


def open_files_for(connections: int) -> int:
    """The open-file limit that `connections` loopback connections need."""
    return _FILES_PER_CONNECTION * connections + _FILES_HEADROOM


def raise_open_file_limit(needed: int) -> bool:
    """Raise this process's soft open-file limit to `needed`; False if the hard limit
    is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return True
    if hard != resource.RLIM_INFINITY and hard < needed:
        return False
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return True


@contextlib.contextmanager
def open_connections(
    port: int, count: int, *, tls: ssl.SSLContext | None = None
) -> Iterator[list[socket.socket]]:
    """`count` connections to 127.0.0.1:`port` (TLS handshakes done with `tls` when
    given), closed on exit. The open-file limit must allow them (`open_files_for`)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=10))
            if tls is not None:
                socks[-1] = tls.wrap_socket(socks[-1], server_hostname="127.0.0.1")
        yield socks
    finally:
        for sock in socks:
            sock.close()


def send_to_all(socks: list[socket.socket], data: bytes) -> None:
    """Send `data` on every socket the server has not closed (past its connection cap, it
    closes the oldest)."""
    for sock in socks:
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            sock.sendall(data)
