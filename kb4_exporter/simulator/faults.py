"""Injected failures: what goes wrong, on which paths, how many times.

Kinds:
- status: answer `status` (default 503) with a JSON error body; with `retry_after`,
  also send that Retry-After header (so `status` 429 without it is a bare 429);
- retry_after: 429 with Retry-After (`retry_after`, default "1");
- timeout: hold the request for `hold_seconds` (released at once by stop()), then
  answer normally; a client with a shorter timeout sees a timeout;
- reset: close the connection with a TCP reset, no response;
- malformed_json: the real response, cut off half-way (truncated JSON);
- html_200: 200 with an HTML page instead of JSON;
- wrong_shape: the real response in the wrong shape: an object where a list is
  expected (`{"items": [...]}`), a list where an object is expected;
- repeat_page: every page (any page number or cursor) answers the first page, so a
  listing never ends.
`status`, `retry_after`, `reset` and `html_200` answer before authentication and
pacing; the others change a normally processed response. A fault applies to requests
whose path starts with `path_prefix`, `count` times (None: forever); when several
match, the first listed with uses left wins.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

KINDS = (
    "status",
    "retry_after",
    "timeout",
    "reset",
    "malformed_json",
    "html_200",
    "wrong_shape",
    "repeat_page",
)
# Kinds that take the place of the response, before auth and pacing.
ANSWERING_KINDS = frozenset({"status", "retry_after", "reset", "html_200"})
MAX_HOLD_SECONDS = 600.0


@dataclass(frozen=True)
class Fault:
    kind: str
    path_prefix: str = ""
    count: int | None = None
    status: int = 503
    retry_after: str | None = None
    hold_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(KINDS)}")
        if self.count is not None and self.count < 0:
            raise ValueError("fault count cannot be negative")
        if not 100 <= self.status <= 599:
            raise ValueError(f"fault status {self.status} is not an HTTP status")
        if not 0 <= self.hold_seconds <= MAX_HOLD_SECONDS:
            raise ValueError(f"hold_seconds must be within 0..{MAX_HOLD_SECONDS:g}")

    @classmethod
    def parse(cls, text: str) -> Fault:
        """`KIND[:ARG]:[PATH_PREFIX[:COUNT]]`, e.g. `status:503:/v1/users:3`.

        ARG is the status for `status`, the Retry-After value for `retry_after`, the
        hold in seconds for `timeout`; other kinds take no ARG. An empty or `*` COUNT
        means forever.
        """
        kind, *rest = text.split(":")
        status, retry_after, hold_seconds = 503, None, 30.0
        try:
            if kind in ("status", "retry_after", "timeout") and rest:
                arg = rest.pop(0)
                if arg and kind == "status":
                    status = int(arg)
                elif arg and kind == "retry_after":
                    retry_after = arg
                elif arg:
                    hold_seconds = float(arg)
            if len(rest) > 2:
                raise ValueError("too many ':' parts")
            prefix = rest[0] if rest else ""
            count = int(rest[1]) if len(rest) == 2 and rest[1] not in ("", "*") else None
            return cls(
                kind,
                path_prefix=prefix,
                count=count,
                status=status,
                retry_after=retry_after,
                hold_seconds=hold_seconds,
            )
        except ValueError as error:
            raise ValueError(f"bad fault {text!r}: {error}") from None

    def matches(self, path: str) -> bool:
        return path.startswith(self.path_prefix)


class FaultBook:
    """The active faults and how many uses each has left. Thread-safe."""

    def __init__(self, faults: Sequence[Fault] = ()) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._left: list[int | None] = []
        self.replace(faults)

    def replace(self, faults: Sequence[Fault]) -> None:
        with self._lock:
            self._faults = list(faults)
            self._left = [fault.count for fault in faults]

    def take(self, path: str) -> Fault | None:
        """The fault to apply to a request for `path`, using up one of its uses."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                left = self._left[index]
                if fault.matches(path) and (left is None or left > 0):
                    if left is not None:
                        self._left[index] = left - 1
                    return fault
            return None

    def uses_left(self) -> list[int | None]:
        with self._lock:
            return list(self._left)
