"""The `--web.config.file` in the Prometheus exporter-toolkit format.

It switches `/metrics` to TLS (optionally with client certificates) and turns on HTTP
basic auth against bcrypt hashes. Loading validates the whole file and reports every
problem at once; a successful load also builds the `ssl.SSLContext`, so a loaded
`WebConfig` is a consistent snapshot of the certificate files as they were read.
`WebConfigReloader` reloads it when the file, or a certificate file it names, changes,
and refuses a change that would turn TLS, basic auth or client certificates off.

Where Python's TLS stack cannot do what the Go toolkit does, we refuse rather than
silently weaken: every client certificate Python requests is verified, so
`RequireAnyClientCert` needs `client_ca_file` here. `RequestClientCert` never rejects
a client in Go (the certificate is not verified), so it is served without asking for one.
"""

from __future__ import annotations

import enum
import logging
import os
import re
import ssl
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import yaml
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)


class WebConfigError(ValueError):
    """The web config file is unusable; `problems` lists every problem found."""

    def __init__(self, path: str, problems: Sequence[str]) -> None:
        super().__init__(
            f"invalid web config file {path}:\n" + "\n".join(f"  - {p}" for p in problems)
        )
        self.path = path
        self.problems = tuple(problems)


class ClientAuthType(enum.StrEnum):
    NO_CLIENT_CERT = "NoClientCert"
    REQUEST_CLIENT_CERT = "RequestClientCert"
    REQUIRE_ANY_CLIENT_CERT = "RequireAnyClientCert"
    VERIFY_CLIENT_CERT_IF_GIVEN = "VerifyClientCertIfGiven"
    REQUIRE_AND_VERIFY_CLIENT_CERT = "RequireAndVerifyClientCert"


# What OpenSSL does for each policy. None: no certificate is requested.
_VERIFY_MODES: Mapping[ClientAuthType, ssl.VerifyMode] = {
    ClientAuthType.NO_CLIENT_CERT: ssl.CERT_NONE,
    ClientAuthType.REQUEST_CLIENT_CERT: ssl.CERT_NONE,
    ClientAuthType.REQUIRE_ANY_CLIENT_CERT: ssl.CERT_REQUIRED,
    ClientAuthType.VERIFY_CLIENT_CERT_IF_GIVEN: ssl.CERT_OPTIONAL,
    ClientAuthType.REQUIRE_AND_VERIFY_CLIENT_CERT: ssl.CERT_REQUIRED,
}

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

# Response headers the toolkit lets a web config set, with the values it allows
# (None: any value).
_ALLOWED_HEADERS: Mapping[str, frozenset[str] | None] = {
    "Strict-Transport-Security": None,
    "X-Content-Type-Options": frozenset({"nosniff"}),
    "X-Frame-Options": frozenset({"deny", "sameorigin"}),
    "X-XSS-Protection": None,
    "Content-Security-Policy": None,
}
_HEADER_NAMES = {name.lower(): name for name in _ALLOWED_HEADERS}

_BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")

