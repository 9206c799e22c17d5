"""User Event API events of a simulated org: custom risk events about its users.

Each event type has its own range of risk levels within the API's -10..10: risky
behaviour raises a user's risk (positive), good behaviour lowers it (negative), and
some types are neutral (0). The first events are laid out so that even a small org
shows every type at both ends of its range inside the last day (so levels -10, 0 and
10 all appear) and every type once more than a day ago, where an exporter counting
the last day must leave it out. No event lies within 2 h of the one-day boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .clock import BOUNDARY_MARGIN, DAY, MINUTE, clear_of
from .dice import Dice
from .records import ARCHIVED, User, UserEvent

# How far back the exporter counts events (its kb4_user_events_24h window).
COUNTED_WINDOW = DAY


@dataclass(frozen=True)
class EventType:
    name: str
    lowest: int
    highest: int
    source: str | None
    description: str
    weight: int


EVENT_TYPES = (
    EventType(
        "dlp_violation", 4, 8, "simulated-dlp", "Sensitive data sent to a personal address", 20
    ),
    EventType(
        "mfa_push_approved_unprompted",
        7,
        10,
        "simulated-idp",
        "Approved an MFA push the user had not started",
        8,
    ),
    EventType(
        "unsanctioned_app_signup", 1, 4, "simulated-casb", "Signed up for an unsanctioned app", 25
    ),
    EventType(
        "usb_storage_blocked", 0, 3, "simulated-edr", "USB storage mounted; blocked by policy", 17
    ),
    EventType(
        "security_champion_session", -6, -1, None, "Attended a security champion session", 18
    ),
    EventType(
        "suspicious_call_reported",
        -10,
        -4,
        "simulated-helpdesk",
        "Reported a suspicious phone call to the help desk",
        12,
    ),
)
_WEIGHTS = tuple(t.weight for t in EVENT_TYPES)
# Events laid out on purpose before the random ones (see the module docstring).
LAID_OUT_EVENTS = 3 * len(EVENT_TYPES)
EXPIRY_CHOICES = (30 * DAY, 60 * DAY, 90 * DAY)

# Dice slots of an event
_AGE, _TYPE, _LEVEL, _USER, _DECAY, _EXPIRES, _EXPIRY, _EXTERNAL = range(8)
_EVENTS_STREAM, _IDS_STREAM = 60, 61


def generate_user_events(
    seed: int, now: float, users: Sequence[User], count: int, days: float
) -> tuple[UserEvent, ...]:
    """`count` events about `users` over the last `days` days (at least two), newest first."""
    if not users:
        return ()
    days = max(days, 2.0)
    events = []
    for index in range(count):
        dice = Dice(seed, _EVENTS_STREAM, index)
        kind, level, occurred = _laid_out(index, dice, now, days) or _random(dice, now, days)
        events.append(_event(seed, index, dice, kind, level, occurred, users))
    return tuple(sorted(events, key=lambda e: (e.occurred_date, e.id), reverse=True))


def _laid_out(index: int, dice: Dice, now: float, days: float) -> tuple[EventType, int, int] | None:
    """The type, level and time of a laid-out event; None past the laid-out ones."""
    count = len(EVENT_TYPES)
    if index >= LAID_OUT_EVENTS:
        return None
    kind = EVENT_TYPES[index % count]
    if index < 2 * count:
        level = kind.lowest if index < count else kind.highest
        newest, oldest = now - 10 * MINUTE, now - COUNTED_WINDOW + BOUNDARY_MARGIN
    else:
        level = _level(dice, kind)
        newest, oldest = now - COUNTED_WINDOW - BOUNDARY_MARGIN, now - days * DAY
    return kind, level, int(dice.between(_AGE, oldest, newest))


def _random(dice: Dice, now: float, days: float) -> tuple[EventType, int, int]:
    kind = dice.weighted(_TYPE, EVENT_TYPES, _WEIGHTS)
    occurred = int(now - dice.between(_AGE, 10 * MINUTE, days * DAY))
    return kind, _level(dice, kind), clear_of(occurred, (now - COUNTED_WINDOW,))


def _level(dice: Dice, kind: EventType) -> int:
    return kind.lowest + dice.below(_LEVEL, kind.highest - kind.lowest + 1)


def _event(
    seed: int,
    index: int,
    dice: Dice,
    kind: EventType,
    level: int,
    occurred: int,
    users: Sequence[User],
) -> UserEvent:
    user = users[dice.below(_USER, len(users))]
    expires = level > 0 and dice.chance(_EXPIRES, 0.5)
    has_external_id = kind.source is not None and dice.chance(_EXTERNAL, 0.6)
    return UserEvent(
        id=Dice(seed, _IDS_STREAM, index).uuid(),
        event_type=kind.name,
        user_id=user.id,
        user_email=user.email,
        user_archived=user.status == ARCHIVED,
        occurred_date=occurred,
        risk_level=level,
        risk_decay_mode=dice.below(_DECAY, 2),
        risk_expire_date=int(occurred + dice.pick(_EXPIRY, EXPIRY_CHOICES)) if expires else None,
        external_id=f"{kind.source}-{seed}-{index:06d}" if has_external_id else None,
        source=kind.source,
        description=kind.description,
    )
