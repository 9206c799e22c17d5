"""The bounds the exporter's HTTP server puts on each client: sizes, timeouts, slots."""

from __future__ import annotations

from dataclasses import dataclass


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
