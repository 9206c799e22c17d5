"""`kb4-exporter once`: refresh every source of every account one time, then print the
exposition or write it for node_exporter's textfile collector."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from prometheus_client.exposition import generate_latest

from kb4_exporter.commands.runtimes import build_registry, build_runtimes
from kb4_exporter.config.settings import Settings
from kb4_exporter.logs import account_context
from kb4_exporter.refresh.results import AccountResults, kris_fed_by

EXIT_OK = 0
# The refresh ran but some enabled source failed, or the textfile cannot be written.
EXIT_REFRESH_FAILED = 1


def run_once(settings: Settings, echo: Callable[..., None]) -> int:
    """Refresh, then print or write the exposition; the exit code."""
    body, failures = refresh_once(settings)
    if settings.textfile:
        try:
            _write_atomically(Path(settings.textfile), body)
        except OSError as err:
            echo(f"kb4-exporter: cannot write {settings.textfile}: {err.strerror or err}", err=True)
            return EXIT_REFRESH_FAILED
    else:
        echo(body.decode("utf-8"), nl=False)
    if failures:
        echo(f"kb4-exporter: refresh incomplete: {'; '.join(failures)}", err=True)
        return EXIT_REFRESH_FAILED
    return EXIT_OK


def refresh_once(settings: Settings) -> tuple[bytes, list[str]]:
    """One full refresh of every account; (exposition, failed account/source names)."""
    runtimes = build_runtimes(settings, threading.Event())
    failures: list[str] = []
    for runtime in runtimes:
        with account_context(runtime.config.name):
            runtime.load_state()
            runtime.refresh_core()
            runtime.refresh_phisher()
            runtime.refresh_phisher_unresolved()
            runtime.refresh_user_events()
            runtime.save_state()
        failures += _failed_sources(runtime.refresher.results)
    body = generate_latest(build_registry(runtimes))
    for runtime in runtimes:
        for session in runtime.sessions:
            session.close()
    return body, failures


def _failed_sources(results: AccountResults) -> list[str]:
    """One line for each enabled source that is not up: why, and the KRIs it costs."""
    failures = []
    for source in results.enabled_sources():
        if results.sources[source].up:
            continue
        reasons = sorted(r for (s, r), count in results.errors.items() if s == source and count)
        if results.sources[source].truncated and not reasons:
            reasons = ["page_cap"]
        # No reason of its own: the refresh stopped before it, on another source's.
        why = ",".join(reasons) or "not tried"
        failures.append(
            f"account={results.name} source={source} reason={why} kris={kris_fed_by(source)}"
        )
    return failures


def _write_atomically(path: Path, body: bytes) -> None:
    directory = path.parent if str(path.parent) else Path(".")
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
