"""`once` without the command line: where the exposition goes and the exit code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kb4_fakes as fakes
import requests_mock
from prometheus_client.parser import text_string_to_metric_families

from kb4_exporter.commands.once import EXIT_OK, EXIT_REFRESH_FAILED, run_once
from kb4_exporter.config.settings import Settings


class Echo:
    """Collects what a command echoes, as click.echo would print it."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.err: list[str] = []

    def __call__(self, text: str, nl: bool = True, err: bool = False) -> None:
        (self.err if err else self.out).append(text + ("\n" if nl else ""))


def settings(**overrides: Any) -> Settings:
    return Settings(accounts=(fakes.account_config(phisher=False),), **overrides)


def test_once_prints_the_exposition_and_exits_0_when_every_source_is_up(
    requests_mock: requests_mock.Mocker,
) -> None:
    fakes.serve_org(requests_mock, fakes.small_org())
    echo = Echo()
    assert run_once(settings(), echo) == EXIT_OK
    (body,) = echo.out
    up = {
        sample.labels["account"]: sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name == "kb4_up"
    }
    assert up == {"acme": 1.0}
    assert echo.err == []


def test_a_textfile_that_cannot_be_replaced_exits_1_and_leaves_no_temporary_file(
    requests_mock: requests_mock.Mocker, tmp_path: Path
) -> None:
    # Validated as a file, a directory by the time the refresh is done: the temporary
    # file is written beside it, and removed when it cannot take its place.
    fakes.serve_org(requests_mock, fakes.small_org())
    target = tmp_path / "kb4.prom"
    (target / "inside").mkdir(parents=True)
    echo = Echo()
    assert run_once(settings(textfile=str(target)), echo) == EXIT_REFRESH_FAILED
    assert echo.err == [f"kb4-exporter: cannot write {target}: Is a directory\n"]
    assert echo.out == []
    assert list(tmp_path.iterdir()) == [target]


def test_a_textfile_in_a_directory_that_is_gone_exits_1(
    requests_mock: requests_mock.Mocker, tmp_path: Path
) -> None:
    fakes.serve_org(requests_mock, fakes.small_org())
    target = tmp_path / "gone" / "kb4.prom"
    echo = Echo()
    assert run_once(settings(textfile=str(target)), echo) == EXIT_REFRESH_FAILED
    assert echo.err == [f"kb4-exporter: cannot write {target}: No such file or directory\n"]
