"""Log formatting (logfmt, JSON), token scrubbing and logging set-up."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import kb4_fakes as fakes
import pytest
import requests_mock

from kb4_exporter import logs
from kb4_exporter.logs import (
    REDACTED,
    JsonFormatter,
    LogfmtFormatter,
    WarnOnce,
    register_secret,
    scrub,
    setup_logging,
)

SENTINEL = "kb4-sentinel-Zq7xV2pL9mW4"
# 2024-03-05T06:07:08.123Z
CREATED = datetime(2024, 3, 5, 6, 7, 8, 123_000, tzinfo=UTC).timestamp()


@pytest.fixture(autouse=True)
def isolated_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no registered secrets and leaves none behind."""
    monkeypatch.setattr(logs, "_secrets", set())


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """setup_logging rewires the root logger; put it back as pytest left it."""
    root = logging.getLogger()
    urllib3 = logging.getLogger("urllib3")
    handlers, level, urllib3_level = list(root.handlers), root.level, urllib3.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    urllib3.setLevel(urllib3_level)


def make_record(
    msg: str,
    *args: object,
    level: int = logging.INFO,
    exc_info: logging._SysExcInfoType | None = None,
) -> logging.LogRecord:
    record = logging.LogRecord("kb4_exporter.test", level, __file__, 1, msg, args, exc_info)
    record.created = CREATED
    return record


def failing_exc_info(message: str) -> logging._SysExcInfoType:
    try:
        raise RuntimeError(message)
    except RuntimeError:
        return sys.exc_info()


def test_logfmt_line_has_timestamp_level_logger_and_message() -> None:
    line = LogfmtFormatter().format(make_record("refresh %s done", "users", level=logging.WARNING))
    assert line == (
        'ts=2024-03-05T06:07:08.123Z level=warn logger=kb4_exporter.test msg="refresh users done"'
    )


@pytest.mark.parametrize(
    ("message", "rendered"),
    [
        ("plain", "msg=plain"),
        ("two words", 'msg="two words"'),
        ('say "hi"', r'msg="say \"hi\""'),
        ("key=value", 'msg="key=value"'),
        ("line one\nline two", r'msg="line one\nline two"'),
        ("carriage\rreturn", r'msg="carriage\rreturn"'),
        ("tab\there", r'msg="tab\there"'),
        ('back\\slash "q"', r'msg="back\\slash \"q\""'),
        ("", 'msg=""'),
    ],
)
def test_logfmt_quotes_and_escapes_values_so_each_record_is_one_line(
    message: str, rendered: str
) -> None:
    line = LogfmtFormatter().format(make_record("%s", message))
    assert line.endswith(" " + rendered)
    assert "\n" not in line
    assert "\r" not in line


def test_logfmt_appends_the_exception_as_one_quoted_field() -> None:
    line = LogfmtFormatter().format(make_record("boom", exc_info=failing_exc_info("bad thing")))
    assert "\n" not in line
    assert line.startswith("ts=2024-03-05T06:07:08.123Z level=info logger=kb4_exporter.test ")
    assert ' msg=boom exc="Traceback (most recent call last):\\n' in line
    assert line.endswith('RuntimeError: bad thing"')


def test_json_line_has_the_same_fields() -> None:
    line = JsonFormatter().format(make_record('quote " and\nnewline', level=logging.ERROR))
    assert "\n" not in line
    assert json.loads(line) == {
        "ts": "2024-03-05T06:07:08.123Z",
        "level": "error",
        "logger": "kb4_exporter.test",
        "msg": 'quote " and\nnewline',
    }


@pytest.mark.parametrize(
    ("level", "name"),
    [
        (logging.DEBUG, "debug"),
        (logging.INFO, "info"),
        (logging.WARNING, "warn"),
        (logging.ERROR, "error"),
        (logging.CRITICAL, "error"),
    ],
)
def test_levels_are_named_as_log_level_names_them(level: int, name: str) -> None:
    # --log.level takes debug, info, warn, error: the lines use the same names.
    assert json.loads(JsonFormatter().format(make_record("x", level=level)))["level"] == name


