"""Reading sections of a parsed web config file while noting every problem found.

The web config is validated as a whole: each check notes what is wrong and goes on,
so one error lists every problem at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class SectionReader:
    """The problems found so far, and the checks that every section uses."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, message: str) -> None:
        self.problems.append(message)

    def mapping(self, raw: Any, where: str) -> Mapping[str, Any]:
        """`raw` as a mapping; an absent section is an empty one."""
        if raw is None:
            return {}
        if not isinstance(raw, Mapping):
            self.problem(f"{where}: must be a mapping")
            return {}
        return raw

    def unknown_keys(self, section: Mapping[str, Any], known: Iterable[str], prefix: str) -> None:
        allowed = set(known)
        for key in section:
            if key not in allowed:
                self.problem(f"{prefix}{key}: unknown key")

    def boolean(self, section: Mapping[str, Any], key: str, *, default: bool, where: str) -> bool:
        raw = section.get(key, default)
        if not isinstance(raw, bool):
            self.problem(f"{where}.{key}: must be true or false")
            return default
        return raw


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (YAML and OpenSSL messages span several)."""
    return " ".join(str(exc).split())
