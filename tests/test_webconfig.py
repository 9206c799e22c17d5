"""Loading and reloading the --web.config.file (exporter-toolkit format)."""

from __future__ import annotations

import logging
import os
import ssl
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from prometheus_client import CollectorRegistry
from support.web_server_kit import bump_mtime, write_server_certificates

from kb4_exporter.web.tls_context import ClientAuthType
from kb4_exporter.web.web_config import WebConfig, WebConfigError, load_web_config
from kb4_exporter.web.web_config_metrics import WebConfigCollector
from kb4_exporter.web.web_config_reloader import WebConfigReloader

HASH = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def certs(tmp_path: Path, ca: trustme.CA) -> Path:
    """server.crt, server.key and ca.crt in tmp_path."""
    write_server_certificates(tmp_path, ca)
    return tmp_path


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def problems_of(path: str) -> tuple[str, ...]:
    with pytest.raises(WebConfigError) as caught:
        load_web_config(path)
    return caught.value.problems


def test_empty_file_means_plain_http_without_auth(tmp_path: Path) -> None:
    config = load_web_config(write(tmp_path / "web.yml", ""))
    assert config == WebConfig()
    assert config.tls is None
    assert not config.auth_enabled


def test_full_config_with_relative_paths(certs: Path) -> None:
    path = write(
        certs / "web.yml",
        f"""
tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_ca_file: ca.crt
  client_auth_type: RequireAndVerifyClientCert
  min_version: TLS13
  client_allowed_sans: [prometheus.example]
http_server_config:
  http2: false
  headers:
    Strict-Transport-Security: max-age=31536000
    x-frame-options: DENY
basic_auth_users:
  prometheus: {HASH}
""",
    )
    config = load_web_config(path)
    assert config.tls is not None
    assert config.tls.options.cert_file == str(certs / "server.crt")
    assert config.tls.options.client_ca_file == str(certs / "ca.crt")
    assert config.tls.options.client_auth_type is ClientAuthType.REQUIRE_AND_VERIFY_CLIENT_CERT
    assert config.tls.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert config.tls.ssl_context.minimum_version == ssl.TLSVersion.TLSv1_3
    assert config.tls.client_allowed_sans == frozenset({"prometheus.example"})
    assert config.tls.files == (
        str(certs / "server.crt"),
        str(certs / "server.key"),
        str(certs / "ca.crt"),
    )
    assert dict(config.headers) == {
        "Strict-Transport-Security": "max-age=31536000",
        "X-Frame-Options": "DENY",
    }
    assert dict(config.basic_auth_users) == {"prometheus": HASH.encode()}


def test_tls_defaults_to_tls12_and_no_client_certificates(certs: Path) -> None:
    path = write(
        certs / "web.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
    )
    tls = load_web_config(path).tls
    assert tls is not None
    assert tls.options.client_auth_type is ClientAuthType.NO_CLIENT_CERT
    assert tls.ssl_context.verify_mode == ssl.CERT_NONE
    assert tls.ssl_context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_tls_section_without_settings_means_plain_http(tmp_path: Path) -> None:
    config = load_web_config(write(tmp_path / "web.yml", "tls_server_config: {}\n"))
    assert config.tls is None


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path / "web.yml",
        """
tls_server_config:
  cert_file: missing.crt
  key_file: missing.key
  client_auth_type: VerifyAlways
  curve_preferences: [X25519]
  colour: blue
basic_auth_users:
  "bad:name": "$2b$04$abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyza"
  alice: plain-text-password
unexpected: 1
""",
    )
    problems = problems_of(path)
    expected = [
        "unexpected: unknown key",
        "tls_server_config.colour: unknown key",
        "tls_server_config.curve_preferences: not supported",
        "tls_server_config.cert_file: cannot read",
        "tls_server_config.key_file: cannot read",
        "tls_server_config.client_auth_type: 'VerifyAlways' is not one of NoClientCert",
        "basic_auth_users: user name 'bad:name'",
        "basic_auth_users.alice: not a bcrypt hash",
    ]
    for fragment in expected:
        assert any(fragment in problem for problem in problems), (fragment, problems)
    assert len(problems) == len(expected)


