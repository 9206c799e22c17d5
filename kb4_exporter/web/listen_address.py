"""Turns `--web.listen-address` into a listening socket, and says what it is bound to."""

from __future__ import annotations

import errno
import ipaddress
import socket

MAX_PORT = 65535


class ListenError(OSError):
    """The address cannot be listened on; the message says which address and why."""


def parse_listen_address(address: str) -> tuple[str, int]:
    """':9897' -> ('', 9897); '[::1]:9897' -> ('::1', 9897); raises ValueError.

    The one rule for `--web.listen-address`: the settings check it before start-up and
    the server splits it with it. An empty host means every interface; the message of
    the ValueError starts with the address and says what is wrong.
    """
    host, sep, port_text = address.rpartition(":")
    # isascii: str.isdigit() also accepts digits such as "²" that int() refuses.
    if not sep or not (port_text.isascii() and port_text.isdigit()):
        raise ValueError(f"{address!r} must be host:port, e.g. :9897 or 127.0.0.1:9897")
    if int(port_text) > MAX_PORT:
        raise ValueError(f"{address!r}: port {port_text} is out of range (0-{MAX_PORT})")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{address!r}: {host!r} is not an IPv6 address") from None
    elif any(ch in "[]:" or ch.isspace() for ch in host):
        raise ValueError(f"{address!r}: bad host {host!r} (write an IPv6 address as [::1]:9897)")
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
