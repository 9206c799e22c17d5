"""`--web.listen-address`: the one rule for its form, and how a bound socket is described."""

from __future__ import annotations

import re
import socket

import pytest

from kb4_exporter.web.listen_address import describe_listener, parse_listen_address


@pytest.mark.parametrize(
    ("address", "host", "port"),
    [
        (":9897", "", 9897),
        ("127.0.0.1:9897", "127.0.0.1", 9897),
        ("localhost:80", "localhost", 80),
        ("localhost:0", "localhost", 0),
        ("[::1]:9897", "::1", 9897),
        ("[::]:0", "::", 0),
        ("[::]:9897", "::", 9897),
        ("0.0.0.0:65535", "0.0.0.0", 65535),
        ("[fe80::1%eth0]:9897", "fe80::1%eth0", 9897),
    ],
)
def test_host_port_forms_are_split(address: str, host: str, port: int) -> None:
    assert parse_listen_address(address) == (host, port)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("9897", "must be host:port, e.g. :9897 or 127.0.0.1:9897"),
        ("", "must be host:port"),
        (":", "must be host:port"),
        ("localhost:", "must be host:port"),
        (":http", "must be host:port"),
        ("host:http", "must be host:port"),
        (":-1", "must be host:port"),
        (":\u00b2", "must be host:port"),
        (":65536", "port 65536 is out of range (0-65535)"),
        ("host:70000", "port 70000 is out of range (0-65535)"),
        ("::1:9897", "bad host '::1' (write an IPv6 address as [::1]:9897)"),
        ("::9897", "bad host ':'"),
        ("[::1:9897", "bad host '[::1'"),
        ("::1]:9897", "bad host '::1]'"),
        ("local host:9897", "bad host 'local host'"),
        ("[]:9897", "'' is not an IPv6 address"),
        ("[127.0.0.1]:9897", "'127.0.0.1' is not an IPv6 address"),
        ("[not-an-address]:9897", "'not-an-address' is not an IPv6 address"),
    ],
)
def test_malformed_addresses_are_refused_with_the_reason(address: str, reason: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(repr(address))}.*{re.escape(reason)}"):
        parse_listen_address(address)


def test_ipv6_only_wildcard_is_described_as_such() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    with socket.socket(socket.AF_INET6) as sock:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(("::", 0))
        port = sock.getsockname()[1]
        assert describe_listener(sock) == f"[::]:{port} (every IPv6 address)"
