"""The ten security-awareness KRIs as pure functions of a snapshot and the refresh time.

Every function here reads an immutable `Snapshot` and `now` (epoch seconds) and returns
`KriValue`s; nothing does I/O, so the refresher can call `compute_kris` after each
refresh and the collector only ever reads the results. A value of None means the KRI is
absent (its input was never fetched or its population is empty), never a fake 0.

Sums of floats use `math.fsum`, which is exactly rounded: a plain running sum rounds
differently in another order, and the order of rows from the API must never change a
KRI, not even in its last bit.

Units follow the metric contract: ratios are 0..1 (the API's percentages / 100),
durations are seconds, counts are counts. Each `KriValue` carries the size of the
population it was computed over, so callers can tell a 0 of 3 from a 0 of 30,000.
"""

from __future__ import annotations

import calendar
import logging
import math
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from kb4_exporter.model import (
    DONE_STATUSES,
    UNRESOLVED_PHISHER_STATUSES,
    Enrollment,
    PstRecipients,
    Snapshot,
    TrainingCampaign,
    User,
)

log = logging.getLogger(__name__)

HOUR = 3600.0
DAY = 24 * HOUR
PST_WINDOW = 90 * DAY
ACTIVITY_WINDOW = 365 * DAY
PHISHER_OLDEST = 24 * HOUR
PHISHER_NEWEST = 4 * HOUR

ACTIVE_USER_STATUS = "active"
HIGH_SEVERITIES = frozenset({"HIGH", "CRITICAL"})


@dataclass(frozen=True, slots=True)
class KriSpec:
    """Identity of one KRI: its seed slug (the `kri` label), metric name and HELP text."""

    slug: str
    metric: str
    help: str


@dataclass(frozen=True, slots=True)
class KriValue:
    """One computed KRI: `value` None means absent; `sample_size` is its population.

    `incomplete` says the value is absent because part of its input is missing (a fetch
    failed or was cut short), not because the population is empty: the refresher then
    keeps the last value computed from complete inputs (see `carry_over`).
    """

    spec: KriSpec
    value: float | None
    sample_size: int | None
    incomplete: bool = False


PHISHING_PRONE = KriSpec(
    "kb4_phishing_prone_pct",
    "kb4_phishing_prone_ratio",
    "Mean Phish-prone Percentage of active users that have one, as a ratio (0..1).",
)
REPEAT_CLICKERS_90D = KriSpec(
    "kb4_repeat_clickers_90d",
    "kb4_repeat_clickers_90d",
    "Users (by id, else e-mail) who clicked in two or more phishing security tests "
    "started in the last 90 days.",
)
TRAINING_COMPLETION = KriSpec(
    "kb4_training_completion_pct",
    "kb4_training_completion_ratio",
    "Share of due training enrollments completed or passed by their due date, "
    "as a ratio (0..1); exempt enrollments left out.",
)
OVERDUE_TRAINING = KriSpec(
    "kb4_overdue_training_assignments",
    "kb4_overdue_training_assignments",
    "Training enrollments past their due date (or in status Past Due) and not "
    "completed or passed; exempt enrollments left out.",
)
REMEDIAL_COMPLIANCE = KriSpec(
    "kb4_remedial_training_compliance_pct",
    "kb4_remedial_training_compliance_ratio",
    "Share of remedial training enrollments (campaign name matches the remedial "
    "pattern) completed or passed, as a ratio (0..1); exempt enrollments left out.",
)
HIGH_RISK_USERS = KriSpec(
    "kb4_high_risk_users",
    "kb4_high_risk_users",
    "Size of the highest-risk decile: ten percent, rounded up, of the active users "
    "that have a current risk score.",
)
PHISH_TIME_TO_REPORT = KriSpec(
    "kb4_phish_time_to_report_hours",
    "kb4_phish_time_to_report_seconds",
    "Median time from delivery to report of phishing security test e-mails, in seconds, "
    "over tests started in the last 90 days.",
)
PHISHER_UNRESOLVED_HIGH_4H = KriSpec(
    "kb4_phisher_unresolved_high_4h",
    "kb4_phisher_unresolved_high_4h",
    "PhishER messages of HIGH or CRITICAL severity still RECEIVED or IN_REVIEW that "
    "were reported between 24 and 4 hours ago.",
)
ZERO_TRAINING_ACTIVITY_12M = KriSpec(
    "kb4_zero_training_activity_12m",
    "kb4_zero_training_activity_12m",
    "Active users with no recorded activity (last sign-in) in the last 365 days.",
)
DEPARTMENT_PPP_DELTA = KriSpec(
    "kb4_department_ppp_delta_pct",
    "kb4_department_ppp_delta_ratio",
    "Spread (highest minus lowest) of the mean Phish-prone Percentage across groups, "
    "as a ratio (0..1).",
)

