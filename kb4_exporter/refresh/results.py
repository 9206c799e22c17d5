"""What one account's refreshes produced: the immutable value the collector reads.

A refresher builds a new `AccountResults` after each refresh and swaps it in with one
reference assignment, so a scrape sees either the old or the new results, never a mix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kb4_exporter.config.settings import PAGE_CAP_SOURCES
from kb4_exporter.kris import specs
from kb4_exporter.kris.breakdowns import Breakdowns
from kb4_exporter.kris.specs import KriValue
from kb4_exporter.model.snapshot import Snapshot

# What the KRIs are computed from, fetched first in each core refresh.
KRI_SOURCES = (
    "account",
    "users",
    "groups",
    "training_campaigns",
    "enrollments",
    "security_tests",
    "recipients",
)
# Inventory and risk trend, fetched after everything the KRIs need.
INVENTORY_SOURCES = (
    "archived_users",
    "phishing_campaigns",
    "store_purchases",
    "policies",
    "risk_history",
)
CORE_SOURCES = KRI_SOURCES + INVENTORY_SOURCES
PHISHER_SOURCE = "phisher"
# The unresolved-message poll behind the paging signal, on its own (shorter) interval.
PHISHER_UNRESOLVED_SOURCE = "phisher_unresolved"
USER_EVENTS_SOURCE = "user_events"
# Sources a page cap or the budget can cut short (the `source` label of kb4_truncated).
TRUNCATABLE_SOURCES = PAGE_CAP_SOURCES


# The KRIs each source feeds. When a source fails or a page cap cuts it short, these keep
# their last value computed from complete inputs, or stay absent (kb4_kri_up 0).
SOURCE_KRIS: Mapping[str, tuple[specs.KriSpec, ...]] = {
    "users": (
        specs.PHISHING_PRONE,
        specs.HIGH_RISK_USERS,
        specs.ZERO_TRAINING_ACTIVITY_12M,
        specs.DEPARTMENT_PPP_DELTA,
    ),
    "training_campaigns": (
        specs.TRAINING_COMPLETION,
        specs.OVERDUE_TRAINING,
        specs.REMEDIAL_COMPLIANCE,
    ),
    "enrollments": (specs.TRAINING_COMPLETION, specs.OVERDUE_TRAINING, specs.REMEDIAL_COMPLIANCE),
    "security_tests": (specs.REPEAT_CLICKERS_90D, specs.PHISH_TIME_TO_REPORT),
    "recipients": (specs.REPEAT_CLICKERS_90D, specs.PHISH_TIME_TO_REPORT),
    "phisher": (specs.PHISHER_UNRESOLVED_HIGH_4H,),
}


def describe_source_kris() -> str:
    """One line per KRI-feeding source, for --help: what a failed or cut source costs."""
    return "\n".join(f"  {source}: {kris_fed_by(source)}" for source in SOURCE_KRIS)


def kris_fed_by(source: str) -> str:
    """The slugs of the KRIs `source` feeds, comma-separated; "none" for the others."""
    return ",".join(spec.slug for spec in SOURCE_KRIS.get(source, ())) or "none"


@dataclass(frozen=True, slots=True)
class SourceStatus:
    up: bool = False
    last_success: float | None = None
    last_attempt: float | None = None
    duration: float | None = None
    truncated: bool = False


@dataclass(frozen=True)
class AccountResults:
    name: str
    region: str
    phisher_enabled: bool
    user_events_enabled: bool = False
    snapshot: Snapshot = field(default_factory=Snapshot)
    kris: tuple[KriValue, ...] = ()
    breakdowns: Breakdowns = field(default_factory=Breakdowns)
    sources: Mapping[str, SourceStatus] = field(default_factory=dict)
    # (source, reason) -> failures since start; the collector exposes them as counters.
    errors: Mapping[tuple[str, str], int] = field(default_factory=dict)
    refresh_intervals: Mapping[str, float] = field(default_factory=dict)
    # True once the core sources were refreshed successfully or loaded from state.
    ready: bool = False
    # Severity -> age in seconds of its oldest unresolved PhishER message (None: PhishER
    # off or never polled; a severity without an unresolved message is left out).
    phisher_oldest_unresolved: Mapping[str, float] | None = None

    def enabled_sources(self) -> tuple[str, ...]:
        optional = (
            (PHISHER_SOURCE, self.phisher_enabled),
            (PHISHER_UNRESOLVED_SOURCE, self.phisher_enabled),
            (USER_EVENTS_SOURCE, self.user_events_enabled),
        )
        return CORE_SOURCES + tuple(source for source, enabled in optional if enabled)

    @property
    def up(self) -> bool:
        """Every enabled source's latest refresh succeeded."""
        return all(self.sources.get(s, SourceStatus()).up for s in self.enabled_sources())
