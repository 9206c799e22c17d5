"""User Event API (read-only): custom events of the last day.

Unlike the Reporting API this API wraps pages in `{"data": [...], "meta": {...}}` and
follows `meta.next_page`. Events are requested newest first; paging stops at the first
page whose events are all older than the window, so a quiet day costs one call.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kb4_exporter.api.errors import BadResponseError
from kb4_exporter.api.http import PacedSession
from kb4_exporter.api.reporting import Listing
from kb4_exporter.model import RecordError, UserEvent, read_int

log = logging.getLogger(__name__)

EVENTS_PATH = "/events"
PER_PAGE = 100


class UserEventsClient:
    def __init__(self, session: PacedSession, max_pages: int = 20) -> None:
        self._session = session
        self._max_pages = max_pages

    @property
    def session(self) -> PacedSession:
        return self._session

    def events_since(self, since: float) -> Listing[UserEvent]:
        """Events that occurred at or after `since` (epoch seconds)."""
        records: list[UserEvent] = []
        skipped = 0
        page = 1
        while True:
            if page > self._max_pages:
                log.warning(
                    "User Event API: stopped at the page cap of %d pages; "
                    "raise page_caps.user_events",
                    self._max_pages,
                )
                return Listing(tuple(records), True, page - 1, skipped)
            rows, next_page = self._page(page)
            page_events = []
            for row in rows:
                try:
                    page_events.append(UserEvent.parse(row))
                except RecordError:
                    skipped += 1
            recent = [e for e in page_events if e.occurred_at is None or e.occurred_at >= since]
            records.extend(recent)
            all_older = bool(page_events) and not recent
            if next_page is None or not rows or all_older:
                return Listing(tuple(records), False, page, skipped)
            page = next_page if next_page > page else page + 1

    def total_count(self) -> int | None:
        """Events on record, for `check`: proves the token and URL work."""
        body = self._session.get_json(EVENTS_PATH, {"page": 1, "per_page": 1})
        _, meta = _envelope(body)
        return read_int(meta.get("count"))

    def _page(self, page: int) -> tuple[list[Any], int | None]:
        params: dict[str, str | int] = {
            "page": page,
            "per_page": PER_PAGE,
            "order_by": "occurred_date",
            "order_direction": "desc",
        }
        rows, meta = _envelope(self._session.get_json(EVENTS_PATH, params))
        return rows, read_int(meta.get("next_page"))


def _envelope(body: Any) -> tuple[list[Any], Mapping[str, Any]]:
    # Only the documented envelope: a bare list would be read as events whatever it holds.
    if isinstance(body, Mapping) and isinstance(body.get("data"), list):
        meta = body.get("meta")
        return body["data"], meta if isinstance(meta, Mapping) else {}
    raise BadResponseError(
        f"{EVENTS_PATH} returned a JSON {type(body).__name__}, expected {{data, meta}}",
        endpoint=EVENTS_PATH,
    )
