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

A second test runs the same shipped files at 1/60 of their timings against an exporter
of its own, whose simulated PhishER holds one HIGH message about to wait 4 hours: it
measures how soon the page reaches the pager after the message crosses 4 hours, then
stops the exporter (no RESOLVED may reach the pager), restarts it on another address
(a rollout), and resolves the message, after which the page resolves.

Everything listens on 127.0.0.1, every wait is bounded, and every server is stopped
by its own PID when the module's tests end, passed or failed.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from simulator_truth import expected_user_events
from support.debian_tools import PrometheusTools, require_prometheus_tools
from support.exporter_process import RunningExporter, running_exporter, start_exporter
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
    stop_server,
    wait_until,
)

from kb4_exporter.commands.demo import DEMO_ACCOUNT, DEMO_SEED, DEMO_USERS
from kb4_exporter.config.durations import format_duration, parse_duration
from kb4_exporter.simulator import Org, SimulatorServer
from kb4_exporter.simulator.org import OrgSpec, generate_org
from kb4_exporter.simulator.records import PhisherEvent, PhisherMessage

# Panels the demo cannot fill, which must then return nothing. Empty: the demo has
# every API the dashboards read (tests/test_dashboards.py keeps its own list for the
# stored exposition sample).
PANELS_WITHOUT_DEMO_DATA: frozenset[str] = frozenset()

PAGE_ALERT = "Kb4PhisherHighSeverityBacklog"
PAGER, TICKET, HEARTBEAT = "kb4-pager", "kb4-ticket", "kb4-deadmansswitch"
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
    assert urls == [receiver.url(f"/{name}") for name in (PAGER, TICKET, HEARTBEAT)]
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
    # No instance: a rollout must not make it another alert.
    assert page["labels"] == {
        "alertname": PAGE_ALERT,
        "severity": "critical",
        "category": "phisher",
        "account": DEMO_ACCOUNT,
        "job": "kb4_exporter",
    }
    assert page["annotations"]["summary"].endswith(f"in account {DEMO_ACCOUNT}")
    assert page["annotations"]["runbook"] == f"docs/runbook.md#{PAGE_ALERT.lower()}"
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


# --- the page through an outage and a rollout, and how soon it arrives -------------------
#
# Everything runs at 1/60 of the default timings, so an hour of alerting takes a minute:
# the exporter polls PhishER's unresolved messages every 5 s (5 min by default),
# Prometheus scrapes and evaluates every second (1 min), every `for:` of the shipped
# rules and every Alertmanager wait is divided by 60. The 4-hour threshold is not
# scaled: the simulated PhishER holds one HIGH message reported just under 4 hours ago,
# so it crosses 4 hours while the test watches. Its crossing time is known, and the
# webhook records when the page arrives: that gap, times 60, is the delay at default
# settings (the fixed overheads, milliseconds here, are scaled up too: it errs long).

TIME_SCALE = 60
SCALED_POLL = "5s"
# How long before the crossing the exporter is started: enough for it to be ready.
CROSSING_LEAD_SECONDS = 25.0
PAGE_AFTER_SECONDS = 4 * 3600.0
# The account of an exporter configured by flags alone.
ACCOUNT_LABEL = "default"
OUTAGE_EVALUATIONS = 15  # 15 s: three of the pager's scaled group intervals
TIMELINE_TIMEOUT_SECONDS = 120.0
_DURATION_KEYS = re.compile(r"^(?P<key>\s+for:[ \t]*)(?P<value>\S+)[ \t]*$", re.MULTILINE)


def scaled_rules() -> str:
    """The shipped rules with every `for:` divided by TIME_SCALE (nothing else changed)."""
    text = RULES_PATH.read_text(encoding="utf-8")

    def scale(match: re.Match[str]) -> str:
        seconds = parse_duration(match.group("value")) / TIME_SCALE
        return f"{match.group('key')}{format_duration(seconds)}"

    scaled = _DURATION_KEYS.sub(scale, text)
    assert without_key(yaml.safe_load(scaled), "for") == without_key(yaml.safe_load(text), "for")
    return scaled


def scaled_alertmanager_config(receiver: WebhookReceiver) -> str:
    """The shipped config, webhooks at `receiver`, every route's waits divided by TIME_SCALE."""
    config = load_yaml(ALERTMANAGER_CONFIG_PATH)
    for entry in config["receivers"]:
        for webhook in entry["webhook_configs"]:
            webhook["url"] = receiver.url(f"/{entry['name']}")
    route = config["route"]
    defaults = {key: route[key] for key in ("group_wait", "group_interval", "repeat_interval")}
    for each in [route, *route["routes"]]:
        for key, default in defaults.items():
            seconds = parse_duration(str(each.get(key, default))) / TIME_SCALE
            each[key] = format_duration(seconds)
    return str(yaml.safe_dump(config, sort_keys=False))


