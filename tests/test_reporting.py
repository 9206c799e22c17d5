"""ReportingClient over a real PacedSession, with requests-mock playing the Reporting API."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import kb4_fakes as fakes
import pytest
import requests_mock as rm

from kb4_exporter.api.errors import AuthError, BadResponseError
from kb4_exporter.api.http import PacedSession
from kb4_exporter.api.listing import Listing
from kb4_exporter.api.reporting import PER_PAGE, ReportingClient
from kb4_exporter.kris.enrollments import EnrollmentTally, tally_enrollments
from kb4_exporter.model.reporting import (
    Account,
    Enrollment,
    Group,
    Recipient,
    SecurityTest,
    TrainingCampaign,
    User,
)

BASE = "https://us.api.knowbe4.com"
TOKEN = "t0k3n"
FIXTURES = Path(__file__).parent / "fixtures" / "api"
PST_ID = 14240
REPORTING_LOGGER = "kb4_exporter.api.reporting"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def session() -> Iterator[PacedSession]:
    made = fakes.unpaced_session("reporting", BASE, TOKEN)
    yield made
    made.close()


def reporting(session: PacedSession, **caps: int) -> ReportingClient:
    return ReportingClient(session, {"users": 50, "enrollments": 50, **caps})


@dataclass(frozen=True)
class Endpoint:
    """One Reporting listing: how to call it and what it must send."""

    source: str
    path: str
    params: Mapping[str, str]
    fixture: str
    id_key: str
    parse: Callable[[Any], object]

    def fetch(self, client: ReportingClient) -> Listing[Any]:
        if self.source == "recipients":
            return client.recipients(PST_ID)
        if self.source == "enrollments":
            return client.enrollments(EnrollmentTally((), built_at=fakes.NOW))
        method: Callable[[], Listing[Any]] = getattr(client, self.source)
        return method()

    def records(self, rows: list[Any]) -> tuple[Any, ...]:
        """What the listing of `rows` must give: the parsed rows, or for enrollments the
        groups they count into (the rows themselves are never kept)."""
        parsed = [self.parse(row) for row in rows]
        if self.source == "enrollments":
            return tally_enrollments(parsed, (), fakes.NOW)
        return tuple(parsed)

    def rows(self, count: int, first_id: int = 1) -> list[dict[str, Any]]:
        """`count` distinct rows of the recorded shape."""
        template = load(self.fixture)[0]
        return [{**template, self.id_key: first_id + n} for n in range(count)]


ENDPOINTS = [
    Endpoint("users", "/v1/users", {"status": "active"}, "users.json", "id", User.parse),
    Endpoint("groups", "/v1/groups", {"status": "active"}, "groups.json", "id", Group.parse),
    Endpoint(
        "security_tests",
        "/v1/phishing/security_tests",
        {},
        "security_tests.json",
        "pst_id",
        SecurityTest.parse,
    ),
    Endpoint(
        "recipients",
        f"/v1/phishing/security_tests/{PST_ID}/recipients",
        {},
        "recipients.json",
        "recipient_id",
        Recipient.parse,
    ),
    Endpoint(
        "training_campaigns",
        "/v1/training/campaigns",
        {"exclude_percentages": "true"},
        "training_campaigns.json",
        "campaign_id",
        TrainingCampaign.parse,
    ),
    Endpoint(
        "enrollments",
        "/v1/training/enrollments",
        {"include_campaign_id": "true", "exclude_archived_users": "true"},
        "enrollments.json",
        "enrollment_id",
        Enrollment.parse,
    ),
]
USERS = ENDPOINTS[0]


def query_of(request: Any) -> dict[str, str]:
    """The query string as sent (requests-mock's own `qs` lower-cases values)."""
    parsed = parse_qs(urlsplit(request.url).query, keep_blank_values=True)
    assert all(len(values) == 1 for values in parsed.values()), parsed
    return {key: values[0] for key, values in parsed.items()}


def first_query(endpoint: Endpoint) -> dict[str, str]:
    return {**endpoint.params, "per_page": str(PER_PAGE), "cursor": "true"}


def page_query(endpoint: Endpoint, page: int) -> dict[str, str]:
    if page == 1:
        return first_query(endpoint)
    return {**endpoint.params, "per_page": str(PER_PAGE), "page": str(page)}


def cursor_query(endpoint: Endpoint, offset: int) -> dict[str, str]:
    if offset == 0:
        return first_query(endpoint)
    return {**endpoint.params, "per_page": str(PER_PAGE), "cursor": f"at-{offset}"}


def serve(
    requests_mock: rm.Mocker, endpoint: Endpoint, rows: list[Any], contract: str = fakes.CURSOR
) -> None:
    requests_mock.get(f"{BASE}{endpoint.path}", json=fakes.PagedListing(rows, contract))


contracts = pytest.mark.parametrize("contract", fakes.CONTRACTS)


# --- what each endpoint sends ----------------------------------------------------------


@contracts
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.source)
def test_listing_sends_its_path_and_params(
    requests_mock: rm.Mocker, session: PacedSession, endpoint: Endpoint, contract: str
) -> None:
    recorded = load(endpoint.fixture)
    serve(requests_mock, endpoint, recorded, contract)

    listing = endpoint.fetch(reporting(session))

    [request] = requests_mock.request_history
    assert request.method == "GET"
    assert urlsplit(request.url).path == endpoint.path
    assert query_of(request) == first_query(endpoint)
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert listing.records == endpoint.records(recorded)
    assert (listing.truncated, listing.pages, listing.skipped) == (False, 1, 0)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.source)
