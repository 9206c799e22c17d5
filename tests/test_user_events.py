"""User Event API client: envelope paging, the 24 h window, probe, bad shapes."""

from __future__ import annotations

from typing import Any

import kb4_fakes as fakes
import pytest
import requests_mock

from kb4_exporter.api.errors import BadResponseError
from kb4_exporter.api.user_events import UserEventsClient

URL = "https://api.events.knowbe4.com"
LOGGER = "kb4_exporter.api.user_events"


def client(max_pages: int = 20) -> UserEventsClient:
    session = fakes.unpaced_session("user_events", URL, "user-events-token")
    return UserEventsClient(session, max_pages=max_pages)


def event(hours_ago: float, kind: str = "phish") -> dict[str, Any]:
    return {
        "id": "e",
        "event_type": {"id": 1, "name": kind},
        "risk": {"level": 5, "decay_mode": 0},
        "occurred_date": fakes.iso(fakes.NOW - hours_ago * 3600),
    }


def page(rows: list[dict[str, Any]], next_page: int | None) -> dict[str, Any]:
    return {"data": rows, "meta": {"count": 99, "next_page": next_page}}


def test_follows_next_page_and_stops_at_a_page_older_than_the_window(
    requests_mock: requests_mock.Mocker,
) -> None:
    requests_mock.get(
        f"{URL}/events",
        [
            {"json": page([event(1), event(2)], 2)},
            {"json": page([event(23), event(30)], 3)},
            {"json": page([event(40), event(50)], 4)},
        ],
    )
    listing = client().events_since(fakes.NOW - 86400)
    assert len(listing.records) == 3
    assert len(requests_mock.request_history) == 3
    first = requests_mock.request_history[0].qs
    assert first["order_by"] == ["occurred_date"] and first["order_direction"] == ["desc"]


def test_page_cap_sets_truncated(requests_mock: requests_mock.Mocker) -> None:
    requests_mock.get(f"{URL}/events", json=page([event(1)], 2))
    listing = client(max_pages=3).events_since(fakes.NOW - 86400)
    assert listing.truncated and len(requests_mock.request_history) == 3


def test_wrong_shape_is_a_bad_response(requests_mock: requests_mock.Mocker) -> None:
    requests_mock.get(f"{URL}/events", json={"unexpected": 1})
    with pytest.raises(BadResponseError, match="/events"):
        client().events_since(fakes.NOW - 86400)


def test_a_bare_list_is_a_bad_response(requests_mock: requests_mock.Mocker) -> None:
    # Not the documented envelope: reading it as events would count whatever it holds.
    requests_mock.get(f"{URL}/events", json=[page([event(1)], None)])
    with pytest.raises(BadResponseError, match="/events"):
        client().events_since(fakes.NOW - 86400)


def test_a_row_with_neither_type_nor_date_is_skipped(
    requests_mock: requests_mock.Mocker,
) -> None:
    requests_mock.get(f"{URL}/events", json=page([event(1), {"id": "x"}], None))
    listing = client().events_since(fakes.NOW - 86400)
    assert [e.event_type for e in listing.records] == ["phish"]
    assert listing.skipped == 1


def test_skipped_rows_are_warned_about_once_per_listing(
    requests_mock: requests_mock.Mocker, caplog: pytest.LogCaptureFixture
) -> None:
    requests_mock.get(
        f"{URL}/events",
        [
            {"json": page([{"id": "x"}, event(1)], 2)},
            {"json": page([event(2), None, 7], None)},
        ],
    )
    with caplog.at_level("WARNING", logger=LOGGER):
        listing = client().events_since(fakes.NOW - 86400)

    assert (len(listing.records), listing.skipped) == (2, 3)
    [warning] = [r for r in caplog.records if r.name == LOGGER]
    assert "User Event API: skipped 3 unusable record(s)" in warning.getMessage()


def test_probe_reads_the_total(requests_mock: requests_mock.Mocker) -> None:
    requests_mock.get(f"{URL}/events", json=page([], None))
    assert client().total_count() == 99


@pytest.mark.parametrize("status", [400, 422])
def test_refused_order_parameters_are_dropped_with_a_warning_and_every_page_read(
    requests_mock: requests_mock.Mocker, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    # Oldest first without the order parameters: an early stop would lose the recent ones.
    pages = [page([event(40), event(30)], 2), page([event(20), event(2)], 3), page([], None)]
    served = iter(pages)

    def respond(request: Any, context: Any) -> dict[str, Any]:
        if "order_by" in request.qs:
            context.status_code = status
            return {"message": "unknown parameter order_by"}
        return next(served)

    requests_mock.get(f"{URL}/events", json=respond)
    events = client()
    with caplog.at_level("WARNING"):
        listing = events.events_since(fakes.NOW - 86400)

    assert len(listing.records) == 2
    assert "refused order_by/order_direction" in caplog.text
    sent = [request.qs for request in requests_mock.request_history]
    assert ["order_by" in qs for qs in sent] == [True, False, False, False]
    # Not sent again on the next refresh.
    served = iter([page([event(1)], None)])
    events.events_since(fakes.NOW - 86400)
    assert "order_by" not in requests_mock.request_history[-1].qs


def test_a_server_that_ignores_the_order_is_read_to_the_end(
    requests_mock: requests_mock.Mocker,
) -> None:
    # The parameters are accepted but the rows come oldest first: no early stop.
    requests_mock.get(
        f"{URL}/events",
        [
            {"json": page([event(40), event(30)], 2)},
            {"json": page([event(20), event(2)], None)},
        ],
    )
    listing = client().events_since(fakes.NOW - 86400)
    assert len(listing.records) == 2
    assert len(requests_mock.request_history) == 2


def test_an_unrelated_client_error_is_not_taken_for_a_refused_order(
    requests_mock: requests_mock.Mocker,
) -> None:
    requests_mock.get(f"{URL}/events", status_code=404, json={"message": "Not Found"})
    with pytest.raises(Exception, match="404"):
        client().events_since(fakes.NOW - 86400)
    assert len(requests_mock.request_history) == 1


def test_the_page_cap_counts_pages_read_not_page_numbers(
    requests_mock: requests_mock.Mocker,
) -> None:
    # A server may skip page numbers: the cap bounds requests, like every listing's.
    requests_mock.get(
        f"{URL}/events", [{"json": page([event(1)], 5)}, {"json": page([event(2)], None)}]
    )
    listing = client(max_pages=2).events_since(fakes.NOW - 86400)

    assert [request.qs["page"] for request in requests_mock.request_history] == [["1"], ["5"]]
    assert (listing.truncated, listing.pages, len(listing.records)) == (False, 2, 2)
