"""Build kb4_exporter's Prometheus alert rules from one description.

    python deploy/prometheus/build_rules.py          # rewrite the rule files
    python deploy/prometheus/build_rules.py --check  # exit 1 if one is out of date

Writes deploy/prometheus/rules/kb4_exporter.rules.yml and the same groups as a
PrometheusRule in deploy/kubernetes/prometheusrule.yaml. The page threshold and the
runbook URL (deploy/monitoring.yml) and the KRI thresholds come from deploy/monitoring.py,
which grafana/build_dashboards.py reads too.

Every alert carries `job` and `account` (and `source`, `api` or `object` where the
metric has one), never `instance` or `pod`: a rollout that changes the exporter's
address must neither resolve an alert nor open a second one.

Every alert on the exporter's series *holds*: while Prometheus cannot scrape the
exporter (or, for the page, while the exporter has not read PhishER since it started
without a state file, or its listing was cut short), the series are gone and the
alert's own expression returns nothing; the alert then keeps firing if it fired before
(`ALERTS{alertstate="firing"}` of itself) instead of resolving. Nothing resolves until
the exporter is back and says so (or, every target of the job up, reports the account
no more: it was removed); Kb4ExporterDown pages meanwhile, and inhibits the warnings.

The PhishER alerts read the last value over failed scrapes (SCRAPE_GAP): scrapes that
fail now and then, too briefly for Kb4ExporterDown, must neither keep the page pending
forever nor hide a blind poll.
"""

from __future__ import annotations

import re
import sys
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

# deploy/monitoring.py, shared with grafana/build_dashboards.py.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import monitoring
from monitoring import (
    API_BUDGET_LOW,
    PAGED_SEVERITIES,
    ROOT,
    STALE_AFTER_INTERVALS,
    Settings,
    load_settings,
    percent,
)

from kb4_exporter.config.durations import format_duration
from kb4_exporter.refresh.results import PHISHER_UNRESOLVED_SOURCE

RULES_PATH = ROOT / "deploy" / "prometheus" / "rules" / "kb4_exporter.rules.yml"
PROMETHEUS_RULE_PATH = ROOT / "deploy" / "kubernetes" / "prometheusrule.yaml"
RUNBOOK = "docs/runbook.md"
JOB = "kb4_exporter"
WIDTH = 88
NBSP = "\u00a0"

UNRESOLVED = f'source="{PHISHER_UNRESOLVED_SOURCE}"'
# Reports the account but cannot show every unresolved message: it has not read PhishER
# yet (restarted without its state), or its listing was cut short (newest first, so the
# oldest reports, the ones that page, are the ones missing). A missing age must not end
# the page then.
PHISHER_UNKNOWN = (
    f"kb4_source_up{{{UNRESOLVED}}}\n"
    f"unless on (job, account)\n  kb4_source_last_success_timestamp_seconds{{{UNRESOLVED}}}\n"
    f"or\nkb4_truncated{{{UNRESOLVED}}} == 1"
)
# A failed scrape marks every series of the exporter stale at once: an alert reads the
# last value within this window instead, so that a scrape failing now and then (never
# long enough for Kb4ExporterDown) neither resets a pending alert nor hides a failure.
SCRAPE_GAP = "10m"


def last_value(selector: str) -> str:
    return block("last_over_time", f"{selector}[{SCRAPE_GAP}]")


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    severity: str
    category: str
    summary: str
    description: str
    # Labels the alert carries besides `job` and `account`.
    by: tuple[str, ...] = ()
    for_: str | None = None
    # Whether the alert holds while its job's exporter cannot tell (see held()).
    held: bool = True
    # Also holds while the exporter reports the account but this is true of it.
    held_while: str | None = None
    comment: str = ""

    @property
    def identity(self) -> str:
        return ", ".join(("job", "account", *self.by))


@dataclass(frozen=True)
class Group:
    name: str
    comment: str
    alerts: tuple[Alert, ...]


