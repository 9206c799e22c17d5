"""Training enrollments: what "done", "exempt" and "due" mean, and the tally the KRIs read.

The training KRIs and breakdowns need counts, not rows, and an org of 100,000 users has
more than a million enrollment rows: kept as records they would take hundreds of MB. So
each row is reduced, as its page arrives, to the facts the KRIs read (joined campaign,
campaign name, status, due date, completed on time), and rows with the same facts are
counted together (`EnrollmentGroup`). A due date already past when the tally is built
stays past, so it is kept only as "passed": what is left apart are future due dates.

Rules, each in one place (what a status means is `model.status_kind`):
- the campaign of an enrollment (`CampaignIndex.join`): by `campaign_id`, else by a
  campaign name no other campaign shares;
- the due date (`CampaignIndex.due_date`): the enrollment's own `due_date` if the API ever
  sends it, else the campaign's `end_date` ("Specific End Date") or `enrollment_date` +
  `relative_duration` ("Relative End Date"); none for "No End Date" or an unparseable
  duration (logged once per text by each owner of a `warned` set).
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Iterable
from functools import lru_cache

from kb4_exporter.kris.relative_durations import add_relative_duration
from kb4_exporter.model.reporting import Enrollment, EnrollmentGroup, TrainingCampaign, status_kind

log = logging.getLogger(__name__)


@lru_cache(maxsize=64)
def _normalise_words(text: str) -> str:
    return " ".join(text.lower().split())


class CampaignIndex:
    """Training campaigns looked up by id and by exact name, for joining enrollments.

    A name shared by several campaigns joins nothing: an enrollment without a campaign id
    cannot tell which of them it belongs to.
    """

    def __init__(
        self, campaigns: Iterable[TrainingCampaign], warned: set[str] | None = None
    ) -> None:
        self._by_id: dict[int, TrainingCampaign] = {}
        self._by_name: dict[str, TrainingCampaign | None] = {}
        # Relative durations already warned about; the owner's set, so a refresher warns
        # once per text for its whole life, not once per refresh.
        self._unparseable = warned if warned is not None else set()
        for campaign in campaigns:
            self._by_id[campaign.campaign_id] = campaign
            if not campaign.name:
                continue
            previous = self._by_name.get(campaign.name, campaign)
            same = previous is not None and previous.campaign_id == campaign.campaign_id
            self._by_name[campaign.name] = campaign if same else None

    def join(self, enrollment: Enrollment) -> TrainingCampaign | None:
        """By `campaign_id` when the enrollment has one, else by its unique name. An id that
        matches no campaign does not fall back to the name, which could belong to a
        different run of the campaign."""
        if enrollment.campaign_id is not None:
            return self._by_id.get(enrollment.campaign_id)
        return self._by_name.get(enrollment.campaign_name)

    def due_date(self, enrollment: Enrollment) -> float | None:
        """The enrollment's due date in epoch seconds, or None when none can be computed."""
        if enrollment.due_date is not None:
            return enrollment.due_date
        campaign = self.join(enrollment)
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
        if due is None and text not in self._unparseable:
            # One line per distinct text: the campaign repeats it for every enrollment.
            self._unparseable.add(text)
            log.warning(
                "cannot parse training campaign relative_duration %r; its enrollments have "
                "no computable due date",
                text,
            )
        return due


# Enrollment ids remembered to count a row listed twice once: a page boundary that moves
# while paging lists the rows at the boundary again, at the start of the next page. Two
# pages' worth, not every id: a million ids would cost more memory than the tally.
RECENT_ENROLLMENT_IDS = 1000


class EnrollmentTally:
    """Counts enrollments into groups as they arrive; `groups()` is the result."""

    def __init__(
        self,
        campaigns: Iterable[TrainingCampaign],
        built_at: float,
        warned: set[str] | None = None,
    ) -> None:
        self._index = CampaignIndex(campaigns, warned)
        self._built_at = built_at
        self._counts: Counter[tuple[int | None, str, str, float | None, bool, bool]] = Counter()
        self._recent_ids: deque[int] = deque()
        self._recent_set: set[int] = set()

    def add(self, enrollment: Enrollment) -> None:
        if self._seen_just_now(enrollment.enrollment_id):
            return
        campaign = self._index.join(enrollment)
        due = self._index.due_date(enrollment)
        completion = enrollment.completion_date
        status = enrollment.status.strip()
        on_time = (
            status_kind(status).done
            and due is not None
            and completion is not None
            and completion <= due
        )
        passed = due is not None and due < self._built_at
        key = (
            campaign.campaign_id if campaign is not None else None,
            enrollment.campaign_name or (campaign.name if campaign is not None else ""),
            status,
            None if passed else due,
            passed,
            on_time,
        )
        self._counts[key] += 1

    def _seen_just_now(self, enrollment_id: int | None) -> bool:
        """Whether the id is among the last RECENT_ENROLLMENT_IDS counted (and remember it)."""
        if enrollment_id is None:
            return False
        if enrollment_id in self._recent_set:
            return True
        if len(self._recent_ids) == RECENT_ENROLLMENT_IDS:
            self._recent_set.discard(self._recent_ids.popleft())
        self._recent_ids.append(enrollment_id)
        self._recent_set.add(enrollment_id)
        return False

    def groups(self) -> tuple[EnrollmentGroup, ...]:
        """The groups in a stable order, so equal inputs give equal snapshots."""
        return tuple(
            EnrollmentGroup(*key, count=count)
            for key, count in sorted(self._counts.items(), key=lambda item: _sort_key(item[0]))
        )


def _sort_key(
    key: tuple[int | None, str, str, float | None, bool, bool],
) -> tuple[int, int, str, str, float, bool, bool]:
    campaign_id, name, status, due, passed, on_time = key
    return (
        campaign_id is None,
        campaign_id or 0,
        name,
        status,
        -1.0 if due is None else due,
        passed,
        on_time,
    )


def tally_enrollments(
    enrollments: Iterable[Enrollment], campaigns: Iterable[TrainingCampaign], built_at: float
) -> tuple[EnrollmentGroup, ...]:
    """The groups of `enrollments` joined to `campaigns`, for KRIs at `built_at` or later."""
    tally = EnrollmentTally(campaigns, built_at)
    for enrollment in enrollments:
        tally.add(enrollment)
    return tally.groups()
