"""A deadline for a whole HTTP request: connect, TLS handshake, headers and body.

requests' timeouts bound each wait for the socket, not the request: a server that sends
one byte every few seconds never trips them and can hold a request (and the refresh
behind it) for as long as it likes. Here a watchdog shuts the request's connection down
when its deadline passes; the read blocked on it then fails at once, and the session
reports a timeout.

The watchdog needs the request's socket. `DeadlineAdapter` builds its connections from
urllib3 connection classes that hand each socket, new or kept alive, to the watchdog of
the request running on the current thread (`watched_request`).

A refresh has a deadline of its own (its interval): `RefreshDeadline` gives each attempt
the shorter of the two and sends nothing once the refresh's has passed.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any, Final

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager

from kb4_exporter.api.errors import ApiTimeoutError
from kb4_exporter.api.outcomes import Call
from kb4_exporter.api.pacing import Clock

Alarm = Callable[[float, Callable[[], None]], Callable[[], None]]
"""Calls the function once the given seconds have passed, on some other thread, unless
the returned cancel function was called first."""


def thread_alarm(seconds: float, action: Callable[[], None]) -> Callable[[], None]:
    """The real `Alarm`: a daemon timer thread."""
    timer = threading.Timer(seconds, action)
    timer.daemon = True
    timer.start()
    return timer.cancel


class RefreshDeadline:
    """The running refresh's deadline (epoch seconds), and the time it leaves each attempt."""

    def __init__(self, clock: Clock, request_seconds: float) -> None:
        self._clock = clock
        # A whole request, connect to last byte of the body, with or without a refresh.
        self._request_seconds = request_seconds
        self._at: float | None = None

    @contextlib.contextmanager
    def until(self, at: float) -> Iterator[None]:
        """Until the block ends, no request is sent after `at` and none runs past it."""
        self._at = at
        try:
            yield
        finally:
            self._at = None

    def attempt_seconds(self, call: Call) -> float:
        """Seconds the next attempt may take; ApiTimeoutError once the refresh is over time."""
        if self._at is None:
            return self._request_seconds
        left = self._at - self._clock()
        if left <= 0:
            raise ApiTimeoutError(
                f"{call.where}: not sent, the refresh ran past its deadline (its "
                "refresh interval); the rest waits for the next refresh",
                endpoint=call.endpoint,
            )
        return min(self._request_seconds, left)

    def allows_wait(self, seconds: float) -> bool:
        """Whether an attempt could still start after waiting `seconds` from now."""
        return self._at is None or self._clock() + seconds < self._at


class Watchdog:
    """Shuts down every socket of one request once its alarm goes off."""

    def __init__(self, alarm: Alarm, seconds: float) -> None:
        self._lock = threading.Lock()
        # Our own duplicates of the request's sockets: shutting one down ends the
        # connection whatever urllib3 does with its own, and the descriptor cannot be
        # reused by another file until we close it.
        self._sockets: list[socket.socket] = []
        self._expired = False
        self._closed = False
        self._cancel = alarm(seconds, self._expire)

    @property
    def expired(self) -> bool:
        with self._lock:
            return self._expired

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            if self._closed:
                return
            duplicate = socket.socket(fileno=os.dup(sock.fileno()))
            self._sockets.append(duplicate)
            if self._expired:
                _shut_down(duplicate)

    def close(self) -> None:
        """The request is over: disarm, and let go of the sockets."""
        self._cancel()
        # The alarm holds this watchdog and this watchdog held the alarm: without the
        # cycle, both are freed as soon as the alarm's thread ends, with no wait for the
        # garbage collector (which the scheduler freezes the survivors of a refresh from).
        self._cancel = _disarmed
        with self._lock:
            self._closed = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.close()

    def _expire(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._expired = True
            for sock in self._sockets:
                _shut_down(sock)


def _disarmed() -> None:
    pass


def _shut_down(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # the peer may have closed it already
        sock.shutdown(socket.SHUT_RDWR)


_current = threading.local()


@contextlib.contextmanager
def watched_request(alarm: Alarm, seconds: float) -> Iterator[Watchdog]:
    """A watchdog over the sockets that requests on this thread use until the block ends."""
    watchdog = Watchdog(alarm, seconds)
    _current.watchdog = watchdog
    try:
        yield watchdog
    finally:
        _current.watchdog = None
        watchdog.close()


def _watch(sock: socket.socket | None) -> None:
    watchdog: Watchdog | None = getattr(_current, "watchdog", None)
    if watchdog is not None and sock is not None:
        watchdog.watch(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self.sock)  # a connection kept alive from an earlier request
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        # Watched before the TLS handshake, so a handshake trickled byte by byte is cut too.
        sock = super()._new_conn()
        _watch(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self.sock)
        super().request(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS: Final = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter, on connections the current request's watchdog can shut down."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _use_watched_pools(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        # A SOCKS proxy has pool classes of its own; its requests keep only the socket
        # timeouts (and the session's check of the deadline between attempts).
        if not proxy.lower().startswith("socks"):
            _use_watched_pools(manager)
        return manager


def _use_watched_pools(manager: PoolManager) -> None:
    manager.pool_classes_by_scheme = dict(_WATCHED_POOLS)
