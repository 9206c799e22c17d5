"""Turns `--web.listen-address` into a listening socket, and says what it is bound to."""

from __future__ import annotations

import errno
import socket


class ListenError(OSError):
    """The address cannot be listened on; the message says which address and why."""


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
    if not port_text.isascii() or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"listen address {address!r}: port must be a number from 0 to 65535")
    return host, int(port_text)


def bind_listener(host: str, port: int, address: str) -> socket.socket:
    """A listening socket for `host` and `port`; ListenError names `address` and the reason."""
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
        raise ListenError(f"cannot listen on {address}: {exc.strerror}") from None
    except OSError as exc:
        reason = exc.strerror
        if exc.errno == errno.EADDRINUSE:
            reason = "address already in use (another process has the port)"
        raise ListenError(f"cannot listen on {address}: {reason}") from None


def describe_listener(sock: socket.socket) -> str:
    """Where a listening socket accepts connections, as the log should say it:
    "[::]:9897 (every IPv4 and IPv6 address)", "127.0.0.1:9897"."""
    host, port = sock.getsockname()[:2]
    if sock.family != socket.AF_INET6:
        return f"{host}:{port} (every IPv4 address)" if host == "0.0.0.0" else f"{host}:{port}"  # noqa: S104
    bound = f"[{host}]:{port}"
    if host != "::":
        return bound
    if sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY):
        return f"{bound} (every IPv6 address)"
    return f"{bound} (every IPv4 and IPv6 address)"
