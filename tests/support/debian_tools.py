"""Make Debian's promtool, prometheus, prometheus-alertmanager and amtool available.

Tests call `require_prometheus_tools()`. When the binaries are missing it installs the
`prometheus` and `prometheus-alertmanager` packages with apt-get, at most once per test
session, serialised with a file lock so that parallel pytest sessions on one machine do
not run apt-get at the same time, and bounded by a deadline that stays under the
per-test timeout. When installing is impossible (no apt-get, not root, no network) the
calling test is skipped with a loud message on the terminal, or fails when
KB4_TESTS_REQUIRE_PROMETHEUS=1 says skipping is not acceptable (a CI that must prove
the rules).
"""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGES = ("prometheus", "prometheus-alertmanager")
STRICT_ENV = "KB4_TESTS_REQUIRE_PROMETHEUS"
LOCK_PATH = Path(tempfile.gettempdir()) / "kb4_exporter-tests-apt.lock"
# apt-get update + install take ~15 s on a good day; the whole attempt, waiting for
# another session's install included, must end well before pytest-timeout's 300 s.
INSTALL_BUDGET_SECONDS = 240.0
LOCK_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class PrometheusTools:
    promtool: Path
    prometheus: Path
    alertmanager: Path
    amtool: Path


class PrometheusToolsUnavailableWarning(UserWarning):
    """The Prometheus tools could not be installed, so tests that need them were skipped."""


class _InstallError(Exception):
    pass


def require_prometheus_tools(config: pytest.Config | None = None) -> PrometheusTools:
    """The tools' paths, installing them first if needed; skips the test if impossible.

    Pass `pytestconfig` as `config` so that a skip is also announced on the terminal,
    not only in the short test summary.
    """
    outcome = _provision_once()
    if isinstance(outcome, PrometheusTools):
        return outcome
    message = (
        "Prometheus/Alertmanager tools unavailable, so the rules, routing and dashboards "
        f"were NOT checked against them: {outcome}. Install them with: apt-get install "
        f"--no-install-recommends {' '.join(PACKAGES)}"
    )
    _announce(config, message)
    if os.environ.get(STRICT_ENV, "") not in ("", "0"):
        pytest.fail(f"{message} ({STRICT_ENV} is set)")
    pytest.skip(message)


def find_prometheus_tools() -> PrometheusTools | None:
    """The installed tools, or None if any of them is missing from PATH."""
    paths = [
        shutil.which(name)
        for name in ("promtool", "prometheus", "prometheus-alertmanager", "amtool")
    ]
    if any(path is None for path in paths):
        return None
    promtool, prometheus, alertmanager, amtool = (Path(str(path)) for path in paths)
    return PrometheusTools(promtool, prometheus, alertmanager, amtool)


@functools.cache
def _provision_once() -> PrometheusTools | str:
    """Tools, or why they cannot be had; cached so a session tries apt-get only once."""
    tools = find_prometheus_tools()
    if tools is not None:
        return tools
    problem = _why_apt_cannot_run()
    if problem is not None:
        return problem
    deadline = time.monotonic() + INSTALL_BUDGET_SECONDS
    try:
        with _exclusive_lock(LOCK_PATH, deadline):
            # Another session may have installed them while we waited for the lock.
            tools = find_prometheus_tools()
            if tools is None:
                _apt_install(deadline)
                tools = find_prometheus_tools()
    except _InstallError as failure:
        return str(failure)
    if tools is None:
        return f"apt-get installed {', '.join(PACKAGES)} but a binary is still not on PATH"
    return tools


def _why_apt_cannot_run() -> str | None:
    if shutil.which("apt-get") is None:
        return "apt-get is not available on this machine"
    if os.geteuid() != 0:
        return "installing Debian packages needs root and the tests do not run as root"
    return None


@contextmanager
def _exclusive_lock(path: Path, deadline: float) -> Iterator[None]:
    with path.open("a") as lock_file:
        while True:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _InstallError(
                        f"another test session held {path} for the whole install budget"
                    ) from None
                # Waits on another process's apt-get, not on simulated time.
                time.sleep(LOCK_POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _apt_install(deadline: float) -> None:
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run_apt(["apt-get", "update"], environment, deadline)
    _run_apt(
        ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES],
        environment,
        deadline,
    )


def _run_apt(command: list[str], environment: dict[str, str], deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _InstallError(f"no time left for {' '.join(command)}")
    try:
        result = subprocess.run(
            command,
            env=environment,
            capture_output=True,
            text=True,
            timeout=remaining,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise _InstallError(f"{' '.join(command)} did not finish in time") from None
    if result.returncode != 0:
        tail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
        raise _InstallError(f"{' '.join(command)} exited {result.returncode} (no network?): {tail}")


_announced: set[str] = set()


def _announce(config: pytest.Config | None, message: str) -> None:
    """Shout past pytest's output capture (once), and leave a warning in the summary."""
    warnings.warn(message, PrometheusToolsUnavailableWarning, stacklevel=3)
    if config is None or message in _announced:
        return
    _announced.add(message)
    capture = config.pluginmanager.getplugin("capturemanager")
    reporter = config.pluginmanager.getplugin("terminalreporter")
    if capture is None or reporter is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line(f"!!! {message}", red=True, bold=True)
