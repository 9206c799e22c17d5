"""The User Event API's `GET /events` over an Org: filters, ordering and paging.

The real API is its own host (e.g. https://api.events.knowbe4.com) with its own key;
the simulator serves it under the path prefix `/user-events` of the same server, so
the API's base URL is `<server>/user-events` and a client asks for `<base>/events`.
Pages are wrapped as `{"data": [...], "meta": {...}}`; `meta` carries the pagination
keys of the API's published samples, with the meanings of the Kaminari library whose
names they are: `next_page`/`prev_page` are null on the last/first page and out of
range, a page past the end (or page 1 of an empty listing) is out of range.
Choices where the real API is undocumented:
- `meta.count` is the number of events matching the filters on all pages;
- `per_page` defaults to 50 (the samples' `limit_value`) and is capped at 100; a
  `page` or `per_page` that is not a positive integer falls back to its default;
- `order_by` accepts only `occurred_date` (the default); `order_direction` is `asc` or
  `desc` (the default, newest first); anything else answers 400; ties are broken by id;
- filters match exactly: `event_type` (name), `target_user` (e-mail, any case),
  `external_id`, `source`, `risk_level`, `risk_decay_mode`; `occurred_date` and
  `risk_expire_date` (a date or a timestamp) match events on that UTC day; a value of
  the wrong type answers 400; unknown parameters are ignored.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping
from typing import Any

from .clock import iso, iso_date, iso_or_none, parse_iso
from .org import Org
from .records import UserEvent
from .routes import Params, Reply

PREFIX = "/user-events"
EVENTS_PATH = f"{PREFIX}/events"
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 100
ORDER_FIELDS = ("occurred_date",)
DIRECTIONS = ("asc", "desc")
# The simulated account's id in event payloads (the Reporting API shows none).
ACCOUNT_ID_BASE = 52_000

Filter = Callable[[UserEvent], bool]


class BadRequestError(ValueError):
    """A parameter the API would refuse with 400."""


def event_type_id(name: str) -> int:
    """A stable id per event type name."""
    return 400_000_000 + zlib.crc32(name.encode()) % 100_000_000


def event_payload(event: UserEvent, seed: int) -> dict[str, Any]:
    return {
        "id": event.id,
        "account_id": ACCOUNT_ID_BASE + seed,
        "user": {
            "email": event.user_email,
            "id": event.user_id,
            "archived": event.user_archived,
        },
        "external_id": event.external_id,
        "source": event.source,
        "description": event.description,
        "occurred_date": iso(event.occurred_date),
        "risk": {
            "level": event.risk_level,
            "decay_mode": event.risk_decay_mode,
            "expire_date": iso_or_none(event.risk_expire_date),
        },
        "metadata": None,
        "event_type": {
            "id": event_type_id(event.event_type),
            "name": event.event_type,
            "description": None,
        },
    }


def list_events(org: Org, params: Params) -> Reply:
    try:
        selected = _filters(params)
        newest_first = _newest_first(params)
    except BadRequestError as error:
        return Reply(400, {"message": str(error)})
    matching = sorted(
        (e for e in org.user_events if all(keep(e) for keep in selected)),
        key=lambda e: (e.occurred_date, e.id),
        reverse=newest_first,
    )
    per_page = min(params.positive_int("per_page") or DEFAULT_PER_PAGE, MAX_PER_PAGE)
    page = params.positive_int("page") or 1
    rows = matching[(page - 1) * per_page : page * per_page]
    return Reply(
        200,
        {
            "data": [event_payload(e, org.seed) for e in rows],
            "meta": page_meta(page, per_page, len(matching)),
        },
    )


def page_meta(page: int, per_page: int, total: int) -> dict[str, Any]:
    """Kaminari's pagination facts for `page` of a listing of `total` rows."""
    pages = math.ceil(total / per_page)
    first, last, out_of_range = page == 1, page == pages, page > pages
    return {
        "count": total,
        "limit_value": per_page,
        "total_pages": pages,
        "current_page": page,
        "next_page": None if last or out_of_range else page + 1,
        "prev_page": None if first or out_of_range else page - 1,
        "is_first_page": first,
        "is_last_page": last,
        "is_out_of_range": out_of_range,
    }


def _newest_first(params: Params) -> bool:
    order_by = params.text("order_by") or ORDER_FIELDS[0]
    if order_by not in ORDER_FIELDS:
        raise BadRequestError(f"order_by must be one of {', '.join(ORDER_FIELDS)}")
    direction = (params.text("order_direction") or "desc").lower()
    if direction not in DIRECTIONS:
        raise BadRequestError("order_direction must be asc or desc")
    return direction == "desc"


def _filters(params: Params) -> list[Filter]:
    found: list[Filter] = []
    for name, text_field in _TEXT_FIELDS.items():
        wanted = params.text(name)
        if wanted is not None:
            found.append(_equal(text_field, wanted))
    target = params.text("target_user")
    if target is not None:
        found.append(_equal(lambda e: e.user_email.lower(), target.strip().lower()))
    for name, number_field in _NUMBER_FIELDS.items():
        if name in params:
            found.append(_equal(number_field, _integer(name, params.text(name) or "")))
    for name, stamp_field in _DAY_FIELDS.items():
        if name in params:
            found.append(_on_day(stamp_field, _day(name, params.text(name) or "")))
    return found


_TEXT_FIELDS: Mapping[str, Callable[[UserEvent], object]] = {
    "event_type": lambda e: e.event_type,
    "external_id": lambda e: e.external_id,
    "source": lambda e: e.source,
}
_NUMBER_FIELDS: Mapping[str, Callable[[UserEvent], object]] = {
    "risk_level": lambda e: e.risk_level,
    "risk_decay_mode": lambda e: e.risk_decay_mode,
}
_DAY_FIELDS: Mapping[str, Callable[[UserEvent], int | None]] = {
    "occurred_date": lambda e: e.occurred_date,
    "risk_expire_date": lambda e: e.risk_expire_date,
}


def _equal(field: Callable[[UserEvent], object], wanted: object) -> Filter:
    return lambda event: field(event) == wanted


def _on_day(field: Callable[[UserEvent], int | None], day: str) -> Filter:
    def on_day(event: UserEvent) -> bool:
        stamp = field(event)
        return stamp is not None and iso_date(stamp) == day

    return on_day


def _integer(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadRequestError(f"{name} must be an integer") from None


def _day(name: str, text: str) -> str:
    try:
        return iso_date(parse_iso(text))
    except ValueError:
        raise BadRequestError(f"{name} must be a date or an ISO-8601 timestamp") from None
