"""API tokens: read from a file or an environment variable, never shown.

A token file is re-read on every use so a rotated token takes effect without a restart.
`Secret`'s repr and str never contain the token, and neither do its error messages: a
token pasted where a file path or variable name belongs is not echoed either.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field

from kb4_exporter.logs import WarnOnce

log = logging.getLogger(__name__)

# What a bearer token can contain without breaking the Authorization header (visible
# ASCII). Requests are refused for any other token, so configuration checks use it too.
_TOKEN_CHARS = re.compile(r"[\x21-\x7e]+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# An editor's UTF-8 byte order mark is not part of the token.
_BOM = "\ufeff"


class SecretError(Exception):
    """The token cannot be read; the message says where it should come from."""


def token_file_warnings() -> WarnOnce:
    """A fresh record of the token files already named as readable by other users."""
    return WarnOnce(log)


@dataclass(frozen=True)
class Secret:
    """Where a token comes from: `file` path or `env` variable name."""

    kind: str  # "file" | "env" | "inline" (the simulator's own demo tokens only)
    ref: str
    environ: Mapping[str, str] | None = field(default=None, repr=False, compare=False)
    # A token file is read on every request: a file others can read is named once per
    # owner of this record (see TokenSources), not on every read.
    warnings: WarnOnce = field(default_factory=token_file_warnings, repr=False, compare=False)

    @classmethod
    def inline(cls, value: str) -> Secret:
        return cls("inline", value)

    def __repr__(self) -> str:
        return f"Secret({self.describe()})"

    __str__ = __repr__

    def describe(self) -> str:
        """Redacted description for logs and --config.check."""
        if self.kind == "file":
            return f"file {_shown_path(self.ref)}"
        if self.kind == "env":
            return f"env ${_shown_env_name(self.ref)}"
        return "built-in demo token"

    def problem(self) -> str | None:
        """Why the token cannot be read or sent right now, or None; never raises."""
        try:
            self.read()
        except SecretError as err:
            return str(err)
        return None

    def read(self) -> str:
        if self.kind == "file":
            return _read_token_file(self.ref, self.warnings)
        if self.kind == "inline":
            return self.ref
        environ = os.environ if self.environ is None else self.environ
        name = _shown_env_name(self.ref)
        value = environ.get(self.ref, "").removeprefix(_BOM).strip()
        if not value:
            raise SecretError(f"environment variable {name} is empty or unset")
        problem = unsendable_reason(value)
        if problem:
            raise SecretError(f"environment variable {name} {problem}")
        return value


class TokenSources:
    """Makes the secrets of one configuration: their variables are read from `environ`,
    and they share one record of warnings, so a token file several accounts use is named
    once."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self._warnings = token_file_warnings()

    def file(self, path: str) -> Secret:
        return Secret("file", path, warnings=self._warnings)

    def env(self, name: str) -> Secret:
        return Secret("env", name, self._environ, warnings=self._warnings)


def is_env_name(name: str) -> bool:
    """Whether `name` can be an environment variable's name (letters, digits, '_')."""
    return _ENV_NAME.fullmatch(name) is not None


def unsendable_reason(token: str) -> str | None:
    """Why `token` cannot go in an Authorization header, or None; never quotes the token.

    The reason names the first bad character by code point and position: such a character
    is never part of a usable token, so naming it gives nothing away.
    """
    if not token:
        return "is empty"
    if _TOKEN_CHARS.fullmatch(token):
        return None
    position, char = next((i, c) for i, c in enumerate(token) if not _TOKEN_CHARS.match(c))
    return (
        f"holds a character a token cannot have (U+{ord(char):04X} at position {position + 1}: "
        "a space, control or non-ASCII character); it must hold the token only"
    )


# "Paths" this long without a directory part are never echoed: API tokens are long.
_TOKEN_LIKE_LENGTH = 40


def _read_token_file(path: str, warnings: WarnOnce) -> str:
    hidden = _looks_like_token(path)
    try:
        # utf-8-sig drops a leading byte order mark, as some Windows editors write one.
        with open(path, encoding="utf-8-sig") as handle:
            info = os.fstat(handle.fileno())
            text = handle.read()
    except FileNotFoundError:
        raise _file_error(path, hidden, "does not exist") from None
    except PermissionError:
        raise _file_error(path, hidden, "is not readable by this user") from None
    except IsADirectoryError:
        raise _file_error(path, hidden, "is a directory") from None
    except UnicodeDecodeError:
        raise _file_error(path, hidden, "is not UTF-8 text") from None
    except ValueError:  # open() refuses a path with a NUL character
        raise _file_error(path, hidden, "is not a valid path") from None
    except OSError as err:
        # No file has a name too long to open, but a pasted token does.
        hidden = hidden or err.errno == errno.ENAMETOOLONG
        raise _file_error(path, hidden, f"cannot be read: {err.strerror}") from None
    _warn_if_shared(path, info.st_mode, info.st_gid, warnings)
    token = text.strip()
    if not token:
        raise _file_error(path, hidden, "is empty")
    if any(ch.isspace() for ch in token):
        raise _file_error(path, hidden, "holds more than one word; it must hold the token only")
    problem = unsendable_reason(token)
    if problem:
        raise _file_error(path, hidden, problem)
    return token


def _file_error(path: str, hidden: bool, what: str) -> SecretError:
    if hidden:
        return SecretError(
            f"token file {what}; its name is not shown because it looks like a token: "
            "give the path of a file holding the token"
        )
    return SecretError(f"token file {path} {what}")


_HIDDEN_NAME = "(name not shown: it looks like a token)"


def _shown_path(path: str) -> str:
    """The path as it may appear in messages: a token pasted in its place is hidden."""
    return _HIDDEN_NAME if _looks_like_token(path) else path


def _looks_like_token(path: str) -> bool:
    """A token pasted where a path belongs must not be echoed in any message."""
    return len(path) >= _TOKEN_LIKE_LENGTH and os.sep not in path


def _shown_env_name(name: str) -> str:
    """The variable name as it may appear in messages: a token pasted in its place is hidden.

    Long names are accepted in the conventional form only (upper case with '_'): a long
    name with lower-case letters or without '_', or anything that is not a variable name
    at all, is treated as a token.
    """
    conventional = name.isupper() and "_" in name
    if is_env_name(name) and (len(name) < _TOKEN_LIKE_LENGTH or conventional):
        return name
    return _HIDDEN_NAME


def _warn_if_shared(path: str, mode: int, gid: int, warnings: WarnOnce) -> None:
    # Group-readable is fine when the group is our own: Kubernetes mounts Secrets 0440 with
    # the pod's fsGroup, and systemd credentials are group-owned by the service.
    world_readable = bool(mode & stat.S_IROTH)
    foreign_group = bool(mode & stat.S_IRGRP) and gid not in {os.getgid(), *os.getgroups()}
    if not (world_readable or foreign_group):
        return
    warnings.warning(
        path,
        "token file %s is readable by other users (mode %o); chmod 600 it",
        _shown_path(path),
        stat.S_IMODE(mode),
    )
