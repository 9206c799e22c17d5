"""API tokens: read from a file or an environment variable, never shown.

A token file is re-read on every use so a rotated token takes effect without a restart.
`Secret`'s repr and str never contain the token.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


class SecretError(Exception):
    """The token cannot be read; the message says where it should come from."""


@dataclass(frozen=True)
class Secret:
    """Where a token comes from: `file` path or `env` variable name."""

    kind: str  # "file" | "env" | "inline" (the simulator's own demo tokens only)
    ref: str
    environ: Mapping[str, str] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def inline(cls, value: str) -> Secret:
        return cls("inline", value)

    def __repr__(self) -> str:
        return f"Secret({self.describe()})"

    __str__ = __repr__

    def describe(self) -> str:
        """Redacted description for logs and --config.check."""
        if self.kind == "file":
            return f"file {self.ref}"
        if self.kind == "env":
            return f"env ${self.ref}"
        return "built-in demo token"

    def problem(self) -> str | None:
        """Why the token cannot be read right now, or None; never raises."""
        try:
            self.read()
        except SecretError as err:
            return str(err)
        return None

    def read(self) -> str:
        if self.kind == "file":
            return _read_token_file(self.ref)
        if self.kind == "inline":
            return self.ref
        environ = os.environ if self.environ is None else self.environ
        value = environ.get(self.ref, "").strip()
        if not value:
            raise SecretError(f"environment variable {self.ref} is empty or unset")
        return value


# Missing "paths" this long without a directory part are not echoed: API tokens are long.
_TOKEN_LIKE_LENGTH = 40
_warned_permissions: set[str] = set()
_warned_lock = threading.Lock()


def _read_token_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            info = os.fstat(handle.fileno())
            text = handle.read()
    except FileNotFoundError:
        if _looks_like_token(path):
            raise SecretError(
                "token file does not exist; its name is not shown because it looks like "
                "a token (long, no '/'): give the path of a file holding the token"
            ) from None
        raise SecretError(f"token file {path} does not exist") from None
    except PermissionError:
        raise SecretError(f"token file {path} is not readable by this user") from None
    except IsADirectoryError:
        raise SecretError(f"token file {path} is a directory") from None
    except UnicodeDecodeError:
        raise SecretError(f"token file {path} is not UTF-8 text") from None
    except OSError as err:
        raise SecretError(f"token file {path} cannot be read: {err.strerror}") from None
    _warn_if_shared(path, info.st_mode, info.st_gid)
    token = text.strip()
    if not token:
        raise SecretError(f"token file {path} is empty")
    if any(ch.isspace() for ch in token):
        raise SecretError(
            f"token file {path} holds more than one word; it must hold the token only"
        )
    return token


def _looks_like_token(path: str) -> bool:
    """A token pasted where a path belongs must not be echoed in an error message."""
    return len(path) >= _TOKEN_LIKE_LENGTH and os.sep not in path


def _warn_if_shared(path: str, mode: int, gid: int) -> None:
    # Group-readable is fine when the group is our own: Kubernetes mounts Secrets 0440 with
    # the pod's fsGroup, and systemd credentials are group-owned by the service.
    world_readable = bool(mode & stat.S_IROTH)
    foreign_group = bool(mode & stat.S_IRGRP) and gid not in {os.getgid(), *os.getgroups()}
    if not (world_readable or foreign_group):
        return
    with _warned_lock:
        if path in _warned_permissions:
            return
        _warned_permissions.add(path)
    log.warning(
        "token file %s is readable by other users (mode %o); chmod 600 it",
        path,
        stat.S_IMODE(mode),
    )
