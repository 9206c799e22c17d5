"""The process_* and python_* metrics of the daemon's /metrics, from prometheus_client's
collectors: point checks on live values (they change between scrapes, so they stay out
of the golden expositions, which `once` and build_registry render without them)."""

from __future__ import annotations

import os
import platform
import time

import kb4_fakes as fakes
import pytest
import requests_mock
from prometheus_client import generate_latest
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from kb4_exporter.commands.runtimes import build_registry
from kb4_exporter.commands.serve import build_daemon_registry
from kb4_exporter.metrics.exposition import Exposition
from kb4_exporter.refresh.wiring import AccountRuntime
from kb4_exporter.web.web_config import WebConfigReloader

PROCESS_FAMILIES = {
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_cpu_seconds",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
    "python_info",
    "python_gc_collections",
    "python_gc_objects_collected",
}


@pytest.fixture
def runtime(requests_mock: requests_mock.Mocker, clock: fakes.FakeClock) -> AccountRuntime:
    fakes.serve_org(requests_mock, fakes.small_org())
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    return runtime


def daemon_metrics(runtime: AccountRuntime, accept: str | None = None) -> bytes:
    registry = build_daemon_registry([runtime], WebConfigReloader(None))
    return Exposition(registry).render(accept).data


def samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def test_the_daemon_exposition_has_process_and_python_metrics(runtime: AccountRuntime) -> None:
    values = samples(daemon_metrics(runtime).decode())
    assert values[("process_resident_memory_bytes", ())] > 1_000_000
    assert values[("process_open_fds", ())] >= 3
    assert values[("process_cpu_seconds_total", ())] > 0
    start = values[("process_start_time_seconds", ())]
    assert time.time() - 7 * 86400 < start <= time.time()
    version = platform.python_version_tuple()
    info = (
        ("implementation", platform.python_implementation()),
        ("major", version[0]),
        ("minor", version[1]),
        ("patchlevel", version[2]),
        ("version", platform.python_version()),
    )
    assert values[("python_info", info)] == 1
    assert ("python_gc_collections_total", (("generation", "0"),)) in values
    # The exporter's own metrics are all still there.
    assert values[("kb4_source_up", (("account", "acme"), ("source", "users")))] == 1


def test_process_metrics_are_read_on_every_scrape(runtime: AccountRuntime) -> None:
    exposition = Exposition(build_daemon_registry([runtime], WebConfigReloader(None)))
    first = exposition.render(None).data
    opened = [os.open(os.devnull, os.O_RDONLY) for _ in range(5)]
    try:
        second = exposition.render(None).data
    finally:
        for fd in opened:
            os.close(fd)
    fds = [samples(body.decode())[("process_open_fds", ())] for body in (first, second)]
    assert fds[1] == fds[0] + 5


def test_openmetrics_body_with_process_metrics_parses_and_ends_once(
    runtime: AccountRuntime,
) -> None:
    text = daemon_metrics(runtime, OPENMETRICS).decode()
    assert text.count("# EOF") == 1 and text.endswith("# EOF\n")
    names = {family.name for family in openmetrics_families(text)}
    assert names >= PROCESS_FAMILIES


def test_once_and_the_golden_expositions_have_no_process_metrics(
    runtime: AccountRuntime,
) -> None:
    # `once` writes textfile-collector files: a finished process's memory means nothing.
    body = generate_latest(build_registry([runtime])).decode()
    plain = Exposition(build_registry([runtime])).render(None).data
    for text in (body, plain.decode()):
        names = {family.name for family in text_string_to_metric_families(text)}
        assert not {name for name in names if name.startswith(("process_", "python_"))}
