"""Tokens from files and environment variables: reading, rotation, errors, redaction."""

from __future__ import annotations

import logging
import os
import string
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import kb4_fakes as fakes
import pytest
import requests_mock
from hypothesis import given
from hypothesis import strategies as st

from kb4_exporter.api.errors import AuthError
from kb4_exporter.api.redaction import MIN_REDACTED_PREFIX, MIN_REDACTED_RUN, REDACTED, redact
from kb4_exporter.config.secrets import Secret, SecretError, TokenSources

SENTINEL = "kb4-sentinel-Zq7xV2pL9mW4"


def token_file(tmp_path: Path, text: str, mode: int = 0o600, name: str = "token") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def read_error(secret: Secret) -> str:
    with pytest.raises(SecretError) as caught:
        secret.read()
    return str(caught.value)


def test_file_token_is_read_without_surrounding_whitespace(tmp_path: Path) -> None:
    path = token_file(tmp_path, f"  {SENTINEL}\n\n")
    assert Secret("file", str(path)).read() == SENTINEL


def test_file_is_read_again_on_every_use_so_a_rotated_token_takes_effect(
    tmp_path: Path,
) -> None:
    path = token_file(tmp_path, "first-token-value\n")
    secret = Secret("file", str(path))
    assert secret.read() == "first-token-value"
    path.write_text("second-token-value\n", encoding="utf-8")
    assert secret.read() == "second-token-value"


def test_env_token_is_read_from_the_given_mapping() -> None:
    secret = Secret("env", "ACME_TOKEN", {"ACME_TOKEN": f" {SENTINEL} "})
    assert secret.read() == SENTINEL


def test_env_token_without_a_mapping_reads_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KB4_TEST_SECRET_TOKEN", SENTINEL)
    assert Secret("env", "KB4_TEST_SECRET_TOKEN").read() == SENTINEL


@pytest.mark.parametrize("environ", [{}, {"ACME_TOKEN": ""}, {"ACME_TOKEN": "  \n"}])
def test_unset_or_blank_env_token_is_an_error_naming_the_variable(
    environ: dict[str, str],
) -> None:
    secret = Secret("env", "ACME_TOKEN", environ)
    assert read_error(secret) == "environment variable ACME_TOKEN is empty or unset"
    assert secret.problem() == "environment variable ACME_TOKEN is empty or unset"


def test_inline_demo_token_reads_back_its_value() -> None:
    assert Secret.inline(SENTINEL).read() == SENTINEL


@pytest.mark.parametrize("text", ["", "\n", "   \n\t"])
def test_empty_token_file_is_an_error(tmp_path: Path, text: str) -> None:
    path = token_file(tmp_path, text)
    assert read_error(Secret("file", str(path))) == f"token file {path} is empty"


@pytest.mark.parametrize("text", [f"Bearer {SENTINEL}\n", f"{SENTINEL}\nsecond-line\n"])
def test_token_file_with_two_words_is_an_error_that_does_not_echo_them(
    tmp_path: Path, text: str
) -> None:
    path = token_file(tmp_path, text)
    message = read_error(Secret("file", str(path)))
    assert message == f"token file {path} holds more than one word; it must hold the token only"
    assert SENTINEL not in message


def test_missing_token_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "token"
    assert read_error(Secret("file", str(path))) == f"token file {path} does not exist"


def test_directory_as_token_file_is_an_error(tmp_path: Path) -> None:
    assert read_error(Secret("file", str(tmp_path))) == f"token file {tmp_path} is a directory"


def test_non_utf8_token_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_bytes(b"\xff\xfe\x00token")
    path.chmod(0o600)
    assert read_error(Secret("file", str(path))) == f"token file {path} is not UTF-8 text"


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root reads files whatever their mode, so chmod 000 cannot make a file unreadable",
)
def test_unreadable_token_file_is_an_error(tmp_path: Path) -> None:
    path = token_file(tmp_path, SENTINEL, mode=0o000)
    message = read_error(Secret("file", str(path)))
    assert message == f"token file {path} is not readable by this user"


