"""Record parsers against recorded-shape fixtures and every variant knowbe4-api.md lists."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kb4_exporter.model.parsing import RecordError, parse_timestamp, read_float, read_int
from kb4_exporter.model.phisher import PhisherMessage, phisher_reported_at
from kb4_exporter.model.reporting import (
    Account,
    Enrollment,
    Group,
    PstRecipients,
    Recipient,
    SecurityTest,
    StatusKind,
    TrainingCampaign,
    User,
    recipient_user_key,
    status_kind,
)
from kb4_exporter.model.user_events import UserEvent

FIXTURES = Path(__file__).parent / "fixtures" / "api"
# Every record parser: each takes one decoded JSON value.
PARSERS: list[Callable[[Any], object]] = [
    Account.parse,
    User.parse,
    Group.parse,
    SecurityTest.parse,
    Recipient.parse,
    TrainingCampaign.parse,
    Enrollment.parse,
    PhisherMessage.parse,
    UserEvent.parse,
]


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


def repr_short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 24 else text[:21] + "..."


SAMPLE_STAMP = utc(2019, 4, 2, 15, 2, 38)  # "2019-04-02T15:02:38.000Z" in the official samples


# --- primitive readers ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019-04-02T15:02:38.000Z", SAMPLE_STAMP),
        ("2019-04-02T15:02:38Z", SAMPLE_STAMP),
        ("2019-04-02T15:02:38z", SAMPLE_STAMP),
        ("2019-04-02T15:02:38+00:00", SAMPLE_STAMP),
        ("2019-04-02T17:02:38+02:00", SAMPLE_STAMP),
        ("2019-04-02T15:02:38", SAMPLE_STAMP),  # no offset: the API speaks UTC
        (" 2019-04-02T15:02:38.000Z ", SAMPLE_STAMP),
        ("2019-04-02", utc(2019, 4, 2)),  # date-only: risk-score date, custom_date_*
        ("2024-02-29", utc(2024, 2, 29)),
        ("1970-01-01", 0.0),
    ],
)
def test_parse_timestamp_reads_iso_and_date_only(text: str, expected: float) -> None:
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "not a date",
        "2019-13-45",
        "2019-02-30",
        "2019-04-02T25:00:00Z",
        1554217358,
        1554217358.0,
        True,
        [],
        {},
        ["2019-04-02"],
    ],
)
def test_parse_timestamp_gives_none_for_anything_else(value: Any) -> None:
    assert parse_timestamp(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [(14.235, 14.235), (0, 0.0), (-1, -1.0), ("14.235", 14.235), (" 7 ", 7.0), ("1e3", 1000.0)],
)
def test_read_float_takes_numbers_and_numeric_strings(value: Any, expected: float) -> None:
    assert read_float(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        None,
        "",
        "abc",
        "NaN",
        "nan",
        "Infinity",
        "-inf",
        math.nan,
        math.inf,
        -math.inf,
        10**400,
        -(10**400),
        "1e400",
        [],
        {},
        [1],
    ],
    ids=repr_short,
)
def test_read_float_rejects_bools_nan_infinities_and_non_numbers(value: Any) -> None:
    assert read_float(value) is None


@pytest.mark.parametrize(("value", "expected"), [(25, 25), (25.0, 25), ("25", 25), ("-3", -3)])
def test_read_int_takes_whole_numbers(value: Any, expected: int) -> None:
    assert read_int(value) == expected


@pytest.mark.parametrize(
    "value", [True, False, 25.5, "25.5", "x", None, math.nan, 10**400], ids=repr_short
)
def test_read_int_rejects_fractions_bools_and_junk(value: Any) -> None:
    assert read_int(value) is None


# --- account -----------------------------------------------------------------------


def test_account_official_sample() -> None:
    account = Account.parse(load("account.json"))
    assert account == Account(
        name="KB4-Demo", subscription_level="Diamond", seats=25, risk_score=45.742
    )


def test_trial_account_without_subscription_keys() -> None:
    account = Account.parse(load("account_trial.json"))
    assert account == Account(
        name="KB4-Trial", subscription_level=None, seats=None, risk_score=12.5
    )


def test_account_name_falls_back_to_the_first_domain() -> None:
    account = Account.parse(load("account_unnamed.json"))
    assert account.name == "first-domain.example"
    assert account.seats == 40  # numeric string
    assert account.subscription_level is None
    assert account.risk_score is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"name": "", "domains": ["d.example"]}, "d.example"),
        ({"domains": ["d.example", "e.example"]}, "d.example"),
        ({"name": None, "domains": []}, ""),
        ({"name": None, "domains": None}, ""),
        ({"name": None, "domains": [42]}, ""),
        ({"name": 7, "domains": "d.example"}, ""),
        ({}, ""),
    ],
)
def test_account_name_fallbacks_never_fail(raw: dict[str, Any], expected: str) -> None:
    assert Account.parse(raw).name == expected


def test_account_seats_bool_is_not_a_number() -> None:
    assert Account.parse({"name": "x", "number_of_seats": True}).seats is None


# --- users -------------------------------------------------------------------------


def users_by_id() -> dict[int, User]:
    return {user.id: user for user in map(User.parse, load("users.json"))}


def test_user_official_sample() -> None:
    user = users_by_id()[667542]
    assert user == User(
        id=667542,
        phish_prone_percentage=14.235,
        risk_score=45.742,
        groups=(3264,),
        last_activity=SAMPLE_STAMP,
        status="active",
    )


def test_user_legacy_provisioning_fields_and_numeric_strings() -> None:
    user = users_by_id()[667543]
    assert user.phish_prone_percentage == 22.5
    assert user.risk_score == 61.0
    assert user.groups == (3264, 3265)  # duplicates collapse
    assert user.last_activity is None


def test_user_misspelt_legacy_key_date_only_sign_in_and_status_case() -> None:
    user = users_by_id()[667544]
    assert user.last_activity == utc(2024, 2, 29)
    assert user.status == "active"
    assert user.groups == ()
    assert user.phish_prone_percentage is None


def test_user_with_nulls_everywhere() -> None:
    user = users_by_id()[667545]
    assert user == User(
        id=667545,
        phish_prone_percentage=None,
        risk_score=None,
        groups=(),
        last_activity=None,
        status="active",
    )


def test_user_groups_as_objects_with_expand_group() -> None:
    [user] = map(User.parse, load("users_expand_group.json"))
    assert user.groups == (3142, 3150, 3264)


def test_user_groups_ignore_bools_fractions_and_junk() -> None:
    raw = {"id": 1, "groups": [True, False, 1.5, "x", None, [], {}, "12", 12.0, 9]}
    assert User.parse(raw).groups == (9, 12)


def test_user_last_activity_at_is_preferred_over_last_sign_in() -> None:
    raw = {
        "id": 1,
        "last_activity_at": "2024-06-01T00:00:00Z",
        "last_sign_in": "2020-01-01T00:00:00Z",
    }
    assert User.parse(raw).last_activity == utc(2024, 6, 1)


@pytest.mark.parametrize("activity", [None, "", "garbage", 12345])
def test_user_unusable_last_activity_at_falls_back_to_last_sign_in(activity: Any) -> None:
    raw = {"id": 1, "last_activity_at": activity, "last_sign_in": "2020-01-01T00:00:00Z"}
    assert User.parse(raw).last_activity == utc(2020, 1, 1)


@pytest.mark.parametrize("ppp", [True, False, math.nan, "NaN", math.inf, "abc", [14.2]])
def test_user_ppp_that_is_not_a_number_is_unknown(ppp: Any) -> None:
    assert User.parse({"id": 1, "phish_prone_percentage": ppp}).phish_prone_percentage is None


def test_user_numeric_string_id() -> None:
    assert User.parse({"id": "667542"}).id == 667542


@pytest.mark.parametrize(
    "raw",
    [{}, {"id": None}, {"id": "abc"}, {"id": True}, {"id": 1.5}, {"id": []}, {"user_id": 5}],
)
def test_user_without_usable_id_is_a_record_error(raw: dict[str, Any]) -> None:
    with pytest.raises(RecordError, match="user"):
        User.parse(raw)


@pytest.mark.parametrize("raw", [None, [], "user", 42, 4.2, True, [{"id": 1}]])
def test_non_objects_are_record_errors(raw: Any) -> None:
    for parse in PARSERS:
        with pytest.raises(RecordError, match="expected an object"):
            parse(raw)


# --- groups ------------------------------------------------------------------------


def test_groups_official_sample_and_variants() -> None:
    groups = [Group.parse(raw) for raw in load("groups.json")]
    assert groups == [
        Group(
            id=3142, name="Customer Service", member_count=42, risk_score=45.742, status="active"
        ),
        Group(id=3264, name="Sales", member_count=None, risk_score=None, status="active"),
        Group(id=3265, name="3265", member_count=7, risk_score=None, status="active"),
    ]


def test_group_id_may_be_named_group_id() -> None:
    assert Group.parse({"group_id": 0, "name": "All Users"}).id == 0


@pytest.mark.parametrize("raw", [{}, {"id": None, "name": "x"}, {"id": False}])
def test_group_without_id_is_a_record_error(raw: dict[str, Any]) -> None:
    with pytest.raises(RecordError, match="group"):
        Group.parse(raw)


# --- phishing security tests --------------------------------------------------------


def test_security_test_official_sample() -> None:
    [pst] = map(SecurityTest.parse, load("security_tests.json"))
    assert pst.pst_id == 16142
    assert pst.campaign_id == 3423
    assert pst.name == "Corporate Test"
    assert pst.status == "Closed"
    assert pst.is_closed
    assert pst.started_at == SAMPLE_STAMP
    assert pst.duration_days == 1
    assert pst.phish_prone_percentage == 0.5
    assert dict(pst.counts) == {
        "scheduled": 42,
        "delivered": 4,
        "opened": 24,
        "clicked": 20,
        "replied": 0,
        "attachment_open": 3,
        "macro_enabled": 0,
        "data_entered": 0,
        "qr_code_scanned": 0,
        "reported": 0,
        "bounced": 0,
    }
    assert pst.may_have_clicks_or_reports


def test_landing_page_key_spelling_does_not_change_the_record() -> None:
    [docs_shape] = load("security_tests.json")
    real_shape = {k: v for k, v in docs_shape.items() if k != "landing-page"}
    real_shape["landing_page"] = docs_shape["landing-page"]
    neither = {k: v for k, v in docs_shape.items() if k != "landing-page"}
    assert SecurityTest.parse(real_shape) == SecurityTest.parse(docs_shape)
    assert SecurityTest.parse(neither) == SecurityTest.parse(docs_shape)


def test_security_test_2021_shape_without_qr_code_count() -> None:
    pst = SecurityTest.parse(load("security_tests_2021.json")[0])
    assert pst.counts["qr_code_scanned"] == 0
    assert pst.counts["clicked"] == 2
    assert pst.counts["reported"] == 5
    assert pst.started_at == utc(2021, 6, 1, 12)


def test_security_test_in_error_with_null_counts_and_dates() -> None:
    pst = SecurityTest.parse(load("security_tests_2021.json")[1])
    assert pst.status == "Error"
    assert not pst.is_closed
    assert pst.started_at is None
    assert pst.duration_days is None
    assert pst.phish_prone_percentage is None
    assert set(pst.counts.values()) == {0}
    assert not pst.may_have_clicks_or_reports


def test_security_test_numeric_strings_bools_and_unknown_status() -> None:
    pst = SecurityTest.parse(load("security_tests_2021.json")[2])
    assert pst.status == "Scheduled"  # not in any documented enum: kept, not rejected
    assert pst.phish_prone_percentage == 0.125
    assert pst.duration_days == 2
    assert pst.counts["scheduled"] == 10
    assert pst.counts["reported"] == 1
    assert pst.counts["clicked"] == 0  # `true` is not a count
    assert pst.counts["opened"] == 0  # missing
    assert pst.may_have_clicks_or_reports


def test_security_test_missing_counts_default_to_zero() -> None:
    pst = SecurityTest.parse({"pst_id": 5})
    assert len(pst.counts) == 11
    assert set(pst.counts.values()) == {0}
    assert pst.name == ""
    assert pst.status == ""


def test_security_test_takes_start_date_when_started_at_is_missing() -> None:
    pst = SecurityTest.parse({"pst_id": 5, "start_date": "2021-07-01T00:00:00Z"})
    assert pst.started_at == utc(2021, 7, 1)


@pytest.mark.parametrize("raw", [{}, {"campaign_id": 3423}, {"pst_id": None}, {"pst_id": True}])
def test_security_test_without_id_is_a_record_error(raw: dict[str, Any]) -> None:
    with pytest.raises(RecordError, match="security test"):
        SecurityTest.parse(raw)


# --- recipients ----------------------------------------------------------------------


def test_recipient_official_sample() -> None:
    recipient = Recipient.parse(load("recipients.json")[0])
    assert recipient == Recipient(
        user_key="id:264215",
        delivered_at=SAMPLE_STAMP,
        clicked_at=SAMPLE_STAMP,
        reported_at=None,
        recipient_id=3077742,
    )


def test_recipient_without_user_id_is_keyed_by_lower_cased_email() -> None:
    recipient = Recipient.parse(load("recipients.json")[1])
    assert recipient.user_key == "email:eve.legacy@kb4-demo.com"
    assert recipient.clicked_at is None
    assert recipient.reported_at == utc(2019, 4, 2, 15, 30)


def test_recipient_with_null_user_and_null_timestamps() -> None:
    recipient = Recipient.parse(load("recipients.json")[2])
    assert recipient == Recipient(
        user_key=None, delivered_at=None, clicked_at=None, reported_at=None, recipient_id=3077744
    )


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ({"id": 264215, "email": "Bob@x.example"}, "id:264215"),
        ({"id": "264215"}, "id:264215"),  # same person as the int id
        ({"id": None, "email": "Bob@X.Example"}, "email:bob@x.example"),
        ({"id": True, "email": "bob@x.example"}, "email:bob@x.example"),
        ({"email": "   "}, None),
        ({"email": 5}, None),
        ({}, None),
        (None, None),
        ("bob@x.example", None),
        (264215, None),
    ],
)
def test_recipient_user_key(user: Any, expected: str | None) -> None:
    assert recipient_user_key(user) == expected


def recipient(
    key: str | None,
    delivered: float | None = None,
    clicked: float | None = None,
    reported: float | None = None,
) -> Recipient:
    return Recipient(user_key=key, delivered_at=delivered, clicked_at=clicked, reported_at=reported)


def test_summarise_counts_a_duplicate_clicker_once_and_ignores_reports_before_delivery() -> None:
    t = utc(2024, 3, 1)
    rows = [
        recipient("id:1", delivered=t, clicked=t + 60),
        recipient("id:1", delivered=t, clicked=t + 120),  # same person, second row
        recipient("email:a@b.example", delivered=t, clicked=t + 5, reported=t + 3600),
        recipient(None, delivered=t, clicked=t + 10),  # clicker without identity
        recipient("id:2", delivered=t, reported=t - 30),  # reported before delivered
        recipient("id:3", delivered=t, reported=t),  # reported at delivery: zero delay
        recipient("id:4", delivered=None, reported=t + 50),  # never delivered
        recipient("id:5", delivered=t, reported=t + 600),
        recipient("id:6", delivered=t),
    ]
    summary = PstRecipients.summarise(77, rows)
    assert summary.pst_id == 77
    assert summary.clicker_keys == frozenset({"id:1", "email:a@b.example"})
    assert summary.report_delays == (0.0, 600.0, 3600.0)
    assert summary.recipient_count == len(rows)


def test_summarise_of_no_recipients() -> None:
    summary = PstRecipients.summarise(1, [])
    assert summary == PstRecipients(1, frozenset(), (), 0)


def test_summarise_the_recorded_recipients() -> None:
    rows = [Recipient.parse(raw) for raw in load("recipients.json")]
    summary = PstRecipients.summarise(14240, rows)
    assert summary.clicker_keys == frozenset({"id:264215"})
    assert summary.report_delays == (utc(2019, 4, 2, 15, 30) - utc(2019, 4, 2, 15),)
    assert summary.recipient_count == 3


# --- training ------------------------------------------------------------------------


def test_training_campaigns_nested_flat_and_null_shapes() -> None:
    campaigns = [TrainingCampaign.parse(raw) for raw in load("training_campaigns.json")]
    assert campaigns == [
        TrainingCampaign(
            campaign_id=4261,
            name="Annual Training",
            status="Completed",
            duration_type="Specific End Date",
            end_date=SAMPLE_STAMP,
            relative_duration="string",
        ),
        TrainingCampaign(
            campaign_id=4262,
            name="Remedial Training - Clickers",
            status="In Progress",
            duration_type="Relative End Date",
            end_date=None,
            relative_duration="30 days",
        ),
        TrainingCampaign(
            campaign_id=4263,
            name="",
            status="Created",
            duration_type="No End Date",
            end_date=None,
            relative_duration=None,
        ),
    ]


@pytest.mark.parametrize("raw", [{}, {"name": "x"}, {"campaign_id": None}, {"campaign_id": "x"}])
def test_training_campaign_without_id_is_a_record_error(raw: dict[str, Any]) -> None:
    with pytest.raises(RecordError, match="training campaign"):
        TrainingCampaign.parse(raw)


def enrollments() -> list[Enrollment]:
    return [Enrollment.parse(raw) for raw in load("enrollments.json")]


def test_enrollment_official_sample_without_campaign_id() -> None:
    assert enrollments()[0] == Enrollment(
        campaign_id=None,
        campaign_name="New Employee Policies",
        status="Passed",
        enrollment_date=SAMPLE_STAMP,
        completion_date=SAMPLE_STAMP,
        due_date=None,
        enrollment_id=1425526,
    )
    assert enrollments()[0].kind.done


def test_enrollment_with_include_flags_and_null_dates() -> None:
    enrollment = enrollments()[1]
    assert enrollment.campaign_id == 4261
    assert enrollment.completion_date is None
    assert enrollment.kind == StatusKind(exempt=False, done=False, past_due=True)


def test_enrollment_string_campaign_id_date_only_and_exempt_status() -> None:
    enrollment = enrollments()[2]
    assert enrollment.campaign_id == 4262
    assert enrollment.enrollment_date == utc(2024, 1, 5)
    assert enrollment.kind.exempt


def test_enrollment_with_nulls_everywhere() -> None:
    assert enrollments()[3] == Enrollment(
        campaign_id=None,
        campaign_name="",
        status="",
        enrollment_date=None,
        completion_date=None,
        due_date=None,
        enrollment_id=1425529,
    )


def test_store_purchase_id_spelling_does_not_change_the_record() -> None:
    base = load("enrollments.json")[1]
    with_purchase = {**base, "store_purchase_id": 7}
    with_purchased = {k: v for k, v in base.items() if k != "store_purchase_id"}
    with_purchased["store_purchased_id"] = 7
    without = {k: v for k, v in base.items() if k != "store_purchase_id"}
    assert Enrollment.parse(with_purchase) == Enrollment.parse(with_purchased)
    assert Enrollment.parse(without) == Enrollment.parse(with_purchase)


@pytest.mark.parametrize(
    ("status", "done", "exempt", "past_due"),
    [
        ("Completed", True, False, False),
        ("Passed", True, False, False),
        ("PASSED", True, False, False),
        ("Past Due", False, False, True),
        ("past due", False, False, True),
        ("Not Started", False, False, False),
        ("In Progress", False, False, False),
        ("Exempt", False, True, False),
        ("User Exempted", False, True, False),
        ("Some Future Status", False, False, False),
    ],
)
def test_enrollment_status_meaning(status: str, done: bool, exempt: bool, past_due: bool) -> None:
    enrollment = Enrollment.parse({"status": status})
    assert (
        enrollment.kind
        == StatusKind(exempt=exempt, done=done, past_due=past_due)
        == (status_kind(f"  {status} "))
    )


def test_enrollment_due_date_is_read_if_a_future_api_sends_it() -> None:
    assert Enrollment.parse({"due_date": "2024-12-31"}).due_date == utc(2024, 12, 31)


# --- PhishER -------------------------------------------------------------------------


def phisher_nodes() -> list[Any]:
    return list(load("phisher_messages.json")["data"]["phisherMessages"]["nodes"])


def test_phisher_messages_recorded_shape() -> None:
    messages = [PhisherMessage.parse(node) for node in phisher_nodes()]
    assert messages == [
        PhisherMessage("HIGH", "RECEIVED", utc(2024, 1, 10, 8, 15)),
        PhisherMessage("CRITICAL", "IN_REVIEW", utc(2024, 1, 11, 9)),
        PhisherMessage("LOW", "RESOLVED", utc(2024, 1, 12)),
        PhisherMessage("UNKNOWN_SEVERITY", "RECEIVED", None),
        PhisherMessage("UNKNOWN_SEVERITY", "", None),
        PhisherMessage("SEVERE_NEW_LEVEL", "RECEIVED", utc(2024, 1, 13, 12, 30)),
    ]
    assert [m.is_unresolved for m in messages] == [True, True, False, True, False, True]


def test_phisher_reported_time_comes_from_the_created_event_not_the_first() -> None:
    node = phisher_nodes()[1]
    assert node["events"][0]["eventType"] != "CREATED"
    assert phisher_reported_at(node) == utc(2024, 1, 11, 9)


@pytest.mark.parametrize(
    "events",
    [
        None,
        [],
        "CREATED",
        [None, 5, "x"],
        [{"eventType": "OPENED", "createdAt": "2024-01-01T00:00:00Z"}],
        [{"eventType": "CREATED", "createdAt": None}],
        [{"eventType": "CREATED", "createdAt": "yesterday"}],
        [{"eventType": None, "createdAt": "2024-01-01T00:00:00Z"}],
    ],
)
def test_phisher_without_a_usable_created_event_has_no_reported_time(events: Any) -> None:
    assert PhisherMessage.parse({"id": "m", "events": events}).reported_at is None


def test_phisher_skips_a_broken_created_event_for_a_later_one() -> None:
    events = [
        {"eventType": "CREATED", "createdAt": None},
        {"eventType": "CREATED", "createdAt": "2024-01-02T03:04:05Z"},
    ]
    assert PhisherMessage.parse({"events": events}).reported_at == utc(2024, 1, 2, 3, 4, 5)


def test_phisher_unknown_and_lower_case_enums() -> None:
    message = PhisherMessage.parse({"severity": "medium", "actionStatus": "in_review"})
    assert message.severity == "MEDIUM"
    assert message.is_unresolved
    odd = PhisherMessage.parse({"severity": 3, "actionStatus": "ARCHIVED"})
    assert odd.severity == "UNKNOWN_SEVERITY"
    assert not odd.is_unresolved


# --- property tests: arbitrary JSON never escapes as anything but RecordError ------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([10**400, -(10**400), 2**63, -(2**63)])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.sampled_from(
        [
            "2019-04-02T15:02:38.000Z",
            "2019-04-02",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-23:59",
            "NaN",
            "1e400",
            "CREATED",
            "",
        ]
    )
)


def keys_in(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(keys_in(child) for child in value.values()))
    if isinstance(value, list):
        return set().union(*(keys_in(child) for child in value))
    return set()


# Every key of the recorded shapes, plus those only a future API version might send.
KNOWN_KEYS = sorted(
    set().union(*(keys_in(load(path.name)) for path in FIXTURES.glob("*.json")))
    | {"last_activity_at", "due_date", "reportedAt", "reported_at", "start_date", "group_id"}
)


def json_values(keys: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return st.recursive(
        json_scalars,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=6)
        ),
        max_leaves=20,
    )


# Objects keyed mostly by names the parsers read, so the interesting branches are reached.
record_like = json_values(st.sampled_from(KNOWN_KEYS) | st.text(max_size=8))


@pytest.mark.parametrize("parse", PARSERS, ids=lambda p: p.__qualname__)
@settings(max_examples=300, deadline=None)
@given(raw=record_like)
def test_any_json_gives_a_record_or_a_record_error(
    parse: Callable[[Any], object], raw: Any
) -> None:
    owner = parse.__self__  # type: ignore[attr-defined]
    try:
        record = parse(raw)
    except RecordError:
        return
    assert isinstance(record, owner)


@settings(max_examples=300, deadline=None)
@given(value=json_values(st.text(max_size=8)))
def test_primitive_readers_never_raise(value: Any) -> None:
    stamp = parse_timestamp(value)
    number = read_float(value)
    whole = read_int(value)
    assert stamp is None or math.isfinite(stamp)
    assert number is None or math.isfinite(number)
    assert whole is None or (isinstance(whole, int) and not isinstance(whole, bool))


@settings(max_examples=300, deadline=None)
@given(text=st.text())
def test_parse_timestamp_never_raises_on_text(text: str) -> None:
    stamp = parse_timestamp(text)
    assert stamp is None or math.isfinite(stamp)


def test_phisher_report_time_is_a_top_level_reported_at_when_sent_else_the_created_event() -> None:
    created = {"events": [{"eventType": "CREATED", "createdAt": "2026-11-01T10:00:00Z"}]}
    both = {**created, "reportedAt": "2026-11-01T09:59:30Z"}
    assert phisher_reported_at(both) == utc(2026, 11, 1, 9, 59, 30)
    assert phisher_reported_at(created) == utc(2026, 11, 1, 10)
    # An unusable top-level value falls back to the event.
    assert phisher_reported_at({**created, "reportedAt": "yesterday"}) == utc(2026, 11, 1, 10)
