"""The HTTP server's connection slots: who holds one, and who gives it up at the cap.

Slots are kept for clients that are being served: a connection that waits for a
request (new, or kept alive between requests) is closed, oldest first, when a new
client needs its slot, and keep-alive stops near the cap. So clients that connect and
wait cannot lock out scrapes.
"""

from __future__ import annotations

import logging
import operator
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from kb4_exporter.http_limits import Limits
from kb4_exporter.sockets import readable, shutdown_quietly

log = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass
class Connection:
    """One accepted client connection and the thread that serves it."""

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


class ConnectionSlots:
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
        self._open: dict[int, Connection] = {}
        self._refusing_logged = False
        self._evicting_logged = False

    def admit(self, connection: Connection) -> bool:
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

    def release(self, connection: Connection) -> None:
        with self._lock:
            self._open.pop(id(connection), None)

    def replace_socket(self, connection: Connection, sock: socket.socket) -> None:
        with self._lock:
            connection.sock = sock

    def connections(self) -> list[Connection]:
        with self._lock:
            return list(self._open.values())

    def counts(self) -> ConnectionCounts:
        with self._lock:
            waiting = sum(c.waiting_since is not None for c in self._open.values())
            return ConnectionCounts(open=len(self._open), waiting=waiting)

    def wait_for_request(self, connection: Connection, deadline: float) -> bool:
        """Wait, evictable, for the first bytes of a request; False to close the connection."""
        with self._lock:
            if connection.waiting_since is None:
                connection.waiting_since = self._clock()
        remaining = deadline - self._clock()
        if remaining <= 0 or not readable(connection.sock, remaining):
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

    def _longest_waiting(self) -> Connection | None:
        # A waiting connection whose socket is readable has bytes of a request its thread
        # has not picked up yet: it is busy, not idle.
        waiting = [(c.waiting_since, c) for c in self._open.values() if c.waiting_since is not None]
        waiting.sort(key=operator.itemgetter(0))
        return next((c for _, c in waiting if not readable(c.sock, 0.0)), None)

    def _evict(self, connection: Connection) -> None:
        # Shutting the socket down wakes the connection's thread, which sees the flag and
        # closes the socket.
        connection.evicted = True
        connection.waiting_since = None
        del self._open[id(connection)]
        shutdown_quietly(connection.sock)