def block(head: str, inner: str) -> str:
    """`head (` inner `)` over several lines, so that no line outgrows the YAML's width."""
    return f"{head}(\n{textwrap.indent(inner, '  ')}\n)"


def by_account(expr: str, extra: Sequence[str] = ()) -> str:
    """`max by (job, account, ...)` of `expr`: one series per alert, no instance."""
    return block(f"max by ({', '.join(('job', 'account', *extra))}) ", expr)


def held(alert: Alert) -> str:
    """The alert's expression, or its own firing state while the exporter cannot tell:
    no exporter reports the account (kb4_up) and some target of its job is not up (down,
    or gone from service discovery). Once every target of the job is up, an account none
    of them reports has been removed, and its alerts resolve."""
    if not alert.held:
        return alert.expr
    firing = f'ALERTS{{alertname="{alert.name}", alertstate="firing"}}'
    kept = block(f"max by ({alert.identity}) ", firing)
    unreported = (
        f"{kept}\nunless on (job, account)\n  kb4_up\nunless on (job)\n  (min by (job) (up) == 1)"
    )
    halves = [block("", alert.expr), block("", unreported)]
    if alert.held_while is not None:
        halves.append(block("", f"{kept}\nand on (job, account)\n{block('', alert.held_while)}"))
    return "\nor\n".join(halves)


# --- the alerts ---------------------------------------------------------------------------


def paging(settings: Settings) -> Group:
    after = format_duration(settings.page_after)
    age = f"kb4_phisher_oldest_unresolved_age_seconds{{{PAGED_SEVERITIES}}}"
    threshold = f"> {settings.page_after:g}"
    return Group(
        "kb4_exporter_paging",
        "severity=critical pages a human now; all of these route like the backlog page.",
        (
            Alert(
                "Kb4PhisherHighSeverityBacklog",
                # Read as it is while the exporter reports the account, so the page
                # resolves at the poll that no longer sees the message; its last value
                # bridges the scrapes that failed.
                f"{by_account(age)}\n{threshold}\nor\n"
                + block(
                    "",
                    f"{by_account(last_value(age))}\n{threshold}\n"
                    "unless on (job, account)\n  kb4_up",
                ),
                "critical",
                "phisher",
                f"A HIGH/CRITICAL PhishER message has waited over {after} in account "
                "{{ $labels.account }}",
                "At least one PhishER message of severity HIGH or CRITICAL has been RECEIVED "
                f"or IN_REVIEW for more than {after} since it was reported. Reported phishing "
                "that nobody has triaged may still be sitting in other inboxes. The page "
                "stays until the exporter sees no such message; while it cannot tell "
                "(down, restarted without its state, or its listing cut short), it keeps firing.",
                # The age is exported once per poll: one poll interval (5m) shows that the
                # message was still open at two polls in a row.
                for_="5m",
                held_while=PHISHER_UNKNOWN,
                comment=f"The page: a HIGH/CRITICAL message unresolved for {after} (deploy/"
                "monitoring.yml), however long ago it was reported (within the exporter's "
                "--phisher.unresolved-horizon, 30d by default).",
            ),
            Alert(
                "Kb4PhisherPagingBlind",
                by_account(
                    f"{last_value(f'kb4_source_up{{{UNRESOLVED}}}')} == 0\n"
                    f"or\n{last_value(f'kb4_truncated{{{UNRESOLVED}}}')} == 1\n"
                    "or\n"
                    + block(
                        "",
                        "time()\n- "
                        + last_value(f"kb4_source_last_success_timestamp_seconds{{{UNRESOLVED}}}")
                        + f"\n> {STALE_AFTER_INTERVALS} * "
                        + last_value(f"kb4_source_refresh_interval_seconds{{{UNRESOLVED}}}"),
                    )
                ),
                "critical",
                "phisher",
                "The PhishER page cannot fire in account {{ $labels.account }}: its source "
                "is failing, stale or cut short",
                "The exporter's poll of the unresolved PhishER messages (source "
                f"{PHISHER_UNRESOLVED_SOURCE}) keeps failing, has not succeeded for twice its "
                "interval, or could not list every message: a HIGH/CRITICAL report may be "
                "waiting without paging. kb4_refresh_errors_total tells why.",
                # Two poll intervals: the poll and the retry 5 minutes later both failed.
                for_="10m",
                comment="Losing the ability to page pages too: the source behind the page "
                "fails, goes stale or was cut short.",
            ),
            Alert(
                "Kb4ExporterDown",
                f'min by (job) (up{{job="{JOB}"}}) == 0\nor\nabsent(up{{job="{JOB}"}})',
                "critical",
                "exporter",
                "Prometheus cannot scrape kb4_exporter (job {{ $labels.job }})",
                f"A target of job {JOB} has failed every scrape for 5 minutes, or no such "
                "target exists. Nothing the exporter watches can alert while it lasts, the "
                "PhishER page included; alerts that were firing keep firing, and the "
                "warnings of the job are inhibited until it is back.",
                # One poll interval of the paging signal: a shorter gap loses no poll.
                for_="5m",
                held=False,
                comment="Losing the ability to page pages too: Prometheus cannot scrape the "
                "exporter, or the target is gone. Labels: job only (up has no account).",
            ),
            Alert(
                "Kb4Watchdog",
                "vector(1)",
                "none",
                "watchdog",
                "The kb4_exporter alerting pipeline is alive",
                "Always firing. Alertmanager sends it to a dead man's switch "
                "(kb4-deadmansswitch), which must alarm when it stops arriving: then "
                "Prometheus, its rules or Alertmanager are down and nothing can page.",
                held=False,
                comment="A dead man's switch: always firing.",
            ),
        ),
    )


