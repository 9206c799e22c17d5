"""Run real Prometheus and Alertmanager servers on loopback for end-to-end tests.

Each server gets a free 127.0.0.1 port and its own directory (config, storage, log),
is waited for with a bounded readiness poll of /-/ready, and is stopped by its own PID:

    with running_prometheus(tools, tmp_path / "prometheus", config_text,
                            files={"rules/kb4.rules.yml": RULES_PATH}) as prometheus:
        result = query(prometheus, "up")
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from support.debian_tools import PrometheusTools
from support.loopback_http import get_json, is_http_ok

READY_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
POLL_SECONDS = 0.2
START_ATTEMPTS = 3

T = TypeVar("T")


@dataclass(frozen=True)
class RunningServer:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    directory: Path
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class ServerStartError(RuntimeError):
    """A server exited or never became ready."""


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(
    probe: Callable[[], T | None],
    timeout_seconds: float,
    what: str,
    *,
    alive: Callable[[], bool] = lambda: True,
) -> T:
    """Poll `probe` until it returns something other than None, within a bound.

    Used only to wait for real external processes (a server starting, a scrape,
    a rule evaluation), never to stand in for simulated time.
    """
    deadline = time.monotonic() + timeout_seconds
    while True:
        result = probe()
        if result is not None:
            return result
        if not alive():
            raise ServerStartError(f"gave up waiting for {what}: the process exited")
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} did not happen within {timeout_seconds:.0f}s")
        time.sleep(POLL_SECONDS)


def stop_server(server: RunningServer) -> None:
    """SIGTERM the server's own PID, SIGKILL it if it does not exit in time."""
    if server.process.poll() is not None:
        return
    os.kill(server.process.pid, signal.SIGTERM)
    try:
        server.process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=STOP_TIMEOUT_SECONDS)


def start_prometheus(
    tools: PrometheusTools,
    directory: Path,
    config_text: str,
    *,
    files: Mapping[str, Path | str] | None = None,
    extra_args: Sequence[str] = (),
) -> RunningServer:
    """Prometheus with `config_text` as prometheus.yml in `directory`.

    `files` maps paths relative to the config (rule files, say) to a source file or
    to literal text, so relative `rule_files` entries resolve as in production.
    """
    _write_files(directory, {"prometheus.yml": config_text, **(files or {})})

    def command(port: int) -> list[str]:
        return [
            str(tools.prometheus),
            f"--config.file={directory / 'prometheus.yml'}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=info",
            *extra_args,
        ]

    return _start("prometheus", directory, command)


def start_alertmanager(
    tools: PrometheusTools,
    directory: Path,
    config_text: str,
    *,
    extra_args: Sequence[str] = (),
) -> RunningServer:
    """Alertmanager with `config_text`; clustering off so it never gossips on 0.0.0.0."""
    _write_files(directory, {"alertmanager.yml": config_text})

    def command(port: int) -> list[str]:
        return [
            str(tools.alertmanager),
            f"--config.file={directory / 'alertmanager.yml'}",
            f"--storage.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=info",
            *extra_args,
        ]

    return _start("alertmanager", directory, command)


@contextmanager
def running_prometheus(
    tools: PrometheusTools,
    directory: Path,
    config_text: str,
    *,
    files: Mapping[str, Path | str] | None = None,
    extra_args: Sequence[str] = (),
) -> Iterator[RunningServer]:
    server = start_prometheus(tools, directory, config_text, files=files, extra_args=extra_args)
    try:
        yield server
    finally:
        stop_server(server)


@contextmanager
def running_alertmanager(
    tools: PrometheusTools,
    directory: Path,
    config_text: str,
    *,
    extra_args: Sequence[str] = (),
) -> Iterator[RunningServer]:
    server = start_alertmanager(tools, directory, config_text, extra_args=extra_args)
    try:
        yield server
    finally:
        stop_server(server)


def query(prometheus: RunningServer, promql: str) -> list[Any]:
    """Instant query; raises AssertionError with Prometheus' own error text on failure."""
    answer = get_json(f"{prometheus.url}/api/v1/query", {"query": promql})
    assert answer.get("status") == "success", f"{promql!r} failed: {answer}"
    result: list[Any] = answer["data"]["result"]
    return result


def _write_files(directory: Path, files: Mapping[str, Path | str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for relative, source in files.items():
        destination = directory / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(source, Path):
            shutil.copyfile(source, destination)
        else:
            destination.write_text(source, encoding="utf-8")


def _wait_until_ready(server: RunningServer) -> None:
    wait_until(
        lambda: True if is_http_ok(f"{server.url}/-/ready") else None,
        READY_TIMEOUT_SECONDS,
        f"{server.name} at {server.url} to become ready",
        alive=lambda: server.process.poll() is None,
    )


def _start(name: str, directory: Path, command: Callable[[int], list[str]]) -> RunningServer:
    """Start and wait for readiness; retry on a new port if another process took ours."""
    failure = ""
    for attempt in range(START_ATTEMPTS):
        port = free_loopback_port()
        log_path = directory / f"{name}-{attempt}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command(port),
                cwd=directory,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = RunningServer(name, process, f"http://127.0.0.1:{port}", directory, log_path)
        try:
            _wait_until_ready(server)
            return server
        except (ServerStartError, TimeoutError) as error:
            stop_server(server)
            failure = f"{error}\n{server.log_tail()}"
            if "address already in use" not in failure:
                break
    raise ServerStartError(f"{name} did not start:\n{failure}")
