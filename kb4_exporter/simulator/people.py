"""Users and groups of a simulated org.

Departments differ in how phish-prone their people are, so the department PPP delta
is meaningful; a few users lack a PPP, a risk score or any sign-in; about one in
twenty is archived; one group has a single member and one archived group has none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .clock import DAY, clear_of
from .dice import Dice
from .records import ACTIVE, ARCHIVED, Group, User

FIRST_NAMES = (
    "Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jon",
    "Kira", "Liam", "Maya", "Nils", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tara",
    "Umar", "Vera", "Wen", "Xavier", "Yara", "Zane", "Anya", "Bruno", "Carla", "Dara",
)  # fmt: skip
LAST_NAMES = (
    "Abbott", "Baker", "Castro", "Diaz", "Evans", "Fischer", "Garcia", "Hughes", "Ivanova",
    "Jensen", "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Patel", "Quist",
    "Rossi", "Silva", "Tanaka", "Usman", "Varga", "Weber", "Xu", "Young", "Zimmer",
)  # fmt: skip
JOB_TITLES = (
    "Analyst", "Engineer", "Manager", "Specialist", "Coordinator", "Director", "Associate",
    "Consultant", "Administrator", "Representative",
)  # fmt: skip

# name, relative size, typical PPP (percent) of its people
DEPARTMENTS = (
    ("Sales", 18, 24.0),
    ("Engineering", 22, 9.0),
    ("Customer Service", 14, 21.0),
    ("Finance", 8, 13.0),
    ("Human Resources", 5, 17.0),
    ("Marketing", 9, 19.0),
    ("Operations", 12, 15.0),
    ("Legal", 3, 11.0),
    ("IT", 7, 6.0),
    ("Executive", 2, 14.0),
)
LOCATIONS = ("Chicago Office", "Lisbon Office", "Remote Workers", "Singapore Office")
SINGLE_MEMBER_GROUP = "Board Liaison"
NEW_HIRES_GROUP = "New Hires (12 months)"
ARCHIVED_GROUP = "Legacy Contractors"

FIRST_GROUP_ID = 3100
GROUP_ID_STEP = 17
FIRST_USER_ID = 600_001
USER_ID_STEP = 3

# Dice slots of a user
_ARCHIVED, _ARCHIVED_AGO, _FIRST, _LAST, _TITLE, _DEPT, _LOCATION, _IN_LOCATION = range(8)
_JOINED_NEW, _JOINED_AGO, _SIGN_IN_KIND, _SIGN_IN_AGO, _NO_PPP, _PPP, _NO_RISK, _RISK = range(8, 16)
_NO_GROUPS, _GROUP_RISK = 16, 17


@dataclass(frozen=True, slots=True)
class People:
    users: tuple[User, ...]
    groups: tuple[Group, ...]
    # Active members of each group, in user order.
    members: Mapping[int, tuple[User, ...]]
    departments: tuple[Group, ...]
    new_hires: Group


def _group_id(position: int) -> int:
    return FIRST_GROUP_ID + GROUP_ID_STEP * position


def generate_people(seed: int, now: float, user_count: int, archived_ratio: float) -> People:
    department_count = min(len(DEPARTMENTS), max(2, 2 + user_count // 60))
    departments = DEPARTMENTS[:department_count]
    names = [name for name, _, _ in departments]
    names += [*LOCATIONS, NEW_HIRES_GROUP, SINGLE_MEMBER_GROUP, ARCHIVED_GROUP]
    group_ids = {name: _group_id(i) for i, name in enumerate(names)}

    users = tuple(
        _user(seed, now, index, departments, group_ids, archived_ratio)
        for index in range(user_count)
    )
    members: dict[int, list[User]] = {gid: [] for gid in group_ids.values()}
    for user in users:
        if user.is_active:
            for gid in user.groups:
                members[gid].append(user)

    groups = tuple(_group(seed, gid, name, members[gid]) for name, gid in group_ids.items())
    by_id = {group.id: group for group in groups}
    return People(
        users=users,
        groups=groups,
        members={gid: tuple(rows) for gid, rows in members.items()},
        departments=tuple(by_id[group_ids[name]] for name, _, _ in departments),
        new_hires=by_id[group_ids[NEW_HIRES_GROUP]],
    )


def user_id_of(index: int) -> int:
    return FIRST_USER_ID + USER_ID_STEP * index


def _user(
    seed: int,
    now: float,
    index: int,
    departments: Sequence[tuple[str, int, float]],
    group_ids: Mapping[str, int],
    archived_ratio: float,
) -> User:
    uid = user_id_of(index)
    dice = Dice(seed, 1, uid)
    # The first user is the single member of the one-member group: keep it active
    # and fully populated so that group counts in every KRI.
    first_user = index == 0
    first, last = dice.pick(_FIRST, FIRST_NAMES), dice.pick(_LAST, LAST_NAMES)
    department, _, typical_ppp = dice.weighted(
        _DEPT, departments, [weight for _, weight, _ in departments]
    )
    location = dice.pick(_LOCATION, LOCATIONS)

    if dice.chance(_JOINED_NEW, 0.15):
        joined_on = int(now - dice.between(_JOINED_AGO, 20, 340) * DAY)
    else:
        joined_on = int(now - dice.between(_JOINED_AGO, 400, 3000) * DAY)
    archived = not first_user and dice.chance(_ARCHIVED, archived_ratio)
    archived_at = None
    if archived:
        archived_at = int(max(joined_on + DAY, now - dice.between(_ARCHIVED_AGO, 3, 300) * DAY))
    last_seen_limit = archived_at if archived_at is not None else int(now - 3600)

    last_sign_in: int | None
    sign_in_kind = dice.unit(_SIGN_IN_KIND)
    if sign_in_kind < 0.08 and not first_user:
        last_sign_in = None  # never signed in
    else:
        # one in ten signed in more than a year ago, the rest within the year
        ago = (380, 900) if sign_in_kind < 0.18 and not first_user else (0.05, 330)
        last_sign_in = int(now - dice.between(_SIGN_IN_AGO, *ago) * DAY)
        last_sign_in = min(max(last_sign_in, joined_on + 3600), last_seen_limit)
        last_sign_in = clear_of(last_sign_in, [now - 365 * DAY])

    ppp: float | None = None
    if first_user or not dice.chance(_NO_PPP, 0.06):
        spread = dice.unit(_PPP)
        ppp = round(min(100.0, max(0.0, typical_ppp * (0.25 + 1.5 * spread * spread))), 3)
    risk: float | None = None
    if first_user or not dice.chance(_NO_RISK, 0.07):
        risk = round(dice.between(_RISK, 4.0, 92.0), 3)

    groups: list[int] = []
    if first_user or not dice.chance(_NO_GROUPS, 0.02):
        groups.append(group_ids[department])
        if dice.chance(_IN_LOCATION, 0.7):
            groups.append(group_ids[location])
        if joined_on > now - 365 * DAY:
            groups.append(group_ids[NEW_HIRES_GROUP])
        if first_user:
            groups.append(group_ids[SINGLE_MEMBER_GROUP])

    return User(
        id=uid,
        first_name=first,
        last_name=last,
        email=f"{first}.{last}{index}@{org_domain(seed)}".lower(),
        job_title=dice.pick(_TITLE, JOB_TITLES),
        department=department,
        location=location,
        phish_prone_percentage=ppp,
        current_risk_score=risk,
        groups=tuple(sorted(groups)),
        joined_on=joined_on,
        last_sign_in=last_sign_in,
        status=ARCHIVED if archived else ACTIVE,
        archived_at=archived_at,
    )


def _group(seed: int, gid: int, name: str, members: Sequence[User]) -> Group:
    scores = [u.current_risk_score for u in members if u.current_risk_score is not None]
    score = sum(scores) / len(scores) if scores else Dice(seed, 2, gid).between(_GROUP_RISK, 10, 60)
    if name == NEW_HIRES_GROUP:
        group_type = "smart_group"
    elif name in LOCATIONS:
        group_type = "provisioning_managed_group"
    else:
        group_type = "console_group"
    guid = f"{gid:08x}-5a5a-4b4b-8c8c-{seed % (1 << 48):012x}" if name in LOCATIONS else None
    return Group(
        id=gid,
        name=name,
        group_type=group_type,
        status=ARCHIVED if name == ARCHIVED_GROUP else ACTIVE,
        current_risk_score=round(score, 3),
        provisioning_guid=guid,
    )


def org_domain(seed: int) -> str:
    return f"sim{seed}.example.com"