def kri_expr(warning: monitoring.KriWarning) -> str:
    # The last value within 10 minutes: a restart or rollout that hides the series for a
    # few scrapes neither resets a pending alert nor resolves a firing one.
    value = by_account(f"last_over_time({warning.metric}[10m])")
    if warning.per is not None:
        population = block("", f"{by_account(f'last_over_time({warning.per}[10m])')}\n> 0")
        value = block("", f"{value}\n/\n{population}")
    return f"{value}\n{warning.comparison} {warning.threshold:g}"


# Each KRI warning's summary (the builder appends "(threshold ...)") and description, whose
# {threshold} and {points} are filled in from deploy/monitoring.py.
KRI_ALERT_TEXTS: dict[str, tuple[str, str]] = {
    "Kb4PhishingProneRatioHigh": (
        "Phish-prone percentage is {{ $value | humanizePercentage }} in account "
        "{{ $labels.account }}",
        "The mean phish-prone percentage of active users is above {threshold}: roughly one "
        "in five simulated phishing e-mails gets a failing action.",
    ),
    "Kb4RepeatClickersHigh": (
        "Repeat clickers are {{ $value | humanizePercentage }} of active users in account "
        "{{ $labels.account }}",
        "More than {threshold} of active users clicked in two or more phishing security "
        "tests started in the last 90 days.",
    ),
    "Kb4TrainingCompletionLow": (
        "Training completion is {{ $value | humanizePercentage }} in account {{ $labels.account }}",
        "Fewer than {threshold} of the training enrollments that are due were completed on time.",
    ),
    "Kb4OverdueTrainingAssignments": (
        "{{ $value | humanizePercentage }} of due training assignments are overdue in "
        "account {{ $labels.account }}",
        "More than {threshold} of the training enrollments that are due are neither "
        "completed nor passed.",
    ),
    "Kb4RemedialTrainingComplianceLow": (
        "Remedial training compliance is {{ $value | humanizePercentage }} in account "
        "{{ $labels.account }}",
        "Fewer than {threshold} of the remedial training enrollments (campaigns matching the "
        "remedial pattern) are completed or passed.",
    ),
    "Kb4PhishTimeToReportSlow": (
        "Median time to report a simulated phish is {{ $value | humanizeDuration }} in "
        "account {{ $labels.account }}",
        "Over the phishing security tests of the last 90 days, the median time from delivery "
        "to report is above one hour.",
    ),
    "Kb4ZeroTrainingActivity": (
        "{{ $value | humanizePercentage }} of active users had no training activity in 12 "
        "months in account {{ $labels.account }}",
        "More than {threshold} of active users have not signed in or trained for a year, "
        "which breaks an annual security-awareness training requirement.",
    ),
    "Kb4DepartmentPhishProneSpreadHigh": (
        "Phish-prone percentage differs by {{ $value | humanizePercentage }} between groups "
        "in account {{ $labels.account }}",
        "The gap between the most and the least phish-prone group is above {points} "
        "percentage points: one department lags well behind the rest.",
    ),
}