KRI_SPECS: tuple[KriSpec, ...] = (
    PHISHING_PRONE,
    REPEAT_CLICKERS_90D,
    TRAINING_COMPLETION,
    OVERDUE_TRAINING,
    REMEDIAL_COMPLIANCE,
    HIGH_RISK_USERS,
    PHISH_TIME_TO_REPORT,
    PHISHER_UNRESOLVED_HIGH_4H,
    ZERO_TRAINING_ACTIVITY_12M,
    DEPARTMENT_PPP_DELTA,
)


def compute_kris(
    snapshot: Snapshot,
    now: float,
    *,
    remedial_pattern: re.Pattern[str],
    phisher_enabled: bool,
) -> tuple[KriValue, ...]:
    """All ten KRIs, in `KRI_SPECS` order; the enrollment due-date pass runs once."""
    tally = _tally_due_enrollments(snapshot, now)
    return (
        phishing_prone(snapshot),
        repeat_clickers_90d(snapshot, now),
        _completion_from_tally(tally),
        _overdue_from_tally(tally),
        remedial_training_compliance(snapshot, remedial_pattern),
        high_risk_users(snapshot),
        phish_time_to_report(snapshot, now),
        phisher_unresolved_high_4h(snapshot, now, phisher_enabled=phisher_enabled),
        zero_training_activity_12m(snapshot, now),
        department_ppp_delta(snapshot),
    )


def carry_over(computed: Iterable[KriValue], previous: Iterable[KriValue]) -> tuple[KriValue, ...]:
    """`computed`, with each incomplete KRI replaced by its previous value, if any: a KRI
    keeps its last value computed from complete inputs, or stays absent."""
    last = {kri.spec: kri for kri in previous if kri.value is not None}
    return tuple(last.get(kri.spec, kri) if kri.incomplete else kri for kri in computed)


# --- users ---------------------------------------------------------------------------


def active_users(snapshot: Snapshot) -> list[User] | None:
    """Users with status "active", or None when users were never fetched.

    The fetch asks for `status=active`, but a server may ignore the filter, so archived
    users are skipped here as well.
    """
    if snapshot.users is None:
        return None
    return [user for user in snapshot.users if user.status == ACTIVE_USER_STATUS]


def phishing_prone(snapshot: Snapshot) -> KriValue:
    """Mean `phish_prone_percentage` of active users that have one, / 100.

    Users without a PPP are left out of the mean. Absent when no active user has one.
    sample_size = users in the mean.
    """
    users = active_users(snapshot) or []
    values = [u.phish_prone_percentage for u in users if u.phish_prone_percentage is not None]
    if not values:
        return KriValue(PHISHING_PRONE, None, None)
    return KriValue(PHISHING_PRONE, math.fsum(values) / len(values) / 100, len(values))


