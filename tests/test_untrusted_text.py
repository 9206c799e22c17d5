"""clean_text: what a string from the network may keep on its way to a label value."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kb4_exporter.model.parsing import read_str
from kb4_exporter.model.untrusted_text import MAX_TEXT_CHARS, REPLACEMENT, clean_text


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Sales", "Sales"),
        ("Ventes & marketing, Zürich 🚀", "Ventes & marketing, Zürich 🚀"),
        ("a\ud800b", f"a{REPLACEMENT}b"),
        ("\udfff", REPLACEMENT),
        ("nul\x00here", f"nul{REPLACEMENT}here"),
        ("\x1b[31mred", f"{REPLACEMENT}[31mred"),
        ("del\x7f c1\x85", f"del{REPLACEMENT} c1{REPLACEMENT}"),
        ("two\nlines\r\ttab", "two lines  tab"),
        # Not controls: kept as they are (printable UTF-8, nothing to escape).
        ("nbsp\u00a0zwsp\u200b", "nbsp\u00a0zwsp\u200b"),
    ],
)
def test_replaces_controls_and_lone_surrogates(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


def test_cuts_long_text() -> None:
    cut = clean_text("x" * 10_000)
    assert len(cut) == MAX_TEXT_CHARS
    assert cut.endswith("\u2026")
    assert clean_text("y" * MAX_TEXT_CHARS) == "y" * MAX_TEXT_CHARS


# Any code point, with the hostile ones drawn often (they are rare among all code points).
HOSTILE_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(exclude_categories=()),
        st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff", "\x00", "\x1b", "\x85", "\n"]),
    ),
    max_size=400,
)


@given(HOSTILE_TEXT)
def test_any_text_comes_out_encodable_and_without_controls(raw: str) -> None:
    clean = clean_text(raw)
    clean.encode("utf-8")
    assert not any(unicodedata.category(ch) in ("Cc", "Cs") for ch in clean)
    assert len(clean) <= MAX_TEXT_CHARS
    assert clean_text(clean) == clean


def test_every_api_string_is_cleaned() -> None:
    assert read_str("Sales\ud800\x00") == f"Sales{REPLACEMENT}{REPLACEMENT}"
    assert read_str(42) is None
