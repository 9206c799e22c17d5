"""Command lines that run a module of this package in a fresh Python process.

The package is importable as `tests.benchmarks` (from the repository root) or as
`benchmarks` (pytest puts tests/ on the path); the child gets the same name and the
directory it is found in.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_PACKAGE = __package__ or "benchmarks"
_IMPORT_ROOT = Path(__file__).resolve().parents[len(_PACKAGE.split("."))]


def module_command(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", f"{_PACKAGE}.{module}", *args]


def child_environment() -> dict[str, str]:
    env = dict(os.environ)
    inherited = env.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(_IMPORT_ROOT), inherited)))
    return env
