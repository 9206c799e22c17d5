"""The shipped alert rules: generated from one description, identities without instance,
held through outages, runbook references that resolve, and promtool proof."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from support.debian_tools import PrometheusTools, require_prometheus_tools
from support.project_files import (
    MONITORING_SETTINGS_PATH,
    PROMETHEUS_CONFIG_PATH,
    PROMETHEUS_GENERATED_METRICS,
    PROMTOOL_TESTS_DIR,
    REPO_ROOT,
    RULES_BUILDER,
    RULES_PATH,
    RUNBOOK_PATH,
    AlertRule,
    exposition_label_names,
    load_alert_rules,
    load_yaml,
    markdown_anchors,
    monitoring_module,
    promtool_test_files,
    rules_builder,
)
from support.promql import metric_names

from kb4_exporter.config.durations import parse_duration

RULES = load_alert_rules()
RULE_IDS = [rule.name for rule in RULES]
BUILDER = rules_builder()
SETTINGS = BUILDER.load_settings()
KRI_WARNINGS = monitoring_module().KRI_WARNINGS

PAGES = {"Kb4PhisherHighSeverityBacklog", "Kb4PhisherPagingBlind", "Kb4ExporterDown"}
WATCHDOG = "Kb4Watchdog"
# Alerts not on the exporter's series: they have nothing to hold on to.
NOT_HELD = {"Kb4ExporterDown", WATCHDOG}
# The ten KRIs of the metric contract (DESIGN.md), and those that have no warning: the
# top decile is always 10% of the scored users, and the page covers the 4-24 h backlog.
KRI_METRICS = (
    "kb4_phishing_prone_ratio",
    "kb4_repeat_clickers_90d",
    "kb4_training_completion_ratio",
    "kb4_overdue_training_assignments",
    "kb4_remedial_training_compliance_ratio",
    "kb4_high_risk_users",
    "kb4_phish_time_to_report_seconds",
    "kb4_phisher_unresolved_high_4h",
    "kb4_zero_training_activity_12m",
    "kb4_department_ppp_delta_ratio",
)
KRIS_WITHOUT_WARNING = {"kb4_high_risk_users", "kb4_phisher_unresolved_high_4h"}
PROMTOOL_TIMEOUT_SECONDS = 120


@pytest.fixture(scope="module")
def tools(pytestconfig: pytest.Config) -> PrometheusTools:
    return require_prometheus_tools(pytestconfig)


def run_tool(command: list[str | Path], cwd: Path | None = None) -> str:
    result = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=PROMTOOL_TIMEOUT_SECONDS,
        cwd=cwd,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{command} exited {result.returncode}:\n{output}"
    return output


def rule(name: str) -> AlertRule:
    (found,) = [r for r in RULES if r.name == name]
    return found


# --- generated from one description ---------------------------------------------------------


def test_rule_files_are_what_the_builder_generates() -> None:
    result = subprocess.run(
        [sys.executable, str(RULES_BUILDER), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr


def test_the_page_threshold_is_set_in_one_place() -> None:
    after = parse_duration(str(load_yaml(MONITORING_SETTINGS_PATH)["page_after"]))
    assert SETTINGS.page_after == after
    condition = promql_parser.parse(rule("Kb4PhisherHighSeverityBacklog").expr)
    while isinstance(condition, promql_parser.BinaryExpr) and str(condition.op) == "or":
        condition = condition.lhs  # the page's own condition, before the halves that hold it
    numbers = {
        node.val for node in _nodes(condition) if isinstance(node, promql_parser.NumberLiteral)
    }
    assert numbers == {after}
    changed = BUILDER.Settings(SETTINGS.runbook_url, 2 * after)
    text = BUILDER.render_groups(changed)
    assert f"> {2 * after:g}\n" in text and f"> {after:g}\n" not in text


def test_without_a_runbook_url_no_url_is_made_up() -> None:
    assert SETTINGS.runbook_url == ""
    text = RULES_PATH.read_text(encoding="utf-8")
    assert not re.search(r"https?://", text)
    for alert in RULES:
        assert alert.annotations["runbook"] == f"docs/runbook.md#{alert.name.lower()}"
        assert "runbook_url" not in alert.annotations


def test_a_runbook_url_gives_every_alert_its_section() -> None:
    base = "https://git.example.org/security/kb4_exporter/-/blob/main/docs/runbook.md"
    text = BUILDER.render_groups(BUILDER.Settings(base, SETTINGS.page_after))
    generated = yaml.safe_load(text)["groups"]
    for alert in (r for g in generated for r in g["rules"]):
        annotations = alert["annotations"]
        assert annotations["runbook_url"] == f"{base}#{alert['alert'].lower()}"
        assert "runbook" not in annotations


def test_the_prometheus_rule_carries_the_same_groups() -> None:
    resource = load_yaml(REPO_ROOT / "deploy" / "kubernetes" / "prometheusrule.yaml")
    assert resource["kind"] == "PrometheusRule"
    assert resource["spec"]["groups"] == load_yaml(RULES_PATH)["groups"]


# --- structure ----------------------------------------------------------------------------


def test_alert_names_are_unique() -> None:
    assert len(RULE_IDS) == len(set(RULE_IDS))


@pytest.mark.parametrize("alert", RULES, ids=RULE_IDS)
def test_every_alert_has_severity_category_and_annotations(alert: AlertRule) -> None:
    assert alert.labels.get("severity") in {"critical", "warning", "none"}
    assert alert.labels.get("category") in {"phisher", "kri", "freshness", "exporter", "watchdog"}
    for annotation in ("summary", "description", "runbook"):
        assert alert.annotations.get(annotation, "").strip(), f"{alert.name} lacks {annotation}"


@pytest.mark.parametrize("alert", RULES, ids=RULE_IDS)
def test_the_runbook_has_a_section_for_every_alert(alert: AlertRule) -> None:
    anchor = alert.annotations["runbook"].removeprefix("docs/runbook.md#")
    assert anchor == alert.name.lower()
    assert anchor in markdown_anchors(RUNBOOK_PATH.read_text(encoding="utf-8"))


def test_what_pages() -> None:
    paging = {r.name for r in RULES if r.labels["severity"] == "critical"}
    assert paging == PAGES
    page = rule("Kb4PhisherHighSeverityBacklog")
    assert metric_names(page.expr) == {
        "kb4_phisher_oldest_unresolved_age_seconds",
        "ALERTS",
        "kb4_source_last_success_timestamp_seconds",
        "kb4_source_up",
        "kb4_truncated",
        "kb4_up",
        "up",
    }
    assert rule(WATCHDOG).labels == {"severity": "none", "category": "watchdog"}
    assert rule(WATCHDOG).expr.strip() == "vector(1)"


def test_every_kri_but_two_has_one_warning() -> None:
    warned: dict[str, list[str]] = defaultdict(list)
    for warning in KRI_WARNINGS:
        warned[warning.metric].append(warning.name)
        assert rule(warning.name).labels == {"severity": "warning", "category": "kri"}
    assert {metric: len(names) for metric, names in warned.items()} == dict.fromkeys(
        set(KRI_METRICS) - KRIS_WITHOUT_WARNING, 1
    )


def test_count_kris_warn_on_their_share_of_the_population() -> None:
    # A fixed count (> 0, > 5, > 100) is breached forever by any organisation big enough.
    for warning in KRI_WARNINGS:
        if warning.metric.endswith(("_ratio", "_seconds")):
            assert warning.per is None, warning.name
        else:
            assert warning.per is not None, warning.name
            assert 0 < warning.threshold < 1, warning.name


def _nodes(expr: promql_parser.Expr) -> list[Any]:
    found: list[Any] = []
    promql_parser.walk(expr, found.append)
    return found


def output_label_sets(node: Any) -> set[frozenset[str]]:
    """The label sets an expression's series can carry (None of them: `vector()`)."""
    if isinstance(node, promql_parser.ParenExpr):
        return output_label_sets(node.expr)
    if isinstance(node, promql_parser.AggregateExpr):
        assert node.modifier is not None and node.modifier.type == (
            promql_parser.AggModifierType.By
        ), f"aggregate {node} must say `by` what"
        return {frozenset(node.modifier.labels)}
    if isinstance(node, promql_parser.BinaryExpr):
        if str(node.op) == "or":
            return output_label_sets(node.lhs) | output_label_sets(node.rhs)
        if isinstance(node.lhs, promql_parser.NumberLiteral):
            return output_label_sets(node.rhs)
        return output_label_sets(node.lhs)
    if isinstance(node, promql_parser.Call) and node.func.name == "absent":
        (selector,) = node.args
        return {frozenset(m.name for m in selector.matchers.matchers if m.name != "__name__")}
    if isinstance(node, promql_parser.Call) and node.func.name == "vector":
        return {frozenset()}
    raise AssertionError(f"{node} could carry any label, instance included")