def kri_alert(warning: monitoring.KriWarning) -> Alert:
    summary, description = KRI_ALERT_TEXTS[warning.name]
    quoted = warning.quoted()
    return Alert(
        warning.name,
        kri_expr(warning),
        "warning",
        "kri",
        f"{summary} (threshold {quoted['threshold']})",
        description.format(**quoted),
        # KRIs change only when their refresh publishes (daily): there is no scrape noise
        # to smooth. An hour is far below the refresh interval, so a breach opens its
        # ticket on the day it appears.
        for_="1h",
    )


def inventory_change() -> Alert:
    def change(metric: str, extra: Sequence[str]) -> str:
        now = by_account(metric, extra)
        day_ago = by_account(f"{metric} offset 1d", extra)
        delta = block("", f"{now}\n-\n{day_ago}")
        limit = block("clamp_min", f"0.2 * {day_ago},\n9")
        return block("", f"{delta}\nand\n{block('abs', delta)}\n> {limit}")

    truncated = block("", f"{by_account('max_over_time(kb4_truncated[25h])')}\n== 1")
    users = change('kb4_users{status="active"}', ())
    objects = change("kb4_inventory_objects", ("object",))
    return Alert(
        "Kb4InventorySuddenChange",
        block("", f"{users}\nor\n{objects}") + f"\nunless on (job, account)\n{truncated}",
        "warning",
        "kri",
        "{{ with $labels.object }}{{ . }}{{ else }}Active users{{ end }} changed by "
        '{{ printf "%+.0f" $value }} in a day in account {{ $labels.account }} (threshold 20%)',
        "{{ with $labels.object }}The number of {{ . }}{{ else }}The number of active "
        'users{{ end }} changed by {{ printf "%+.0f" $value }} since the same time '
        "yesterday, more than 20% (and at least 10) of yesterday's count: a user sync gone "
        "wrong, a bulk archive or deletion, or a change someone should know about.",
        by=("object",),
        for_="1h",
        comment="Active users or an object count moved by more than 20% (and by at least 10, "
        "so small counts such as policies do not trip it) against one day earlier. Counts "
        "are taken per job and account, so a rollout (new instance) still has yesterday to "
        "compare with. No value a day ago (a new account, a new object type) means nothing "
        "to compare: quiet. Accounts with a truncated fetch in the last 25 hours are left "
        "out: a cut-short listing is not a change, and Kb4DataTruncated reports it. The "
        "value is the signed change.",
    )


def kri_group() -> Group:
    alerts = [kri_alert(w) for w in monitoring.KRI_WARNINGS]
    return Group(
        "kb4_exporter_kris",
        "Tickets on the account's own data: the KRIs (counts as a share of their "
        "population, so that a healthy organisation does not breach them forever) and "
        "sudden inventory changes. No alert on kb4_high_risk_users (always 10% of the "
        "scored users) or kb4_phisher_unresolved_high_4h (the page covers it). A KRI whose "
        "input is unavailable is absent, and a comparison with an absent series returns "
        "nothing: no KRI alert fires on missing data.",
        (*alerts, inventory_change()),
    )