_TOP_KEYS = frozenset({"tls_server_config", "http_server_config", "basic_auth_users"})
_TLS_KEYS = frozenset(
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
_UNSUPPORTED_TLS_KEYS: Mapping[str, str] = {
    "curve_preferences": "not supported by kb4_exporter (OpenSSL's defaults are used)",
}
_HTTP_KEYS = frozenset({"http2", "headers"})


@dataclass(frozen=True)
class TLSSettings:
    """Validated `tls_server_config` and the server context built from it."""

    cert_file: str
    key_file: str
    client_auth_type: ClientAuthType
    client_ca_file: str | None
    min_version: ssl.TLSVersion
    max_version: ssl.TLSVersion | None
    cipher_suites: tuple[str, ...]
    prefer_server_cipher_suites: bool
    client_allowed_sans: frozenset[str]
    ssl_context: ssl.SSLContext = field(compare=False, repr=False)

    @property
    def files(self) -> tuple[str, ...]:
        """The files this context was built from (watched for rotation)."""
        ca = (self.client_ca_file,) if self.client_ca_file else ()
        return (self.cert_file, self.key_file, *ca)


@dataclass(frozen=True)
class WebConfig:
    """TLS settings (None: plain HTTP), basic auth users and extra response headers."""

    tls: TLSSettings | None = None
    # username -> bcrypt hash; kept out of the repr so hashes never reach a log line.
    basic_auth_users: Mapping[str, bytes] = field(
        default_factory=lambda: MappingProxyType({}), repr=False
    )
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def auth_enabled(self) -> bool:
        return bool(self.basic_auth_users)

    @property
    def files(self) -> tuple[str, ...]:
        return self.tls.files if self.tls else ()


def load_web_config(path: str) -> WebConfig:
    """Read and validate a web config file; raise WebConfigError listing every problem."""
    try:
        with open(path, encoding="utf-8") as stream:
            document = yaml.safe_load(stream)
    except OSError as exc:
        raise WebConfigError(path, [f"cannot read the file: {exc.strerror}"]) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise WebConfigError(path, [f"not valid YAML: {_one_line(exc)}"]) from None
    return _WebConfigParser(os.path.dirname(os.path.abspath(path))).parse(path, document)


class _WebConfigParser:
    """Turns the parsed YAML into a WebConfig, collecting problems instead of stopping."""

    def __init__(self, base_dir: str) -> None:
        self._base_dir = base_dir
        self._problems: list[str] = []

    def parse(self, path: str, document: Any) -> WebConfig:
        if document is None:
            document = {}  # an empty file means: plain HTTP, no auth (as in the toolkit)
        top = self._mapping(document, "the top level")
        self._unknown_keys(top, _TOP_KEYS, "")
        tls = self._tls(top.get("tls_server_config"))
        headers = self._http(top.get("http_server_config"))
        users = self._users(top.get("basic_auth_users"))
        if self._problems:
            raise WebConfigError(path, self._problems)
        return WebConfig(
            tls=tls,
            basic_auth_users=MappingProxyType(users),
            headers=MappingProxyType(headers),
        )

    # -- tls_server_config -------------------------------------------------------------

    def _tls(self, raw: Any) -> TLSSettings | None:
        problems_before = len(self._problems)
        section = self._mapping(raw, "tls_server_config")
        self._unknown_keys(section, _TLS_KEYS, "tls_server_config.")
        for key, why in _UNSUPPORTED_TLS_KEYS.items():
            if key in section:
                self._problem(f"tls_server_config.{key}: {why}")
        cert_file = self._file(section, "cert_file")
        key_file = self._file(section, "key_file")
        ca_file = self._file(section, "client_ca_file")
        auth = self._client_auth_type(section.get("client_auth_type"))
        if not any(section.get(key) for key in ("cert_file", "key_file", "client_ca_file")) and (
            "client_auth_type" not in section
        ):
            return None  # no TLS settings at all: plain HTTP, as in the toolkit
        for key in ("cert_file", "key_file"):
            if not section.get(key):  # (an unreadable file is reported already)
                self._problem(f"tls_server_config.{key}: required when TLS is configured")
        self._check_client_auth(auth, ca_file)
        min_version = self._tls_version(section, "min_version") or ssl.TLSVersion.TLSv1_2
        max_version = self._tls_version(section, "max_version")
        if max_version is not None and max_version < min_version:
            self._problem("tls_server_config: max_version is lower than min_version")
        ciphers = self._cipher_suites(section.get("cipher_suites"))
        prefer_server = self._bool(section, "prefer_server_cipher_suites", default=True)
        sans = frozenset(self._strings(section.get("client_allowed_sans"), "client_allowed_sans"))
        if sans and auth in (ClientAuthType.NO_CLIENT_CERT, ClientAuthType.REQUEST_CLIENT_CERT):
            self._problem(
                "tls_server_config.client_allowed_sans: needs a client_auth_type that "
                "verifies client certificates"
            )
        if len(self._problems) > problems_before or auth is None or not cert_file or not key_file:
            return None
        settings = _TLSDraft(
            cert_file, key_file, auth, ca_file, min_version, max_version, ciphers, prefer_server
        )
        context = self._ssl_context(settings)
        if context is None:
            return None
        return TLSSettings(
            cert_file=cert_file,
            key_file=key_file,
            client_auth_type=auth,
            client_ca_file=ca_file,
            min_version=min_version,
            max_version=max_version,
            cipher_suites=ciphers,
            prefer_server_cipher_suites=prefer_server,
            client_allowed_sans=sans,
            ssl_context=context,
        )

    def _client_auth_type(self, raw: Any) -> ClientAuthType | None:
        if raw is None or raw == "":
            return ClientAuthType.NO_CLIENT_CERT
        if raw == "RequireClientCert":  # the toolkit's older name for RequireAnyClientCert
            return ClientAuthType.REQUIRE_ANY_CLIENT_CERT
        try:
            return ClientAuthType(raw)
        except ValueError:
            allowed = ", ".join(member.value for member in ClientAuthType)
            self._problem(f"tls_server_config.client_auth_type: {raw!r} is not one of {allowed}")
            return None

    def _check_client_auth(self, auth: ClientAuthType | None, ca_file: str | None) -> None:
        if auth is ClientAuthType.NO_CLIENT_CERT and ca_file:
            self._problem(
                "tls_server_config.client_ca_file: set without a client_auth_type that asks "
                "for client certificates"
            )
        verifying = auth is not None and _VERIFY_MODES[auth] is not ssl.CERT_NONE
        if verifying and not ca_file:
            self._problem(
                f"tls_server_config.client_ca_file: required with client_auth_type {auth}, "
                "to verify client certificates against"
            )

    def _tls_version(self, section: Mapping[str, Any], key: str) -> ssl.TLSVersion | None:
        raw = section.get(key)
        if raw is None:
            return None
        version = _TLS_VERSIONS.get(raw) if isinstance(raw, str) else None
        if version is None:
            self._problem(
                f"tls_server_config.{key}: {raw!r} is not one of {', '.join(_TLS_VERSIONS)}"
            )
        return version

    def _cipher_suites(self, raw: Any) -> tuple[str, ...]:
        names = self._strings(raw, "cipher_suites")
        unknown = [n for n in names if n not in _CIPHER_SUITES and n not in _TLS13_SUITES]
        if unknown:
            self._problem(
                "tls_server_config.cipher_suites: unknown or insecure suites: " + ", ".join(unknown)
            )
        return tuple(dict.fromkeys(_CIPHER_SUITES[n] for n in names if n in _CIPHER_SUITES))

    def _ssl_context(self, draft: _TLSDraft) -> ssl.SSLContext | None:
        problems_before = len(self._problems)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = draft.min_version
        if draft.max_version is not None:
            context.maximum_version = draft.max_version
        if not draft.prefer_server:
            context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
        context.set_alpn_protocols(["http/1.1"])
        steps: list[tuple[str, Any]] = [
            ("cert_file/key_file", lambda: _load_cert_chain(context, draft)),
        ]
        if draft.ciphers:
            steps.append(("cipher_suites", lambda: context.set_ciphers(":".join(draft.ciphers))))
        if draft.ca_file and _VERIFY_MODES[draft.auth] is not ssl.CERT_NONE:
            steps.append(
                ("client_ca_file", lambda: context.load_verify_locations(cafile=draft.ca_file))
            )
        for what, step in steps:
            try:
                step()
            except _EncryptedKeyError:
                self._problem("tls_server_config.key_file: encrypted keys are not supported")
            except (ssl.SSLError, OSError, ValueError) as exc:
                self._problem(f"tls_server_config.{what}: {_one_line(exc)}")
        if len(self._problems) > problems_before:
            return None
        context.verify_mode = _VERIFY_MODES[draft.auth]
        return context

    # -- http_server_config ------------------------------------------------------------

    def _http(self, raw: Any) -> dict[str, str]:
        section = self._mapping(raw, "http_server_config")
        self._unknown_keys(section, _HTTP_KEYS, "http_server_config.")
        # http2 is accepted for compatibility; this server speaks HTTP/1.1 only.
        self._bool(section, "http2", default=False, where="http_server_config")
        headers = self._mapping(section.get("headers"), "http_server_config.headers")
        result: dict[str, str] = {}
        for name, value in headers.items():
            canonical = _HEADER_NAMES.get(str(name).lower(), str(name))
            where = f"http_server_config.headers.{name}"
            if canonical not in _ALLOWED_HEADERS:
                self._problem(f"{where}: not a header a web config may set")
            elif not isinstance(value, str) or not value or "\r" in value or "\n" in value:
                self._problem(f"{where}: must be a non-empty single-line string")
            elif (allowed := _ALLOWED_HEADERS[canonical]) and value.lower() not in allowed:
                self._problem(f"{where}: must be one of {', '.join(sorted(allowed))}")
            else:
                result[canonical] = value
        return result

    # -- basic_auth_users --------------------------------------------------------------

    def _users(self, raw: Any) -> dict[str, bytes]:
        section = self._mapping(raw, "basic_auth_users")
        users: dict[str, bytes] = {}
        for name, hashed in section.items():
            if not isinstance(name, str) or not name or ":" in name:
                self._problem(f"basic_auth_users: user name {name!r} is empty or has a ':'")
            elif not isinstance(hashed, str) or not _BCRYPT_HASH.fullmatch(hashed):
                # The hash itself is left out of the message: it is a secret of sorts.
                self._problem(f"basic_auth_users.{name}: not a bcrypt hash ($2a$/$2b$/$2y$)")
            else:
                users[name] = hashed.encode("ascii")
        return users

    # -- shared helpers ----------------------------------------------------------------

    def _problem(self, message: str) -> None:
        self._problems.append(message)

    def _mapping(self, raw: Any, where: str) -> Mapping[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, Mapping):
            self._problem(f"{where}: must be a mapping")
            return {}
        return raw

    def _unknown_keys(self, section: Mapping[str, Any], known: Iterable[str], prefix: str) -> None:
        allowed = set(known) | set(_UNSUPPORTED_TLS_KEYS if prefix == "tls_server_config." else ())
        for key in section:
            if key not in allowed:
                self._problem(f"{prefix}{key}: unknown key")

    def _file(self, section: Mapping[str, Any], key: str) -> str | None:
        raw = section.get(key)
        if raw is None or raw == "":
            return None
        if not isinstance(raw, str):
            self._problem(f"tls_server_config.{key}: must be a file path")
            return None
        path = os.path.join(self._base_dir, raw)  # relative paths: from the config's folder
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            self._problem(f"tls_server_config.{key}: cannot read {path}: {exc.strerror}")
            return None
        return path

    def _bool(
        self,
        section: Mapping[str, Any],
        key: str,
        *,
        default: bool,
        where: str = "tls_server_config",
    ) -> bool:
        raw = section.get(key, default)
        if not isinstance(raw, bool):
            self._problem(f"{where}.{key}: must be true or false")
            return default
        return raw

    def _strings(self, raw: Any, key: str) -> list[str]:
        if raw is None:
            return []
        if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
            self._problem(f"tls_server_config.{key}: must be a list of strings")
            return []
        return raw


@dataclass(frozen=True)
class _TLSDraft:
    cert_file: str
    key_file: str
    auth: ClientAuthType
    ca_file: str | None
    min_version: ssl.TLSVersion
    max_version: ssl.TLSVersion | None
    ciphers: tuple[str, ...]
    prefer_server: bool


class _EncryptedKeyError(Exception):
    pass


def _refuse_password() -> str:
    # Without a callback OpenSSL would prompt on the terminal and hang a daemon.
    raise _EncryptedKeyError


def _load_cert_chain(context: ssl.SSLContext, draft: _TLSDraft) -> None:
    context.load_cert_chain(draft.cert_file, draft.key_file, password=_refuse_password)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _file_signature(paths: tuple[str, ...]) -> tuple[tuple[int, int, int] | None, ...]:
    signature: list[tuple[int, int, int] | None] = []
    for path in paths:
        try:
            st = os.stat(path)  # follows symlinks: a Kubernetes secret swap changes the inode
        except OSError:
            signature.append(None)
        else:
            signature.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(signature)


def weakenings(old: WebConfig, new: WebConfig) -> list[str]:
    """What `new` would turn off that `old` has on: TLS, basic auth, client certificates."""
    found: list[str] = []
    if old.tls is not None and new.tls is None:
        found.append("turn TLS off")
    if old.auth_enabled and not new.auth_enabled:
        found.append("turn basic auth off")
    if old.tls is not None and new.tls is not None:
        before = _VERIFY_MODES[old.tls.client_auth_type]
        if _VERIFY_MODES[new.tls.client_auth_type] < before:
            found.append("stop requiring verified client certificates")
    return found


class WebConfigReloader:
    """Holds the web config in force and reloads it when its files change.

    A file that cannot be loaded, and one that would turn off TLS, basic auth or client
    certificate checks that are on, is refused: the last good configuration stays in
    force, the refusal is logged once per version of the file and counted. An emptied,
    comment-only, half-saved or deleted file therefore never opens the exporter up;
    turning protection off on purpose takes a restart.
    """

    def __init__(
        self, path: str | None, *, loader: Callable[[str], WebConfig] = load_web_config
    ) -> None:
        self._path = path
        self._loader = loader
        self._lock = threading.Lock()
        self._config = loader(path) if path else WebConfig()
        self._signature = self._signature_of(self._config)
        self._failed_signature: tuple[Any, ...] | None = None
        self.reload_failures = 0
        if path and self._config.tls is None and not self._config.auth_enabled:
            log.warning(
                "web config file %s turns on neither TLS nor basic auth: serving plain HTTP "
                "without authentication",
                path,
            )

    @property
    def last_reload_successful(self) -> bool:
        return self._failed_signature is None

    def _watched(self, config: WebConfig) -> tuple[str, ...]:
        return (self._path, *config.files) if self._path else ()

    def _signature_of(self, config: WebConfig) -> tuple[Any, ...]:
        return (self._watched(config), _file_signature(self._watched(config)))

    def current(self) -> WebConfig:
        if self._path is None:
            return self._config
        with self._lock:
            signature = self._signature_of(self._config)
            if signature in (self._signature, self._failed_signature):
                return self._config
            self._reload(signature)
            return self._config

    def _reload(self, signature_before: tuple[Any, ...]) -> None:
        assert self._path is not None
        try:
            config = self._loader(self._path)
        except WebConfigError as exc:
            self._refuse(signature_before, str(exc))
            return
        weakened = weakenings(self._config, config)
        if weakened:
            self._refuse(
                signature_before,
                f"{self._path} would {' and '.join(weakened)}; restart the exporter to do that",
            )
            return
        # The signature taken before reading is kept when the file list did not change,
        # so a write that raced with this read still triggers another reload.
        after = self._signature_of(config)
        self._signature = signature_before if after[0] == signature_before[0] else after
        self._failed_signature = None
        self._config = config
        log.info("web config reloaded from %s", self._path)

    def _refuse(self, signature: tuple[Any, ...], why: str) -> None:
        self._failed_signature = signature
        self.reload_failures += 1
        log.error("web config reload refused, keeping the configuration in force: %s", why)


class WebConfigCollector(Collector):
    """The reload outcome of the web config, for alerting on a refused change."""

    def __init__(self, reloader: WebConfigReloader) -> None:
        self._reloader = reloader

    def describe(self) -> Iterable[Metric]:
        return self._families(0, last_successful=True)

    def collect(self) -> Iterable[Metric]:
        reloader = self._reloader
        return self._families(reloader.reload_failures, reloader.last_reload_successful)

    @staticmethod
    def _families(failures: int, last_successful: bool) -> list[Metric]:
        return [
            CounterMetricFamily(
                "kb4_web_config_reload_failures",
                "Changes of --web.config.file that were refused (unreadable, invalid, or "
                "turning TLS or auth off); the configuration in force stays.",
                value=failures,
            ),
            GaugeMetricFamily(
                "kb4_web_config_last_reload_successful",
                "1 when the web config in force matches the file, 0 when its latest change "
                "was refused.",
                value=1 if last_successful else 0,
            ),
        ]
