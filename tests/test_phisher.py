"""PhisherClient over a real PacedSession, with requests-mock playing the PhishER GraphQL API."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kb4_fakes as fakes
import pytest
import requests_mock as rm

from kb4_exporter.api.errors import AuthError, BadResponseError
from kb4_exporter.api.http import PacedSession
from kb4_exporter.api.phisher import PhisherClient, lucene_time, reported_since
from kb4_exporter.model.phisher import PhisherMessage

GRAPHQL_URL = "https://training.knowbe4.com/graphql"
TOKEN = "ph1sh3r-t0k3n"
FIXTURES = Path(__file__).parent / "fixtures" / "api"
PHISHER_LOGGER = "kb4_exporter.api.phisher"

START = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
# The confirmed form: a range open at the top (a closed range is unconfirmed).
WINDOW_QUERY = "reported_at:[2024-01-01T00:00:00Z TO *]"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def session() -> Iterator[PacedSession]:
    made = fakes.unpaced_session("phisher", GRAPHQL_URL, TOKEN)
    yield made
    made.close()


def node(number: int, severity: str = "HIGH", status: str = "RECEIVED") -> dict[str, Any]:
    return {
        "id": f"00000000-0000-4000-8000-{number:012d}",
        "severity": severity,
        "actionStatus": status,
        "events": [{"eventType": "CREATED", "createdAt": "2024-01-15T12:00:00Z"}],
    }


def page_body(
    nodes: list[Any], *, page: int = 1, pages: int | None = None, per: int | None = None
) -> dict[str, Any]:
    pagination: dict[str, Any] = {"page": page, "totalCount": 999}
    if pages is not None:
        pagination["pages"] = pages
    if per is not None:
        pagination["per"] = per
    return {"data": {"phisherMessages": {"nodes": nodes, "pagination": pagination}}}


class GraphQLPages:
    """Answers each POST with the page its `variables.page` asks for."""

    def __init__(self, pages: dict[int, dict[str, Any]]) -> None:
        self.pages = pages

    def __call__(self, request: Any, context: Any) -> dict[str, Any]:
        return self.pages[request.json()["variables"]["page"]]


def variables_sent(requests_mock: rm.Mocker) -> list[dict[str, Any]]:
    return [request.json()["variables"] for request in requests_mock.request_history]


# --- the request -------------------------------------------------------------------------


def test_lucene_window_is_iso_utc_with_z() -> None:
    assert reported_since(START) == WINDOW_QUERY
    assert lucene_time(START + 0.999) == "2024-01-01T00:00:00Z"


def test_messages_posts_a_graphql_body_with_the_reported_at_window(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    requests_mock.post(GRAPHQL_URL, json=load("phisher_messages.json"))

    listing = PhisherClient(session, per=100).messages(START)

    [request] = requests_mock.request_history
    assert request.method == "POST"
    assert request.url == GRAPHQL_URL
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    body = request.json()
    assert set(body) == {"query", "variables"}
    assert "phisherMessages(query: $query, page: $page, per: $per)" in body["query"]
    for wanted in ("severity", "actionStatus", "eventType", "createdAt", "pages"):
        assert wanted in body["query"]
    assert body["variables"] == {"query": WINDOW_QUERY, "page": 1, "per": 100}
    nodes = load("phisher_messages.json")["data"]["phisherMessages"]["nodes"]
    assert listing.records == tuple(PhisherMessage.parse(n) for n in nodes)
    assert (listing.truncated, listing.pages, listing.skipped) == (False, 1, 0)


# --- paging ----------------------------------------------------------------------------


def test_follows_pages_until_pagination_pages(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    pages = {p: page_body([node(p * 10 + i) for i in range(2)], page=p, pages=3) for p in (1, 2, 3)}
    requests_mock.post(GRAPHQL_URL, json=GraphQLPages(pages))

    listing = PhisherClient(session, per=2).messages(START)

    assert [v["page"] for v in variables_sent(requests_mock)] == [1, 2, 3]
    assert all(
        v == {"query": WINDOW_QUERY, "page": v["page"], "per": 2}
        for v in variables_sent(requests_mock)
    )
    assert len(listing.records) == 6
    assert (listing.truncated, listing.pages) == (False, 3)


def test_the_last_page_ends_the_listing(requests_mock: rm.Mocker, session: PacedSession) -> None:
    pages = {1: page_body([node(1), node(2)], pages=2), 2: page_body([node(3)], page=2, pages=2)}
    requests_mock.post(GRAPHQL_URL, json=GraphQLPages(pages))

    listing = PhisherClient(session, per=2).messages(START)

    assert requests_mock.call_count == 2
    assert len(listing.records) == 3


def test_without_pagination_pages_it_reads_until_a_short_page(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    pages = {
        1: page_body([node(1), node(2)]),
        2: page_body([node(3), node(4)]),
        3: page_body([node(5)]),
    }
    requests_mock.post(GRAPHQL_URL, json=GraphQLPages(pages))

    listing = PhisherClient(session, per=2).messages(START)

    assert requests_mock.call_count == 3
    assert len(listing.records) == 5


def test_an_empty_page_ends_the_listing(requests_mock: rm.Mocker, session: PacedSession) -> None:
    requests_mock.post(GRAPHQL_URL, json=page_body([], pages=0))

    listing = PhisherClient(session, per=2).messages(START)

    assert requests_mock.call_count == 1
    assert (listing.records, listing.truncated) == ((), False)


def test_a_server_that_caps_per_is_still_read_to_the_last_page(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    # The maximum `per` is unconfirmed: a server may serve fewer per page than asked.
    pages = {
        p: page_body([node(p * 100 + i) for i in range(50)], page=p, pages=3, per=50)
        for p in (1, 2, 3)
    }
    requests_mock.post(GRAPHQL_URL, json=GraphQLPages(pages))

    listing = PhisherClient(session, per=100).messages(START)

    assert requests_mock.call_count == 3
    assert len(listing.records) == 150
    assert not listing.truncated


def test_a_server_that_caps_per_without_saying_so_is_still_read_to_the_last_page(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    # Its pagination gives `pages` (by its own page size) but not `per`: each page is
    # shorter than asked, and only `pages` tells that more follow.
    pages = {
        p: page_body([node(p * 100 + i) for i in range(50)], page=p, pages=3) for p in (1, 2, 3)
    }
    requests_mock.post(GRAPHQL_URL, json=GraphQLPages(pages))

    listing = PhisherClient(session, per=100).messages(START)

    assert requests_mock.call_count == 3
    assert len(listing.records) == 150
    assert not listing.truncated


def test_a_server_that_ignores_page_fails_the_listing(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    requests_mock.post(GRAPHQL_URL, json=page_body([node(1)], pages=1_000_000))

    with pytest.raises(BadResponseError, match="same page again"):
        PhisherClient(session, per=2).messages(START)

    assert requests_mock.call_count == 2


def test_a_reported_per_larger_than_asked_does_not_end_the_listing_early(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    pages = {
        1: page_body([node(1), node(2)], page=1, per=1000),
        2: page_body([node(3)], page=2, per=1000),
    }
    requests_mock.post(GRAPHQL_URL, json=GraphQLPages(pages))

    listing = PhisherClient(session, per=2).messages(START)

    assert requests_mock.call_count == 2
    assert len(listing.records) == 3


def test_the_page_cap_stops_there_and_flags_truncation(
    requests_mock: rm.Mocker, session: PacedSession, caplog: pytest.LogCaptureFixture
) -> None:
    pages = {p: page_body([node(p * 10), node(p * 10 + 1)], page=p, pages=9) for p in range(1, 10)}
    requests_mock.post(GRAPHQL_URL, json=GraphQLPages(pages))

    with caplog.at_level(logging.WARNING, logger=PHISHER_LOGGER):
        listing = PhisherClient(session, max_pages=2, per=2).messages(START)

    assert [v["page"] for v in variables_sent(requests_mock)] == [1, 2]
    assert (listing.truncated, listing.pages, len(listing.records)) == (True, 2, 4)
    assert "page cap of 2" in caplog.text


def test_a_listing_ending_exactly_at_the_cap_is_not_truncated(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    pages = {p: page_body([node(p * 10), node(p * 10 + 1)], page=p, pages=2) for p in (1, 2)}
    requests_mock.post(GRAPHQL_URL, json=GraphQLPages(pages))

    listing = PhisherClient(session, max_pages=2, per=2).messages(START)

    assert requests_mock.call_count == 2
    assert not listing.truncated


def test_unusable_nodes_are_skipped_counted_and_warned_about_once(
    requests_mock: rm.Mocker, session: PacedSession, caplog: pytest.LogCaptureFixture
) -> None:
    requests_mock.post(GRAPHQL_URL, json=page_body([node(1), None, "x", node(2), 5], pages=1))

    with caplog.at_level(logging.WARNING, logger=PHISHER_LOGGER):
        listing = PhisherClient(session, per=100).messages(START)

    assert (len(listing.records), listing.skipped) == (2, 3)
    warnings = [r for r in caplog.records if r.name == PHISHER_LOGGER]
    assert len(warnings) == 1
    assert "skipped 3" in warnings[0].getMessage()


# --- errors ------------------------------------------------------------------------------


def test_an_unauthorized_graphql_error_is_an_auth_error(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    requests_mock.post(GRAPHQL_URL, json=load("phisher_error_unauthorized.json"))

    with pytest.raises(AuthError, match="Unauthorized: invalid or expired token") as caught:
        PhisherClient(session).messages(START)

    assert caught.value.reason == "auth"
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    "message",
    ["Not authorized to access phisherMessages", "You must be authenticated", "UNAUTHORIZED"],
)
def test_other_unauthorized_wordings_are_auth_errors(
    requests_mock: rm.Mocker, session: PacedSession, message: str
) -> None:
    requests_mock.post(GRAPHQL_URL, json={"errors": [{"message": message}]})

    with pytest.raises(AuthError):
        PhisherClient(session).messages(START)


def test_a_graphql_error_without_data_is_a_bad_response(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    requests_mock.post(GRAPHQL_URL, json=load("phisher_error_query.json"))

    with pytest.raises(BadResponseError, match="PhishER GraphQL error: Field 'bogus'") as caught:
        PhisherClient(session).messages(START)

    assert caught.value.endpoint == "phisherMessages"


@pytest.mark.parametrize("errors", [["boom"], "boom", [{}], [{"message": None}], {"message": 1}])
def test_odd_error_shapes_are_bad_responses(
    requests_mock: rm.Mocker, session: PacedSession, errors: Any
) -> None:
    requests_mock.post(GRAPHQL_URL, json={"data": None, "errors": errors})

    with pytest.raises(BadResponseError):
        PhisherClient(session).messages(START)


def test_errors_beside_usable_data_are_tolerated(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    body = page_body([node(1)], pages=1)
    body["errors"] = [{"message": "rules: field is deprecated"}]
    requests_mock.post(GRAPHQL_URL, json=body)

    listing = PhisherClient(session).messages(START)

    assert len(listing.records) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"data": {"phisherMessages": {"pagination": {"pages": 1}}}},
        {"data": {"phisherMessages": {"nodes": None}}},
        {"data": {"phisherMessages": {"nodes": {"id": "x"}}}},
        {"data": {"phisherMessages": None}},
        {"data": {}},
        {"data": None},
        {},
        [],
        "ok",
        None,
    ],
    ids=repr,
)
def test_missing_nodes_or_wrong_shape_is_a_bad_response(
    requests_mock: rm.Mocker, session: PacedSession, body: Any
) -> None:
    requests_mock.post(GRAPHQL_URL, text=json.dumps(body))

    with pytest.raises(BadResponseError) as caught:
        PhisherClient(session).messages(START)

    assert caught.value.endpoint == "phisherMessages"
    assert requests_mock.call_count == 1


def test_an_error_on_a_later_page_propagates(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    requests_mock.post(
        GRAPHQL_URL,
        [
            {"json": page_body([node(1), node(2)], pages=2)},
            {"json": load("phisher_error_query.json")},
        ],
    )

    with pytest.raises(BadResponseError):
        PhisherClient(session, per=2).messages(START)

    assert requests_mock.call_count == 2


# --- total_count probe -------------------------------------------------------------------


def test_total_count_probes_with_one_small_request(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    requests_mock.post(GRAPHQL_URL, json=load("phisher_probe.json"))

    total = PhisherClient(session).total_count()

    [request] = requests_mock.request_history
    body = request.json()
    assert "totalCount" in body["query"]
    assert "per: 1" in body["query"]
    assert body["variables"] == {"query": ""}
    assert (
        total == load("phisher_probe.json")["data"]["phisherMessages"]["pagination"]["totalCount"]
    )


@pytest.mark.parametrize(
    "pagination", [{}, None, {"totalCount": None}, {"totalCount": "12"}, {"totalCount": True}]
)
def test_total_count_is_none_when_not_an_integer(
    requests_mock: rm.Mocker, session: PacedSession, pagination: Any
) -> None:
    requests_mock.post(GRAPHQL_URL, json={"data": {"phisherMessages": {"pagination": pagination}}})

    assert PhisherClient(session).total_count() is None


def test_total_count_raises_auth_error_on_unauthorized(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    requests_mock.post(GRAPHQL_URL, json=load("phisher_error_unauthorized.json"))

    with pytest.raises(AuthError):
        PhisherClient(session).total_count()


def test_total_count_http_401_is_an_auth_error(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    requests_mock.post(GRAPHQL_URL, status_code=401, json={"message": "bad token"})

    with pytest.raises(AuthError) as caught:
        PhisherClient(session).total_count()

    assert requests_mock.call_count == 1
    assert TOKEN not in str(caught.value)


# --- the unresolved-message poll: messages since a time, messages by id -----------------


class ById:
    """Answers `id:` queries (single or joined by OR) from `messages`; `or_mode` says how
    a query with OR is answered: "ok", "reject" (a GraphQL error) or "first" (only the
    first term is read, as a server that does not know OR might)."""

    def __init__(self, messages: list[dict[str, Any]], or_mode: str = "ok") -> None:
        self.messages = {m["id"]: m for m in messages}
        self.or_mode = or_mode
        self.queries: list[str] = []

    def __call__(self, request: Any, context: Any) -> dict[str, Any]:
        query = request.json()["variables"]["query"]
        self.queries.append(query)
        terms = query.split(" OR ")
        if len(terms) > 1 and self.or_mode == "reject":
            return load("phisher_error_query.json")
        if self.or_mode == "first":
            terms = terms[:1]
        wanted = [term.removeprefix("id:") for term in terms]
        found = [self.messages[w] for w in wanted if w in self.messages]
        return page_body(found, pages=1 if found else 0, per=100)


def test_messages_since_reads_ids_and_skips_nodes_without_a_usable_one(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    injected = {**node(3), "id": "x OR reported_at:[* TO *]"}
    requests_mock.post(GRAPHQL_URL, json=page_body([node(1), {**node(2), "id": None}, injected]))

    listing = PhisherClient(session).messages_since(START)

    assert variables_sent(requests_mock) == [{"query": WINDOW_QUERY, "page": 1, "per": 100}]
    assert [m.id for m in listing.records] == [node(1)["id"]]
    assert listing.skipped == 2
    (status,) = listing.records
    assert (status.severity, status.action_status, status.is_unresolved) == (
        "HIGH",
        "RECEIVED",
        True,
    )


def test_look_up_reads_several_ids_in_one_query(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    server = ById([node(1), node(2, status="RESOLVED")])
    requests_mock.post(GRAPHQL_URL, json=server)
    wanted = [node(1)["id"], node(2)["id"]]

    found = PhisherClient(session).look_up(wanted)

    assert server.queries == [f"id:{wanted[0]} OR id:{wanted[1]}"]
    assert sorted(found) == wanted
    assert found[wanted[1]].action_status == "RESOLVED"


def test_look_up_batches_fifty_ids_per_query(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    messages = [node(i) for i in range(120)]
    server = ById(messages)
    requests_mock.post(GRAPHQL_URL, json=server)

    found = PhisherClient(session).look_up([m["id"] for m in messages])

    assert [q.count("id:") for q in server.queries] == [50, 50, 20]
    assert len(found) == 120


def test_an_id_missing_from_a_batch_and_alone_is_a_deleted_message(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    server = ById([node(1)])
    requests_mock.post(GRAPHQL_URL, json=server)
    client = PhisherClient(session)
    gone = node(2)["id"]

    found = client.look_up([node(1)["id"], gone])

    assert list(found) == [node(1)["id"]]
    # Confirmed alone before it is taken for gone; batching stays on.
    assert server.queries[1:] == [f"id:{gone}"]
    client.look_up([node(1)["id"], gone])
    assert " OR " in server.queries[2]


@pytest.mark.parametrize("or_mode", ["reject", "first"])
def test_a_server_that_does_not_read_or_costs_calls_never_a_message(
    requests_mock: rm.Mocker, session: PacedSession, or_mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    messages = [node(1), node(2), node(3)]
    server = ById(messages, or_mode=or_mode)
    requests_mock.post(GRAPHQL_URL, json=server)
    client = PhisherClient(session)
    wanted = [m["id"] for m in messages]

    with caplog.at_level(logging.WARNING, logger=PHISHER_LOGGER):
        assert sorted(client.look_up(wanted)) == wanted
        assert sorted(client.look_up(wanted)) == wanted

    batches = [q for q in server.queries if " OR " in q]
    assert len(batches) == 1, "the form is not used again"
    assert server.queries[-3:] == [f"id:{w}" for w in wanted]
    assert "one id per query" in caplog.text


def test_a_single_id_query_answered_with_other_messages_only_is_a_deleted_message(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    requests_mock.post(GRAPHQL_URL, json=page_body([node(7)], pages=1))

    assert PhisherClient(session).look_up([node(1)["id"]]) == {}


def test_an_id_query_that_matches_more_pages_than_it_reads_is_an_error_not_a_deletion(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    def other_messages(request: Any, context: Any) -> dict[str, Any]:
        page = request.json()["variables"]["page"]
        return page_body([node(page * 10 + 7), node(page * 10 + 8)], pages=99, per=2)

    requests_mock.post(GRAPHQL_URL, json=other_messages)

    with pytest.raises(BadResponseError, match="matched more than"):
        PhisherClient(session, per=2).look_up([node(1)["id"]])


def test_an_auth_error_while_looking_up_is_not_taken_for_a_rejected_form(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    requests_mock.post(GRAPHQL_URL, json=load("phisher_error_unauthorized.json"))

    with pytest.raises(AuthError):
        PhisherClient(session).look_up([node(1)["id"], node(2)["id"]])
    assert requests_mock.call_count == 1


def test_an_id_that_could_change_a_query_is_never_sent(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    server = ById([node(1)])
    requests_mock.post(GRAPHQL_URL, json=server)

    found = PhisherClient(session).look_up(["x OR reported_at:[* TO *]", node(1)["id"]])

    assert list(found) == [node(1)["id"]]
    assert server.queries == [f"id:{node(1)['id']}"]


def test_a_garbled_answer_to_a_batch_is_an_error_not_a_verdict_on_or(
    requests_mock: rm.Mocker, session: PacedSession
) -> None:
    requests_mock.post(
        GRAPHQL_URL,
        [{"text": "<html>proxy error</html>"}, {"json": ById([node(1), node(2)])}],
    )
    client = PhisherClient(session)

    with pytest.raises(BadResponseError):
        client.look_up([node(1)["id"], node(2)["id"]])
    client.look_up([node(1)["id"], node(2)["id"]])

    assert " OR " in requests_mock.request_history[-1].json()["variables"]["query"]
