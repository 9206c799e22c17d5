"""Configuration problems: collected while the settings are built, reported together."""

from __future__ import annotations


class ConfigError(Exception):
    """One or more configuration problems; `problems` lists them all."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


class Problems:
    """The problems found so far, in the order found: every check adds to one list, so a
    user fixes the whole configuration in one go instead of one error per run."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)

    def __len__(self) -> int:
        return len(self.items)

    def raise_any(self) -> None:
        if self.items:
            raise ConfigError(self.items)
