"""Hypothesis strategies: arbitrary JSON bodies shaped like API pages, and valid snapshots."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from kb4_exporter.model.phisher import PHISHER_SEVERITIES, PhisherMessage
from kb4_exporter.model.reporting import (
    PST_COUNT_FIELDS,
    Enrollment,
    Group,
    Recipient,
    SecurityTest,
    TrainingCampaign,
    User,
)

DAY = 86400.0

# Every key a record parser reads, so that arbitrary rows reach the parsing code paths.
RECORD_KEYS = (
    "id",
    "email",
    "phish_prone_percentage",
    "current_risk_score",
    "groups",
    "last_sign_in",
    "last_activity_at",
    "status",
    "name",
    "member_count",
    "group_id",
    "pst_id",
    "campaign_id",
    "started_at",
    "start_date",
    "duration",
    *(f"{name}_count" for name in PST_COUNT_FIELDS),
    "user",
    "delivered_at",
    "clicked_at",
    "reported_at",
    "duration_type",
    "end_date",
    "relative_duration",
    "campaign_name",
    "enrollment_date",
    "completion_date",
    "due_date",
    "subscription_level",
    "number_of_seats",
    "domains",
    "date",
    "risk_score",
    "data",
    "_metadata",
    "next_cursor",
)
TIMESTAMP_TEXTS = st.sampled_from(
    [
        "2025-06-14T09:30:00.000Z",
        "2025-03-01T00:00:00Z",
        "2024-01-01",
        "2025-06-15T09:30:00+02:00",
        "not a date",
        "",
    ]
)
STATUSES = st.sampled_from(
    ["Completed", "Passed", "Past Due", "In Progress", "Not Started", "Exempt", "closed", "?"]
)


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Any JSON value, including numbers too large for a float and odd strings."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=10**300, max_value=10**400),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=12),
        TIMESTAMP_TEXTS,
        STATUSES,
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(st.sampled_from(RECORD_KEYS) | st.text(max_size=6), children),
        ),
        max_leaves=max_leaves,
    )


def plausible_values() -> st.SearchStrategy[Any]:
    """Values of the kinds records hold, out-of-range numbers included."""
    return st.one_of(
        json_values(3),
        st.integers(-5, 500),
        st.floats(min_value=-1e3, max_value=1e3),
        st.floats(min_value=-1e308, max_value=1e308),
        TIMESTAMP_TEXTS,
        STATUSES,
        st.lists(st.integers(-2, 8), max_size=3),
    )


def record_rows() -> st.SearchStrategy[dict[str, Any]]:
    """Objects that look like API records: known keys with arbitrary values, most with a
    usable id so that parsing goes on to the other fields."""
    ids = st.integers(1, 20)
    required = {
        "id": ids,
        "pst_id": ids,
        "campaign_id": ids,
        "group_id": ids,
        "status": st.just("active") | STATUSES,
    }
    optional = {key: plausible_values() for key in RECORD_KEYS if key not in required}
    with_ids = st.fixed_dictionaries(required, optional=optional)
    return with_ids | st.dictionaries(st.sampled_from(RECORD_KEYS), json_values(4), max_size=10)


def page_bodies() -> st.SearchStrategy[Any]:
    """What a listing or object endpoint might answer with a 200."""
    return st.one_of(
        json_values(),
        st.lists(record_rows(), max_size=6),
        st.fixed_dictionaries(
            {"data": st.lists(record_rows(), max_size=4)},
            optional={"_metadata": st.dictionaries(st.just("next_cursor"), json_values(2))},
        ),
    )


def phisher_bodies() -> st.SearchStrategy[Any]:
    node = st.fixed_dictionaries(
        {},
        optional={
            "id": json_values(1),
            "severity": st.sampled_from(PHISHER_SEVERITIES) | json_values(1),
            "actionStatus": st.sampled_from(["RECEIVED", "IN_REVIEW", "RESOLVED"]) | json_values(1),
            "events": st.lists(
                st.fixed_dictionaries(
                    {"eventType": st.just("CREATED"), "createdAt": TIMESTAMP_TEXTS}
                ),
                max_size=2,
            )
            | json_values(2),
        },
    )
    result = st.fixed_dictionaries(
        {},
        optional={
            "nodes": st.lists(node | json_values(2), max_size=5) | json_values(2),
            "pagination": st.dictionaries(
                st.sampled_from(["page", "pages", "per", "totalCount"]), json_values(1)
            ),
        },
    )
    return st.one_of(
        json_values(),
        st.fixed_dictionaries({"data": st.fixed_dictionaries({"phisherMessages": result})}),
        st.fixed_dictionaries({"errors": json_values(3)}, optional={"data": json_values(2)}),
    )


# --- valid records, for the KRI properties ------------------------------------------------


def stamps(now: float) -> st.SearchStrategy[float | None]:
    return st.none() | st.floats(min_value=now - 730 * DAY, max_value=now + 30 * DAY)


def users(now: float, ids: st.SearchStrategy[int]) -> st.SearchStrategy[User]:
    return st.builds(
        User,
        id=ids,
        # Three decimals, as the API sends them (14.235): sums of such values round.
        phish_prone_percentage=st.none() | st.integers(0, 100_000).map(lambda n: n / 1000),
        risk_score=st.none() | st.floats(min_value=0, max_value=100),
        groups=st.lists(st.integers(1, 6), max_size=3, unique=True).map(
            lambda ids: tuple(sorted(ids))
        ),
        last_activity=stamps(now),
        status=st.sampled_from(["active", "archived"]),
    )


def groups() -> st.SearchStrategy[Group]:
    return st.builds(
        Group,
        id=st.integers(1, 6),
        name=st.text(max_size=8),
        member_count=st.none() | st.integers(0, 50),
        risk_score=st.none() | st.floats(0, 100),
        status=st.just("active"),
    )


def security_tests(now: float, pst_id: int) -> st.SearchStrategy[SecurityTest]:
    return st.builds(
        SecurityTest,
        pst_id=st.just(pst_id),
        campaign_id=st.none() | st.integers(1, 5),
        name=st.text(max_size=8),
        status=st.sampled_from(["Closed", "In Progress", "Error"]),
        started_at=stamps(now),
        duration_days=st.none() | st.integers(0, 30),
        phish_prone_percentage=st.none() | st.floats(0, 1),
        counts=st.fixed_dictionaries({"clicked": st.integers(0, 5), "reported": st.integers(0, 5)}),
    )


def recipients(now: float) -> st.SearchStrategy[Recipient]:
    return st.builds(
        Recipient,
        user_key=st.none() | st.sampled_from([f"id:{n}" for n in range(8)] + ["email:a@b.c"]),
        delivered_at=stamps(now),
        clicked_at=stamps(now),
        reported_at=stamps(now),
    )


def training_campaigns(now: float, campaign_id: int) -> st.SearchStrategy[TrainingCampaign]:
    return st.builds(
        TrainingCampaign,
        campaign_id=st.just(campaign_id),
        name=st.sampled_from(["Annual", "Remedial clickers", "Onboarding", ""]),
        status=st.sampled_from(["In Progress", "Closed", "Completed"]),
        duration_type=st.sampled_from(["Specific End Date", "Relative End Date", "No End Date"]),
        end_date=stamps(now),
        relative_duration=st.none() | st.sampled_from(["30 days", "2 weeks", "P1M", "soon"]),
    )


def enrollments(now: float) -> st.SearchStrategy[Enrollment]:
    return st.builds(
        Enrollment,
        campaign_id=st.none() | st.integers(1, 4),
        campaign_name=st.sampled_from(["Annual", "Remedial clickers", "Onboarding", ""]),
        status=STATUSES,
        enrollment_date=stamps(now),
        completion_date=stamps(now),
        due_date=st.none() | stamps(now),
    )


def phisher_messages(now: float) -> st.SearchStrategy[PhisherMessage]:
    return st.builds(
        PhisherMessage,
        severity=st.sampled_from(PHISHER_SEVERITIES),
        action_status=st.sampled_from(["RECEIVED", "IN_REVIEW", "RESOLVED"]),
        reported_at=st.none() | st.floats(min_value=now - 3 * DAY, max_value=now),
    )