def test_account_is_its_own_field_after_the_message() -> None:
    record = make_record("source=users reason=auth: denied")
    record.account = "acme"
    line = LogfmtFormatter().format(record)
    assert line.endswith(' msg="source=users reason=auth: denied" account=acme')
    assert json.loads(JsonFormatter().format(record))["account"] == "acme"


def test_a_line_about_no_account_has_no_account_field() -> None:
    assert "account" not in json.loads(JsonFormatter().format(make_record("listening")))


@pytest.mark.usefixtures("restored_logging")
def test_lines_logged_in_an_account_context_carry_its_account(
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup_logging("info", "json")
    log = logging.getLogger("kb4_exporter.test")
    with logs.account_context("acme"):
        log.info("from the API client, which does not know the account")
        log.info("named by the caller", extra={"account": "globex"})
    log.info("outside")
    accounts = [json.loads(line).get("account") for line in capsys.readouterr().err.splitlines()]
    assert accounts == ["acme", "globex", None]


@pytest.mark.usefixtures("restored_logging")
def test_a_429_back_off_is_logged_at_info_with_its_wait_and_account(
    capsys: pytest.CaptureFixture[str], requests_mock: requests_mock.Mocker
) -> None:
    url = f"{fakes.BASE_URL}/v1/account"
    requests_mock.get(
        url, [{"status_code": 429, "headers": {"Retry-After": "44"}}, {"json": {"ok": True}}]
    )
    setup_logging("info", "json")
    session = fakes.unpaced_session("reporting", fakes.BASE_URL, fakes.REPORTING_TOKEN)
    with logs.account_context("acme"):
        assert session.get_json("/v1/account") == {"ok": True}
    (line,) = capsys.readouterr().err.splitlines()
    fields = json.loads(line)
    assert (fields["level"], fields["account"]) == ("info", "acme")
    assert "HTTP 429" in fields["msg"] and fields["msg"].endswith("retry 1 of 4 in 44.0 s")


def test_json_includes_the_exception_text() -> None:
    line = JsonFormatter().format(make_record("boom", exc_info=failing_exc_info("bad thing")))
    fields = json.loads(line)
    assert fields["msg"] == "boom"
    assert fields["exc"].startswith("Traceback (most recent call last):\n")
    assert fields["exc"].endswith("RuntimeError: bad thing")


def test_scrub_replaces_every_occurrence_of_a_registered_secret() -> None:
    register_secret(SENTINEL)
    assert scrub(f"a {SENTINEL} b {SENTINEL}") == f"a {REDACTED} b {REDACTED}"
    assert scrub("nothing to hide") == "nothing to hide"


def test_values_too_short_to_be_tokens_are_not_registered() -> None:
    # Scrubbing a short string such as "true" would mangle ordinary log lines.
    register_secret("true")
    register_secret("")
    assert scrub("flag=true") == "flag=true"


def test_overlapping_secrets_are_scrubbed_whole() -> None:
    # Many nested prefixes, so no lucky registration order can hide a shortest-first bug.
    longest = SENTINEL + "-rotated-suffix-0123456789"
    nested = [longest[:length] for length in range(len(SENTINEL), len(longest) + 1)]
    for secret in nested:
        register_secret(secret)
    scrubbed = scrub(f"old {SENTINEL} new {longest}")
    assert scrubbed == f"old {REDACTED} new {REDACTED}"


@pytest.mark.parametrize("formatter", [LogfmtFormatter(), JsonFormatter()], ids=["logfmt", "json"])
def test_registered_secret_is_scrubbed_from_message_and_exception_text(
    formatter: logging.Formatter,
) -> None:
    register_secret(SENTINEL)
    record = make_record(
        "GET %s failed",
        f"https://example.test/?token={SENTINEL}",
        exc_info=failing_exc_info(f"401 for Authorization: Bearer {SENTINEL}"),
    )
    line = formatter.format(record)
    assert SENTINEL not in line
    assert line.count(REDACTED) == 2


@pytest.mark.parametrize("formatter", [LogfmtFormatter(), JsonFormatter()], ids=["logfmt", "json"])
def test_secret_with_characters_that_formats_escape_is_still_scrubbed(
    formatter: logging.Formatter,
) -> None:
    # Escaping (\" in logfmt, \uXXXX in JSON) must not hide the token from the scrubber.
    secret = 'tok"en\\é-Zq7xV2pL9mW4'
    register_secret(secret)
    line = formatter.format(make_record("token is %s", secret))
    assert "Zq7xV2pL9mW4" not in line
    assert REDACTED in line


def warned(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "kb4_exporter.test.once"]


def test_warn_once_logs_each_key_the_first_time_only(caplog: pytest.LogCaptureFixture) -> None:
    once = WarnOnce(logging.getLogger("kb4_exporter.test.once"))
    with caplog.at_level(logging.WARNING, logger="kb4_exporter.test.once"):
        for key in ("a", "b", "a", "b", "a"):
            once.warning(key, "bad %s", key)
    assert warned(caplog) == ["bad a", "bad b"]
    assert all(r.levelno == logging.WARNING for r in caplog.records)


def test_warn_once_remembers_for_its_owner_only(caplog: pytest.LogCaptureFixture) -> None:
    # What one owner (one test, one configuration) was told does not silence another.
    logger = logging.getLogger("kb4_exporter.test.once")
    with caplog.at_level(logging.WARNING, logger="kb4_exporter.test.once"):
        for _ in range(2):
            once = WarnOnce(logger)
            once.warning("same", "told %s", "same")
            once.warning("same", "told %s", "same")
    assert warned(caplog) == ["told same", "told same"]


def test_warn_once_remembers_at_most_max_keys(caplog: pytest.LogCaptureFixture) -> None:
    once = WarnOnce(logging.getLogger("kb4_exporter.test.once"), max_keys=2)
    with caplog.at_level(logging.WARNING, logger="kb4_exporter.test.once"):
        for key in ("a", "b", "c", "a", "d"):
            once.warning(key, "key %s", key)
    assert warned(caplog) == ["key a", "key b"]


def test_unregistered_text_passes_through_unchanged() -> None:
    line = LogfmtFormatter().format(make_record("%s", SENTINEL))
    assert line.endswith(f"msg={SENTINEL}")


@pytest.mark.usefixtures("restored_logging")
@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("debug", logging.DEBUG),
        ("info", logging.INFO),
        ("warn", logging.WARNING),
        ("warning", logging.WARNING),
        ("error", logging.ERROR),
    ],
)
def test_setup_logging_sets_the_root_level(level: str, expected: int) -> None:
    setup_logging(level, "logfmt")
    assert logging.getLogger().level == expected


