"""Checks of single setting values (numbers, durations, URLs, paths, the listen address).

Each check adds what is wrong to `Problems` and returns a value to go on with, so one
bad value never hides the next.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kb4_exporter.config.durations import format_duration, parse_duration
from kb4_exporter.config.problems import Problems
from kb4_exporter.config.settings import MAX_DURATION_SECONDS

MAX_PORT = 65535


def positive_float(value: Any, what: str, where: str, problems: Problems) -> float | None:
    """The finite number > 0 in `value` (text or YAML), or None with the problem added."""
    return _positive_number(value, what, where, problems, whole=False)


def positive_int(value: Any, what: str, where: str, problems: Problems) -> int | None:
    """The whole number > 0 in `value` ("50.0" is 50), or None with the problem added."""
    number = _positive_number(value, what, where, problems, whole=True)
    return None if number is None else int(number)


def _positive_number(
    value: Any, what: str, where: str, problems: Problems, *, whole: bool
) -> float | None:
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    # NaN and infinity parse as floats but no limiter or budget can use them.
    if not math.isfinite(number) or (whole and not number.is_integer()):
        problems.add(f"{where}: {what} {value!r} is not a {'whole' if whole else 'finite'} number")
        return None
    if number <= 0:
        problems.add(f"{where}: {what} must be greater than 0, got {value!r}")
        return None
    return number


def http_url(text: str, what: str, problems: Problems) -> str:
    """`text` without a bare trailing slash; a problem unless it is an http(s) URL."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems.add(f"{what} {text!r} must be an http:// or https:// URL")
    return text.rstrip("/") if parts.path in ("", "/") else text


def duration(text: str | None, default: float, flag: str, problems: Problems) -> float:
    """Seconds in `text`, or `default` when it is unset or unusable."""
    if not text:
        return default
    try:
        seconds = parse_duration(text)
    except ValueError as err:
        problems.add(f"{flag}: {err}")
        return default
    if seconds <= 0:
        problems.add(f"{flag}: must be greater than 0")
    elif seconds > MAX_DURATION_SECONDS:
        # Longer is a typo, and would overflow date arithmetic and thread waits.
        problems.add(f"{flag}: must be at most {format_duration(MAX_DURATION_SECONDS)}")
        return default
    return seconds


def series_cap(text: str | None, default: int, flag: str, problems: Problems) -> int:
    if text in (None, ""):
        return default
    number = positive_int(text, "series cap", flag, problems)
    return default if number is None else number


def remedial_pattern(
    text: str | None, default: re.Pattern[str], problems: Problems
) -> re.Pattern[str]:
    """The case-insensitive regex of --kri.remedial-pattern."""
    if not text:
        return default
    try:
        return re.compile(text, re.IGNORECASE)
    except re.error as err:
        problems.add(f"--kri.remedial-pattern {text!r}: not a valid regular expression ({err})")
        return default


def choice(value: str, choices: tuple[str, ...], flag: str, problems: Problems) -> str:
    lowered = value.lower()
    if lowered not in choices:
        problems.add(f"{flag}: {value!r} is not one of {', '.join(choices)}")
    return lowered


def state_dir(text: str | None, problems: Problems) -> str | None:
    # Checked now: a state file that cannot be written is otherwise found only after the
    # first refresh, and `once` would still succeed.
    if not text:
        return None
    problem = _directory_problem(Path(text), may_create=True)
    if problem:
        problems.add(f"--state.dir {text}: {problem}")
    return text


def textfile(text: str | None, problems: Problems) -> str | None:
    # Checked now, not after a refresh that may take minutes and spend API budget.
    if not text:
        return None
    path = Path(text)
    if path.is_dir():
        problems.add(f"--textfile {text}: is a directory")
        return text
    problem = _directory_problem(path.parent, may_create=False)
    if problem:
        problems.add(f"--textfile {text}: its directory {path.parent} {problem}")
    return text


def _directory_problem(path: Path, *, may_create: bool) -> str | None:
    """Why files cannot be written in directory `path`, or None."""
    if path.exists():
        if not path.is_dir():
            return "is not a directory"
        if not os.access(path, os.W_OK | os.X_OK):
            return "is not writable by this user"
        return None
    if not may_create:
        return "does not exist"
    ancestor = next(parent for parent in path.absolute().parents if parent.exists())
    if not ancestor.is_dir():
        return f"cannot be created: {ancestor} is not a directory"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"cannot be created: {ancestor} is not writable by this user"
    return None


def listen_address(text: str, problems: Problems) -> str:
    try:
        split_listen_address(text)
    except ValueError as err:
        problems.add(f"--web.listen-address: {err}")
    return text


def split_listen_address(text: str) -> tuple[str, int]:
    """':9897' -> ('', 9897); '[::1]:9897' -> ('::1', 9897); raises ValueError."""
    host, sep, port_text = text.rpartition(":")
    # isascii: str.isdigit() also accepts digits such as "²" that int() refuses.
    if not sep or not (port_text.isascii() and port_text.isdigit()):
        raise ValueError(f"{text!r} must be host:port, e.g. :9897 or 127.0.0.1:9897")
    if int(port_text) > MAX_PORT:
        raise ValueError(f"{text!r}: port {port_text} is out of range (0-{MAX_PORT})")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{text!r}: {host!r} is not an IPv6 address") from None
    elif any(ch in "[]:" or ch.isspace() for ch in host):
        raise ValueError(f"{text!r}: bad host {host!r} (write an IPv6 address as [::1]:9897)")
    return host, int(port_text)