def test_error_message_never_contains_the_bad_hash(tmp_path: Path) -> None:
    path = write(tmp_path / "web.yml", "basic_auth_users:\n  alice: hunter2-not-a-hash\n")
    with pytest.raises(WebConfigError) as caught:
        load_web_config(path)
    assert "hunter2" not in str(caught.value)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("prefix", ["$2a$", "$2b$", "$2y$"])
def test_all_bcrypt_variants_are_accepted(tmp_path: Path, prefix: str) -> None:
    hashed = prefix + HASH[4:]
    config = load_web_config(write(tmp_path / "web.yml", f"basic_auth_users:\n  u: '{hashed}'\n"))
    assert config.basic_auth_users["u"] == hashed.encode()


def test_repr_leaves_out_hashes(tmp_path: Path) -> None:
    config = load_web_config(write(tmp_path / "web.yml", f"basic_auth_users:\n  u: '{HASH}'\n"))
    assert HASH not in repr(config)


@pytest.mark.parametrize(
    ("auth", "with_ca", "fragment"),
    [
        ("NoClientCert", True, "client_ca_file: set without a client_auth_type"),
        ("RequireAndVerifyClientCert", False, "client_ca_file: required"),
        ("VerifyClientCertIfGiven", False, "client_ca_file: required"),
        ("RequireAnyClientCert", False, "client_ca_file: required"),
    ],
)
def test_client_auth_needs_a_matching_ca(
    certs: Path, auth: str, with_ca: bool, fragment: str
) -> None:
    ca_line = "  client_ca_file: ca.crt\n" if with_ca else ""
    path = write(
        certs / "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        f"  client_auth_type: {auth}\n{ca_line}",
    )
    problems = problems_of(path)
    assert any(fragment in p for p in problems), problems


@pytest.mark.parametrize(
    ("auth", "mode"),
    [
        ("RequestClientCert", ssl.CERT_NONE),
        ("RequireAnyClientCert", ssl.CERT_REQUIRED),
        ("RequireClientCert", ssl.CERT_REQUIRED),
        ("VerifyClientCertIfGiven", ssl.CERT_OPTIONAL),
        ("RequireAndVerifyClientCert", ssl.CERT_REQUIRED),
    ],
)
def test_client_auth_types_map_to_openssl_verify_modes(
    certs: Path, auth: str, mode: ssl.VerifyMode
) -> None:
    path = write(
        certs / "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        f"  client_auth_type: {auth}\n  client_ca_file: ca.crt\n",
    )
    tls = load_web_config(path).tls
    assert tls is not None
    assert tls.ssl_context.verify_mode == mode


def test_cert_without_key_is_reported(certs: Path) -> None:
    path = write(certs / "web.yml", "tls_server_config:\n  cert_file: server.crt\n")
    assert any("key_file: required" in p for p in problems_of(path))


def test_key_that_does_not_match_the_certificate(certs: Path, ca: trustme.CA) -> None:
    ca.issue_cert("other").private_key_pem.write_to_path(str(certs / "other.key"))
    path = write(
        certs / "web.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n"
    )
    problems = problems_of(path)
    assert any("cert_file/key_file" in p and "mismatch" in p.lower() for p in problems), problems


def test_encrypted_key_is_refused_instead_of_prompting(certs: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    (certs / "enc.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pass"),
        )
    )
    path = write(
        certs / "web.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: enc.key\n"
    )
    assert problems_of(path) == ("tls_server_config.key_file: encrypted keys are not supported",)


def test_cipher_suites_use_go_names(certs: Path) -> None:
    path = write(
        certs / "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        "  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]\n"
        "  max_version: TLS12\n",
    )
    tls = load_web_config(path).tls
    assert tls is not None
    assert tls.options.cipher_suites == ("ECDHE-ECDSA-AES128-GCM-SHA256",)
    tls12_names = {c["name"] for c in tls.ssl_context.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert tls12_names == {"ECDHE-ECDSA-AES128-GCM-SHA256"}


def test_insecure_or_unknown_cipher_suites_are_rejected(certs: Path) -> None:
    path = write(
        certs / "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        "  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA, NOPE]\n",
    )
    assert problems_of(path) == (
        "tls_server_config.cipher_suites: unknown or insecure suites: "
        "TLS_RSA_WITH_RC4_128_SHA, NOPE",
    )


