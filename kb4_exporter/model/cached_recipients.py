"""A PST's recipient summary as last read, kept between refreshes and across restarts."""

from __future__ import annotations

from dataclasses import dataclass

from kb4_exporter.model.reporting import PstRecipients


@dataclass(frozen=True, slots=True)
class CachedRecipients:
    # The PST's status and summary counts when its recipients were read: while they hold,
    # so do the recipients (the refresher decides when to read them again).
    fingerprint: str
    summary: PstRecipients
    # When the rows behind the summary were read; 0 when unknown (older state files).
    fetched_at: float = 0.0