def expected_identity(alert: AlertRule) -> frozenset[str]:
    if alert.name == "Kb4ExporterDown":
        return frozenset({"job"})
    if alert.name == WATCHDOG:
        return frozenset()
    definitions = {a.name: a for g in BUILDER.groups(SETTINGS) for a in g.alerts}
    return frozenset({"job", "account", *definitions[alert.name].by})


@pytest.mark.parametrize("alert", RULES, ids=RULE_IDS)
def test_alert_identity_is_job_and_account_never_instance(alert: AlertRule) -> None:
    # Every half of every expression yields the alert's labels and no other (the users
    # half of Kb4InventorySuddenChange has no `object`): neither a rollout (new instance)
    # nor a held alert changes who the alert is.
    identity = expected_identity(alert)
    label_sets = output_label_sets(promql_parser.parse(alert.expr))
    assert identity in label_sets
    for labels in label_sets:
        assert labels <= identity
        assert labels >= identity & {"job", "account"}


@pytest.mark.parametrize(
    "alert", [r for r in RULES if r.name not in NOT_HELD], ids=lambda r: str(r.name)
)
def test_alerts_on_the_exporters_series_hold_while_it_cannot_tell(alert: AlertRule) -> None:
    own_state = [
        node
        for node in _nodes(promql_parser.parse(alert.expr))
        if isinstance(node, promql_parser.VectorSelector) and node.name == "ALERTS"
    ]
    assert own_state
    for selector in own_state:
        matchers = {m.name: m.value for m in selector.matchers.matchers}
        assert matchers == {"alertname": alert.name, "alertstate": "firing"}


