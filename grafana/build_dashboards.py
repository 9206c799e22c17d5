"""Build the Grafana dashboards in grafana/dashboards/ from one description.

    python grafana/build_dashboards.py          # rewrite the JSON files
    python grafana/build_dashboards.py --check  # exit 1 if a JSON file is out of date

The JSON files are what Grafana provisions and what people import by hand; this script
is how they are edited. Generating them keeps every panel on the `datasource` template
variable and every query on `account=~"$account"`. The KRI thresholds, the page threshold
and the runbook URL come from deploy/monitoring.py (which reads deploy/monitoring.yml), as
for the alert rules: a panel turns red where its alert fires.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# deploy/monitoring.py, shared with deploy/prometheus/build_rules.py.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "deploy"))

import monitoring
from monitoring import (
    API_BUDGET_LOW,
    PAGED_SEVERITIES,
    ROOT,
    STALE_AFTER_INTERVALS,
    KriWarning,
    Settings,
    load_settings,
    percent,
)

from kb4_exporter.config.durations import format_duration
from kb4_exporter.config.settings import DEFAULT_UNRESOLVED_INTERVAL_SECONDS
from kb4_exporter.refresh.results import PHISHER_UNRESOLVED_SOURCE

Json = dict[str, Any]

DASHBOARD_DIR = ROOT / "grafana" / "dashboards"
SCHEMA_VERSION = 39
GRID_WIDTH = 24
DATASOURCE: Json = {"type": "prometheus", "uid": "${datasource}"}
ACCOUNT = 'account=~"$account"'
# Alerts without an account (Kb4ExporterDown, Kb4Watchdog) belong to every account.
ACCOUNT_OR_NONE = 'account=~"$account|"'
RUNBOOK_VARIABLE = "runbook_url"

KRI_DASHBOARD_UID = "kb4-kris"
HEALTH_DASHBOARD_UID = "kb4-exporter-health"

GREEN, YELLOW, ORANGE, RED = "green", "yellow", "orange", "red"


SETTINGS: Settings = load_settings()
PAGE = "Kb4PhisherHighSeverityBacklog"
HIGH_AGE = f"kb4_phisher_oldest_unresolved_age_seconds{{{ACCOUNT}, {PAGED_SEVERITIES}}}"


def runbook_link(anchor: str, title: str) -> Json:
    """A panel link to a section of docs/runbook.md, wherever the dashboard's `runbook_url`
    variable says it is published."""
    return {
        "title": f"Runbook: {title}",
        "url": f"${{{RUNBOOK_VARIABLE}}}#{anchor}",
        "targetBlank": True,
    }


# --- KRIs: the one table of titles and units (thresholds: deploy/monitoring.py) -------


@dataclass(frozen=True)
class Kri:
    metric: str
    slug: str
    title: str
    unit: str
    # {threshold} and {points} are filled in from the KRI's warning.
    about: str
    # For a count warned on as a share: what the share is of, for the panel title.
    per_title: str = ""
    # The runbook section of a KRI without a warning.
    section: str = ""

    @property
    def warning(self) -> KriWarning | None:
        return monitoring.kri_warning(self.metric)

    @property
    def description(self) -> str:
        warning = self.warning
        return self.about.format(**warning.quoted()) if warning else self.about

    @property
    def population(self) -> str | None:
        """The selected accounts' population a count's warning divides it by."""
        warning = self.warning
        if warning is None or warning.per is None:
            return None
        return warning.per.replace("{", f"{{{ACCOUNT}, ", 1)

    @property
    def is_count(self) -> bool:
        return self.unit == "short"

    @property
    def runbook_anchor(self) -> str:
        return self.warning.name.lower() if self.warning else self.section

    def links(self) -> list[Json]:
        return [
            runbook_link(self.runbook_anchor, self.warning.name if self.warning else self.title)
        ]

    def threshold_steps(self) -> list[Json]:
        """Colour steps that turn red exactly where the warning fires (none: no warning,
        or a warning on the share, not on the value shown)."""
        warning = self.warning
        if warning is None or warning.per is not None:
            return [step("blue", None)]
        return ratio_steps(warning.bad_when, warning.threshold, count=self.is_count)


def any_is_red() -> list[Json]:
    """For counts that should be zero (overdue enrollments, errors): red from 1."""
    return [step(GREEN, None), step(RED, 1)]


def ratio_steps(bad_when: str, threshold: float, *, count: bool = False) -> list[Json]:
    if bad_when == "below":
        return [step(RED, None), step(GREEN, threshold)]
    # Counts are whole numbers: "> 0" first fires at 1.
    return [step(GREEN, None), step(RED, threshold + 1 if count else threshold)]


KRIS: tuple[Kri, ...] = (
    Kri(
        "kb4_phishing_prone_ratio",
        "kb4_phishing_prone_pct",
        "Phish-prone percentage",
        "percentunit",
        "Mean phish-prone percentage of active users. Warning above {threshold}.",
    ),
    Kri(
        "kb4_repeat_clickers_90d",
        "kb4_repeat_clickers_90d",
        "Repeat clickers (90 days)",
        "short",
        "Users who clicked in two or more phishing tests started in the last 90 days. "
        "Warning above {threshold} of active users.",
        per_title="of active users",
    ),
    Kri(
        "kb4_training_completion_ratio",
        "kb4_training_completion_pct",
        "Training completion",
        "percentunit",
        "Due training enrollments completed on time. Warning below {threshold}.",
    ),
    Kri(
        "kb4_overdue_training_assignments",
        "kb4_overdue_training_assignments",
        "Overdue training assignments",
        "short",
        "Due enrollments not completed or passed. Warning above {threshold} of the due "
        "enrollments.",
        per_title="of due enrollments",
    ),
    Kri(
        "kb4_remedial_training_compliance_ratio",
        "kb4_remedial_training_compliance_pct",
        "Remedial training compliance",
        "percentunit",
        "Remedial enrollments completed or passed. Warning below {threshold}.",
    ),
    Kri(
        "kb4_high_risk_users",
        "kb4_high_risk_users",
        "High-risk users",
        "short",
        "Top decile of active users by risk score: by definition a tenth of the scored "
        "users, so no warning; the size of the cohort to coach.",
        section="kb4_high_risk_users-no-alert",
    ),
    Kri(
        "kb4_phish_time_to_report_seconds",
        "kb4_phish_time_to_report_hours",
        "Median time to report a phish",
        "s",
        "Median delivery-to-report time over the phishing tests of the last 90 days. "
        "Warning above 1 hour.",
    ),
    Kri(
        "kb4_phisher_unresolved_high_4h",
        "kb4_phisher_unresolved_high_4h",
        "PhishER high/critical unresolved 4-24h",
        "short",
        "HIGH/CRITICAL PhishER messages reported 4 to 24 hours ago and still unresolved "
        "(refreshed hourly). Not what pages: the page is on the oldest unresolved age "
        "(top row), which does not forget a message after 24 hours.",
        section="kb4phisherhighseveritybacklog",
    ),
    Kri(
        "kb4_zero_training_activity_12m",
        "kb4_zero_training_activity_12m",
        "No training activity in 12 months",
        "short",
        "Active users with no activity for a year. Warning above {threshold} of active users.",
        per_title="of active users",
    ),
    Kri(
        "kb4_department_ppp_delta_ratio",
        "kb4_department_ppp_delta_pct",
        "Phish-prone spread between groups",
        "percentunit",
        "Most minus least phish-prone group. Warning above {points} percentage points.",
    ),
)


def kri(metric: str) -> Kri:
    (found,) = [k for k in KRIS if k.metric == metric]
    return found


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


def target(
    expr: str, legend: str, ref_id: str = "A", *, instant: bool = False, table: bool = False
) -> Json:
    """One query; `table` makes it an instant query in table format (labels as columns)."""
    instant = instant or table
    query: Json = {
        "datasource": DATASOURCE,
        "refId": ref_id,
        "expr": expr,
        "legendFormat": legend,
        "range": not instant,
        "instant": instant,
    }
    if instant:
        query["format"] = "table" if table else "time_series"
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
    # Colour steps; None: green throughout.
    steps: list[Json] | None = None
    mappings: list[Json] = field(default_factory=list)
    custom: Json = field(default_factory=dict)
    options: Json = field(default_factory=dict)
    overrides: list[Json] = field(default_factory=list)
    decimals: int | None = None
    min_value: float | None = None
    max_value: float | None = None
    transformations: list[Json] = field(default_factory=list)
    # Series colours from the palette; None: from the palette when `custom` is set.
    palette: bool | None = None
    links: list[Json] = field(default_factory=list)

    def to_json(self, panel_id: int, x: int, y: int) -> Json:
        defaults: Json = {
            "unit": self.unit,
            "thresholds": thresholds(*(self.steps or [step(GREEN, None)])),
            "mappings": self.mappings,
            "color": {"mode": "thresholds"},
        }
        if self.custom:
            defaults["custom"] = self.custom
        if self.palette if self.palette is not None else bool(self.custom):
            defaults["color"] = {"mode": "palette-classic"}
        if self.decimals is not None:
            defaults["decimals"] = self.decimals
        if self.min_value is not None:
            defaults["min"] = self.min_value
        if self.max_value is not None:
            defaults["max"] = self.max_value
        panel: Json = {
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
        if self.transformations:
            panel["transformations"] = self.transformations
        if self.links:
            panel["links"] = self.links
        return panel


@dataclass
class Row:
    title: str
    panels: list[Panel]
    # Collapsed rows load their panels (and run their queries) only when opened.
    collapsed: bool = False


# Stats and bar gauges show each series' latest value.
LATEST_VALUE: Json = {"calcs": ["lastNotNull"], "fields": "", "values": False}


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
        steps=steps,
        mappings=mappings or [],
        options={
            "reduceOptions": LATEST_VALUE,
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
        steps=steps,
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
        steps=steps,
        min_value=min_value,
        max_value=max_value,
        options={
            "reduceOptions": LATEST_VALUE,
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


@dataclass(frozen=True)
class Column:
    """One value column of a table: an instant query whose value is shown under `name`."""

    name: str
    expr: str
    unit: str = "short"
    decimals: int | None = None
    # Colour the cell text by these steps; None leaves it plain.
    steps: list[Json] | None = None

    def override(self) -> Json:
        properties: list[Json] = [{"id": "unit", "value": self.unit}]
        if self.decimals is not None:
            properties.append({"id": "decimals", "value": self.decimals})
        if self.steps is not None:
            properties += [
                {"id": "thresholds", "value": thresholds(*self.steps)},
                {"id": "custom.cellOptions", "value": {"type": "color-text"}},
            ]
        return {"matcher": {"id": "byName", "options": self.name}, "properties": properties}


def table(
    title: str,
    description: str,
    keys: Sequence[str],
    columns: Sequence[Column],
    *,
    sort_by: str,
    descending: bool = True,
    width: int = 24,
    height: int = 8,
) -> Panel:
    """One row per label set: every column's query is aggregated `by` the same `keys`, so
    Grafana's merge transformation joins the queries into one table."""
    if len(columns) < 2:
        # With one query Grafana names the value "Value", not "Value #A".
        raise ValueError("a table needs at least two value columns")
    ref_ids = [chr(ord("A") + index) for index in range(len(columns))]
    renames = {f"Value #{ref}": column.name for ref, column in zip(ref_ids, columns, strict=True)}
    # The organize transformation orders fields by their names before renaming.
    order = [*keys, *renames]
    return Panel(
        "table",
        title,
        description,
        [
            target(column.expr, "", ref, table=True)
            for ref, column in zip(ref_ids, columns, strict=True)
        ],
        width,
        height,
        custom={"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False},
        palette=False,
        overrides=[column.override() for column in columns],
        options={
            "showHeader": True,
            "cellHeight": "sm",
            "footer": {"show": False, "reducer": ["sum"], "fields": "", "countRows": False},
            "sortBy": [{"displayName": sort_by, "desc": descending}],
        },
        transformations=[
            {"id": "merge", "options": {}},
            {
                "id": "organize",
                "options": {
                    "excludeByName": {"Time": True},
                    "indexByName": {name: index for index, name in enumerate(order)},
                    "renameByName": renames,
                },
            },
        ],
    )


def colour_by_last_word(word: str, colour: str) -> Json:
    """Colour every series whose legend ends with `word` (e.g. "acme HIGH")."""
    return {
        "matcher": {"id": "byRegexp", "options": f"/ {word}$/"},
        "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}],
    }


def with_account(metric: str, labels: str = "") -> str:
    """`metric` (a per-exporter series without `account`) once per account each exporter
    serves (and served within a day, so a down exporter still shows its accounts)."""
    accounts = f"max by (job, instance, account) (last_over_time(kb4_up{{{ACCOUNT}}}[1d]))"
    extra = f" ({labels})" if labels else ""
    return f"({accounts} * 0) + on (job, instance) group_left{extra} {metric}"


# --- layout and dashboard envelope ----------------------------------------------------


def layout(rows: Sequence[Row]) -> list[Json]:
    """Place rows and their panels left to right, wrapping at the grid width. A collapsed
    row holds its panels, placed as they will be when it is opened."""
    placed: list[Json] = []
    ids = iter(range(1, 1000))
    y = 0
    for row in rows:
        header: Json = {
            "id": next(ids),
            "type": "row",
            "title": row.title,
            "collapsed": row.collapsed,
            "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
            "panels": [],
        }
        placed.append(header)
        y += 1
        inside: list[Json] = header["panels"] if row.collapsed else placed
        x, panel_y, line_height = 0, y, 0
        for panel in row.panels:
            if x + panel.width > GRID_WIDTH:
                x, panel_y, line_height = 0, panel_y + line_height, 0
            inside.append(panel.to_json(next(ids), x, panel_y))
            x += panel.width
            line_height = max(line_height, panel.height)
        if not row.collapsed:
            y = panel_y + line_height
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


def runbook_variable() -> Json:
    """Where docs/runbook.md is published: deploy/monitoring.yml's runbook_url, else a
    box to fill in (or ?var-runbook_url=... in a link)."""
    return {
        "name": RUNBOOK_VARIABLE,
        "label": "Runbook URL",
        "type": "textbox",
        "description": "Where docs/runbook.md is published; the panels' runbook links "
        "open its sections (set runbook_url in deploy/monitoring.yml to fill this in).",
        "query": SETTINGS.runbook_url,
        "current": {"text": SETTINGS.runbook_url, "value": SETTINGS.runbook_url},
        "options": [],
        # Shown only while empty: then it is a question to the reader.
        "hide": 2 if SETTINGS.runbook_url else 0,
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
        "templating": {"list": [datasource_variable(), account_variable(), runbook_variable()]},
        "panels": layout(rows),
    }


# --- the KRI dashboard ------------------------------------------------------------------


def kri_share(kri: Kri, population: str) -> str:
    """The share a count KRI's warning compares: the count over its population."""
    return f"max by (account) ({kri.metric}{{{ACCOUNT}}}) / max by (account) ({population} > 0)"


def kri_stat(kri: Kri) -> Panel:
    """The KRI now; a count with a warning on its share shows that share, as the warning
    sees it."""
    warning, population = kri.warning, kri.population
    if warning is not None and population is not None:
        panel = stat(
            f"{kri.title}, share {kri.per_title}",
            f"{kri.description} The share: {kri.metric} / its population.",
            [target(kri_share(kri, population), "{{account}}")],
            unit="percentunit",
            steps=ratio_steps(warning.bad_when, warning.threshold),
        )
    else:
        panel = stat(
            kri.title,
            kri.description,
            [target(f"{kri.metric}{{{ACCOUNT}}}", "{{account}}")],
            unit=kri.unit,
            steps=kri.threshold_steps(),
        )
    panel.links = kri.links()
    return panel


def kri_trend(kri: Kri) -> Panel:
    thresholds = kri.threshold_steps()
    line = " The dashed line is the alert threshold." if len(thresholds) > 1 else ""
    panel = timeseries(
        kri.title,
        f"{kri.description}{line}",
        [target(f"{kri.metric}{{{ACCOUNT}}}", "{{account}}")],
        unit=kri.unit,
        steps=thresholds,
        show_thresholds=len(thresholds) > 1,
        min_value=0,
    )
    panel.links = kri.links()
    return panel


def kri_availability() -> Panel:
    return stat(
        "KRI availability",
        "1 when the KRI could be computed from the latest data; a KRI without input "
        "(no PhishER token, no samples) is absent, never a fake zero.",
        [target(f"kb4_kri_up{{{ACCOUNT}}}", "{{account}} {{kri}}")],
        width=8,
        mappings=value_map({"0": ("absent", ORANGE), "1": ("ok", GREEN)}),
        text_mode="value_and_name",
        graph=False,
    )


# --- the page: what it watches, and the alerts ------------------------------------------

AGE_NOTE = (
    "kb4_phisher_oldest_unresolved_age_seconds: how long the oldest PhishER message of a "
    "severity still RECEIVED or IN_REVIEW has waited, however old (within the exporter's "
    "--phisher.unresolved-horizon, 30d by default), polled every 5 minutes."
)


def page_steps() -> list[Json]:
    """Red from the age at which a HIGH/CRITICAL message pages."""
    return [step(GREEN, None), step(RED, SETTINGS.page_after)]


def oldest_unresolved_stat(*, width: int, height: int) -> Panel:
    after = format_duration(SETTINGS.page_after)
    panel = stat(
        f"PAGES: oldest HIGH/CRITICAL PhishER message (over {after})",
        f"What pages (Kb4PhisherHighSeverityBacklog): a HIGH or CRITICAL message unresolved "
        f"for more than {after}, red here. {AGE_NOTE} No value: no such message waits.",
        [target(f"max by (account) ({HIGH_AGE})", "{{account}}")],
        width=width,
        height=height,
        unit="s",
        steps=page_steps(),
        text_mode="value_and_name",
    )
    panel.links = [runbook_link(PAGE.lower(), PAGE)]
    return panel


def alert_states(*, width: int) -> Panel:
    """Prometheus' ALERTS series of kb4_exporter's alerts: pending and firing over time."""
    firing = f'ALERTS{{alertname=~"Kb4.+", alertstate="firing", {ACCOUNT_OR_NONE}}}'
    pending = f'ALERTS{{alertname=~"Kb4.+", alertstate="pending", {ACCOUNT_OR_NONE}}}'
    return state_timeline(
        "kb4_exporter alerts",
        "Each alert of deploy/prometheus/rules/kb4_exporter.rules.yml while it is pending "
        "(its `for:` running) or firing, per account (Kb4ExporterDown and Kb4Watchdog have "
        "none). Kb4Watchdog is always firing while the rules are evaluated.",
        [
            target(
                f"max by (account, alertname) ({firing} * 2 or {pending})",
                "{{account}} {{alertname}}",
            )
        ],
        value_map({"1": ("pending", ORANGE), "2": ("firing", RED)}),
        width=width,
    )


def paging_panels() -> list[Panel]:
    after = format_duration(SETTINGS.page_after)
    unresolved = f'source="{PHISHER_UNRESOLVED_SOURCE}"'
    # Kb4PhisherPagingBlind compares with the exported interval; the panel assumes the default.
    blind_after = STALE_AFTER_INTERVALS * DEFAULT_UNRESOLVED_INTERVAL_SECONDS
    return [
        oldest_unresolved_stat(width=8, height=8),
        timeseries(
            "Oldest unresolved PhishER message by severity",
            f"{AGE_NOTE} The dashed line is the page threshold ({after}); it counts for HIGH "
            "and CRITICAL only.",
            [
                target(
                    f"kb4_phisher_oldest_unresolved_age_seconds{{{ACCOUNT}}}",
                    "{{account}} {{severity}}",
                )
            ],
            unit="s",
            steps=page_steps(),
            show_thresholds=True,
            min_value=0,
            width=16,
        ),
        stat(
            "Age of the paging signal",
            "Seconds since the last successful poll of the unresolved PhishER messages "
            "(every 5 minutes by default). Kb4PhisherPagingBlind pages beyond twice the "
            "interval.",
            [
                target(
                    f"time() - kb4_source_last_success_timestamp_seconds{{{ACCOUNT}, "
                    f"{unresolved}}}",
                    "{{account}}",
                )
            ],
            width=8,
            unit="s",
            steps=[step(GREEN, None), step(RED, round(blind_after))],
            text_mode="value_and_name",
            graph=False,
        ),
        alert_states(width=16),
    ]


def by(labels: str, metric: str, matchers: str = "") -> str:
    """`max by (labels)` of the metric on the selected accounts: one series per label set
    even if two exporters (an HA pair) serve the same account, and no __name__, job or
    instance, so the queries of one table join on `labels` alone."""
    extra = f", {matchers}" if matchers else ""
    return f"max by ({labels}) ({metric}{{{ACCOUNT}{extra}}})"


CAPPED_NOTE = "Capped at a top N per account (kb4_breakdown_capped says when items were left out)."


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
    return [
        Row("Paging: PhishER backlog", paging_panels()),
        Row("Key risk indicators now", overview),
        Row("KRI trends", trends, collapsed=True),
        Row("Groups", group_panels(), collapsed=True),
        Row("Phishing tests (90 days)", phishing_panels(), collapsed=True),
        Row("Training", training_panels(), collapsed=True),
        Row("PhishER", phisher_panels(), collapsed=True),
        Row("Users and inventory", inventory_panels(), collapsed=True),
        Row("User events (24 hours)", user_event_panels(), collapsed=True),
        Row("Account", account_panels(), collapsed=True),
    ]


def group_panels() -> list[Panel]:
    keys = "account, group_id, group"
    return [
        bar_gauge(
            "Phish-prone percentage by group",
            "Mean phish-prone percentage of the active users in each KnowBe4 group, worst "
            "first (kb4_group_phishing_prone_ratio).",
            [
                target(
                    f"sort_desc(kb4_group_phishing_prone_ratio{{{ACCOUNT}}})",
                    "{{account}} {{group}}",
                    instant=True,
                )
            ],
            unit="percentunit",
            steps=kri("kb4_phishing_prone_ratio").threshold_steps(),
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
        bar_gauge(
            "Risk score by group",
            "KnowBe4's current risk score of each group (kb4_group_risk_score, 0-100), "
            "highest first.",
            [
                target(
                    f"sort_desc(kb4_group_risk_score{{{ACCOUNT}}})",
                    "{{account}} {{group}}",
                    instant=True,
                )
            ],
            max_value=100,
        ),
        table(
            "Groups",
            f"Active users, phish-prone percentage and risk score of each group. {CAPPED_NOTE}",
            ["group", "group_id", "account"],
            [
                Column("active users", by(keys, "kb4_group_users")),
                Column(
                    "phish-prone",
                    by(keys, "kb4_group_phishing_prone_ratio"),
                    unit="percentunit",
                    decimals=1,
                    steps=kri("kb4_phishing_prone_ratio").threshold_steps(),
                ),
                Column("risk score", by(keys, "kb4_group_risk_score"), decimals=1),
            ],
            sort_by="active users",
            width=12,
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
            steps=kri("kb4_phishing_prone_ratio").threshold_steps(),
            show_thresholds=True,
            width=24,
            min_value=0,
        ),
    ]


def phishing_panels() -> list[Panel]:
    keys = "account, pst_id, pst, campaign_id"
    events = ("delivered", "opened", "clicked", "reported", "data_entered")
    click = f"kb4_phishing_click_ratio_90d{{{ACCOUNT}}}"
    report = f"kb4_phishing_report_ratio_90d{{{ACCOUNT}}}"
    return [
        stat(
            "Click rate (90 days)",
            "Clicked / delivered over the phishing security tests started in the last 90 "
            "days (kb4_phishing_click_ratio_90d).",
            [target(click, "{{account}}")],
            unit="percentunit",
            height=8,
            colour_mode="none",
        ),
        stat(
            "Report rate (90 days)",
            "Reported / delivered over the phishing security tests started in the last 90 "
            "days (kb4_phishing_report_ratio_90d): higher is better.",
            [target(report, "{{account}}")],
            unit="percentunit",
            height=8,
            colour_mode="none",
        ),
        timeseries(
            "Click and report rates (90 days)",
            "Clicked and reported / delivered over the last 90 days' phishing tests. Both "
            "move as tests enter and leave the 90-day window.",
            [
                target(click, "{{account}} clicked"),
                target(report, "{{account}} reported", "B"),
            ],
            unit="percentunit",
            width=16,
            min_value=0,
        ),
        table(
            "Recent phishing tests",
            "Summary counts and phish-prone percentage of each phishing security test "
            "started in the last 90 days, highest test id (newest) first "
            f"(kb4_phishing_test_recipients, kb4_phishing_test_phish_prone_ratio). {CAPPED_NOTE}",
            ["pst", "pst_id", "campaign_id", "account"],
            [
                *(
                    Column(
                        event.replace("_", " "),
                        by(keys, "kb4_phishing_test_recipients", f'event="{event}"'),
                    )
                    for event in events
                ),
                Column(
                    "phish-prone",
                    by(keys, "kb4_phishing_test_phish_prone_ratio"),
                    unit="percentunit",
                    decimals=1,
                    steps=kri("kb4_phishing_prone_ratio").threshold_steps(),
                ),
            ],
            sort_by="pst_id",
            height=10,
        ),
    ]


def training_panels() -> list[Panel]:
    keys = "account, campaign_id, campaign"
    completion = kri("kb4_training_completion_ratio")
    return [
        stat(
            "Active training campaigns",
            "Training campaigns not Completed, Cancelled or Closed "
            "(kb4_training_campaigns_active).",
            [target(f"kb4_training_campaigns_active{{{ACCOUNT}}}", "{{account}}")],
            height=8,
            colour_mode="none",
        ),
        bar_gauge(
            "Training enrollments by status",
            "Enrollments of non-archived users by status at the latest refresh "
            "(kb4_training_enrollments; statuses the exporter does not know count as other).",
            [
                target(
                    f"kb4_training_enrollments{{{ACCOUNT}}}",
                    "{{account}} {{status}}",
                    instant=True,
                )
            ],
            width=8,
        ),
        timeseries(
            "Training enrollments by status over time",
            "Enrollments by status, stacked: Past Due growing while In Progress shrinks is a "
            "campaign running out of time.",
            [
                target(
                    f"sum by (account, status) (kb4_training_enrollments{{{ACCOUNT}}})",
                    "{{account}} {{status}}",
                )
            ],
            stacked=True,
            min_value=0,
        ),
        table(
            "Training campaigns",
            "Completion (completed or passed / non-exempt enrollments) and overdue "
            "enrollments of each training campaign, most enrollments first "
            f"(kb4_training_campaign_completion_ratio, "
            f"kb4_training_campaign_overdue_enrollments). {CAPPED_NOTE}",
            ["campaign", "campaign_id", "account"],
            [
                Column(
                    "completion",
                    by(keys, "kb4_training_campaign_completion_ratio"),
                    unit="percentunit",
                    decimals=1,
                    steps=completion.threshold_steps(),
                ),
                Column(
                    "overdue",
                    by(keys, "kb4_training_campaign_overdue_enrollments"),
                    steps=any_is_red(),
                ),
            ],
            sort_by="overdue",
            width=12,
        ),
        bar_gauge(
            "Overdue enrollments by campaign",
            "Enrollments past their due date and not completed, per training campaign, most first.",
            [
                target(
                    f"sort_desc(kb4_training_campaign_overdue_enrollments{{{ACCOUNT}}})",
                    "{{account}} {{campaign}}",
                    instant=True,
                )
            ],
            steps=any_is_red(),
        ),
    ]


def phisher_panels() -> list[Panel]:
    return [
        timeseries(
            "PhishER unresolved messages by severity",
            "Messages reported in the PhishER look-back window that are still RECEIVED or "
            "IN_REVIEW.",
            [
                target(
                    f"sum by (account, severity) (kb4_phisher_unresolved_messages{{{ACCOUNT}}})",
                    "{{account}} {{severity}}",
                )
            ],
            stacked=True,
            overrides=[colour_by_last_word(s, c) for s, c in PHISHER_SEVERITY_COLOURS.items()],
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


USER_STATUSES = ("active", "archived")


def label_replace(expr: str, label: str, value: str) -> str:
    """`expr` with `label` set to the constant `value`."""
    return f'label_replace({expr}, "{label}", "{value}", "", "")'


def inventory(window: str | None = None) -> str:
    """Users by status (as objects users_active, users_archived) and every inventory
    object of the selected accounts; with `window`, their change over it."""

    def series(metric: str, matcher: str = "") -> str:
        selector = f"{metric}{{{ACCOUNT}, {matcher}}}" if matcher else f"{metric}{{{ACCOUNT}}}"
        return f"delta({selector}[{window}])" if window else selector

    users = " or ".join(
        label_replace(series("kb4_users", f'status="{status}"'), "object", f"users_{status}")
        for status in USER_STATUSES
    )
    return (
        f"max by (account, object) ({users})"
        f" or max by (account, object) ({series('kb4_inventory_objects')})"
    )


def inventory_panels() -> list[Panel]:
    return [
        table(
            "Users and objects",
            "Users by status and object counts now, and their change over the last day and "
            "week (from the samples Prometheus holds: younger data shows the change since "
            "its first sample). Kb4InventorySuddenChange fires when one moves by more than "
            "20% in a day.",
            ["object", "account"],
            [
                Column("now", inventory()),
                Column("change 1d", inventory("1d"), decimals=0),
                Column("change 7d", inventory("7d"), decimals=0),
            ],
            sort_by="object",
            descending=False,
            width=12,
            height=9,
        ),
        timeseries(
            "Users by status",
            "Active and archived users (kb4_users). A step at a refresh is a user sync or a "
            "bulk archive.",
            [target(f"kb4_users{{{ACCOUNT}}}", "{{account}} {{status}}")],
            min_value=0,
            height=9,
        ),
        timeseries(
            "Objects over time",
            "Groups, training campaigns, training modules (store purchases), uploaded "
            "policies, phishing campaigns and phishing tests of the last 90 days "
            "(kb4_inventory_objects).",
            [target(f"kb4_inventory_objects{{{ACCOUNT}}}", "{{account}} {{object}}")],
            min_value=0,
            width=24,
        ),
    ]


def user_event_panels() -> list[Panel]:
    note = (
        "Needs a User Event API token (--user-events.token-file); without one these "
        "panels show No data."
    )
    return [
        bar_gauge(
            "User events by type",
            "User Event API custom events that occurred in the last 24 hours, per event "
            f"type (kb4_user_events_24h), busiest first. {CAPPED_NOTE} {note}",
            [
                target(
                    f"sort_desc(sum by (account, event_type) (kb4_user_events_24h{{{ACCOUNT}}}))",
                    "{{account}} {{event_type}}",
                    instant=True,
                )
            ],
        ),
        timeseries(
            "User events by risk level",
            "Custom events of the last 24 hours by the risk level they were given, stacked. "
            f"{note}",
            [
                target(
                    f"sum by (account, risk_level) (kb4_user_events_24h{{{ACCOUNT}}})",
                    "{{account}} risk level {{risk_level}}",
                )
            ],
            stacked=True,
            min_value=0,
        ),
    ]


def account_panels() -> list[Panel]:
    return [
        stat(
            "Licensed seats",
            "Seats from /v1/account.",
            [target(f"kb4_account_seats{{{ACCOUNT}}}", "{{account}}")],
            colour_mode="none",
        ),
        stat(
            "Organisation risk score",
            "KnowBe4's current risk score of the organisation.",
            [target(f"kb4_account_risk_score{{{ACCOUNT}}}", "{{account}}")],
            colour_mode="none",
            graph=True,
        ),
        stat(
            "Risk score change (30 days)",
            "Organisation risk score now minus 30 days ago, from KnowBe4's risk-score "
            "history (kb4_account_risk_score_change_30d): above 0 the risk is rising.",
            [target(f"kb4_account_risk_score_change_30d{{{ACCOUNT}}}", "{{account}}")],
            colour_mode="none",
        ),
        stat(
            "Account",
            "Organisation name, subscription level and region of each account.",
            [
                target(
                    f"kb4_account_info{{{ACCOUNT}}}",
                    "{{account}}: {{name}} ({{subscription_level}}, {{region}})",
                )
            ],
            width=12,
            text_mode="name",
            colour_mode="none",
            graph=False,
        ),
    ]


def kri_dashboard() -> Json:
    return dashboard(
        KRI_DASHBOARD_UID,
        "KnowBe4 security-awareness KRIs",
        "The ten KnowBe4 key risk indicators exported by kb4_exporter, with the default "
        "alert thresholds and trends, and the breakdowns behind them: groups, recent "
        "phishing tests, training campaigns, the PhishER backlog, user and object counts, "
        "User Event API events and the account's risk trend.",
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
            'up{job="kb4_exporter"}: whether Prometheus can scrape each exporter, shown for '
            "each account it served within the last day (a down exporter exposes none).",
            [target(with_account('up{job="kb4_exporter"}'), "{{account}} {{instance}}")],
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
            "kb4_exporter_build_info of every exporter scraped, by the accounts it serves.",
            [
                target(
                    with_account("kb4_exporter_build_info", "version"),
                    "{{account}} {{version}}",
                )
            ],
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
            f"Kb4SourceRefreshStale fires above {STALE_AFTER_INTERVALS}.",
            [
                target(
                    f"({AGE}) / kb4_source_refresh_interval_seconds{{{ACCOUNT}}}",
                    "{{account}} {{source}}",
                    instant=True,
                )
            ],
            steps=[step(GREEN, None), step(YELLOW, 1.5), step(RED, STALE_AFTER_INTERVALS)],
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
            "Remaining / limit. Kb4ApiBudgetNearlyExhausted fires below "
            f"{percent(API_BUDGET_LOW)}.",
            [
                target(
                    f"kb4_api_budget_remaining{{{ACCOUNT}}}"
                    f" / (kb4_api_budget_limit{{{ACCOUNT}}} > 0)",
                    "{{account}} {{api}}",
                    instant=True,
                )
            ],
            unit="percentunit",
            steps=[step(RED, None), step(YELLOW, API_BUDGET_LOW), step(GREEN, 0.25)],
            max_value=1,
            width=6,
        ),
        stat(
            "User Event API quota",
            "User Event API calls used in the rolling 24 hours and the quota KnowBe4 allows "
            "(ten per licensed seat per day). Only with a User Event API token "
            "(--user-events.token-file).",
            [
                target(
                    f'kb4_api_budget_limit{{{ACCOUNT}, api="user_events"}}'
                    f' - kb4_api_budget_remaining{{{ACCOUNT}, api="user_events"}}',
                    "{{account}} used",
                ),
                target(
                    f'kb4_api_budget_limit{{{ACCOUNT}, api="user_events"}}',
                    "{{account}} allowed",
                    "B",
                ),
            ],
            width=6,
            height=8,
            text_mode="value_and_name",
            colour_mode="none",
            graph=False,
        ),
        timeseries(
            "API requests by status code",
            "Requests to KnowBe4 per interval by API and HTTP status (or timeout / connection).",
            [
                target(
                    "sum by (account, api, code) "
                    f"(increase(kb4_api_requests_total{{{ACCOUNT}}}[$__rate_interval]))",
                    "{{account}} {{api}} {{code}}",
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
                    "sum by (account, reason) "
                    f"(increase(kb4_refresh_errors_total{{{ACCOUNT}}}[$__rate_interval]))",
                    "{{account}} {{reason}}",
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
                    "sum by (account, source, reason) "
                    f"(increase(kb4_refresh_errors_total{{{ACCOUNT}}}[$__range]))",
                    "{{account}} {{source}} {{reason}}",
                    instant=True,
                )
            ],
            steps=any_is_red(),
        ),
        state_timeline(
            "Truncated fetches",
            "kb4_truncated per source: a page cap or the API budget cut the fetch short, so "
            "KRIs built on that source use partial data.",
            [target(f"kb4_truncated{{{ACCOUNT}}}", "{{account}} {{source}}")],
            value_map({"0": ("complete", GREEN), "1": ("truncated", ORANGE)}),
        ),
        state_timeline(
            "Capped breakdowns",
            "kb4_breakdown_capped per breakdown: the account has more groups, recent "
            "phishing tests, training campaigns or event types than the --metrics.max-* "
            "cap, so the dashboards show the top N only. The KRIs are unaffected.",
            [target(f"kb4_breakdown_capped{{{ACCOUNT}}}", "{{account}} {{breakdown}}")],
            value_map({"0": ("all shown", GREEN), "1": ("capped", YELLOW)}),
        ),
        timeseries(
            "State file write errors",
            "Failed writes of each account's --state.dir file per interval "
            "(kb4_state_write_errors_total). The previous file is kept, so a restart "
            "serves older data and refetches more.",
            [
                target(
                    "sum by (account) "
                    f"(increase(kb4_state_write_errors_total{{{ACCOUNT}}}[$__rate_interval]))",
                    "{{account}}",
                )
            ],
            bars=True,
            min_value=0,
            width=24,
            height=6,
        ),
    ]
    paging = [
        oldest_unresolved_stat(width=8, height=8),
        alert_states(width=16),
    ]
    return [
        Row("Status", status),
        Row("Paging: PhishER backlog and alerts", paging),
        Row("Freshness", freshness, collapsed=True),
        Row("KnowBe4 API", api, collapsed=True),
        Row("Errors and truncation", errors, collapsed=True),
    ]


def health_dashboard() -> Json:
    return dashboard(
        HEALTH_DASHBOARD_UID,
        "kb4_exporter health",
        "Is kb4_exporter's data fresh and complete: refresh status and age per source, "
        "refresh duration, KnowBe4 API budgets and the User Event API quota, throttling, "
        "errors, truncation and capped breakdowns.",
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
    return monitoring.build(__file__, __doc__, rendered_dashboards, argv)


if __name__ == "__main__":
    sys.exit(main())
