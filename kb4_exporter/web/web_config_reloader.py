"""The web config in force, reloaded when its file or a certificate file changes.

A change that would turn TLS, basic auth or client certificate checks off is refused:
protection never drops because a file was emptied, half-saved or deleted.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from kb4_exporter.web.web_config import WebConfig, WebConfigError, load_web_config

log = logging.getLogger(__name__)

# What the watched files looked like: (paths, (mtime, size, inode) or None per path).
_Signature = tuple[Any, ...]


def weakenings(old: WebConfig, new: WebConfig) -> list[str]:
    """What `new` would turn off that `old` has on: TLS, basic auth, client certificates."""
    found: list[str] = []
    if old.tls is not None and new.tls is None:
        found.append("turn TLS off")
    if old.auth_enabled and not new.auth_enabled:
        found.append("turn basic auth off")
    if old.tls is not None and new.tls is not None:
        before = old.tls.options.client_auth_type.verify_mode
        if new.tls.options.client_auth_type.verify_mode < before:
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
        self._failed_signature: _Signature | None = None
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

    def current(self) -> WebConfig:
        """The configuration in force, after reloading the file if it changed."""
        path = self._path
        if path is None:
            return self._config
        with self._lock:
            signature = self._signature_of(self._config)
            if signature not in (self._signature, self._failed_signature):
                self._reload(path, signature)
            return self._config

    def _watched(self, config: WebConfig) -> tuple[str, ...]:
        return (self._path, *config.files) if self._path else ()

    def _signature_of(self, config: WebConfig) -> _Signature:
        return (self._watched(config), _file_signature(self._watched(config)))

    def _reload(self, path: str, signature_before: _Signature) -> None:
        try:
            config = self._loader(path)
        except WebConfigError as exc:
            self._refuse(signature_before, str(exc))
            return
        weakened = weakenings(self._config, config)
        if weakened:
            self._refuse(
                signature_before,
                f"{path} would {' and '.join(weakened)}; restart the exporter to do that",
            )
            return
        # The signature taken before reading is kept when the file list did not change,
        # so a write that raced with this read still triggers another reload.
        after = self._signature_of(config)
        self._signature = signature_before if after[0] == signature_before[0] else after
        self._failed_signature = None
        self._config = config
        log.info("web config reloaded from %s", path)

    def _refuse(self, signature: _Signature, why: str) -> None:
        self._failed_signature = signature
        self.reload_failures += 1
        log.error("web config reload refused, keeping the configuration in force: %s", why)


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
