"""A token the server echoes back is never shown, not even a cut-off part of it.

KnowBe4 (or a proxy in front of it) may quote the Authorization header it was sent in an
error message or a header; the exporter quotes such text shortened, so redaction must
happen before the cut and must also catch a copy that someone else already cut.
"""

from __future__ import annotations

import json
import random
import string
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import kb4_fakes as fakes
import pytest
import requests_mock as rm
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from kb4_exporter.api.errors import AuthError, BadResponseError
from kb4_exporter.api.phisher import PhisherClient
from kb4_exporter.api.redaction import MIN_REDACTED_PREFIX, MIN_REDACTED_RUN, redact
from kb4_exporter.cli import main
from kb4_exporter.logs import REDACTED, register_secret, scrub

_TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_"


def jwt_like(seed: int, length: int = 465) -> str:
    """A token shaped like KnowBe4's: a JWT header, then random base64url characters."""
    header = "eyJhbGciOiJIUzI1NiJ9."
    rng = random.Random(seed)
    return header + "".join(rng.choice(_TOKEN_ALPHABET) for _ in range(length - len(header)))


REPORTING_TOKEN = jwt_like(1)
PHISHER_TOKEN = jwt_like(2)


def leaked_pieces(output: str, token: str) -> list[str]:
    """Every piece of `token` as long as the redaction rule covers that is in `output`."""
    size = MIN_REDACTED_PREFIX
    pieces = {token[i : i + size] for i in range(len(token) - size + 1)}
    return sorted(piece for piece in pieces if piece in output)


# --- the redaction rule -------------------------------------------------------------------


@pytest.mark.parametrize("cut", [MIN_REDACTED_PREFIX, 15, 50, len(REPORTING_TOKEN) - 1])
def test_a_cut_off_start_of_the_token_is_redacted_where_a_cut_leaves_it(cut: int) -> None:
    piece = REPORTING_TOKEN[:cut]
    for text in (f"Bearer {piece}", f"Bearer {piece}… [X-Request-Id 7]", f"'{piece}...'"):
        assert redact(text, [REPORTING_TOKEN]) == text.replace(piece, REDACTED)


@pytest.mark.parametrize("cut", [MIN_REDACTED_RUN, 50, len(REPORTING_TOKEN) - 1])
def test_a_long_start_of_the_token_is_redacted_anywhere(cut: int) -> None:
    piece = REPORTING_TOKEN[:cut]
    text = f"token '{piece}' is invalid"
    assert redact(text, [REPORTING_TOKEN]) == f"token '{REDACTED}' is invalid"


def test_a_short_start_of_a_word_like_token_in_ordinary_text_is_kept() -> None:
    # Demo and test tokens may start like a word the logs use. Only at the very end of a
    # text can such a word not be told from a cut, so only there it is redacted.
    token = "reporting-SENTINEL-token-0001"
    text = "reporting API failed; source=reporting"
    assert redact(text, [token]) == "reporting API failed; source=" + REDACTED
    assert redact("reporting API failed", [token]) == "reporting API failed"
    short = REPORTING_TOKEN[: MIN_REDACTED_PREFIX - 1]
    assert redact(f"header {short}", [REPORTING_TOKEN]) == f"header {short}"


def test_tokens_sharing_a_start_are_both_redacted_whole_in_any_order() -> None:
    # Redacting one token first must not hide the other one's start from its redaction.
    first, second = "SENTINEL-reporting-7f3a9c2e5b1d", "SENTINEL-phisher-4c8e1a7b2f6d"
    text = f"a {first} b {second} c {first[:20]}"
    expected = f"a {REDACTED} b {REDACTED} c {REDACTED}"
    assert redact(text, [first, second]) == expected
    assert redact(text, [second, first]) == expected


@given(
    token=st.text(alphabet=_TOKEN_ALPHABET, min_size=MIN_REDACTED_PREFIX, max_size=120),
    before=st.text(alphabet=" :'\"=", max_size=30),
    cut=st.integers(min_value=MIN_REDACTED_PREFIX, max_value=200),
)
def test_no_start_of_the_token_long_enough_to_matter_survives_a_cut(
    token: str, before: str, cut: int
) -> None:
    text = (before + token + " trailing text")[: len(before) + cut]
    redacted = redact(text, [token])
    assert token[:MIN_REDACTED_PREFIX] not in redacted


def test_the_log_scrubber_catches_a_cut_off_copy_of_a_registered_token() -> None:
    register_secret(REPORTING_TOKEN)
    line = f"the server says 'invalid credentials: Bearer {REPORTING_TOKEN[:150]}…'"
    scrubbed = scrub(line)
    assert scrubbed == f"the server says 'invalid credentials: Bearer {REDACTED}…'"


