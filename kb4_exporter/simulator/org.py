"""A simulated KnowBe4 org: the spec, the org, and its deterministic generator.

`generate_org(spec, now)` is a pure function of its inputs: the same spec and `now`
give byte-identical API responses. Recipients and enrollments are lazy sequences
built row by row from the seed, so a 25k-user org is generated in seconds without
holding its hundreds of thousands of rows. An `Org` can also be built by hand from
plain lists (tests do), with the same behaviour.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .clock import DAY
from .dice import Dice
from .people import generate_people, org_domain
from .phisher_data import generate_messages
from .phishing import generate_phishing
from .records import (
    ACTIVE,
    ARCHIVED,
    Account,
    Admin,
    ChainedRows,
    Enrollment,
    Group,
    PhisherMessage,
    PhishingCampaign,
    Policy,
    Recipient,
    RiskPoint,
    SecurityTest,
    StorePurchase,
    TrainingCampaign,
    User,
    UserEvent,
)
from .training import COMPLETED, PASSED, generate_training
from .user_event_data import generate_user_events

# Above this many enrollments a campaign reports completion_percentage -1 ("too large
# to calculate"), as the real API does for big campaigns.
COMPLETION_PERCENTAGE_LIMIT = 20_000


@dataclass(frozen=True)
class OrgSpec:
    """What to generate. Every field has a default, so OrgSpec() is a 1000-user org."""

    users: int = 1000
    seed: int = 1
    # HIGH/CRITICAL unresolved PhishER messages reported 4-24 h before `now` (exactly
    # this many), for paging demos.
    phisher_backlog: int = 3
    archived_ratio: float = 0.05
    # Ordinary PhishER messages; None: users // 25, at least 30.
    phisher_messages: int | None = None
    # PhishER messages are spread over this many days before `now`.
    phisher_days: float = 10.0
    subscription_level: str = "Diamond"
    # User Event API events; None: users // 20, at least 30.
    user_events: int | None = None
    # User events are spread over this many days before `now` (at least two).
    user_event_days: float = 3.0
    # Past quarterly training campaigns for every user (years of enrollments).
    training_history_quarters: int = 0

    def __post_init__(self) -> None:
        if self.users < 1:
            raise ValueError("an org needs at least one user")
        if not 0 <= self.archived_ratio < 1:
            raise ValueError("archived_ratio must be in [0, 1)")
        if self.phisher_backlog < 0 or (self.phisher_messages or 0) < 0:
            raise ValueError("message counts cannot be negative")
        if self.training_history_quarters < 0:
            raise ValueError("training_history_quarters cannot be negative")
        if (self.user_events or 0) < 0:
            raise ValueError("the number of user events cannot be negative")


class Org:
    """Everything the simulated API serves. Read-only once built."""

    def __init__(
        self,
        *,
        now: float,
        account: Account,
        users: Sequence[User],
        groups: Sequence[Group] = (),
        phishing_campaigns: Sequence[PhishingCampaign] = (),
        security_tests: Sequence[SecurityTest] = (),
        recipients: Mapping[int, Sequence[Recipient]] | None = None,
        training_campaigns: Sequence[TrainingCampaign] = (),
        enrollments: Mapping[int, Sequence[Enrollment]] | None = None,
        unarchived_enrollments: Mapping[int, Sequence[Enrollment]] | None = None,
        store_purchases: Sequence[StorePurchase] = (),
        policies: Sequence[Policy] = (),
        phisher_messages: Sequence[PhisherMessage] = (),
        account_risk_history: Sequence[RiskPoint] = (),
        group_risk_history: Mapping[int, Sequence[RiskPoint]] | None = None,
        user_events: Sequence[UserEvent] = (),
        seed: int = 0,
    ) -> None:
        self.now = now
        self.seed = seed
        self.account = account
        self.users = tuple(users)
        self.groups = tuple(groups)
        self.phishing_campaigns = tuple(phishing_campaigns)
        self.security_tests = tuple(security_tests)
        self.recipients: Mapping[int, Sequence[Recipient]] = recipients or {}
        self.training_campaigns = tuple(training_campaigns)
        self.store_purchases = tuple(store_purchases)
        self.policies = tuple(policies)
        # Newest report first, as PhishER lists them.
        self.phisher_messages = tuple(
            sorted(phisher_messages, key=lambda m: (-m.reported_at, m.id))
        )
        self.account_risk_history = tuple(account_risk_history)
        self.group_risk_history: Mapping[int, Sequence[RiskPoint]] = group_risk_history or {}
        # Newest first, as the User Event API lists them by default.
        self.user_events = tuple(
            sorted(user_events, key=lambda e: (e.occurred_date, e.id), reverse=True)
        )

        self.users_by_id = {user.id: user for user in self.users}
        self.active_users = tuple(u for u in self.users if u.status == ACTIVE)
        self.archived_users = tuple(u for u in self.users if u.status == ARCHIVED)
        self.group_members = {
            group.id: tuple(u for u in self.active_users if group.id in u.groups)
            for group in self.groups
        }
        by_campaign = enrollments or {}
        self.enrollments_by_campaign: Mapping[int, Sequence[Enrollment]] = {
            c.campaign_id: by_campaign.get(c.campaign_id, ()) for c in self.training_campaigns
        }
        if unarchived_enrollments is None:
            unarchived_enrollments = {
                cid: [e for e in rows if self._user_is_unarchived(e.user_id)]
                for cid, rows in self.enrollments_by_campaign.items()
            }
        self.unarchived_enrollments_by_campaign: Mapping[int, Sequence[Enrollment]] = {
            cid: unarchived_enrollments.get(cid, ()) for cid in self.enrollments_by_campaign
        }
        self.enrollments: Sequence[Enrollment] = ChainedRows(self.enrollments_by_campaign.values())
        self.unarchived_enrollments: Sequence[Enrollment] = ChainedRows(
            self.unarchived_enrollments_by_campaign.values()
        )
        self._completion: dict[int, int] = {}
        self._completion_lock = threading.Lock()

    def _user_is_unarchived(self, user_id: int) -> bool:
        user = self.users_by_id.get(user_id)
        return user is None or user.status != ARCHIVED

    @property
    def seats(self) -> int:
        return self.account.number_of_seats or 0

    def recipients_of(self, pst_id: int) -> Sequence[Recipient]:
        return self.recipients.get(pst_id, ())

    def completion_percentage(self, campaign_id: int) -> int:
        """Whole percent of a campaign's enrollments completed or passed; -1 when too large."""
        with self._completion_lock:
            cached = self._completion.get(campaign_id)
        if cached is not None:
            return cached
        rows = self.enrollments_by_campaign.get(campaign_id, ())
        if len(rows) > COMPLETION_PERCENTAGE_LIMIT:
            value = -1
        elif not rows:
            value = 0
        else:
            done = sum(1 for row in rows if row.status in (COMPLETED, PASSED))
            value = round(100 * done / len(rows))
        with self._completion_lock:
            self._completion[campaign_id] = value
        return value


