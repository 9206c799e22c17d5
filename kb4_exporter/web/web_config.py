"""The `--web.config.file` in the Prometheus exporter-toolkit format.

It switches `/metrics` to TLS (optionally with client certificates, `tls_section.py`),
turns on HTTP basic auth against bcrypt hashes and sets extra response headers. Loading
validates the whole file and reports every problem at once; a successful load also
builds the `ssl.SSLContext`, so a loaded `WebConfig` is a consistent snapshot of the
certificate files as they were read. `web_config_reloader.py` follows changes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import yaml

from kb4_exporter.web.section_reader import SectionReader, one_line
from kb4_exporter.web.tls_section import TLSSectionParser, TLSSettings


class WebConfigError(ValueError):
    """The web config file is unusable; `problems` lists every problem found."""

    def __init__(self, path: str, problems: Sequence[str]) -> None:
        super().__init__(
            f"invalid web config file {path}:\n" + "\n".join(f"  - {p}" for p in problems)
        )
        self.path = path
        self.problems = tuple(problems)


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
        raise WebConfigError(path, [f"not valid YAML: {one_line(exc)}"]) from None
    return _WebConfigParser(os.path.dirname(os.path.abspath(path))).parse(path, document)


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
_HTTP_KEYS = frozenset({"http2", "headers"})


class _WebConfigParser:
    """Turns the parsed YAML into a WebConfig, collecting problems instead of stopping."""

    def __init__(self, base_dir: str) -> None:
        self._reader = SectionReader()
        self._tls = TLSSectionParser(self._reader, base_dir)

    def parse(self, path: str, document: Any) -> WebConfig:
        if document is None:
            document = {}  # an empty file means: plain HTTP, no auth (as in the toolkit)
        top = self._reader.mapping(document, "the top level")
        self._reader.unknown_keys(top, _TOP_KEYS, "")
        tls = self._tls.parse(top.get("tls_server_config"))
        headers = self._headers(top.get("http_server_config"))
        users = self._users(top.get("basic_auth_users"))
        if self._reader.problems:
            raise WebConfigError(path, self._reader.problems)
        return WebConfig(
            tls=tls,
            basic_auth_users=MappingProxyType(users),
            headers=MappingProxyType(headers),
        )

    def _headers(self, raw: Any) -> dict[str, str]:
        """The response headers of `http_server_config`."""
        section = self._reader.mapping(raw, "http_server_config")
        self._reader.unknown_keys(section, _HTTP_KEYS, "http_server_config.")
        # http2 is accepted for compatibility; this server speaks HTTP/1.1 only.
        self._reader.boolean(section, "http2", default=False, where="http_server_config")
        headers = self._reader.mapping(section.get("headers"), "http_server_config.headers")
        result: dict[str, str] = {}
        for name, value in headers.items():
            canonical = _HEADER_NAMES.get(str(name).lower(), str(name))
            problem = _header_problem(canonical, value)
            if problem:
                self._reader.problem(f"http_server_config.headers.{name}: {problem}")
            else:
                result[canonical] = value
        return result

    def _users(self, raw: Any) -> dict[str, bytes]:
        section = self._reader.mapping(raw, "basic_auth_users")
        users: dict[str, bytes] = {}
        for name, hashed in section.items():
            if not isinstance(name, str) or not name or ":" in name:
                self._reader.problem(f"basic_auth_users: user name {name!r} is empty or has a ':'")
            elif not isinstance(hashed, str) or not _BCRYPT_HASH.fullmatch(hashed):
                # The hash itself is left out of the message: it is a secret of sorts.
                self._reader.problem(f"basic_auth_users.{name}: not a bcrypt hash ($2a$/$2b$/$2y$)")
            else:
                users[name] = hashed.encode("ascii")
        return users


def _header_problem(name: str, value: Any) -> str | None:
    """What is wrong with setting response header `name` to `value`, if anything."""
    if name not in _ALLOWED_HEADERS:
        return "not a header a web config may set"
    if not isinstance(value, str) or not value or "\r" in value or "\n" in value:
        return "must be a non-empty single-line string"
    allowed = _ALLOWED_HEADERS[name]
    if allowed and value.lower() not in allowed:
        return f"must be one of {', '.join(sorted(allowed))}"
    return None