def file_sd_prometheus_config(alertmanager: RunningServer) -> str:
    """The shipped scrape example, every second, its targets read from targets.json."""
    config = load_yaml(PROMETHEUS_CONFIG_PATH)
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    (job,) = config["scrape_configs"]
    del job["static_configs"]
    job.update(
        scrape_interval="1s",
        scrape_timeout="1s",
        file_sd_configs=[{"files": ["targets.json"], "refresh_interval": "1s"}],
    )
    target = alertmanager.url.removeprefix("http://")
    config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [target]}]}]
    return str(yaml.safe_dump(config, sort_keys=False))


def point_prometheus_at(directory: Path, exporter: RunningExporter) -> None:
    """A rollout, as service discovery sees one: the target list now holds the new pod."""
    temporary = directory / "targets.json.new"
    temporary.write_text(json.dumps([{"targets": [exporter.host_port]}]), encoding="utf-8")
    temporary.replace(directory / "targets.json")


def paging_org(reported_at: float) -> Org:
    base = generate_org(OrgSpec(users=20, seed=11, phisher_backlog=0), time.time())
    message = PhisherMessage(
        id="6f1c2a4e-0000-4000-8000-000000000001",
        subject="Urgent wire transfer",
        sender="ceo@fraud.example.net",
        reported_by=base.users[0].email,
        action_status="RECEIVED",
        category="THREAT",
        severity="HIGH",
        pipeline_status="PROCESSED",
        tags=(),
        confidence=(0.01, 0.0, 0.99),
        events=(PhisherEvent("created-1", base.users[0].email, "CREATED", int(reported_at)),),
    )
    return Org(now=base.now, account=base.account, users=base.users, phisher_messages=(message,))


def resolved(org: Org, at: float) -> Org:
    (message,) = org.phisher_messages
    return Org(
        now=org.now,
        account=org.account,
        users=org.users,
        phisher_messages=(dataclasses.replace(message, resolved_at=int(at)),),
    )


def exporter_args(simulator: SimulatorServer, directory: Path) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    tokens = {"reporting": simulator.token, "phisher": simulator.phisher_token}
    for name, token in tokens.items():
        path = directory / f"{name}.token"
        path.write_text(token, encoding="utf-8")
        path.chmod(0o600)
    return [
        "--kb4.base-url",
        simulator.base_url,
        "--kb4.api-token-file",
        str(directory / "reporting.token"),
        "--phisher.url",
        simulator.phisher_url,
        "--phisher.token-file",
        str(directory / "phisher.token"),
        "--state.dir",
        str(directory / "state"),
        "--refresh.phisher-unresolved-interval",
        SCALED_POLL,
    ]


def backlog_notifications(receiver: WebhookReceiver) -> list[tuple[float, dict[str, Any]]]:
    """(arrival, alert) of every backlog-page alert the pager received, in order."""
    return [
        (arrived, alert)
        for arrived, body in receiver.arrivals(f"/{PAGER}")
        for alert in body["alerts"]
        if alert["labels"]["alertname"] == PAGE_ALERT
    ]


def pager_got(receiver: WebhookReceiver, alertname: str, status: str) -> Callable[[Any], bool]:
    def check(bodies: list[Any]) -> bool:
        return any(
            alert["labels"]["alertname"] == alertname and alert["status"] == status
            for body in bodies
            for alert in body["alerts"]
        )

    return check


def until_prometheus_says(prometheus: RunningServer, promql: str, what: str) -> None:
    wait_until(lambda: True if query(prometheus, promql) else None, TIMELINE_TIMEOUT_SECONDS, what)


