"""A new user's first run: `make run` on a fresh clone until the KRIs are on /metrics.

`python -m tests.benchmarks.first_run` clones the repository's committed HEAD (or
`--revision`) into a temporary directory (no virtual environment, so every install is
real), starts
`make run` there without any KnowBe4 token (demo mode) on a free loopback port, and
prints the seconds from the start of `make run` to:
- the virtual environment and the run install being ready (the exporter's first log line),
- /metrics answering,
- the first KRI sample, and all ten KRIs up (`kb4_kri_up` 1).
It then stops `make run` (its own process group, by PID) and times `kb4-exporter --help`
in the new environment. README's quick-start numbers come from this output.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from kb4_exporter.kris.specs import KRI_SPECS

REPOSITORY = Path(__file__).resolve().parents[2]
# Bounds every wait: a first run that takes this long has failed its target many times over.
DEADLINE_SECONDS = 600.0
POLL_SECONDS = 0.25
STOP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return str(response.read().decode("utf-8"))
    except (urllib.error.URLError, OSError):
        return None


def kris_up(body: str) -> tuple[int, int]:
    """(KRI samples present, KRIs with kb4_kri_up 1)."""
    metrics = {spec.metric for spec in KRI_SPECS}
    present = up = 0
    for family in text_string_to_metric_families(body):
        if family.name in metrics:
            present += len(family.samples)
        if family.name == "kb4_kri_up":
            up += sum(1 for sample in family.samples if sample.value == 1)
    return present, up


def first_run(clone: Path, port: int) -> dict[str, float]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("KB4_", "VIRTUAL_ENV"))
    }
    started = time.monotonic()
    process = subprocess.Popen(
        ["make", "run", f"ARGS=--web.listen-address=127.0.0.1:{port}"],
        cwd=clone,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    marks: dict[str, float] = {}
    assert process.stdout is not None
    output = process.stdout

    def read_output() -> None:
        for line in output:
            if "kb4_exporter" in line and "venv_ready" not in marks and "level=" in line:
                marks["venv_ready"] = time.monotonic() - started

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        while time.monotonic() - started < DEADLINE_SECONDS and process.poll() is None:
            body = scrape(url)
            if body is not None:
                marks.setdefault("metrics_answering", time.monotonic() - started)
                present, up = kris_up(body)
                if present:
                    marks.setdefault("first_kri", time.monotonic() - started)
                if up == len(KRI_SPECS):
                    marks["all_kris_up"] = time.monotonic() - started
                    break
            time.sleep(POLL_SECONDS)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(STOP_TIMEOUT)
        reader.join(STOP_TIMEOUT)
    if "all_kris_up" not in marks:
        raise SystemExit(f"make run did not serve all ten KRIs; marks so far: {marks}")
    return marks


def help_times(clone: Path, runs: int) -> list[float]:
    command = [str(clone / ".venv" / "bin" / "kb4-exporter"), "--help"]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.first_run")
    parser.add_argument("--help-runs", type=int, default=20)
    parser.add_argument("--revision", default="HEAD", help="the commit to clone, e.g. main")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kb4-first-run-") as scratch:
        clone = Path(scratch) / "kb4_exporter"
        subprocess.run(["git", "clone", "--quiet", str(REPOSITORY), str(clone)], check=True)
        subprocess.run(["git", "checkout", "--quiet", options.revision], cwd=clone, check=True)
        marks = first_run(clone, free_port())
        times = help_times(clone, options.help_runs)
    print("seconds from `make run` on a fresh clone (demo mode) to:")
    for key in ("venv_ready", "metrics_answering", "first_kri", "all_kris_up"):
        print(f"  {key:<18} {marks.get(key, float('nan')):6.1f}")
    print(
        f"`kb4-exporter --help`: median {statistics.median(times) * 1000:.0f} ms, "
        f"min {min(times) * 1000:.0f} ms over {len(times)} runs"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