@pytest.mark.parametrize("alert", RULES, ids=RULE_IDS)
def test_rules_only_use_metrics_the_exporter_exposes(alert: AlertRule) -> None:
    exposed = set(exposition_label_names()) | PROMETHEUS_GENERATED_METRICS
    assert metric_names(alert.expr) <= exposed


def test_for_durations_follow_the_cadences() -> None:
    # The page: one poll of the unresolved messages (5m); the blind page: two polls;
    # exporter down: one poll interval, so a restart that misses a scrape or two is no
    # outage; KRI warnings: an hour, far below their daily refresh.
    poll = 300
    assert parse_duration(rule("Kb4PhisherHighSeverityBacklog").for_ or "0") == poll
    assert parse_duration(rule("Kb4PhisherPagingBlind").for_ or "0") == 2 * poll
    assert parse_duration(rule("Kb4ExporterDown").for_ or "0") == poll
    for warning in KRI_WARNINGS:
        assert rule(warning.name).for_ == "1h"


# --- the promtool unit tests cover every alert --------------------------------------------


def promtool_cases() -> dict[str, dict[str, int]]:
    """alertname -> how many promtool checks expect it firing / quiet."""
    cases: dict[str, dict[str, int]] = defaultdict(lambda: {"firing": 0, "quiet": 0})
    for path in promtool_test_files():
        for test in load_yaml(path)["tests"]:
            for check in test.get("alert_rule_test", []):
                outcome = "firing" if check.get("exp_alerts") else "quiet"
                cases[check["alertname"]][outcome] += 1
    return cases


