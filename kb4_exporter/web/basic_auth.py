"""HTTP basic auth: `Authorization: Basic` credentials against bcrypt hashes.

bcrypt is slow on purpose (tens of milliseconds of CPU per check). Credentials that passed
once are remembered, so an authorised scraper pays for one check and never again; checks
of credentials not seen to pass are throttled per client address and in all
(`AttemptThrottle`), so a password-guessing client can spend only a bounded share of a
core, and never the time of the scrapes that are already known.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import ipaddress
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import bcrypt
import cachetools

Clock = Callable[[], float]


class BasicAuthenticator:
    """Checks credentials; successful ones are remembered against the hash they matched.

    The memory is keyed by an HMAC (with a per-process random key) of user, password and
    the stored hash: no password is kept in clear, and a changed hash or a removed user
    stops matching at once, so nothing needs to expire.
    """

    def __init__(self, *, remembered: int = 1024) -> None:
        self._key = secrets.token_bytes(32)
        self._passed: cachetools.LRUCache[bytes, bool] = cachetools.LRUCache(remembered)
        self._lock = threading.Lock()

    def known(self, authorization: str | None, users: Mapping[str, bytes]) -> bool | None:
        """True: these credentials passed before; False: they never can (absent, malformed);
        None: only a bcrypt check (`verify`) can tell. Cheap: safe on an event loop."""
        attempt = _Attempt.of(authorization, users)
        if attempt is None:
            return False
        if attempt.stored is None:
            return None  # an unknown user still costs a bcrypt check: no enumeration by timing
        with self._lock:
            return True if self._passed.get(self._memory_key(attempt, attempt.stored)) else None

    def verify(self, authorization: str | None, users: Mapping[str, bytes]) -> bool:
        """The bcrypt check; remembers success. Slow: run it off the event loop."""
        attempt = _Attempt.of(authorization, users)
        if attempt is None:
            return False
        if attempt.stored is None:
            _checkpw(attempt.password, _dummy_hash(_cost_of(next(iter(users.values()), b""))))
            return False
        if not _checkpw(attempt.password, attempt.stored):
            return False
        with self._lock:
            self._passed[self._memory_key(attempt, attempt.stored)] = True
        return True

    def _memory_key(self, attempt: _Attempt, stored: bytes) -> bytes:
        material = _length_prefixed(attempt.username, attempt.password, stored)
        return hmac.digest(self._key, material, "sha256")


@dataclass(frozen=True)
class _Attempt:
    """Credentials from an `Authorization` header, and the hash stored for the user."""

    username: bytes
    password: bytes
    stored: bytes | None  # None: no such user

    @classmethod
    def of(cls, authorization: str | None, users: Mapping[str, bytes]) -> _Attempt | None:
        """None when the header holds no basic credentials."""
        credentials = _parse_basic_credentials(authorization)
        if credentials is None:
            return None
        username, password = credentials
        return cls(username, password, _find_hash(users, username))


@dataclass(frozen=True)
class Rate:
    """A token bucket's size and refill: `burst` checks at once, then `per_second`."""

    burst: float
    per_second: float


# Prometheus needs one check per password it learns; these leave room for a few
# mistyped passwords from a person and cap a guessing client at a small share of a core.
PER_CLIENT_RATE = Rate(burst=5, per_second=0.5)
OVERALL_RATE = Rate(burst=20, per_second=2)


class AttemptThrottle:
    """Token buckets for bcrypt checks of unknown credentials: one per client, one in all.

    A client is an IPv4 address or an IPv6 /64 (one host's usual share), so a client
    cannot get fresh buckets by hopping addresses inside its own network; the overall
    bucket bounds clients with many networks.
    """

    def __init__(
        self,
        *,
        clock: Clock = time.monotonic,
        per_client: Rate = PER_CLIENT_RATE,
        overall: Rate = OVERALL_RATE,
        clients: int = 4096,
    ) -> None:
        self._clock = clock
        self._per_client = per_client
        self._overall_rate = overall
        self._overall = _Bucket(overall.burst, clock())
        self._buckets: cachetools.LRUCache[str, _Bucket] = cachetools.LRUCache(clients)
        self._lock = threading.Lock()

    def allow(self, remote: str | None) -> float:
        """0 when `remote` may have a check now (and spends it); else seconds to wait."""
        now = self._clock()
        client = client_of(remote)
        with self._lock:
            bucket = self._buckets.get(client)
            if bucket is None:
                bucket = self._buckets[client] = _Bucket(self._per_client.burst, now)
            waits = (
                bucket.wait(now, self._per_client),
                self._overall.wait(now, self._overall_rate),
            )
            if max(waits) > 0:
                return max(waits)
            bucket.tokens -= 1
            self._overall.tokens -= 1
            return 0.0


@dataclass
class _Bucket:
    tokens: float
    updated: float

    def wait(self, now: float, rate: Rate) -> float:
        """Refill for the time passed; seconds until one token is there (0: it is)."""
        self.tokens = min(rate.burst, self.tokens + (now - self.updated) * rate.per_second)
        self.updated = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / rate.per_second


def client_of(remote: str | None) -> str:
    """The throttling key of a peer address: the IPv4 address, or the IPv6 /64."""
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:
        return remote or ""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # IPv4 through a dual-stack socket
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


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
