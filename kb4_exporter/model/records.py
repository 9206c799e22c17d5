"""Compact, normalised records of KnowBe4 data and the tolerant parsers that build them.

Only the fields the KRIs and metrics need are kept: a 25k-user org has hundreds of
thousands of enrollments and recipients, so every record is a slotted dataclass and
every timestamp is a float of epoch seconds (UTC). Parsers accept every variant listed
in knowbe4-api.md and raise `RecordError` only when a record is unusable (e.g. not an
object, or no id).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, TypeVar

from kb4_exporter.model.untrusted_text import clean_text

DONE_STATUSES = frozenset({"completed", "passed"})
UNRESOLVED_PHISHER_STATUSES = frozenset({"RECEIVED", "IN_REVIEW"})
PHISHER_SEVERITIES = ("UNKNOWN_SEVERITY", "LOW", "MEDIUM", "HIGH", "CRITICAL")


class RecordError(ValueError):
    """A record from the API cannot be used at all."""


# --- primitive readers ------------------------------------------------------------

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_timestamp(value: Any) -> float | None:
    """ISO-8601 timestamp or date-only string -> epoch seconds; anything else -> None."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    try:
        if _DATE_ONLY.match(text):
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC).timestamp()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def read_float(value: Any) -> float | None:
    """A JSON number (or numeric string) -> float; bool, NaN and anything else -> None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):  # JSON ints are unbounded: 1e400 written out overflows
        return None
    if number != number or number in (float("inf"), float("-inf")):
        return None
    return number


def read_percentage(value: Any) -> float | None:
    """A percentage in 0..100; anything outside is not a percentage and reads as None.

    Ratios derived from it are exported as 0..1, so one bogus value must not push a
    mean (or a spread between groups) out of that range.
    """
    number = read_float(value)
    return number if number is not None and 0.0 <= number <= 100.0 else None


def read_int(value: Any) -> int | None:
    number = read_float(value)
    if number is None or not number.is_integer():
        return None
    return int(number)


# Counts above this are not counts: a float (every exported value is one) holds whole
# numbers exactly only up to here.
MAX_COUNT = 2**53


def read_count(value: Any) -> int | None:
    """A whole number in 0..MAX_COUNT; a negative or absurd count reads as None."""
    number = read_int(value)
    return number if number is not None and 0 <= number <= MAX_COUNT else None


def read_score(value: Any) -> float | None:
    """A KnowBe4 risk score, 0..100 (exported as such); anything outside reads as None."""
    number = read_float(value)
    return number if number is not None and 0.0 <= number <= 100.0 else None


def read_str(value: Any) -> str | None:
    """A JSON string, cleaned (see `untrusted_text`): it may end up in a label value."""
    if isinstance(value, str):
        text = clean_text(value)
        return sys.intern(text) if len(text) <= 64 else text
    return None


def _object(raw: Any, kind: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise RecordError(f"{kind} record is {type(raw).__name__}, expected an object")
    return raw


def _required_id(raw: Mapping[str, Any], kind: str, *keys: str) -> int:
    for key in keys:
        value = read_int(raw.get(key))
        if value is not None:
            return value
    raise RecordError(f"{kind} record has no usable {'/'.join(keys)}")


# --- records -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    subscription_level: str | None
    seats: int | None
    risk_score: float | None

    @classmethod
    def parse(cls, raw: Any) -> Account:
        obj = _object(raw, "account")
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
        obj = _object(raw, "user")
        groups_raw = obj.get("groups")
        groups: tuple[int, ...] = ()
        if isinstance(groups_raw, list):
            ids = (_group_ref_id(item) for item in groups_raw)
            groups = tuple(sorted({gid for gid in ids if gid is not None}))
        activity = parse_timestamp(obj.get("last_activity_at"))
        if activity is None:
            activity = parse_timestamp(obj.get("last_sign_in"))
        return cls(
            id=_required_id(obj, "user", "id"),
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
        obj = _object(raw, "group")
        gid = _required_id(obj, "group", "id", "group_id")
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
        obj = _object(raw, "security test")
        counts = {name: read_count(obj.get(f"{name}_count")) or 0 for name in PST_COUNT_FIELDS}
        return cls(
            pst_id=_required_id(obj, "security test", "pst_id", "id"),
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
        obj = _object(raw, "recipient")
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
        obj = _object(raw, "training campaign")
        return cls(
            campaign_id=_required_id(obj, "training campaign", "campaign_id", "id"),
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
        obj = _object(raw, "enrollment")
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
class PhisherMessage:
    severity: str
    action_status: str
    reported_at: float | None

    @classmethod
    def parse(cls, raw: Any) -> PhisherMessage:
        obj = _object(raw, "PhishER message")
        return cls(
            severity=(read_str(obj.get("severity")) or "UNKNOWN_SEVERITY").upper(),
            action_status=(read_str(obj.get("actionStatus")) or "").upper(),
            reported_at=phisher_reported_at(obj),
        )

    @property
    def is_unresolved(self) -> bool:
        return self.action_status in UNRESOLVED_PHISHER_STATUSES


# PhishER message ids are UUIDs. The unresolved-message poll sends them back in Lucene
# queries (`id:<uuid>`), so anything that could change the meaning of a query is refused.
_PHISHER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def is_phisher_id(text: str) -> bool:
    return _PHISHER_ID.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class PhisherMessageStatus:
    """A PhishER message as the unresolved-message poll reads it: which one, and its state."""

    id: str
    severity: str
    action_status: str
    reported_at: float | None

    @classmethod
    def parse(cls, raw: Any) -> PhisherMessageStatus:
        obj = _object(raw, "PhishER message")
        message_id = read_str(obj.get("id"))
        if message_id is None or not is_phisher_id(message_id):
            raise RecordError("PhishER message has no usable id")
        message = PhisherMessage.parse(obj)
        severity = message.severity
        return cls(
            id=message_id,
            # An unknown severity is exported as UNKNOWN_SEVERITY, like the counts do.
            severity=severity if severity in PHISHER_SEVERITIES else "UNKNOWN_SEVERITY",
            action_status=message.action_status,
            reported_at=message.reported_at,
        )

    @property
    def is_unresolved(self) -> bool:
        return self.action_status in UNRESOLVED_PHISHER_STATUSES


@dataclass(frozen=True, slots=True)
class UnresolvedPhisherMessage:
    """A message still RECEIVED or IN_REVIEW when last read; kept between polls.

    `reported_at` is the report time, or when the exporter first saw the message if
    PhishER gave none (so its age is then a lower bound).
    """

    id: str
    severity: str
    reported_at: float


def phisher_reported_at(node: Mapping[str, Any]) -> float | None:
    """Report time: a top-level field if present, else the CREATED event's `createdAt`."""
    for key in ("reportedAt", "reported_at", "createdAt"):
        stamp = parse_timestamp(node.get(key))
        if stamp is not None:
            return stamp
    events = node.get("events")
    if isinstance(events, list):
        for event in events:
            if isinstance(event, Mapping) and str(event.get("eventType", "")).upper() == "CREATED":
                stamp = parse_timestamp(event.get("createdAt"))
                if stamp is not None:
                    return stamp
    return None