def test_problem_is_none_for_a_readable_token_and_never_raises(tmp_path: Path) -> None:
    good = token_file(tmp_path, SENTINEL, name="good")
    assert Secret("file", str(good)).problem() is None
    assert Secret("file", str(tmp_path / "missing")).problem() == (
        f"token file {tmp_path / 'missing'} does not exist"
    )


@pytest.mark.parametrize("mode", [0o604, 0o644])
def test_world_readable_token_file_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: int
) -> None:
    path = token_file(tmp_path, SENTINEL, mode=mode)
    secret = Secret("file", str(path))
    with caplog.at_level(logging.WARNING, logger="kb4_exporter.config.secrets"):
        for _ in range(3):
            assert secret.read() == SENTINEL
        assert secret.problem() is None
    warnings = [r for r in caplog.records if r.name == "kb4_exporter.config.secrets"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert warnings[0].getMessage() == (
        f"token file {path} is readable by other users (mode {mode:o}); chmod 600 it"
    )
    assert SENTINEL not in caplog.text


def permission_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "kb4_exporter.config.secrets" and "readable by other users" in r.getMessage()
    ]


def test_secrets_of_one_configuration_name_a_shared_token_file_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = token_file(tmp_path, SENTINEL, mode=0o644)
    tokens = TokenSources({})
    first, second = tokens.file(str(path)), tokens.file(str(path))
    with caplog.at_level(logging.WARNING, logger="kb4_exporter.config.secrets"):
        assert first.read() == second.read() == SENTINEL
        assert second.problem() is None
    assert permission_warnings(caplog) == [
        f"token file {path} is readable by other users (mode 644); chmod 600 it"
    ]


