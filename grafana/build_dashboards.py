"""Build the Grafana dashboards in grafana/dashboards/ from one description.

    python grafana/build_dashboards.py          # rewrite the JSON files
    python grafana/build_dashboards.py --check  # exit 1 if a JSON file is out of date

The JSON files are what Grafana provisions and what people import by hand; this script
is how they are edited. Generating them keeps every panel on the `datasource` template
variable, every query on `account=~"$account"`, and the KRI thresholds in one table
that must agree with deploy/prometheus/rules/kb4_exporter.rules.yml (the test suite
checks both).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Json = dict[str, Any]

DASHBOARD_DIR = Path(__file__).resolve().parent / "dashboards"
SCHEMA_VERSION = 39
GRID_WIDTH = 24
DATASOURCE: Json = {"type": "prometheus", "uid": "${datasource}"}
ACCOUNT = 'account=~"$account"'

KRI_DASHBOARD_UID = "kb4-kris"
HEALTH_DASHBOARD_UID = "kb4-exporter-health"

GREEN, YELLOW, ORANGE, RED = "green", "yellow", "orange", "red"


# --- KRIs: the one table of titles, units and alert thresholds ------------------------


@dataclass(frozen=True)
class Kri:
    metric: str
    slug: str
    title: str
    unit: str
    bad_when: Literal["above", "below"]
    alert_threshold: float
    description: str

    @property
    def is_count(self) -> bool:
        return self.unit == "short"

    def threshold_steps(self) -> list[Json]:
        """Colour steps that turn red exactly where the warning (or page) fires."""
        if self.bad_when == "below":
            return [step(RED, None), step(GREEN, self.alert_threshold)]
        # Counts are whole numbers: "> 0" first fires at 1.
        first_bad = self.alert_threshold + 1 if self.is_count else self.alert_threshold
        return [step(GREEN, None), step(RED, first_bad)]


KRIS: tuple[Kri, ...] = (
    Kri(
        "kb4_phishing_prone_ratio",
        "kb4_phishing_prone_pct",
        "Phish-prone percentage",
        "percentunit",
        "above",
        0.20,
        "Mean phish-prone percentage of active users. Warning above 20%.",
    ),
    Kri(
        "kb4_repeat_clickers_90d",
        "kb4_repeat_clickers_90d",
        "Repeat clickers (90 days)",
        "short",
        "above",
        5,
        "Users who clicked in two or more phishing tests started in the last 90 days. "
        "Warning above 5.",
    ),
    Kri(
        "kb4_training_completion_ratio",
        "kb4_training_completion_pct",
        "Training completion",
        "percentunit",
        "below",
        0.90,
        "Due training enrollments completed on time. Warning below 90%.",
    ),
    Kri(
        "kb4_overdue_training_assignments",
        "kb4_overdue_training_assignments",
        "Overdue training assignments",
        "short",
        "above",
        0,
        "Due enrollments not completed or passed. Warning above 0.",
    ),
    Kri(
        "kb4_remedial_training_compliance_ratio",
        "kb4_remedial_training_compliance_pct",
        "Remedial training compliance",
        "percentunit",
        "below",
        0.80,
        "Remedial enrollments completed or passed. Warning below 80%.",
    ),
    Kri(
        "kb4_high_risk_users",
        "kb4_high_risk_users",
        "High-risk users",
        "short",
        "above",
        100,
        "Top decile of active users by risk score. Warning above 100.",
    ),
    Kri(
        "kb4_phish_time_to_report_seconds",
        "kb4_phish_time_to_report_hours",
        "Median time to report a phish",
        "s",
        "above",
        3600,
        "Median delivery-to-report time over the phishing tests of the last 90 days. "
        "Warning above 1 hour.",
    ),
    Kri(
        "kb4_phisher_unresolved_high_4h",
        "kb4_phisher_unresolved_high_4h",
        "PhishER high/critical unresolved > 4h",
        "short",
        "above",
        0,
        "HIGH/CRITICAL PhishER messages reported 4 to 24 hours ago and still unresolved. "
        "Pages above 0.",
    ),
    Kri(
        "kb4_zero_training_activity_12m",
        "kb4_zero_training_activity_12m",
        "No training activity in 12 months",
        "short",
        "above",
        0,
        "Active users with no activity for a year. Warning above 0.",
    ),
    Kri(
        "kb4_department_ppp_delta_ratio",
        "kb4_department_ppp_delta_pct",
        "Phish-prone spread between groups",
        "percentunit",
        "above",
        0.15,
        "Most minus least phish-prone group. Warning above 15 percentage points.",
    ),
)

PHISHER_SEVERITY_COLOURS = {
    "CRITICAL": "dark-red",
    "HIGH": RED,
    "MEDIUM": ORANGE,
    "LOW": YELLOW,
    "UNKNOWN_SEVERITY": "text",
}


# --- JSON building blocks ---------------------------------------------------------------


def step(colour: str, value: float | None) -> Json:
    return {"color": colour, "value": value}


def thresholds(*steps: Json) -> Json:
    return {"mode": "absolute", "steps": list(steps)}


def target(expr: str, legend: str, ref_id: str = "A", *, instant: bool = False) -> Json:
    query: Json = {
        "datasource": DATASOURCE,
        "refId": ref_id,
        "expr": expr,
        "legendFormat": legend,
        "range": not instant,
        "instant": instant,
    }
    if instant:
        query["format"] = "time_series"
    return query


def value_map(mapping: dict[str, tuple[str, str]]) -> list[Json]:
    """Prometheus 0/1 gauges -> words and colours."""
    options = {
        value: {"text": text, "color": colour, "index": index}
        for index, (value, (text, colour)) in enumerate(mapping.items())
    }
    return [{"type": "value", "options": options}]


UP_DOWN = value_map({"0": ("down", RED), "1": ("up", GREEN)})


@dataclass
class Panel:
    """One visualisation; `to_json` places it on the grid."""

    kind: str
    title: str
    description: str
    targets: list[Json]
    width: int
    height: int
    unit: str = "short"
    steps: list[Json] = field(default_factory=lambda: [step(GREEN, None)])
    mappings: list[Json] = field(default_factory=list)
    custom: Json = field(default_factory=dict)
    options: Json = field(default_factory=dict)
    overrides: list[Json] = field(default_factory=list)
    decimals: int | None = None
    min_value: float | None = None
    max_value: float | None = None

    def to_json(self, panel_id: int, x: int, y: int) -> Json:
        defaults: Json = {
            "unit": self.unit,
            "thresholds": thresholds(*self.steps),
            "mappings": self.mappings,
            "color": {"mode": "thresholds"},
        }
        if self.custom:
            defaults["custom"] = self.custom
            defaults["color"] = {"mode": "palette-classic"}
        if self.decimals is not None:
            defaults["decimals"] = self.decimals
        if self.min_value is not None:
            defaults["min"] = self.min_value
        if self.max_value is not None:
            defaults["max"] = self.max_value
        return {
            "id": panel_id,
            "type": self.kind,
            "title": self.title,
            "description": self.description,
            "datasource": DATASOURCE,
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "targets": self.targets,
            "fieldConfig": {"defaults": defaults, "overrides": self.overrides},
            "options": self.options,
        }


@dataclass
class Row:
    title: str
    panels: list[Panel]


def stat(
    title: str,
    description: str,
    targets: list[Json],
    *,
    width: int = 4,
    height: int = 4,
    unit: str = "short",
    steps: list[Json] | None = None,
    mappings: list[Json] | None = None,
    text_mode: str = "auto",
    colour_mode: str = "background",
    graph: bool = True,
) -> Panel:
    return Panel(
        "stat",
        title,
        description,
        targets,
        width,
        height,
        unit=unit,
        steps=steps or [step(GREEN, None)],
        mappings=mappings or [],
        options={
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "orientation": "auto",
            "textMode": text_mode,
            "colorMode": colour_mode,
            "graphMode": "area" if graph else "none",
            "justifyMode": "auto",
        },
    )


def timeseries(
    title: str,
    description: str,
    targets: list[Json],
    *,
    width: int = 12,
    height: int = 8,
    unit: str = "short",
    steps: list[Json] | None = None,
    show_thresholds: bool = False,
    stacked: bool = False,
    bars: bool = False,
    overrides: list[Json] | None = None,
    min_value: float | None = None,
) -> Panel:
    custom: Json = {
        "drawStyle": "bars" if bars else "line",
        "lineWidth": 1,
        "fillOpacity": 80 if bars else 10,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": "normal" if stacked else "none", "group": "A"},
        "thresholdsStyle": {"mode": "dashed" if show_thresholds else "off"},
    }
    return Panel(
        "timeseries",
        title,
        description,
        targets,
        width,
        height,
        unit=unit,
        steps=steps or [step(GREEN, None)],
        custom=custom,
        overrides=overrides or [],
        min_value=min_value,
        options={
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    )


def bar_gauge(
    title: str,
    description: str,
    targets: list[Json],
    *,
    width: int = 12,
    height: int = 8,
    unit: str = "short",
    steps: list[Json] | None = None,
    min_value: float | None = 0,
    max_value: float | None = None,
) -> Panel:
    return Panel(
        "bargauge",
        title,
        description,
        targets,
        width,
        height,
        unit=unit,
        steps=steps or [step(GREEN, None)],
        min_value=min_value,
        max_value=max_value,
        options={
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "orientation": "horizontal",
            "displayMode": "gradient",
            "showUnfilled": True,
        },
    )


def state_timeline(
    title: str, description: str, targets: list[Json], mappings: list[Json], *, width: int = 12
) -> Panel:
    return Panel(
        "state-timeline",
        title,
        description,
        targets,
        width,
        8,
        steps=[step(GREEN, None)],
        mappings=mappings,
        custom={"fillOpacity": 80, "lineWidth": 0},
        options={
            "showValue": "never",
            "mergeValues": True,
            "rowHeight": 0.9,
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False},
            "tooltip": {"mode": "single", "sort": "none"},
        },
    )


def colour_override(series_name: str, colour: str) -> Json:
    return {
        "matcher": {"id": "byName", "options": series_name},
        "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}],
    }


# --- layout and dashboard envelope ----------------------------------------------------


def layout(rows: Sequence[Row]) -> list[Json]:
    """Place rows and their panels left to right, wrapping at the grid width."""
    placed: list[Json] = []
    ids = iter(range(1, 1000))
    y = 0
    for row in rows:
        placed.append(
            {
                "id": next(ids),
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
                "panels": [],
            }
        )
        y += 1
        x, line_height = 0, 0
        for panel in row.panels:
            if x + panel.width > GRID_WIDTH:
                x, y, line_height = 0, y + line_height, 0
            placed.append(panel.to_json(next(ids), x, y))
            x += panel.width
            line_height = max(line_height, panel.height)
        y += line_height
    return placed


def datasource_variable() -> Json:
    return {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "includeAll": False,
        "multi": False,
        "options": [],
        "refresh": 1,
        "regex": "",
    }


def account_variable() -> Json:
    query = "label_values(kb4_up, account)"
    return {
        "name": "account",
        "label": "Account",
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": {
            "qryType": 1,
            "query": query,
            "refId": "PrometheusVariableQueryEditor-VariableQuery",
        },
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "hide": 0,
        "options": [],
        "refresh": 2,
        "regex": "",
        "sort": 1,
    }


def dashboard_link(title: str, uid: str) -> Json:
    return {
        "title": title,
        "type": "link",
        "url": f"/d/{uid}",
        "icon": "dashboard",
        "includeVars": True,
        "keepTime": True,
        "targetBlank": False,
        "asDropdown": False,
        "tags": [],
        "tooltip": "",
    }


def dashboard(
    uid: str,
    title: str,
    description: str,
    rows: Sequence[Row],
    *,
    time_from: str,
    links: list[Json],
) -> Json:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["kb4_exporter", "knowbe4", "security-awareness"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "timezone": "browser",
        "refresh": "5m",
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "",
        "links": links,
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "templating": {"list": [datasource_variable(), account_variable()]},
        "panels": layout(rows),
    }


# --- the KRI dashboard ------------------------------------------------------------------


def kri_stat(kri: Kri) -> Panel:
    return stat(
        kri.title,
        kri.description,
        [target(f"{kri.metric}{{{ACCOUNT}}}", "{{account}}")],
        unit=kri.unit,
        steps=kri.threshold_steps(),
    )


def kri_trend(kri: Kri) -> Panel:
    return timeseries(
        kri.title,
        f"{kri.description} The dashed line is the alert threshold.",
        [target(f"{kri.metric}{{{ACCOUNT}}}", "{{account}}")],
        unit=kri.unit,
        steps=kri.threshold_steps(),
        show_thresholds=True,
        min_value=0,
    )


def kri_availability() -> Panel:
    return stat(
        "KRI availability",
        "1 when the KRI could be computed from the latest data; a KRI without input "
        "(no PhishER token, no samples) is absent, never a fake zero.",
        [target(f"kb4_kri_up{{{ACCOUNT}}}", "{{kri}}")],
        width=8,
        mappings=value_map({"0": ("absent", ORANGE), "1": ("ok", GREEN)}),
        text_mode="value_and_name",
        graph=False,
    )


def kri_rows() -> list[Row]:
    overview = [kri_stat(kri) for kri in KRIS] + [kri_availability()]
    trends = [kri_trend(kri) for kri in KRIS] + [
        timeseries(
            "KRI sample sizes",
            "Population or denominator behind each KRI: a jump here explains a jump in a ratio.",
            [target(f"kb4_kri_sample_size{{{ACCOUNT}}}", "{{account}} {{kri}}")],
            width=24,
        )
    ]
    groups = [
        bar_gauge(
            "Phish-prone percentage by group",
            "Mean phish-prone percentage of the active users in each KnowBe4 group, worst "
            "first. Needs the exporter's group breakdown (kb4_group_phishing_prone_ratio).",
            [
                target(
                    f"sort_desc(kb4_group_phishing_prone_ratio{{{ACCOUNT}}})",
                    "{{account}} {{group}}",
                    instant=True,
                )
            ],
            unit="percentunit",
            steps=KRIS[0].threshold_steps(),
            max_value=1,
        ),
        bar_gauge(
            "Active users by group",
            "Active users in each group (kb4_group_users): small groups swing the spread.",
            [
                target(
                    f"sort_desc(kb4_group_users{{{ACCOUNT}}})",
                    "{{account}} {{group}}",
                    instant=True,
                )
            ],
        ),
        timeseries(
            "Most phish-prone groups over time",
            "The ten most phish-prone groups at each point in time.",
            [
                target(
                    f"topk(10, kb4_group_phishing_prone_ratio{{{ACCOUNT}}})",
                    "{{account}} {{group}}",
                )
            ],
            unit="percentunit",
            steps=KRIS[0].threshold_steps(),
            show_thresholds=True,
            width=24,
            min_value=0,
        ),
    ]
    phisher = [
        timeseries(
            "PhishER unresolved messages by severity",
            "Messages reported in the PhishER look-back window that are still RECEIVED or "
            "IN_REVIEW.",
            [
                target(
                    f"sum by (severity) (kb4_phisher_unresolved_messages{{{ACCOUNT}}})",
                    "{{severity}}",
                )
            ],
            stacked=True,
            overrides=[colour_override(s, c) for s, c in PHISHER_SEVERITY_COLOURS.items()],
            min_value=0,
        ),
        bar_gauge(
            "PhishER unresolved now",
            "Unresolved messages by account and severity at the latest refresh.",
            [
                target(
                    f"kb4_phisher_unresolved_messages{{{ACCOUNT}}}",
                    "{{account}} {{severity}}",
                    instant=True,
                )
            ],
        ),
    ]
    account = [
        stat(
            "Licensed seats",
            "Seats from /v1/account.",
            [target(f"kb4_account_seats{{{ACCOUNT}}}", "{{account}}")],
            width=6,
            colour_mode="none",
        ),
        stat(
            "Organisation risk score",
            "KnowBe4's current risk score of the organisation.",
            [target(f"kb4_account_risk_score{{{ACCOUNT}}}", "{{account}}")],
            width=6,
            colour_mode="none",
            graph=True,
        ),
        stat(
            "Account",
            "Organisation name, subscription level and region of each account.",
            [
                target(
                    f"kb4_account_info{{{ACCOUNT}}}",
                    "{{name}} ({{subscription_level}}, {{region}})",
                )
            ],
            width=12,
            text_mode="name",
            colour_mode="none",
            graph=False,
        ),
    ]
    return [
        Row("Key risk indicators now", overview),
        Row("KRI trends", trends),
        Row("Groups", groups),
        Row("PhishER", phisher),
        Row("Account", account),
    ]


def kri_dashboard() -> Json:
    return dashboard(
        KRI_DASHBOARD_UID,
        "KnowBe4 security-awareness KRIs",
        "The ten KnowBe4 key risk indicators exported by kb4_exporter, with the default "
        "alert thresholds, trends, a per-group breakdown and the PhishER backlog.",
        kri_rows(),
        time_from="now-30d",
        links=[dashboard_link("kb4_exporter health", HEALTH_DASHBOARD_UID)],
    )


# --- the exporter-health dashboard ------------------------------------------------------

AGE = f"time() - (kb4_source_last_success_timestamp_seconds{{{ACCOUNT}}} > 0)"


def health_rows() -> list[Row]:
    status = [
        stat(
            "Prometheus scrape",
            'up{job="kb4_exporter"}: whether Prometheus can scrape each exporter. Not '
            "filtered by account: a down exporter exposes no account.",
            [target('up{job="kb4_exporter"}', "{{instance}}")],
            width=6,
            mappings=UP_DOWN,
            text_mode="value_and_name",
            graph=False,
        ),
        stat(
            "Latest refresh",
            "kb4_up: 1 when the latest refresh of every enabled source succeeded.",
            [target(f"kb4_up{{{ACCOUNT}}}", "{{account}}")],
            width=6,
            mappings=value_map({"0": ("failing", RED), "1": ("ok", GREEN)}),
            text_mode="value_and_name",
            graph=False,
        ),
        stat(
            "KRIs available",
            "How many of the ten KRIs each account can compute (kb4_kri_up).",
            [target(f"sum by (account) (kb4_kri_up{{{ACCOUNT}}})", "{{account}}")],
            width=6,
            colour_mode="value",
            text_mode="value_and_name",
            graph=False,
        ),
        stat(
            "Exporter version",
            "kb4_exporter_build_info of every exporter scraped.",
            [target("kb4_exporter_build_info", "{{version}}")],
            width=6,
            text_mode="name",
            colour_mode="none",
            graph=False,
        ),
    ]
    freshness = [
        state_timeline(
            "Source refresh status",
            "kb4_source_up per source: red while the latest refresh of a source failed "
            "(the exporter keeps serving its last good data).",
            [target(f"kb4_source_up{{{ACCOUNT}}}", "{{account}} {{source}}")],
            UP_DOWN,
        ),
        bar_gauge(
            "Data age in refresh intervals",
            "Time since the last successful refresh divided by the configured interval. "
            "Kb4SourceRefreshStale fires above 2.",
            [
                target(
                    f"({AGE}) / kb4_source_refresh_interval_seconds{{{ACCOUNT}}}",
                    "{{account}} {{source}}",
                    instant=True,
                )
            ],
            steps=[step(GREEN, None), step(YELLOW, 1.5), step(RED, 2)],
            max_value=3,
        ),
        timeseries(
            "Data age by source",
            "Seconds since the last successful refresh of each source.",
            [target(AGE, "{{account}} {{source}}")],
            unit="s",
            min_value=0,
        ),
        bar_gauge(
            "Time since last refresh attempt",
            "Seconds since the refresher last tried each source, successful or not.",
            [
                target(
                    f"time() - kb4_source_last_attempt_timestamp_seconds{{{ACCOUNT}}}",
                    "{{account}} {{source}}",
                    instant=True,
                )
            ],
            unit="s",
        ),
        timeseries(
            "Refresh duration by source",
            "Wall time of the latest refresh of each source, paced by the API limiter.",
            [
                target(
                    f"kb4_source_refresh_duration_seconds{{{ACCOUNT}}}",
                    "{{account}} {{source}}",
                )
            ],
            unit="s",
            width=24,
            min_value=0,
        ),
    ]
    api = [
        timeseries(
            "API budget: limit and remaining",
            "Daily request budget and what is left of it in the rolling 24 h window, from "
            "the exporter's own request ledger (KnowBe4 sends no rate-limit headers).",
            [
                target(
                    f"kb4_api_budget_remaining{{{ACCOUNT}}}",
                    "{{account}} {{api}} remaining",
                ),
                target(
                    f"kb4_api_budget_limit{{{ACCOUNT}}}",
                    "{{account}} {{api}} limit",
                    "B",
                ),
            ],
            min_value=0,
        ),
        bar_gauge(
            "API budget left",
            "Remaining / limit. Kb4ApiBudgetNearlyExhausted fires below 10%.",
            [
                target(
                    f"kb4_api_budget_remaining{{{ACCOUNT}}}"
                    f" / (kb4_api_budget_limit{{{ACCOUNT}}} > 0)",
                    "{{account}} {{api}}",
                    instant=True,
                )
            ],
            unit="percentunit",
            steps=[step(RED, None), step(YELLOW, 0.1), step(GREEN, 0.25)],
            max_value=1,
        ),
        timeseries(
            "API requests by status code",
            "Requests to KnowBe4 per interval by API and HTTP status (or timeout / connection).",
            [
                target(
                    "sum by (api, code) "
                    f"(increase(kb4_api_requests_total{{{ACCOUNT}}}[$__rate_interval]))",
                    "{{api}} {{code}}",
                )
            ],
            bars=True,
            min_value=0,
        ),
        timeseries(
            "Throttled requests (HTTP 429)",
            "Requests KnowBe4 answered with 429 per interval. Any at all means the pacing "
            "limits are above what the account allows.",
            [
                target(
                    "sum by (account, api) "
                    f"(increase(kb4_api_throttled_total{{{ACCOUNT}}}[$__rate_interval]))",
                    "{{account}} {{api}}",
                )
            ],
            bars=True,
            min_value=0,
        ),
    ]
    errors = [
        timeseries(
            "Refresh errors by reason",
            "Failed refreshes per interval by reason (auth, forbidden, not_found, "
            "rate_limited, server_error, timeout, connection, bad_response, "
            "budget_exhausted).",
            [
                target(
                    "sum by (reason) "
                    f"(increase(kb4_refresh_errors_total{{{ACCOUNT}}}[$__rate_interval]))",
                    "{{reason}}",
                )
            ],
            bars=True,
            min_value=0,
        ),
        bar_gauge(
            "Refresh errors in the time range",
            "Failed refreshes over the selected time range by source and reason.",
            [
                target(
                    "sum by (source, reason) "
                    f"(increase(kb4_refresh_errors_total{{{ACCOUNT}}}[$__range]))",
                    "{{source}} {{reason}}",
                    instant=True,
                )
            ],
            steps=[step(GREEN, None), step(RED, 1)],
        ),
        state_timeline(
            "Truncated fetches",
            "kb4_truncated per source: a page cap or the API budget cut the fetch short, so "
            "KRIs built on that source use partial data.",
            [target(f"kb4_truncated{{{ACCOUNT}}}", "{{account}} {{source}}")],
            value_map({"0": ("complete", GREEN), "1": ("truncated", ORANGE)}),
            width=24,
        ),
    ]
    return [
        Row("Status", status),
        Row("Freshness", freshness),
        Row("KnowBe4 API", api),
        Row("Errors and truncation", errors),
    ]


def health_dashboard() -> Json:
    return dashboard(
        HEALTH_DASHBOARD_UID,
        "kb4_exporter health",
        "Is kb4_exporter's data fresh and complete: refresh status and age per source, "
        "refresh duration, KnowBe4 API budget, throttling, errors and truncation.",
        health_rows(),
        time_from="now-24h",
        links=[dashboard_link("KnowBe4 KRIs", KRI_DASHBOARD_UID)],
    )


# --- files --------------------------------------------------------------------------------


def rendered_dashboards() -> Iterator[tuple[Path, str]]:
    for name, board in (
        ("kb4-kris.json", kri_dashboard()),
        ("kb4-exporter-health.json", health_dashboard()),
    ):
        yield DASHBOARD_DIR / name, json.dumps(board, indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="fail if a dashboard file is out of date"
    )
    args = parser.parse_args(argv)
    stale = []
    for path, text in rendered_dashboards():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(
            f"out of date: {', '.join(stale)}; run python grafana/build_dashboards.py",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