@pytest.mark.usefixtures("restored_logging")
@pytest.mark.parametrize(
    ("log_format", "formatter_type"), [("logfmt", LogfmtFormatter), ("json", JsonFormatter)]
)
def test_setup_logging_installs_one_stderr_handler_with_the_chosen_format(
    log_format: str, formatter_type: type[logging.Formatter]
) -> None:
    root = logging.getLogger()
    root.addHandler(logging.NullHandler())
    setup_logging("info", log_format)
    setup_logging("info", log_format)
    assert len(root.handlers) == 1
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    assert handler.stream is sys.stderr
    assert isinstance(handler.formatter, formatter_type)


@pytest.mark.usefixtures("restored_logging")
def test_setup_logging_writes_scrubbed_json_lines_to_stderr_at_the_chosen_level(
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup_logging("warn", "json")
    register_secret(SENTINEL)
    log = logging.getLogger("kb4_exporter.test")
    log.info("hidden at warn level")
    log.warning("token %s leaked", SENTINEL)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    fields = json.loads(lines[0])
    assert fields["level"] == "warn"
    assert fields["msg"] == f"token {REDACTED} leaked"


@pytest.mark.usefixtures("restored_logging")
def test_setup_logging_keeps_urllib3_debug_chatter_out() -> None:
    setup_logging("debug", "logfmt")
    assert logging.getLogger("urllib3").getEffectiveLevel() == logging.WARNING
