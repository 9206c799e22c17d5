"""The ten KRIs' identities (seed slug, metric name, HELP text) and computed values.

A value of None means the KRI is absent (its input was never fetched or its population
is empty), never a fake 0; `incomplete` says part of its input is missing, and
`carry_over` then keeps the last value computed from complete inputs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KriSpec:
    """Identity of one KRI: its seed slug (the `kri` label), metric name and HELP text."""

    slug: str
    metric: str
    help: str


@dataclass(frozen=True, slots=True)
class KriValue:
    """One computed KRI: `value` None means absent; `sample_size` is its population.

    `incomplete` says the value is absent because part of its input is missing (a fetch
    failed or was cut short), not because the population is empty: the refresher then
    keeps the last value computed from complete inputs (see `carry_over`).
    """

    spec: KriSpec
    value: float | None
    sample_size: int | None
    incomplete: bool = False


PHISHING_PRONE = KriSpec(
    "kb4_phishing_prone_pct",
    "kb4_phishing_prone_ratio",
    "Mean Phish-prone Percentage of active users that have one, as a ratio (0..1).",
)
REPEAT_CLICKERS_90D = KriSpec(
    "kb4_repeat_clickers_90d",
    "kb4_repeat_clickers_90d",
    "Users (by id, else e-mail) who clicked in two or more phishing security tests "
    "started in the last 90 days.",
)
TRAINING_COMPLETION = KriSpec(
    "kb4_training_completion_pct",
    "kb4_training_completion_ratio",
    "Share of due training enrollments completed or passed by their due date, "
    "as a ratio (0..1); exempt enrollments left out.",
)
OVERDUE_TRAINING = KriSpec(
    "kb4_overdue_training_assignments",
    "kb4_overdue_training_assignments",
    "Training enrollments past their due date (or in status Past Due) and not "
    "completed or passed; exempt enrollments left out.",
)
REMEDIAL_COMPLIANCE = KriSpec(
    "kb4_remedial_training_compliance_pct",
    "kb4_remedial_training_compliance_ratio",
    "Share of remedial training enrollments (campaign name matches the remedial "
    "pattern) completed or passed, as a ratio (0..1); exempt enrollments left out.",
)
HIGH_RISK_USERS = KriSpec(
    "kb4_high_risk_users",
    "kb4_high_risk_users",
    "Size of the highest-risk decile: ten percent, rounded up, of the active users "
    "that have a current risk score.",
)
PHISH_TIME_TO_REPORT = KriSpec(
    "kb4_phish_time_to_report_hours",
    "kb4_phish_time_to_report_seconds",
    "Median time from delivery to report of phishing security test e-mails, in seconds, "
    "over tests started in the last 90 days.",
)
PHISHER_UNRESOLVED_HIGH_4H = KriSpec(
    "kb4_phisher_unresolved_high_4h",
    "kb4_phisher_unresolved_high_4h",
    "PhishER messages of HIGH or CRITICAL severity still RECEIVED or IN_REVIEW that "
    "were reported between 24 and 4 hours ago.",
)
ZERO_TRAINING_ACTIVITY_12M = KriSpec(
    "kb4_zero_training_activity_12m",
    "kb4_zero_training_activity_12m",
    "Active users with no recorded activity (last sign-in) in the last 365 days.",
)
DEPARTMENT_PPP_DELTA = KriSpec(
    "kb4_department_ppp_delta_pct",
    "kb4_department_ppp_delta_ratio",
    "Spread (highest minus lowest) of the mean Phish-prone Percentage across groups, "
    "as a ratio (0..1).",
)

KRI_SPECS: tuple[KriSpec, ...] = (
    PHISHING_PRONE,
    REPEAT_CLICKERS_90D,
    TRAINING_COMPLETION,
    OVERDUE_TRAINING,
    REMEDIAL_COMPLIANCE,
    HIGH_RISK_USERS,
    PHISH_TIME_TO_REPORT,
    PHISHER_UNRESOLVED_HIGH_4H,
    ZERO_TRAINING_ACTIVITY_12M,
    DEPARTMENT_PPP_DELTA,
)


def carry_over(computed: Iterable[KriValue], previous: Iterable[KriValue]) -> tuple[KriValue, ...]:
    """`computed`, with each incomplete KRI replaced by its previous value, if any: a KRI
    keeps its last value computed from complete inputs, or stays absent."""
    last = {kri.spec: kri for kri in previous if kri.value is not None}
    return tuple(last.get(kri.spec, kri) if kri.incomplete else kri for kri in computed)
