"""PhishER's GraphQL endpoint over an Org: the `phisherMessages` query.

`phisherMessages(query: String!, all: Boolean, page: Int, per: Int)` returns
`{nodes {...}, pagination {page pages per totalCount}}`, newest report first, with
only the selected fields (unknown fields are GraphQL errors, as on a real schema).
Choices where the real API is undocumented:
- the Lucene `query` understands the forms working clients use: `reported_at:[A TO B]`
  (A and B ISO timestamps or dates, or `*`; `{}` brackets exclude the bound), `id:<id>`
  (compared case-insensitively, as some clients lower-case the query), terms joined by
  `OR`, and the empty string (everything); any other query is an error in `errors`,
  with `data.phisherMessages` null;
- a message reported after the server's clock is not listed yet, and one with a
  `resolved_at` is RESOLVED from then on (the org is never older than its `now`);
- `all` is accepted and ignored; `per` defaults to 25 and is capped at `max_per`
  (100 unless configured); `pages` is 0 when nothing matches;
- a mutation, a fragment or a directive is an error.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from .clock import parse_iso
from .graphql import Field, GraphQLError, Operation, Schema, parse, project, resolve, validate
from .org import Org
from .records import PhisherMessage
from .routes import Reply

DEFAULT_PER = 25
DEFAULT_MAX_PER = 100

SCHEMA: Schema = {
    "Query": {"phisherMessages": "PhisherMessageList"},
    "PhisherMessageList": {"nodes": "PhisherMessage", "pagination": "Pagination"},
    "Pagination": dict.fromkeys(("page", "pages", "per", "totalCount")),
    "PhisherMessage": {
        **dict.fromkeys(
            (
                "id",
                "subject",
                "from",
                "reportedBy",
                "actionStatus",
                "category",
                "severity",
                "pipelineStatus",
                "rawUrl",
            )
        ),
        "tags": "Tag",
        "comments": "Comment",
        "phishmlReport": "PhishmlReport",
        "events": "Event",
        "links": "Link",
        "attachments": "Attachment",
        "rules": "Rule",
        "headers": "Header",
    },
    "Tag": dict.fromkeys(("name", "type")),
    "Comment": dict.fromkeys(("body", "createdAt")),
    "PhishmlReport": dict.fromkeys(("confidenceClean", "confidenceSpam", "confidenceThreat")),
    "Event": dict.fromkeys(("id", "causer", "triggerer", "eventType", "createdAt")),
    "Link": {
        **dict.fromkeys(("id", "url", "scheme", "target", "dispositions", "firstSeen", "lastSeen")),
        "virustotal": "VirusTotal",
    },
    "VirusTotal": dict.fromkeys(("permalink", "positives", "scanned", "sha256")),
    "Attachment": dict.fromkeys(
        (
            "filename",
            "actualContentType",
            "reportedContentType",
            "md5",
            "sha1",
            "sha256",
            "size",
            "ssdeep",
            "s3Key",
        )
    ),
    "Rule": dict.fromkeys(("id", "name", "description", "tags", "createdAt", "matchedCount")),
    "Header": dict.fromkeys(("header", "data", "order")),
}
_ARGUMENT_TYPES: Mapping[str, type] = {"query": str, "all": bool, "page": int, "per": int}
_GRAPHQL_TYPE_NAMES = {str: "String", bool: "Boolean", int: "Int"}


def graphql_time(stamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(stamp)))


def message_node(message: PhisherMessage, now: float | None = None) -> dict[str, Any]:
    """Every field of a message as of `now` (None: as generated); the query's selection
    picks from these."""
    clean, spam, threat = message.confidence
    status = message.action_status if now is None else message.status_at(now)
    events = message.events if now is None else message.events_at(now)
    return {
        "id": message.id,
        "subject": message.subject,
        "from": message.sender,
        "reportedBy": message.reported_by,
        "actionStatus": status,
        "category": message.category,
        "severity": message.severity,
        "pipelineStatus": message.pipeline_status,
        "rawUrl": None,
        "tags": [{"name": tag, "type": "STANDARD"} for tag in message.tags],
        "comments": [],
        "phishmlReport": {
            "confidenceClean": clean,
            "confidenceSpam": spam,
            "confidenceThreat": threat,
        },
        "events": [
            {
                "id": event.id,
                "causer": event.causer,
                "triggerer": None,
                "eventType": event.event_type,
                "createdAt": graphql_time(event.created_at),
            }
            for event in events
        ],
        "links": [],
        "attachments": [],
        "rules": [],
        "headers": [],
    }


_RANGE = re.compile(r"^reported_at\s*:\s*([\[{])\s*(\S+)\s+TO\s+(\S+)\s*([\]}])$", re.IGNORECASE)
_ID = re.compile(r"^id\s*:\s*([A-Za-z0-9_-]+)$", re.IGNORECASE)
_OR = re.compile(r"\s+OR\s+")


def lucene_filter(query: str) -> Callable[[PhisherMessage], bool]:
    """The messages a Lucene query string selects; GraphQLError when not understood."""
    text = query.strip()
    if not text:
        return lambda message: True
    terms = [_term(part, query) for part in _OR.split(text)]
    return lambda message: any(selected(message) for selected in terms)


def _term(text: str, query: str) -> Callable[[PhisherMessage], bool]:
    by_id = _ID.match(text)
    if by_id:
        wanted = by_id.group(1).lower()
        return lambda message: message.id.lower() == wanted
    found = _RANGE.match(text)
    if not found:
        raise GraphQLError(
            "The simulator understands only reported_at:[A TO B] and id:<id> terms joined "
            f"by OR, not {query!r}"
        )
    opening, low_text, high_text, closing = found.groups()
    try:
        low = None if low_text == "*" else parse_iso(low_text)
        high = None if high_text == "*" else parse_iso(high_text)
    except ValueError:
        raise GraphQLError(f"Invalid date in query {query!r}") from None

    def selected(message: PhisherMessage) -> bool:
        stamp = message.reported_at
        if low is not None and (stamp < low or (opening == "{" and stamp == low)):
            return False
        return not (high is not None and (stamp > high or (closing == "}" and stamp == high)))

    return selected


def execute(
    org: Org, body: bytes, *, max_per: int = DEFAULT_MAX_PER, now: float | None = None
) -> Reply:
    """Answer one GraphQL request as of `now` (None: the org's own time)."""
    try:
        request = json.loads(body or b"null")
    except ValueError:
        return Reply(400, {"errors": [{"message": "The request body is not valid JSON"}]})
    if not isinstance(request, dict):
        return Reply(400, {"errors": [{"message": "The request body must be a JSON object"}]})
    source = request.get("query")
    variables = request.get("variables") or {}
    if not isinstance(source, str) or not source.strip():
        return _errors(GraphQLError("No query string was present"))
    if not isinstance(variables, dict):
        return _errors(GraphQLError("Variables must be a JSON object"))
    try:
        operation = parse(source, request.get("operationName"))
        if operation.kind != "query":
            raise GraphQLError(f"Schema is not configured for {operation.kind}s")
        problems = _validate(operation)
    except GraphQLError as error:
        return _errors(error)
    if problems:
        return Reply(200, {"errors": [p.as_json() for p in problems]})

    data: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    for field in operation.selections:
        if field.name == "__typename":
            data[field.response_key] = "Query"
            continue
        try:
            data[field.response_key] = _messages(org, field, variables, operation, max_per, now)
        except GraphQLError as error:
            data[field.response_key] = None
            errors.append({**error.as_json(), "path": [field.response_key]})
    return Reply(200, {"data": data, "errors": errors} if errors else {"data": data})


def _errors(error: GraphQLError) -> Reply:
    return Reply(200, {"errors": [error.as_json()]})


def _validate(operation: Operation) -> list[GraphQLError]:
    problems = validate(operation.selections, "Query", SCHEMA)
    for field in operation.selections:
        if field.name != "phisherMessages":
            continue
        for name in field.arguments:
            if name not in _ARGUMENT_TYPES:
                problems.append(
                    GraphQLError(
                        f"Field 'phisherMessages' doesn't accept argument '{name}'",
                        field.line,
                        field.column,
                    )
                )
        if "query" not in field.arguments:
            problems.append(
                GraphQLError(
                    "Field 'phisherMessages' is missing required arguments: query",
                    field.line,
                    field.column,
                )
            )
    return problems


def _messages(
    org: Org,
    field: Field,
    variables: Mapping[str, Any],
    operation: Operation,
    max_per: int,
    now: float | None,
) -> Any:
    args = {name: resolve(value, variables, operation) for name, value in field.arguments.items()}
    for name, value in args.items():
        expected = _ARGUMENT_TYPES[name]
        # bool is an int in Python; GraphQL keeps them apart.
        if (value is None and name == "query") or (
            value is not None and (type(value) is not expected)
        ):
            raise GraphQLError(
                f"Argument '{name}' on Field 'phisherMessages' has an invalid value "
                f"({json.dumps(value)}). Expected type '{_GRAPHQL_TYPE_NAMES[expected]}"
                f"{'!' if name == 'query' else ''}'.",
                field.line,
                field.column,
            )
    selected = lucene_filter(args["query"])
    # The org as generated is the oldest view; time only moves forward from it.
    at = org.now if now is None else max(now, org.now)
    matching = [m for m in org.phisher_messages if m.reported_at <= at and selected(m)]
    per = min(max(args.get("per") or DEFAULT_PER, 1), max_per)
    page = max(args.get("page") or 1, 1)
    rows = matching[(page - 1) * per : page * per]
    result = {
        "nodes": [message_node(m, at) for m in rows],
        "pagination": {
            "page": page,
            "pages": math.ceil(len(matching) / per),
            "per": per,
            "totalCount": len(matching),
        },
    }
    assert field.selections is not None  # validated
    return project(result, field.selections, "PhisherMessageList", SCHEMA)
