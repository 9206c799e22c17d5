"""PhishER messages of a simulated org: every severity and status over the last days.

The number of HIGH/CRITICAL unresolved messages reported between 24 h and 4 h before
`now` is exactly the spec's `phisher_backlog`, so a demo can make the paging alert fire
(or not) on purpose; other messages avoid that combination.
"""

from __future__ import annotations

from collections.abc import Sequence

from .clock import BOUNDARY_MARGIN, DAY, HOUR, MINUTE, clear_of
from .dice import Dice
from .people import org_domain
from .records import PhisherEvent, PhisherMessage, User

SEVERITIES = ("UNKNOWN_SEVERITY", "LOW", "MEDIUM", "HIGH", "CRITICAL")
STATUSES = ("RECEIVED", "IN_REVIEW", "RESOLVED")
UNRESOLVED = ("RECEIVED", "IN_REVIEW")
URGENT = ("HIGH", "CRITICAL")
_SEVERITY_WEIGHTS = (30, 30, 20, 13, 7)
_CATEGORY_BY_SEVERITY = {
    "UNKNOWN_SEVERITY": ("UNKNOWN", "CLEAN"),
    "LOW": ("CLEAN", "SPAM"),
    "MEDIUM": ("SPAM", "THREAT"),
    "HIGH": ("THREAT",),
    "CRITICAL": ("THREAT",),
}
_SUBJECTS = (
    "Invoice overdue - action required",
    "Your mailbox is almost full",
    "Urgent wire transfer",
    "Shared file: Q3 results.xlsx",
    "Weekly newsletter",
    "Password reset requested",
    "Team lunch on Friday",
    "Delivery attempt failed",
)

# Dice slots of a message
_AGE, _SEVERITY, _STATUS, _CATEGORY, _SUBJECT, _REPORTER, _FOLLOW_UP, _CONFIDENCE = range(8)


def generate_messages(
    seed: int,
    now: float,
    users: Sequence[User],
    count: int,
    backlog: int,
    days: float,
    lookback: float = 7 * DAY,
) -> tuple[PhisherMessage, ...]:
    """`count` ordinary messages over the last `days` days plus `backlog` urgent ones.

    The first fifteen ordinary messages cover every severity x status pair.
    """
    window_old, window_new = now - 24 * HOUR, now - 4 * HOUR
    boundaries = (window_old, window_new, now - lookback)
    messages = []
    for index in range(count):
        dice = Dice(seed, 40, index)
        if index < len(SEVERITIES) * len(STATUSES):
            severity, status = SEVERITIES[index // 3], STATUSES[index % 3]
        else:
            severity = dice.weighted(_SEVERITY, SEVERITIES, _SEVERITY_WEIGHTS)
            status = ""
        reported = clear_of(int(now - dice.between(_AGE, 10 * MINUTE, days * DAY)), boundaries)
        if not status:
            fresh = reported > window_new
            weights = (60, 25, 15) if fresh else (15, 15, 70)
            status = dice.weighted(_STATUS, STATUSES, weights)
        if severity in URGENT and status in UNRESOLVED and window_old <= reported <= window_new:
            # Keep the urgent backlog exactly as configured: this one came in earlier.
            reported = int(window_old - BOUNDARY_MARGIN - dice.between(_AGE, 0, 2 * DAY))
        messages.append(_message(seed, now, dice, index, severity, status, reported, users))
    for extra in range(backlog):
        index = count + extra
        dice = Dice(seed, 41, extra)
        reported = int(
            dice.between(_AGE, window_old + BOUNDARY_MARGIN, window_new - BOUNDARY_MARGIN)
        )
        severity, status = URGENT[extra % 2], UNRESOLVED[extra % 2]
        messages.append(_message(seed, now, dice, index, severity, status, reported, users))
    return tuple(sorted(messages, key=lambda m: (-m.reported_at, m.id)))


def _message(
    seed: int,
    now: float,
    dice: Dice,
    index: int,
    severity: str,
    status: str,
    reported: int,
    users: Sequence[User],
) -> PhisherMessage:
    reporter = users[dice.below(_REPORTER, len(users))].email if users else f"it@{org_domain(seed)}"
    events = [PhisherEvent(_uuid(seed, index, 0), reporter, "CREATED", reported)]
    if status != "RECEIVED":
        changed = int(min(now - MINUTE, reported + dice.between(_FOLLOW_UP, 5 * MINUTE, 6 * HOUR)))
        # Listed newest first: a client must look for the CREATED event, not take the first.
        follow_up = PhisherEvent(_uuid(seed, index, 1), None, "ACTION_STATUS_CHANGED", changed)
        events.insert(0, follow_up)
    threat = round(dice.unit(_CONFIDENCE), 3)
    return PhisherMessage(
        id=_uuid(seed, index, 9),
        subject=dice.pick(_SUBJECT, _SUBJECTS),
        sender=f"sender{index}@mail.example.net",
        reported_by=reporter,
        action_status=status,
        category=dice.pick(_CATEGORY, _CATEGORY_BY_SEVERITY[severity]),
        severity=severity,
        pipeline_status="PROCESSED",
        tags=("simulated",) if index % 4 == 0 else (),
        confidence=(round(1 - threat, 3), 0.0, threat),
        events=tuple(events),
    )


def _uuid(seed: int, index: int, part: int) -> str:
    return Dice(seed, 42, index, part).uuid()