def health_group() -> Group:
    not_paging = f'source!="{PHISHER_UNRESOLVED_SOURCE}"'
    return Group(
        "kb4_exporter_health",
        "Tickets about the exporter's own data: freshness, failures, budget, truncation, "
        f"tokens. The {PHISHER_UNRESOLVED_SOURCE} source is Kb4PhisherPagingBlind's.",
        (
            Alert(
                "Kb4SourceRefreshStale",
                by_account(
                    f"time() - kb4_source_last_success_timestamp_seconds{{{not_paging}}}\n"
                    f"> {STALE_AFTER_INTERVALS} * "
                    f"kb4_source_refresh_interval_seconds{{{not_paging}}}\n"
                    f"and kb4_source_last_success_timestamp_seconds{{{not_paging}}} > 0",
                    ("source",),
                ),
                "warning",
                "freshness",
                "KnowBe4 source {{ $labels.source }} of account {{ $labels.account }} has not "
                "refreshed for over two intervals",
                "The last successful refresh of {{ $labels.source }} is older than twice its "
                "configured refresh interval; dashboards and KRIs show old data.",
                by=("source",),
                for_="15m",
                comment="Sources that never succeeded expose no timestamp; Kb4SourceDown "
                "covers them.",
            ),
            Alert(
                "Kb4SourceDown",
                by_account(f"kb4_source_up{{{not_paging}}} == 0", ("source",)),
                "warning",
                "freshness",
                "The latest refresh of KnowBe4 source {{ $labels.source }} failed in account "
                "{{ $labels.account }}",
                "The exporter keeps serving the last good data of {{ $labels.source }}; "
                "kb4_refresh_errors_total tells why the refresh failed.",
                by=("source",),
                # A failed refresh is retried after 5 and 15 minutes (back-off doubling
                # from 5m): 30 minutes is the failure and its first two retries.
                for_="30m",
            ),
            Alert(
                "Kb4ApiBudgetNearlyExhausted",
                by_account("kb4_api_budget_remaining / (kb4_api_budget_limit > 0)", ("api",))
                + f"\n< {API_BUDGET_LOW:g}",
                "warning",
                "exporter",
                f"Less than {percent(API_BUDGET_LOW)} of the daily "
                "{{ $labels.api }} API budget is left in account "
                "{{ $labels.account }}",
                "Only {{ $value | humanizePercentage }} of the rolling 24-hour request budget "
                "is left. Further refreshes will stop early and flag truncation.",
                by=("api",),
                for_="15m",
            ),
            Alert(
                "Kb4DataTruncated",
                by_account(f"kb4_truncated{{{not_paging}}} == 1", ("source",)),
                "warning",
                "freshness",
                "The fetch of {{ $labels.source }} was cut short in account {{ $labels.account }}",
                "A page cap or the API budget stopped the latest fetch of {{ $labels.source }} "
                "early; the KRIs built on it keep their last complete values.",
                by=("source",),
                for_="5m",
            ),
            Alert(
                "Kb4ApiAuthFailures",
                by_account(
                    'increase(kb4_refresh_errors_total{reason=~"auth|forbidden"}[1h])',
                    ("source", "reason"),
                )
                + "\n> 0",
                "warning",
                "exporter",
                "KnowBe4 rejected the API token ({{ $labels.reason }}) for {{ $labels.source }} "
                "in account {{ $labels.account }}",
                "Refreshes of {{ $labels.source }} failed with {{ $labels.reason }} in the last "
                "hour: the token is wrong, expired or revoked, or API access is not enabled "
                "for it.",
                by=("source", "reason"),
            ),
        ),
    )


