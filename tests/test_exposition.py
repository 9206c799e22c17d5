"""The /metrics body: rendered for every scrape, gzip-compressed once per distinct body."""

from __future__ import annotations

import gzip

import kb4_fakes as fakes
import pytest
import requests_mock
from prometheus_client import generate_latest
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS

from kb4_exporter.commands.runtimes import build_registry
from kb4_exporter.metrics import exposition
from kb4_exporter.metrics.exposition import MAX_FORMATS, Exposition
from kb4_exporter.refresh.wiring import AccountRuntime

TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


@pytest.fixture
def runtime(requests_mock: requests_mock.Mocker, clock: fakes.FakeClock) -> AccountRuntime:
    fakes.serve_org(requests_mock, fakes.small_org())
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    return runtime


@pytest.fixture
def compressions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes of the bodies the exposition compresses."""
    sizes: list[int] = []
    real = gzip.compress

    def counting(data: bytes, compresslevel: int = 9, *, mtime: float | None = None) -> bytes:
        sizes.append(len(data))
        return real(data, compresslevel=compresslevel, mtime=mtime)

    monkeypatch.setattr(exposition.gzip, "compress", counting)
    return sizes


def test_body_is_what_the_registry_renders(runtime: AccountRuntime) -> None:
    body = Exposition(build_registry([runtime])).render(None)
    assert body.content_type == TEXT_FORMAT
    assert not body.gzipped
    assert body.data == generate_latest(build_registry([runtime]))


def test_an_api_request_shows_at_once(runtime: AccountRuntime) -> None:
    metrics = Exposition(build_registry([runtime]))
    before = metrics.render(None).data
    runtime.refresher.reporting.account()  # one more request, results unchanged
    after = metrics.render(None).data
    assert after != before
    assert after == generate_latest(build_registry([runtime]))


def test_gzip_once_per_body(runtime: AccountRuntime, compressions: list[int]) -> None:
    metrics = Exposition(build_registry([runtime]))
    first = metrics.render(None, gzip_ok=True)
    assert first.gzipped
    assert gzip.decompress(first.data) == metrics.render(None).data
    assert metrics.render(None, gzip_ok=True) == first
    assert len(compressions) == 1
    runtime.refresher.reporting.account()  # the body changes: compressed again
    second = metrics.render(None, gzip_ok=True)
    assert gzip.decompress(second.data) == generate_latest(build_registry([runtime]))
    assert len(compressions) == 2


def test_each_format_is_compressed_on_its_own(
    runtime: AccountRuntime, compressions: list[int]
) -> None:
    metrics = Exposition(build_registry([runtime]))
    text = metrics.render("text/plain", gzip_ok=True)
    openmetrics = metrics.render(OPENMETRICS, gzip_ok=True)
    assert text.content_type == TEXT_FORMAT
    assert openmetrics.content_type.startswith("application/openmetrics-text")
    assert gzip.decompress(openmetrics.data).endswith(b"# EOF\n")
    assert metrics.render("text/plain", gzip_ok=True) == text
    assert metrics.render(OPENMETRICS, gzip_ok=True) == openmetrics
    assert len(compressions) == 2


def test_many_formats_do_not_grow_the_kept_bodies_without_bound(runtime: AccountRuntime) -> None:
    # The version is the client's to choose, so content types are not a closed set.
    metrics = Exposition(build_registry([runtime]))
    for minor in range(3 * MAX_FORMATS):
        body = metrics.render(f"application/openmetrics-text; version=1.{minor}.0", gzip_ok=True)
        assert f"version=1.{minor}.0" in body.content_type
        assert len(metrics._compressed) <= MAX_FORMATS