def test_each_configuration_names_a_shared_token_file_afresh(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # No process-wide memory: a second configuration (or a test run twice) warns again.
    path = token_file(tmp_path, SENTINEL, mode=0o644)
    with caplog.at_level(logging.WARNING, logger="kb4_exporter.config.secrets"):
        for _ in range(2):
            secret = TokenSources({}).file(str(path))
            secret.read()
            secret.read()
    assert len(permission_warnings(caplog)) == 2


def test_token_sources_read_variables_from_their_environ_and_stay_redacted() -> None:
    secret = TokenSources({"ACME_TOKEN": SENTINEL}).env("ACME_TOKEN")
    assert secret.read() == SENTINEL
    assert repr(secret) == "Secret(env $ACME_TOKEN)"


def test_private_token_file_does_not_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = token_file(tmp_path, SENTINEL, mode=0o600)
    with caplog.at_level(logging.DEBUG, logger="kb4_exporter.config.secrets"):
        Secret("file", str(path)).read()
    assert [r for r in caplog.records if r.name == "kb4_exporter.config.secrets"] == []


@pytest.mark.parametrize(
    ("secret", "described"),
    [
        (Secret("file", "/run/secrets/kb4"), "file /run/secrets/kb4"),
        (Secret("env", "ACME_TOKEN", {"ACME_TOKEN": SENTINEL}), "env $ACME_TOKEN"),
        (Secret.inline(SENTINEL), "built-in demo token"),
    ],
)
def test_repr_str_and_describe_say_where_the_token_lives_never_what_it_is(
    secret: Secret, described: str
) -> None:
    assert secret.describe() == described
    assert repr(secret) == f"Secret({described})"
    assert str(secret) == f"Secret({described})"
    assert f"{secret!r} {secret}" == f"Secret({described}) Secret({described})"
    assert SENTINEL not in repr(secret) + str(secret) + secret.describe()


def test_repr_of_a_container_holding_secrets_stays_redacted(tmp_path: Path) -> None:
    path = token_file(tmp_path, SENTINEL)
    holders = [Secret("file", str(path)), Secret.inline(SENTINEL), {"t": Secret.inline(SENTINEL)}]
    assert SENTINEL not in repr(holders)


def test_permission_denied_is_reported_as_unreadable_even_when_running_as_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # chmod 000 does not stop root, so the refusal itself is simulated here.
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("kb4_exporter.config.secrets.open", refuse, raising=False)
    path = tmp_path / "token"
    message = read_error(Secret("file", str(path)))
    assert message == f"token file {path} is not readable by this user"


def test_token_pasted_in_place_of_a_file_path_is_not_echoed() -> None:
    pasted = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJrYjQtc2VudGluZWwifQ.c2lnbmF0dXJlLXNlbnRpbmVs"
    secret = Secret("file", pasted)
    message = read_error(secret)
    assert message.startswith("token file does not exist; its name is not shown")
    assert pasted not in message
    assert "c2lnbmF0dXJl" not in message


def test_short_relative_missing_path_is_still_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert read_error(Secret("file", "kb4-token.txt")) == "token file kb4-token.txt does not exist"


def test_token_file_readable_by_our_own_group_does_not_warn(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # As mounted by Kubernetes (0440, fsGroup) or systemd credentials.
    path = token_file(tmp_path, SENTINEL, mode=0o640)
    os.chown(path, -1, os.getgid())
    with caplog.at_level(logging.WARNING, logger="kb4_exporter.config.secrets"):
        assert Secret("file", str(path)).read() == SENTINEL
    assert [r for r in caplog.records if r.name == "kb4_exporter.config.secrets"] == []


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file a foreign group")
def test_token_file_readable_by_a_foreign_group_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = token_file(tmp_path, SENTINEL, mode=0o640)
    foreign = max({os.getgid(), *os.getgroups()}) + 4242
    os.chown(path, -1, foreign)
    with caplog.at_level(logging.WARNING, logger="kb4_exporter.config.secrets"):
        assert Secret("file", str(path)).read() == SENTINEL
    assert "readable by other users (mode 640)" in caplog.text


# --- a token pasted where a path or variable name belongs is never echoed ----------------

PASTED = "eyJhbGciOiJIUzI1NiJ9." + "c2VudGluZWwtcGF5bG9hZC1zaWduYXR1cmU" * 13  # 476 chars


def token_pieces(text: str, token: str = PASTED) -> list[str]:
    """The 8-character pieces of `token` found in `text`."""
    return sorted({token[i : i + 8] for i in range(len(token) - 7)} & _pieces(text))


def _pieces(text: str) -> set[str]:
    return {text[i : i + 8] for i in range(len(text) - 7)}


def test_a_token_too_long_to_be_a_file_name_is_not_echoed() -> None:
    # The real operating-system refusal (ENAMETOOLONG), not the "does not exist" path.
    message = read_error(Secret("file", PASTED))
    assert "File name too long" in message
    assert "its name is not shown because it looks like a token" in message
    assert token_pieces(message) == []


def test_a_name_too_long_to_open_is_hidden_even_with_a_directory_part(tmp_path: Path) -> None:
    # Standard base64 tokens may contain '/', so the length the system refuses decides.
    pasted = f"{tmp_path}/{PASTED}"
    message = read_error(Secret("file", pasted))
    assert "File name too long" in message
    assert token_pieces(message) == []


@pytest.mark.parametrize(
    "refusal",
    [
        FileNotFoundError(2, "No such file or directory"),
        PermissionError(13, "Permission denied"),
        IsADirectoryError(21, "Is a directory"),
        OSError(5, "Input/output error"),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
        ValueError("embedded null byte"),
    ],
    ids=lambda refusal: type(refusal).__name__ + str(getattr(refusal, "errno", "")),
)
def test_every_way_opening_a_token_like_path_fails_keeps_it_hidden(
    monkeypatch: pytest.MonkeyPatch, refusal: Exception
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise refusal

    monkeypatch.setattr("kb4_exporter.config.secrets.open", refuse, raising=False)
    message = read_error(Secret("file", PASTED))
    assert message.startswith("token file ")
    assert "its name is not shown" in message
    assert token_pieces(message) == []


@pytest.mark.parametrize("text", ["", "two words\n", "tok\x01en-value\n"])
def test_a_readable_file_with_a_token_like_name_is_not_named_in_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.chdir(tmp_path)
    name = PASTED[:60]
    token_file(tmp_path, text, name=name)
    message = read_error(Secret("file", name))
    assert token_pieces(message, name) == []


def test_a_token_like_file_name_is_hidden_in_the_permission_warning_and_description(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    name = PASTED[:60]
    token_file(tmp_path, SENTINEL, mode=0o644, name=name)
    secret = Secret("file", name)
    with caplog.at_level(logging.WARNING, logger="kb4_exporter.config.secrets"):
        assert secret.read() == SENTINEL
    assert "readable by other users" in caplog.text
    shown = caplog.text + secret.describe() + repr(secret)
    assert token_pieces(shown, name) == []


@pytest.mark.parametrize(
    "pasted",
    [
        "0123456789ABCDEF0123456789ABCDEF01234567",  # a hex token: valid variable syntax
        "abcdefghijklmnopqrstuvwxyz0123456789abcdef",
        PASTED,
    ],
)
def test_a_token_pasted_as_a_variable_name_is_not_echoed(pasted: str) -> None:
    secret = Secret("env", pasted, {})
    message = read_error(secret)
    assert message.endswith("is empty or unset")
    assert token_pieces(message + secret.describe(), pasted) == []


def test_long_conventional_variable_names_are_still_shown() -> None:
    name = "KB4_PHISHER_API_TOKEN_FOR_THE_PRODUCTION_ACCOUNT"
    secret = Secret("env", name, {})
    assert read_error(secret) == f"environment variable {name} is empty or unset"
    assert secret.describe() == f"env ${name}"


# --- byte order marks and characters a request would refuse --------------------------------


def test_a_byte_order_mark_before_the_token_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_bytes(b"\xef\xbb\xbfabcdefghijklmnop1234\r\n")
    path.chmod(0o600)
    assert Secret("file", str(path)).read() == "abcdefghijklmnop1234"
    assert Secret("file", str(path)).problem() is None


def test_a_byte_order_mark_before_an_env_token_is_dropped() -> None:
    secret = Secret("env", "ACME_TOKEN", {"ACME_TOKEN": "\ufeffabcdefghijklmnop1234\n"})
    assert secret.read() == "abcdefghijklmnop1234"


@pytest.mark.parametrize(
    ("token", "described"),
    [
        ("abc\x01defghij", "U+0001 at position 4"),
        ("abc\u200bdefghij", "U+200B at position 4"),
        ("t\u00f6kendefghij", "U+00F6 at position 2"),
        ("abcdefghij\x7f", "U+007F at position 11"),
    ],
)
def test_a_token_a_request_would_refuse_is_a_problem_that_does_not_echo_it(
    tmp_path: Path, token: str, described: str
) -> None:
    path = token_file(tmp_path, token + "\n")
    from_file = Secret("file", str(path))
    from_env = Secret("env", "ACME_TOKEN", {"ACME_TOKEN": token})
    for secret, where in ((from_file, f"token file {path}"), (from_env, "variable ACME_TOKEN")):
        problem = secret.problem()
        assert problem is not None
        assert where in problem and described in problem
        assert "defghij" not in problem


@given(st.text(max_size=40))
def test_configuration_checks_and_requests_accept_the_same_tokens(token: str) -> None:
    # A token the configuration check passes must never be refused at request time.
    stripped = token.removeprefix("\ufeff").strip()
    accepted_by_check = Secret("env", "ACME_TOKEN", {"ACME_TOKEN": token}).problem() is None
    session = fakes.unpaced_session("reporting", fakes.BASE_URL, stripped)
    with requests_mock.Mocker() as mock:
        mock.get(f"{fakes.BASE_URL}/v1/account", json={})
        try:
            session.get_json("/v1/account")
        except AuthError:
            sent = False
        else:
            sent = mock.last_request.headers["Authorization"] == f"Bearer {stripped}"
    assert accepted_by_check == sent


# --- redaction of copies a server or proxy may have transformed ---------------------------

TOKEN = "eyJhbGciOiJIUzI1NiJ9.Qm9iIFJvc3MgcGFpbnRzIGhhcHB5IGxpdHRsZSB0cmVlcw-Xk3_q"
_TOKEN_CHARSET = string.ascii_letters + string.digits + "-_.~+/="


def copies_left(token: str, text: str) -> list[str]:
    """Runs of MIN_REDACTED_RUN of the token's characters in `text`, however it is encoded
    (percent-encoded up to three times) or cased."""
    view = unquote(unquote(unquote(text))).lower()
    needle = token.lower()
    size = MIN_REDACTED_RUN
    return [
        needle[i : i + size] for i in range(len(needle) - size + 1) if needle[i : i + size] in view
    ]


@pytest.mark.parametrize(
    "copy",
    [
        quote(TOKEN, safe=""),
        "".join(f"%{ord(ch):02X}" for ch in TOKEN),
        "".join(f"%{ord(ch):02x}" if i % 3 == 0 else ch for i, ch in enumerate(TOKEN)),
        quote(quote(TOKEN, safe=""), safe=""),
        TOKEN.upper(),
        TOKEN.lower(),
        TOKEN.swapcase(),
        quote(TOKEN.upper(), safe=""),
        TOKEN[20:60],
        TOKEN[-MIN_REDACTED_RUN:],
        TOKEN[1:],
    ],
    ids=[
        "url-encoded",
        "every-char-encoded",
        "partly-encoded",
        "double-encoded",
        "upper",
        "lower",
        "swapcase",
        "encoded-upper",
        "middle",
        "tail",
        "all-but-the-first",
    ],
)
def test_transformed_copies_of_a_token_are_redacted(copy: str) -> None:
    text = f"redirect to https://elsewhere.example/cb?t={copy}&next=/home"

    redacted = redact(text, [TOKEN])

    assert copies_left(TOKEN, redacted) == []
    assert redacted.startswith("redirect to https://elsewhere.example/cb?t=<redacted>")
    assert redacted.endswith("&next=/home")


@pytest.mark.parametrize(
    "text",
    [
        f"…{TOKEN[-MIN_REDACTED_PREFIX:]}",
        f"'...{TOKEN[-12:]}' is invalid",
        f"id …{TOKEN[30 : 30 + MIN_REDACTED_PREFIX]}…",
        f"Bearer {TOKEN[:MIN_REDACTED_PREFIX]}…{TOKEN[-MIN_REDACTED_PREFIX:]}",
    ],
    ids=["tail-after-a-cut", "tail-after-dots", "between-two-cuts", "head-and-tail"],
)
def test_short_pieces_are_redacted_where_a_cut_leaves_them(text: str) -> None:
    redacted = redact(text, [TOKEN])
    pieces = [TOKEN[:MIN_REDACTED_PREFIX], TOKEN[-MIN_REDACTED_PREFIX:], TOKEN[30:38]]
    assert [piece for piece in pieces if piece in redacted] == []
    assert REDACTED in redacted


@pytest.mark.parametrize(
    "text",
    [
        "discount 100% off, 50%zz and %",
        "Quoted%20text%2C%20harmless",
        "reporting API failed: HTTP 503",
        f"a {TOKEN[40:52]} piece shorter than a run, in the middle of a line",
    ],
)
def test_text_without_a_copy_is_left_as_it_is(text: str) -> None:
    assert redact(text, [TOKEN]) == text


@given(
    token=st.text(alphabet=_TOKEN_CHARSET, min_size=MIN_REDACTED_RUN, max_size=80),
    start=st.integers(min_value=0, max_value=80),
    length=st.integers(min_value=MIN_REDACTED_RUN, max_value=80),
    encode=st.sampled_from(["plain", "quote", "quote-twice", "every-char"]),
    case=st.sampled_from([str, str.upper, str.lower, str.swapcase]),
    before=st.text(alphabet=" :'\"=?&/", max_size=10),
)
def test_no_run_of_a_token_survives_in_any_encoding_or_case(
    token: str, start: int, length: int, encode: str, case: Any, before: str
) -> None:
    piece = case(token[start : start + length])
    encoded = {
        "plain": piece,
        "quote": quote(piece, safe=""),
        "quote-twice": quote(quote(piece, safe=""), safe=""),
        "every-char": "".join(f"%{ord(ch):02X}" for ch in piece),
    }[encode]
    text = f"{before}{encoded} and more"

    assert copies_left(token, redact(text, [token])) == []