def high_risk_users(snapshot: Snapshot) -> KriValue:
    """ceil(0.10 x n), n = active users with a current risk score.

    Computed as (n + 9) // 10 in integers: in floats 0.1 x 30 is 3.0000000000000004,
    which would ceil to 4. Absent when n is 0. sample_size = n.
    """
    users = active_users(snapshot) or []
    scored = sum(1 for u in users if u.risk_score is not None)
    if scored == 0:
        return KriValue(HIGH_RISK_USERS, None, None)
    return KriValue(HIGH_RISK_USERS, float((scored + 9) // 10), scored)


def zero_training_activity_12m(snapshot: Snapshot, now: float) -> KriValue:
    """Active users whose last activity is None or older than now - 365 days.

    A user active exactly at now - 365 d still counts as active. Absent when there are
    no active users (or users were never fetched). sample_size = active users.
    """
    users = active_users(snapshot)
    if not users:
        return KriValue(ZERO_TRAINING_ACTIVITY_12M, None, None)
    cutoff = now - ACTIVITY_WINDOW
    idle = sum(1 for u in users if u.last_activity is None or u.last_activity < cutoff)
    return KriValue(ZERO_TRAINING_ACTIVITY_12M, float(idle), len(users))


def department_ppp_delta(snapshot: Snapshot) -> KriValue:
    """Highest minus lowest per-group mean PPP of active users, / 100.

    Users without a PPP are left out of every group mean; a user in several groups counts
    in each of them. Groups come from each user's `groups` ids. Absent with fewer than two
    groups having at least one member with a PPP. sample_size = groups used.
    """
    values: dict[int, list[float]] = {}
    for user in active_users(snapshot) or []:
        ppp = user.phish_prone_percentage
        if ppp is None:
            continue
        for group_id in user.groups:
            values.setdefault(group_id, []).append(ppp)
    if len(values) < 2:
        return KriValue(DEPARTMENT_PPP_DELTA, None, None)
    means = [math.fsum(group) / len(group) for group in values.values()]
    return KriValue(DEPARTMENT_PPP_DELTA, (max(means) - min(means)) / 100, len(means))


# --- phishing security tests -----------------------------------------------------------


def recent_pst_recipients(snapshot: Snapshot, now: float) -> list[PstRecipients] | None:
    """Recipient summaries of the PSTs started at or after now - 90 days, or None.

    A PST without `started_at` is outside the window. A PST whose recipients were skipped
    because its summary counts show no clicks and no reports is known to have none, so it
    yields an empty summary. None when PSTs or recipients were never fetched, and when any
    PST that may have clicks or reports has no summary (a failed or truncated fetch): a
    KRI over the other PSTs would count part of the org.
    """
    if snapshot.security_tests is None or snapshot.recipients is None:
        return None
    cutoff = now - PST_WINDOW
    known: dict[int, PstRecipients] = {}
    for pst in snapshot.security_tests:
        if pst.started_at is None or pst.started_at < cutoff or pst.pst_id in known:
            continue
        summary = snapshot.recipients.get(pst.pst_id)
        if summary is not None:
            known[pst.pst_id] = summary
        elif not pst.may_have_clicks_or_reports:
            known[pst.pst_id] = PstRecipients(pst.pst_id, frozenset(), (), 0)
        else:
            return None
    return list(known.values())


def repeat_clickers_90d(snapshot: Snapshot, now: float) -> KriValue:
    """Distinct users who clicked in two or more distinct PSTs started in the last 90 days.

    Users are keyed by recipient `user.id`, else lower-cased e-mail (as in
    `PstRecipients.clicker_keys`), active or not; several clicks in one PST count once.
    Absent when no PST in the window has known recipients, incomplete when any PST's
    recipients are unknown (see `recent_pst_recipients`). sample_size = PSTs used.
    """
    summaries = recent_pst_recipients(snapshot, now)
    if summaries is None:
        return KriValue(REPEAT_CLICKERS_90D, None, None, incomplete=True)
    if not summaries:
        return KriValue(REPEAT_CLICKERS_90D, None, None)
    clicks_per_user: Counter[str] = Counter()
    for summary in summaries:
        clicks_per_user.update(summary.clicker_keys)
    repeaters = sum(1 for tests in clicks_per_user.values() if tests >= 2)
    return KriValue(REPEAT_CLICKERS_90D, float(repeaters), len(summaries))


def phish_time_to_report(snapshot: Snapshot, now: float) -> KriValue:
    """Median seconds from delivery to report over recipients of the 90-day PSTs.

    Uses `statistics.median` (mean of the middle two for an even count). Reports before
    delivery are ignored. Absent without any delay. sample_size = delays in the median.
    """
    summaries = recent_pst_recipients(snapshot, now)
    if summaries is None:
        return KriValue(PHISH_TIME_TO_REPORT, None, None, incomplete=True)
    delays = [delay for summary in summaries for delay in summary.report_delays if delay >= 0]
    if not delays:
        return KriValue(PHISH_TIME_TO_REPORT, None, None)
    return KriValue(PHISH_TIME_TO_REPORT, float(statistics.median(delays)), len(delays))


# --- PhishER -----------------------------------------------------------------------------


def phisher_unresolved_high_4h(
    snapshot: Snapshot, now: float, *, phisher_enabled: bool
) -> KriValue:
    """HIGH/CRITICAL messages, RECEIVED or IN_REVIEW, reported in [now - 24 h, now - 4 h].

    Both bounds are inclusive; enums compare case-insensitively. Present (0 allowed)
    whenever PhishER is enabled and its messages were fetched; absent otherwise.
    sample_size = messages of any severity and status reported in that window.
    """
    messages = snapshot.phisher_messages
    if not phisher_enabled or messages is None:
        return KriValue(PHISHER_UNRESOLVED_HIGH_4H, None, None)
    oldest, newest = now - PHISHER_OLDEST, now - PHISHER_NEWEST
    in_window = [
        m for m in messages if m.reported_at is not None and oldest <= m.reported_at <= newest
    ]
    count = sum(
        1
        for m in in_window
        if m.severity.upper() in HIGH_SEVERITIES
        and m.action_status.upper() in UNRESOLVED_PHISHER_STATUSES
    )
    return KriValue(PHISHER_UNRESOLVED_HIGH_4H, float(count), len(in_window))


# --- training ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _StatusKind:
    exempt: bool
    done: bool
    past_due: bool


@lru_cache(maxsize=256)
def _status_kind(status: str) -> _StatusKind:
    normalised = status.strip().lower()
    return _StatusKind(
        exempt="exempt" in normalised,
        done=normalised in DONE_STATUSES,
        past_due=normalised == "past due",
    )


def index_campaigns(
    campaigns: Iterable[TrainingCampaign],
) -> tuple[dict[int, TrainingCampaign], dict[str, TrainingCampaign | None]]:
    """Lookups for joining enrollments: by id, and by exact name.

    A name shared by several campaigns maps to None: an enrollment without a campaign id
    cannot tell which of them it belongs to.
    """
    by_id: dict[int, TrainingCampaign] = {}
    by_name: dict[str, TrainingCampaign | None] = {}
    for campaign in campaigns:
        by_id[campaign.campaign_id] = campaign
        if not campaign.name:
            continue
        previous = by_name.get(campaign.name, campaign)
        same = previous is not None and previous.campaign_id == campaign.campaign_id
        by_name[campaign.name] = campaign if same else None
    return by_id, by_name


def enrollment_campaign(
    enrollment: Enrollment,
    campaigns_by_id: Mapping[int, TrainingCampaign],
    campaigns_by_name: Mapping[str, TrainingCampaign | None],
) -> TrainingCampaign | None:
    """The enrollment's campaign: by `campaign_id` when the enrollment has one, else by
    exact `campaign_name` when that name is unique. An id that matches no campaign does
    not fall back to the name, which could belong to a different run of the campaign."""
    if enrollment.campaign_id is not None:
        return campaigns_by_id.get(enrollment.campaign_id)
    return campaigns_by_name.get(enrollment.campaign_name)


def enrollment_due_date(
    enrollment: Enrollment,
    campaigns_by_id: Mapping[int, TrainingCampaign],
    campaigns_by_name: Mapping[str, TrainingCampaign | None],
) -> float | None:
    """The enrollment's due date in epoch seconds, or None when none can be computed.

    `Enrollment.due_date` wins when set. Otherwise by the joined campaign's duration type
    (any case): "Specific End Date" -> the campaign's `end_date`; "Relative End Date" ->
    `enrollment_date` + `relative_duration` (see `add_relative_duration`); "No End Date",
    an unknown type or no joinable campaign -> None. An unparseable relative duration is
    logged once per distinct text, at WARNING.
    """
    if enrollment.due_date is not None:
        return enrollment.due_date
    campaign = enrollment_campaign(enrollment, campaigns_by_id, campaigns_by_name)
    if campaign is None:
        return None
    duration_type = _normalise_words(campaign.duration_type)
    if duration_type == "specific end date":
        return campaign.end_date
    if duration_type != "relative end date":
        return None
    text = campaign.relative_duration
    if text is None or enrollment.enrollment_date is None:
        return None
    due = add_relative_duration(enrollment.enrollment_date, text)
    if due is None:
        _warn_unparseable_duration(text)
    return due


_warned_durations: set[str] = set()


def _warn_unparseable_duration(text: str) -> None:
    # One line per distinct text: the same campaign repeats it for every enrollment.
    if text in _warned_durations:
        return
    _warned_durations.add(text)
    log.warning(
        "cannot parse training campaign relative_duration %r; its enrollments have no "
        "computable due date",
        text,
    )


@lru_cache(maxsize=64)
def _normalise_words(text: str) -> str:
    return " ".join(text.lower().split())


@dataclass(frozen=True, slots=True)
class _DueTally:
    """Counts over the non-exempt enrollments; see `training_completion`."""

    enrollments: int
    due: int
    completed_on_time: int
    overdue: int


def _tally_due_enrollments(snapshot: Snapshot, now: float) -> _DueTally | None:
    """One pass over the enrollments; None when enrollments or campaigns were never fetched."""
    if snapshot.enrollments is None or snapshot.training_campaigns is None:
        return None
    by_id, by_name = index_campaigns(snapshot.training_campaigns)
    considered = due = on_time = overdue = 0
    for enrollment in snapshot.enrollments:
        kind = _status_kind(enrollment.status)
        if kind.exempt:
            continue
        considered += 1
        due_date = enrollment_due_date(enrollment, by_id, by_name)
        if not (kind.past_due or (due_date is not None and due_date < now)):
            continue
        due += 1
        if not kind.done:
            overdue += 1
        elif (
            due_date is not None
            and enrollment.completion_date is not None
            and enrollment.completion_date <= due_date
        ):
            on_time += 1
    return _DueTally(considered, due, on_time, overdue)


def training_completion(snapshot: Snapshot, now: float) -> KriValue:
    """Due enrollments completed on time / all due enrollments (non-exempt only).

    Due: due date (`enrollment_due_date`) < now, or status "Past Due" (any case).
    Completed on time: status Completed/Passed (any case) with a `completion_date` <= the
    due date; a done enrollment without a due date cannot be on time. Statuses containing
    "exempt" (any case) count nowhere; enrollments neither due nor "Past Due" count
    nowhere. Absent when nothing is due, or when enrollments or training campaigns were
    never fetched. sample_size = due enrollments.
    """
    return _completion_from_tally(_tally_due_enrollments(snapshot, now))


def _completion_from_tally(tally: _DueTally | None) -> KriValue:
    if tally is None or tally.due == 0:
        return KriValue(TRAINING_COMPLETION, None, None)
    return KriValue(TRAINING_COMPLETION, tally.completed_on_time / tally.due, tally.due)


def overdue_training_assignments(snapshot: Snapshot, now: float) -> KriValue:
    """Due enrollments (as in `training_completion`) whose status is not Completed/Passed.

    Absent when there are no non-exempt enrollments, or when enrollments or training
    campaigns were never fetched. sample_size = non-exempt enrollments.
    """
    return _overdue_from_tally(_tally_due_enrollments(snapshot, now))


def _overdue_from_tally(tally: _DueTally | None) -> KriValue:
    if tally is None or tally.enrollments == 0:
        return KriValue(OVERDUE_TRAINING, None, None)
    return KriValue(OVERDUE_TRAINING, float(tally.overdue), tally.enrollments)


def remedial_training_compliance(snapshot: Snapshot, remedial_pattern: re.Pattern[str]) -> KriValue:
    """Completed/Passed / all non-exempt enrollments in remedial campaigns, due or not.

    A campaign is remedial when `remedial_pattern.search()` matches its name: the
    enrollment's `campaign_name`, else the joined campaign's name. Needs only the
    enrollments (campaigns, if fetched, just supply missing names). Absent when no
    enrollment is remedial. sample_size = remedial enrollments.
    """
    if snapshot.enrollments is None:
        return KriValue(REMEDIAL_COMPLIANCE, None, None)
    by_id, by_name = index_campaigns(snapshot.training_campaigns or ())
    is_remedial: dict[str, bool] = {}
    total = done = 0
    for enrollment in snapshot.enrollments:
        kind = _status_kind(enrollment.status)
        if kind.exempt:
            continue
        name = enrollment.campaign_name
        if not name:
            campaign = enrollment_campaign(enrollment, by_id, by_name)
            name = campaign.name if campaign is not None else ""
        matched = is_remedial.get(name)
        if matched is None:
            matched = is_remedial[name] = bool(name) and remedial_pattern.search(name) is not None
        if matched:
            total += 1
            done += kind.done
    if total == 0:
        return KriValue(REMEDIAL_COMPLIANCE, None, None)
    return KriValue(REMEDIAL_COMPLIANCE, done / total, total)


# --- relative durations --------------------------------------------------------------------

_FIXED_WORD_UNITS = {"day": DAY, "week": 7 * DAY}
_WORD_PART = re.compile(r"(\d+)\s*(day|week|month|year)s?", re.IGNORECASE)
# Between parts: a comma and/or whitespace, optionally followed by "and".
_WORD_SEPARATOR = re.compile(r"\s*,\s*(?:and\s+)?|\s+(?:and\s+)?", re.IGNORECASE)
_NUMBER = r"(\d+(?:[.,]\d+)?)"
_ISO_DURATION = re.compile(
    rf"P(?:(\d+)Y)?(?:(\d+)M)?(?:{_NUMBER}W)?(?:{_NUMBER}D)?"
    rf"(?:T(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?",
    re.IGNORECASE,
)


def add_relative_duration(start: float, text: str) -> float | None:
    """`start` (epoch seconds) plus a campaign's relative duration, or None if unparseable.

    Accepts "<n> day(s)|week(s)|month(s)|year(s)" in any case and spacing, several parts
    joined by spaces, commas or "and" ("1 month 15 days"), and ISO-8601 durations such as
    "P30D", "P2W", "P1Y2M10D" or "PT36H". Months and years are calendar steps in UTC with
    the day clamped to the end of the month (Jan 31 + 1 month = Feb 28/29); days, weeks and
    hours are fixed lengths added after the calendar step.
    """
    parsed = _parse_relative_duration(text)
    if parsed is None:
        return None
    months, seconds = parsed
    if months == 0:
        return start + seconds
    try:
        moved = _add_months(datetime.fromtimestamp(start, UTC), months)
    except (OverflowError, OSError, ValueError):
        return None
    return moved.timestamp() + seconds


def _add_months(moment: datetime, months: int) -> datetime:
    year, month_index = divmod(moment.year * 12 + moment.month - 1 + months, 12)
    month = month_index + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


@lru_cache(maxsize=256)
def _parse_relative_duration(text: str) -> tuple[int, float] | None:
    """(calendar months, fixed seconds), or None; cached, campaigns repeat the same text."""
    cleaned = text.strip()
    if not cleaned:
        return None
    if cleaned[0] in "Pp":
        return _parse_iso_duration(cleaned)
    return _parse_word_duration(cleaned)


def _parse_word_duration(text: str) -> tuple[int, float] | None:
    months, seconds = 0, 0.0
    position = 0
    for part in _WORD_PART.finditer(text):
        gap_ok = (
            part.start() == 0
            if position == 0
            else _WORD_SEPARATOR.fullmatch(text, position, part.start()) is not None
        )
        if not gap_ok:
            return None
        amount, unit = int(part.group(1)), part.group(2).lower()
        if unit == "month":
            months += amount
        elif unit == "year":
            months += 12 * amount
        else:
            seconds += amount * _FIXED_WORD_UNITS[unit]
        position = part.end()
    if position != len(text):
        return None
    return months, seconds


def _parse_iso_duration(text: str) -> tuple[int, float] | None:
    match = _ISO_DURATION.fullmatch(text)
    # "P", "PT" and a dangling "T" match the pattern but name no amount.
    if match is None or not any(match.groups()) or text[-1] in "Tt":
        return None
    years, months, weeks, days, hours, minutes, secs = (
        None if group is None else group.replace(",", ".") for group in match.groups()
    )
    total_months = int(years or 0) * 12 + int(months or 0)
    seconds = (
        float(weeks or 0) * 7 * DAY
        + float(days or 0) * DAY
        + float(hours or 0) * HOUR
        + float(minutes or 0) * 60
        + float(secs or 0)
    )
    return total_months, seconds
