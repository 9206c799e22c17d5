"""User Event API (read-only): custom events of the last day.

Unlike the Reporting API this API wraps pages in `{"data": [...], "meta": {...}}` and
follows `meta.next_page`. Events are asked newest first (`order_by=occurred_date`,
`order_direction=desc`); no source confirms those parameters, so a server that refuses
them (400/422) is asked again without them, with a warning. Paging stops early, at the
first page whose events are all older than the window, only while the server has
answered the ordered query with events that really are newest first; otherwise every
page is read, so an unordered server never cuts the window short.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from kb4_exporter.api.errors import ApiError, BadResponseError
from kb4_exporter.api.http import PacedSession
from kb4_exporter.api.listing import Listing, ListingReader
from kb4_exporter.model.parsing import read_int
from kb4_exporter.model.user_events import UserEvent

log = logging.getLogger(__name__)

EVENTS_PATH = "/events"
PER_PAGE = 100
ORDER_PARAMS: Mapping[str, str] = {"order_by": "occurred_date", "order_direction": "desc"}
_ORDER_REFUSED_STATUSES = frozenset({400, 422})


class UserEventsClient:
    def __init__(self, session: PacedSession, max_pages: int | None = None) -> None:
        self._session = session
        self._max_pages = max_pages
        # False once the server refused the order parameters: they are not sent again.
        self._send_order = True

    @property
    def session(self) -> PacedSession:
        return self._session

    def events_since(self, since: float) -> Listing[UserEvent]:
        """Events that occurred at or after `since` (epoch seconds)."""
        reader = ListingReader(
            UserEvent.parse,
            log=log,
            name="User Event API",
            max_pages=self._max_pages,
            cap_advice="; raise or remove page_caps.user_events",
        )
        return reader.read(_EventPages(self._page, since, reader).next_page)

    def total_count(self) -> int | None:
        """Events on record, for `check`: proves the token and URL work."""
        body = self._session.get_json(EVENTS_PATH, {"page": 1, "per_page": 1})
        _, meta = _envelope(body)
        return read_int(meta.get("count"))

    def _page(self, page: int) -> tuple[list[Any], int | None, bool]:
        """(rows, next page, whether the order parameters were sent) of one page."""
        params: dict[str, str | int] = {"page": page, "per_page": PER_PAGE}
        if self._send_order:
            try:
                body = self._session.get_json(EVENTS_PATH, {**params, **ORDER_PARAMS})
            except ApiError as err:
                if err.status not in _ORDER_REFUSED_STATUSES:
                    raise
                log.warning(
                    "User Event API refused order_by/order_direction (HTTP %s); listing "
                    "without them and reading every page",
                    err.status,
                )
                self._send_order = False
            else:
                rows, meta = _envelope(body)
                return rows, read_int(meta.get("next_page")), True
        rows, meta = _envelope(self._session.get_json(EVENTS_PATH, params))
        return rows, read_int(meta.get("next_page")), False


class _EventPages:
    """The pages of one `events_since`, by `meta.next_page`: only the events in the
    window are kept, and paging stops at the first page older than the window while the
    server keeps its events newest first (see the module doc)."""

    def __init__(
        self,
        fetch: Callable[[int], tuple[list[Any], int | None, bool]],
        since: float,
        reader: ListingReader[UserEvent],
    ) -> None:
        self._fetch = fetch
        self._since = since
        self._reader = reader
        self._page = 1
        self._newest_first = True
        self._previous_oldest: float | None = None

    def next_page(self) -> bool:
        """Collects the next page; True when another page follows it."""
        rows, next_page, ordered = self._fetch(self._page)
        events = self._reader.parse(rows)
        self._track_order(events, ordered)
        recent = [e for e in events if e.occurred_at is None or e.occurred_at >= self._since]
        self._reader.keep(recent)
        all_older = self._newest_first and bool(events) and not recent
        if next_page is None or not rows or all_older:
            return False
        self._page = next_page if next_page > self._page else self._page + 1
        return True

    def _track_order(self, events: list[UserEvent], ordered: bool) -> None:
        """Newest first holds while every page, and the pages among themselves, are."""
        times = [e.occurred_at for e in events if e.occurred_at is not None]
        previous = self._previous_oldest
        self._newest_first = (
            self._newest_first
            and ordered
            and times == sorted(times, reverse=True)
            and (previous is None or not times or times[0] <= previous)
        )
        self._previous_oldest = times[-1] if times else previous


def _envelope(body: Any) -> tuple[list[Any], Mapping[str, Any]]:
    # Only the documented envelope: a bare list would be read as events whatever it holds.
    if isinstance(body, Mapping) and isinstance(body.get("data"), list):
        meta = body.get("meta")
        return body["data"], meta if isinstance(meta, Mapping) else {}
    raise BadResponseError(
        f"{EVENTS_PATH} returned a JSON {type(body).__name__}, expected {{data, meta}}",
        endpoint=EVENTS_PATH,
    )