def groups(settings: Settings) -> tuple[Group, ...]:
    return (paging(settings), kri_group(), health_group())


# --- rendering ----------------------------------------------------------------------------


def anchor(name: str) -> str:
    return name.lower()


def runbook_annotation(settings: Settings, name: str) -> tuple[str, str]:
    if settings.runbook_url:
        return "runbook_url", f"{settings.runbook_url}#{anchor(name)}"
    return "runbook", f"{RUNBOOK}#{anchor(name)}"


def _comment(text: str, indent: str) -> Iterator[str]:
    for line in textwrap.wrap(text, WIDTH - len(indent) - 2):
        yield f"{indent}# {line}"


def _folded(key: str, text: str, indent: str) -> Iterator[str]:
    """A folded scalar, never broken inside a `{{ template }}`."""
    glued = re.sub(r"\{\{.*?\}\}", lambda m: m.group().replace(" ", NBSP), text)
    yield f"{indent}{key}: >-"
    for line in textwrap.wrap(glued, WIDTH - len(indent) - 2, break_on_hyphens=False):
        yield f"{indent}  {line.replace(NBSP, ' ')}"


def render_groups(settings: Settings) -> str:
    lines: list[str] = ["groups:"]
    for group in groups(settings):
        lines += _comment(group.comment, "  ")
        lines += [f"  - name: {group.name}", "    rules:"]
        for alert in group.alerts:
            if alert.comment:
                lines += _comment(alert.comment, "      ")
            lines.append(f"      - alert: {alert.name}")
            lines.append("        expr: |-")
            lines += [f"          {line}" for line in held(alert).splitlines()]
            if alert.for_:
                lines.append(f"        for: {alert.for_}")
            lines += [
                "        labels:",
                f"          severity: {alert.severity}",
                f"          category: {alert.category}",
                "        annotations:",
            ]
            lines += _folded("summary", alert.summary, "          ")
            lines += _folded("description", alert.description, "          ")
            key, value = runbook_annotation(settings, alert.name)
            lines.append(f"          {key}: {value}")
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


HEADER = """\
# Alert rules for kb4_exporter. Generated by deploy/prometheus/build_rules.py from the
# settings in deploy/monitoring.yml: do not edit by hand; change the script or the
# settings and run `.venv/bin/python deploy/prometheus/build_rules.py`.
#
# Labels every alert carries:
#   severity  critical = page a human now; warning = a ticket or chat message;
#             none = the Watchdog, for a dead man's switch.
#   category  phisher | kri | freshness | exporter | watchdog.
# Identity: job and account (and source, api, object where the metric has one), never
# instance or pod, so a rollout neither resolves an alert nor opens a second one.
# While Prometheus cannot scrape the exporter, every alert on its series keeps firing if
# it fired (the `or ... ALERTS{...}` halves of each expression) instead of resolving;
# Kb4ExporterDown pages, and Alertmanager inhibits the warnings of that job meanwhile
# (deploy/alertmanager/alertmanager.yml). docs/runbook.md explains each alert.
"""

KUBERNETES_HEADER = """\
# Generated by deploy/prometheus/build_rules.py from the same description as
# deploy/prometheus/rules/kb4_exporter.rules.yml: do not edit by hand.
# Your Prometheus resource must select it (see its ruleSelector).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: kb4-exporter
  labels:
    app.kubernetes.io/name: kb4-exporter
    app.kubernetes.io/component: exporter
spec:
"""


def rendered_files(settings: Settings) -> Iterator[tuple[Path, str]]:
    body = render_groups(settings)
    yield RULES_PATH, HEADER + body
    indented = "\n".join(f"  {line}" if line else "" for line in body.splitlines())
    yield PROMETHEUS_RULE_PATH, KUBERNETES_HEADER + indented + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    return monitoring.build(__file__, __doc__, lambda: rendered_files(load_settings()), argv)


if __name__ == "__main__":
    sys.exit(main())
