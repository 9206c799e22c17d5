"""Derived gauges that are not KRIs: pure functions of a snapshot, computed per refresh."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kb4_exporter.model import PHISHER_SEVERITIES, PhisherMessage


def unresolved_by_severity(
    messages: Iterable[PhisherMessage], *, since: float
) -> Mapping[str, int]:
    """Unresolved (RECEIVED/IN_REVIEW) messages reported at or after `since`, per severity.

    Every known severity is present (zeros included); an unknown severity from the API
    counts as UNKNOWN_SEVERITY. Messages whose report time is unknown were matched by the
    server-side window filter, so they count.
    """
    counts = dict.fromkeys(PHISHER_SEVERITIES, 0)
    for message in messages:
        if not message.is_unresolved:
            continue
        if message.reported_at is not None and message.reported_at < since:
            continue
        severity = message.severity if message.severity in counts else "UNKNOWN_SEVERITY"
        counts[severity] += 1
    return counts
