"""Logging set-up: logfmt or JSON lines on stderr, with every known token scrubbed.

Tokens are never passed to a logger on purpose; the scrubbing filter is a second line of
defence for text we do not control (e.g. a library's exception message).

A line about one KnowBe4 account carries it as its own `account` field: given by the
call (`extra={"account": name}`) or, for code that does not know the account (the API
clients), by the `account_context` the account's work runs in.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from kb4_exporter.api.redaction import MIN_REDACTED_PREFIX, redact
from kb4_exporter.api.redaction import REDACTED as REDACTED  # re-exported: the scrubbed marker

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Remember a token so it is scrubbed from every log line from now on.

    Shorter values are not tokens (e.g. "true") and scrubbing them would mangle lines.
    """
    if len(value) >= MIN_REDACTED_PREFIX:
        with _secrets_lock:
            _secrets.add(value)


def scrub(text: str) -> str:
    """`text` with every registered token redacted, whole copies and cut-off ones alike."""
    with _secrets_lock:
        known = tuple(_secrets)
    return redact(text, known)


class WarnOnce:
    """Logs a warning the first time its key comes up, then keeps quiet about that key.

    For a problem found again on every use (a token file others can read is re-read for
    every request). The owner decides what "once" spans, so a test that makes its own
    starts afresh. At most `max_keys` keys are remembered: keys drawn from untrusted text
    cannot grow memory, and a warning past that limit is not logged.
    """

    def __init__(self, logger: logging.Logger, max_keys: int = 1000) -> None:
        self._logger = logger
        self._max_keys = max_keys
        self._seen: set[Hashable] = set()
        self._lock = threading.Lock()

    def warning(self, key: Hashable, message: str, *args: object) -> None:
        with self._lock:
            if key in self._seen or len(self._seen) >= self._max_keys:
                return
            self._seen.add(key)
        self._logger.warning(message, *args)


_current_account: ContextVar[str | None] = ContextVar("kb4_log_account", default=None)


@contextmanager
def account_context(name: str) -> Iterator[None]:
    """Lines logged inside, in this thread, carry `account=name` unless they name one."""
    token = _current_account.set(name)
    try:
        yield
    finally:
        _current_account.reset(token)


class _AccountFilter(logging.Filter):
    """Stamps a record with the account of the context it was logged in."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "account", None) is None:
            record.account = _current_account.get()
        return True


# The names of --log.level; Python calls WARNING and CRITICAL what they call warn and error.
_LEVEL_NAMES = {"WARNING": "warn", "CRITICAL": "error"}


class _ScrubbingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        # Fields are scrubbed before rendering (escaping could hide a token from the
        # scrubber) and the line once more after.
        return scrub(self.render(record))

    def render(self, record: logging.LogRecord) -> str:
        raise NotImplementedError

    def _fields(self, record: logging.LogRecord) -> dict[str, str]:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
        fields = {
            "ts": stamp[:-3] + "Z",
            "level": _LEVEL_NAMES.get(record.levelname, record.levelname.lower()),
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        account = getattr(record, "account", None)
        if account is not None:
            fields["account"] = scrub(str(account))
        if record.exc_info:
            fields["exc"] = scrub(self.formatException(record.exc_info))
        return fields


class LogfmtFormatter(_ScrubbingFormatter):
    def render(self, record: logging.LogRecord) -> str:
        return " ".join(
            f"{key}={_logfmt_value(value)}" for key, value in self._fields(record).items()
        )


class JsonFormatter(_ScrubbingFormatter):
    def render(self, record: logging.LogRecord) -> str:
        return json.dumps(self._fields(record))


_LOGFMT_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def _logfmt_value(value: str) -> str:
    if value and not any(ch in value for ch in ' "=\n\r\t'):
        return value
    # \r and \t are escaped too so one record is always one plain line.
    return '"' + value.translate(_LOGFMT_ESCAPES) + '"'


def setup_logging(level: str = "info", log_format: str = "logfmt") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else LogfmtFormatter())
    handler.addFilter(_AccountFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel("WARNING" if level == "warn" else level.upper())
    # urllib3 logs full URLs at DEBUG; keep its chatter out of our debug output.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
