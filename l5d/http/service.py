"""One service per logical name: its policy, retry budget and stats (Twisted-free).

A :class:`Service` is what Linkerd calls a service (``rt/<router>/service/<name>/``):
the ``service`` block's parameters matched against the logical name (total timeout,
retry budget and backoff, response classifier), the budget every request pays into
once, and the route its last request took (a memo). The retry decision itself is
:func:`l5d.retry.safety.may_retry` over the classifier's verdict. Reactor-thread only.
"""

from __future__ import annotations

import functools
from typing import Any

from dtab import Path
from l5d.http.policies import backoff_spec, budget
from l5d.retry import classifier

ALL_SUCCESSFUL = "io.l5d.http.allSuccessful"


class Service:
    """A logical name's policy and stats, and the route its last request took.

    The memo (``base``, ``override``, ``generation``, ``epoch`` -> ``bound``, ``client``,
    ``dst_headers``) lets the next request with the same name skip binding, picking and
    the client lookup. It holds only while every input is unchanged: the same base dtab
    object and override, the same namer generation (so the binding is the same), and
    the same router epoch (no client evicted or swept since). Only a bound tree that is
    a single leaf is memoised: a weighted union must pick again per request.

    :param stats: the service's stats scope.
    :param dst: the logical name.
    :param params: the :class:`~l5d.config.service_policy.ServiceParams` for it.
    :param rng: randomness for backoff jitter. :param now: monotonic seconds.
    """

    __slots__ = ("requests", "success", "failures", "last_used", "dst_header", "scope",
                 "base", "override", "generation", "epoch", "bound", "client", "dst_headers",
                 "params", "total_timeout_s", "budget", "classify", "all_successful",
                 "backoff", "c_retries", "c_budget_exhausted", "per_request",
                 "status", "latency", "view", "pending", "dst", "name", "viewers")

    def __init__(self, stats: Any, dst: Path, params: Any, rng: Any, now: Any) -> None:
        self.dst_header = b"l5d-dst-service: " + dst.show().encode("latin-1") + b"\r\n"
        self.requests = stats.counter("requests")
        self.success = stats.counter("success")
        self.failures = stats.counter("failures")
        self.c_retries = stats.counter("retries", "total")
        self.c_budget_exhausted = stats.counter("retries", "budget_exhausted")
        self.per_request = stats.stat("retries", "per_request")
        self.status = stats.statuses()
        self.latency = stats.stat("request_latency_ms", scale=1000)  # recorded in µs
        #: requests in flight (set by the router's census when metrics are read)
        self.pending = stats.gauge("pending")
        self.dst = dst
        self.name = dst.show()
        self.params = params
        self.total_timeout_s: float | None = params.total_timeout_s
        self.budget = budget(params.retry_budget, now)
        stats.function_gauge(lambda: self.budget.balance, "retries", "budget")
        kind = params.response_classifier.kind
        self.classify = classifier(kind)
        self.all_successful = kind == ALL_SUCCESSFUL
        spec = backoff_spec(params.retry_backoff)
        #: a new backoff stream per request (``None``: retry at once, the default)
        self.backoff = (None if spec.kind == "constant" and not spec.delay_s
                        else functools.partial(spec.stream, rng))
        #: the scope of every metric of this service (its ``names`` are dropped with it)
        self.scope = stats
        self.last_used = 0.0
        self.base: Any = None
        self.override: Any = None
        self.generation: Any = None
        self.epoch = -1
        self.bound: Any = None
        self.client: Any = None
        self.view: Any = None  # the client's ServiceView of this name (with ``client``)
        #: the clients that have a ServiceView of this name (they drop it when it expires)
        self.viewers: set[Any] = set()
        self.dst_headers = b""
