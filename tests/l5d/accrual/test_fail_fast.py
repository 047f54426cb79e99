"""client.failFast: BUSY after a failed connect until the backoff passes; a connect resets."""

from __future__ import annotations

import itertools

from l5d.accrual import BUSY, OPEN, ConsecutiveFailures, FailureAccrual, State
from l5d.accrual.fail_fast import FailFast, WithFailFast
from l5d.retry import constant


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def make(clock: Clock) -> WithFailFast:
    accrual = FailureAccrual(ConsecutiveFailures(5, lambda: constant(60.0)), clock)
    streams = iter([itertools.count(1.0), itertools.count(1.0)])  # 1 s, 2 s, 3 s, ...
    return WithFailFast(accrual, FailFast(lambda: next(streams), clock))


def test_busy_for_the_backoff_then_open_to_probe() -> None:
    clock = Clock()
    health = make(clock)
    assert health.status(clock.t) == OPEN
    health.acquire_failed()
    assert health.status(clock.t) == BUSY
    clock.t += 0.999
    assert health.status(clock.t) == BUSY
    clock.t += 0.001
    assert health.status(clock.t) == OPEN
    health.acquire_failed()  # the probe's connect failed too: the next, longer delay
    clock.t += 1.999
    assert health.status(clock.t) == BUSY
    clock.t += 0.001
    assert health.status() == OPEN


def test_a_connect_resets_the_backoff() -> None:
    clock = Clock()
    health = make(clock)
    health.acquire_failed()
    health.acquire_failed()
    clock.t += 5
    health.dispatched()  # a connection was made and the request went out
    health.succeeded()
    health.acquire_failed()
    clock.t += 1.0
    assert health.status(clock.t) == OPEN  # a fresh streak starts at 1 s again


def test_the_accrual_still_counts() -> None:
    clock = Clock()
    health = make(clock)
    for _ in range(5):
        health.dispatched()
        health.failed()
    assert health.state is State.DEAD and health.removals == 1
    assert health.status(clock.t) == BUSY
