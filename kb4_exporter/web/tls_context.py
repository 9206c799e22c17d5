"""The server's `ssl.SSLContext`, built from validated TLS options.

Where Python's TLS stack cannot do what the Go exporter-toolkit does, we refuse rather
than silently weaken: every client certificate Python requests is verified, so
`RequireAnyClientCert` needs a CA file here. `RequestClientCert` never rejects a client
in Go (the certificate is not verified), so it is served without asking for one.
"""

from __future__ import annotations

import enum
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from kb4_exporter.web.section_reader import one_line


class ClientAuthType(enum.StrEnum):
    """The toolkit's client certificate policies."""

    NO_CLIENT_CERT = "NoClientCert"
    REQUEST_CLIENT_CERT = "RequestClientCert"
    REQUIRE_ANY_CLIENT_CERT = "RequireAnyClientCert"
    VERIFY_CLIENT_CERT_IF_GIVEN = "VerifyClientCertIfGiven"
    REQUIRE_AND_VERIFY_CLIENT_CERT = "RequireAndVerifyClientCert"

    @property
    def verify_mode(self) -> ssl.VerifyMode:
        """What OpenSSL does for this policy; CERT_NONE: no certificate is requested."""
        return _VERIFY_MODES[self]

    @property
    def verifies(self) -> bool:
        return self.verify_mode is not ssl.CERT_NONE


_VERIFY_MODES: Mapping[ClientAuthType, ssl.VerifyMode] = {
    ClientAuthType.NO_CLIENT_CERT: ssl.CERT_NONE,
    ClientAuthType.REQUEST_CLIENT_CERT: ssl.CERT_NONE,
    ClientAuthType.REQUIRE_ANY_CLIENT_CERT: ssl.CERT_REQUIRED,
    ClientAuthType.VERIFY_CLIENT_CERT_IF_GIVEN: ssl.CERT_OPTIONAL,
    ClientAuthType.REQUIRE_AND_VERIFY_CLIENT_CERT: ssl.CERT_REQUIRED,
}


@dataclass(frozen=True)
class ServerContextOptions:
    """What a server context is built from, in OpenSSL's terms (cipher names too)."""

    cert_file: str
    key_file: str
    client_auth_type: ClientAuthType
    client_ca_file: str | None
    min_version: ssl.TLSVersion
    max_version: ssl.TLSVersion | None
    cipher_suites: tuple[str, ...]  # OpenSSL's names; TLS 1.3 suites are always on
    prefer_server_cipher_suites: bool

    @property
    def files(self) -> tuple[str, ...]:
        """The files the context is built from (watched for rotation)."""
        ca = (self.client_ca_file,) if self.client_ca_file else ()
        return (self.cert_file, self.key_file, *ca)


class TLSContextError(ValueError):
    """The files or settings cannot make a context; `problems` says which and why."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


def build_server_context(options: ServerContextOptions) -> ssl.SSLContext:
    """A server context for `options`; TLSContextError lists every step that failed."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = options.min_version
    if options.max_version is not None:
        context.maximum_version = options.max_version
    if not options.prefer_server_cipher_suites:
        context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    context.set_alpn_protocols(["http/1.1"])
    problems = [
        problem
        for setting, step in _loading_steps(context, options)
        if (problem := _attempt(setting, step)) is not None
    ]
    if problems:
        raise TLSContextError(problems)
    context.verify_mode = options.client_auth_type.verify_mode
    return context


def _loading_steps(
    context: ssl.SSLContext, options: ServerContextOptions
) -> list[tuple[str, Callable[[], None]]]:
    """(the settings a step reads, the step) for each file or list loaded into `context`."""

    def load_cert_chain() -> None:
        context.load_cert_chain(options.cert_file, options.key_file, password=_refuse_password)

    steps: list[tuple[str, Callable[[], None]]] = [("cert_file/key_file", load_cert_chain)]
    if options.cipher_suites:
        suites = ":".join(options.cipher_suites)
        steps.append(("cipher_suites", lambda: context.set_ciphers(suites)))
    if options.client_ca_file and options.client_auth_type.verifies:
        ca_file = options.client_ca_file
        steps.append(("client_ca_file", lambda: context.load_verify_locations(cafile=ca_file)))
    return steps


def _attempt(setting: str, step: Callable[[], None]) -> str | None:
    """Run one loading step; the problem it ran into, if any."""
    try:
        step()
    except _EncryptedKeyError:
        return "tls_server_config.key_file: encrypted keys are not supported"
    except (ssl.SSLError, OSError, ValueError) as exc:
        return f"tls_server_config.{setting}: {one_line(exc)}"
    return None


class _EncryptedKeyError(Exception):
    pass


def _refuse_password() -> str:
    # Without a callback OpenSSL would prompt on the terminal and hang a daemon.
    raise _EncryptedKeyError
