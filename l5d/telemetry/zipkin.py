"""``io.l5d.zipkin``: sampled spans to a Zipkin collector over HTTP (Twisted shell).

The router offers the records of sampled traces (``tracer``); each one's spans
(:func:`l5d.telemetry.spans.record_spans`) join a bounded queue; a batch of them goes out
as one ``POST /api/v2/spans`` (Zipkin v2 JSON) when the queue holds a full batch, and on
a timer for whatever is left. One POST is in flight at a
time; spans that arrive meanwhile wait in the queue. Nothing here blocks or raises into the
request path:

* a span that finds the queue full is dropped (the newest goes, as Zipkin's own reporters
  do) and counted in ``zipkin/dropped``;
* a POST that fails, times out or is answered with a status other than 2xx loses its batch,
  is counted in ``zipkin/errors`` and logged (a warning of the logger ``l5d.zipkin``), at
  most once a minute (:class:`~l5d.telemetry.limited_log.RateLimitedLog`: the next line
  says how many more failed meanwhile);
* ``zipkin/sent`` counts the spans the collector accepted.

:meth:`ZipkinTelemeter.stop` sends what is queued (one last POST) and waits for it, up to
the POST timeout. Reactor-thread only.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from typing import Any, Callable

from twisted.internet import defer, task

from l5d.config.telemeters import ZipkinConfig
from l5d.telemetry.limited_log import RateLimitedLog
from l5d.telemetry.record import RequestRecord
from l5d.telemetry.spans import record_spans
from l5d.telemetry.telemeter import Telemeter, TelemetryContext

__all__ = ["BATCH_SPANS", "FLUSH_INTERVAL_S", "MAX_QUEUED_SPANS", "POST_TIMEOUT_S",
           "ZipkinTelemeter", "treq_poster"]

#: spans in one POST (a full batch is sent at once)
BATCH_SPANS = 100
#: spans waiting at most (beyond: dropped)
MAX_QUEUED_SPANS = 10_000
#: how often what is queued is sent when no batch filled up
FLUSH_INTERVAL_S = 1.0
#: a POST not answered in this time is abandoned (and counted as an error)
POST_TIMEOUT_S = 10.0
#: at most one log line per this many seconds about failed POSTs
LOG_INTERVAL_S = 60.0

#: ``body -> Deferred`` firing with the response's status code
Poster = Callable[[bytes], "defer.Deferred[int]"]


def treq_poster(reactor: Any, url: str) -> tuple[Poster, Callable[[], Any]]:
    """A poster of JSON bodies to ``url`` with treq over one persistent connection, and a
    function closing that connection."""
    import treq
    from treq.client import HTTPClient
    from twisted.web.client import Agent, HTTPConnectionPool

    pool = HTTPConnectionPool(reactor, persistent=True)
    pool.maxPersistentPerHost = 1
    client = HTTPClient(Agent(reactor, pool=pool, connectTimeout=POST_TIMEOUT_S))
    headers = {b"Content-Type": [b"application/json"]}

    def post(body: bytes) -> "defer.Deferred[int]":
        d = client.post(url, data=body, headers=headers)
        d.addCallback(lambda rsp: treq.content(rsp).addCallback(lambda _: rsp.code))
        return d

    return post, pool.closeCachedConnections


class ZipkinTelemeter(Telemeter):
    """``io.l5d.zipkin`` (see the module's docstring).

    :param post: sends one JSON body (tests pass a fake); default: treq to
        ``http://<host>:<port>/api/v2/spans``.
    :param logger: where failed POSTs are told (``l5d.zipkin``).
    """

    def __init__(self, cfg: ZipkinConfig, ctx: TelemetryContext, post: Poster | None = None,
                 *, batch: int = BATCH_SPANS, max_queued: int = MAX_QUEUED_SPANS,
                 interval_s: float = FLUSH_INTERVAL_S,
                 logger: logging.Logger | None = None) -> None:
        self.tracer = True
        self.trace_sample_rate = self.sample_rate = cfg.sample_rate
        self.url = f"http://{_authority(cfg.host, cfg.port)}/api/v2/spans"
        self._reactor = ctx.reactor
        self._post = post
        self._close: Callable[[], Any] | None = None
        self._batch = batch
        self._max_queued = max_queued
        self._interval_s = interval_s
        self._queue: deque[dict[str, Any]] = deque()
        self._in_flight: defer.Deferred | None = None
        self._timer: task.LoopingCall | None = None
        scope = ctx.stats.scope("zipkin")
        self._c_sent = scope.counter("sent")
        self._c_dropped = scope.counter("dropped")
        self._c_errors = scope.counter("errors")
        self._log = RateLimitedLog(logger or logging.getLogger("l5d.zipkin"), ctx.reactor,
                                   ctx.now, interval_s=LOG_INTERVAL_S)
        self.record = self._record

    def _record(self, record: RequestRecord) -> None:
        if record.sampled is False:  # the router offers sampled traces only
            return
        queue = self._queue
        for span in record_spans(record):
            if len(queue) >= self._max_queued:
                self._c_dropped.value += 1
            else:
                queue.append(span)
        if len(queue) >= self._batch and self._in_flight is None and self._timer is not None:
            self._send()

    @property
    def queued(self) -> int:
        """Spans waiting to be sent."""
        return len(self._queue)

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> None:
        if self._post is None:
            self._post, self._close = treq_poster(self._reactor, self.url)
        timer = self._timer = task.LoopingCall(self._tick)
        timer.clock = self._reactor
        timer.start(self._interval_s, now=False)

    def stop(self) -> Any:
        timer, self._timer = self._timer, None
        if timer is not None and timer.running:
            timer.stop()
        d = defer.succeed(None)
        if self._in_flight is not None:
            d = _quiet(self._in_flight)
        if self._post is not None:
            d.addCallback(lambda _: self._send(everything=True) if self._queue else None)
        if self._close is not None:
            close = self._close
            d.addBoth(lambda _: close())
        d.addBoth(lambda _: self._log.flush())
        return d

    # -- sending -------------------------------------------------------------
    def _tick(self) -> None:
        if self._queue and self._in_flight is None:
            self._send()

    def _send(self, everything: bool = False) -> defer.Deferred:
        """POST the oldest batch (``everything``: all that is queued); the next batch goes when
        this one is answered, if a full one is waiting."""
        queue = self._queue
        n = len(queue) if everything else min(len(queue), self._batch)
        spans = [queue.popleft() for _ in range(n)]
        body = json.dumps(spans, separators=(",", ":")).encode("utf-8")
        try:
            d = self._post(body)  # type: ignore[misc]
        except Exception as err:  # a poster that raises instead of failing its Deferred
            d = defer.fail(err)
        d.addTimeout(POST_TIMEOUT_S, self._reactor)
        d.addCallbacks(lambda code: self._answered(code, n), lambda f: self._failed(f, n))
        self._in_flight = d
        d.addBoth(self._done)
        return d

    def _answered(self, code: int, n: int) -> None:
        if 200 <= code < 300:
            self._c_sent.value += n
        else:
            self._error(f"the collector answered {code}", n)

    def _failed(self, failure: Any, n: int) -> None:
        self._error(failure.getErrorMessage() or failure.type.__name__, n)

    def _error(self, reason: str, n: int) -> None:
        self._c_errors.value += 1
        self._log.warning("post", "io.l5d.zipkin: POST %s failed, %d spans lost: %s",
                          self.url, n, reason)

    def _done(self, _: Any) -> None:
        self._in_flight = None
        if len(self._queue) >= self._batch and self._timer is not None:
            self._send()


def _quiet(d: defer.Deferred) -> defer.Deferred:
    """A Deferred firing (with ``None``) when ``d`` has, whatever its result."""
    out: defer.Deferred = defer.Deferred()
    d.addBoth(lambda r: (out.callback(None), r)[1])
    return out


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
