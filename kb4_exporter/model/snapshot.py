"""The snapshot: everything known about one account at one moment."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from kb4_exporter.model.parsing import unique_by_id
from kb4_exporter.model.phisher import PhisherMessage, UnresolvedPhisherMessage
from kb4_exporter.model.reporting import (
    Account,
    EnrollmentGroup,
    Group,
    PstRecipients,
    RiskPoint,
    SecurityTest,
    TrainingCampaign,
    User,
)
from kb4_exporter.model.user_events import UserEvent


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything known about one account at one moment; never mutated.

    A source that has never been fetched successfully is None (its KRIs are absent),
    which is different from a source fetched and found empty.
    """

    account: Account | None = None
    users: tuple[User, ...] | None = None
    groups: tuple[Group, ...] | None = None
    security_tests: tuple[SecurityTest, ...] | None = None
    # pst_id -> recipients summary, for the PSTs whose recipients were fetched.
    recipients: Mapping[int, PstRecipients] | None = None
    training_campaigns: tuple[TrainingCampaign, ...] | None = None
    # Enrollments counted by what the KRIs read (see enrollments.py), joined to the
    # training campaigns of the same refresh.
    enrollments: tuple[EnrollmentGroup, ...] | None = None
    phisher_messages: tuple[PhisherMessage, ...] | None = None
    # The PhishER window the messages cover, [start, end] in epoch seconds.
    phisher_window: tuple[float, float] | None = None
    # PhishER messages still unresolved when the unresolved-message poll last read them,
    # and (complete_since, covered_until): every message reported between the two was seen.
    phisher_unresolved: tuple[UnresolvedPhisherMessage, ...] | None = None
    phisher_unresolved_window: tuple[float, float] | None = None
    risk_history: tuple[RiskPoint, ...] | None = None
    # Inventory counts of listings only counted, never kept.
    archived_user_count: int | None = None
    phishing_campaign_count: int | None = None
    store_purchase_count: int | None = None
    policy_count: int | None = None
    user_events: tuple[UserEvent, ...] | None = None

    def __post_init__(self) -> None:
        # A listing can return a record twice (a page boundary that moved while paging, a
        # server that repeats a row); every record counts once, by its id, however the
        # snapshot was built (a refresh, a state file).
        for name, key in _RECORD_IDS.items():
            records = getattr(self, name)
            if records is not None:
                object.__setattr__(self, name, unique_by_id(records, key))


# Snapshot field -> the id of its records.
_RECORD_IDS: Mapping[str, Callable[[Any], Hashable | None]] = {
    "users": lambda user: user.id,
    "groups": lambda group: group.id,
    "security_tests": lambda test: test.pst_id,
    "training_campaigns": lambda campaign: campaign.campaign_id,
}
