"""Concurrent /metrics scrapers, run as their own process so their CPU is not the exporter's.

`python -m tests.benchmarks.scrape_load --port P --scrapers 20 --scrapes 100` opens one
keep-alive connection per scraper and sends Prometheus' own request headers (gzip
included). With `--interval 0` each scraper sends its next request as soon as the last
one is answered (saturation: measures throughput); with `--interval S` each scrapes
every S seconds, the scrapers' phases spread evenly over the interval, as Prometheus
spreads its targets. It prints JSON: each scrape's start (time.monotonic, which is
system-wide, so the exporter can tell which scrapes overlapped a refresh) and latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass, field

# What Prometheus 2.x sends when it scrapes a target.
_REQUEST_HEADERS = (
    "Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
    "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n"
    "Accept-Encoding: gzip\r\n"
    "User-Agent: Prometheus/2.42.0\r\n"
    "X-Prometheus-Scrape-Timeout-Seconds: 10\r\n"
)
REQUEST_TIMEOUT = 30.0


@dataclass
class LoadResult:
    samples: list[tuple[float, float]] = field(default_factory=list)  # (start, latency)
    failures: int = 0
    body_bytes: int = 0


async def _scrape_once(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, int]:
    """(status, body length) of one /metrics response on a kept-alive connection."""
    writer.write(request)
    await writer.drain()
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    return status, length


def due_offsets(index: int, scrapers: int, scrapes: int, interval: float) -> list[float]:
    """When scraper `index` should start each scrape, in seconds from the load's start."""
    phase = interval * index / scrapers
    return [phase + n * interval for n in range(scrapes)]


async def _scraper(
    host: str, port: int, due: list[float], origin: float, result: LoadResult
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    request = f"GET /metrics HTTP/1.1\r\nHost: {host}:{port}\r\n{_REQUEST_HEADERS}\r\n".encode()
    try:
        for offset in due:
            wait = origin + offset - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            started = time.monotonic()
            status, length = await asyncio.wait_for(
                _scrape_once(reader, writer, request), REQUEST_TIMEOUT
            )
            elapsed = time.monotonic() - started
            if status != 200:
                result.failures += 1
                continue
            result.samples.append((started, elapsed))
            result.body_bytes = length
    finally:
        writer.close()


async def run_load(
    host: str, port: int, scrapers: int, scrapes: int, interval: float
) -> LoadResult:
    result = LoadResult()
    origin = time.monotonic()
    await asyncio.gather(
        *(
            _scraper(host, port, due_offsets(i, scrapers, scrapes, interval), origin, result)
            for i in range(scrapers)
        )
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--scrapers", type=int, default=20)
    parser.add_argument("--scrapes", type=int, default=100, help="per scraper")
    parser.add_argument(
        "--interval", type=float, default=0.0, help="seconds between a scraper's scrapes"
    )
    args = parser.parse_args(argv)
    result = asyncio.run(run_load(args.host, args.port, args.scrapers, args.scrapes, args.interval))
    json.dump(asdict(result), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
