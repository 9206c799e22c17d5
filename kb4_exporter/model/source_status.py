"""The outcome of a source's latest refresh, kept in the results and the state file."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SourceStatus:
    up: bool = False
    last_success: float | None = None
    last_attempt: float | None = None
    duration: float | None = None
    truncated: bool = False