def test_a_cursor_listing_follows_the_next_cursor_header_until_it_is_missing(
    requests_mock: rm.Mocker, session: PacedSession, endpoint: Endpoint
) -> None:
    rows = endpoint.rows(2 * PER_PAGE + 20)
    serve(requests_mock, endpoint, rows, fakes.CURSOR)

    listing = endpoint.fetch(reporting(session))

    queries = [query_of(r) for r in requests_mock.request_history]
    assert queries == [cursor_query(endpoint, offset) for offset in (0, PER_PAGE, 2 * PER_PAGE)]
    assert listing.records == endpoint.records(rows)
    assert (listing.truncated, listing.pages) == (False, 3)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.source)
def test_a_legacy_listing_pages_from_one_until_a_short_page(
    requests_mock: rm.Mocker, session: PacedSession, endpoint: Endpoint
) -> None:
    rows = endpoint.rows(2 * PER_PAGE + 20)
    serve(requests_mock, endpoint, rows, fakes.LEGACY)

    listing = endpoint.fetch(reporting(session))

    queries = [query_of(r) for r in requests_mock.request_history]
    assert queries == [page_query(endpoint, page) for page in (1, 2, 3)]
    assert listing.records == endpoint.records(rows)
    assert (listing.truncated, listing.pages) == (False, 3)


@contracts
def test_a_short_first_page_is_the_only_request(
    requests_mock: rm.Mocker, session: PacedSession, contract: str
) -> None:
    serve(requests_mock, USERS, USERS.rows(PER_PAGE - 1), contract)

    listing = reporting(session).users()

    assert requests_mock.call_count == 1
    assert len(listing.records) == PER_PAGE - 1


@contracts
def test_an_empty_first_page_ends_the_listing(
    requests_mock: rm.Mocker, session: PacedSession, contract: str
) -> None:
    serve(requests_mock, USERS, [], contract)

    listing = reporting(session).users()

    assert requests_mock.call_count == 1
    assert (listing.records, listing.truncated, listing.pages) == ((), False, 1)


@pytest.mark.parametrize(
    ("contract", "requests"),
    # Legacy: the empty page 3 ends it. Cursor: the second page has no next cursor.
    [(fakes.LEGACY, 3), (fakes.CURSOR, 2)],
)
def test_an_exact_multiple_of_per_page(
    requests_mock: rm.Mocker, session: PacedSession, contract: str, requests: int
) -> None:
    serve(requests_mock, USERS, USERS.rows(2 * PER_PAGE), contract)

    listing = reporting(session).users()

    assert requests_mock.call_count == requests
    assert len(listing.records) == 2 * PER_PAGE
    assert (listing.truncated, listing.pages) == (False, requests)


