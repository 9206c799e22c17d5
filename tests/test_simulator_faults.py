"""Injected failures, each seen by a real HTTP client over loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from kb4_exporter.simulator import (
    Fault,
    Org,
    OrgSpec,
    PacingLimits,
    SimulatorServer,
    generate_org,
)
from kb4_exporter.simulator.faults import FaultBook

NOW = datetime(2025, 6, 15, 9, 30, tzinfo=UTC).timestamp()
AUTH = {"Authorization": "Bearer simulated-reporting-token"}
PHISHER_AUTH = {"Authorization": "Bearer simulated-phisher-token"}


@pytest.fixture(scope="module")
def org() -> Org:
    return generate_org(OrgSpec(users=120, seed=6), NOW)


@pytest.fixture
def server(org: Org) -> Iterator[SimulatorServer]:
    with SimulatorServer(org, limits=PacingLimits.unlimited()) as running:
        yield running


def get(
    server: SimulatorServer, path: str, timeout: float = 10, **params: Any
) -> requests.Response:
    return requests.get(server.base_url + path, headers=AUTH, params=params, timeout=timeout)


class TestAnsweringFaults:
    def test_a_5xx_burst_then_recovery(self, server: SimulatorServer) -> None:
        server.set_faults([Fault("status", "/v1/users", count=2, status=503)])
        statuses = [get(server, "/v1/users").status_code for _ in range(3)]
        assert statuses == [503, 503, 200]
        assert get(server, "/v1/groups").status_code == 200

    def test_the_error_body_is_json_and_needs_no_token(self, server: SimulatorServer) -> None:
        server.set_faults([Fault("status", status=500)])
        response = requests.get(server.base_url + "/v1/account", timeout=10)
        assert response.status_code == 500
        assert "message" in response.json()
        assert "Retry-After" not in response.headers

    def test_429_with_and_without_retry_after(self, server: SimulatorServer) -> None:
        server.set_faults(
            [
                Fault("retry_after", "/v1/users", count=1, retry_after="7"),
                Fault("status", "/v1/groups", count=1, status=429),
                Fault("status", "/v1/account", count=1, status=503, retry_after="2"),
            ]
        )
        with_header = get(server, "/v1/users")
        assert (with_header.status_code, with_header.headers["Retry-After"]) == (429, "7")
        bare = get(server, "/v1/groups")
        assert bare.status_code == 429
        assert "Retry-After" not in bare.headers
        unavailable = get(server, "/v1/account")
        assert (unavailable.status_code, unavailable.headers["Retry-After"]) == (503, "2")

    def test_retry_after_defaults_to_one_second(self, server: SimulatorServer) -> None:
        server.set_faults([Fault("retry_after", count=1)])
        assert get(server, "/v1/users").headers["Retry-After"] == "1"

    def test_connection_reset(self, server: SimulatorServer) -> None:
        server.set_faults([Fault("reset", "/v1/training", count=1)])
        with pytest.raises(requests.ConnectionError):
            get(server, "/v1/training/enrollments")
        assert get(server, "/v1/training/enrollments").status_code == 200
        assert server.status_counts() == {0: 1, 200: 1}

    def test_html_with_200(self, server: SimulatorServer) -> None:
        server.set_faults([Fault("html_200", count=1)])
        response = get(server, "/v1/users")
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/html")
        assert response.text.startswith("<!DOCTYPE html>")
        with pytest.raises(ValueError):
            response.json()

    def test_faults_apply_to_phisher_too(self, server: SimulatorServer) -> None:
        server.set_faults([Fault("status", "/graphql", count=1, status=502)])
        body = {"query": '{ phisherMessages(query: "") { nodes { id } } }'}
        first = requests.post(server.phisher_url, json=body, headers=PHISHER_AUTH, timeout=10)
        second = requests.post(server.phisher_url, json=body, headers=PHISHER_AUTH, timeout=10)
        assert (first.status_code, second.status_code) == (502, 200)


class TestTransformingFaults:
    def test_malformed_json_is_the_real_body_cut_short(self, server: SimulatorServer) -> None:
        real = get(server, "/v1/users").content
        server.set_faults([Fault("malformed_json", "/v1/users", count=1)])
        broken = get(server, "/v1/users")
        assert broken.status_code == 200
        assert real.startswith(broken.content)
        assert len(broken.content) < len(real)
        with pytest.raises(ValueError):
            broken.json()

    def test_wrong_shape(self, server: SimulatorServer) -> None:
        real_users = get(server, "/v1/users").json()
        real_account = get(server, "/v1/account").json()
        server.set_faults([Fault("wrong_shape", count=2)])
        assert get(server, "/v1/users").json() == {"items": real_users}
        assert get(server, "/v1/account").json() == [real_account]

    def test_a_page_that_repeats_forever(self, server: SimulatorServer, org: Org) -> None:
        server.set_faults([Fault("repeat_page", "/v1/users")])
        first = get(server, "/v1/users", per_page=50, cursor="true")
        assert first.json()
        token = first.headers["X-Next-Cursor"]
        for _ in range(3):
            again = get(server, "/v1/users", per_page=50, cursor=token)
            assert again.json() == first.json()
            assert again.headers["X-Next-Cursor"] == token
        # Only the faulted path repeats.
        groups = get(server, "/v1/groups", per_page=1)
        following = get(server, "/v1/groups", per_page=1, cursor=groups.headers["X-Next-Cursor"])
        assert following.json() != groups.json()

    def test_faulted_requests_still_need_the_token(self, server: SimulatorServer) -> None:
        server.set_faults([Fault("wrong_shape")])
        response = requests.get(server.base_url + "/v1/users", timeout=10)
        assert response.status_code == 401
        assert response.json() == [{"message": "Unauthorized"}]

    def test_a_timeout_holds_longer_than_the_client_waits(self, server: SimulatorServer) -> None:
        server.set_faults([Fault("timeout", "/v1/users", count=1, hold_seconds=60)])
        with pytest.raises(requests.ReadTimeout):
            get(server, "/v1/users", timeout=0.3)
        assert get(server, "/v1/users").status_code == 200

    def test_a_short_hold_then_the_normal_answer(self, org: Org) -> None:
        fault = Fault("timeout", count=1, hold_seconds=0)
        with SimulatorServer(org, limits=PacingLimits.unlimited(), faults=[fault]) as running:
            assert get(running, "/v1/users").status_code == 200


class TestStopping:
    @pytest.mark.timeout(30)
    def test_stop_releases_a_held_request_at_once(self, org: Org) -> None:
        arrived = threading.Event()
        fault = Fault("timeout", hold_seconds=600)
        running = SimulatorServer(
            org,
            limits=PacingLimits.unlimited(),
            faults=[fault],
            latency=0.001,
            sleep=lambda seconds: arrived.set(),
        )
        running.start()
        outcome: list[object] = []

        def call() -> None:
            try:
                outcome.append(get(running, "/v1/users", timeout=120))
            except requests.RequestException as error:
                outcome.append(error)

        client = threading.Thread(target=call)
        client.start()
        assert arrived.wait(10)
        started = time.monotonic()
        running.stop()
        elapsed = time.monotonic() - started
        client.join(10)
        assert elapsed < 5
        assert not client.is_alive()
        assert isinstance(outcome[0], requests.ConnectionError)

    @pytest.mark.timeout(30)
    def test_stop_closes_idle_keep_alive_connections(self, org: Org) -> None:
        running = SimulatorServer(org, limits=PacingLimits.unlimited())
        running.start()
        session = requests.Session()
        assert session.get(running.base_url + "/v1/users", headers=AUTH).status_code == 200
        started = time.monotonic()
        running.stop()
        assert time.monotonic() - started < 5
        with pytest.raises(requests.ConnectionError):
            session.get(running.base_url + "/v1/users", headers=AUTH, timeout=5)
        session.close()

    def test_stop_is_idempotent_and_start_twice_is_refused(self, org: Org) -> None:
        running = SimulatorServer(org)
        running.stop()  # never started: nothing to do
        running.start()
        with pytest.raises(RuntimeError):
            running.start()
        running.stop()
        running.stop()


class TestFaultBook:
    def test_first_matching_fault_with_uses_left_wins(self) -> None:
        book = FaultBook([Fault("reset", "/v1/users", count=1), Fault("html_200", "/v1", count=2)])
        taken = [book.take("/v1/users"), book.take("/v1/users"), book.take("/v1/groups")]
        assert [f.kind if f else None for f in taken] == ["reset", "html_200", "html_200"]
        assert book.take("/v1/users") is None
        assert book.take("/graphql") is None
        assert book.uses_left() == [0, 0]

    def test_replacing_faults_resets_their_counts(self) -> None:
        book = FaultBook([Fault("reset", count=1)])
        book.take("/v1/users")
        book.replace([Fault("reset", count=1)])
        assert book.uses_left() == [1]

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("status:503:/v1/users:3", Fault("status", "/v1/users", count=3, status=503)),
            ("status", Fault("status")),
            ("status:429", Fault("status", status=429)),
            ("retry_after:30:/v1", Fault("retry_after", "/v1", retry_after="30")),
            ("timeout:2.5::4", Fault("timeout", "", count=4, hold_seconds=2.5)),
            ("reset:/graphql", Fault("reset", "/graphql")),
            ("repeat_page:/v1/users:*", Fault("repeat_page", "/v1/users")),
            ("html_200::", Fault("html_200")),
        ],
    )
    def test_parse(self, text: str, expected: Fault) -> None:
        assert Fault.parse(text) == expected

    @pytest.mark.parametrize(
        "text",
        ["explode", "status:abc", "status:99", "reset:/v1:x", "reset:/v1:1:2", "timeout:9999"],
    )
    def test_parse_rejects_nonsense(self, text: str) -> None:
        with pytest.raises(ValueError, match="bad fault"):
            Fault.parse(text)

    def test_invalid_faults_are_refused(self) -> None:
        with pytest.raises(ValueError):
            Fault("status", count=-1)
        with pytest.raises(ValueError):
            Fault("timeout", hold_seconds=-1)
