"""Basic auth on its own: the authenticator's memory and the bcrypt attempt throttle."""

from __future__ import annotations

import bcrypt
import pytest
from support.web_server_kit import ManualClock, basic_auth

from kb4_exporter.web.basic_auth import AttemptThrottle, BasicAuthenticator, Rate, client_of

PASSWORD = "correct horse"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()


@pytest.fixture
def bcrypt_calls(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    calls: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        calls.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    return calls


USERS = {"prometheus": HASH.encode()}


def test_credentials_that_passed_are_known_without_bcrypt(bcrypt_calls: list[bytes]) -> None:
    auth = BasicAuthenticator()
    assert auth.known(basic_auth("prometheus", PASSWORD), USERS) is None
    assert auth.verify(basic_auth("prometheus", PASSWORD), USERS)
    for _ in range(5):
        assert auth.known(basic_auth("prometheus", PASSWORD), USERS) is True
    assert len(bcrypt_calls) == 1


@pytest.mark.parametrize("header", [None, "", "Bearer x", "Basic !!", basic_auth("a", "b")[:-2]])
def test_absent_or_malformed_credentials_are_refused_without_bcrypt(
    bcrypt_calls: list[bytes], header: str | None
) -> None:
    auth = BasicAuthenticator()
    assert auth.known(header, USERS) is False
    assert not auth.verify(header, USERS)
    assert bcrypt_calls == []


def test_failures_are_never_remembered(bcrypt_calls: list[bytes]) -> None:
    auth = BasicAuthenticator()
    for _ in range(3):
        assert auth.known(basic_auth("prometheus", "wrong"), USERS) is None
        assert not auth.verify(basic_auth("prometheus", "wrong"), USERS)
    assert len(bcrypt_calls) == 3


def test_unknown_users_cost_a_bcrypt_check_too(bcrypt_calls: list[bytes]) -> None:
    auth = BasicAuthenticator()
    assert auth.known(basic_auth("nobody", PASSWORD), USERS) is None
    assert not auth.verify(basic_auth("nobody", PASSWORD), USERS)
    assert len(bcrypt_calls) == 1
    assert bcrypt_calls[0] != HASH.encode()
    assert bcrypt_calls[0][:7] == HASH.encode()[:7]  # same cost as the real hash


def test_a_changed_hash_or_a_removed_user_stops_matching_at_once() -> None:
    auth = BasicAuthenticator()
    assert auth.verify(basic_auth("prometheus", PASSWORD), USERS)
    other = bcrypt.hashpw(b"other", bcrypt.gensalt(rounds=4))
    assert auth.known(basic_auth("prometheus", PASSWORD), {"prometheus": other}) is None
    assert not auth.verify(basic_auth("prometheus", PASSWORD), {"prometheus": other})
    assert auth.known(basic_auth("prometheus", PASSWORD), {"someone": HASH.encode()}) is None


def test_memory_keeps_no_password_in_clear() -> None:
    auth = BasicAuthenticator()
    assert auth.verify(basic_auth("prometheus", PASSWORD), USERS)
    remembered = list(auth._passed.keys())
    assert len(remembered) == 1
    assert PASSWORD.encode() not in remembered[0]
    assert len(remembered[0]) == 32  # an HMAC-SHA256, nothing else


def test_throttle_gives_each_client_a_burst_then_a_rate() -> None:
    clock = ManualClock()
    throttle = AttemptThrottle(
        clock=clock, per_client=Rate(burst=3, per_second=0.5), overall=Rate(100, 100)
    )
    assert [throttle.allow("192.0.2.1") for _ in range(4)] == [0, 0, 0, pytest.approx(2.0)]
    assert throttle.allow("192.0.2.2") == 0  # another client has its own bucket
    clock.now = 2.0
    assert throttle.allow("192.0.2.1") == 0
    assert throttle.allow("192.0.2.1") == pytest.approx(2.0)


def test_throttle_bounds_all_clients_together() -> None:
    clock = ManualClock()
    throttle = AttemptThrottle(
        clock=clock, per_client=Rate(burst=3, per_second=1), overall=Rate(burst=4, per_second=2)
    )
    allowed = [throttle.allow(f"192.0.2.{n}") == 0 for n in range(10)]
    assert allowed == [True] * 4 + [False] * 6
    clock.now = 0.5
    assert throttle.allow("192.0.2.99") == 0


@pytest.mark.parametrize(
    ("remote", "client"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        (None, ""),
        ("unix-socket", "unix-socket"),
    ],
)
def test_throttle_clients_are_ipv4_addresses_and_ipv6_networks(
    remote: str | None, client: str
) -> None:
    assert client_of(remote) == client
