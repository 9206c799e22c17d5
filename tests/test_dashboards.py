"""The Grafana dashboards: provisioning-safe structure, valid PromQL, real metric names.

The slow test at the end evaluates every panel query against a real Prometheus that
scraped tests/fixtures/exposition_sample.prom (tests/test_end_to_end_alerting.py does the
same against the running exporter).

tests/fixtures/exposition_sample.prom is real exporter output of the demo org. After a
change to the exporter's metrics, regenerate it from the repository root with

    .venv/bin/kb4-exporter once --demo > tests/fixtures/exposition_sample.prom
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import promql_parser
import pytest
import yaml
from support.debian_tools import PrometheusTools, require_prometheus_tools
from support.loopback_http import ExpositionServer, get_json
from support.project_files import (
    DASHBOARD_BUILDER,
    DASHBOARD_DIR,
    DASHBOARDS_DOC_PATH,
    EXPOSITION_SAMPLE_PATH,
    GRAFANA_DIR,
    PROMETHEUS_GENERATED_METRICS,
    REPO_ROOT,
    RULES_PATH,
    RUNBOOK_PATH,
    PanelQuery,
    dashboard_queries,
    dashboards_builder,
    exposition_label_names,
    load_alert_rules,
    load_dashboards,
    load_yaml,
    markdown_anchors,
    monitoring_module,
    query_panels,
    rules_builder,
)
from support.promql import (
    ACCOUNT_SENTINEL,
    DEFAULT_SUBSTITUTIONS,
    label_matcher,
    metric_names,
    substitute_variables,
    vector_selectors,
)
from support.servers import RunningServer, query, running_prometheus, wait_until

from kb4_exporter.commands.demo import DEMO_ACCOUNT
from kb4_exporter.kris.breakdowns import Breakdowns
from kb4_exporter.kris.specs import KRI_SPECS
from kb4_exporter.metrics.breakdown_families import BreakdownFamilies
from kb4_exporter.metrics.collector import Kb4Collector


def user_event_label_names() -> dict[str, frozenset[str]]:
    """Labels of kb4_user_events_24h, which the demo sample lacks: the exporter's own
    family fed one event."""
    families = BreakdownFamilies()
    families.add("any", Breakdowns(user_events={("phish", "5"): 1}, user_event_types_total=1))
    return {sample.name: frozenset(sample.labels) for sample in families.user_events.counts.samples}


DASHBOARDS = load_dashboards()
KRI_DASHBOARD = DASHBOARDS["kb4-kris.json"]
HEALTH_DASHBOARD = DASHBOARDS["kb4-exporter-health.json"]
QUERIES = [q for board in DASHBOARDS.values() for q in dashboard_queries(board)]
QUERY_IDS = [f"{q.dashboard}:{q.panel}:{q.ref_id}" for q in QUERIES]
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
EXPOSED = exposition_label_names() | user_event_label_names()
GROUP_METRICS = {"kb4_group_phishing_prone_ratio", "kb4_group_users"}
# The sample is demo-mode output, so its only account is the demo one.
SAMPLE_ACCOUNT = DEMO_ACCOUNT

# The fields of Grafana's dashboard model that provisioning and these tests rely on.
_DATASOURCE_REF = {
    "type": "object",
    "properties": {"type": {"const": "prometheus"}, "uid": {"const": "${datasource}"}},
    "required": ["type", "uid"],
    "additionalProperties": False,
}
_PLACED = {
    "type": "object",
    "required": ["id", "type", "title", "gridPos"],
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "title": {"type": "string", "minLength": 1},
        "gridPos": {
            "type": "object",
            "required": ["h", "w", "x", "y"],
            "properties": {
                "h": {"type": "integer", "minimum": 1},
                "w": {"type": "integer", "minimum": 1, "maximum": 24},
                "x": {"type": "integer", "minimum": 0, "maximum": 23},
                "y": {"type": "integer", "minimum": 0},
            },
        },
    },
}
_PANEL = {
    "allOf": [_PLACED],
    "required": ["datasource", "targets", "fieldConfig", "options"],
    "properties": {
        "type": {"enum": ["stat", "timeseries", "bargauge", "state-timeline", "table"]},
        "datasource": _DATASOURCE_REF,
        "targets": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["refId", "expr", "datasource", "legendFormat"],
                "properties": {
                    "datasource": _DATASOURCE_REF,
                    "expr": {"type": "string", "minLength": 1},
                },
            },
        },
        "links": {
            "type": "array",
            "items": {"type": "object", "required": ["title", "url"]},
        },
    },
}
# An open row is a header: its panels follow it. A collapsed row holds its panels.
_ROW = {
    "allOf": [_PLACED],
    "required": ["collapsed", "panels"],
    "properties": {"collapsed": {"type": "boolean"}, "panels": {"type": "array", "items": _PANEL}},
    "if": {"properties": {"collapsed": {"const": False}}},
    "then": {"properties": {"panels": {"maxItems": 0}}},
    "else": {"properties": {"panels": {"minItems": 1}}},
}
DASHBOARD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["uid", "title", "schemaVersion", "panels", "templating", "time", "tags"],
    "not": {"required": ["__inputs"]},
    "properties": {
        "uid": {"type": "string", "pattern": "^kb4-[a-z0-9-]{1,36}$"},
        "title": {"type": "string", "minLength": 1},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "tags": {"type": "array", "contains": {"const": "kb4_exporter"}},
        "templating": {
            "type": "object",
            "required": ["list"],
            "properties": {
                "list": {
                    "type": "array",
                    "items": {"type": "object", "required": ["name", "type"]},
                }
            },
        },
        "panels": {
            "type": "array",
            "minItems": 1,
            "items": {
                "if": {"properties": {"type": {"const": "row"}}, "required": ["type"]},
                "then": _ROW,
                "else": _PANEL,
            },
        },
    },
}


@pytest.fixture(scope="module")
def tools(pytestconfig: pytest.Config) -> PrometheusTools:
    return require_prometheus_tools(pytestconfig)


def variable(dashboard: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [v for v in dashboard["templating"]["list"] if v["name"] == name]
    return dict(found)


def queried_metrics(dashboard: dict[str, Any]) -> set[str]:
    return {
        name
        for q in dashboard_queries(dashboard)
        for name in metric_names(substitute_variables(q.expr))
    }


# --- files, schema and identity ----------------------------------------------------------


def test_dashboard_files_are_what_the_builder_generates() -> None:
    result = subprocess.run(
        [sys.executable, str(DASHBOARD_BUILDER), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_matches_the_schema(name: str) -> None:
    jsonschema.validate(DASHBOARDS[name], DASHBOARD_SCHEMA)


def test_dashboard_uids_are_stable_and_unique() -> None:
    # Links, bookmarks and the provisioning folder rely on these never changing.
    assert {name: board["uid"] for name, board in DASHBOARDS.items()} == {
        "kb4-kris.json": "kb4-kris",
        "kb4-exporter-health.json": "kb4-exporter-health",
    }


def overlapping(panels: list[dict[str, Any]]) -> None:
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        area = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & area, f"{panel['title']} overlaps another panel"
        cells |= area


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_panels_have_unique_ids_and_do_not_overlap(name: str) -> None:
    panels = DASHBOARDS[name]["panels"]
    rows = [panel for panel in panels if panel["type"] == "row"]
    everything = [*rows, *query_panels(DASHBOARDS[name])]
    assert len({panel["id"] for panel in everything}) == len(everything)
    overlapping(panels)
    # A collapsed row's panels, as laid out once it is opened.
    for row in rows:
        overlapping(row["panels"])


def test_dashboards_have_no_import_time_datasource_inputs() -> None:
    for path in DASHBOARD_DIR.glob("*.json"):
        text = path.read_text(encoding="utf-8")
        assert "__inputs" not in text and "${DS_" not in text, path.name


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_datasource_variable_selects_any_prometheus(name: str) -> None:
    datasource = variable(DASHBOARDS[name], "datasource")
    assert datasource["type"] == "datasource"
    assert datasource["query"] == "prometheus"


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_account_variable_lists_accounts_and_allows_all(name: str) -> None:
    account = variable(DASHBOARDS[name], "account")
    assert account["type"] == "query"
    assert account["datasource"] == DATASOURCE
    assert account["definition"] == "label_values(kb4_up, account)"
    assert account["query"]["query"] == account["definition"]
    assert account["multi"] is True and account["includeAll"] is True
    assert account["allValue"] == ".*"


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_panel_and_query_uses_the_datasource_variable(name: str) -> None:
    for panel in query_panels(DASHBOARDS[name]):
        assert panel["datasource"] == DATASOURCE, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]


# --- queries ------------------------------------------------------------------------------------


@pytest.mark.parametrize("panel_query", QUERIES, ids=QUERY_IDS)
def test_query_parses_as_promql(panel_query: PanelQuery) -> None:
    promql_parser.parse(substitute_variables(panel_query.expr))


@pytest.mark.parametrize("panel_query", QUERIES, ids=QUERY_IDS)
def test_query_filters_every_account_labelled_series_by_the_account_variable(
    panel_query: PanelQuery,
) -> None:
    for selector in vector_selectors(substitute_variables(panel_query.expr)):
        if "account" not in EXPOSED.get(str(selector.name), frozenset()):
            continue
        assert label_matcher(selector, "account") == (
            promql_parser.MatchOp.Re,
            ACCOUNT_SENTINEL,
        ), f"{selector} in {panel_query.panel!r}"


@pytest.mark.parametrize("panel_query", QUERIES, ids=QUERY_IDS)
def test_query_only_uses_metrics_the_exporter_exposes(panel_query: PanelQuery) -> None:
    names = metric_names(substitute_variables(panel_query.expr))
    assert names
    assert names <= set(EXPOSED) | PROMETHEUS_GENERATED_METRICS


def test_unfiltered_queries_are_only_on_series_without_an_account() -> None:
    for panel_query in QUERIES:
        if "$account" in panel_query.expr:
            continue
        names = metric_names(panel_query.expr)
        assert all("account" not in EXPOSED.get(name, frozenset()) for name in names)


# --- content ------------------------------------------------------------------------------------


BUILDER = rules_builder()
WARNINGS = {warning.metric: warning for warning in monitoring_module().KRI_WARNINGS}
SETTINGS = BUILDER.load_settings()
# The ten KRI metrics of the metric contract.
KRI_METRICS = {spec.metric for spec in KRI_SPECS}
RUNBOOK_ANCHORS = markdown_anchors(RUNBOOK_PATH.read_text(encoding="utf-8"))
RUNBOOK_LINK = re.compile(r"^\$\{runbook_url\}#([\w-]+)$")


def panels_querying(board: dict[str, Any], metric: str) -> list[dict[str, Any]]:
    return [
        panel
        for panel in query_panels(board)
        if any(metric in metric_names(substitute_variables(t["expr"])) for t in panel["targets"])
    ]


def kri_panels(metric: str, board: dict[str, Any] = KRI_DASHBOARD) -> list[dict[str, Any]]:
    """The KRI's own panels: its value now (stat) and its trend (timeseries)."""
    return [
        panel
        for panel in panels_querying(board, metric)
        if panel["type"] in {"stat", "timeseries"} and len(panel["targets"]) == 1
    ]


