"""The simulated PhishER GraphQL API, over HTTP, and the small GraphQL reader behind it."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from kb4_exporter.simulator import Org, OrgSpec, PacingLimits, SimulatorServer, generate_org
from kb4_exporter.simulator.graphql import GraphQLError, Variable, parse
from kb4_exporter.simulator.records import PhisherEvent

NOW = datetime(2025, 6, 15, 9, 30, tzinfo=UTC).timestamp()
AUTH = {"Authorization": "Bearer simulated-phisher-token"}
LIST_QUERY = """
query ($query: String!, $all: Boolean, $page: Int, $per: Int) {
  phisherMessages(query: $query, all: $all, page: $page, per: $per) {
    nodes { id subject actionStatus category severity events { eventType createdAt } }
    pagination { page pages per totalCount }
  }
}
"""


@pytest.fixture(scope="module")
def org() -> Org:
    return generate_org(OrgSpec(users=1500, seed=4), NOW)


@pytest.fixture
def server(org: Org) -> Iterator[SimulatorServer]:
    with SimulatorServer(org, limits=PacingLimits.unlimited()) as running:
        yield running


def post(server: SimulatorServer, body: Any, headers: dict[str, str] = AUTH) -> requests.Response:
    return requests.post(server.phisher_url, json=body, headers=headers, timeout=10)


def messages(server: SimulatorServer, query: str, **variables: Any) -> dict[str, Any]:
    response = post(server, {"query": LIST_QUERY, "variables": {"query": query, **variables}})
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["phisherMessages"]
    return result


def iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def created_at(node: dict[str, Any]) -> float:
    event = next(e for e in node["events"] if e["eventType"] == "CREATED")
    return datetime.fromisoformat(event["createdAt"].replace("Z", "+00:00")).timestamp()


class TestListing:
    def test_all_messages_newest_first_across_pages(
        self, server: SimulatorServer, org: Org
    ) -> None:
        first = messages(server, "", per=25)
        total = len(org.phisher_messages)
        assert first["pagination"] == {
            "page": 1,
            "pages": math.ceil(total / 25),
            "per": 25,
            "totalCount": total,
        }
        nodes: list[dict[str, Any]] = []
        for page in range(1, first["pagination"]["pages"] + 1):
            nodes += messages(server, "", per=25, page=page)["nodes"]
        assert [n["id"] for n in nodes] == [m.id for m in org.phisher_messages]
        stamps = [created_at(n) for n in nodes]
        assert stamps == sorted(stamps, reverse=True)
        assert messages(server, "", per=25, page=999)["nodes"] == []

    def test_per_is_capped_and_defaults(self, server: SimulatorServer) -> None:
        assert messages(server, "", per=1000)["pagination"]["per"] == 100
        assert messages(server, "")["pagination"]["per"] == 25

    def test_a_reported_at_range(self, server: SimulatorServer, org: Org) -> None:
        low, high = NOW - 24 * 3600, NOW - 4 * 3600
        query = f"reported_at:[{iso(low)} TO {iso(high)}]"
        result = messages(server, query, per=100)
        expected = [m.id for m in org.phisher_messages if low <= m.reported_at <= high]
        assert [n["id"] for n in result["nodes"]] == expected
        assert result["pagination"]["totalCount"] == len(expected)

    def test_open_ended_ranges_dates_and_lower_case(
        self, server: SimulatorServer, org: Org
    ) -> None:
        since = NOW - 7 * 86400
        expected = sum(1 for m in org.phisher_messages if m.reported_at >= since)
        query = f"reported_at:[{iso(since)} TO *]"
        assert messages(server, query)["pagination"]["totalCount"] == expected
        assert messages(server, query.lower())["pagination"]["totalCount"] == expected
        everything = messages(server, "reported_at:[* TO *]")["pagination"]["totalCount"]
        assert everything == len(org.phisher_messages)
        day = datetime.fromtimestamp(NOW, UTC).strftime("%Y-%m-%d")
        today = sum(1 for m in org.phisher_messages if iso(m.reported_at).startswith(day))
        today_only = messages(server, f"reported_at:[{day} TO *]")["pagination"]["totalCount"]
        assert today_only == today

    def test_exclusive_bounds(self, server: SimulatorServer, org: Org) -> None:
        newest = org.phisher_messages[0].reported_at
        inclusive = messages(server, f"reported_at:[{iso(newest)} TO *]")
        exclusive = messages(server, f"reported_at:{{{iso(newest)} TO *}}")
        assert inclusive["pagination"]["totalCount"] >= 1
        assert exclusive["pagination"]["totalCount"] == 0

    def test_ids_alone_and_joined_by_or(self, server: SimulatorServer, org: Org) -> None:
        first, second = org.phisher_messages[5], org.phisher_messages[9]
        alone = messages(server, f"id:{second.id}")
        assert [n["id"] for n in alone["nodes"]] == [second.id]
        # Some clients lower-case the whole query; ids still match.
        joined = messages(server, f"ID:{first.id.upper()} OR id:{second.id} OR id:gone")
        assert [n["id"] for n in joined["nodes"]] == [first.id, second.id]
        mixed = messages(server, f"id:{second.id} OR reported_at:[{iso(first.reported_at)} TO *]")
        assert {n["id"] for n in mixed["nodes"]} == {m.id for m in org.phisher_messages[:6]} | {
            second.id
        }
        assert messages(server, "id:nothing-like-it")["nodes"] == []

    def test_inline_arguments_and_aliases(self, server: SimulatorServer, org: Org) -> None:
        query = """{
          recent: phisherMessages(query: "", all: true, page: 2, per: 3) {
            nodes { id }
            info: pagination { page }
          }
          __typename
        }"""
        body = post(server, {"query": query}).json()
        assert body["data"]["__typename"] == "Query"
        recent = body["data"]["recent"]
        assert [n["id"] for n in recent["nodes"]] == [m.id for m in org.phisher_messages[3:6]]
        assert recent["info"] == {"page": 2}

    def test_only_selected_fields_come_back(self, server: SimulatorServer) -> None:
        query = '{ phisherMessages(query: "", per: 2) { nodes { severity } } }'
        body = post(server, {"query": query}).json()
        result = body["data"]["phisherMessages"]
        assert list(result) == ["nodes"]
        assert [list(node) for node in result["nodes"]] == [["severity"], ["severity"]]

    def test_nodes_have_no_top_level_report_time(self, server: SimulatorServer) -> None:
        query = """{ phisherMessages(query: "", per: 1) { nodes {
            id subject from reportedBy actionStatus category severity pipelineStatus rawUrl
            tags { name type } comments { body createdAt }
            events { id causer triggerer eventType createdAt }
            phishmlReport { confidenceClean confidenceSpam confidenceThreat }
            links { id url } attachments { filename } rules { id name } headers { header data }
        } } }"""
        node = post(server, {"query": query}).json()["data"]["phisherMessages"]["nodes"][0]
        assert "reportedAt" not in node
        assert "createdAt" not in node
        assert node["actionStatus"] in ("RECEIVED", "IN_REVIEW", "RESOLVED")


class TestErrors:
    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "Bearer simulated-reporting-token"},
        ],
    )
    def test_401_without_the_phisher_token(
        self, server: SimulatorServer, headers: dict[str, str]
    ) -> None:
        response = post(server, {"query": LIST_QUERY, "variables": {"query": ""}}, headers)
        assert response.status_code == 401
        assert response.json()["errors"][0]["message"]

    @pytest.mark.parametrize(
        ("query", "fragment"),
        [
            ('{ phisherMessages(query: "") { nodes { bogus } } }', "'bogus' doesn't exist"),
            ("{ phisherMessages { nodes { id } } }", "missing required arguments: query"),
            ('{ phisherMessages(query: "", since: 1) { nodes { id } } }', "argument 'since'"),
            ('{ phisherMessages(query: "") }', "must have a selection of subfields"),
            ('{ phisherMessages(query: "") { nodes { id { x } } } }', "on scalars"),
            ('{ phisherMessage(id: "x") { id } }', "doesn't exist on type 'Query'"),
            ("mutation { phisherMessageUpdate { id } }", "not configured for mutations"),
            ('{ phisherMessages(query: "") { ...Parts } }', "Fragments are not supported"),
            ('{ phisherMessages(query: "") { nodes { id } }', "Unexpected end of document"),
        ],
    )
    def test_graphql_errors_are_200_with_errors(
        self, server: SimulatorServer, query: str, fragment: str
    ) -> None:
        response = post(server, {"query": query})
        assert response.status_code == 200
        body = response.json()
        assert "data" not in body
        assert fragment in body["errors"][0]["message"]

    @pytest.mark.parametrize(
        "lucene",
        [
            "severity:high",
            "reported_at:[yesterday TO *]",
            "reported_at:[* TO *] AND x:y",
            "id:a OR severity:high",
            'id:"quoted"',
        ],
    )
    def test_unsupported_lucene_is_an_execution_error(
        self, server: SimulatorServer, lucene: str
    ) -> None:
        body = post(server, {"query": LIST_QUERY, "variables": {"query": lucene}}).json()
        assert body["data"] == {"phisherMessages": None}
        assert body["errors"][0]["path"] == ["phisherMessages"]

    @pytest.mark.parametrize(
        "variables", [{"query": None}, {"query": "", "per": "10"}, {"query": "", "all": 1}]
    )
    def test_badly_typed_variables(self, server: SimulatorServer, variables: Any) -> None:
        body = post(server, {"query": LIST_QUERY, "variables": variables}).json()
        assert "invalid value" in body["errors"][0]["message"]

    def test_bad_request_bodies(self, server: SimulatorServer) -> None:
        raw = requests.post(server.phisher_url, data=b"{not json", headers=AUTH, timeout=10)
        assert raw.status_code == 400
        assert post(server, ["not", "an", "object"]).status_code == 400
        assert "No query string" in post(server, {"variables": {}}).json()["errors"][0]["message"]

    def test_get_is_not_allowed_and_requests_are_counted(self, server: SimulatorServer) -> None:
        assert requests.get(server.phisher_url, headers=AUTH, timeout=10).status_code == 405
        messages(server, "")
        assert server.request_counts() == {"/graphql": 2}


class TestParser:
    def test_operations_variables_and_literals(self) -> None:
        operation = parse(
            """
            # a comment
            query Named($q: String! = "x", $ids: [Int!]) {
              a: field(s: "t\\"", i: -3, f: 1.5e2, b: false, n: null, e: ENUM,
                       l: [1, $ids], o: {k: $q}, blk: \"\"\"raw\"\"\") { sub }
            }
            """
        )
        assert operation.name == "Named"
        assert operation.variables == {"q": ("String!", "x"), "ids": ("[Int!]", None)}
        field = operation.selections[0]
        assert (field.alias, field.name, field.response_key) == ("a", "field", "a")
        assert field.arguments == {
            "s": 't"',
            "i": -3,
            "f": 150.0,
            "b": False,
            "n": None,
            "e": "ENUM",
            "l": [1, Variable("ids")],
            "o": {"k": Variable("q")},
            "blk": "raw",
        }

    def test_the_named_operation_is_chosen(self) -> None:
        document = "query A { a } query B { b }"
        assert parse(document, "B").selections[0].name == "b"
        with pytest.raises(GraphQLError, match="operation name is required"):
            parse(document)
        with pytest.raises(GraphQLError, match="No operation named"):
            parse(document, "C")

    def test_errors_carry_locations(self) -> None:
        with pytest.raises(GraphQLError) as caught:
            parse("{\n  a(x: %) }")
        assert (caught.value.line, caught.value.column) == (2, 8)
        assert caught.value.as_json()["locations"] == [{"line": 2, "column": 8}]

    @pytest.mark.parametrize(
        "document",
        [
            "",
            "{ }",
            "{ a @include(if: true) }",
            "fragment F on Q { a }",
            "query ($x: Int = $y) { a }",
        ],
    )
    def test_unsupported_or_invalid_documents(self, document: str) -> None:
        with pytest.raises(GraphQLError):
            parse(document)


class TestTimeline:
    """Messages reported after the server's clock, and messages resolved while it runs."""

    def test_messages_appear_when_reported_and_resolve_on_time(self) -> None:
        base = generate_org(OrgSpec(users=20, seed=2), NOW)
        late = replace(
            base.phisher_messages[0],
            id="late",
            action_status="RECEIVED",
            events=(PhisherEvent("late-created", None, "CREATED", int(NOW + 600)),),
            resolved_at=int(NOW + 1200),
        )
        org = Org(
            now=NOW,
            account=base.account,
            users=base.users,
            phisher_messages=(*base.phisher_messages, late),
        )
        clock = [NOW]
        with SimulatorServer(org, limits=PacingLimits.unlimited(), clock=lambda: clock[0]) as sim:

            def state() -> list[tuple[str, list[str]]]:
                nodes = messages(sim, "id:late")["nodes"]
                return [(n["actionStatus"], [e["eventType"] for e in n["events"]]) for n in nodes]

            assert state() == []
            clock[0] = NOW + 600
            assert state() == [("RECEIVED", ["CREATED"])]
            clock[0] = NOW + 1200
            assert state() == [("RESOLVED", ["ACTION_STATUS_CHANGED", "CREATED"])]
            # A clock behind the org sees the org as generated.
            clock[0] = NOW - 86400
            assert len(messages(sim, "", per=100)["nodes"]) == min(100, len(base.phisher_messages))
