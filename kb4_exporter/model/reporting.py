"""Records of the Reporting API: account, users, groups, phishing tests and their
recipients, training campaigns and enrollments, risk-score history.

Only the fields the KRIs and metrics need are kept, every record is a slotted
dataclass and every timestamp a float of epoch seconds (UTC): a 25k-user org has
hundreds of thousands of enrollments and recipients.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from kb4_exporter.model.parsing import (
    RecordError,
    object_of,
    parse_timestamp,
    read_count,
    read_int,
    read_percentage,
    read_score,
    read_str,
    required_id,
    unique_by_id,
)

DONE_STATUSES = frozenset({"completed", "passed"})


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    subscription_level: str | None
    seats: int | None
    risk_score: float | None

    @classmethod
    def parse(cls, raw: Any) -> Account:
        obj = object_of(raw, "account")
        domains = obj.get("domains")
        fallback = domains[0] if isinstance(domains, list) and domains else ""
        seats = read_int(obj.get("number_of_seats"))
        if seats is not None and read_count(seats) is None:
            # The daily budgets are derived from the seats: a negative count is no count.
            raise RecordError(f"number_of_seats is not a count ({seats})")
        return cls(
            name=read_str(obj.get("name")) or read_str(fallback) or "",
            subscription_level=read_str(obj.get("subscription_level")),
            seats=seats,
            risk_score=read_score(obj.get("current_risk_score")),
        )


@dataclass(frozen=True, slots=True)
class User:
    id: int
    phish_prone_percentage: float | None
    risk_score: float | None
    groups: tuple[int, ...]
    # `last_activity_at` if the API ever sends it, else `last_sign_in`.
    last_activity: float | None
    status: str

    @classmethod
    def parse(cls, raw: Any) -> User:
        obj = object_of(raw, "user")
        groups_raw = obj.get("groups")
        groups: tuple[int, ...] = ()
        if isinstance(groups_raw, list):
            ids = (_group_ref_id(item) for item in groups_raw)
            groups = tuple(sorted({gid for gid in ids if gid is not None}))
        activity = parse_timestamp(obj.get("last_activity_at"))
        if activity is None:
            activity = parse_timestamp(obj.get("last_sign_in"))
        return cls(
            id=required_id(obj, "user", "id"),
            phish_prone_percentage=read_percentage(obj.get("phish_prone_percentage")),
            risk_score=read_score(obj.get("current_risk_score")),
            groups=groups,
            last_activity=activity,
            status=(read_str(obj.get("status")) or "active").lower(),
        )


def _group_ref_id(item: Any) -> int | None:
    """`groups` holds ids; with `expand=group` it holds objects with `id`/`group_id`."""
    if isinstance(item, Mapping):
        gid = read_int(item.get("id"))
        return gid if gid is not None else read_int(item.get("group_id"))
    return read_int(item)


@dataclass(frozen=True, slots=True)
class Group:
    id: int
    name: str
    member_count: int | None
    risk_score: float | None
    status: str

    @classmethod
    def parse(cls, raw: Any) -> Group:
        obj = object_of(raw, "group")
        gid = required_id(obj, "group", "id", "group_id")
        return cls(
            id=gid,
            name=read_str(obj.get("name")) or str(gid),
            member_count=read_count(obj.get("member_count")),
            risk_score=read_score(obj.get("current_risk_score")),
            status=(read_str(obj.get("status")) or "active").lower(),
        )


PST_COUNT_FIELDS = (
    "scheduled",
    "delivered",
    "opened",
    "clicked",
    "replied",
    "attachment_open",
    "macro_enabled",
    "data_entered",
    "qr_code_scanned",
    "reported",
    "bounced",
)


@dataclass(frozen=True, slots=True)
class SecurityTest:
    """A phishing security test (PST) with its summary counts."""

    pst_id: int
    campaign_id: int | None
    name: str
    status: str
    started_at: float | None
    duration_days: int | None
    phish_prone_percentage: float | None
    counts: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Any) -> SecurityTest:
        obj = object_of(raw, "security test")
        counts = {name: read_count(obj.get(f"{name}_count")) or 0 for name in PST_COUNT_FIELDS}
        return cls(
            pst_id=required_id(obj, "security test", "pst_id", "id"),
            campaign_id=read_int(obj.get("campaign_id")),
            name=read_str(obj.get("name")) or "",
            status=read_str(obj.get("status")) or "",
            started_at=parse_timestamp(obj.get("started_at") or obj.get("start_date")),
            duration_days=read_int(obj.get("duration")),
            phish_prone_percentage=read_percentage(obj.get("phish_prone_percentage")),
            counts=counts,
        )

    @property
    def is_closed(self) -> bool:
        return self.status.lower() == "closed"

    @property
    def may_have_clicks_or_reports(self) -> bool:
        """False only when the summary counts rule out clicks and reports entirely."""
        return self.counts.get("clicked", 0) > 0 or self.counts.get("reported", 0) > 0


@dataclass(frozen=True, slots=True)
class Recipient:
    """One recipient row of a PST, reduced to what the KRIs read."""

    user_key: str | None
    delivered_at: float | None
    clicked_at: float | None
    reported_at: float | None
    # Unique within its PST (knowbe4-api.md 2.7).
    recipient_id: int | None = None

    @classmethod
    def parse(cls, raw: Any) -> Recipient:
        obj = object_of(raw, "recipient")
        return cls(
            recipient_id=read_int(obj.get("recipient_id")),
            user_key=recipient_user_key(obj.get("user")),
            delivered_at=parse_timestamp(obj.get("delivered_at")),
            clicked_at=parse_timestamp(obj.get("clicked_at")),
            reported_at=parse_timestamp(obj.get("reported_at")),
        )


def recipient_user_key(user: Any) -> str | None:
    """Identity of a recipient's user: `user.id`, else the lower-cased e-mail."""
    if not isinstance(user, Mapping):
        return None
    uid = read_int(user.get("id"))
    if uid is not None:
        return f"id:{uid}"
    email = read_str(user.get("email"))
    if email and email.strip():
        return "email:" + email.strip().lower()
    return None


