"""Run the real kb4_exporter as a subprocess on loopback for end-to-end tests.

    with running_exporter(tmp_path / "exporter", "--demo") as exporter:
        scrape(f"{exporter.url}/metrics")

The exporter gets a free 127.0.0.1 port, its stdout and stderr go to a log file in
`directory` (shown by `log_tail()` in failure messages), readiness is a bounded poll
of /-/ready (the first refresh has finished), and it is stopped by its own PID:
SIGTERM, then SIGKILL after a bound.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from support.loopback_http import is_http_ok
from support.servers import (
    RunningServer,
    ServerStartError,
    free_loopback_port,
    stop_server,
    wait_until,
)

# Demo mode refreshes a 1,000-user simulated org, paced at 4 requests/s: ~7 s here.
READY_TIMEOUT_SECONDS = 90.0
START_ATTEMPTS = 3


@dataclass(frozen=True)
class RunningExporter:
    server: RunningServer
    # time.monotonic() just before the process was started, for latency measurements.
    started_at: float

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def host_port(self) -> str:
        return self.server.url.removeprefix("http://")

    def log_tail(self, lines: int = 30) -> str:
        return self.server.log_tail(lines)


def exporter_command() -> list[str]:
    """The installed console script beside this interpreter, else `python -m kb4_exporter`."""
    script = Path(sys.executable).parent / "kb4-exporter"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "kb4_exporter"]


def start_exporter(
    directory: Path,
    *serve_args: str,
    ready_timeout_seconds: float = READY_TIMEOUT_SECONDS,
) -> RunningExporter:
    """`kb4-exporter serve <serve_args>` on a free loopback port, once /-/ready answers.

    Retries on a new port when another process took the one picked; raises
    ServerStartError with the log tail when the exporter exits or is not ready in time.
    """
    directory.mkdir(parents=True, exist_ok=True)
    failure = ""
    for attempt in range(START_ATTEMPTS):
        started_at = time.monotonic()
        server = _launch(directory, serve_args, attempt)
        try:
            _wait_until_ready(server, ready_timeout_seconds)
            return RunningExporter(server, started_at)
        except (ServerStartError, TimeoutError) as error:
            stop_server(server)
            failure = f"{error}\n{server.log_tail()}"
            if "address already in use" not in failure:
                break
    raise ServerStartError(f"kb4-exporter did not start:\n{failure}")


def _launch(directory: Path, serve_args: tuple[str, ...], attempt: int) -> RunningServer:
    port = free_loopback_port()
    log_path = directory / f"kb4-exporter-{attempt}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *exporter_command(),
                "serve",
                *serve_args,
                "--web.listen-address",
                f"127.0.0.1:{port}",
            ],
            cwd=directory,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return RunningServer("kb4-exporter", process, f"http://127.0.0.1:{port}", directory, log_path)


def _wait_until_ready(server: RunningServer, timeout_seconds: float) -> None:
    wait_until(
        lambda: True if is_http_ok(f"{server.url}/-/ready") else None,
        timeout_seconds,
        f"kb4-exporter at {server.url} to become ready",
        alive=lambda: server.process.poll() is None,
    )


@contextmanager
def running_exporter(
    directory: Path,
    *serve_args: str,
    ready_timeout_seconds: float = READY_TIMEOUT_SECONDS,
) -> Iterator[RunningExporter]:
    exporter = start_exporter(directory, *serve_args, ready_timeout_seconds=ready_timeout_seconds)
    try:
        yield exporter
    finally:
        stop_server(exporter.server)
