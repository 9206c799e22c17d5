"""README claims a new user acts on before reading any code: the two quick-start
commands (and that CI runs the test one), the scrape config and the wheel's name."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.M | re.S)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.M | re.S)


def test_quick_start_is_two_commands_and_ci_runs_the_test_one() -> None:
    block = code_blocks(section("Quick start"), "sh")[0]
    commands = [line.split("#")[0].strip() for line in block.splitlines()]
    assert commands == ["make run", "make test"]
    ci_commands = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ci_commands[-1] == "make test"


def test_the_scrape_config_is_the_one_deploy_ships() -> None:
    (block,) = code_blocks(section("Scraping"), "yaml")
    (documented,) = yaml.safe_load(block)["scrape_configs"]
    shipped_file = ROOT / "deploy" / "prometheus" / "prometheus.yml"
    (shipped,) = yaml.safe_load(shipped_file.read_text())["scrape_configs"]

    def without_targets(job: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in job.items() if key != "static_configs"}

    assert without_targets(documented) == without_targets(shipped)
    assert documented["static_configs"][0]["targets"][0].endswith(":9897")


def test_the_wheel_named_in_install_is_the_one_pip_builds() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert f"kb4_exporter-{version}-py3-none-any.whl" in section("Install")