def generate_org(spec: OrgSpec, now: float) -> Org:
    people = generate_people(spec.seed, now, spec.users, spec.archived_ratio)
    phishing = generate_phishing(spec.seed, now, people)
    training = generate_training(spec.seed, now, people, spec.training_history_quarters)
    message_count = spec.phisher_messages
    if message_count is None:
        message_count = max(30, spec.users // 25)
    messages = generate_messages(
        spec.seed, now, people.users, message_count, spec.phisher_backlog, spec.phisher_days
    )
    event_count = spec.user_events
    if event_count is None:
        event_count = max(30, spec.users // 20)
    user_events = generate_user_events(
        spec.seed, now, people.users, event_count, spec.user_event_days
    )
    active = [u for u in people.users if u.status == ACTIVE]
    scores = [u.current_risk_score for u in active if u.current_risk_score is not None]
    account_score = round(sum(scores) / len(scores), 3) if scores else 0.0
    return Org(
        now=now,
        seed=spec.seed,
        account=_account(spec, now, account_score),
        users=people.users,
        groups=people.groups,
        phishing_campaigns=phishing.campaigns,
        security_tests=phishing.security_tests,
        recipients=phishing.recipients,
        training_campaigns=training.campaigns,
        enrollments=training.enrollments,
        unarchived_enrollments=training.unarchived_enrollments,
        store_purchases=training.store_purchases,
        policies=training.policies,
        phisher_messages=messages,
        account_risk_history=risk_history(spec.seed, 0, now, account_score),
        group_risk_history={
            g.id: risk_history(spec.seed, g.id, now, g.current_risk_score) for g in people.groups
        },
        user_events=user_events,
    )


def _account(spec: OrgSpec, now: float, risk_score: float) -> Account:
    domain = org_domain(spec.seed)
    return Account(
        name=f"Simulated Org {spec.seed}",
        type="paid",
        domains=(domain,),
        admins=(Admin(974_278, "Grace", "Admin", f"grace.admin@{domain}"),),
        subscription_level=spec.subscription_level,
        subscription_end_date=int(now + 200 * DAY),
        number_of_seats=spec.users,
        current_risk_score=risk_score,
    )


def risk_history(seed: int, key: int, now: float, latest: float) -> tuple[RiskPoint, ...]:
    """Weekly risk scores over two years, oldest first, drifting down to `latest`."""
    points = []
    for week in range(104, -1, -1):
        wobble = Dice(seed, 50, key, week).between(0, -2.0, 2.0)
        score = min(100.0, max(0.0, latest + week * 0.08 + wobble))
        points.append(RiskPoint(date=int(now - week * 7 * DAY), risk_score=round(score, 3)))
    return tuple(points)