# --- the HTTP client and PhishER client, with requests-mock --------------------------------


def test_an_echoed_token_is_redacted_before_message_and_request_id_are_cut(
    requests_mock: rm.Mocker,
) -> None:
    url = f"{fakes.BASE_URL}/v1/account"
    requests_mock.get(
        url,
        status_code=401,
        json={"message": f"invalid credentials: Bearer {REPORTING_TOKEN}"},
        headers={"X-Request-Id": f"Bearer {REPORTING_TOKEN}"},
    )
    session = fakes.unpaced_session("reporting", fakes.BASE_URL, REPORTING_TOKEN)
    with pytest.raises(AuthError) as caught:
        session.get_json("/v1/account")
    message = str(caught.value)
    assert f"the server says 'invalid credentials: Bearer {REDACTED}'" in message
    assert f"[X-Request-Id Bearer {REDACTED}]" in message
    assert leaked_pieces(message, REPORTING_TOKEN) == []


@pytest.mark.parametrize(
    ("status", "headers", "quoted"),
    [
        # Of a refused redirect only the origin is quoted, never the path or query.
        (
            302,
            {"Location": f"https://elsewhere.example/?t={REPORTING_TOKEN}"},
            "redirected to https://elsewhere.example;",
        ),
        (200, {"Content-Type": f"text/plain; t={REPORTING_TOKEN}"}, f"t={REDACTED}"),
    ],
    ids=["Location", "Content-Type"],
)
def test_an_echoed_token_in_other_quoted_headers_is_redacted(
    requests_mock: rm.Mocker, status: int, headers: dict[str, str], quoted: str
) -> None:
    url = f"{fakes.BASE_URL}/v1/account"
    requests_mock.get(url, status_code=status, text="not json", headers=headers)
    session = fakes.unpaced_session("reporting", fakes.BASE_URL, REPORTING_TOKEN)
    with pytest.raises(BadResponseError) as caught:
        session.get_json("/v1/account")
    assert quoted in str(caught.value)
    assert leaked_pieces(str(caught.value), REPORTING_TOKEN) == []


@pytest.mark.parametrize(
    ("wording", "error_type"),
    [("Not authorized: ", AuthError), ("query failed for ", BadResponseError)],
)
def test_an_echoed_token_in_a_phisher_graphql_error_is_redacted(
    requests_mock: rm.Mocker, wording: str, error_type: type[Exception]
) -> None:
    requests_mock.post(
        fakes.PHISHER_URL, json={"errors": [{"message": f"{wording}Bearer {PHISHER_TOKEN}"}]}
    )
    session = fakes.unpaced_session("phisher", fakes.PHISHER_URL, PHISHER_TOKEN)
    with pytest.raises(error_type) as caught:
        PhisherClient(session).total_count()
    assert f"{wording}Bearer {REDACTED}" in str(caught.value)
    assert leaked_pieces(str(caught.value), PHISHER_TOKEN) == []


# --- the command line against a loopback server that echoes the token ---------------------


class _EchoingHandler(BaseHTTPRequestHandler):
    """Refuses every call, quoting the Authorization header in the body and X-Request-Id."""

    def do_GET(self) -> None:
        self._refuse()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._refuse()

    def _refuse(self) -> None:
        authorization = self.headers.get("Authorization", "")
        body: dict[str, object]
        if self.path.startswith("/graphql"):
            status, body = 200, {"errors": [{"message": f"Not authorized: {authorization}"}]}
        else:
            status, body = 401, {"message": f"invalid credentials: {authorization}"}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Request-Id", authorization)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def echoing_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize("command", ["check", "once"])
def test_the_command_line_never_shows_a_token_the_server_echoes(
    command: str, echoing_server: str, tmp_path: Path
) -> None:
    files = {}
    for name, token in (("reporting", REPORTING_TOKEN), ("phisher", PHISHER_TOKEN)):
        files[name] = tmp_path / name
        files[name].write_text(token + "\n", encoding="utf-8")
        files[name].chmod(0o600)
    args = [
        command,
        "--kb4.base-url",
        echoing_server,
        "--kb4.api-token-file",
        str(files["reporting"]),
        "--phisher.url",
        f"{echoing_server}/graphql",
        "--phisher.token-file",
        str(files["phisher"]),
        "--state.dir",
        str(tmp_path / "state"),
        "--log.level",
        "debug",
    ]
    env = {"KB4_API_TOKEN": "", "KB4_PHISHER_TOKEN": "", "KB4_USER_EVENTS_TOKEN": ""}
    result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)

    output = result.output
    assert result.exit_code != 0
    assert "invalid credentials: Bearer <redacted>" in output
    assert leaked_pieces(output, REPORTING_TOKEN) == []
    assert leaked_pieces(output, PHISHER_TOKEN) == []
