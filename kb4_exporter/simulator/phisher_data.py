"""PhishER messages of a simulated org: every severity and status over the last days.

The number of HIGH/CRITICAL unresolved messages reported between 24 h and 4 h before
`now` is exactly the spec's `phisher_backlog`, so a demo can make the paging alert fire
(or not) on purpose; other messages avoid that combination.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

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


@dataclass(frozen=True)
class Triage:
    """How fast a simulated team resolves reports of one severity: `share` of them after
    a delay uniform in [fastest, slowest] seconds; the rest are never resolved."""

    share: float
    fastest: float
    slowest: float


# A team that triages HIGH/CRITICAL within hours (one in twenty takes over 4 hours and
# would page), most MEDIUM within a day, and leaves many LOW and unclassified reports
# open for good: the long tail of unresolved messages the paging poll has to follow.
DEFAULT_TRIAGE: Mapping[str, Triage] = {
    "CRITICAL": Triage(1.0, 10 * MINUTE, 3 * HOUR),
    "HIGH": Triage(1.0, 10 * MINUTE, 3 * HOUR),
    "MEDIUM": Triage(0.8, HOUR, DAY),
    "LOW": Triage(0.5, HOUR, 3 * DAY),
    "UNKNOWN_SEVERITY": Triage(0.3, HOUR, 7 * DAY),
}
# Of the HIGH/CRITICAL reports, this share waits 4 to 30 hours instead.
SLOW_URGENT_SHARE = 0.05

# Dice slots of a streamed report (past those `_message` uses)
_JITTER, _STREAM_SEVERITY, _RESOLVED, _DELAY, _SLOW = range(10, 15)


def generate_report_stream(
    seed: int,
    start: float,
    end: float,
    per_week: float,
    users: Sequence[User],
    triage: Mapping[str, Triage] = DEFAULT_TRIAGE,
) -> tuple[PhisherMessage, ...]:
    """Reports arriving steadily between `start` and `end`, `per_week` a week, each
    RECEIVED until the team resolves it (`resolved_at`), if it ever does.

    For simulations that run a clock forward: the server lists each message once its
    report time has come and shows it RESOLVED from `resolved_at` on.
    """
    spacing = 7 * DAY / per_week
    messages = []
    for index in range(int((end - start) / spacing)):
        dice = Dice(seed, 43, index)
        reported = int(start + (index + dice.unit(_JITTER)) * spacing)
        severity = dice.weighted(_STREAM_SEVERITY, SEVERITIES, _SEVERITY_WEIGHTS)
        rule = triage[severity]
        resolved_at = None
        if dice.unit(_RESOLVED) < rule.share:
            fastest, slowest = rule.fastest, rule.slowest
            if severity in URGENT and dice.unit(_SLOW) < SLOW_URGENT_SHARE:
                fastest, slowest = 4 * HOUR, 30 * HOUR
            resolved_at = int(reported + dice.between(_DELAY, fastest, slowest))
        message = _message(
            seed + 1000, reported, dice, index, severity, "RECEIVED", reported, users
        )
        messages.append(replace(message, resolved_at=resolved_at))
    return tuple(sorted(messages, key=lambda m: (-m.reported_at, m.id)))