def test_bad_tls_versions(certs: Path) -> None:
    path = write(
        certs / "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        "  min_version: TLS13\n  max_version: TLS12\n",
    )
    assert problems_of(path) == ("tls_server_config: max_version is lower than min_version",)
    path = write(
        certs / "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        "  min_version: SSL3\n",
    )
    assert any("min_version: 'SSL3' is not one of" in p for p in problems_of(path))


def test_allowed_sans_need_verified_client_certificates(certs: Path) -> None:
    path = write(
        certs / "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        "  client_allowed_sans: [a.example]\n",
    )
    assert any("client_allowed_sans: needs" in p for p in problems_of(path))


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        ("Server: evil", "not a header a web config may set"),
        ("X-Frame-Options: ALLOWALL", "must be one of deny, sameorigin"),
        ('Content-Security-Policy: "a\\r\\nSet-Cookie: x"', "single-line"),
    ],
)
def test_response_headers_are_restricted(tmp_path: Path, header: str, fragment: str) -> None:
    path = write(tmp_path / "web.yml", f"http_server_config:\n  headers:\n    {header}\n")
    assert any(fragment in p for p in problems_of(path))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("tls_server_config: [\n", "not valid YAML"),
        ("- a list\n", "the top level: must be a mapping"),
        ("basic_auth_users: [a]\n", "basic_auth_users: must be a mapping"),
        ("http_server_config:\n  http2: maybe\n", "http2: must be true or false"),
    ],
)
def test_malformed_documents(tmp_path: Path, text: str, fragment: str) -> None:
    assert any(fragment in p for p in problems_of(write(tmp_path / "web.yml", text)))


def test_missing_file(tmp_path: Path) -> None:
    assert problems_of(str(tmp_path / "absent.yml")) == (
        "cannot read the file: No such file or directory",
    )


# -- reloading -------------------------------------------------------------------------


class CountingLoader:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, path: str) -> WebConfig:
        self.calls += 1
        return load_web_config(path)


def test_reloader_without_a_file_serves_the_default() -> None:
    assert WebConfigReloader(None).current() == WebConfig()


def test_reloader_reads_again_only_when_the_file_changes(tmp_path: Path) -> None:
    path = write(tmp_path / "web.yml", f"basic_auth_users:\n  old: '{HASH}'\n")
    loader = CountingLoader()
    reloader = WebConfigReloader(path, loader=loader)
    for _ in range(3):
        assert set(reloader.current().basic_auth_users) == {"old"}
    assert loader.calls == 1

    write(tmp_path / "web.yml", f"basic_auth_users:\n  new: '{HASH}'\n")
    bump_mtime(path, 10)
    assert set(reloader.current().basic_auth_users) == {"new"}
    assert set(reloader.current().basic_auth_users) == {"new"}
    assert loader.calls == 2


def test_reloader_watches_certificate_files(certs: Path) -> None:
    path = write(
        certs / "web.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
    )
    reloader = WebConfigReloader(path)
    first = reloader.current()
    bump_mtime(certs / "server.crt", 10)
    second = reloader.current()
    assert second is not first
    assert second.tls is not None and first.tls is not None
    assert second.tls.ssl_context is not first.tls.ssl_context


def test_broken_file_keeps_last_good_config_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path / "web.yml", f"basic_auth_users:\n  good: '{HASH}'\n")
    reloader = WebConfigReloader(path)
    write(tmp_path / "web.yml", "basic_auth_users: {broken\n")
    bump_mtime(path, 10)
    with caplog.at_level(logging.ERROR, logger="kb4_exporter.web.web_config_reloader"):
        for _ in range(3):
            assert set(reloader.current().basic_auth_users) == {"good"}
    assert len(caplog.records) == 1
    assert "keeping the configuration in force" in caplog.records[0].getMessage()
    assert reloader.reload_failures == 1
    assert not reloader.last_reload_successful

    # Fixing the file is picked up on the next change.
    write(tmp_path / "web.yml", f"basic_auth_users:\n  fixed: '{HASH}'\n")
    bump_mtime(path, 20)
    assert set(reloader.current().basic_auth_users) == {"fixed"}
    assert reloader.last_reload_successful
    assert reloader.reload_failures == 1


def test_deleted_file_keeps_last_good_config(tmp_path: Path) -> None:
    path = write(tmp_path / "web.yml", f"basic_auth_users:\n  good: '{HASH}'\n")
    reloader = WebConfigReloader(path)
    os.remove(path)
    assert set(reloader.current().basic_auth_users) == {"good"}