def test_promtool_tests_use_the_shipped_rules() -> None:
    files = promtool_test_files()
    assert files
    for path in files:
        rule_files = [(path.parent / name).resolve() for name in load_yaml(path)["rule_files"]]
        assert rule_files == [RULES_PATH.resolve()], path.name


@pytest.mark.parametrize("alert", RULES, ids=RULE_IDS)
def test_every_alert_has_promtool_cases_that_fire_and_stay_quiet(alert: AlertRule) -> None:
    cases = promtool_cases()
    assert cases[alert.name]["firing"] >= 1, f"no promtool test sees {alert.name} fire"
    if alert.name != WATCHDOG:
        assert cases[alert.name]["quiet"] >= 1, f"no promtool test sees {alert.name} stay quiet"


def test_promtool_tests_only_name_existing_alerts() -> None:
    assert set(promtool_cases()) <= set(RULE_IDS)


def test_promtool_tests_cover_outage_source_failure_rollout_and_a_30_hour_wait() -> None:
    names = {test["name"] for path in promtool_test_files() for test in load_yaml(path)["tests"]}
    for wanted in ("outage", "failing PhishER source", "rollout", "unresolved for 30h"):
        assert any(wanted in name for name in names), wanted


# --- promtool itself ------------------------------------------------------------------------


@pytest.mark.slow
def test_promtool_check_rules(tools: PrometheusTools) -> None:
    output = run_tool([tools.promtool, "check", "rules", "--lint-fatal", RULES_PATH])
    assert f"SUCCESS: {len(RULES)} rules found" in output


@pytest.mark.slow
def test_promtool_unit_tests_pass(tools: PrometheusTools) -> None:
    files = promtool_test_files()
    output = run_tool([tools.promtool, "test", "rules", *files])
    assert output.count("SUCCESS") == len(files)


@pytest.mark.slow
def test_promtool_check_config_accepts_the_example_prometheus_config(
    tools: PrometheusTools,
) -> None:
    output = run_tool([tools.promtool, "check", "config", PROMETHEUS_CONFIG_PATH])
    assert "is valid prometheus config file syntax" in output


def run_promtool_tests_on(
    tools: PrometheusTools, tmp_path: Path, rules_text: str, test_file: str
) -> subprocess.CompletedProcess[str]:
    shutil.copytree(PROMTOOL_TESTS_DIR, tmp_path / "tests")
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / RULES_PATH.name).write_text(rules_text, encoding="utf-8")
    return subprocess.run(
        [str(tools.promtool), "test", "rules", str(tmp_path / "tests" / test_file)],
        capture_output=True,
        text=True,
        timeout=PROMTOOL_TIMEOUT_SECONDS,
        check=False,
    )


@pytest.mark.slow
def test_promtool_unit_tests_catch_a_changed_threshold(
    tools: PrometheusTools, tmp_path: Path
) -> None:
    # Proof that the unit tests have teeth: move one threshold and they must fail.
    original = RULES_PATH.read_text(encoding="utf-8")
    mutated = original.replace(
        "last_over_time(kb4_phishing_prone_ratio[10m])\n            )\n            > 0.2\n",
        "last_over_time(kb4_phishing_prone_ratio[10m])\n            )\n            > 0.3\n",
    )
    assert mutated != original
    result = run_promtool_tests_on(tools, tmp_path, mutated, "kris.test.yml")
    assert result.returncode != 0
    assert "Kb4PhishingProneRatioHigh" in result.stdout + result.stderr


