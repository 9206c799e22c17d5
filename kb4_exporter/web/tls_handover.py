"""Hands each accepted connection to aiohttp, after a TLS handshake when TLS is on.

At most MAX_CONNECTIONS are open at once: a new one closes the oldest, so memory stays
bounded whatever one client opens (an idle TLS connection holds asyncio's 256 KiB read
buffer) while a scraper's fresh connection lives long enough for its scrape.

The handshake of each new connection uses the TLS settings in force when it was
accepted, so certificates rotate without a restart; it runs on the event loop and gives
up after TLS_HANDSHAKE_TIMEOUT, so a client that stalls half-way through its hello
costs a few kilobytes and no thread. The client certificate's SANs are checked here
when the web config restricts them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from kb4_exporter.logs import WarnOnce
from kb4_exporter.web.tls_section import TLSSettings
from kb4_exporter.web.web_config_reloader import WebConfigReloader

log = logging.getLogger(__name__)

TLS_HANDSHAKE_TIMEOUT = 10.0
# 512 idle TLS connections hold about 150 MB; Prometheus needs one or two.
MAX_CONNECTIONS = 512

# Makes the HTTP protocol (aiohttp's) for one connection.
ProtocolFactory = Callable[[], asyncio.Protocol]


class ConnectionHandover:
    """Accepts connections for the listening server and gives them to the HTTP protocol:
    at once for plain HTTP; for HTTPS after a handshake with the TLS settings in force."""

    def __init__(
        self,
        http_protocol: ProtocolFactory,
        web_config: WebConfigReloader,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {max_connections}")
        self._http_protocol = http_protocol
        self._web_config = web_config
        self._handshakes: set[asyncio.Task[None]] = set()
        self._max_connections = max_connections
        # Accepted connections, oldest first (dicts keep insertion order).
        self._open: dict[asyncio.Transport, None] = {}
        self._cap_warning = WarnOnce(log)

    def new_connection(self) -> asyncio.Protocol:
        """The protocol factory for `loop.create_server`."""
        return _NewConnection(self._accept)

    def cancel_handshakes(self) -> None:
        """Give up every handshake in progress (at shutdown)."""
        for handshake in list(self._handshakes):
            handshake.cancel()

    def _accept(self, transport: asyncio.Transport) -> None:
        self._make_room()
        self._open[transport] = None
        tls = self._web_config.current().tls
        if tls is None:
            self._hand_over(transport)
            return
        transport.pause_reading()  # nothing is read before the handshake takes over
        handshake = asyncio.get_running_loop().create_task(self._handshake(transport, tls))
        self._handshakes.add(handshake)
        handshake.add_done_callback(self._handshakes.discard)

    def _make_room(self) -> None:
        """Forget closed connections, then close the oldest while at the cap."""
        for closed in [t for t in self._open if t.is_closing()]:
            del self._open[closed]
        while len(self._open) >= self._max_connections:
            oldest = next(iter(self._open))
            del self._open[oldest]
            self._cap_warning.warning(
                "cap",
                "%d connections are open, the most this server keeps; each new one closes "
                "the oldest",
                self._max_connections,
            )
            oldest.abort()

    async def _handshake(self, transport: asyncio.Transport, tls: TLSSettings) -> None:
        peer = transport.get_extra_info("peername")
        early = _EarlyData()
        try:
            secure = await asyncio.get_running_loop().start_tls(
                transport,
                early,
                tls.ssl_context,
                server_side=True,
                ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT,
            )
        except OSError as exc:  # a timeout, a reset or a TLS error: the client's problem
            log.debug("TLS handshake with %s failed: %s", peer, exc)
            return
        if secure is None:  # the connection closed as the handshake ended
            log.debug("TLS connection with %s closed after the handshake", peer)
            transport.abort()
            return
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
        protocol = self._http_protocol()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        return protocol


class _NewConnection(asyncio.Protocol):
    """A connection just accepted, until it is handed over."""

    def __init__(self, accept: Callable[[asyncio.Transport], None]) -> None:
        self._accept = accept

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not isinstance(transport, asyncio.Transport):
            # A listening TCP server makes stream transports only.
            raise TypeError(f"expected a stream transport, got {type(transport).__name__}")
        self._accept(transport)


class _EarlyData(asyncio.Protocol):
    """Holds what arrives between the end of a TLS handshake and aiohttp taking over."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)


def _san_allowed(peer_cert: Mapping[str, Any] | None, allowed: frozenset[str]) -> bool:
    if not peer_cert:
        return False
    names = {value for _, value in peer_cert.get("subjectAltName", ())}
    return not names.isdisjoint(allowed)