@pytest.mark.slow
def test_the_page_arrives_in_time_survives_outage_and_rollout_and_resolves_when_triaged(
    pytestconfig: pytest.Config,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    tools: PrometheusTools = require_prometheus_tools(pytestconfig)
    reported_at = time.time() - PAGE_AFTER_SECONDS + CROSSING_LEAD_SECONDS
    crossing = reported_at + PAGE_AFTER_SECONDS
    org = paging_org(reported_at)
    prometheus_dir = tmp_path / "prometheus"
    prometheus_dir.mkdir()
    with (
        SimulatorServer(org) as simulator,
        WebhookReceiver() as receiver,
        running_alertmanager(
            tools, tmp_path / "alertmanager", scaled_alertmanager_config(receiver)
        ) as alertmanager,
    ):
        args = exporter_args(simulator, tmp_path / "exporter")
        first = start_exporter(tmp_path / "exporter", *args)
        second: RunningExporter | None = None
        try:
            assert time.time() < crossing, "the exporter must be up before the message crosses"
            point_prometheus_at(prometheus_dir, first)
            rule_files = {"rules/kb4_exporter.rules.yml": scaled_rules()}
            with running_prometheus(
                tools, prometheus_dir, file_sd_prometheus_config(alertmanager), files=rule_files
            ) as prometheus:
                # 1. The message crosses 4 hours: the page, and how long it took.
                receiver.wait_for(
                    f"/{PAGER}",
                    pager_got(receiver, PAGE_ALERT, "firing"),
                    CROSSING_LEAD_SECONDS + TIMELINE_TIMEOUT_SECONDS,
                )
                (arrived, page), *_ = backlog_notifications(receiver)
                delay = arrived - crossing
                assert delay > 0, "paged before the message had waited 4 hours"
                at_defaults = delay * TIME_SCALE
                record_property("crossing_to_webhook_seconds_scaled", round(delay, 2))
                record_property("crossing_to_webhook_seconds_at_defaults", round(at_defaults))
                print(
                    f"message crosses 4 h -> page at the webhook: {delay:.2f} s at 1/"
                    f"{TIME_SCALE} time, so {at_defaults / 60:.1f} min at default settings "
                    f"(paged {PAGE_AFTER_SECONDS / 3600 + at_defaults / 3600:.2f} h after "
                    "the report)"
                )
                assert page["labels"]["account"] == ACCOUNT_LABEL
                # The default settings must page within 4 h 20 min of the report.
                assert at_defaults <= 20 * 60

                # 2. The exporter stops: losing the ability to page pages too, and the
                # backlog page does not resolve however long the outage lasts.
                stop_server(first.server)
                receiver.wait_for(
                    f"/{PAGER}",
                    pager_got(receiver, "Kb4ExporterDown", "firing"),
                    TIMELINE_TIMEOUT_SECONDS,
                )
                until_prometheus_says(
                    prometheus,
                    'count_over_time(ALERTS{alertname="Kb4ExporterDown",alertstate="firing"}'
                    f"[1m]) >= {OUTAGE_EVALUATIONS}",
                    "a long outage",
                )

                # 3. A rollout: a new process on another address, from the state the old
                # one saved. Kb4ExporterDown resolves; the backlog page does not move.
                second = start_exporter(tmp_path / "exporter", *args)
                assert second.host_port != first.host_port
                point_prometheus_at(prometheus_dir, second)
                receiver.wait_for(
                    f"/{PAGER}",
                    pager_got(receiver, "Kb4ExporterDown", "resolved"),
                    TIMELINE_TIMEOUT_SECONDS,
                )
                until_prometheus_says(
                    prometheus,
                    "count_over_time(kb4_phisher_oldest_unresolved_age_seconds"
                    f'{{instance="{second.host_port}"}}[1m]) >= {OUTAGE_EVALUATIONS}',
                    "the new exporter's signal, for three group intervals",
                )

                # 4. Someone resolves the message: now, and only now, the page resolves.
                resolved_at = time.time()
                simulator.set_org(resolved(org, resolved_at))
                receiver.wait_for(
                    f"/{PAGER}",
                    pager_got(receiver, PAGE_ALERT, "resolved"),
                    TIMELINE_TIMEOUT_SECONDS,
                )
        finally:
            for exporter in (first, second):
                if exporter is not None:
                    stop_server(exporter.server)

    notifications = backlog_notifications(receiver)
    before = [alert for arrived, alert in notifications if arrived < resolved_at]
    after = [alert for arrived, alert in notifications if arrived >= resolved_at]
    assert before and {alert["status"] for alert in before} == {"firing"}, (
        "no RESOLVED reached the pager while the backlog existed"
    )
    # One alert all along: the outage and the rollout did not start a new one.
    assert {alert["startsAt"] for alert in before} == {before[0]["startsAt"]}
    assert {alert["labels"]["job"] for alert in before} == {"kb4_exporter"}
    assert all("instance" not in alert["labels"] for alert in before)
    assert [alert["status"] for alert in after][-1:] == ["resolved"]
