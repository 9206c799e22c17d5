"""End to end: the demo exporter, a real Prometheus, a real Alertmanager and a pager.

The exporter runs `serve --demo`: its built-in simulated org has a PhishER backlog of
HIGH/CRITICAL messages reported 4 to 24 hours ago and still unresolved, so
kb4_phisher_unresolved_high_4h is above zero and the shipped page rule must fire.
A real Prometheus (Debian package) scrapes it every second with the shipped rule file,
whose `for:` durations alone are shortened so the test takes seconds, not minutes; a
real Alertmanager runs the shipped config with its webhooks pointed at a local receiver
and short group waits. The page must reach the pager webhook.

The same servers then answer every Grafana panel query, variables substituted as
Grafana would for the demo account: a query that errors or returns nothing fails. The
demo serves all three APIs (the User Event API included), so no panel is excused; a
panel listed in PANELS_WITHOUT_DEMO_DATA would instead have to return nothing.

Everything listens on 127.0.0.1, every wait is bounded, and every server is stopped
by its own PID when the module's tests end, passed or failed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from simulator_truth import expected_user_events
from support.debian_tools import PrometheusTools, require_prometheus_tools
from support.exporter_process import RunningExporter, running_exporter
from support.loopback_http import WebhookReceiver, get_json
from support.project_files import (
    ALERTMANAGER_CONFIG_PATH,
    PROMETHEUS_CONFIG_PATH,
    RULES_PATH,
    PanelQuery,
    dashboard_queries,
    load_dashboards,
    load_yaml,
)
from support.promql import DEFAULT_SUBSTITUTIONS, substitute_variables
from support.servers import (
    RunningServer,
    query,
    running_alertmanager,
    running_prometheus,
    wait_until,
)

from kb4_exporter.demo import DEMO_ACCOUNT, DEMO_SEED, DEMO_USERS
from kb4_exporter.simulator.org import OrgSpec, generate_org

# Panels the demo cannot fill, which must then return nothing. Empty: the demo has
# every API the dashboards read (tests/test_dashboards.py keeps its own list for the
# stored exposition sample).
PANELS_WITHOUT_DEMO_DATA: frozenset[str] = frozenset()

PAGE_ALERT = "Kb4PhisherHighSeverityBacklog"
PAGER, TICKET = "kb4-pager", "kb4-ticket"
# What the demo org is generated with, so what the exporter must report.
DEMO_BACKLOG = OrgSpec(users=DEMO_USERS, seed=DEMO_SEED).phisher_backlog

SCRAPE_INTERVAL = "1s"
# Long enough that the page rule is pending for a few evaluations before it fires.
SHORT_FOR = "3s"
SHORT_GROUP_WAIT = "1s"
PAGE_TIMEOUT_SECONDS = 90.0
SCRAPES_TIMEOUT_SECONDS = 60.0
# rate()/increase() over $__rate_interval need a few samples in the window.
SCRAPES_BEFORE_PANELS = 5

# The time range a dashboard would show, and Grafana's variables for it.
RANGE_SECONDS = 30
GRAFANA_SUBSTITUTIONS = {
    **DEFAULT_SUBSTITUTIONS,
    "account": DEMO_ACCOUNT,
    "datasource": "kb4-prometheus",
    "__rate_interval": "1m",
    "__interval": SCRAPE_INTERVAL,
    "__range": f"{RANGE_SECONDS}s",
    "__range_s": str(RANGE_SECONDS),
}

QUERIES = [q for board in load_dashboards().values() for q in dashboard_queries(board)]
QUERY_IDS = [f"{q.dashboard}:{q.panel}:{q.ref_id}" for q in QUERIES]

_FOR_LINE = re.compile(r"^(?P<key>\s+for:[ \t]*)\S+[ \t]*$", re.MULTILINE)


# --- the shipped files, adapted for a test that runs in seconds ---------------------------


def without_key(value: Any, key: str) -> Any:
    """`value` with every mapping entry named `key` removed, at any depth."""
    if isinstance(value, dict):
        return {k: without_key(v, key) for k, v in value.items() if k != key}
    if isinstance(value, list):
        return [without_key(item, key) for item in value]
    return value


def rules_with_short_for() -> str:
    """The shipped rule file, text-rewritten so that every `for:` is SHORT_FOR.

    Asserts that nothing but the `for:` values changed and that every rule that had
    one still has one.
    """
    shipped_text = RULES_PATH.read_text(encoding="utf-8")
    short_text, rewritten = _FOR_LINE.subn(rf"\g<key>{SHORT_FOR}", shipped_text)
    shipped, short = yaml.safe_load(shipped_text), yaml.safe_load(short_text)
    assert without_key(short, "for") == without_key(shipped, "for")
    rules_with_for = [
        (shipped_rule, short_rule)
        for shipped_group, short_group in zip(shipped["groups"], short["groups"], strict=True)
        for shipped_rule, short_rule in zip(
            shipped_group["rules"], short_group["rules"], strict=True
        )
        if "for" in shipped_rule
    ]
    assert rewritten == len(rules_with_for) > 0
    assert all(short_rule["for"] == SHORT_FOR for _, short_rule in rules_with_for)
    return short_text


def alertmanager_config(receiver: WebhookReceiver) -> str:
    """The shipped config with webhooks at `receiver` (path = receiver name), short group_wait."""
    shipped = load_yaml(ALERTMANAGER_CONFIG_PATH)
    config = load_yaml(ALERTMANAGER_CONFIG_PATH)
    for entry in config["receivers"]:
        for webhook in entry["webhook_configs"]:
            webhook["url"] = receiver.url(f"/{entry['name']}")
    for route in [config["route"], *config["route"]["routes"]]:
        route["group_wait"] = SHORT_GROUP_WAIT
    assert without_key(without_key(config, "url"), "group_wait") == without_key(
        without_key(shipped, "url"), "group_wait"
    )
    return str(yaml.safe_dump(config, sort_keys=False))


def prometheus_config(exporter: RunningExporter, alertmanager: RunningServer) -> str:
    """The shipped scrape example pointed at our exporter and Alertmanager, every second."""
    config = load_yaml(PROMETHEUS_CONFIG_PATH)
    config["global"].update(scrape_interval=SCRAPE_INTERVAL, evaluation_interval=SCRAPE_INTERVAL)
    (job,) = config["scrape_configs"]
    job.update(
        scrape_interval=SCRAPE_INTERVAL,
        scrape_timeout=SCRAPE_INTERVAL,
        static_configs=[{"targets": [exporter.host_port]}],
    )
    alertmanager_target = alertmanager.url.removeprefix("http://")
    config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [alertmanager_target]}]}]
    return str(yaml.safe_dump(config, sort_keys=False))


def test_only_the_for_durations_of_the_shipped_rules_are_shortened() -> None:
    assert SHORT_FOR in rules_with_short_for()


def test_alertmanager_config_only_changes_webhook_urls_and_group_wait() -> None:
    with WebhookReceiver() as receiver:
        config = yaml.safe_load(alertmanager_config(receiver))
    urls = [w["url"] for r in config["receivers"] for w in r["webhook_configs"]]
    assert urls == [receiver.url(f"/{name}") for name in (PAGER, TICKET)]
    routes = [config["route"], *config["route"]["routes"]]
    assert {route["group_wait"] for route in routes} == {SHORT_GROUP_WAIT}


# --- the servers, shared by the tests below ----------------------------------------------


@dataclass(frozen=True)
class AlertingStack:
    exporter: RunningExporter
    prometheus: RunningServer
    alertmanager: RunningServer
    receiver: WebhookReceiver


@pytest.fixture(scope="module")
def stack(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AlertingStack]:
    tools: PrometheusTools = require_prometheus_tools(pytestconfig)
    directory = tmp_path_factory.mktemp("end_to_end")
    rules = rules_with_short_for()
    with (
        WebhookReceiver() as receiver,
        running_alertmanager(
            tools, directory / "alertmanager", alertmanager_config(receiver)
        ) as alertmanager,
        running_exporter(directory / "exporter", "--demo") as exporter,
    ):
        config = prometheus_config(exporter, alertmanager)
        rule_files = {path: rules for path in yaml.safe_load(config)["rule_files"]}
        with running_prometheus(
            tools, directory / "prometheus", config, files=rule_files
        ) as prometheus:
            yield AlertingStack(exporter, prometheus, alertmanager, receiver)


@pytest.fixture(scope="module")
def scraped(stack: AlertingStack) -> AlertingStack:
    """The stack once Prometheus holds enough scrapes for rate windows."""
    selector = f'kb4_up{{account="{DEMO_ACCOUNT}"}}'
    wait_until(
        lambda: (
            True
            if query(
                stack.prometheus, f"count_over_time({selector}[1m]) >= {SCRAPES_BEFORE_PANELS}"
            )
            else None
        ),
        SCRAPES_TIMEOUT_SECONDS,
        f"{SCRAPES_BEFORE_PANELS} scrapes of the exporter",
    )
    return stack


def server_logs(stack: AlertingStack) -> str:
    return "\n".join(
        f"--- {name} log ---\n{tail}"
        for name, tail in (
            ("kb4-exporter", stack.exporter.log_tail()),
            ("prometheus", stack.prometheus.log_tail()),
            ("alertmanager", stack.alertmanager.log_tail()),
        )
    )


# --- the page ------------------------------------------------------------------------------


def page_alerts(notifications: list[Any]) -> list[dict[str, Any]]:
    return [
        alert
        for notification in notifications
        for alert in notification["alerts"]
        if alert["labels"]["alertname"] == PAGE_ALERT and alert["status"] == "firing"
    ]


@pytest.mark.slow
def test_phisher_backlog_pages_through_real_prometheus_and_alertmanager(
    stack: AlertingStack, record_property: Callable[[str, object], None]
) -> None:
    try:
        pages = stack.receiver.wait_for(
            f"/{PAGER}", lambda got: bool(page_alerts(got)), PAGE_TIMEOUT_SECONDS
        )
    except TimeoutError as error:
        raise AssertionError(f"{error}\n{server_logs(stack)}") from None
    exporter_start_to_page = time.monotonic() - stack.exporter.started_at
    record_property("exporter_start_to_page_seconds", round(exporter_start_to_page, 1))
    print(f"exporter start to page received: {exporter_start_to_page:.1f}s")

    (page,) = page_alerts(pages)
    assert page["labels"] == {
        "alertname": PAGE_ALERT,
        "severity": "critical",
        "category": "phisher",
        "account": DEMO_ACCOUNT,
        "job": "kb4_exporter",
        "instance": stack.exporter.host_port,
    }
    # The exporter's value travelled through the rule's template into the page.
    assert page["annotations"]["summary"].startswith(f"{DEMO_BACKLOG} high/critical")
    assert page["annotations"]["runbook_url"].endswith(f"#{PAGE_ALERT.lower()}")
    assert {n["receiver"] for n in pages} == {PAGER}
    assert {a["labels"]["severity"] for n in pages for a in n["alerts"]} == {"critical"}
    assert not page_alerts(stack.receiver.received(f"/{TICKET}"))


@pytest.mark.slow
def test_demo_backlog_is_what_prometheus_scraped(stack: AlertingStack) -> None:
    (sample,) = query(stack.prometheus, "kb4_phisher_unresolved_high_4h")
    assert sample["metric"]["account"] == DEMO_ACCOUNT
    assert float(sample["value"][1]) == DEMO_BACKLOG > 0


@pytest.mark.slow
def test_demo_user_events_are_what_prometheus_scraped(scraped: AlertingStack) -> None:
    # The demo org's events sit at fixed offsets before the moment it is generated, and
    # clear of the one-day boundary, so any generation time gives the same counts.
    now = time.time()
    expected = expected_user_events(
        generate_org(OrgSpec(users=DEMO_USERS, seed=DEMO_SEED), now), now
    )
    samples = query(scraped.prometheus, "kb4_user_events_24h")
    assert {s["metric"]["account"] for s in samples} == {DEMO_ACCOUNT}
    scraped_counts = {
        (s["metric"]["event_type"], s["metric"]["risk_level"]): float(s["value"][1])
        for s in samples
    }
    assert scraped_counts == expected
    (quota,) = query(scraped.prometheus, 'kb4_api_budget_limit{api="user_events"}')
    assert float(quota["value"][1]) == 10 * DEMO_USERS


# --- every dashboard panel -----------------------------------------------------------------


@pytest.mark.slow
def test_account_variable_lists_the_demo_account(scraped: AlertingStack) -> None:
    # The dashboards' `label_values(kb4_up, account)`: what $account is substituted with.
    answer = get_json(
        f"{scraped.prometheus.url}/api/v1/label/account/values", {"match[]": "kb4_up"}
    )
    assert answer["status"] == "success"
    assert answer["data"] == [DEMO_ACCOUNT]


def evaluate_like_grafana(prometheus: RunningServer, panel_query: PanelQuery) -> list[Any]:
    """An instant query for instant targets, else a range query over the dashboard range."""
    expr = substitute_variables(panel_query.expr, GRAFANA_SUBSTITUTIONS)
    if panel_query.instant:
        return query(prometheus, expr)
    end = time.time()
    answer = get_json(
        f"{prometheus.url}/api/v1/query_range",
        {
            "query": expr,
            "start": f"{end - RANGE_SECONDS:.3f}",
            "end": f"{end:.3f}",
            "step": GRAFANA_SUBSTITUTIONS["__interval"],
        },
    )
    assert answer.get("status") == "success", f"{expr!r} failed: {answer}"
    return [series for series in answer["data"]["result"] if series["values"]]


@pytest.mark.slow
@pytest.mark.parametrize("panel_query", QUERIES, ids=QUERY_IDS)
def test_panel_query_returns_data_from_the_scraped_exporter(
    scraped: AlertingStack, panel_query: PanelQuery
) -> None:
    result = evaluate_like_grafana(scraped.prometheus, panel_query)
    if panel_query.panel in PANELS_WITHOUT_DEMO_DATA:
        # An excused panel must still evaluate without error, and return nothing.
        assert not result, f"{panel_query.panel!r} has demo data now: update the list"
        return
    assert result, f"{panel_query.dashboard}: {panel_query.panel!r} returned no data"
