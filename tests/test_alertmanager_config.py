"""The example Alertmanager config: routing, grouping and inhibition, with amtool and for real."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.debian_tools import PrometheusTools, require_prometheus_tools
from support.loopback_http import WebhookReceiver, get_json, post_json
from support.project_files import ALERTMANAGER_CONFIG_PATH, AlertRule, load_alert_rules, load_yaml
from support.servers import RunningServer, running_alertmanager, wait_until

CONFIG = load_yaml(ALERTMANAGER_CONFIG_PATH)
RULES = load_alert_rules()
PAGER, TICKET, HEARTBEAT = "kb4-pager", "kb4-ticket", "kb4-deadmansswitch"
EXPECTED_RECEIVER = {"critical": PAGER, "warning": TICKET, "none": HEARTBEAT}
AMTOOL_TIMEOUT_SECONDS = 60
DELIVERY_TIMEOUT_SECONDS = 60
_MATCHER = re.compile(r'^\s*(\w+)\s*(=~|!~|!=|=)\s*"(.*)"\s*$')


@pytest.fixture(scope="module")
def tools(pytestconfig: pytest.Config) -> PrometheusTools:
    return require_prometheus_tools(pytestconfig)


def matches(matchers: list[str], labels: dict[str, str]) -> bool:
    """Alertmanager matcher semantics for the forms this config uses."""
    for matcher in matchers:
        parsed = _MATCHER.match(matcher)
        assert parsed, f"unsupported matcher {matcher!r}"
        name, op, value = parsed.groups()
        actual = labels.get(name, "")
        hit = re.fullmatch(value, actual) is not None if "~" in op else actual == value
        if hit == op.startswith("!"):
            return False
    return True


def the_inhibit_rule() -> dict[str, Any]:
    rules = CONFIG["inhibit_rules"]
    assert len(rules) == 1
    rule: dict[str, Any] = rules[0]
    return rule


# --- structure ----------------------------------------------------------------------------


def test_notifications_are_grouped_per_account_and_alert() -> None:
    assert CONFIG["route"]["group_by"] == ["account", "alertname"]


def test_unmatched_alerts_still_reach_the_ticket_receiver() -> None:
    assert CONFIG["route"]["receiver"] == TICKET


@pytest.mark.parametrize("rule", RULES, ids=[rule.name for rule in RULES])
def test_each_alert_routes_by_severity(rule: AlertRule) -> None:
    labels = {"alertname": rule.name, **rule.labels}
    receivers = [r["receiver"] for r in CONFIG["route"]["routes"] if matches(r["matchers"], labels)]
    assert receivers[:1] == [EXPECTED_RECEIVER[rule.labels["severity"]]]


def test_losing_the_ability_to_page_routes_like_the_backlog_page() -> None:
    paging = {"Kb4PhisherHighSeverityBacklog", "Kb4PhisherPagingBlind", "Kb4ExporterDown"}
    assert {r.name for r in RULES if r.labels["severity"] == "critical"} == paging


def test_every_receiver_is_a_placeholder_webhook() -> None:
    receivers = {receiver["name"]: receiver for receiver in CONFIG["receivers"]}
    assert set(receivers) == {PAGER, TICKET, HEARTBEAT}
    for name, receiver in receivers.items():
        (webhook,) = receiver["webhook_configs"]
        assert webhook["url"].startswith("https://")
        assert ".example.com/" in webhook["url"]
        # A heartbeat has nothing to resolve; everything else says when it is over.
        assert webhook["send_resolved"] is (name != HEARTBEAT)


def test_the_watchdog_beats_every_minute() -> None:
    (route,) = [r for r in CONFIG["route"]["routes"] if r["receiver"] == HEARTBEAT]
    assert route["matchers"] == ['alertname="Kb4Watchdog"']
    assert (route["group_interval"], route["repeat_interval"]) == ("1m", "1m")


def test_exporter_down_inhibits_the_warnings_of_its_job_and_never_a_page() -> None:
    rule = the_inhibit_rule()
    assert rule["source_matchers"] == ['alertname="Kb4ExporterDown"']
    # Kb4ExporterDown carries no instance (no alert does): the job is what they share.
    assert rule["equal"] == ["job"]
    for alert in RULES:
        labels = {"alertname": alert.name, **alert.labels}
        expected = alert.labels["severity"] == "warning"
        assert matches(rule["target_matchers"], labels) == expected, alert.name


# --- amtool -----------------------------------------------------------------------------------


def amtool(tools: PrometheusTools, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tools.amtool), *arguments],
        capture_output=True,
        text=True,
        timeout=AMTOOL_TIMEOUT_SECONDS,
        check=False,
    )


@pytest.mark.slow
def test_amtool_check_config(tools: PrometheusTools) -> None:
    result = amtool(tools, "check-config", str(ALERTMANAGER_CONFIG_PATH))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("alertname", "severity", "receiver"),
    [
        ("Kb4Example", "critical", PAGER),
        ("Kb4Example", "warning", TICKET),
        ("Kb4Example", "info", TICKET),
        ("Kb4Watchdog", "none", HEARTBEAT),
    ],
)
def test_amtool_routes_severity_to_receiver(
    tools: PrometheusTools, alertname: str, severity: str, receiver: str
) -> None:
    result = amtool(
        tools,
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_CONFIG_PATH}",
        f"--verify.receivers={receiver}",
        f"severity={severity}",
        f"alertname={alertname}",
        "account=acme",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver


# --- a real Alertmanager ------------------------------------------------------------------------


def config_delivering_to(receiver: WebhookReceiver) -> str:
    """The shipped config with its webhooks pointed at `receiver` and short group waits."""
    config = load_yaml(ALERTMANAGER_CONFIG_PATH)
    for entry in config["receivers"]:
        entry["webhook_configs"][0]["url"] = receiver.url(f"/{entry['name']}")
    for route in [config["route"], *config["route"]["routes"]]:
        route["group_wait"] = "1s"
        route["group_interval"] = "1s"
    return str(yaml.safe_dump(config, sort_keys=False))


def alert(name: str, job: str, **labels: str) -> dict[str, Any]:
    rule = next(rule for rule in RULES if rule.name == name)
    return {
        "labels": {"alertname": name, "job": job, **rule.labels, **labels},
        "annotations": {"summary": f"{name} test"},
    }


def alerts_by_name(notifications: list[Any], name: str) -> list[dict[str, Any]]:
    return [
        entry
        for notification in notifications
        for entry in notification["alerts"]
        if entry["labels"]["alertname"] == name
    ]


def severities(notifications: list[Any]) -> set[str]:
    return {entry["labels"]["severity"] for n in notifications for entry in n["alerts"]}


def alert_status(alertmanager: RunningServer, name: str, job: str) -> dict[str, Any] | None:
    for entry in get_json(f"{alertmanager.url}/api/v2/alerts"):
        labels = entry["labels"]
        if labels["alertname"] == name and labels["job"] == job:
            status: dict[str, Any] = entry["status"]
            return status
    return None


@pytest.mark.slow
def test_real_alertmanager_pages_tickets_and_inhibits(
    tools: PrometheusTools, tmp_path: Path
) -> None:
    # Two exporter jobs (say, one per region): one cannot be scraped.
    down, healthy = "kb4_exporter", "kb4_exporter_eu"
    with (
        WebhookReceiver() as receiver,
        running_alertmanager(
            tools, tmp_path / "alertmanager", config_delivering_to(receiver)
        ) as alertmanager,
    ):
        post_json(
            f"{alertmanager.url}/api/v2/alerts",
            [
                alert("Kb4ExporterDown", down),
                alert("Kb4PhishingProneRatioHigh", down, account="acme"),
                alert("Kb4PhishingProneRatioHigh", healthy, account="acme"),
                # A page held through the outage of its own job: never inhibited.
                alert("Kb4PhisherHighSeverityBacklog", down, account="acme"),
            ],
        )

        pages = receiver.wait_for(
            f"/{PAGER}",
            lambda got: bool(
                alerts_by_name(got, "Kb4PhisherHighSeverityBacklog")
                and alerts_by_name(got, "Kb4ExporterDown")
            ),
            DELIVERY_TIMEOUT_SECONDS,
        )
        tickets = receiver.wait_for(
            f"/{TICKET}",
            lambda got: bool(alerts_by_name(got, "Kb4PhishingProneRatioHigh")),
            DELIVERY_TIMEOUT_SECONDS,
        )
        inhibited = wait_until(
            lambda: alert_status(alertmanager, "Kb4PhishingProneRatioHigh", down),
            DELIVERY_TIMEOUT_SECONDS,
            "the inhibited alert's status",
        )
        not_inhibited = alert_status(alertmanager, "Kb4PhishingProneRatioHigh", healthy)

    assert severities(pages) == {"critical"}
    assert severities(tickets) == {"warning"}
    assert alerts_by_name(pages, "Kb4ExporterDown"), "losing the exporter pages"
    assert not alerts_by_name(tickets, "Kb4ExporterDown")
    assert [a["labels"]["job"] for a in alerts_by_name(tickets, "Kb4PhishingProneRatioHigh")] == [
        healthy
    ]
    assert inhibited["state"] == "suppressed"
    assert inhibited["inhibitedBy"]
    assert not_inhibited is not None
    assert not_inhibited["state"] == "active"
    assert not not_inhibited["inhibitedBy"]
