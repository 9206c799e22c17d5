"""The HTTP server under floods from one address, as docs/reliability.md quotes it.

`python -m tests.benchmarks.server_floods` starts the exporter's server on loopback with
a 50 kB body, TLS and bcrypt basic auth (cost 10), and for each flood prints how many of
the scrapes made while it lasted succeeded and the slowest of them. A scrape is what
Prometheus does after losing its connection: a new TLS connection, credentials, GET
/metrics. Floods (all from 127.0.0.1): 1,000 idle sockets; 1,000 slowloris connections
(TLS handshake done) that send a request head one line every 0.5 s; 300 and 1,000
half-sent TLS hellos. Then
plain-HTTP throughput (20 keep-alive scrapers back to back, in a child process) and the
time `shutdown()` takes with 1,000 connections open.
"""

from __future__ import annotations

import argparse
import contextlib
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import bcrypt
import requests
import trustme

from kb4_exporter.metrics.exposition import MetricsBody
from kb4_exporter.web.pages import LandingPage
from kb4_exporter.web.server import ExporterServer
from kb4_exporter.web.web_config_reloader import WebConfigReloader

from ..support import web_server_kit as kit
from .memory import current_rss_bytes
from .scrape_scenarios import ScrapeLoad

BODY = b"".join(b'kb4_sample{n="%06d"} 1\n' % n for n in range(2200))  # ~50 kB
PASSWORD = "correct horse"
SCRAPES = 30
# The most connections a flood holds open at once.
FLOOD = 1000


def start_server(web_config: str | None) -> ExporterServer:
    server = ExporterServer(
        listen_address="127.0.0.1:0",
        render_metrics=lambda accept, gzip_ok: MetricsBody(BODY, "text/plain"),
        readiness=lambda: None,
        landing_page=LandingPage("t", "v", "d"),
        web_config=WebConfigReloader(web_config),
    )
    server.start()
    return server


def secured_config(directory: Path) -> str:
    kit.write_server_certificates(directory, trustme.CA())
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
    path = directory / "web.yml"
    path.write_text(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        f"basic_auth_users:\n  prometheus: '{hashed}'\n"
    )
    return str(path)


@contextlib.contextmanager
def flood(
    port: int, count: int, first: bytes, trickle: bytes, tls: ssl.SSLContext | None = None
) -> Iterator[None]:
    """`count` sockets that send `first`, then `trickle` every 0.5 s until the end."""
    with kit.open_connections(port, count, tls=tls) as socks:
        stop = threading.Event()

        def keep_trickling() -> None:
            while not stop.wait(0.5):
                for sock in socks:  # a connection the server dropped is passed over
                    with contextlib.suppress(OSError):
                        sock.sendall(trickle)

        if first:
            kit.send_to_all(socks, first)
        thread = threading.Thread(target=keep_trickling, daemon=True)
        if trickle:
            thread.start()
        try:
            yield
        finally:
            stop.set()
            if trickle:
                thread.join(10)


def scrapes(port: int, ca_file: str) -> tuple[int, float]:
    """(successful scrapes of SCRAPES, slowest in seconds), each on a new connection."""
    authorization = kit.basic_auth("prometheus", PASSWORD)
    ok, slowest = 0, 0.0
    for _ in range(SCRAPES):
        started = time.monotonic()
        try:
            response = requests.get(
                f"https://127.0.0.1:{port}/metrics",
                headers={"Authorization": authorization},
                verify=ca_file,
                timeout=10,
            )
            ok += response.status_code == 200 and response.content == BODY
        except requests.RequestException:
            pass
        slowest = max(slowest, time.monotonic() - started)
    return ok, slowest


def measure(what: str, action: Callable[[], tuple[int, float]]) -> None:
    before = current_rss_bytes()
    ok, slowest = action()
    grown = (current_rss_bytes() - before) / 1e6
    print(f"{what}: {ok}/{SCRAPES} scrapes ok, slowest {slowest:.2f} s, RSS +{grown:.0f} MB")


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    needed = kit.open_files_for(FLOOD)
    if not kit.raise_open_file_limit(needed):
        print(f"needs {needed} open files, more than the hard limit", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="kb4-floods-") as directory:
        web_config = secured_config(Path(directory))
        ca_file = str(Path(directory) / "ca.crt")
        server = start_server(web_config)
        port = server.port
        head = b"GET /metrics HTTP/1.1\r\nHost: x\r\n"
        tls = ssl.create_default_context(cafile=ca_file)
        try:
            measure("no flood", lambda: scrapes(port, ca_file))
            for what, count, first, trickle, context in (
                (f"{FLOOD:,} idle sockets", FLOOD, b"", b"", None),
                (f"{FLOOD:,} slowloris connections", FLOOD, head, b"X-a: b\r\n", tls),
                ("300 half TLS hellos", 300, kit.half_client_hello(), b"", None),
                (f"{FLOOD:,} half TLS hellos", FLOOD, kit.half_client_hello(), b"", None),
            ):

                def flooded(
                    count: int = count,
                    first: bytes = first,
                    trickle: bytes = trickle,
                    context: ssl.SSLContext | None = context,
                ) -> tuple[int, float]:
                    with flood(port, count, first, trickle, context):
                        return scrapes(port, ca_file)

                measure(what, flooded)
        finally:
            server.shutdown()
    plain = start_server(None)
    try:
        load = ScrapeLoad(scrapers=20, scrapes=200, interval=0.0).run(plain.port)
        seconds = max(s + lat for s, lat in load["samples"]) - min(s for s, _ in load["samples"])
        print(
            f"plain HTTP, 20 keep-alive scrapers back to back: "
            f"{len(load['samples']) / seconds:,.0f} scrapes/s, {load['failures']} failed"
        )
        with flood(plain.port, FLOOD, b"GET / HTTP/1.1\r\nHost: x\r\n", b""):
            started = time.monotonic()
            plain.shutdown()
            print(f"shutdown with {FLOOD:,} connections open: {time.monotonic() - started:.3f} s")
    finally:
        plain.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
