"""The listing reader every client shares: parsing, skipped rows, the page cap, warnings."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest

from kb4_exporter.api.errors import BadResponseError
from kb4_exporter.api.listing import ListingReader
from kb4_exporter.model.parsing import RecordError

LOGGER = "tests.listing"


def number(row: Any) -> int:
    if not isinstance(row, int) or isinstance(row, bool):
        raise RecordError(f"row is {type(row).__name__}, expected a number")
    return row


class Pages:
    """Serves `pages` to a reader, one per call, and counts the calls."""

    def __init__(self, reader: ListingReader[int], pages: Sequence[list[Any]]) -> None:
        self.reader = reader
        self.pages = pages
        self.read = 0

    def next_page(self) -> bool:
        self.reader.collect(self.pages[self.read])
        self.read += 1
        return self.read < len(self.pages)


def reader(max_pages: int | None = None, **options: Any) -> ListingReader[int]:
    return ListingReader(
        number, log=logging.getLogger(LOGGER), name="/v1/things", max_pages=max_pages, **options
    )


def test_every_page_is_read_into_one_listing() -> None:
    listing_reader = reader()
    pages = Pages(listing_reader, [[1, 2], [3], [4, 5]])

    listing = listing_reader.read(pages.next_page)

    assert listing.records == (1, 2, 3, 4, 5)
    assert (listing.truncated, listing.pages, listing.skipped) == (False, 3, 0)


def test_unusable_rows_are_counted_and_warned_about_once_with_the_first(
    caplog: pytest.LogCaptureFixture,
) -> None:
    listing_reader = reader()
    pages = Pages(listing_reader, [[1, "two", None], [4, [5]]])

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        listing = listing_reader.read(pages.next_page)

    assert (listing.records, listing.skipped) == ((1, 4), 3)
    [warning] = [r for r in caplog.records if r.name == LOGGER]
    assert warning.getMessage() == (
        "/v1/things: skipped 3 unusable record(s); the first: row is str, expected a number"
    )


def test_a_page_of_which_no_row_is_usable_fails_the_listing() -> None:
    # A garbled page is no page of records to skip: without it the listing is not complete.
    listing_reader = reader()
    pages = Pages(listing_reader, [[1, 2], [None, "three"], [4]])

    with pytest.raises(BadResponseError, match="/v1/things") as caught:
        listing_reader.read(pages.next_page)

    assert caught.value.reason == "bad_response"
    assert pages.read == 1


def test_an_empty_page_is_no_unusable_page() -> None:
    listing_reader = reader()
    pages = Pages(listing_reader, [[1], []])

    assert listing_reader.read(pages.next_page).records == (1,)


def test_the_cap_stops_before_the_page_after_it_and_says_what_to_raise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    listing_reader = reader(max_pages=2, cap_advice="; raise page_caps.things")
    pages = Pages(listing_reader, [[1], [2], [3], [4]])

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        listing = listing_reader.read(pages.next_page)

    assert pages.read == 2
    assert (listing.records, listing.truncated, listing.pages) == ((1, 2), True, 2)
    [warning] = [r for r in caplog.records if r.name == LOGGER]
    assert warning.getMessage() == (
        "/v1/things: stopped at the page cap of 2 pages; the listing is incomplete; "
        "raise page_caps.things"
    )


def test_a_listing_that_ends_at_the_cap_is_complete(caplog: pytest.LogCaptureFixture) -> None:
    listing_reader = reader(max_pages=2)
    pages = Pages(listing_reader, [[1], [2]])

    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        listing = listing_reader.read(pages.next_page)

    assert (listing.truncated, listing.pages) == (False, 2)
    assert [r for r in caplog.records if r.name == LOGGER] == []


def test_a_sink_gets_the_records_instead_of_the_listing() -> None:
    kept: list[int] = []
    listing_reader = reader(sink=kept.append)
    pages = Pages(listing_reader, [[1, "x"], [2]])

    listing = listing_reader.read(pages.next_page)

    assert kept == [1, 2]
    assert (listing.records, listing.pages, listing.skipped) == ((), 2, 1)


def test_parse_and_keep_let_a_client_choose_which_records_to_keep() -> None:
    listing_reader = reader()

    def even_only() -> bool:
        parsed = listing_reader.parse([1, 2, "x", 4])
        listing_reader.keep(n for n in parsed if n % 2 == 0)
        return False

    listing = listing_reader.read(even_only)

    assert (listing.records, listing.skipped) == ((2, 4), 1)


def test_an_error_that_is_not_about_one_row_ends_the_listing() -> None:
    def broken() -> bool:
        raise ValueError("the page is not a list")

    with pytest.raises(ValueError, match="not a list"):
        reader().read(broken)


@pytest.mark.parametrize("max_pages", [0, -1])
def test_a_cap_below_one_page_is_refused(max_pages: int) -> None:
    with pytest.raises(ValueError, match="max_pages"):
        reader(max_pages=max_pages)
