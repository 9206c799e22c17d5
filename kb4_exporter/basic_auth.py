"""HTTP basic auth: checks `Authorization: Basic` credentials against bcrypt hashes."""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Mapping

import bcrypt
import cachetools

Clock = Callable[[], float]


class BasicAuthenticator:
    """Checks `Authorization: Basic` credentials against bcrypt hashes.

    bcrypt is slow on purpose, so successful checks are cached for `cache_ttl` seconds.
    The cache key is an HMAC (with a per-process random key) of user, password and the
    stored hash: no password is kept in clear, and a changed hash invalidates at once.
    """

    def __init__(
        self, *, clock: Clock = time.monotonic, cache_ttl: float = 60.0, cache_size: int = 1024
    ) -> None:
        self._key = secrets.token_bytes(32)
        self._cache: cachetools.TTLCache[bytes, bool] = cachetools.TTLCache(
            maxsize=cache_size, ttl=cache_ttl, timer=clock
        )
        self._lock = threading.Lock()

    def check(self, authorization: str | None, users: Mapping[str, bytes]) -> bool:
        credentials = _parse_basic_credentials(authorization)
        if credentials is None:
            return False
        username, password = credentials
        stored = _find_hash(users, username)
        if stored is None:
            # Spend the same bcrypt time as for a real user: no user enumeration by timing.
            _checkpw(password, _dummy_hash(_cost_of(next(iter(users.values()), b""))))
            return False
        key = hmac.digest(self._key, _length_prefixed(username, password, stored), "sha256")
        with self._lock:
            if self._cache.get(key):
                return True
        if not _checkpw(password, stored):
            return False
        with self._lock:
            self._cache[key] = True
        return True


def _checkpw(password: bytes, stored: bytes) -> bool:
    # bcrypt only ever uses the first 72 bytes; htpasswd and Go truncate the same way,
    # while the Python binding refuses longer passwords instead.
    return bcrypt.checkpw(password[:72], stored)


def _parse_basic_credentials(authorization: str | None) -> tuple[bytes, bytes] | None:
    if not authorization:
        return None
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    username, sep, password = decoded.partition(b":")
    return (username, password) if sep else None


def _find_hash(users: Mapping[str, bytes], username: bytes) -> bytes | None:
    # Compare against every user, each in constant time, so timing says nothing about
    # which names exist or how much of a name matched.
    found: bytes | None = None
    for name, stored in users.items():
        if hmac.compare_digest(name.encode("utf-8"), username):
            found = stored
    return found


def _length_prefixed(*parts: bytes) -> bytes:
    return b"".join(len(part).to_bytes(4, "big") + part for part in parts)


def _cost_of(stored: bytes) -> int:
    try:
        return int(stored[4:6])
    except ValueError:
        return 10


@functools.cache
def _dummy_hash(cost: int) -> bytes:
    return bcrypt.hashpw(b"kb4_exporter-dummy", bcrypt.gensalt(rounds=max(4, min(cost, 31))))
