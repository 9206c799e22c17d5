"""Deterministic, random-access pseudo-random numbers for the org generator.

Every generated value is a pure function of a key (the seed plus the ids of the thing
being generated) and a slot number, so any row of any listing can be built on demand
without generating the rows before it. That is what lets a 25k-user org serve
hundreds of thousands of recipients and enrollments without holding them in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_TWO_POW_64 = float(1 << 64)


def mix64(value: int) -> int:
    """The splitmix64 finaliser: a fast 64-bit integer hash with good avalanche."""
    value = (value + _GOLDEN) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


_PART_MULTIPLIER = 0xD6E8FEB86659FD93


class Dice:
    """Independent uniform draws for one generated thing, addressed by slot number."""

    __slots__ = ("_key",)

    def __init__(self, *parts: int) -> None:
        # A polynomial over the parts, then one mix: generating hundreds of thousands
        # of rows makes this constructor hot.
        key = 0
        for part in parts:
            key = (key * _PART_MULTIPLIER + part) & _MASK64
        self._key = mix64(key)

    def bits(self, slot: int) -> int:
        """64 uniform random bits."""
        # mix64 inlined: this is the generator's innermost call.
        value = ((self._key ^ ((slot * _GOLDEN) & _MASK64)) + _GOLDEN) & _MASK64
        value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
        return value ^ (value >> 31)

    def unit(self, slot: int) -> float:
        """A uniform float in [0, 1)."""
        return self.bits(slot) / _TWO_POW_64

    def quad(self, slot: int) -> tuple[float, float, float, float]:
        """Four uniform floats in [0, 1) with 16-bit resolution, from one hash.

        For the hottest rows (recipients), where precision to 1/65536 is plenty.
        """
        value = self.bits(slot)
        return (
            (value & 0xFFFF) / 65536.0,
            ((value >> 16) & 0xFFFF) / 65536.0,
            ((value >> 32) & 0xFFFF) / 65536.0,
            (value >> 48) / 65536.0,
        )

    def chance(self, slot: int, probability: float) -> bool:
        return self.unit(slot) < probability

    def below(self, slot: int, bound: int) -> int:
        """A uniform int in [0, bound)."""
        return int(self.unit(slot) * bound)

    def between(self, slot: int, low: float, high: float) -> float:
        return low + (high - low) * self.unit(slot)

    def pick(self, slot: int, choices: Sequence[T]) -> T:
        return choices[self.below(slot, len(choices))]

    def uuid(self) -> str:
        """A version-4-shaped UUID from slots 0-3."""
        digits = "".join(f"{int(self.unit(slot) * (1 << 32)):08x}" for slot in range(4))
        return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-8{digits[17:20]}-{digits[20:32]}"

    def weighted(self, slot: int, choices: Sequence[T], weights: Sequence[float]) -> T:
        point = self.unit(slot) * sum(weights)
        for choice, weight in zip(choices, weights, strict=True):
            point -= weight
            if point < 0:
                return choice
        return choices[-1]
