"""The simulated Reporting API over real loopback HTTP: shapes, paging, filters, errors."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from kb4_exporter.simulator import Org, OrgSpec, PacingLimits, SimulatorServer, generate_org

NOW = datetime(2025, 6, 15, 9, 30, tzinfo=UTC).timestamp()
AUTH = {"Authorization": "Bearer simulated-reporting-token"}


@pytest.fixture(scope="module")
def org() -> Org:
    return generate_org(OrgSpec(users=700, seed=2), NOW)


@pytest.fixture
def server(org: Org) -> Iterator[SimulatorServer]:
    with SimulatorServer(org, limits=PacingLimits.unlimited()) as running:
        yield running


def get(server: SimulatorServer, path: str, **params: Any) -> requests.Response:
    return requests.get(server.base_url + path, headers=AUTH, params=params, timeout=10)


def get_json(server: SimulatorServer, path: str, **params: Any) -> Any:
    response = get(server, path, **params)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()


@pytest.fixture
def legacy_server(org: Org) -> Iterator[SimulatorServer]:
    with SimulatorServer(org, limits=PacingLimits.unlimited(), pagination="page") as running:
        yield running


def all_pages(server: SimulatorServer, path: str, **params: Any) -> list[Any]:
    """Every row of a cursor listing, following X-Next-Cursor until it is missing."""
    rows: list[Any] = []
    query: dict[str, Any] = {**params, "cursor": "true"}
    for _ in range(1000):
        response = get(server, path, **query)
        assert response.status_code == 200, response.text
        rows.extend(response.json())
        token = response.headers.get("X-Next-Cursor")
        if token is None:
            return rows
        query = {**params, "cursor": token}
    raise AssertionError("the listing never ended")


def all_legacy_pages(server: SimulatorServer, path: str, **params: Any) -> list[Any]:
    rows: list[Any] = []
    for page in range(1, 1000):
        batch = get_json(server, path, page=page, **params)
        if not batch:
            return rows
        rows.extend(batch)
    raise AssertionError("the listing never ended")


class TestCursorPaging:
    def test_cursor_pages_default_100_and_the_last_page_has_no_next_cursor(
        self, server: SimulatorServer, org: Org
    ) -> None:
        first = get(server, "/v1/users", cursor="true")
        assert [u["id"] for u in first.json()] == [u.id for u in org.users[:100]]
        assert first.headers["X-Next-Cursor"]
        ids = [u["id"] for u in all_pages(server, "/v1/users", per_page=250)]
        assert ids == [u.id for u in org.users]

    def test_page_is_ignored(self, server: SimulatorServer) -> None:
        first = get(server, "/v1/users", per_page=250, cursor="true")
        third = get(server, "/v1/users", per_page=250, page=3)
        assert third.json() == first.json()
        assert third.headers["X-Next-Cursor"] == first.headers["X-Next-Cursor"]

    def test_an_exact_last_page_has_no_next_cursor(self, server: SimulatorServer, org: Org) -> None:
        response = get(server, "/v1/users", per_page=len(org.users) // 2, cursor="true")
        following = get(
            server,
            "/v1/users",
            cursor=response.headers["X-Next-Cursor"],
            per_page=len(org.users) // 2,
        )
        assert len(response.json()) + len(following.json()) == len(org.users)
        assert "X-Next-Cursor" not in following.headers

    def test_per_page_is_capped_at_500(self, server: SimulatorServer) -> None:
        first = get(server, "/v1/users", per_page=600)
        assert len(first.json()) == 500
        second = get(server, "/v1/users", per_page=600, cursor=first.headers["X-Next-Cursor"])
        assert len(second.json()) == 200  # rows 501-700, as with per_page=500

    @pytest.mark.parametrize("token", ["bogus", "c2ltMTp4", "", "%00"])
    def test_a_cursor_this_server_did_not_make_is_a_400(
        self, server: SimulatorServer, token: str
    ) -> None:
        response = get(server, "/v1/users", cursor=token)
        if token == "":
            assert response.status_code == 200  # an empty cursor is no cursor
        else:
            assert response.status_code == 400

    def test_recipients_page_through_a_whole_test(self, server: SimulatorServer, org: Org) -> None:
        test = next(t for t in org.security_tests if t.counts["scheduled"] > 500)
        path = f"/v1/phishing/security_tests/{test.pst_id}/recipients"
        rows = all_pages(server, path, per_page=500)
        assert len(rows) == test.counts["scheduled"]
        assert sum(1 for r in rows if r["clicked_at"]) == test.counts["clicked"]
        assert sum(1 for r in rows if r["reported_at"]) == test.counts["reported"]


class TestLegacyPaging:
    def test_pages_from_one_default_100_then_an_empty_page(
        self, legacy_server: SimulatorServer, org: Org
    ) -> None:
        first = get(legacy_server, "/v1/users", cursor="true")
        assert [u["id"] for u in first.json()] == [u.id for u in org.users[:100]]
        assert "X-Next-Cursor" not in first.headers
        ids = [u["id"] for u in all_legacy_pages(legacy_server, "/v1/users", per_page=250)]
        assert ids == [u.id for u in org.users]
        last = get_json(legacy_server, "/v1/users", per_page=250, page=3)
        assert len(last) == len(org.users) - 500
        assert get_json(legacy_server, "/v1/users", per_page=250, page=4) == []

    def test_per_page_is_capped_at_500(self, legacy_server: SimulatorServer) -> None:
        assert len(get_json(legacy_server, "/v1/users", per_page=600)) == 500
        second = get_json(legacy_server, "/v1/users", per_page=600, page=2)
        assert len(second) == 200  # rows 501-700, as with per_page=500

    @pytest.mark.parametrize("value", ["0", "-3", "ten", "", "²"])
    def test_bad_paging_values_fall_back_to_defaults(
        self, legacy_server: SimulatorServer, value: str
    ) -> None:
        assert len(get_json(legacy_server, "/v1/users", per_page=value)) == 100
        assert get_json(legacy_server, "/v1/users", page=value) == get_json(
            legacy_server, "/v1/users"
        )


class TestShapes:
    def test_account_is_one_object(self, server: SimulatorServer, org: Org) -> None:
        account = get_json(server, "/v1/account")
        assert account["number_of_seats"] == org.account.number_of_seats
        assert {"name", "subscription_level", "current_risk_score", "domains"} <= set(account)

    def test_security_tests_use_the_real_quirks(self, server: SimulatorServer) -> None:
        test = get_json(server, "/v1/phishing/security_tests")[1]
        assert "landing_page" in test
        assert "landing-page" not in test
        assert "qr_code_scanned_count" in test
        assert test["started_at"].endswith(".000Z")

    def test_recipients_have_qr_code_scanned_without_at(
        self, server: SimulatorServer, org: Org
    ) -> None:
        pst = org.security_tests[1].pst_id
        row = get_json(server, f"/v1/phishing/security_tests/{pst}/recipients", per_page=1)[0]
        assert "qr_code_scanned" in row
        assert "qr_code_scanned_at" not in row
        assert set(row["user"]) >= {"id", "email"}

    def test_training_content_is_nested_and_store_purchase_ids_spelt_both_ways(
        self, server: SimulatorServer
    ) -> None:
        campaign = get_json(server, "/v1/training/campaigns", exclude_percentages="true")[0]
        assert isinstance(campaign["content"], list)
        assert isinstance(campaign["content"][0], list)
        assert "store_purchase_id" in campaign["content"][0][0]
        purchases = get_json(server, "/v1/training/store_purchases")
        assert all("store_purchased_id" in p for p in purchases)
        policies = get_json(server, "/v1/training/policies")
        assert all("policy_id" in p for p in policies)

    def test_risk_history_is_six_months_unless_full(self, server: SimulatorServer) -> None:
        recent = get_json(server, "/v1/account/risk_score_history")
        full = get_json(server, "/v1/account/risk_score_history", full="true", per_page=500)
        assert len(recent) < len(full)
        assert set(recent[0]) == {"risk_score", "date"}
        assert len(recent[0]["date"]) == len("2025-01-01")

    def test_single_objects_by_id(self, server: SimulatorServer, org: Org) -> None:
        user = org.users[3]
        assert get_json(server, f"/v1/users/{user.id}")["email"] == user.email
        group = org.groups[0]
        assert get_json(server, f"/v1/groups/{group.id}")["name"] == group.name
        test = org.security_tests[2]
        assert get_json(server, f"/v1/phishing/security_tests/{test.pst_id}")["name"] == test.name
        campaign = org.training_campaigns[0]
        single = get_json(server, f"/v1/training/campaigns/{campaign.campaign_id}")
        assert "completion_percentage" in single


class TestFilters:
    def test_users_by_status(self, server: SimulatorServer, org: Org) -> None:
        active = all_pages(server, "/v1/users", status="active", per_page=500)
        archived = all_pages(server, "/v1/users", status="archived", per_page=500)
        assert {u["status"] for u in active} == {"active"}
        assert {u["status"] for u in archived} == {"archived"}
        assert len(active) == len(org.active_users)
        assert len(archived) == len(org.archived_users) > 0
        assert get_json(server, "/v1/users", status="suspended") == []

    def test_users_and_members_by_group(self, server: SimulatorServer, org: Org) -> None:
        group = max(org.groups, key=lambda g: len(org.group_members[g.id]))
        by_filter = all_pages(server, "/v1/users", status="active", group_id=group.id)
        members = all_pages(server, f"/v1/groups/{group.id}/members")
        assert {u["id"] for u in by_filter} == {u["id"] for u in members}
        assert all(group.id in u["groups"] for u in members)
        listed = next(g for g in get_json(server, "/v1/groups") if g["id"] == group.id)
        assert listed["member_count"] == len(members)

    def test_groups_by_status(self, server: SimulatorServer) -> None:
        archived = get_json(server, "/v1/groups", status="archived")
        assert archived
        assert {g["status"] for g in archived} == {"archived"}

    def test_training_campaigns_capped_at_10_without_exclude_percentages(
        self, server: SimulatorServer, org: Org
    ) -> None:
        capped = get(server, "/v1/training/campaigns", per_page=500)
        assert len(capped.json()) == 10
        assert all("completion_percentage" in c for c in capped.json())
        token = capped.headers["X-Next-Cursor"]
        rest = get_json(server, "/v1/training/campaigns", per_page=500, cursor=token)
        assert len(rest) == len(org.training_campaigns) - 10
        full = get_json(server, "/v1/training/campaigns", per_page=500, exclude_percentages="true")
        assert len(full) == len(org.training_campaigns)
        assert not any("completion_percentage" in c for c in full)
        not_true = get_json(server, "/v1/training/campaigns", exclude_percentages="yes")
        assert len(not_true) == 10

    def test_enrollment_include_flags(self, server: SimulatorServer) -> None:
        bare = get_json(server, "/v1/training/enrollments", per_page=5)
        assert not any({"campaign_id", "store_purchase_id"} & set(e) for e in bare)
        assert not any("employee_number" in e["user"] for e in bare)
        rich = get_json(
            server,
            "/v1/training/enrollments",
            per_page=5,
            include_campaign_id="true",
            include_store_purchase_id="true",
            include_employee_number="true",
        )
        assert all("campaign_id" in e and "employee_number" in e["user"] for e in rich)
        assert any("store_purchase_id" in e for e in rich)

    def test_enrollments_without_archived_users(self, server: SimulatorServer, org: Org) -> None:
        archived = {u.id for u in org.archived_users}
        everyone = all_pages(server, "/v1/training/enrollments", per_page=500)
        kept = all_pages(
            server, "/v1/training/enrollments", per_page=500, exclude_archived_users="true"
        )
        assert len(everyone) == len(org.enrollments)
        assert any(e["user"]["id"] in archived for e in everyone)
        assert [e["enrollment_id"] for e in kept] == [
            e["enrollment_id"] for e in everyone if e["user"]["id"] not in archived
        ]

    def test_enrollments_of_one_campaign(self, server: SimulatorServer, org: Org) -> None:
        campaign = org.training_campaigns[2]
        rows = all_pages(
            server,
            "/v1/training/enrollments",
            campaign_id=campaign.campaign_id,
            include_campaign_id="true",
        )
        assert {e["campaign_id"] for e in rows} == {campaign.campaign_id}
        assert len(rows) == len(org.enrollments_by_campaign[campaign.campaign_id])

    def test_unsimulated_enrollment_filters_are_refused(self, server: SimulatorServer) -> None:
        response = get(server, "/v1/training/enrollments", user_id=1)
        assert response.status_code == 400
        assert "user_id" in response.json()["message"]

    def test_tests_of_one_campaign_and_callback_campaigns(
        self, server: SimulatorServer, org: Org
    ) -> None:
        campaign = org.phishing_campaigns[0]
        tests = get_json(server, f"/v1/phishing/campaigns/{campaign.campaign_id}/security_tests")
        assert {t["pst_id"] for t in tests} == set(campaign.pst_ids)
        assert get_json(server, "/v1/phishing/security_tests", campaign_type="callback") == []
        listed = get_json(server, "/v1/phishing/campaigns")[0]
        assert listed["psts_count"] == len(listed["psts"])


class TestErrors:
    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "simulated-reporting-token"},
            {"Authorization": "Bearer simulated-phisher-token"},
        ],
    )
    def test_401_without_the_reporting_token(
        self, server: SimulatorServer, headers: dict[str, str]
    ) -> None:
        response = requests.get(server.base_url + "/v1/users", headers=headers, timeout=10)
        assert response.status_code == 401
        assert isinstance(response.json()["message"], str)
        assert "simulated-reporting-token" not in response.text

    def test_404_on_unknown_paths_and_ids(self, server: SimulatorServer) -> None:
        for path in ("/v2/users", "/v1/nothing", "/v1/users/1", "/v1/groups/1/members"):
            response = get(server, path)
            assert response.status_code == 404, path
            assert response.json() == {"message": "Not Found"}

    def test_406_when_json_is_not_acceptable(self, server: SimulatorServer) -> None:
        headers = {**AUTH, "Accept": "text/html"}
        response = requests.get(server.base_url + "/v1/account", headers=headers, timeout=10)
        assert response.status_code == 406
        for accept in ("application/json", "*/*", "text/html;q=0.9, application/*;q=0.1"):
            headers = {**AUTH, "Accept": accept}
            ok = requests.get(server.base_url + "/v1/account", headers=headers, timeout=10)
            assert ok.status_code == 200, accept

    def test_405_on_other_methods(self, server: SimulatorServer) -> None:
        response = requests.post(server.base_url + "/v1/users", headers=AUTH, timeout=10)
        assert response.status_code == 405


class TestControl:
    def test_requests_are_counted_per_endpoint_template(
        self, server: SimulatorServer, org: Org
    ) -> None:
        for test in org.security_tests[:3]:
            get(server, f"/v1/phishing/security_tests/{test.pst_id}/recipients")
        get(server, "/v1/users")
        requests.get(server.base_url + "/v1/users", timeout=10)  # 401s count too
        get(server, "/nowhere")
        assert server.request_counts() == {
            "/v1/phishing/security_tests/{id}/recipients": 3,
            "/v1/users": 2,
            "<unknown>": 1,
        }
        assert server.status_counts() == {200: 4, 401: 1, 404: 1}
        server.reset_counts()
        assert server.request_counts() == {}

    def test_concurrent_clients_are_all_answered_and_counted(
        self, server: SimulatorServer, org: Org
    ) -> None:
        tests = [t.pst_id for t in org.security_tests]
        statuses: list[int] = []

        def client(worker: int) -> None:
            with requests.Session() as session:
                session.headers.update(AUTH)
                for i in range(10):
                    pst = tests[(worker + i) % len(tests)]
                    path = f"/v1/phishing/security_tests/{pst}/recipients"
                    statuses.append(session.get(server.base_url + path, timeout=30).status_code)

        workers = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert statuses == [200] * 80
        assert server.request_counts() == {"/v1/phishing/security_tests/{id}/recipients": 80}

    def test_set_org_swaps_the_data(self, server: SimulatorServer) -> None:
        before = get_json(server, "/v1/account")
        server.set_org(generate_org(OrgSpec(users=40, seed=8), NOW))
        after = get_json(server, "/v1/account")
        assert (before["name"], after["name"]) == ("Simulated Org 2", "Simulated Org 8")
        assert len(all_pages(server, "/v1/users", per_page=500)) == 40

    def test_responses_are_byte_identical_for_the_same_spec_and_now(self, org: Org) -> None:
        paths = [
            "/v1/account",
            "/v1/users?per_page=500&page=2",
            "/v1/phishing/security_tests",
            f"/v1/phishing/security_tests/{org.security_tests[3].pst_id}/recipients?per_page=500",
            "/v1/training/campaigns",
            "/v1/training/enrollments?per_page=500&page=3&include_campaign_id=true",
        ]
        bodies = []
        for _ in range(2):
            fresh = generate_org(OrgSpec(users=700, seed=2), NOW)
            with SimulatorServer(fresh, limits=PacingLimits.unlimited()) as running:
                bodies.append(
                    [
                        requests.get(running.base_url + p, headers=AUTH, timeout=10).content
                        for p in paths
                    ]
                )
        assert bodies[0] == bodies[1]

    def test_keep_alive_connections_are_reused(self, server: SimulatorServer) -> None:
        with requests.Session() as session:
            session.headers.update(AUTH)
            for page in (1, 2, 3):
                response = session.get(server.base_url + "/v1/users", params={"page": page})
                assert response.status_code == 200

    def test_small_answers_are_not_held_back_by_nagles_algorithm(
        self, server: SimulatorServer
    ) -> None:
        request = b"GET /v1/account HTTP/1.1\r\nHost: sim\r\nAuthorization: " + (
            AUTH["Authorization"].encode() + b"\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as client:
            client.sendall(request)
            assert client.recv(65536).startswith(b"HTTP/1.1 200")
            assert server._http is not None
            (connection,) = server._http._connections
            assert connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)

    def test_repr_and_urls_hide_the_tokens(self, server: SimulatorServer) -> None:
        assert "token" not in repr(server)
        assert server.phisher_url == server.base_url + "/graphql"
        assert server.base_url.startswith("http://127.0.0.1:")