def test_one_full_cursor_page_is_settled_by_a_probe_once_per_source(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    # Exactly per_page rows and no token: the last page of a cursor listing, or page 1
    # of a legacy one. page=2 repeats page 1 (a cursor server ignores page), and a
    # one-row cursor probe gets a token: the listing was complete.
    serve(requests_mock, USERS, USERS.rows(PER_PAGE), fakes.CURSOR)
    client = reporting(session)

    first = client.users()
    queries = [query_of(r) for r in requests_mock.request_history]
    second = client.users()

    assert queries == [
        first_query(USERS),
        page_query(USERS, 2),
        {**USERS.params, "per_page": "1", "cursor": "true"},
    ]
    assert len(first.records) == len(second.records) == PER_PAGE
    # The source has shown a cursor: no probe the second time.
    assert requests_mock.call_count == 4


def test_one_full_legacy_page_costs_one_empty_page(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    serve(requests_mock, USERS, USERS.rows(PER_PAGE), fakes.LEGACY)

    listing = reporting(session).users()

    assert [query_of(r) for r in requests_mock.request_history] == [
        first_query(USERS),
        page_query(USERS, 2),
    ]
    assert len(listing.records) == PER_PAGE


# --- page caps -------------------------------------------------------------------------


@contracts
def test_the_page_cap_stops_exactly_there_and_flags_truncation(
    requests_mock: rm.Mocker,
    session: PacedSession,
    caplog: pytest.LogCaptureFixture,
    contract: str,
) -> None:
    serve(requests_mock, USERS, USERS.rows(5 * PER_PAGE), contract)

    with caplog.at_level(logging.WARNING, logger=REPORTING_LOGGER):
        listing = reporting(session, users=2).users()

    assert requests_mock.call_count == 2
    assert len(listing.records) == 2 * PER_PAGE
    assert (listing.truncated, listing.pages) == (True, 2)
    assert "page cap of 2" in caplog.text
    assert "page_caps.users" in caplog.text


@contracts
@pytest.mark.parametrize(
    ("cap", "rows", "requests"),
    [(2, PER_PAGE + 1, 2), (1, 0, 1), (1, PER_PAGE - 1, 1)],
)
def test_a_listing_that_ends_within_the_cap_is_not_truncated(
    requests_mock: rm.Mocker,
    session: PacedSession,
    cap: int,
    rows: int,
    requests: int,
    contract: str,
) -> None:
    serve(requests_mock, USERS, USERS.rows(rows), contract)

    listing = reporting(session, users=cap).users()

    assert requests_mock.call_count == requests
    assert len(listing.records) == rows
    assert not listing.truncated


def test_no_source_is_capped_by_default(requests_mock: rm.Mocker, session: PacedSession) -> None:
    enrollments = ENDPOINTS[5]
    serve(requests_mock, enrollments, enrollments.rows(120 * PER_PAGE + 1))

    listing = enrollments.fetch(ReportingClient(session))

    assert (listing.truncated, listing.pages) == (False, 121)
    assert sum(group.count for group in listing.records) == 120 * PER_PAGE + 1


def test_each_source_has_its_own_cap(requests_mock: rm.Mocker, session: PacedSession) -> None:
    enrollments = ENDPOINTS[5]
    serve(requests_mock, enrollments, enrollments.rows(3 * PER_PAGE))

    listing = enrollments.fetch(reporting(session, users=1, enrollments=2))

    assert requests_mock.call_count == 2
    assert listing.truncated


# --- the cursor envelope ---------------------------------------------------------------


class EnvelopeApi:
    """Serves `{data, _metadata.next_cursor}` pages chained by cursor values."""

    def __init__(self, pages: dict[str | None, tuple[list[Any], dict[str, Any]]]) -> None:
        self.pages = pages

    def __call__(self, request: Any, context: Any) -> dict[str, Any]:
        cursor = query_of(request).get("cursor")
        rows, extra = self.pages[None if cursor == "true" else cursor]
        return {"data": rows, **extra}


@pytest.mark.parametrize(
    "last_page_extra",
    [
        {"_metadata": {"next_cursor": None}},
        {"_metadata": {"next_cursor": ""}},
        {"_metadata": {}},
        {"_metadata": None},
        {},
    ],
    ids=["null", "empty", "no-key", "null-metadata", "no-metadata"],
)
def test_the_cursor_envelope_is_followed_until_next_cursor_is_empty(
    requests_mock: rm.Mocker, session: PacedSession, last_page_extra: dict[str, Any]
) -> None:
    enrollments = ENDPOINTS[5]
    rows = enrollments.rows(2 * PER_PAGE + 7)
    second, third = "Q3Vyc29yMg==", "3"
    requests_mock.get(
        f"{BASE}{enrollments.path}",
        json=EnvelopeApi(
            {
                None: (rows[:PER_PAGE], {"_metadata": {"next_cursor": second}}),
                second: (rows[PER_PAGE : 2 * PER_PAGE], {"_metadata": {"next_cursor": third}}),
                third: (rows[2 * PER_PAGE :], last_page_extra),
            }
        ),
    )

    listing = enrollments.fetch(reporting(session))

    cursor_params = {**enrollments.params, "per_page": str(PER_PAGE)}
    assert [query_of(r) for r in requests_mock.request_history] == [
        first_query(enrollments),
        {**cursor_params, "cursor": second},
        {**cursor_params, "cursor": third},
    ]
    assert listing.records == enrollments.records(rows)
    assert (listing.truncated, listing.pages) == (False, 3)


def test_the_header_wins_over_the_envelope(requests_mock: rm.Mocker, session: PacedSession) -> None:
    rows = USERS.rows(3)

    def respond(request: Any, context: Any) -> dict[str, Any]:
        if query_of(request)["cursor"] == "true":
            context.headers["X-Next-Cursor"] = "from-header"
            return {"data": rows[:2], "_metadata": {"next_cursor": "from-body"}}
        return {"data": rows[2:], "_metadata": {"next_cursor": None}}

    requests_mock.get(f"{BASE}/v1/users", json=respond)

    listing = reporting(session).users()

    assert query_of(requests_mock.request_history[1])["cursor"] == "from-header"
    assert [u.id for u in listing.records] == [1, 2, 3]


def test_a_short_envelope_page_with_a_next_cursor_is_followed(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    rows = USERS.rows(4)
    requests_mock.get(
        f"{BASE}/v1/users",
        json=EnvelopeApi(
            {
                None: (rows[:2], {"_metadata": {"next_cursor": "b"}}),
                "b": (rows[2:], {"_metadata": {"next_cursor": "c"}}),
                "c": ([], {"_metadata": {"next_cursor": "d"}}),
            }
        ),
    )

    listing = reporting(session).users()

    assert requests_mock.call_count == 3
    assert [u.id for u in listing.records] == [1, 2, 3, 4]


def test_a_full_envelope_page_without_a_cursor_ends_the_listing(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    requests_mock.get(f"{BASE}/v1/users", json={"data": USERS.rows(PER_PAGE)})

    listing = reporting(session).users()

    assert requests_mock.call_count == 1
    assert len(listing.records) == PER_PAGE


def test_the_cursor_envelope_honours_the_page_cap(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    def endless(request: Any, context: Any) -> dict[str, Any]:
        cursor = query_of(request)["cursor"]
        position = 0 if cursor == "true" else int(cursor)
        rows = USERS.rows(PER_PAGE, first_id=position * PER_PAGE + 1)
        return {"data": rows, "_metadata": {"next_cursor": str(position + 1)}}

    requests_mock.get(f"{BASE}/v1/users", json=endless)

    listing = reporting(session, users=3).users()

    assert requests_mock.call_count == 3
    assert (listing.truncated, len(listing.records)) == (True, 3 * PER_PAGE)


# --- wrong shapes and runaway listings ---------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"users": []},
        {"data": "rows"},
        {"data": {"id": 1}},
        {"message": "Something went wrong"},
        "a string",
        42,
        4.2,
        True,
        None,
    ],
    ids=repr,
)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.source)
def test_any_other_shape_is_a_bad_response_naming_the_endpoint(
    requests_mock: rm.Mocker, session: PacedSession, endpoint: Endpoint, body: Any
) -> None:
    requests_mock.get(f"{BASE}{endpoint.path}", json=body)

    with pytest.raises(BadResponseError) as caught:
        endpoint.fetch(reporting(session))

    assert caught.value.endpoint == endpoint.path
    assert endpoint.path in str(caught.value)
    assert caught.value.reason == "bad_response"
    assert requests_mock.call_count == 1


_FULL = USERS.rows(PER_PAGE)
_NEXT = USERS.rows(PER_PAGE, first_id=PER_PAGE + 1)


@pytest.mark.parametrize(
    ("responses", "message", "calls"),
    [
        # A later page of the wrong shape.
        ([_FULL, {"error": "oops"}], "/v1/users returned a JSON dict", 2),
        # Always the same full page and no token: the listing may be longer than one page,
        # so it must fail, never end as if complete (nor burn the budget on repeats).
        ([_FULL, _FULL, _FULL], "ignores its paging parameters", 3),
        # A legacy server that repeats page 2 as page 3.
        ([_FULL, _NEXT, _NEXT], "same page again", 3),
    ],
    ids=["wrong-shape-later", "ignores-paging", "legacy-repeat"],
)
def test_a_listing_that_cannot_end_soundly_fails_its_source(
    requests_mock: rm.Mocker,
    session: PacedSession,
    responses: list[Any],
    message: str,
    calls: int,
) -> None:
    requests_mock.get(f"{BASE}/v1/users", [{"json": body} for body in responses])

    with pytest.raises(BadResponseError, match=message) as caught:
        reporting(session).users()

    assert caught.value.endpoint == "/v1/users"
    assert requests_mock.call_count == calls


def test_a_cursor_given_twice_fails_the_listing(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    def looping(request: Any, context: Any) -> list[Any]:
        cursor = query_of(request)["cursor"]
        context.headers["X-Next-Cursor"] = "b" if cursor in ("true", "c") else "c"
        first_id = {"true": 1, "b": 1_001, "c": 2_001}[cursor]
        return USERS.rows(PER_PAGE, first_id=first_id)

    requests_mock.get(f"{BASE}/v1/users", json=looping)

    with pytest.raises(BadResponseError, match="next cursor it had sent before"):
        reporting(session).users()

    assert requests_mock.call_count == 3


@pytest.mark.parametrize(
    "token", ["x" * 2049, "caf\u00e9", "line\nbreak"], ids=["long", "non-ascii", "control"]
)
def test_an_unusable_cursor_fails_the_listing(
    requests_mock: rm.Mocker, session: PacedSession, token: str
) -> None:
    # requests-mock passes header values through as given.
    requests_mock.get(
        f"{BASE}/v1/users", json=USERS.rows(PER_PAGE), headers={"X-Next-Cursor": token}
    )

    with pytest.raises(BadResponseError, match="next cursor that is not a printable"):
        reporting(session).users()


def test_a_page_longer_than_per_page_fails_the_listing(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    requests_mock.get(f"{BASE}/v1/users", json=USERS.rows(PER_PAGE + 1))

    with pytest.raises(BadResponseError, match="ignores its paging parameters"):
        reporting(session).users()


@pytest.mark.parametrize("status", [400, 422])
def test_a_server_that_refuses_cursor_is_listed_by_page(
    requests_mock: rm.Mocker,
    session: PacedSession,
    caplog: pytest.LogCaptureFixture,
    status: int,
) -> None:
    rows = USERS.rows(PER_PAGE + 3)
    legacy = fakes.PagedListing(rows, fakes.LEGACY)

    def respond(request: Any, context: Any) -> Any:
        if "cursor" in query_of(request):
            context.status_code = status
            return {"message": "Unknown parameter: cursor"}
        return legacy(request, context)

    requests_mock.get(f"{BASE}/v1/users", json=respond)
    client = reporting(session)

    with caplog.at_level(logging.WARNING):
        listing = client.users()
        again = client.users()

    plain = {**USERS.params, "per_page": str(PER_PAGE)}
    assert [query_of(r) for r in requests_mock.request_history] == [
        first_query(USERS),
        {**plain, "page": "1"},
        {**plain, "page": "2"},
        # The source is known to page by number now: no second refusal.
        {**plain, "page": "1"},
        {**plain, "page": "2"},
    ]
    assert len(listing.records) == len(again.records) == PER_PAGE + 3
    assert "refused cursor=true" in caplog.text


def test_a_cursor_page_that_repeats_forever_is_caught_on_the_second_request(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    requests_mock.get(
        f"{BASE}/v1/users",
        json={"data": USERS.rows(PER_PAGE), "_metadata": {"next_cursor": "again"}},
    )

    with pytest.raises(BadResponseError, match="same page again"):
        reporting(session, users=50).users()

    assert requests_mock.call_count == 2


def test_an_http_error_mid_listing_propagates_unretried(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    requests_mock.get(
        f"{BASE}/v1/users",
        [{"json": USERS.rows(PER_PAGE)}, {"status_code": 401, "json": {"message": "nope"}}],
    )

    with pytest.raises(AuthError) as caught:
        reporting(session).users()

    assert caught.value.endpoint == "/v1/users"
    assert TOKEN not in str(caught.value)
    assert requests_mock.call_count == 2


# --- unusable rows -----------------------------------------------------------------------


def test_unusable_rows_are_skipped_counted_and_warned_about_once(
    requests_mock: rm.Mocker, session: PacedSession, caplog: pytest.LogCaptureFixture
) -> None:
    good = USERS.rows(PER_PAGE - 3)
    first_page = [*good[:10], "junk", {"email": "no-id@kb4-demo.com"}, None, *good[10:]]
    second_page = [{"id": "not a number"}, *USERS.rows(2, first_id=10_000), 7]
    requests_mock.get(f"{BASE}/v1/users", [{"json": first_page}, {"json": second_page}])

    with caplog.at_level(logging.WARNING, logger=REPORTING_LOGGER):
        listing = reporting(session).users()

    assert len(listing.records) == len(good) + 2
    assert listing.skipped == 5
    warnings = [r for r in caplog.records if r.name == REPORTING_LOGGER]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "/v1/users" in warnings[0].getMessage()
    assert "skipped 5" in warnings[0].getMessage()


def test_a_clean_listing_logs_no_warning(
    requests_mock: rm.Mocker, session: PacedSession, caplog: pytest.LogCaptureFixture
) -> None:
    serve(requests_mock, USERS, load("users.json"))

    with caplog.at_level(logging.DEBUG, logger=REPORTING_LOGGER):
        listing = reporting(session).users()

    assert listing.skipped == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# --- /v1/account -------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["account.json", "account_trial.json", "account_unnamed.json"])
def test_account_is_fetched_once_without_paging(
    requests_mock: rm.Mocker, session: PacedSession, fixture: str
) -> None:
    requests_mock.get(f"{BASE}/v1/account", json=load(fixture))

    account = reporting(session).account()

    [request] = requests_mock.request_history
    assert urlsplit(request.url).path == "/v1/account"
    assert urlsplit(request.url).query == ""
    assert account == Account.parse(load(fixture))


@pytest.mark.parametrize("body", [[], [load("account.json")], "KB4-Demo", 3, None], ids=repr)
def test_an_account_that_is_not_an_object_is_a_bad_response(
    requests_mock: rm.Mocker, session: PacedSession, body: Any
) -> None:
    requests_mock.get(f"{BASE}/v1/account", json=body)

    with pytest.raises(BadResponseError, match="/v1/account") as caught:
        reporting(session).account()

    assert caught.value.endpoint == "/v1/account"
    assert requests_mock.call_count == 1
