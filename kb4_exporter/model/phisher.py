"""Records of PhishER (GraphQL): messages, their status and report time."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kb4_exporter.model.parsing import RecordError, object_of, parse_timestamp, read_str

# PhishER has no "unresolved" status: unresolved means RECEIVED or IN_REVIEW.
UNRESOLVED_PHISHER_STATUSES = frozenset({"RECEIVED", "IN_REVIEW"})
PHISHER_SEVERITIES = ("UNKNOWN_SEVERITY", "LOW", "MEDIUM", "HIGH", "CRITICAL")


@dataclass(frozen=True, slots=True)
class PhisherMessage:
    severity: str
    action_status: str
    reported_at: float | None

    @classmethod
    def parse(cls, raw: Any) -> PhisherMessage:
        obj = object_of(raw, "PhishER message")
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
        obj = object_of(raw, "PhishER message")
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