@dataclass(frozen=True, slots=True)
class RiskPoint:
    """One entry of a risk-score history; `date` is a day (00:00 UTC)."""

    date: float
    risk_score: float

    @classmethod
    def parse(cls, raw: Any) -> RiskPoint:
        obj = _object(raw, "risk score history")
        stamp = parse_timestamp(obj.get("date"))
        score = read_score(obj.get("risk_score"))
        if stamp is None or score is None:
            raise RecordError("risk score history entry has no usable date/risk_score")
        return cls(stamp, score)


@dataclass(frozen=True, slots=True)
class UserEvent:
    """A custom event of the User Event API, reduced to what the metrics count."""

    event_type: str
    risk_level: int | None
    occurred_at: float | None

    @classmethod
    def parse(cls, raw: Any) -> UserEvent:
        obj = _object(raw, "user event")
        if obj.get("event_type") is None and obj.get("occurred_date") is None:
            raise RecordError("a user event has neither event_type nor occurred_date")
        kind = obj.get("event_type")
        name = read_str(kind.get("name")) if isinstance(kind, Mapping) else read_str(kind)
        risk = obj.get("risk")
        level = read_int(risk.get("level")) if isinstance(risk, Mapping) else None
        if level is None:
            level = read_int(obj.get("risk_level"))
        return cls(
            event_type=name or "unknown",
            risk_level=level,
            occurred_at=parse_timestamp(obj.get("occurred_date")),
        )


# --- the snapshot ------------------------------------------------------------------


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


T = TypeVar("T")


def unique_by_id(records: Sequence[T], key: Callable[[T], Hashable | None]) -> tuple[T, ...]:
    """`records` without later copies of an id; records without an id are all kept."""
    seen: set[Hashable] = set()
    kept: list[T] = []
    for record in records:
        record_id = key(record)
        if record_id is not None:
            if record_id in seen:
                continue
            seen.add(record_id)
        kept.append(record)
    return records if isinstance(records, tuple) and len(kept) == len(records) else tuple(kept)


# Snapshot field -> the id of its records.
_RECORD_IDS: Mapping[str, Callable[[Any], Hashable | None]] = {
    "users": lambda user: user.id,
    "groups": lambda group: group.id,
    "security_tests": lambda test: test.pst_id,
    "training_campaigns": lambda campaign: campaign.campaign_id,
}
