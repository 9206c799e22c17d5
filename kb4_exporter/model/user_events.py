"""Records of the User Event API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kb4_exporter.model.parsing import RecordError, object_of, parse_timestamp, read_int, read_str


@dataclass(frozen=True, slots=True)
class UserEvent:
    """A custom event of the User Event API, reduced to what the metrics count."""

    event_type: str
    risk_level: int | None
    occurred_at: float | None

    @classmethod
    def parse(cls, raw: Any) -> UserEvent:
        obj = object_of(raw, "user event")
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