def test_reloader_refuses_a_broken_file_at_start(tmp_path: Path) -> None:
    with pytest.raises(WebConfigError):
        WebConfigReloader(write(tmp_path / "web.yml", "nope: 1\n"))


def tls_config(certs: Path, *, client: str = "", users: bool = False) -> str:
    lines = ["tls_server_config:", "  cert_file: server.crt", "  key_file: server.key"]
    if client:
        lines += [f"  client_auth_type: {client}", "  client_ca_file: ca.crt"]
    if users:
        lines += ["basic_auth_users:", f"  prometheus: '{HASH}'"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("before", "after", "refusal"),
    [
        ({"users": True}, {}, "turn basic auth off"),
        ({}, None, "turn TLS off"),
        ({"users": True}, None, "would turn TLS off;"),
        (
            {"client": "RequireAndVerifyClientCert"},
            {"client": "VerifyClientCertIfGiven"},
            "stop requiring verified client certificates",
        ),
        ({"client": "VerifyClientCertIfGiven"}, {}, "stop requiring verified client"),
    ],
)
def test_a_change_that_turns_protection_off_is_refused(
    certs: Path,
    caplog: pytest.LogCaptureFixture,
    before: dict[str, Any],
    after: dict[str, Any] | None,
    refusal: str,
) -> None:
    path = write(certs / "web.yml", tls_config(certs, **before))
    reloader = WebConfigReloader(path)
    in_force = reloader.current()
    # None: a file without TLS, keeping the users of `before`.
    users = f"basic_auth_users:\n  prometheus: '{HASH}'\n" if before.get("users") else ""
    write(certs / "web.yml", users if after is None else tls_config(certs, **after))
    bump_mtime(path, 10)
    with caplog.at_level(logging.ERROR, logger="kb4_exporter.web.web_config_reloader"):
        assert reloader.current() is in_force
        assert reloader.current() is in_force
    assert [r.levelno for r in caplog.records] == [logging.ERROR]
    assert refusal in caplog.records[0].getMessage()
    assert "restart" in caplog.records[0].getMessage()
    assert reloader.reload_failures == 1


@pytest.mark.parametrize("text", ["", "# all commented out\n", "---\n"])
def test_an_emptied_file_never_drops_auth(tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "web.yml", f"basic_auth_users:\n  good: '{HASH}'\n")
    reloader = WebConfigReloader(path)
    write(tmp_path / "web.yml", text)
    bump_mtime(path, 10)
    assert reloader.current().auth_enabled
    assert reloader.reload_failures == 1


def test_changes_that_keep_protection_are_applied(certs: Path) -> None:
    path = write(certs / "web.yml", tls_config(certs))
    reloader = WebConfigReloader(path)
    write(certs / "web.yml", tls_config(certs, users=True, client="VerifyClientCertIfGiven"))
    bump_mtime(path, 10)
    tightened = reloader.current()
    assert tightened.auth_enabled
    assert tightened.tls is not None
    assert tightened.tls.options.client_auth_type is ClientAuthType.VERIFY_CLIENT_CERT_IF_GIVEN
    assert reloader.reload_failures == 0


def test_an_open_file_at_start_is_served_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="kb4_exporter.web.web_config_reloader"):
        reloader = WebConfigReloader(write(tmp_path / "web.yml", "# nothing yet\n"))
    assert reloader.current() == WebConfig()
    assert "neither TLS nor basic auth" in caplog.text


def test_the_collector_reports_refusals(tmp_path: Path) -> None:
    path = write(tmp_path / "web.yml", f"basic_auth_users:\n  good: '{HASH}'\n")
    reloader = WebConfigReloader(path)
    registry = CollectorRegistry(auto_describe=True)
    registry.register(WebConfigCollector(reloader))

    def sample(name: str) -> float | None:
        return registry.get_sample_value(name)

    assert sample("kb4_web_config_reload_failures_total") == 0
    assert sample("kb4_web_config_last_reload_successful") == 1
    os.remove(path)
    reloader.current()
    assert sample("kb4_web_config_reload_failures_total") == 1
    assert sample("kb4_web_config_last_reload_successful") == 0
