"""The request watchdog: a real socket is shut down when the deadline's alarm goes off."""

from __future__ import annotations

import gc
import socket
import threading
import weakref
from collections.abc import Callable

import pytest

from kb4_exporter.api.deadline import RefreshDeadline, Watchdog, thread_alarm, watched_request
from kb4_exporter.api.errors import ApiTimeoutError
from kb4_exporter.api.outcomes import Call


class ManualAlarm:
    """An alarm the test sets off by hand."""

    def __init__(self) -> None:
        self.action: Callable[[], None] | None = None
        self.seconds: float | None = None
        self.cancelled = False

    def __call__(self, seconds: float, action: Callable[[], None]) -> Callable[[], None]:
        self.seconds, self.action = seconds, action
        return self.cancel

    def cancel(self) -> None:
        self.cancelled = True

    def ring(self) -> None:
        assert self.action is not None
        self.action()


def test_a_watched_socket_reads_end_of_file_once_the_alarm_rings() -> None:
    alarm = ManualAlarm()
    ours, theirs = socket.socketpair()
    with ours, theirs:
        watchdog = Watchdog(alarm, 120.0)
        watchdog.watch(ours)
        theirs.sendall(b"a")
        assert ours.recv(1) == b"a"

        alarm.ring()

        assert watchdog.expired
        ours.settimeout(5)
        assert ours.recv(1) == b""  # a blocked read would have returned too
        watchdog.close()
    assert alarm.seconds == 120.0
    assert alarm.cancelled


def test_a_socket_watched_after_expiry_is_shut_down_at_once() -> None:
    alarm = ManualAlarm()
    ours, theirs = socket.socketpair()
    with ours, theirs:
        watchdog = Watchdog(alarm, 1.0)
        alarm.ring()
        watchdog.watch(ours)
        ours.settimeout(5)
        assert ours.recv(1) == b""
        watchdog.close()


def test_after_the_request_the_alarm_no_longer_touches_the_socket() -> None:
    alarm = ManualAlarm()
    ours, theirs = socket.socketpair()
    with ours, theirs:
        with watched_request(alarm, 1.0) as watchdog:
            watchdog.watch(ours)
        alarm.ring()  # too late: the request is over and the connection may be reused

        assert not watchdog.expired
        theirs.sendall(b"b")
        assert ours.recv(1) == b"b"


def test_a_finished_request_is_freed_without_the_garbage_collector() -> None:
    # The scheduler freezes what survives a refresh out of later collections: a request
    # must leave no reference cycle (alarm -> watchdog -> alarm) behind.
    gc.disable()
    try:
        with watched_request(thread_alarm, 60.0) as watchdog:
            pass
        freed = weakref.ref(watchdog)
        del watchdog
        _join_alarm_threads()
        assert freed() is None
    finally:
        gc.enable()


def _join_alarm_threads() -> None:
    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer):
            thread.join(timeout=5)


# --- the refresh's deadline -------------------------------------------------------------


class StoppedClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


CALL = Call("reporting", "GET", "https://us.api.knowbe4.test/v1/users")


def test_without_a_refresh_deadline_each_attempt_gets_the_request_deadline() -> None:
    deadline = RefreshDeadline(StoppedClock(1000.0), 120.0)

    assert deadline.attempt_seconds(CALL) == 120.0
    assert deadline.allows_wait(1e9)


def test_an_attempt_gets_no_more_than_the_refresh_has_left() -> None:
    clock = StoppedClock(1000.0)
    deadline = RefreshDeadline(clock, 120.0)

    with deadline.until(1030.0):
        assert deadline.attempt_seconds(CALL) == 30.0
        clock.now = 1030.0
        with pytest.raises(ApiTimeoutError, match="reporting API GET /v1/users: not sent"):
            deadline.attempt_seconds(CALL)
    assert deadline.attempt_seconds(CALL) == 120.0


def test_a_wait_that_ends_at_the_deadline_leaves_no_time_for_an_attempt() -> None:
    deadline = RefreshDeadline(StoppedClock(1000.0), 120.0)

    with deadline.until(1010.0):
        assert deadline.allows_wait(9.5)
        assert not deadline.allows_wait(10.0)