@dataclass(frozen=True, slots=True)
class PstRecipients:
    """Recipients of one PST, summarised: who clicked, and how long reporting took.

    Keeping the summary instead of the rows keeps the cache of closed PSTs small.
    """

    pst_id: int
    clicker_keys: frozenset[str]
    report_delays: tuple[float, ...]
    recipient_count: int

    @classmethod
    def summarise(cls, pst_id: int, recipients: list[Recipient]) -> PstRecipients:
        recipients = list(unique_by_id(recipients, lambda r: r.recipient_id))
        clickers = frozenset(
            r.user_key for r in recipients if r.clicked_at is not None and r.user_key is not None
        )
        delays = tuple(
            sorted(
                r.reported_at - r.delivered_at
                for r in recipients
                if r.reported_at is not None
                and r.delivered_at is not None
                and r.reported_at >= r.delivered_at
            )
        )
        return cls(pst_id, clickers, delays, len(recipients))


@dataclass(frozen=True, slots=True)
class TrainingCampaign:
    campaign_id: int
    name: str
    status: str
    duration_type: str
    end_date: float | None
    relative_duration: str | None

    @classmethod
    def parse(cls, raw: Any) -> TrainingCampaign:
        obj = object_of(raw, "training campaign")
        return cls(
            campaign_id=required_id(obj, "training campaign", "campaign_id", "id"),
            name=read_str(obj.get("name")) or "",
            status=read_str(obj.get("status")) or "",
            duration_type=read_str(obj.get("duration_type")) or "",
            end_date=parse_timestamp(obj.get("end_date")),
            relative_duration=read_str(obj.get("relative_duration")),
        )


@dataclass(frozen=True, slots=True)
class Enrollment:
    campaign_id: int | None
    campaign_name: str
    status: str
    enrollment_date: float | None
    completion_date: float | None
    # Never sent by the real API; kept in case a future version adds it.
    due_date: float | None
    enrollment_id: int | None = None

    @classmethod
    def parse(cls, raw: Any) -> Enrollment:
        obj = object_of(raw, "enrollment")
        return cls(
            enrollment_id=read_int(obj.get("enrollment_id")),
            campaign_id=read_int(obj.get("campaign_id")),
            campaign_name=read_str(obj.get("campaign_name")) or "",
            status=read_str(obj.get("status")) or "",
            enrollment_date=parse_timestamp(obj.get("enrollment_date")),
            completion_date=parse_timestamp(obj.get("completion_date")),
            due_date=parse_timestamp(obj.get("due_date")),
        )

    @property
    def kind(self) -> StatusKind:
        return status_kind(self.status)


@dataclass(frozen=True, slots=True)
class StatusKind:
    exempt: bool
    done: bool
    past_due: bool


@lru_cache(maxsize=256)
def status_kind(status: str) -> StatusKind:
    """What an enrollment status means, the one rule for every KRI and breakdown:
    Completed/Passed are done, anything containing "exempt" is exempt, "Past Due" is due
    whatever the dates; case and surrounding spaces are ignored."""
    normalised = status.strip().lower()
    return StatusKind(
        exempt="exempt" in normalised,
        done=normalised in DONE_STATUSES,
        past_due=normalised == "past due",
    )


@dataclass(frozen=True, slots=True)
class EnrollmentGroup:
    """`count` enrollments that share every fact the training KRIs and breakdowns read
    (built by `enrollments.EnrollmentTally`, which says how)."""

    # The joined campaign; None when no campaign joins.
    campaign_id: int | None
    # The enrollment's campaign name, else the joined campaign's; "" when neither has one.
    campaign_name: str
    # As sent, without surrounding spaces.
    status: str
    # The due date if it was still ahead when the tally was built; else None.
    due_date: float | None
    # The due date had passed when the tally was built (it stays passed).
    due_passed: bool
    # Done with a completion date no later than the due date.
    on_time: bool
    count: int

    @property
    def kind(self) -> StatusKind:
        return status_kind(self.status)

    def is_due(self, now: float) -> bool:
        """Due at `now` (no earlier than the tally's build time): status Past Due, or a due
        date before `now`."""
        return (
            self.kind.past_due
            or self.due_passed
            or (self.due_date is not None and self.due_date < now)
        )


@dataclass(frozen=True, slots=True)
class RiskPoint:
    """One entry of a risk-score history; `date` is a day (00:00 UTC)."""

    date: float
    risk_score: float

    @classmethod
    def parse(cls, raw: Any) -> RiskPoint:
        obj = object_of(raw, "risk score history")
        stamp = parse_timestamp(obj.get("date"))
        score = read_score(obj.get("risk_score"))
        if stamp is None or score is None:
            raise RecordError("risk score history entry has no usable date/risk_score")
        return cls(stamp, score)
