"""PhishER GraphQL client: messages reported since a time, and messages by id.

Only query forms working clients confirm are sent: `reported_at:[<time> TO *]` and
`id:<uuid>`, joined with `OR` to read several messages in one call (a form the server
rejects, or answers without a message that `id:` alone finds, is not used again). The
Lucene field names for severity and status are unconfirmed, so severity/actionStatus
are read from the nodes and counted client-side.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from kb4_exporter.api.errors import ApiError, AuthError, BadResponseError
from kb4_exporter.api.http import PacedSession
from kb4_exporter.api.listing import Listing, ListingReader
from kb4_exporter.model.phisher import PhisherMessage, PhisherMessageStatus, is_phisher_id

log = logging.getLogger(__name__)

T = TypeVar("T")

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
# Messages read by id in one query (`id:a OR id:b ...`): well under the 100 a page holds.
LOOKUP_BATCH = 50
# Pages read for one lookup query before giving up on it.
LOOKUP_MAX_PAGES = 5


class QueryRejectedError(BadResponseError):
    """PhishER answered with GraphQL `errors` and no data: it would not run the query."""


def lucene_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def reported_since(start: float) -> str:
    return f"reported_at:[{lucene_time(start)} TO *]"


def any_of_ids(ids: Sequence[str]) -> str:
    return " OR ".join(f"id:{message_id}" for message_id in ids)


class PhisherClient:
    def __init__(
        self,
        session: PacedSession,
        max_pages: int | None = None,
        per: int = 100,
        unresolved_max_pages: int | None = None,
    ) -> None:
        self._session = session
        self._max_pages = max_pages
        self._per = per
        self._unresolved_max_pages = unresolved_max_pages
        # Cleared for good once the server shows it does not read `OR` between ids.
        self._batch_lookups = True

    @property
    def session(self) -> PacedSession:
        return self._session

    def messages(self, start: float) -> Listing[PhisherMessage]:
        """Messages reported since `start`, every page up to the page cap."""
        return self._listing(reported_since(start), PhisherMessage.parse, self._max_pages)

    def messages_since(self, start: float) -> Listing[PhisherMessageStatus]:
        """Messages reported since `start` with their ids (nodes without one are skipped),
        every page up to the cap of the unresolved-message poll."""
        return self._listing(
            reported_since(start), PhisherMessageStatus.parse, self._unresolved_max_pages
        )

    def look_up(self, ids: Sequence[str]) -> dict[str, PhisherMessageStatus]:
        """The messages of `ids` that exist, by id; a missing id is a deleted message.

        Ids are read in batches while the server reads `OR` as it should; whatever a
        batch does not return is read alone, so a server that ignores part of an `OR`
        costs calls, never a message. An id that could change a query's meaning (from a
        tampered state file, say) is never sent: it reads as gone.
        """
        wanted = [message_id for message_id in dict.fromkeys(ids) if is_phisher_id(message_id)]
        found: dict[str, PhisherMessageStatus] = {}
        batched = self._batch_lookups and len(wanted) > 1
        if batched:
            for offset in range(0, len(wanted), LOOKUP_BATCH):
                found.update(self._look_up_batch(wanted[offset : offset + LOOKUP_BATCH]))
                if not self._batch_lookups:
                    break
        for message_id in wanted:
            if message_id in found:
                continue
            status = self._look_up_one(message_id)
            if status is None:
                continue
            found[message_id] = status
            if batched and self._batch_lookups:
                self._stop_batching(f"a batch query did not return message {message_id}")
        return found

    def total_count(self) -> int | None:
        """All messages (empty Lucene query), for `check`: proves the token and URL work."""
        body = self._session.post_json("", {"query": PROBE_QUERY, "variables": {"query": ""}})
        result = _phisher_messages(body, self._session.quote_server_text)
        return _int(_mapping(result.get("pagination")).get("totalCount"))

    def _look_up_batch(self, ids: Sequence[str]) -> dict[str, PhisherMessageStatus]:
        try:
            listing = self._listing(any_of_ids(ids), PhisherMessageStatus.parse, LOOKUP_MAX_PAGES)
        except QueryRejectedError as err:
            # Only a refusal of the query itself: a garbled answer is no verdict on `OR`.
            self._stop_batching(f"the server rejected it ({err})")
            return {}
        wanted = set(ids)
        return {m.id: m for m in listing.records if m.id in wanted}

    def _look_up_one(self, message_id: str) -> PhisherMessageStatus | None:
        listing = self._listing(f"id:{message_id}", PhisherMessageStatus.parse, LOOKUP_MAX_PAGES)
        for status in listing.records:
            if status.id == message_id:
                return status
        if listing.truncated:
            # Never "gone" on a guess: a message taken for gone stops paging.
            raise BadResponseError(
                f"PhishER id:{message_id} matched more than {LOOKUP_MAX_PAGES} pages "
                "without that message",
                endpoint=ENDPOINT,
            )
        return None

    def _stop_batching(self, why: str) -> None:
        self._batch_lookups = False
        log.warning("PhishER: reading messages one id per query from now on: %s", why)

    def _listing(self, query: str, parse: Callable[[Any], T], max_pages: int | None) -> Listing[T]:
        """Every page of `query` up to `max_pages` (None: no cap; the daily budget bounds
        it); nodes `parse` refuses are skipped."""
        reader = ListingReader(parse, log=log, name="PhishER", max_pages=max_pages)
        pages = itertools.count(1)
        previous: list[Any] = []

        def next_page() -> bool:
            nonlocal previous
            nodes, more = self._read_page(query, next(pages))
            if nodes and nodes == previous:
                # A server that ignores `page` would be read to its `pages` (or the budget).
                raise BadResponseError(
                    "PhishER returned the same page again; the listing never ends",
                    endpoint=ENDPOINT,
                )
            previous = nodes
            reader.collect(nodes)
            return more

        return reader.read(next_page)

    def _read_page(self, query: str, page: int) -> tuple[list[Any], bool]:
        """The nodes of page `page` of `query`, and whether another page follows them."""
        result = self._messages_page(query, page)
        nodes = result.get("nodes")
        if not isinstance(nodes, list):
            raise BadResponseError("PhishER phisherMessages has no nodes list", endpoint=ENDPOINT)
        pagination = _mapping(result.get("pagination"))
        pages = _int(pagination.get("pages"))
        if pages is not None:
            # The maximum `per` is unconfirmed: a server that serves fewer than asked
            # (and may not say so) counts its pages by its own size, so while it says
            # more pages follow, a short page is not the end.
            return nodes, bool(nodes) and page < pages
        served_per = _int(pagination.get("per"))
        page_size = min(self._per, served_per) if served_per else self._per
        return nodes, bool(nodes) and len(nodes) >= page_size

    def _messages_page(self, query: str, page: int) -> Mapping[str, Any]:
        variables = {"query": query, "page": page, "per": self._per}
        body = self._session.post_json("", {"query": MESSAGES_QUERY, "variables": variables})
        return _phisher_messages(body, self._session.quote_server_text)


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
    return QueryRejectedError(f"PhishER GraphQL error: {text}", endpoint=ENDPOINT)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