def runbook_anchors_of(panel: dict[str, Any]) -> list[str]:
    anchors = []
    for link in panel.get("links", []):
        found = RUNBOOK_LINK.match(link["url"])
        if found:
            anchors.append(found.group(1))
    return anchors


def steps_of(panel: dict[str, Any]) -> list[tuple[str, float | None]]:
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return [(s["color"], s["value"]) for s in steps]


def expected_steps(comparison: str, threshold: float) -> list[tuple[str, float | None]]:
    if comparison == "<":
        return [("red", None), ("green", threshold)]
    return [("green", None), ("red", threshold)]


@pytest.mark.parametrize("metric", sorted(KRI_METRICS))
def test_every_kri_has_a_value_and_a_trend_that_link_to_its_runbook_section(metric: str) -> None:
    panels = kri_panels(metric)
    assert sorted(panel["type"] for panel in panels) == ["stat", "timeseries"]
    for panel in panels:
        (anchor,) = runbook_anchors_of(panel)
        assert anchor in RUNBOOK_ANCHORS, f"{panel['title']}: no runbook section {anchor!r}"
        warning = WARNINGS.get(metric)
        if warning is not None:
            assert anchor == warning.name.lower()


@pytest.mark.parametrize("metric", sorted(WARNINGS))
def test_kri_panels_turn_red_where_the_warning_fires(metric: str) -> None:
    warning = WARNINGS[metric]
    stat_panel, trend = sorted(kri_panels(metric), key=lambda panel: panel["type"])
    expected = expected_steps(warning.comparison, warning.threshold)
    if warning.per is None:
        for panel in (stat_panel, trend):
            assert [t["expr"] for t in panel["targets"]] == [f'{metric}{{account=~"$account"}}']
            defaults = panel["fieldConfig"]["defaults"]
            # Counts are whole numbers, so "> N" is first breached at N + 1.
            if defaults["unit"] == "short":
                expected = [(colour, v if v is None else v + 1) for colour, v in expected]
            assert steps_of(panel) == expected
        assert trend["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] != "off"
        return
    # A count warned on as a share: the stat shows the share the warning compares.
    (share,) = stat_panel["targets"]
    population = promql_parser.parse(warning.per)
    assert isinstance(population, promql_parser.VectorSelector)
    assert metric_names(substitute_variables(share["expr"])) == {metric, population.name}
    assert stat_panel["fieldConfig"]["defaults"]["unit"] == "percentunit"
    assert steps_of(stat_panel) == expected


def test_a_kri_threshold_moved_in_its_one_place_moves_the_alert_and_the_panels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Both builders read the KRI thresholds from deploy/monitoring.py (the same module
    # object): a new value there moves the alert and the dashboard colours together.
    monitoring = monitoring_module()
    assert dashboards_builder().monitoring is monitoring
    metric, name = "kb4_phishing_prone_ratio", "Kb4PhishingProneRatioHigh"
    monkeypatch.setattr(
        monitoring,
        "KRI_WARNINGS",
        tuple(
            dataclasses.replace(w, threshold=0.3) if w.metric == metric else w
            for w in monitoring.KRI_WARNINGS
        ),
    )
    groups = yaml.safe_load(BUILDER.render_groups(SETTINGS))["groups"]
    (alert,) = [r for g in groups for r in g["rules"] if r.get("alert") == name]
    condition = promql_parser.parse(alert["expr"])
    while isinstance(condition, promql_parser.ParenExpr) or str(condition.op) == "or":
        # The warning's own condition, before the halves that hold it.
        is_paren = isinstance(condition, promql_parser.ParenExpr)
        condition = condition.expr if is_paren else condition.lhs
    assert isinstance(condition, promql_parser.BinaryExpr) and str(condition.op) == ">"
    assert isinstance(condition.rhs, promql_parser.NumberLiteral)
    assert condition.rhs.val == 0.3
    assert alert["annotations"]["summary"].endswith("(threshold 30%)")
    panels = kri_panels(metric, dashboards_builder().kri_dashboard())
    assert [steps_of(panel) for panel in panels] == [[("green", None), ("red", 0.3)]] * 2
    assert all("Warning above 30%." in panel["description"] for panel in panels)


def test_the_kris_without_a_warning_are_the_documented_two() -> None:
    assert KRI_METRICS - set(WARNINGS) == {
        "kb4_high_risk_users",
        "kb4_phisher_unresolved_high_4h",
    }


PAGING_SIGNAL = "kb4_phisher_oldest_unresolved_age_seconds"


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_the_paging_signal_is_on_both_dashboards_red_where_it_pages(name: str) -> None:
    (paging,) = [
        panel
        for panel in panels_querying(DASHBOARDS[name], PAGING_SIGNAL)
        if panel["type"] == "stat"
    ]
    assert steps_of(paging) == [("green", None), ("red", SETTINGS.page_after)]
    assert paging["title"].startswith("PAGES:")
    assert runbook_anchors_of(paging) == ["kb4phisherhighseveritybacklog"]
    (target,) = paging["targets"]
    selector = next(
        s for s in vector_selectors(substitute_variables(target["expr"])) if s.name == PAGING_SIGNAL
    )
    assert label_matcher(selector, "severity") == (promql_parser.MatchOp.Re, "HIGH|CRITICAL")


def test_the_paging_signal_leads_the_kri_dashboard() -> None:
    first_row, first_panel = KRI_DASHBOARD["panels"][:2]
    assert first_row["type"] == "row" and not first_row["collapsed"]
    assert PAGING_SIGNAL in metric_names(substitute_variables(first_panel["targets"][0]["expr"]))
    assert first_panel["gridPos"]["h"] > 4, "larger than the KRI stats below it"


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_both_dashboards_show_the_state_of_the_alerts(name: str) -> None:
    (panel,) = panels_querying(DASHBOARDS[name], "ALERTS")
    assert panel["type"] == "state-timeline"
    texts = {
        option["text"]
        for mapping in panel["fieldConfig"]["defaults"]["mappings"]
        for option in mapping["options"].values()
    }
    assert texts == {"pending", "firing"}


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_legend_names_the_account(name: str) -> None:
    for panel in query_panels(DASHBOARDS[name]):
        for target in panel["targets"]:
            if panel["type"] == "table":
                # Tables show labels as columns, the account among them.
                organize = panel["transformations"][1]["options"]
                assert "account" in organize["indexByName"], panel["title"]
            else:
                assert "{{account}}" in target["legendFormat"], panel["title"]


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_only_the_first_two_rows_are_open(name: str) -> None:
    rows = [panel for panel in DASHBOARDS[name]["panels"] if panel["type"] == "row"]
    assert [row["collapsed"] for row in rows] == [False, False] + [True] * (len(rows) - 2)


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_runbook_links_follow_the_configured_url_and_invent_none(name: str) -> None:
    variable_ = variable(DASHBOARDS[name], "runbook_url")
    assert variable_["type"] == "textbox"
    assert variable_["query"] == SETTINGS.runbook_url == ""
    text = (DASHBOARD_DIR / name).read_text(encoding="utf-8")
    assert not re.search(r"https?://", text)


def exporter_metric_names() -> set[str]:
    """Every sample name the exporter's collector can expose (counters with _total)."""
    return {
        family.name + ("_total" if family.type == "counter" else "")
        for family in Kb4Collector(list).describe()
    }


def test_every_metric_the_exporter_exposes_is_on_a_dashboard() -> None:
    queried = set().union(*(queried_metrics(board) for board in DASHBOARDS.values()))
    assert exporter_metric_names() - queried == set()


def table_panels() -> list[dict[str, Any]]:
    return [
        panel
        for board in DASHBOARDS.values()
        for panel in query_panels(board)
        if panel["type"] == "table"
    ]


def output_labels(expr: promql_parser.Expr) -> frozenset[str]:
    """Labels a table query's rows carry: its `by` grouping (both sides of an `or`)."""
    if isinstance(expr, promql_parser.ParenExpr):
        return output_labels(expr.expr)
    if isinstance(expr, promql_parser.BinaryExpr) and str(expr.op) == "or":
        left, right = output_labels(expr.lhs), output_labels(expr.rhs)
        assert left == right, f"both sides of `or` must group by the same labels: {expr}"
        return left
    assert isinstance(expr, promql_parser.AggregateExpr), f"not an aggregation: {expr}"
    assert expr.modifier is not None and expr.modifier.type == promql_parser.AggModifierType.By
    return frozenset(expr.modifier.labels)


@pytest.mark.parametrize("panel", table_panels(), ids=lambda panel: panel["title"])
def test_table_queries_join_on_the_label_columns_they_show(panel: dict[str, Any]) -> None:
    # Grafana's merge transformation joins rows whose label columns are equal, so every
    # query must yield the same labels, and nothing else (no __name__, job, instance).
    targets = panel["targets"]
    assert len(targets) >= 2
    assert all(t["format"] == "table" and t["instant"] for t in targets)
    labels = {output_labels(promql_parser.parse(substitute_variables(t["expr"]))) for t in targets}
    assert len(labels) == 1
    (merge, organize) = panel["transformations"]
    assert merge["id"] == "merge"
    assert organize["id"] == "organize"
    shown_labels = frozenset(
        name for name in organize["options"]["indexByName"] if not name.startswith("Value #")
    )
    assert labels == {shown_labels}
    renamed = organize["options"]["renameByName"]
    assert sorted(renamed) == [f"Value #{t['refId']}" for t in targets]
    overridden = {o["matcher"]["options"] for o in panel["fieldConfig"]["overrides"]}
    assert overridden == set(renamed.values())
    assert panel["options"]["sortBy"][0]["displayName"] in set(renamed.values()) | shown_labels


def test_kri_dashboard_breaks_down_by_group_and_phisher_severity() -> None:
    metrics = queried_metrics(KRI_DASHBOARD)
    assert GROUP_METRICS | {"kb4_department_ppp_delta_ratio"} <= metrics
    assert "kb4_phisher_unresolved_messages" in metrics
    severity_panels = [
        q for q in dashboard_queries(KRI_DASHBOARD) if "sum by (account, severity)" in q.expr
    ]
    assert severity_panels


def test_health_dashboard_covers_freshness_budget_errors_and_truncation() -> None:
    assert {
        "up",
        "kb4_up",
        "kb4_kri_up",
        "kb4_source_up",
        "kb4_source_last_success_timestamp_seconds",
        "kb4_source_refresh_interval_seconds",
        "kb4_source_refresh_duration_seconds",
        "kb4_api_budget_limit",
        "kb4_api_budget_remaining",
        "kb4_api_throttled_total",
        "kb4_api_requests_total",
        "kb4_refresh_errors_total",
        "kb4_truncated",
        "kb4_breakdown_capped",
    } <= queried_metrics(HEALTH_DASHBOARD)


def test_health_dashboard_shows_the_user_event_api_quota_beside_the_budgets() -> None:
    titles = [panel["title"] for panel in query_panels(HEALTH_DASHBOARD)]
    budget = titles.index("API budget left")
    assert titles[budget + 1] == "User Event API quota"
    (quota,) = [p for p in query_panels(HEALTH_DASHBOARD) if p["title"] == "User Event API quota"]
    for target in quota["targets"]:
        for selector in vector_selectors(substitute_variables(target["expr"])):
            assert label_matcher(selector, "api") == (promql_parser.MatchOp.Equal, "user_events")


def test_every_panel_title_is_documented() -> None:
    doc = DASHBOARDS_DOC_PATH.read_text(encoding="utf-8")
    for board in DASHBOARDS.values():
        assert board["title"] in doc
        rows = [panel for panel in board["panels"] if panel["type"] == "row"]
        for panel in [*rows, *query_panels(board)]:
            assert panel["title"] in doc, f"{panel['title']!r} missing from docs/dashboards.md"


# --- provisioning -------------------------------------------------------------------------------


def test_datasource_provisioning_has_a_fixed_uid_for_the_compose_prometheus() -> None:
    config = load_yaml(GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yaml")
    (datasource,) = config["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["uid"] == "kb4-prometheus"
    assert datasource["url"] == "http://prometheus:9090"


def test_dashboard_provisioning_loads_the_dashboard_directory() -> None:
    config = load_yaml(GRAFANA_DIR / "provisioning" / "dashboards" / "kb4.yaml")
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/kb4"
    assert provider["allowUiUpdates"] is False


# --- the exposition sample ---------------------------------------------------------------------


def planned_metric_names() -> set[str]:
    """Metric names in docs/METRICS-PLAN.md (KRI slugs ending in _pct/_hours are labels)."""
    text = (REPO_ROOT / "docs" / "METRICS-PLAN.md").read_text(encoding="utf-8")
    names = set(re.findall(r"\bkb4_[a-z0-9_]+", text))
    return {name for name in names if not name.endswith(("_pct", "_hours"))}


def test_exposition_sample_has_every_planned_metric_and_the_group_metrics() -> None:
    assert planned_metric_names() | GROUP_METRICS <= set(EXPOSED)


@pytest.mark.slow
def test_exposition_sample_passes_promtool_check_metrics(tools: PrometheusTools) -> None:
    result = subprocess.run(
        [str(tools.promtool), "check", "metrics"],
        input=EXPOSITION_SAMPLE_PATH.read_text(encoding="utf-8"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- every panel against a real Prometheus -----------------------------------------------------

SCRAPE_INTERVAL = "1s"
# Grafana's $__rate_interval is at least four scrape intervals.
LIVE_SUBSTITUTIONS = {
    **DEFAULT_SUBSTITUTIONS,
    "__rate_interval": "10s",
    "__interval": "1s",
    "__range": "30s",
    "account": ".*",
}
SAMPLES_NEEDED = 5
LIVE_TIMEOUT_SECONDS = 60


def scrape_config(target: str) -> str:
    return f"""
global:
  scrape_interval: {SCRAPE_INTERVAL}
  evaluation_interval: {SCRAPE_INTERVAL}
rule_files: [rules/kb4_exporter.rules.yml]
scrape_configs:
  - job_name: kb4_exporter
    static_configs:
      - targets: ["{target}"]
"""


@pytest.fixture(scope="module")
def prometheus_with_sample(
    tools: PrometheusTools, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    directory = tmp_path_factory.mktemp("prometheus")
    with (
        ExpositionServer(EXPOSITION_SAMPLE_PATH.read_text(encoding="utf-8")) as exporter,
        running_prometheus(
            tools,
            directory,
            scrape_config(exporter.host_port),
            files={"rules/kb4_exporter.rules.yml": RULES_PATH},
        ) as prometheus,
    ):
        # Counters need several samples inside the rate window before increase() answers.
        wait_until(
            lambda: (
                True
                if query(prometheus, f"count_over_time(kb4_up[1m]) >= {SAMPLES_NEEDED}")
                else None
            ),
            LIVE_TIMEOUT_SECONDS,
            f"{SAMPLES_NEEDED} scrapes of the exposition sample",
        )
        yield prometheus


@pytest.mark.slow
@pytest.mark.parametrize("panel_query", QUERIES, ids=QUERY_IDS)
def test_panel_query_returns_data_from_a_real_prometheus(
    prometheus_with_sample: RunningServer, panel_query: PanelQuery
) -> None:
    result = query(
        prometheus_with_sample, substitute_variables(panel_query.expr, LIVE_SUBSTITUTIONS)
    )
    assert result, f"{panel_query.panel!r} returned no data"


@pytest.mark.slow
def test_account_variable_query_lists_the_scraped_account(
    prometheus_with_sample: RunningServer,
) -> None:
    answer = get_json(
        f"{prometheus_with_sample.url}/api/v1/label/account/values", {"match[]": "kb4_up"}
    )
    assert answer["status"] == "success"
    assert answer["data"] == [SAMPLE_ACCOUNT]


@pytest.mark.slow
def test_prometheus_loads_the_shipped_rules(prometheus_with_sample: RunningServer) -> None:
    answer = get_json(f"{prometheus_with_sample.url}/api/v1/rules")
    loaded = {rule["name"] for group in answer["data"]["groups"] for rule in group["rules"]}
    assert loaded == {rule.name for rule in load_alert_rules(RULES_PATH)}


def test_a_configured_runbook_url_fills_in_the_hidden_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    builder = dashboards_builder()
    url = "https://git.example.org/security/kb4_exporter/-/blob/main/docs/runbook.md"
    monkeypatch.setattr(builder, "SETTINGS", builder.Settings(url, SETTINGS.page_after))
    runbook = builder.runbook_variable()
    assert (runbook["query"], runbook["current"]["value"], runbook["hide"]) == (url, url, 2)
