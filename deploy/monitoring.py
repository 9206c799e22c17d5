"""What the two builders of kb4_exporter's monitoring files share.

deploy/prometheus/build_rules.py (the alert rules) and grafana/build_dashboards.py (the
dashboards) both read from here: the settings in deploy/monitoring.yml, the KRI warnings
with their thresholds (so an alert fires exactly where its dashboard panel turns red),
and the command line that writes the generated files or checks that they are current.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from kb4_exporter.config.durations import format_duration, parse_duration

ROOT = Path(__file__).resolve().parents[1]
SETTINGS_PATH = ROOT / "deploy" / "monitoring.yml"


@dataclass(frozen=True)
class Settings:
    """deploy/monitoring.yml: where the runbook is published, and when a message pages."""

    runbook_url: str
    page_after: float


def load_settings(path: Path = SETTINGS_PATH) -> Settings:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    page_after = parse_duration(str(raw["page_after"]))
    if page_after <= 0:
        raise ValueError(f"{path}: page_after must be positive")
    return Settings(str(raw.get("runbook_url") or "").rstrip("#"), page_after)


# --- the KRI warnings: one threshold each ---------------------------------------------------


@dataclass(frozen=True)
class KriWarning:
    """A ticket on a KRI: it fires while the KRI (for a count KRI, its share of `per`)
    compares with `threshold` as `comparison` says. docs/runbook.md explains each default."""

    name: str
    metric: str
    comparison: Literal[">", "<"]
    threshold: float
    # For a count KRI: the population it is divided by (a selector without `account`).
    per: str | None = None

    @property
    def bad_when(self) -> Literal["above", "below"]:
        return "above" if self.comparison == ">" else "below"

    def quoted(self) -> dict[str, str]:
        """The threshold as texts quote it: `threshold` (20%, 1h) and, for a ratio,
        `points` (its percentage points: 20)."""
        if self.metric.endswith("_seconds"):
            return {"threshold": format_duration(self.threshold)}
        return {"threshold": percent(self.threshold), "points": f"{self.threshold * 100:g}"}


KRI_WARNINGS: tuple[KriWarning, ...] = (
    KriWarning("Kb4PhishingProneRatioHigh", "kb4_phishing_prone_ratio", ">", 0.20),
    KriWarning(
        "Kb4RepeatClickersHigh",
        "kb4_repeat_clickers_90d",
        ">",
        0.02,
        per='kb4_users{status="active"}',
    ),
    KriWarning("Kb4TrainingCompletionLow", "kb4_training_completion_ratio", "<", 0.90),
    KriWarning(
        "Kb4OverdueTrainingAssignments",
        "kb4_overdue_training_assignments",
        ">",
        0.05,
        per='kb4_kri_sample_size{kri="kb4_training_completion_pct"}',
    ),
    KriWarning(
        "Kb4RemedialTrainingComplianceLow", "kb4_remedial_training_compliance_ratio", "<", 0.80
    ),
    KriWarning("Kb4PhishTimeToReportSlow", "kb4_phish_time_to_report_seconds", ">", 3600),
    KriWarning(
        "Kb4ZeroTrainingActivity",
        "kb4_zero_training_activity_12m",
        ">",
        0.05,
        per='kb4_kri_sample_size{kri="kb4_zero_training_activity_12m"}',
    ),
    KriWarning("Kb4DepartmentPhishProneSpreadHigh", "kb4_department_ppp_delta_ratio", ">", 0.15),
)


def kri_warning(metric: str) -> KriWarning | None:
    """The warning on the KRI `metric`, if it has one."""
    return next((w for w in KRI_WARNINGS if w.metric == metric), None)


def percent(ratio: float) -> str:
    return f"{ratio * 100:g}%"


# --- the page and the exporter's health: what the alerts watch and the dashboards colour ------

# Kb4PhisherHighSeverityBacklog: the PhishER severities that page (page_after: monitoring.yml).
PAGED_SEVERITIES = 'severity=~"HIGH|CRITICAL"'
# Kb4SourceRefreshStale and Kb4PhisherPagingBlind: a source whose last success is older than
# this many of its refresh intervals is stale.
STALE_AFTER_INTERVALS = 2
# Kb4ApiBudgetNearlyExhausted: less than this share of the daily request budget is left.
API_BUDGET_LOW = 0.1


# --- the builders' command line ---------------------------------------------------------------


def build(
    builder: str,
    doc: str | None,
    rendered: Callable[[], Iterable[tuple[Path, str]]],
    argv: Sequence[str] | None = None,
) -> int:
    """Write the files `rendered` yields; with --check, write nothing and return 1 if one
    differs. `builder` is the script's path, for the message that says what to run."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument(
        "--check", action="store_true", help="fail if a generated file is out of date"
    )
    args = parser.parse_args(argv)
    stale = []
    for path, text in rendered():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        script = Path(builder).resolve().relative_to(ROOT)
        print(f"out of date: {', '.join(stale)}; run python {script}", file=sys.stderr)
        return 1
    return 0
