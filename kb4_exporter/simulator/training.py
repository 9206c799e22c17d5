"""Training content, training campaigns and their enrollments.

Campaigns cover every duration type (a specific end date in the past and in the
future; relative durations written as "30 days", "2 weeks", "3 months", "1 year",
"P14D", "P1M" and one that cannot be parsed; no end date), including remedial ones.
Enrollments are one row per member and content item, built on demand from
(seed, campaign, user, item); their statuses agree with the due date the campaign
implies, with some completions late and a few exempt.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .clock import (
    BOUNDARY_MARGIN,
    DAY,
    HOUR,
    MINUTE,
    add_duration,
    clear_of,
    parse_relative_duration,
)
from .dice import Dice
from .people import People
from .phishing import is_frequent_clicker
from .records import (
    ARCHIVED,
    Content,
    Enrollment,
    GroupRef,
    LazyRows,
    Policy,
    StorePurchase,
    TrainingCampaign,
    User,
)

SPECIFIC = "Specific End Date"
RELATIVE = "Relative End Date"
NO_END = "No End Date"
NOT_STARTED, IN_PROGRESS, COMPLETED, PASSED, PAST_DUE, EXEMPT = (
    "Not Started", "In Progress", "Completed", "Passed", "Past Due", "Exempt",
)  # fmt: skip

# name, type, minutes
_MODULES = (
    ("Security Awareness Fundamentals", "Training Module", 42),
    ("Social Engineering Red Flags", "Video Module", 5),
    ("Annual Security Refresher", "Training Module", 30),
    ("New Hire Security Orientation", "Training Module", 25),
    ("Phishing Foundations", "Training Module", 15),
    ("Regulatory Compliance Essentials", "Training Module", 35),
    ("Executive Threat Briefing", "Video Module", 12),
    ("Data Handling and Classification", "Training Module", 20),
    ("Social Engineering Basics", "Interactive Module", 18),
)
_POLICIES = (
    ("Acceptable Use Policy", 3),
    ("Remote Work Security Policy", 5),
    ("Physical Security Policy", 3),
)


@dataclass(frozen=True, slots=True)
class _Plan:
    name: str
    duration_type: str
    relative_duration: str | None
    start_days_ago: float
    # Specific End Date only: days from now (negative: in the past).
    end_in_days: float | None
    audience: str
    content: tuple[int, ...]  # >= 100: policy index + 100; else module index


_PLANS = (
    _Plan(
        "Annual Security Awareness Training - Last Year", SPECIFIC, None, 300, -200, "all", (0, 1)
    ),
    _Plan("Annual Security Awareness Training - This Year", SPECIFIC, None, 40, 45, "all", (2,)),
    _Plan("New Hire Onboarding", RELATIVE, "30 days", 400, None, "new_hires", (3,)),
    _Plan("Phishing Refresher", RELATIVE, "2 weeks", 120, None, "department:0", (4,)),
    _Plan("Compliance Quarterly", RELATIVE, "3 months", 200, None, "department:1", (5,)),
    _Plan(
        "Acceptable Use Policy Acknowledgement", RELATIVE, "P14D", 60, None, "location:0", (100,)
    ),
    _Plan("Executive Briefing", RELATIVE, "1 year", 500, None, "department:9", (6,)),
    _Plan(
        "Data Handling Essentials",
        RELATIVE,
        "until everyone has finished",
        150,
        None,
        "department:2",
        (7,),
    ),
    _Plan("Ongoing Awareness Library", NO_END, None, 250, None, "location:1", (0,)),
    _Plan("Remedial Training - Phish Clickers", RELATIVE, "2 weeks", 100, None, "clickers", (4,)),
    _Plan(
        "Remedial: Social Engineering Basics",
        SPECIFIC,
        None,
        80,
        -20,
        "clickers:department:0",
        (8,),
    ),
    _Plan("Q3 remedial refresher", NO_END, None, 30, None, "clickers:location:2", (4,)),
    _Plan("Password Hygiene", RELATIVE, "P1M", 90, None, "department:3", (5,)),
    _Plan("Secure Remote Work", SPECIFIC, None, 20, 10, "location:2", (101,)),
    _Plan("Holiday Scams Awareness", SPECIFIC, None, -10, 40, "none", (1,)),
)

FIRST_TRAINING_CAMPAIGN_ID = 4200
FIRST_STORE_PURCHASE_ID = 6400
FIRST_POLICY_ID = 2400

# Dice slots of an enrollment
(_ENROLL, _EXEMPT, _DONE, _LATE, _OPEN_STATUS, _PASSED, _COMPLETE_AT, _START_AT, _SPENT,
 _PAST_DUE, _STARTED) = range(11)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Training:
    store_purchases: tuple[StorePurchase, ...]
    policies: tuple[Policy, ...]
    campaigns: tuple[TrainingCampaign, ...]
    enrollments: Mapping[int, Sequence[Enrollment]]
    # The same rows without those of archived users.
    unarchived_enrollments: Mapping[int, Sequence[Enrollment]]


QUARTER_DAYS = 91


def quarterly_history(quarters: int) -> tuple[_Plan, ...]:
    """Past quarterly campaigns for every user, newest first: what years of regular
    training leave in an account (100,000 users and 12 quarters: 1.2 million rows)."""
    return tuple(
        _Plan(
            f"Quarterly Security Awareness - {quarter} quarter(s) ago",
            SPECIFIC,
            None,
            quarter * QUARTER_DAYS + 30,
            -quarter * QUARTER_DAYS,
            "all",
            (quarter % len(_MODULES),),
        )
        for quarter in range(1, quarters + 1)
    )


def generate_training(seed: int, now: float, people: People, history_quarters: int = 0) -> Training:
    store_purchases = tuple(
        StorePurchase(
            store_purchase_id=FIRST_STORE_PURCHASE_ID + 7 * i,
            name=name,
            description=f"{name}: a simulated course.",
            type=kind,
            duration=minutes,
            publisher="KnowBe4",
            publish_date=int(now - (900 + 40 * i) * DAY),
            purchase_date=int(now - (600 + 20 * i) * DAY),
        )
        for i, (name, kind, minutes) in enumerate(_MODULES)
    )
    policies = tuple(
        Policy(policy_id=FIRST_POLICY_ID + 5 * i, name=name, minimum_time=minutes)
        for i, (name, minutes) in enumerate(_POLICIES)
    )
    campaigns: list[TrainingCampaign] = []
    enrollments: dict[int, Sequence[Enrollment]] = {}
    unarchived: dict[int, Sequence[Enrollment]] = {}
    for index, plan in enumerate(_PLANS + quarterly_history(history_quarters)):
        content = tuple(
            policies[item - 100] if item >= 100 else store_purchases[item] for item in plan.content
        )
        campaign = _campaign(seed, now, index, plan, content, people)
        members = _members(seed, now, plan, campaign, people)
        rows, unarchived_rows = _enrollment_rows(seed, now, index, campaign, people.users, members)
        campaigns.append(campaign)
        enrollments[campaign.campaign_id] = rows
        unarchived[campaign.campaign_id] = unarchived_rows
    return Training(store_purchases, policies, tuple(campaigns), enrollments, unarchived)


def _campaign(
    seed: int, now: float, index: int, plan: _Plan, content: tuple[Content, ...], people: People
) -> TrainingCampaign:
    start = int(now - plan.start_days_ago * DAY)
    end = None
    if plan.end_in_days is not None:
        end = clear_of(int(now + plan.end_in_days * DAY), [now])
    if start > now:
        status = "Created"
    elif end is not None and end < now:
        status = "Completed"
    else:
        status = "In Progress"
    target = _audience_group(plan.audience, people)
    return TrainingCampaign(
        campaign_id=FIRST_TRAINING_CAMPAIGN_ID + 11 * index,
        name=plan.name,
        groups=(target,),
        status=status,
        content=content,
        duration_type=plan.duration_type,
        start_date=start,
        end_date=end,
        relative_duration=plan.relative_duration,
        auto_enroll=plan.duration_type != SPECIFIC,
        allow_multiple_enrollments=False,
    )


def _audience_group(audience: str, people: People) -> GroupRef:
    group = _group_of(audience, people)
    return GroupRef(0, "All Users") if group is None else GroupRef(group[0], group[1])


def _group_of(audience: str, people: People) -> tuple[int, str] | None:
    """The group an audience names ("department:N", "location:N", "new_hires"), if any."""
    parts = audience.split(":")
    if parts[0] == "clickers":
        parts = parts[1:]
    if not parts:
        return None
    if parts[0] == "department":
        dept = people.departments[int(parts[1]) % len(people.departments)]
        return dept.id, dept.name
    if parts[0] == "location":
        locations = [g for g in people.groups if g.group_type == "provisioning_managed_group"]
        loc = locations[int(parts[1]) % len(locations)]
        return loc.id, loc.name
    if parts[0] == "new_hires":
        return people.new_hires.id, people.new_hires.name
    return None


def _members(
    seed: int, now: float, plan: _Plan, campaign: TrainingCampaign, people: People
) -> array[int]:
    """Indexes of the users enrolled: in the audience, joined before the campaign ended
    (and at least a day ago), not archived before it started."""
    member = array("i")
    if plan.audience == "none" or campaign.start_date > now:
        return member
    group = _group_of(plan.audience, people)
    clickers_only = plan.audience.startswith("clickers")
    latest_join = min(now - DAY, campaign.end_date or now) - HOUR
    for index, user in enumerate(people.users):
        if group is not None and group[0] not in user.groups:
            continue
        if clickers_only and not is_frequent_clicker(seed, user.id):
            continue
        if user.joined_on >= latest_join:
            continue
        if user.archived_at is not None and user.archived_at <= campaign.start_date:
            continue
        member.append(index)
    return member


def _enrollment_rows(
    seed: int,
    now: float,
    index: int,
    campaign: TrainingCampaign,
    users: Sequence[User],
    members: array[int],
) -> tuple[LazyRows[Enrollment], LazyRows[Enrollment]]:
    items = len(campaign.content)
    first_id = (index + 1) * 10_000_000

    def make(position: int) -> Enrollment:
        member, item = divmod(position, items)
        return _enrollment(
            seed, now, campaign, first_id + position, users[members[member]], campaign.content[item]
        )

    unarchived = array("i", (m for m, who in enumerate(members) if users[who].status != ARCHIVED))

    def make_unarchived(position: int) -> Enrollment:
        member, item = divmod(position, items)
        return make(unarchived[member] * items + item)

    return (
        LazyRows(len(members) * items, make),
        LazyRows(len(unarchived) * items, make_unarchived),
    )


def due_date(campaign: TrainingCampaign, enrolled: float) -> float | None:
    """When an enrollment is due, as the campaign defines it (None: no due date)."""
    if campaign.duration_type == SPECIFIC:
        return campaign.end_date
    if campaign.duration_type == RELATIVE:
        duration = parse_relative_duration(campaign.relative_duration)
        return None if duration is None else add_duration(enrolled, *duration)
    return None


def _enrollment(
    seed: int, now: float, campaign: TrainingCampaign, enrollment_id: int, user: User, item: Content
) -> Enrollment:
    item_id = item.store_purchase_id if isinstance(item, StorePurchase) else item.policy_id
    dice = Dice(seed, 30, campaign.campaign_id, user.id, item_id)
    latest = int(now - 15 * MINUTE)
    enrolled = int(max(campaign.start_date, user.joined_on) + dice.between(_ENROLL, 60, 6 * HOUR))
    if campaign.end_date is not None:
        enrolled = min(enrolled, campaign.end_date - HOUR)
    due = due_date(campaign, enrolled)
    for _ in range(3):  # keep due dates clear of `now`
        if due is None or abs(due - now) >= BOUNDARY_MARGIN:
            break
        enrolled -= int(BOUNDARY_MARGIN + HOUR)
        due = due_date(campaign, enrolled)

    status, completed = _outcome(dice, campaign, enrolled, due, now, latest, item)
    started = None
    if status not in (NOT_STARTED, EXEMPT):
        first_action = completed if completed is not None else latest
        started = int(enrolled + (first_action - enrolled) * dice.between(_START_AT, 0, 0.5))
    minutes = item.duration if isinstance(item, StorePurchase) else item.minimum_time
    return Enrollment(
        enrollment_id=enrollment_id,
        campaign_id=campaign.campaign_id,
        campaign_name=campaign.name,
        user_id=user.id,
        first_name=user.first_name,
        last_name=user.last_name,
        email=user.email,
        employee_number=str(10_000 + (user.id - 600_000) // 3),
        content=item,
        enrollment_date=enrolled,
        start_date=started,
        completion_date=completed,
        status=status,
        time_spent=int(minutes * 60 * dice.between(_SPENT, 0.5, 1.5)) if started else 0,
        policy_acknowledged=isinstance(item, Policy) and completed is not None,
    )


def _outcome(
    dice: Dice,
    campaign: TrainingCampaign,
    enrolled: int,
    due: float | None,
    now: float,
    latest: int,
    item: Content,
) -> tuple[str, int | None]:
    """(status, completion date) consistent with the due date."""
    if dice.chance(_EXEMPT, 0.01):
        return EXEMPT, None
    overdue = due is not None and due < now
    done = dice.chance(_DONE, 0.72 if overdue else 0.45 if due is not None else 0.5)
    if not done:
        if overdue and dice.chance(_OPEN_STATUS, 0.85):
            return PAST_DUE, None
        unparseable = campaign.duration_type == RELATIVE and due is None
        if unparseable and dice.chance(_PAST_DUE, 0.15):
            return PAST_DUE, None
        return (IN_PROGRESS if dice.chance(_STARTED, 0.5) else NOT_STARTED), None

    share = dice.between(_COMPLETE_AT, 0.05, 0.95)
    if due is not None and due < latest and dice.chance(_LATE, 0.2):
        completed = due + (latest - due) * share  # after the due date
    elif due is not None and due < latest:
        completed = enrolled + (due - enrolled) * share
    else:
        completed = enrolled + (latest - enrolled) * share
    passed = isinstance(item, StorePurchase) and dice.chance(_PASSED, 0.6)
    return (PASSED if passed else COMPLETED), int(completed)
