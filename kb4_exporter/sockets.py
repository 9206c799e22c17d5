"""Socket calls the HTTP server and its connection slots share, none of which raise."""

from __future__ import annotations

import contextlib
import select
import socket


def readable(sock: socket.socket, timeout: float) -> bool:
    """Whether the socket has bytes to read, or is closed, within `timeout` seconds."""
    poller = select.poll()
    try:
        poller.register(sock, select.POLLIN)
    except ValueError:  # already closed: nothing to wait for
        return True
    return bool(poller.poll(max(0.0, timeout) * 1000))


def shutdown_quietly(sock: socket.socket) -> None:
    """Shut both directions down, ignoring a socket that is already gone."""
    # The plain socket call, also on a TLS socket: it only has to wake a blocked read.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def close_quietly(sock: socket.socket) -> None:
    """Close the socket, ignoring a socket that is already gone."""
    with contextlib.suppress(OSError):
        sock.close()
