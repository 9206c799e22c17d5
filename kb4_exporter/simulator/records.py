"""The simulated org's raw data: plain records the payload renderers turn into JSON.

Timestamps are epoch seconds (UTC). Only fields that matter to the KRIs, to the API's
filters or to realistic paging are stored; purely cosmetic fields (phone numbers,
browsers, IP addresses) are derived from ids when a payload is rendered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import TypeVar, overload

T = TypeVar("T")

ACTIVE = "active"
ARCHIVED = "archived"


@dataclass(frozen=True, slots=True)
class Admin:
    id: int
    first_name: str
    last_name: str
    email: str


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    type: str
    domains: tuple[str, ...]
    admins: tuple[Admin, ...]
    subscription_level: str | None
    subscription_end_date: float | None
    number_of_seats: int | None
    current_risk_score: float


@dataclass(frozen=True, slots=True)
class RiskPoint:
    date: float
    risk_score: float


@dataclass(frozen=True, slots=True)
class User:
    id: int
    first_name: str
    last_name: str
    email: str
    job_title: str
    department: str
    location: str
    phish_prone_percentage: float | None
    current_risk_score: float | None
    groups: tuple[int, ...]
    joined_on: int
    last_sign_in: int | None
    status: str
    archived_at: int | None

    @property
    def is_active(self) -> bool:
        return self.status == ACTIVE


@dataclass(frozen=True, slots=True)
class Group:
    id: int
    name: str
    group_type: str
    status: str
    current_risk_score: float
    provisioning_guid: str | None


@dataclass(frozen=True, slots=True)
class GroupRef:
    """A group as embedded in campaigns and PSTs: {"group_id": ..., "name": ...}."""

    group_id: int
    name: str


@dataclass(frozen=True, slots=True)
class NamedRef:
    """An {"id": ..., "name": ...} reference (templates, landing pages)."""

    id: int
    name: str


PST_COUNT_NAMES = (
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
class Recipient:
    recipient_id: int
    pst_id: int
    # None for recipients known only by e-mail (e.g. users deleted since the test).
    user_id: int | None
    first_name: str
    last_name: str
    email: str
    template: NamedRef
    scheduled_at: int | None
    delivered_at: int | None
    opened_at: int | None
    clicked_at: int | None
    replied_at: int | None
    attachment_opened_at: int | None
    macro_enabled_at: int | None
    data_entered_at: int | None
    qr_code_scanned: int | None
    reported_at: int | None
    bounced_at: int | None

    @property
    def failed(self) -> bool:
        """Any risky action, as the API's phish-prone percentage counts it."""
        return any(
            stamp is not None
            for stamp in (
                self.clicked_at,
                self.replied_at,
                self.attachment_opened_at,
                self.macro_enabled_at,
                self.data_entered_at,
                self.qr_code_scanned,
            )
        )


def pst_counts(recipients: Iterable[Recipient]) -> dict[str, int]:
    """A PST's summary counts, each the exact number of its recipients with that event."""
    return pst_summary(recipients)[0]


def pst_summary(recipients: Iterable[Recipient]) -> tuple[dict[str, int], int]:
    """(summary counts, recipients who failed), in one pass over the rows."""
    counts = dict.fromkeys(PST_COUNT_NAMES, 0)
    failed = 0
    for row in recipients:
        counts["scheduled"] += 1
        failed += row.failed
        for name, stamp in (
            ("delivered", row.delivered_at),
            ("opened", row.opened_at),
            ("clicked", row.clicked_at),
            ("replied", row.replied_at),
            ("attachment_open", row.attachment_opened_at),
            ("macro_enabled", row.macro_enabled_at),
            ("data_entered", row.data_entered_at),
            ("qr_code_scanned", row.qr_code_scanned),
            ("reported", row.reported_at),
            ("bounced", row.bounced_at),
        ):
            if stamp is not None:
                counts[name] += 1
    return counts, failed


@dataclass(frozen=True, slots=True)
class SecurityTest:
    """A phishing security test (PST). `counts` are keyed by PST_COUNT_NAMES."""

    pst_id: int
    campaign_id: int
    name: str
    status: str
    groups: tuple[GroupRef, ...]
    started_at: int | None
    duration: int
    categories: tuple[NamedRef, ...]
    template: NamedRef
    landing_page: NamedRef
    counts: Mapping[str, int]
    phish_prone_percentage: float

    @property
    def users_count(self) -> int | None:
        return None if self.started_at is None else self.counts.get("scheduled", 0)


