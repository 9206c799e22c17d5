"""One listing, read page by page: the part every KnowBe4 API client shares.

Each client walks its own pages (the Reporting API by cursor or `page`, see `paging.py`;
PhishER by GraphQL `page`/`pages`; the User Event API by `meta.next_page`) and hands each
page to a `ListingReader`. The reader parses rows into records page by page, so a raw
page is never held longer than it takes to parse it; counts the rows it cannot use;
stops at the operator's page cap; and says what it did once per listing, not once per
row (a bad export can have thousands), on the client's own logger.

A listing is complete or flagged `truncated`: only a page cap cuts one short; every
other failure raises. A page with rows of which not one is usable is such a failure: it
is a garbled page, not a page of records to skip, and a listing without its records is
not complete.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from kb4_exporter.api.errors import BadResponseError
from kb4_exporter.model.parsing import RecordError

T = TypeVar("T")

NextPage = Callable[[], bool]
"""Reads one more page into the reader; True when another page follows it."""


@dataclass(frozen=True)
class Listing(Generic[T]):
    """The records of one listing; `truncated` when a page cap cut it short."""

    records: tuple[T, ...]
    truncated: bool
    pages: int
    skipped: int = 0


class ListingReader(Generic[T]):
    """Reads one listing: its pages up to `max_pages` (None: no cap; the daily budget
    bounds it), each row through `parse`. With a `sink`, each record goes there instead
    of into the listing, whose records are then empty.

    `name` begins the warnings (the path, or the API); `cap_advice` ends the one about
    the page cap (what the cut costs and which cap to raise).
    """

    def __init__(
        self,
        parse: Callable[[Any], T],
        *,
        log: logging.Logger,
        name: str,
        max_pages: int | None = None,
        cap_advice: str = "",
        sink: Callable[[T], None] | None = None,
    ) -> None:
        if max_pages is not None and max_pages < 1:
            raise ValueError(f"max_pages must be at least 1, got {max_pages}")
        self._parse = parse
        self._log = log
        self._name = name
        self._max_pages = max_pages
        self._cap_advice = cap_advice
        self._records: list[T] = []
        self._keep = self._records.append if sink is None else sink
        self._skipped = 0
        self._first_skip: RecordError | None = None

    def parse(self, rows: Iterable[Any]) -> list[T]:
        """The records of one page's `rows`; a row `parse` refuses is counted as skipped,
        and a page of which `parse` refuses every row is a BadResponseError."""
        records: list[T] = []
        unusable = 0
        for row in rows:
            try:
                records.append(self._parse(row))
            except RecordError as err:
                unusable += 1
                self._first_skip = self._first_skip or err
        self._skipped += unusable
        if unusable and not records:
            raise BadResponseError(
                f"{self._name} returned a page of {unusable} row(s) of which none is a "
                "usable record",
                endpoint=self._name,
            )
        return records

    def keep(self, records: Iterable[T]) -> None:
        """Add `records` to the listing (or hand them to the sink)."""
        for record in records:
            self._keep(record)

    def collect(self, rows: Iterable[Any]) -> None:
        """Parse one page's `rows` and keep every record."""
        self.keep(self.parse(rows))

    def read(self, next_page: NextPage) -> Listing[T]:
        """The listing of every page `next_page` reads, up to the page cap."""
        pages = 0
        more = True
        while more:
            if self._max_pages is not None and pages >= self._max_pages:
                return self._finish(pages, truncated=True)
            more = next_page()
            pages += 1
        return self._finish(pages, truncated=False)

    def _finish(self, pages: int, *, truncated: bool) -> Listing[T]:
        if truncated:
            self._log.warning(
                "%s: stopped at the page cap of %d pages; the listing is incomplete%s",
                self._name,
                self._max_pages,
                self._cap_advice,
            )
        if self._first_skip is not None:
            self._log.warning(
                "%s: skipped %d unusable record(s); the first: %s",
                self._name,
                self._skipped,
                self._first_skip,
            )
        return Listing(tuple(self._records), truncated, pages, self._skipped)
