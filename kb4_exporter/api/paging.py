"""Paging of the Reporting API's listings: cursors first, legacy `page` only where needed.

KnowBe4 moved its listings to cursors in 2026: a listing asks `cursor=true&per_page=500`,
reads a bare JSON array, takes the next token from the `X-Next-Cursor` response header
and sends it back as `cursor=<token>`; no token ends the listing. An earlier version sent
the token in an envelope, `{"data": [...], "_metadata": {"next_cursor": ...}}`, which is
read too (the header wins when both are present).

How a server without cursors is recognised, at no extra cost to it: every listing starts
with `cursor=true`, which a legacy server ignores (or refuses with 400/422, after which
the listing is asked again with `page=1`). A page that holds fewer rows than `per_page`
ends the listing under both contracts. A *full* page without a token is ambiguous: the
last page of a cursor listing, or page 1 of a legacy one. Unless the source has already
shown a cursor, `page=2` is asked next: a legacy server answers with the next rows (and
the listing carries on with `page`), while a cursor server ignores `page` and repeats
the first rows. A repeat is then settled by asking `cursor=true&per_page=1`: a cursor
server answers with a token (so the first page was all there is), a server that ignores
its paging parameters does not, and the listing fails. So a cursor server costs one
call per page; only a source whose listing is an exact multiple of `per_page` before
it has ever shown a token costs two calls more, once.

A listing never ends silently on anything else: a repeated page, a cursor given twice,
a page longer than `per_page` or an unusable token fails its source (`BadResponseError`).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from kb4_exporter.api.errors import ApiError, BadResponseError
from kb4_exporter.api.http import JsonReply

log = logging.getLogger(__name__)

PER_PAGE: Final = 500
CURSOR_HEADER: Final = "X-Next-Cursor"
# A token is sent back in the query string: keep it printable ASCII and of sane length.
MAX_CURSOR_CHARS: Final = 2048
# Statuses with which a server may refuse `cursor=true` it does not know.
_CURSOR_REFUSED_STATUSES: Final = frozenset({400, 422})

FetchPage = Callable[[str, Mapping[str, str | int]], JsonReply]


class PagingMode(enum.Enum):
    CURSOR = "cursor"
    LEGACY = "page"


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next_cursor: str | None
    # The `{data, _metadata}` envelope: its missing token ends the listing whatever its size.
    envelope: bool


def read_page(reply: JsonReply, endpoint: str) -> Page:
    """The rows and next token of one listing response; BadResponseError on any other shape."""
    body = reply.body
    header = _cursor(reply.headers.get(CURSOR_HEADER), endpoint)
    if isinstance(body, list):
        return Page(body, header, envelope=False)
    if isinstance(body, Mapping) and isinstance(body.get("data"), list):
        metadata = body.get("_metadata")
        token = metadata.get("next_cursor") if isinstance(metadata, Mapping) else None
        in_body = _cursor(token if isinstance(token, str) else None, endpoint)
        return Page(body["data"], header or in_body, envelope=True)
    raise BadResponseError(
        f"{endpoint} returned a JSON {type(body).__name__}, expected a list of records",
        endpoint=endpoint,
    )


def _cursor(value: str | None, endpoint: str) -> str | None:
    if value is None or not value.strip():
        return None
    token = value.strip()
    if len(token) > MAX_CURSOR_CHARS or not (token.isascii() and token.isprintable()):
        raise BadResponseError(
            f"{endpoint} sent a next cursor that is not a printable ASCII token of at most "
            f"{MAX_CURSOR_CHARS} characters",
            endpoint=endpoint,
        )
    return token


class Pager:
    """Walks listings for one client, remembering per source which contract it speaks."""

    def __init__(self, fetch: FetchPage, per_page: int = PER_PAGE) -> None:
        if per_page < 2:
            raise ValueError(f"per_page must be at least 2, got {per_page}")
        self._fetch = fetch
        self._per_page = per_page
        self._modes: dict[str, PagingMode] = {}

    @property
    def per_page(self) -> int:
        return self._per_page

    def mode(self, source: str) -> PagingMode | None:
        """The contract `source` has shown so far; None until a page settled it."""
        return self._modes.get(source)

    def learn(self, source: str, mode: PagingMode) -> None:
        self._modes[source] = mode

    def fetch(self, path: str, query: Mapping[str, str | int]) -> JsonReply:
        return self._fetch(path, query)

    def walk(self, path: str, params: Mapping[str, str], source: str) -> Walk:
        return Walk(self, path, params, source)


class Walk:
    """One listing's pages, in order: `next_page` until it says no page follows."""

    def __init__(self, pager: Pager, path: str, params: Mapping[str, str], source: str) -> None:
        self._pager = pager
        self._path = path
        self._params = dict(params)
        self._source = source
        self._page_number = 1  # of the page `next_page` reads
        self._next_query: dict[str, str | int] | None = None  # None: the first page
        self._seen_cursors: set[str] = set()
        self._previous: list[Any] | None = None

    def next_page(self) -> tuple[list[Any], bool]:
        """The rows of the next page, and whether another page follows them."""
        page = self._read()
        self._check_page(page)
        self._previous = page.rows
        self._next_query = self._following(page)
        self._page_number += 1
        return page.rows, self._next_query is not None

    def _read(self) -> Page:
        if self._next_query is None:
            return self._first_page()
        page = self._get(self._next_query)
        if self._page_number == 2 and self._pager.mode(self._source) is None:
            return self._settle_ambiguous_page(page)
        return page

    def _check_page(self, page: Page) -> None:
        per_page = self._pager.per_page
        if len(page.rows) > per_page:
            raise self._error(
                f"returned {len(page.rows)} rows for per_page={per_page}; the server "
                "ignores its paging parameters"
            )
        if page.rows and page.rows == self._previous:
            raise self._error(
                f"returned the same page again (page {self._page_number}); the listing never ends"
            )

    def _following(self, page: Page) -> dict[str, str | int] | None:
        """The query of the next page, or None at the end of the listing."""
        if not page.rows:
            return None
        if page.next_cursor is not None:
            if page.next_cursor in self._seen_cursors:
                raise self._error("sent a next cursor it had sent before; the listing never ends")
            self._seen_cursors.add(page.next_cursor)
            self._pager.learn(self._source, PagingMode.CURSOR)
            return self._query(cursor=page.next_cursor)
        if page.envelope or len(page.rows) < self._pager.per_page:
            return None
        if self._pager.mode(self._source) is PagingMode.CURSOR:
            return None  # a full last page: no token is the end
        return self._query(page=self._page_number + 1)

    def _settle_ambiguous_page(self, second: Page) -> Page:
        """A full first page came without a token and `page=2` was asked: see the module doc."""
        if not second.rows or second.rows != self._previous:
            self._pager.learn(self._source, PagingMode.LEGACY)
            return second
        probe = self._get({**self._params, "per_page": 1, "cursor": "true"})
        if probe.next_cursor is None:
            raise self._error(
                "ignores its paging parameters: page=2 repeats page 1 and cursor=true "
                "gives no next cursor"
            )
        self._pager.learn(self._source, PagingMode.CURSOR)
        return Page([], None, envelope=False)  # the first page was the whole listing

    def _first_page(self) -> Page:
        mode = self._pager.mode(self._source)
        if mode is PagingMode.LEGACY:
            return self._get(self._query(page=1))
        try:
            return self._get(self._query(cursor="true"))
        except ApiError as err:
            if mode is not None or err.status not in _CURSOR_REFUSED_STATUSES:
                raise
            status = err.status
        log.warning(
            "%s refused cursor=true (HTTP %s); listing %s with page/per_page instead",
            self._path,
            status,
            self._source,
        )
        self._pager.learn(self._source, PagingMode.LEGACY)
        return self._get(self._query(page=1))

    def _query(self, **paging: str | int) -> dict[str, str | int]:
        return {**self._params, "per_page": self._pager.per_page, **paging}

    def _get(self, query: Mapping[str, str | int]) -> Page:
        return read_page(self._pager.fetch(self._path, query), self._path)

    def _error(self, what: str) -> BadResponseError:
        return BadResponseError(f"{self._path} {what}", endpoint=self._path)
