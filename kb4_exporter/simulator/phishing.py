"""Phishing campaigns, their security tests (PSTs) and the PSTs' recipients.

PSTs run about every two to four weeks over the past year; the newest is still open,
several fall inside the last 90 days, and every fifth one drew no clicks and no
reports, so a client may skip its recipients. Recipient rows are built on demand from
(seed, PST, person); the PST summary counts are summed from those same rows once, at
generation, so they always match what the recipients endpoint serves.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .clock import DAY, HOUR, MINUTE, clear_of
from .dice import Dice
from .people import People, org_domain
from .records import (
    Group,
    GroupRef,
    LazyRows,
    NamedRef,
    PhishingCampaign,
    Recipient,
    SecurityTest,
    User,
    pst_counts,
    pst_summary,
)

ALL_USERS = GroupRef(0, "All Users")
OPEN_PST_STATUS = "In Progress"
CLOSED = "Closed"

TEMPLATES = (
    NamedRef(11428, "Breaking News Alert"),
    NamedRef(2, "Your Order Has Shipped"),
    NamedRef(5120, "Password Expiry Notice"),
    NamedRef(7331, "Shared Document Waiting"),
    NamedRef(9045, "Payroll Adjustment"),
    NamedRef(6610, "Parcel Delivery Failed"),
)
LANDING_PAGES = (NamedRef(1842, "Oops! You Clicked"), NamedRef(1907, "Training Reminder Page"))
CATEGORIES = (
    NamedRef(4237, "Current Events"),
    NamedRef(4238, "Online Services"),
    NamedRef(4239, "HR and Payroll"),
)

MONTHLY, SPOTLIGHT, BASELINE, BROKEN = 0, 1, 2, 3
CAMPAIGN_NAMES = (
    "Monthly Phishing - All Users",
    "Department Spotlight",
    "One Time Phishing Security Test",
    "Broken Template Pilot",
)
FIRST_CAMPAIGN_ID = 242_300
FIRST_PST_ID = 16_100

# Probability of opening, clicking and reporting, by difficulty 1..5.
_OPEN = (0.35, 0.42, 0.5, 0.55, 0.6)
_CLICK = (0.04, 0.06, 0.09, 0.12, 0.16)
_REPORT = (0.22, 0.18, 0.15, 0.12, 0.1)

# Dice slots of a PST and of a recipient row
_GAP, _DIFFICULTY, _TEMPLATE, _LANDING, _TARGET, _GHOST_IN = range(6)
_SENDING, _CLICKING, _OTHER_FAILURES, _REPORTING = range(4)


def is_frequent_clicker(seed: int, user_id: int) -> bool:
    """About one user in eight clicks far more often than the rest."""
    return Dice(seed, 7, user_id).chance(0, 0.12)


@dataclass(frozen=True, slots=True)
class Ghost:
    """A recipient known only by e-mail: a user deleted since the test was sent."""

    index: int
    first_name: str
    last_name: str
    email: str


@dataclass(frozen=True, slots=True)
class _PstPlan:
    pst_id: int
    position: int
    started_at: int
    duration_days: int
    difficulty: int
    engaged: bool
    template: NamedRef


@dataclass(frozen=True, slots=True)
class Phishing:
    campaigns: tuple[PhishingCampaign, ...]
    security_tests: tuple[SecurityTest, ...]
    recipients: Mapping[int, Sequence[Recipient]]


def generate_phishing(seed: int, now: float, people: People) -> Phishing:
    ghosts = _ghosts(seed, len(people.users))
    plans = _plan_psts(seed, now)
    targets = _targets(seed, plans, people)
    index_of = {user.id: i for i, user in enumerate(people.users)}
    clickers = frozenset(u.id for u in people.users if is_frequent_clicker(seed, u.id))
    campaign_ids = [FIRST_CAMPAIGN_ID + 7 * i for i in range(len(CAMPAIGN_NAMES))]

    tests: list[SecurityTest] = []
    recipients: dict[int, Sequence[Recipient]] = {}
    members_of_campaign: dict[int, list[int]] = {cid: [] for cid in campaign_ids}
    for plan, (campaign, group) in zip(plans, targets, strict=True):
        people_in_test = _audience(seed, plan, group, people, ghosts, index_of)
        rows = _recipient_rows(seed, now, plan, people.users, ghosts, people_in_test, clickers)
        # One streaming pass: the rows themselves are never held.
        counts, failed = pst_summary(rows)
        delivered = counts["delivered"]
        tests.append(
            SecurityTest(
                pst_id=plan.pst_id,
                campaign_id=campaign_ids[campaign],
                name=f"{CAMPAIGN_NAMES[campaign]} #{len(plans) - plan.position}",
                status=OPEN_PST_STATUS if plan.position == 0 else CLOSED,
                groups=(ALL_USERS if group is None else GroupRef(group.id, group.name),),
                started_at=plan.started_at,
                duration=plan.duration_days,
                categories=(CATEGORIES[plan.position % len(CATEGORIES)],),
                template=plan.template,
                landing_page=Dice(seed, 21, plan.pst_id).pick(_LANDING, LANDING_PAGES),
                counts=counts,
                phish_prone_percentage=round(failed / delivered, 3) if delivered else 0.0,
            )
        )
        recipients[plan.pst_id] = rows
        members_of_campaign[campaign_ids[campaign]].append(plan.pst_id)

    failed_test = _failed_test(campaign_ids[BROKEN], len(plans))
    tests.append(failed_test)
    recipients[failed_test.pst_id] = ()
    members_of_campaign[campaign_ids[BROKEN]].append(failed_test.pst_id)

    campaigns = tuple(
        _campaign(i, cid, now, members_of_campaign[cid], tests)
        for i, cid in enumerate(campaign_ids)
    )
    # Newest first, as a listing of tests usually is.
    ordered = tuple(sorted(tests, key=lambda t: t.pst_id, reverse=True))
    return Phishing(campaigns=campaigns, security_tests=ordered, recipients=recipients)


def _plan_psts(seed: int, now: float) -> list[_PstPlan]:
    """PST start times, newest first: one open now, then every 2-4 weeks for a year."""
    starts: list[float] = [now - Dice(seed, 10, 0).between(_GAP, 1.5, 3.0) * DAY]
    while True:
        gap = Dice(seed, 10, len(starts)).between(_GAP, 14, 28) * DAY
        if starts[-1] - gap < now - 345 * DAY:
            break
        starts.append(starts[-1] - gap)
    starts.append(now - Dice(seed, 10, len(starts)).between(_GAP, 352, 362) * DAY)
    plans = []
    for position, start in enumerate(starts):
        pst_id = FIRST_PST_ID + 13 * (len(starts) - position)
        dice = Dice(seed, 11, pst_id)
        plans.append(
            _PstPlan(
                pst_id=pst_id,
                position=position,
                started_at=clear_of(int(start), [now - 90 * DAY, now - 365 * DAY]),
                duration_days=7 if position == 0 else 3,
                difficulty=1 + dice.below(_DIFFICULTY, 5),
                engaged=position % 5 != 2,
                template=dice.pick(_TEMPLATE, TEMPLATES),
            )
        )
    return plans


def _targets(
    seed: int, plans: Sequence[_PstPlan], people: People
) -> list[tuple[int, Group | None]]:
    """(campaign, target group or None for All Users) of each PST."""
    departments = [g for g in people.departments if people.members.get(g.id)]
    chosen: list[tuple[int, Group | None]] = []
    for plan in plans:
        if plan.position == len(plans) - 1:
            chosen.append((BASELINE, None))
        elif plan.position % 3 == 1 and departments:
            group = Dice(seed, 12, plan.pst_id).pick(_TARGET, departments)
            chosen.append((SPOTLIGHT, group))
        else:
            chosen.append((MONTHLY, None))
    return chosen


def _ghosts(seed: int, user_count: int) -> tuple[Ghost, ...]:
    domain = org_domain(seed)
    return tuple(
        Ghost(index, "Former", f"Staff{index}", f"former.staff{index}@{domain}")
        for index in range(max(2, user_count // 200))
    )


def _audience(
    seed: int,
    plan: _PstPlan,
    group: Group | None,
    people: People,
    ghosts: Sequence[Ghost],
    index_of: Mapping[int, int],
) -> array[int]:
    """Who received a PST: user indexes, and ghosts as -(ghost index + 1)."""
    candidates = people.users if group is None else people.members.get(group.id, ())
    audience = array("i")
    for user in candidates:
        if user.joined_on < plan.started_at and (
            user.archived_at is None or user.archived_at > plan.started_at
        ):
            audience.append(index_of[user.id])
    if group is None:
        for ghost in ghosts:
            if Dice(seed, 13, plan.pst_id, ghost.index).chance(_GHOST_IN, 0.9):
                audience.append(-(ghost.index + 1))
    return audience


def _recipient_rows(
    seed: int,
    now: float,
    plan: _PstPlan,
    users: Sequence[User],
    ghosts: Sequence[Ghost],
    audience: array[int],
    clickers: frozenset[int],
) -> LazyRows[Recipient]:
    first_recipient_id = 3_000_000 + 1_000_000 * plan.position
    # Nothing happens after the test stopped tracking, nor in the last minutes before now.
    track_end = int(min(plan.started_at + plan.duration_days * DAY, now - 10 * MINUTE))
    send_window = min(plan.duration_days * DAY / 2, max(60.0, track_end - plan.started_at - HOUR))
    difficulty = plan.difficulty - 1

    def make(position: int) -> Recipient:
        who = audience[position]
        if who >= 0:
            user = users[who]
            user_id: int | None = user.id
            first, last, email = user.first_name, user.last_name, user.email
            clicky = user.id in clickers
            person_key = user.id
        else:
            ghost = ghosts[-who - 1]
            user_id, first, last = None, ghost.first_name, ghost.last_name
            email = _vary_case(ghost.email, (plan.position + ghost.index) % 3)
            clicky, person_key = True, -who
        dice = Dice(seed, 20, plan.pst_id, person_key)
        return _recipient(
            dice,
            plan,
            first_recipient_id + position,
            (user_id, first, last, email),
            clicky,
            send_window,
            track_end,
            difficulty,
        )

    return LazyRows(len(audience), make)


def _recipient(
    dice: Dice,
    plan: _PstPlan,
    recipient_id: int,
    person: tuple[int | None, str, str, str],
    clicky: bool,
    send_window: float,
    track_end: int,
    difficulty: int,
) -> Recipient:
    def by_end(stamp: float) -> int | None:
        return int(stamp) if stamp <= track_end else None

    # Sixteen draws from four hashes: recipient rows are the generator's bulk.
    schedule, bounce, deliver, open_it = dice.quad(_SENDING)
    open_delay, click_it, click_delay, data_it = dice.quad(_CLICKING)
    reply_it, attach_it, macro_it, qr_it = dice.quad(_OTHER_FAILURES)
    report_it, report_delay, early_it, early_delay = dice.quad(_REPORTING)

    scheduled = int(plan.started_at + schedule * send_window)
    bounced = bounce < 0.01
    delivered = None if bounced else by_end(scheduled + 5 + deliver * 295)
    opened = clicked = data = replied = attachment = macro = qr = reported = None
    if delivered is not None and plan.engaged:
        open_odds = _OPEN[difficulty]
        click_odds = _CLICK[difficulty] * (4.0 if clicky else 0.6)
        if open_it < open_odds:
            opened = by_end(delivered + 30 + open_delay * 8 * HOUR)
        if opened is not None:
            if click_it < click_odds / open_odds:
                clicked = by_end(opened + 5 + click_delay * 600)
                if clicked is not None and data_it < 0.3:
                    data = by_end(clicked + 45)
            if reply_it < 0.02:
                replied = by_end(opened + 120)
            if attach_it < 0.03:
                attachment = by_end(opened + 60)
                if attachment is not None and macro_it < 0.3:
                    macro = by_end(attachment + 20)
            if qr_it < 0.015:
                qr = by_end(opened + 90)
        if report_it < _REPORT[difficulty] * (0.3 if clicked else 1.0):
            # Delays from a minute to about two days, most within hours; a few reports
            # are stamped before the delivery they answer.
            delay = 60 + report_delay**4 * 2 * DAY
            if early_it < 0.03:
                delay = -(30 + early_delay * 870)
            reported = by_end(delivered + delay)
    user_id, first, last, email = person
    return Recipient(
        recipient_id=recipient_id,
        pst_id=plan.pst_id,
        user_id=user_id,
        first_name=first,
        last_name=last,
        email=email,
        template=plan.template,
        scheduled_at=scheduled,
        delivered_at=delivered,
        opened_at=opened,
        clicked_at=clicked,
        replied_at=replied,
        attachment_opened_at=attachment,
        macro_enabled_at=macro,
        data_entered_at=data,
        qr_code_scanned=qr,
        reported_at=reported,
        bounced_at=scheduled + 30 if bounced else None,
    )


def _vary_case(email: str, variant: int) -> str:
    """Mail systems hand back addresses in varying case (here it changes from one PST to
    the next); identity must not depend on it."""
    local, _, domain = email.partition("@")
    if variant == 1:
        local = ".".join(part.capitalize() for part in local.split("."))
    elif variant == 2:
        local = local.upper()
    return f"{local}@{domain}"


def _failed_test(campaign_id: int, position: int) -> SecurityTest:
    """A test that never ran: no start date, no users count, no recipients."""
    return SecurityTest(
        pst_id=FIRST_PST_ID + 13 * (position + 1),
        campaign_id=campaign_id,
        name="Broken Template Pilot #1",
        status="Error",
        groups=(ALL_USERS,),
        started_at=None,
        duration=1,
        categories=(),
        template=TEMPLATES[0],
        landing_page=LANDING_PAGES[0],
        counts=pst_counts(()),
        phish_prone_percentage=0.0,
    )


def _campaign(
    kind: int, campaign_id: int, now: float, pst_ids: Sequence[int], tests: Sequence[SecurityTest]
) -> PhishingCampaign:
    starts = [t.started_at for t in tests if t.pst_id in pst_ids and t.started_at is not None]
    first_start = min(starts) if starts else int(now - 30 * DAY)
    status = {MONTHLY: "Active", SPOTLIGHT: "Active", BASELINE: CLOSED, BROKEN: "Error"}[kind]
    return PhishingCampaign(
        campaign_id=campaign_id,
        name=CAMPAIGN_NAMES[kind],
        groups=(ALL_USERS,),
        status=status,
        frequency="One Time" if kind in (BASELINE, BROKEN) else "Monthly",
        send_duration="3 Business Days",
        track_duration="3 Days",
        difficulty_filter=(1, 2, 3, 4, 5),
        create_date=first_start - 2 * DAY,
        pst_ids=tuple(sorted(pst_ids, reverse=True)),
    )
