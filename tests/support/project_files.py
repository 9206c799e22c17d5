"""Paths and loaders for the monitoring files the project ships (rules, dashboards, docs)."""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

REPO_ROOT = Path(__file__).resolve().parents[2]
RULES_PATH = REPO_ROOT / "deploy" / "prometheus" / "rules" / "kb4_exporter.rules.yml"
RULES_BUILDER = REPO_ROOT / "deploy" / "prometheus" / "build_rules.py"
MONITORING_SETTINGS_PATH = REPO_ROOT / "deploy" / "monitoring.yml"
PROMTOOL_TESTS_DIR = REPO_ROOT / "deploy" / "prometheus" / "tests"
PROMETHEUS_CONFIG_PATH = REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml"
ALERTMANAGER_CONFIG_PATH = REPO_ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
GRAFANA_DIR = REPO_ROOT / "grafana"
DASHBOARD_DIR = GRAFANA_DIR / "dashboards"
DASHBOARD_BUILDER = GRAFANA_DIR / "build_dashboards.py"
RUNBOOK_PATH = REPO_ROOT / "docs" / "runbook.md"
DASHBOARDS_DOC_PATH = REPO_ROOT / "docs" / "dashboards.md"
EXPOSITION_SAMPLE_PATH = REPO_ROOT / "tests" / "fixtures" / "exposition_sample.prom"

# Series Prometheus itself adds to every scrape: rules may use them, the exporter
# never exposes them.
PROMETHEUS_GENERATED_METRICS = frozenset(
    {"up", "scrape_duration_seconds", "scrape_samples_scraped", "ALERTS", "ALERTS_FOR_STATE"}
)

Json = dict[str, Any]


@dataclass(frozen=True)
class AlertRule:
    group: str
    name: str
    expr: str
    for_: str | None
    labels: dict[str, str]
    annotations: dict[str, str]


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    ref_id: str
    expr: str
    instant: bool


def _script_module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Dataclasses look their module up while the module runs.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@functools.cache
def rules_builder() -> ModuleType:
    """deploy/prometheus/build_rules.py as a module: the one description of the rules."""
    return _script_module("build_rules", RULES_BUILDER)


@functools.cache
def dashboards_builder() -> ModuleType:
    """grafana/build_dashboards.py as a module: the one description of the dashboards."""
    return _script_module("build_dashboards", DASHBOARD_BUILDER)


def monitoring_module() -> ModuleType:
    """deploy/monitoring.py, as both builders import it: the KRI warnings and settings."""
    module: ModuleType = rules_builder().monitoring
    return module


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_alert_rules(path: Path = RULES_PATH) -> list[AlertRule]:
    rules = []
    for group in load_yaml(path)["groups"]:
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            rules.append(
                AlertRule(
                    group=group["name"],
                    name=rule["alert"],
                    expr=rule["expr"],
                    for_=rule.get("for"),
                    labels=dict(rule.get("labels", {})),
                    annotations=dict(rule.get("annotations", {})),
                )
            )
    return rules


def promtool_test_files() -> list[Path]:
    return sorted(PROMTOOL_TESTS_DIR.glob("*.yml"))


def load_dashboards() -> dict[str, Json]:
    """Dashboard file name -> parsed JSON."""
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(DASHBOARD_DIR.glob("*.json"))
    }


def query_panels(dashboard: Json) -> list[Json]:
    """Every panel that shows data (rows are layout only), nested rows included."""
    panels = []
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            panels.extend(panel.get("panels", []))
        else:
            panels.append(panel)
    return panels


def dashboard_queries(dashboard: Json) -> list[PanelQuery]:
    return [
        PanelQuery(
            dashboard=dashboard["uid"],
            panel=panel["title"],
            ref_id=target["refId"],
            expr=target["expr"],
            instant=bool(target.get("instant", False)),
        )
        for panel in query_panels(dashboard)
        for target in panel.get("targets", [])
    ]


def exposition_label_names(path: Path = EXPOSITION_SAMPLE_PATH) -> dict[str, frozenset[str]]:
    """Sample name (as queried, counters with _total) -> label names it carries."""
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(path.read_text(encoding="utf-8")):
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)
    return {name: frozenset(names) for name, names in labels.items()}


def markdown_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown document."""
    anchors = set()
    for line in markdown.splitlines():
        heading = re.match(r"^#{1,6}\s+(.+?)\s*#*\s*$", line)
        if heading:
            text = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower())
            anchors.add(text.replace(" ", "-"))
    return anchors