@dataclass(frozen=True, slots=True)
class PhishingCampaign:
    campaign_id: int
    name: str
    groups: tuple[GroupRef, ...]
    status: str
    frequency: str
    send_duration: str
    track_duration: str
    difficulty_filter: tuple[int, ...]
    create_date: int
    pst_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class StorePurchase:
    store_purchase_id: int
    name: str
    description: str
    type: str
    duration: int
    publisher: str
    publish_date: int
    purchase_date: int
    retired: bool = False


@dataclass(frozen=True, slots=True)
class Policy:
    policy_id: int
    name: str
    minimum_time: int
    default_language: str = "en-us"
    published: bool = True


Content = StorePurchase | Policy


@dataclass(frozen=True, slots=True)
class TrainingCampaign:
    campaign_id: int
    name: str
    groups: tuple[GroupRef, ...]
    status: str
    content: tuple[Content, ...]
    duration_type: str
    start_date: int
    end_date: int | None
    relative_duration: str | None
    auto_enroll: bool
    allow_multiple_enrollments: bool


@dataclass(frozen=True, slots=True)
class Enrollment:
    enrollment_id: int
    campaign_id: int
    campaign_name: str
    user_id: int
    first_name: str
    last_name: str
    email: str
    employee_number: str
    content: Content
    enrollment_date: int
    start_date: int | None
    completion_date: int | None
    status: str
    time_spent: int
    policy_acknowledged: bool


@dataclass(frozen=True, slots=True)
class PhisherEvent:
    id: str
    causer: str | None
    event_type: str
    created_at: int


@dataclass(frozen=True, slots=True)
class PhisherMessage:
    id: str
    subject: str
    sender: str
    reported_by: str
    action_status: str
    category: str
    severity: str
    pipeline_status: str
    tags: tuple[str, ...]
    confidence: tuple[float, float, float]  # clean, spam, threat
    # In the order the API lists them; exactly one has event_type "CREATED".
    events: tuple[PhisherEvent, ...]
    # When someone resolves it, for messages that change while a simulation runs: the
    # API shows `action_status` before this time and RESOLVED from it on.
    resolved_at: int | None = None

    @property
    def reported_at(self) -> int:
        return next(e.created_at for e in self.events if e.event_type == "CREATED")

    def status_at(self, now: float) -> str:
        if self.resolved_at is not None and now >= self.resolved_at:
            return "RESOLVED"
        return self.action_status

    def events_at(self, now: float) -> tuple[PhisherEvent, ...]:
        """The events listed at `now`: the resolution once it has happened, newest first."""
        if self.resolved_at is None or now < self.resolved_at:
            return self.events
        resolved = PhisherEvent(
            f"{self.id}-resolved", None, "ACTION_STATUS_CHANGED", self.resolved_at
        )
        return (resolved, *self.events)


@dataclass(frozen=True, slots=True)
class UserEvent:
    """A custom risk event pushed to the User Event API about one user."""

    id: str
    event_type: str
    user_id: int
    user_email: str
    user_archived: bool
    occurred_date: int
    risk_level: int
    # 0: the risk stays until it expires; 1: it fades out over time (simulated meaning).
    risk_decay_mode: int
    risk_expire_date: int | None
    external_id: str | None
    source: str | None
    description: str | None


# --- lazy sequences ------------------------------------------------------------------


class LazyRows(Sequence[T]):
    """A read-only sequence whose rows are built on demand by `make(index)`."""

    __slots__ = ("_length", "_make")

    def __init__(self, length: int, make: Callable[[int], T]) -> None:
        self._length = length
        self._make = make

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...

    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        if isinstance(index, slice):
            return [self._make(i) for i in range(*index.indices(self._length))]
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError(index)
        return self._make(index)

    def __iter__(self) -> Iterator[T]:
        return (self._make(i) for i in range(self._length))


class ChainedRows(Sequence[T]):
    """Several sequences read as one, without copying them."""

    __slots__ = ("_offsets", "_parts")

    def __init__(self, parts: Iterable[Sequence[T]]) -> None:
        self._parts = tuple(parts)
        self._offsets = (0, *accumulate(len(part) for part in self._parts))

    def __len__(self) -> int:
        return self._offsets[-1]

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...

    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return [self[i] for i in range(start, stop, step)]
            return self._contiguous(start, stop)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        for part, offset, end in zip(self._parts, self._offsets, self._offsets[1:], strict=False):
            if index < end:
                return part[index - offset]
        raise IndexError(index)

    def _contiguous(self, start: int, stop: int) -> list[T]:
        rows: list[T] = []
        for part, offset, end in zip(self._parts, self._offsets, self._offsets[1:], strict=False):
            if end <= start or offset >= stop:
                continue
            rows.extend(part[max(start, offset) - offset : min(stop, end) - offset])
        return rows

    def __iter__(self) -> Iterator[T]:
        for part in self._parts:
            yield from part
