"""PhishER GraphQL client: messages reported in a time window.

The Lucene field names for severity and status are unconfirmed, so the query filters
on `reported_at` only and severity/actionStatus are read from the nodes and counted
client-side.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from kb4_exporter.api.errors import ApiError, AuthError, BadResponseError
from kb4_exporter.api.http import PacedSession
from kb4_exporter.api.reporting import Listing
from kb4_exporter.model import PhisherMessage, RecordError

log = logging.getLogger(__name__)

MESSAGES_QUERY = """
query PhisherMessages($query: String!, $page: Int, $per: Int) {
  phisherMessages(query: $query, page: $page, per: $per) {
    nodes { id severity actionStatus events { eventType createdAt } }
    pagination { page pages per totalCount }
  }
}
""".strip()

PROBE_QUERY = """
query PhisherProbe($query: String!) {
  phisherMessages(query: $query, page: 1, per: 1) { pagination { totalCount } }
}
""".strip()

ENDPOINT = "phisherMessages"


def lucene_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def reported_between(start: float, end: float) -> str:
    return f"reported_at:[{lucene_time(start)} TO {lucene_time(end)}]"


class PhisherClient:
    def __init__(self, session: PacedSession, max_pages: int | None = None, per: int = 100) -> None:
        self._session = session
        self._max_pages = max_pages
        self._per = per

    @property
    def session(self) -> PacedSession:
        return self._session

    def messages(self, start: float, end: float) -> Listing[PhisherMessage]:
        """Messages reported in [start, end], every page up to the page cap."""
        query = reported_between(start, end)
        records: list[PhisherMessage] = []
        skipped = 0
        page = 1
        while True:
            if self._max_pages is not None and page > self._max_pages:
                log.warning(
                    "PhishER: stopped at the page cap of %d pages; raise page_caps.phisher",
                    self._max_pages,
                )
                _warn_skipped(skipped)
                return Listing(tuple(records), True, page - 1, skipped)
            result = self._messages_page(query, page)
            nodes = result.get("nodes")
            if not isinstance(nodes, list):
                raise BadResponseError(
                    "PhishER phisherMessages has no nodes list", endpoint=ENDPOINT
                )
            for node in nodes:
                try:
                    records.append(PhisherMessage.parse(node))
                except RecordError:
                    skipped += 1
            pagination = _mapping(result.get("pagination"))
            pages = _int(pagination.get("pages"))
            # The maximum `per` is unconfirmed: judge a short page by the size the server
            # says it served, so a server that caps `per` does not end the listing early.
            served_per = _int(pagination.get("per"))
            page_size = min(self._per, served_per) if served_per else self._per
            if not nodes or len(nodes) < page_size or (pages is not None and page >= pages):
                _warn_skipped(skipped)
                return Listing(tuple(records), False, page, skipped)
            page += 1

    def total_count(self) -> int | None:
        """All messages (empty Lucene query), for `check`: proves the token and URL work."""
        body = self._session.post_json("", {"query": PROBE_QUERY, "variables": {"query": ""}})
        result = _phisher_messages(body, self._session.quote_server_text)
        return _int(_mapping(result.get("pagination")).get("totalCount"))

    def _messages_page(self, query: str, page: int) -> Mapping[str, Any]:
        variables = {"query": query, "page": page, "per": self._per}
        body = self._session.post_json("", {"query": MESSAGES_QUERY, "variables": variables})
        return _phisher_messages(body, self._session.quote_server_text)


def _warn_skipped(skipped: int) -> None:
    if skipped:
        log.warning("PhishER: skipped %d unusable message node(s) (not objects)", skipped)


def _phisher_messages(body: Any, quote: Callable[[str], str]) -> Mapping[str, Any]:
    """`data.phisherMessages`; `quote` makes server text fit to quote (token redacted)."""
    if not isinstance(body, Mapping):
        raise BadResponseError("PhishER returned a non-object GraphQL response", endpoint=ENDPOINT)
    errors = body.get("errors")
    data = _mapping(body.get("data"))
    result = data.get("phisherMessages")
    if errors and not isinstance(result, Mapping):
        raise _graphql_error(errors, quote)
    if not isinstance(result, Mapping):
        raise BadResponseError("PhishER response has no data.phisherMessages", endpoint=ENDPOINT)
    return result


def _graphql_error(errors: Any, quote: Callable[[str], str]) -> ApiError:
    first = errors[0] if isinstance(errors, list) and errors else errors
    message = first.get("message") if isinstance(first, Mapping) else None
    # Servers echo what they were sent: redacted before it is cut, so no part survives.
    text = quote(str(message)) if message else "unknown error"
    lowered = text.lower()
    if "unauthorized" in lowered or "authenticat" in lowered or "not authorized" in lowered:
        return AuthError(
            f"PhishER rejected the token: {text} (check the PhishER token and its scope)",
            endpoint=ENDPOINT,
        )
    return BadResponseError(f"PhishER GraphQL error: {text}", endpoint=ENDPOINT)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
