"""``client.failFast``: an endpoint whose connect failed is set aside until a backoff passes (pure).

Finagle's ``FailFastFactory`` marks an endpoint ``Busy`` as soon as a connection to it
fails and keeps it so while it reconnects in the background with a jittered backoff from
1 s to 32 s. l5d keeps the same shape without background connects: after a failed connect
the endpoint reads ``BUSY`` until the next backoff delay has passed, then ``OPEN`` again so
the next request probes it; a connect that succeeds resets the backoff. The balancer's
fail open still sends requests to it when no endpoint is up. Off by default, as in Linkerd.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

from l5d.accrual.failure_accrual import BUSY, OPEN

__all__ = ["FailFast", "WithFailFast"]


class FailFast:
    """The fail-fast state of one endpoint.

    :param backoff: makes a fresh stream of delays in seconds (one per failing streak).
    :param now: monotonic seconds.
    """

    __slots__ = ("_backoff", "_now", "_delays", "busy_until")

    def __init__(self, backoff: Callable[[], Iterator[float]], now: Callable[[], float]) -> None:
        self._backoff = backoff
        self._now = now
        self._delays: Iterator[float] | None = None
        self.busy_until = 0.0

    def status(self, now: float) -> int:
        return BUSY if now < self.busy_until else OPEN

    def connect_failed(self) -> None:
        if self._delays is None:
            self._delays = self._backoff()
        self.busy_until = self._now() + next(self._delays)

    def connected(self) -> None:
        self._delays = None
        self.busy_until = 0.0


class WithFailFast:
    """A failure accrual and a :class:`FailFast` as one health source: the worse status of
    the two; every outcome goes to the accrual, connects to both."""

    __slots__ = ("accrual", "fail_fast")

    def __init__(self, accrual: Any, fail_fast: FailFast) -> None:
        self.accrual = accrual
        self.fail_fast = fail_fast

    def status(self, now: float | None = None) -> int:
        t = self.fail_fast._now() if now is None else now
        return max(self.accrual.status(t), self.fail_fast.status(t))

    def dispatched(self) -> None:
        self.fail_fast.connected()
        self.accrual.dispatched()

    def succeeded(self) -> None:
        self.accrual.succeeded()

    def failed(self) -> None:
        self.accrual.failed()

    def ignored(self) -> None:
        self.accrual.ignored()

    def acquire_failed(self) -> None:
        self.fail_fast.connect_failed()
        self.accrual.acquire_failed()

    def __getattr__(self, name: str) -> Any:
        # counters and state of the accrual (removals, state, ...), for stats and admin
        return getattr(self.accrual, name)
