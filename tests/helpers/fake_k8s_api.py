"""An in-memory stand-in for :class:`l5d.k8s.api.ApiClient` (unit tests only).

Every ``get``, ``send`` (POST/PUT) and ``watch`` is recorded with a Deferred or stream the test
completes by hand, so reflector and namer state machines can be driven step by
step on a ``task.Clock``. The real client is tested against a real server and a
real kube-apiserver in ``tests/integration``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from twisted.internet import defer

from l5d.k8s.api import WatchStream


@dataclass
class Call:
    path: str
    params: dict
    deferred: defer.Deferred | None = None
    stream: WatchStream | None = None
    on_event: Callable[[Any], None] | None = None
    method: str = "GET"
    body: Any = None

    def answer(self, status: int, body: Any) -> None:
        assert self.deferred is not None
        self.deferred.callback((status, body))

    def fail(self, message: str = "connection refused") -> None:
        assert self.deferred is not None
        self.deferred.errback(ConnectionRefusedError(message))

    def send(self, event: Any) -> None:
        assert self.on_event is not None
        self.on_event(event)

    def end(self, outcome: str = "end", detail: Any = None) -> None:
        assert self.stream is not None
        self.stream.finish(outcome, detail)


@dataclass
class FakeApi:
    base_url: str = "http://fake:8001"
    description: str = "fake"
    gets: list[Call] = field(default_factory=list)
    watches: list[Call] = field(default_factory=list)
    sends: list[Call] = field(default_factory=list)

    def url(self, path: str, params: dict | None = None) -> str:
        return self.base_url + path

    def get(self, path: str, params: dict | None = None) -> defer.Deferred:
        call = Call(path, dict(params or {}), deferred=defer.Deferred())
        self.gets.append(call)
        return call.deferred  # type: ignore[return-value]

    def send(self, method: str, path: str, body: Any) -> defer.Deferred:
        call = Call(path, {}, deferred=defer.Deferred(), method=method, body=body)
        self.sends.append(call)
        return call.deferred  # type: ignore[return-value]

    def close(self) -> defer.Deferred:
        return defer.succeed(None)

    def watch(self, path: str, params: dict, on_event: Callable[[Any], None],
              idle_s: float) -> WatchStream:
        stream = WatchStream()
        self.watches.append(Call(path, dict(params), stream=stream, on_event=on_event))
        return stream

    def open_watches(self) -> list[Call]:
        return [w for w in self.watches if w.stream is not None and not w.stream.done.called]
