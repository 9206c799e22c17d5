"""One record <-> its JSON values: the type, range and text checks applied on load."""

from __future__ import annotations

from typing import Any

import pytest

from kb4_exporter.model.reporting import Account, Group, SecurityTest, User
from kb4_exporter.persistence.record_codec import (
    StateCorruptError,
    decode_record,
    encode_record,
    is_count,
    matches,
)


def test_a_record_encodes_as_its_field_values_in_order() -> None:
    test = SecurityTest(7, None, "PST", "Closed", 2.0, None, 25.0, {"clicked": 1})
    assert encode_record(test) == [7, None, "PST", "Closed", 2.0, None, 25.0, {"clicked": 1}]
    user = User(1, None, None, (200, 100), None, "active")
    assert encode_record(user) == [1, None, None, [200, 100], None, "active"]


def test_decoding_gives_back_the_encoded_record() -> None:
    user = User(1, 10.0, 20.0, (100, 200), 1.0, "active")
    assert decode_record(User, encode_record(user), "user") == user


def test_strings_are_cleaned_as_the_api_parsers_clean_them() -> None:
    account = decode_record(Account, ["Acme\nCorp\x00", None, None, None], "account")
    assert "\n" not in account.name and "\x00" not in account.name


@pytest.mark.parametrize("value", [1e400, float("nan"), float("inf"), 10**400, True], ids=repr)
def test_numbers_that_are_no_finite_float_are_no_number(value: Any) -> None:
    assert not matches(value, "float | None")
    assert not matches(value, "int")


def test_the_declared_type_spellings_are_checked() -> None:
    assert matches(None, "float | None") and not matches(None, "float")
    assert matches(3, "float") and not matches(3.5, "int")
    assert matches([1, 2], "tuple[int, ...]") and not matches([1, "2"], "tuple[int, ...]")
    assert matches({"clicked": 1}, "Mapping[str, int]")
    assert not matches({"clicked": 1.5}, "Mapping[str, int]")
    assert not matches("x", "bool") and matches(False, "bool")


def test_values_out_of_the_api_parsers_range_are_refused() -> None:
    with pytest.raises(StateCorruptError, match=r"group\.member_count is out of range"):
        decode_record(Group, [1, "Sales", -1, None, "active"], "group")
    with pytest.raises(StateCorruptError, match=r"user\.risk_score is out of range"):
        decode_record(User, [1, None, 1e300, [], None, "active"], "user")
    with pytest.raises(StateCorruptError, match=r"user\.phish_prone_percentage is out of"):
        decode_record(User, [1, 250.0, None, [], None, "active"], "user")
    counts = [7, None, "PST", "Closed", None, None, None, {"clicked": -3}]
    with pytest.raises(StateCorruptError, match=r"security_test\.counts is out of range"):
        decode_record(SecurityTest, counts, "security_test")


def test_a_count_is_a_whole_number_in_range() -> None:
    assert is_count(0) and is_count(12)
    assert not is_count(-1) and not is_count(1.0) and not is_count("3") and not is_count(None)