@pytest.mark.slow
def test_promtool_unit_tests_catch_a_page_that_resolves_in_an_outage(
    tools: PrometheusTools, tmp_path: Path
) -> None:
    # Without its `or ALERTS{...}` halves, the page resolves once the exporter's last
    # age is 10 minutes old, and a cut-short listing ends it: the outage test and the
    # truncated first poll must fail. (A rollout's gap is shorter than that: the last age
    # bridges it.)
    rules = load_yaml(RULES_PATH)
    for group in rules["groups"]:
        for entry in group["rules"]:
            if entry.get("alert") == "Kb4PhisherHighSeverityBacklog":
                entry["expr"] = entry["expr"].split("\nor\n(\n  max by")[0]
    result = run_promtool_tests_on(tools, tmp_path, yaml.safe_dump(rules), "phisher.test.yml")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "An exporter outage pages and never resolves the backlog page" in output
    assert "first PhishER listing is cut short holds the page" in output


def test_promtool_unit_tests_catch_a_page_that_failed_scrapes_keep_pending(
    tools: PrometheusTools, tmp_path: Path
) -> None:
    # Read without its last value over failed scrapes, the page never fires while one
    # scrape in a few fails (each failure marks the age stale and resets `for`).
    rules = load_yaml(RULES_PATH)
    age = 'kb4_phisher_oldest_unresolved_age_seconds{severity=~"HIGH|CRITICAL"}'
    last_age = re.compile(rf"last_over_time\(\s*({re.escape(age)})\[10m\]\s*\)")
    for group in rules["groups"]:
        for entry in group["rules"]:
            if entry.get("alert") == "Kb4PhisherHighSeverityBacklog":
                entry["expr"], replaced = last_age.subn(r"\1", entry["expr"])
                assert replaced == 1
    result = run_promtool_tests_on(tools, tmp_path, yaml.safe_dump(rules), "phisher.test.yml")
    assert result.returncode != 0
    assert "Failed scrapes now and then neither keep the page from firing" in (
        result.stdout + result.stderr
    )


# --- the sudden inventory change -----------------------------------------------------------

SUDDEN_CHANGE = "Kb4InventorySuddenChange"
# The fraction and the minimum change (in whole objects) of its documentation.
SUDDEN_CHANGE_FRACTION, SUDDEN_CHANGE_MINIMUM = 0.2, 10


def sudden_change_limits() -> dict[str, tuple[float, float, timedelta]]:
    """metric -> (fraction, floor, offset) of each `clamp_min(<fraction> * max by (...)
    (<metric> offset <offset>), <floor>)` in the alert: the limit a change must exceed."""
    limits: dict[str, tuple[float, float, timedelta]] = {}

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.Call) and node.func.name == "clamp_min":
            scaled, floor = node.args
            assert isinstance(scaled, promql_parser.BinaryExpr)
            assert isinstance(scaled.lhs, promql_parser.NumberLiteral)
            assert isinstance(scaled.rhs, promql_parser.AggregateExpr)
            selector = scaled.rhs.expr
            assert isinstance(selector, promql_parser.VectorSelector)
            assert isinstance(floor, promql_parser.NumberLiteral)
            assert selector.offset is not None, "the baseline must be a day-old value"
            limits[str(selector.name)] = (scaled.lhs.val, floor.val, selector.offset)

    promql_parser.walk(promql_parser.parse(rule(SUDDEN_CHANGE).expr), visit)
    return limits


def test_sudden_change_compares_users_and_objects_with_a_day_earlier_as_documented() -> None:
    # The floor is exceeded, not reached: counts are whole, so "> 9" means "at least 10".
    expected = (SUDDEN_CHANGE_FRACTION, SUDDEN_CHANGE_MINIMUM - 1, timedelta(days=1))
    assert sudden_change_limits() == {
        "kb4_users": expected,
        "kb4_inventory_objects": expected,
    }
    runbook = RUNBOOK_PATH.read_text(encoding="utf-8")
    percent = f"{SUDDEN_CHANGE_FRACTION:.0%}"
    assert f"more than {percent} (and at least {SUDDEN_CHANGE_MINIMUM}) in a day" in runbook
    assert f"(threshold {percent})" in rule(SUDDEN_CHANGE).annotations["summary"]
