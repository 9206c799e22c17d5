"""The shipped alert rules: structure, runbook links, KRI thresholds and promtool proof."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import promql_parser
import pytest
from support.debian_tools import PrometheusTools, require_prometheus_tools
from support.project_files import (
    PROMETHEUS_CONFIG_PATH,
    PROMETHEUS_GENERATED_METRICS,
    PROMTOOL_TESTS_DIR,
    RULES_PATH,
    RUNBOOK_PATH,
    RUNBOOK_URL_BASE,
    AlertRule,
    exposition_label_names,
    load_alert_rules,
    load_yaml,
    markdown_anchors,
    promtool_test_files,
)
from support.promql import metric_names

RULES = load_alert_rules()
RULE_IDS = [rule.name for rule in RULES]

# The ten KRIs of the metric contract (DESIGN.md).
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
COMPARISONS = {">", "<", ">=", "<="}
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


def kri_threshold(rule: AlertRule) -> tuple[str, str, float] | None:
    """(metric, comparison, number) when the rule is `<kri metric> <cmp> <number>`."""
    expr = promql_parser.parse(rule.expr)
    if not isinstance(expr, promql_parser.BinaryExpr):
        return None
    lhs, rhs = expr.lhs, expr.rhs
    if not (
        isinstance(lhs, promql_parser.VectorSelector)
        and isinstance(rhs, promql_parser.NumberLiteral)
        and lhs.name in KRI_METRICS
    ):
        return None
    return str(lhs.name), str(expr.op), rhs.val


# --- structure ----------------------------------------------------------------------------


def test_alert_names_are_unique() -> None:
    assert len(RULE_IDS) == len(set(RULE_IDS))


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_every_alert_has_severity_category_and_annotations(rule: AlertRule) -> None:
    assert rule.labels.get("severity") in {"critical", "warning"}
    assert rule.labels.get("category") in {"phisher", "kri", "freshness", "exporter"}
    for annotation in ("summary", "description", "runbook_url"):
        assert rule.annotations.get(annotation, "").strip(), f"{rule.name} lacks {annotation}"


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_runbook_url_points_at_the_alerts_own_runbook_section(rule: AlertRule) -> None:
    url = rule.annotations["runbook_url"]
    assert url.startswith(RUNBOOK_URL_BASE)
    anchor = url.removeprefix(RUNBOOK_URL_BASE)
    assert anchor == rule.name.lower()
    assert anchor in markdown_anchors(RUNBOOK_PATH.read_text(encoding="utf-8"))


def test_only_the_phisher_backlog_pages() -> None:
    paging = [rule for rule in RULES if rule.labels["severity"] == "critical"]
    assert [rule.name for rule in paging] == ["Kb4PhisherHighSeverityBacklog"]
    assert metric_names(paging[0].expr) == {"kb4_phisher_unresolved_high_4h"}


def test_every_kri_has_exactly_one_threshold_alert() -> None:
    alerts_per_kri: dict[str, list[str]] = defaultdict(list)
    for rule in RULES:
        threshold = kri_threshold(rule)
        if threshold is not None:
            alerts_per_kri[threshold[0]].append(rule.name)
    assert {kri: len(names) for kri, names in alerts_per_kri.items()} == dict.fromkeys(
        KRI_METRICS, 1
    )


@pytest.mark.parametrize("rule", [r for r in RULES if kri_threshold(r)], ids=lambda r: r.name)
def test_kri_alerts_compare_the_bare_kri_so_an_absent_kri_cannot_fire(rule: AlertRule) -> None:
    # A filtering comparison (no `bool`, no `or`/`absent`/`vector()` fallback) returns
    # nothing for an absent series, so the alert cannot fire on missing data.
    expr = promql_parser.parse(rule.expr)
    assert isinstance(expr, promql_parser.BinaryExpr)
    assert str(expr.op) in COMPARISONS
    assert expr.modifier is None or not expr.modifier.return_bool
    assert rule.for_, f"{rule.name} should wait before warning"


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_rules_only_use_metrics_the_exporter_exposes(rule: AlertRule) -> None:
    exposed = set(exposition_label_names()) | PROMETHEUS_GENERATED_METRICS
    assert metric_names(rule.expr) <= exposed


def test_kri_and_freshness_alerts_keep_the_job_and_instance_labels() -> None:
    # Alertmanager inhibits them per job/instance while Kb4ExporterDown fires; an
    # aggregation that dropped those labels would make the inhibition miss them.
    for rule in RULES:
        if rule.labels["category"] not in {"kri", "freshness"}:
            continue
        assert not re.search(r"\b(sum|avg|min|max|count|topk|bottomk)\b", rule.expr), rule.name
        assert " by " not in rule.expr and " without " not in rule.expr, rule.name


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


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_every_alert_has_promtool_cases_that_fire_and_stay_quiet(rule: AlertRule) -> None:
    cases = promtool_cases()
    assert cases[rule.name]["firing"] >= 1, f"no promtool test sees {rule.name} fire"
    assert cases[rule.name]["quiet"] >= 1, f"no promtool test sees {rule.name} stay quiet"


def test_promtool_tests_only_name_existing_alerts() -> None:
    assert set(promtool_cases()) <= set(RULE_IDS)


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


@pytest.mark.slow
def test_promtool_unit_tests_catch_a_changed_threshold(
    tools: PrometheusTools, tmp_path: Path
) -> None:
    # Proof that the unit tests have teeth: move one threshold and they must fail.
    shutil.copytree(PROMTOOL_TESTS_DIR, tmp_path / "tests")
    (tmp_path / "rules").mkdir()
    original = RULES_PATH.read_text(encoding="utf-8")
    mutated = original.replace(
        "expr: kb4_phishing_prone_ratio > 0.20", "expr: kb4_phishing_prone_ratio > 0.30"
    )
    assert mutated != original
    (tmp_path / "rules" / RULES_PATH.name).write_text(mutated, encoding="utf-8")
    result = subprocess.run(
        [str(tools.promtool), "test", "rules", str(tmp_path / "tests" / "kris.test.yml")],
        capture_output=True,
        text=True,
        timeout=PROMTOOL_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode != 0
    assert "Kb4PhishingProneRatioHigh" in result.stdout + result.stderr


# --- the sudden inventory change -----------------------------------------------------------

SUDDEN_CHANGE = "Kb4InventorySuddenChange"
# The fraction and the minimum change (in whole objects) of its documentation.
SUDDEN_CHANGE_FRACTION, SUDDEN_CHANGE_MINIMUM = 0.2, 10


def sudden_change_limits() -> dict[str, tuple[float, float, timedelta]]:
    """metric -> (fraction, floor, offset) of each `clamp_min(<fraction> * <metric>
    offset <offset>, <floor>)` in the alert: the limit a change must exceed."""
    (rule,) = [rule for rule in RULES if rule.name == SUDDEN_CHANGE]
    limits: dict[str, tuple[float, float, timedelta]] = {}

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.Call) and node.func.name == "clamp_min":
            scaled, floor = node.args
            assert isinstance(scaled, promql_parser.BinaryExpr)
            assert isinstance(scaled.lhs, promql_parser.NumberLiteral)
            assert isinstance(scaled.rhs, promql_parser.VectorSelector)
            assert isinstance(floor, promql_parser.NumberLiteral)
            assert scaled.rhs.offset is not None, "the baseline must be a day-old value"
            limits[str(scaled.rhs.name)] = (scaled.lhs.val, floor.val, scaled.rhs.offset)

    promql_parser.walk(promql_parser.parse(rule.expr), visit)
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
    (rule,) = [rule for rule in RULES if rule.name == SUDDEN_CHANGE]
    assert f"(threshold {percent})" in rule.annotations["summary"]
