"""The `tls_server_config` section of a web config file, validated into `TLSSettings`.

Names are the Go exporter-toolkit's (TLS versions, IANA cipher suite names, client auth
types); they are translated to OpenSSL's here, and the server context is built from the
result, so validated settings always come with a context that works.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kb4_exporter.web.section_reader import SectionReader
from kb4_exporter.web.tls_context import (
    ClientAuthType,
    ServerContextOptions,
    TLSContextError,
    build_server_context,
)

_SECTION = "tls_server_config"

_TLS_VERSIONS: Mapping[str, ssl.TLSVersion] = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}

# Go (IANA) cipher suite names -> OpenSSL names, for TLS 1.2 and below. RC4 and 3DES
# suites are left out on purpose: they are rejected as unsupported.
_CIPHER_SUITES: Mapping[str, str] = {
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256": "AES128-SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": "ECDHE-ECDSA-CHACHA20-POLY1305",
}
# TLS 1.3 suites are always on, in Go as in OpenSSL; naming them changes nothing.
_TLS13_SUITES = frozenset(
    {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}
)

_KEYS = frozenset(
    {
        "cert_file",
        "key_file",
        "client_auth_type",
        "client_ca_file",
        "min_version",
        "max_version",
        "cipher_suites",
        "prefer_server_cipher_suites",
        "client_allowed_sans",
    }
)
_UNSUPPORTED_KEYS: Mapping[str, str] = {
    "curve_preferences": "not supported by kb4_exporter (OpenSSL's defaults are used)",
}
# Any of these turns TLS on; without them the section means plain HTTP, as in the toolkit.
_TLS_SWITCHES = ("cert_file", "key_file", "client_ca_file")


@dataclass(frozen=True)
class TLSSettings:
    """Validated `tls_server_config`: the options, the client certificate SANs allowed
    (empty: any) and the server context built from the options."""

    options: ServerContextOptions
    client_allowed_sans: frozenset[str]
    ssl_context: ssl.SSLContext = field(compare=False, repr=False)

    @property
    def files(self) -> tuple[str, ...]:
        return self.options.files


class TLSSectionParser:
    """Validates `tls_server_config`, noting problems in the shared reader.

    Relative file paths are taken from `base_dir`, the web config file's folder.
    """

    def __init__(self, reader: SectionReader, base_dir: str) -> None:
        self._reader = reader
        self._base_dir = base_dir

    def parse(self, raw: Any) -> TLSSettings | None:
        """The settings; None for plain HTTP, or when a problem was noted."""
        problems_before = len(self._reader.problems)
        section = self._reader.mapping(raw, _SECTION)
        self._check_keys(section)
        cert_file = self._file(section, "cert_file")
        key_file = self._file(section, "key_file")
        ca_file = self._file(section, "client_ca_file")
        auth = self._client_auth_type(section.get("client_auth_type"))
        if not any(section.get(key) for key in _TLS_SWITCHES) and "client_auth_type" not in section:
            return None
        for key in ("cert_file", "key_file"):
            if not section.get(key):  # (an unreadable file is reported already)
                self._reader.problem(f"{_SECTION}.{key}: required when TLS is configured")
        self._check_client_ca(auth, ca_file)
        min_version, max_version = self._versions(section)
        ciphers = self._cipher_suites(section.get("cipher_suites"))
        prefer_server = self._reader.boolean(
            section, "prefer_server_cipher_suites", default=True, where=_SECTION
        )
        sans = self._allowed_sans(section.get("client_allowed_sans"), auth)
        if len(self._reader.problems) > problems_before or auth is None:
            return None
        if cert_file is None or key_file is None:
            return None
        options = ServerContextOptions(
            cert_file, key_file, auth, ca_file, min_version, max_version, ciphers, prefer_server
        )
        return self._settings(options, sans)

    def _settings(self, options: ServerContextOptions, sans: frozenset[str]) -> TLSSettings | None:
        try:
            context = build_server_context(options)
        except TLSContextError as exc:
            self._reader.problems.extend(exc.problems)
            return None
        return TLSSettings(options, sans, context)

    def _check_keys(self, section: Mapping[str, Any]) -> None:
        self._reader.unknown_keys(section, _KEYS | _UNSUPPORTED_KEYS.keys(), f"{_SECTION}.")
        for key, why in _UNSUPPORTED_KEYS.items():
            if key in section:
                self._reader.problem(f"{_SECTION}.{key}: {why}")

    def _file(self, section: Mapping[str, Any], key: str) -> str | None:
        raw = section.get(key)
        if raw is None or raw == "":
            return None
        if not isinstance(raw, str):
            self._reader.problem(f"{_SECTION}.{key}: must be a file path")
            return None
        path = os.path.join(self._base_dir, raw)  # relative paths: from the config's folder
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            self._reader.problem(f"{_SECTION}.{key}: cannot read {path}: {exc.strerror}")
            return None
        return path

    def _client_auth_type(self, raw: Any) -> ClientAuthType | None:
        if raw is None or raw == "":
            return ClientAuthType.NO_CLIENT_CERT
        if raw == "RequireClientCert":  # the toolkit's older name for RequireAnyClientCert
            return ClientAuthType.REQUIRE_ANY_CLIENT_CERT
        try:
            return ClientAuthType(raw)
        except ValueError:
            allowed = ", ".join(member.value for member in ClientAuthType)
            self._reader.problem(f"{_SECTION}.client_auth_type: {raw!r} is not one of {allowed}")
            return None

    def _check_client_ca(self, auth: ClientAuthType | None, ca_file: str | None) -> None:
        if auth is ClientAuthType.NO_CLIENT_CERT and ca_file:
            self._reader.problem(
                f"{_SECTION}.client_ca_file: set without a client_auth_type that asks "
                "for client certificates"
            )
        if auth is not None and auth.verifies and not ca_file:
            self._reader.problem(
                f"{_SECTION}.client_ca_file: required with client_auth_type {auth}, "
                "to verify client certificates against"
            )

    def _versions(self, section: Mapping[str, Any]) -> tuple[ssl.TLSVersion, ssl.TLSVersion | None]:
        min_version = self._version(section, "min_version") or ssl.TLSVersion.TLSv1_2
        max_version = self._version(section, "max_version")
        if max_version is not None and max_version < min_version:
            self._reader.problem(f"{_SECTION}: max_version is lower than min_version")
        return min_version, max_version

    def _version(self, section: Mapping[str, Any], key: str) -> ssl.TLSVersion | None:
        raw = section.get(key)
        if raw is None:
            return None
        version = _TLS_VERSIONS.get(raw) if isinstance(raw, str) else None
        if version is None:
            self._reader.problem(
                f"{_SECTION}.{key}: {raw!r} is not one of {', '.join(_TLS_VERSIONS)}"
            )
        return version

    def _cipher_suites(self, raw: Any) -> tuple[str, ...]:
        names = self._strings(raw, "cipher_suites")
        unknown = [n for n in names if n not in _CIPHER_SUITES and n not in _TLS13_SUITES]
        if unknown:
            self._reader.problem(
                f"{_SECTION}.cipher_suites: unknown or insecure suites: " + ", ".join(unknown)
            )
        return tuple(dict.fromkeys(_CIPHER_SUITES[n] for n in names if n in _CIPHER_SUITES))

    def _allowed_sans(self, raw: Any, auth: ClientAuthType | None) -> frozenset[str]:
        sans = frozenset(self._strings(raw, "client_allowed_sans"))
        if sans and auth in (ClientAuthType.NO_CLIENT_CERT, ClientAuthType.REQUEST_CLIENT_CERT):
            self._reader.problem(
                f"{_SECTION}.client_allowed_sans: needs a client_auth_type that "
                "verifies client certificates"
            )
        return sans

    def _strings(self, raw: Any, key: str) -> list[str]:
        if raw is None:
            return []
        if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
            self._reader.problem(f"{_SECTION}.{key}: must be a list of strings")
            return []
        return raw
