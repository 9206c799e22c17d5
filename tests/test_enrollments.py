"""Enrollments counted into groups as their pages arrive (`enrollments.EnrollmentTally`).

The tally must answer every question the training KRIs and breakdowns ask exactly as
the rows themselves would, at the time it is built and at any later time, while holding
a number of groups that does not grow with the number of rows.
"""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reliability import strategies

from kb4_exporter.kris.enrollments import (
    RECENT_ENROLLMENT_IDS,
    CampaignIndex,
    EnrollmentTally,
    tally_enrollments,
)
from kb4_exporter.model.reporting import Enrollment, EnrollmentGroup, TrainingCampaign, status_kind

NOW = 1_780_000_000.0
DAY = 86400.0


def row_by_row(
    enrollments: list[Enrollment], campaigns: list[TrainingCampaign], now: float
) -> tuple[int, int, int, int]:
    """(non-exempt, due, completed on time, overdue), straight from the rows."""
    index = CampaignIndex(campaigns)
    considered = due = on_time = overdue = 0
    for enrollment in enrollments:
        kind = status_kind(enrollment.status)
        if kind.exempt:
            continue
        considered += 1
        due_date = index.due_date(enrollment)
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
    return considered, due, on_time, overdue


def from_groups(groups: tuple[EnrollmentGroup, ...], now: float) -> tuple[int, int, int, int]:
    considered = due = on_time = overdue = 0
    for group in groups:
        if group.kind.exempt:
            continue
        considered += group.count
        if not group.is_due(now):
            continue
        due += group.count
        if not group.kind.done:
            overdue += group.count
        elif group.on_time:
            on_time += group.count
    return considered, due, on_time, overdue


@st.composite
def training(draw: st.DrawFn) -> tuple[list[Enrollment], list[TrainingCampaign]]:
    campaign_ids = draw(st.lists(st.integers(1, 4), unique=True, max_size=4))
    campaigns = [draw(strategies.training_campaigns(NOW, cid)) for cid in campaign_ids]
    return draw(st.lists(strategies.enrollments(NOW), max_size=40)), campaigns


@settings(max_examples=300, deadline=None)
@given(data=training(), later=st.floats(min_value=0, max_value=800 * DAY))
def test_the_tally_counts_what_the_rows_count_now_and_later(
    data: tuple[list[Enrollment], list[TrainingCampaign]], later: float
) -> None:
    enrollments, campaigns = data
    groups = tally_enrollments(enrollments, campaigns, built_at=NOW)
    assert sum(g.count for g in groups) == len(enrollments)
    for now in (NOW, NOW + later):
        assert from_groups(groups, now) == row_by_row(enrollments, campaigns, now)


def test_rows_with_the_same_facts_share_one_group() -> None:
    annual = TrainingCampaign(1, "Annual", "Completed", "Specific End Date", NOW - 30 * DAY, None)
    onboarding = TrainingCampaign(2, "Onboarding", "In Progress", "Relative End Date", None, "P7D")
    tally = EnrollmentTally([annual, onboarding], built_at=NOW)
    statuses = ("Passed", "Completed", "Not Started", "Past Due", "In Progress")
    for n in range(10_000):
        completed = NOW - 40 * DAY if n % 2 else NOW - 10 * DAY  # on time, or late
        tally.add(Enrollment(1, "Annual", statuses[n % 5], NOW - 60 * DAY, completed, None))
    # Onboarding: enrolled over the past 100 days, so most due dates have passed already.
    for n in range(1_000):
        tally.add(Enrollment(2, "", "Not Started", NOW - n * 8640.0, None, None))
    groups = tally.groups()
    # Annual: 5 statuses x on time or not, at most; Onboarding: one group of passed due
    # dates plus one per due date still ahead (enrolled in the last 7 days: 71 rows).
    assert len([g for g in groups if g.campaign_id == 1]) <= 10
    onboarding_groups = [g for g in groups if g.campaign_id == 2]
    assert len(onboarding_groups) == 1 + 71
    assert sum(g.count for g in groups) == 11_000
    # The name comes from the campaign when the row has none.
    assert {g.campaign_name for g in onboarding_groups} == {"Onboarding"}


def test_a_due_date_ahead_at_build_time_becomes_due_later() -> None:
    annual = TrainingCampaign(1, "Annual", "In Progress", "Specific End Date", NOW + DAY, None)
    (group,) = tally_enrollments([Enrollment(1, "", "Not Started", NOW, None, None)], [annual], NOW)
    assert (group.due_date, group.due_passed) == (NOW + DAY, False)
    assert not group.is_due(NOW)
    assert group.is_due(NOW + 2 * DAY)


def test_statuses_are_kept_without_surrounding_spaces() -> None:
    groups = tally_enrollments(
        [Enrollment(None, "x", " Passed ", None, None, None)] * 2, (), built_at=NOW
    )
    assert [(g.status, g.count, g.kind.done) for g in groups] == [("Passed", 2, True)]


def test_an_unparseable_duration_is_logged_once_per_owner(
    caplog: pytest.LogCaptureFixture,
) -> None:
    text = "until the cows come home"
    campaign = TrainingCampaign(1, "Annual", "In Progress", "Relative End Date", None, text)
    rows = [Enrollment(1, "", "Not Started", NOW - DAY, None, None)] * 3
    warned: set[str] = set()
    with caplog.at_level(logging.WARNING, logger="kb4_exporter.kris.enrollments"):
        for _ in range(2):  # two refreshes of one refresher
            tally = EnrollmentTally([campaign], NOW, warned=warned)
            for row in rows:
                tally.add(row)
        tally_enrollments(rows, [campaign], NOW)  # a new owner warns again
    assert [r.getMessage().count(text) for r in caplog.records] == [1, 1]


@pytest.mark.parametrize(
    ("completed_after_due", "on_time"), [(-1.0, True), (0.0, True), (1.0, False)]
)
def test_completed_on_time_means_no_later_than_the_due_date(
    completed_after_due: float, on_time: bool
) -> None:
    due = NOW - DAY
    annual = TrainingCampaign(1, "Annual", "Completed", "Specific End Date", due, None)
    row = Enrollment(1, "", "Completed", NOW - 9 * DAY, due + completed_after_due, None)
    (group,) = tally_enrollments([row], [annual], NOW)
    assert group.on_time is on_time


def test_a_row_listed_again_across_a_page_boundary_counts_once() -> None:
    def row(enrollment_id: int | None) -> Enrollment:
        return Enrollment(7, "Annual", "Completed", NOW - DAY, NOW, None, enrollment_id)

    tally = EnrollmentTally([], built_at=NOW)
    page_one = [row(n) for n in range(1, 501)]
    # The boundary moved by three rows between the two requests.
    page_two = [row(n) for n in range(498, 998)]
    for enrollment in [*page_one, *page_two, row(None), row(None)]:
        tally.add(enrollment)

    assert sum(group.count for group in tally.groups()) == 997 + 2


def test_only_recent_ids_are_remembered() -> None:
    tally = EnrollmentTally([], built_at=NOW)
    first = Enrollment(None, "", "Completed", None, None, None, 1)
    tally.add(first)
    for n in range(2, RECENT_ENROLLMENT_IDS + 2):
        tally.add(Enrollment(None, "", "Completed", None, None, None, n))
    tally.add(first)  # long forgotten: a duplicate this far apart is not a moved boundary

    assert sum(group.count for group in tally.groups()) == RECENT_ENROLLMENT_IDS + 2
