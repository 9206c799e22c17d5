"""The simulated User Event API: its generated events, and GET /events over loopback HTTP
(envelope, paging, ordering, filters, its own token, quota, pacing and faults)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from kb4_exporter.simulator import (
    Fault,
    Org,
    OrgSpec,
    PacingLimits,
    SimulatorServer,
    cli,
    generate_org,
)
from kb4_exporter.simulator.records import ARCHIVED
from kb4_exporter.simulator.user_event_data import EVENT_TYPES

NOW = datetime(2025, 6, 15, 9, 30, tzinfo=UTC).timestamp()
DAY = 86_400.0
HOUR = 3_600.0
EVENTS_AUTH = {"Authorization": "Bearer simulated-user-events-token"}
REPORTING_AUTH = {"Authorization": "Bearer simulated-reporting-token"}
EVENT_KEYS = {
    "id",
    "account_id",
    "user",
    "external_id",
    "source",
    "description",
    "occurred_date",
    "risk",
    "metadata",
    "event_type",
}
META_KEYS = {
    "count",
    "limit_value",
    "total_pages",
    "current_page",
    "next_page",
    "prev_page",
    "is_first_page",
    "is_last_page",
    "is_out_of_range",
}


@pytest.fixture(scope="module")
def org() -> Org:
    return generate_org(OrgSpec(users=900, seed=5), NOW)


@pytest.fixture
def server(org: Org) -> Iterator[SimulatorServer]:
    with SimulatorServer(org, limits=PacingLimits.unlimited()) as running:
        yield running


def events(
    server: SimulatorServer, headers: dict[str, str] = EVENTS_AUTH, /, **params: Any
) -> requests.Response:
    return requests.get(
        server.user_events_url + "/events", headers=headers, params=params, timeout=10
    )


def page(server: SimulatorServer, **params: Any) -> dict[str, Any]:
    response = events(server, **params)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


def follow_next_page(server: SimulatorServer, **params: Any) -> list[dict[str, Any]]:
    """Every event of a listing, following meta.next_page as clients do."""
    rows: list[dict[str, Any]] = []
    number: int | None = 1
    for _ in range(1000):
        if number is None:
            return rows
        body = page(server, page=number, **params)
        rows += body["data"]
        number = body["meta"]["next_page"]
    raise AssertionError("next_page never ran out")


def stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class TestGeneratedEvents:
    def test_same_spec_and_now_give_the_same_events(self, org: Org) -> None:
        assert generate_org(OrgSpec(users=900, seed=5), NOW).user_events == org.user_events
        assert generate_org(OrgSpec(users=900, seed=6), NOW).user_events != org.user_events

    def test_one_event_per_twenty_users_at_least_thirty(self, org: Org) -> None:
        assert len(org.user_events) == 900 // 20
        assert len(generate_org(OrgSpec(users=40, seed=5), NOW).user_events) == 30
        assert generate_org(OrgSpec(users=40, user_events=0), NOW).user_events == ()

    def test_a_negative_count_is_refused(self) -> None:
        with pytest.raises(ValueError):
            OrgSpec(user_events=-1)

    def test_events_target_real_users_by_email(self, org: Org) -> None:
        for event in org.user_events:
            user = org.users_by_id[event.user_id]
            assert event.user_email == user.email
            assert event.user_archived == (user.status == ARCHIVED)

    def test_every_type_and_level_sign_in_the_last_day(self) -> None:
        small = generate_org(OrgSpec(users=5, seed=9), NOW)
        last_day = [e for e in small.user_events if e.occurred_date >= NOW - DAY]
        assert {e.event_type for e in last_day} == {t.name for t in EVENT_TYPES}
        levels = {e.risk_level for e in last_day}
        assert {-10, 0, 10} <= levels
        for event in small.user_events:
            kind = next(t for t in EVENT_TYPES if t.name == event.event_type)
            assert kind.lowest <= event.risk_level <= kind.highest
            assert -10 <= event.risk_level <= 10

    def test_some_events_are_older_than_the_counted_day(self, org: Org) -> None:
        older = [e for e in org.user_events if e.occurred_date < NOW - DAY]
        assert {e.event_type for e in older} == {t.name for t in EVENT_TYPES}
        assert len(older) < len(org.user_events)

    def test_events_are_clear_of_the_day_boundary_and_in_the_past(self, org: Org) -> None:
        for event in org.user_events:
            assert abs(event.occurred_date - (NOW - DAY)) >= 2 * HOUR
            assert event.occurred_date < NOW
            assert event.risk_expire_date is None or event.risk_expire_date > event.occurred_date

    def test_listed_newest_first(self, org: Org) -> None:
        stamps = [e.occurred_date for e in org.user_events]
        assert stamps == sorted(stamps, reverse=True)


class TestListing:
    def test_the_envelope_and_an_event_in_the_api_shape(
        self, server: SimulatorServer, org: Org
    ) -> None:
        body = page(server)
        assert set(body) == {"data", "meta"}
        assert set(body["meta"]) == META_KEYS
        first = body["data"][0]
        assert set(first) == EVENT_KEYS
        newest = org.user_events[0]
        assert first["id"] == newest.id
        assert first["user"] == {
            "email": newest.user_email,
            "id": newest.user_id,
            "archived": newest.user_archived,
        }
        assert set(first["risk"]) == {"level", "decay_mode", "expire_date"}
        assert first["risk"]["level"] == newest.risk_level
        assert set(first["event_type"]) == {"id", "name", "description"}
        assert first["event_type"]["name"] == newest.event_type
        assert stamp(first["occurred_date"]) == newest.occurred_date
        assert first["occurred_date"].endswith("Z")

    def test_default_page_of_fifty_newest_first(self, server: SimulatorServer, org: Org) -> None:
        body = page(server)
        total = len(org.user_events)
        assert [e["id"] for e in body["data"]] == [e.id for e in org.user_events[:50]]
        assert body["meta"] == {
            "count": total,
            "limit_value": 50,
            "total_pages": math.ceil(total / 50),
            "current_page": 1,
            "next_page": 2 if total > 50 else None,
            "prev_page": None,
            "is_first_page": True,
            "is_last_page": total <= 50,
            "is_out_of_range": False,
        }

    def test_next_page_walks_every_event_once(self, server: SimulatorServer, org: Org) -> None:
        rows = follow_next_page(server, per_page=7)
        assert [e["id"] for e in rows] == [e.id for e in org.user_events]

    def test_the_last_page_and_past_the_end(self, server: SimulatorServer, org: Org) -> None:
        pages = math.ceil(len(org.user_events) / 10)
        last = page(server, per_page=10, page=pages)
        assert last["meta"]["next_page"] is None
        assert last["meta"]["prev_page"] == pages - 1
        assert last["meta"]["is_last_page"] is True
        assert len(last["data"]) == len(org.user_events) - 10 * (pages - 1)
        beyond = page(server, per_page=10, page=pages + 1)
        assert beyond["data"] == []
        assert beyond["meta"]["is_out_of_range"] is True
        assert beyond["meta"]["next_page"] is None
        assert beyond["meta"]["prev_page"] is None

    def test_per_page_is_capped_at_100_and_bad_values_fall_back(
        self, server: SimulatorServer
    ) -> None:
        assert page(server, per_page=500)["meta"]["limit_value"] == 100
        assert page(server, per_page="lots")["meta"]["limit_value"] == 50
        assert page(server, page="0")["meta"]["current_page"] == 1

    def test_ascending_order_is_the_reverse(self, server: SimulatorServer, org: Org) -> None:
        rows = follow_next_page(
            server, per_page=100, order_by="occurred_date", order_direction="asc"
        )
        assert [e["id"] for e in rows] == [e.id for e in reversed(org.user_events)]
        descending = page(server, order_by="occurred_date", order_direction="DESC")
        assert descending["data"][0]["id"] == org.user_events[0].id

    @pytest.mark.parametrize(
        "params", [{"order_by": "risk_level"}, {"order_direction": "sideways"}]
    )
    def test_unknown_ordering_is_a_400(
        self, server: SimulatorServer, params: dict[str, str]
    ) -> None:
        response = events(server, **params)
        assert response.status_code == 400
        assert "order" in response.json()["message"]

    def test_an_empty_listing_is_out_of_range_on_page_one(self, server: SimulatorServer) -> None:
        body = page(server, event_type="no_such_type")
        assert body["data"] == []
        assert body["meta"]["count"] == 0
        assert body["meta"]["total_pages"] == 0
        assert body["meta"]["is_out_of_range"] is True
        assert body["meta"]["next_page"] is None


class TestFilters:
    def test_event_type(self, server: SimulatorServer, org: Org) -> None:
        for kind in EVENT_TYPES:
            rows = follow_next_page(server, per_page=100, event_type=kind.name)
            expected = [e.id for e in org.user_events if e.event_type == kind.name]
            assert [e["id"] for e in rows] == expected
            assert expected, kind.name

    def test_target_user_in_any_case(self, server: SimulatorServer, org: Org) -> None:
        email = org.user_events[0].user_email
        rows = follow_next_page(server, target_user=email.upper())
        assert [e["id"] for e in rows] == [e.id for e in org.user_events if e.user_email == email]

    def test_risk_level_and_source(self, server: SimulatorServer, org: Org) -> None:
        assert [e["id"] for e in follow_next_page(server, risk_level=-10)] == [
            e.id for e in org.user_events if e.risk_level == -10
        ]
        source = next(e.source for e in org.user_events if e.source is not None)
        assert [e["id"] for e in follow_next_page(server, source=source)] == [
            e.id for e in org.user_events if e.source == source
        ]

    def test_external_id(self, server: SimulatorServer, org: Org) -> None:
        wanted = next(e for e in org.user_events if e.external_id is not None)
        rows = page(server, external_id=wanted.external_id)["data"]
        assert [e["id"] for e in rows] == [wanted.id]

    def test_occurred_date_matches_the_utc_day(self, server: SimulatorServer, org: Org) -> None:
        day = datetime.fromtimestamp(org.user_events[-1].occurred_date, UTC).date()
        rows = follow_next_page(server, occurred_date=day.isoformat())
        expected = [
            e.id
            for e in org.user_events
            if datetime.fromtimestamp(e.occurred_date, UTC).date() == day
        ]
        assert [e["id"] for e in rows] == expected

    @pytest.mark.parametrize("params", [{"risk_level": "high"}, {"occurred_date": "yesterday"}])
    def test_a_value_of_the_wrong_type_is_a_400(
        self, server: SimulatorServer, params: dict[str, str]
    ) -> None:
        assert events(server, **params).status_code == 400


class TestTokenAndMethods:
    def test_without_the_user_event_token_401(self, server: SimulatorServer) -> None:
        for headers in ({}, REPORTING_AUTH, {"Authorization": "Bearer wrong"}):
            response = events(server, headers)
            assert response.status_code == 401
            assert response.json() == {"message": "Unauthorized"}

    def test_the_user_event_token_opens_nothing_else(self, server: SimulatorServer) -> None:
        response = requests.get(server.base_url + "/v1/account", headers=EVENTS_AUTH, timeout=10)
        assert response.status_code == 401

    def test_the_api_is_read_only_here(self, server: SimulatorServer) -> None:
        response = requests.post(
            server.user_events_url + "/events", headers=EVENTS_AUTH, json={}, timeout=10
        )
        assert response.status_code == 405

    def test_requests_are_counted_under_the_listing_path(self, server: SimulatorServer) -> None:
        page(server)
        events(server, {})
        assert server.request_counts() == {"/user-events/events": 2}
        assert server.status_counts() == {200: 1, 401: 1}

    def test_a_custom_token(self, org: Org) -> None:
        limits = PacingLimits.unlimited()
        with SimulatorServer(org, user_events_token="mine", limits=limits) as running:
            assert running.user_events_token == "mine"
            assert events(running).status_code == 401
            assert events(running, {"Authorization": "Bearer mine"}).status_code == 200


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class TestQuotaAndPacing:
    def test_the_default_quota_is_ten_calls_per_seat_a_day(self) -> None:
        tiny = generate_org(OrgSpec(users=3, seed=2), NOW)
        clock = FakeClock()
        limits = PacingLimits(per_second=None, per_minute=None)
        with SimulatorServer(tiny, limits=limits, clock=clock) as running:
            assert running.user_events_daily_budget == 10 * tiny.seats
            for _ in range(10 * tiny.seats):
                assert events(running).status_code == 200
                clock.now += 60
            spent = events(running)
            assert spent.status_code == 429
            assert spent.json() == {"message": "Limit Exceeded"}
            assert "Retry-After" not in spent.headers
            # The Reporting API's budget is separate.
            reporting = requests.get(
                running.base_url + "/v1/account", headers=REPORTING_AUTH, timeout=10
            )
            assert reporting.status_code == 200
            clock.now += DAY
            assert events(running).status_code == 200

    def test_the_quota_follows_the_org_and_a_set_budget(self, org: Org) -> None:
        running = SimulatorServer(org)
        assert running.user_events_daily_budget == 10 * org.seats
        running.set_org(generate_org(OrgSpec(users=30, seed=1), NOW))
        assert running.user_events_daily_budget == 300
        assert (
            SimulatorServer(org, limits=PacingLimits(daily_budget=7)).user_events_daily_budget == 7
        )
        assert (
            SimulatorServer(org, limits=PacingLimits.unlimited()).user_events_daily_budget is None
        )

    def test_the_per_second_limit_with_retry_after(self, org: Org) -> None:
        limits = PacingLimits(per_second=2, per_minute=None, daily_budget=0)
        with SimulatorServer(org, limits=limits, clock=FakeClock()) as running:
            answers = [events(running) for _ in range(3)]
            assert [a.status_code for a in answers] == [200, 200, 429]
            assert answers[2].headers["Retry-After"] == "1"
            assert answers[2].json() == {"message": "Too Many Requests"}
            # Its own counters: the Reporting token still has both of its slots.
            for _ in range(2):
                reporting = requests.get(
                    running.base_url + "/v1/account", headers=REPORTING_AUTH, timeout=10
                )
                assert reporting.status_code == 200


class TestFaults:
    def test_a_5xx_burst_on_the_user_event_api_only(self, org: Org) -> None:
        faults = [Fault("status", "/user-events", count=2, status=502)]
        with SimulatorServer(org, limits=PacingLimits.unlimited(), faults=faults) as running:
            assert [events(running).status_code for _ in range(3)] == [502, 502, 200]
            reporting = requests.get(
                running.base_url + "/v1/account", headers=REPORTING_AUTH, timeout=10
            )
            assert reporting.status_code == 200

    def test_wrong_shape_and_malformed_json(self, org: Org) -> None:
        faults = [
            Fault("wrong_shape", "/user-events", count=1),
            Fault("malformed_json", "/user-events", count=1),
        ]
        with SimulatorServer(org, limits=PacingLimits.unlimited(), faults=faults) as running:
            reshaped = events(running).json()
            assert isinstance(reshaped, list)
            assert set(reshaped[0]) == {"data", "meta"}
            with pytest.raises(ValueError):
                events(running).json()
            assert set(events(running).json()) == {"data", "meta"}


class TestSimulateCommand:
    def test_prints_the_user_event_api_url_token_and_quota(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        seen: list[requests.Response] = []

        def serve(running: SimulatorServer) -> None:
            seen.append(events(running, {"Authorization": "Bearer events-key"}))
            seen.append(events(running))

        monkeypatch.setattr(cli, "wait_for_signal", lambda: None)
        started: list[SimulatorServer] = []

        class Recording(SimulatorServer):
            def start(self) -> None:
                super().start()
                started.append(self)
                serve(self)

        monkeypatch.setattr(cli, "SimulatorServer", Recording)
        result = CliRunner().invoke(
            cli.simulate,
            ["--listen", ":0", "--users", "12", "--user-events-token", "events-key"],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        assert f"{started[0].user_events_url}  (token: events-key)" in result.output
        assert "120/day (User Event API)" in result.output
        assert [r.status_code for r in seen] == [200, 401]
