"""Child processes of the benchmark: the simulator, the exporter probe, the scrapers.

Each is stopped by its own PID, and every wait for one is bounded.
"""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

from kb4_exporter.simulator.server import DEFAULT_PHISHER_TOKEN, DEFAULT_TOKEN

from .child_module import child_environment

# Generating a 100k-user org with three years of enrollments takes about 20 s on an idle
# machine; this bounds a hung start on a loaded one.
SIMULATOR_START_TIMEOUT = 600.0
STOP_TIMEOUT = 10.0
_REPORTING_LINE = re.compile(r"^Reporting API:\s+(\S+)")
_PHISHER_LINE = re.compile(r"^PhishER GraphQL:\s+(\S+)")


class BenchmarkChildError(RuntimeError):
    pass


@dataclass(frozen=True)
class SimulatorEndpoints:
    base_url: str
    phisher_url: str
    token: str = DEFAULT_TOKEN
    phisher_token: str = DEFAULT_PHISHER_TOKEN


@contextmanager
def simulator_process(
    users: int, seed: int, now: float, *, pagination: str, history_quarters: int = 0
) -> Iterator[SimulatorEndpoints]:
    """`kb4-exporter simulate` without pacing limits, on a free loopback port, serving the
    org `OrgSpec(users, seed, training_history_quarters=history_quarters)` at `now`."""
    command = [
        sys.executable,
        "-m",
        "kb4_exporter",
        "simulate",
        "--listen=127.0.0.1:0",
        f"--users={users}",
        f"--seed={seed}",
        f"--training-history-quarters={history_quarters}",
        f"--now={now!r}",
        f"--pagination={pagination}",
        "--per-second=0",
        "--per-minute=0",
        "--daily-budget=0",
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=child_environment(),
    )
    try:
        assert process.stdout is not None
        yield _read_endpoints(process.stdout)
    finally:
        stop_process(process)


def _read_endpoints(stdout: IO[str]) -> SimulatorEndpoints:
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, name="simulator-stdout", daemon=True).start()
    base_url = phisher_url = None
    while base_url is None or phisher_url is None:
        try:
            line = lines.get(timeout=SIMULATOR_START_TIMEOUT)
        except queue.Empty:
            raise BenchmarkChildError("the simulator did not report its address in time") from None
        if line is None:
            raise BenchmarkChildError("the simulator exited before it was ready")
        if found := _REPORTING_LINE.match(line):
            base_url = found.group(1)
        elif found := _PHISHER_LINE.match(line):
            phisher_url = found.group(1)
    return SimulatorEndpoints(base_url, phisher_url)


def stop_process(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)


def run_json_child(command: Sequence[str], timeout: float) -> Any:
    """Run a child that prints one JSON document on stdout; its stderr passes through."""
    name = " ".join(command[1:3])  # "-m package.module"
    process = subprocess.Popen(
        list(command), stdout=subprocess.PIPE, text=True, env=child_environment()
    )
    try:
        stdout, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchmarkChildError(f"{name} did not finish in {timeout:.0f} s") from None
    finally:
        stop_process(process)
    if process.returncode != 0:
        raise BenchmarkChildError(f"{name} exited with status {process.returncode}")
    return json.loads(stdout)
