"""Every watch on one Kubernetes API, shared by the namers and transformers that use it
(Twisted shell).

:class:`Watches` hands out one :class:`~l5d.k8s.reflector.Reflector` per watched
collection and selector, whoever asks (each router's namer lookups, the daemonset
transformer), so the API server sees one watch per object per node. Any change of
any reflector bumps :attr:`Watches.generation`, which the namers report as theirs:
routers then re-bind the names they use.

Idle watches go away in two steps. A sweep (every ``sweep_s``) finds reflectors
nobody asked for in ``idle_ttl_s``: the first time, it only marks them and bumps the
generation, so every name still in use is looked up again (routers keep bindings and
route memos, and would otherwise never ask); a reflector still not asked for at the
next sweep is stopped. Pinned reflectors (a transformer's) never expire.

It also answers which EndpointSlice API the server serves (``discovery.k8s.io/v1``,
else ``v1beta1``), asked once. Reactor-thread only.
"""

from __future__ import annotations

import random
from typing import Any

from twisted.internet.task import LoopingCall

from l5d.k8s.api import ApiClient
from l5d.k8s.reflector import Reflector

__all__ = ["Watches"]

DEFAULT_IDLE_TTL_S = 600.0
DEFAULT_SWEEP_S = 60.0
SLICE_VERSIONS = ("discovery.k8s.io/v1", "discovery.k8s.io/v1beta1")


class _Entry:
    __slots__ = ("reflector", "last_used", "expiring", "pinned", "key")

    def __init__(self, key: tuple, reflector: Reflector, now: float, pinned: bool) -> None:
        self.key = key
        self.reflector = reflector
        self.last_used = now
        self.expiring = False
        self.pinned = pinned


class Watches:
    """The reflectors of one API endpoint.

    :param reflector_options: passed to every :class:`Reflector` (backoff, timeouts).
    """

    def __init__(self, reactor: Any, api: ApiClient, rng: random.Random, *,
                 idle_ttl_s: float = DEFAULT_IDLE_TTL_S, sweep_s: float = DEFAULT_SWEEP_S,
                 **reflector_options: Any) -> None:
        self._reactor = reactor
        self.api = api
        self._rng = rng
        self.idle_ttl_s = idle_ttl_s
        self.sweep_s = sweep_s
        self._options = reflector_options
        self._entries: dict[tuple, _Entry] = {}
        self._sweeper: LoopingCall | None = None
        self.generation = 0
        #: called (no arguments) after every generation bump
        self.listeners: list[Any] = []
        self.stopped_idle = 0  # reflectors dropped for idleness, for stats
        #: lists, relists and errors of the reflectors dropped (the totals never go down)
        self._gone = {"lists": 0, "relists": 0, "errors": 0}
        #: the EndpointSlice API the server serves: None (not asked), "" (asking or
        #: none served), or a group/version
        self.slice_version: str | None = None
        self._slice_probe_done = False

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = LoopingCall(self.sweep)
            self._sweeper.clock = self._reactor
            self._sweeper.start(self.sweep_s, now=False)

    def stop(self) -> None:
        if self._sweeper is not None and self._sweeper.running:
            self._sweeper.stop()
        self._sweeper = None
        for entry in self._entries.values():
            entry.reflector.stop()
        self._entries.clear()

    # -- reflectors ------------------------------------------------------------
    def reflector(self, path: str, params: dict[str, str], *, pin: bool = False) -> Reflector:
        """The reflector of ``path`` with ``params`` (started on first use), marked as used."""
        key = (path, tuple(sorted(params.items())))
        now = self._reactor.seconds()
        entry = self._entries.get(key)
        if entry is None:
            reflector = Reflector(self._reactor, self.api, path, params, self._changed,
                                  self._rng, announce_sync=True, **self._options)
            entry = self._entries[key] = _Entry(key, reflector, now, pin)
            reflector.start()
        else:
            entry.last_used = now
            entry.expiring = False
            entry.pinned = entry.pinned or pin
        return entry.reflector

    def unpin(self, path: str, params: dict[str, str]) -> None:
        """Let the reflector of ``path`` expire when idle, as an unpinned one does (its
        pinned user is gone: a reload dropped an ``io.l5d.ingress`` identifier)."""
        entry = self._entries.get((path, tuple(sorted(params.items()))))
        if entry is not None:
            entry.pinned = False
            entry.last_used = self._reactor.seconds()

    def endpoints(self, namespace: str, name: str, label_selector: str | None = None,
                  *, pin: bool = False) -> Reflector:
        """The core/v1 Endpoints object ``namespace/name`` (a collection watch with a field
        selector, so it is seen when it appears later)."""
        params = {"fieldSelector": f"metadata.name={name}"}
        if label_selector:
            params["labelSelector"] = label_selector
        return self.reflector(f"/api/v1/namespaces/{namespace}/endpoints", params, pin=pin)

    def service(self, namespace: str, name: str, label_selector: str | None = None,
                *, pin: bool = False) -> Reflector:
        params = {"fieldSelector": f"metadata.name={name}"}
        if label_selector:
            params["labelSelector"] = label_selector
        return self.reflector(f"/api/v1/namespaces/{namespace}/services", params, pin=pin)

    def endpoint_slices(self, namespace: str, name: str, label_selector: str | None = None,
                        *, pin: bool = False) -> Reflector | None:
        """The EndpointSlices of service ``name``; ``None`` while the served API version is
        being found out (or when the server serves none: then use Endpoints)."""
        version = self.slice_api()
        if not version:
            return None
        selector = f"kubernetes.io/service-name={name}"
        if label_selector:
            selector += "," + label_selector
        return self.reflector(f"/apis/{version}/namespaces/{namespace}/endpointslices",
                              {"labelSelector": selector}, pin=pin)

    def slice_api(self) -> str | None:
        """``discovery.k8s.io/v1`` or ``/v1beta1`` as served; ``None`` until known, ``""``
        when the server serves neither."""
        if self.slice_version is None:
            self.slice_version = ""
            self._probe(0)
            return None
        if not self._slice_probe_done:
            return None
        return self.slice_version

    def _probe(self, i: int) -> None:
        if i >= len(SLICE_VERSIONS):
            self._slice_probe_done = True
            self._changed()
            return
        version = SLICE_VERSIONS[i]

        def answered(result: tuple[int, Any]) -> None:
            if result[0] == 200:
                self.slice_version = version
                self._slice_probe_done = True
                self._changed()
            else:
                self._probe(i + 1)

        def failed(_: Any) -> None:  # unreachable: ask again later
            self._reactor.callLater(self._rng.uniform(0.5, 2.0), self._probe, i)

        self.api.get(f"/apis/{version}").addCallbacks(answered, failed)

    def _changed(self) -> None:
        self.generation += 1
        for listener in self.listeners:
            listener()

    def sweep(self) -> None:
        """Mark reflectors idle for ``idle_ttl_s`` (and bump the generation), or stop those
        marked at the previous sweep and not asked for since."""
        now = self._reactor.seconds()
        marked = False
        for key, entry in list(self._entries.items()):
            if entry.pinned or now - entry.last_used < self.idle_ttl_s:
                continue
            if entry.expiring:
                entry.reflector.stop()
                del self._entries[key]
                for name in self._gone:
                    self._gone[name] += getattr(entry.reflector, name)
                self.stopped_idle += 1
            else:
                entry.expiring = True
                marked = True
        if marked:
            self._changed()

    def reflectors(self) -> list[tuple[tuple, Reflector]]:
        return [(k, e.reflector) for k, e in self._entries.items()]

    # -- stats -------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Watches open now; lists, relists and errors since the start (running totals)."""
        refl = [e.reflector for e in self._entries.values()]
        gone = self._gone
        return {"watches": len(refl), "lists": gone["lists"] + sum(r.lists for r in refl),
                "relists": gone["relists"] + sum(r.relists for r in refl),
                "errors": gone["errors"] + sum(r.errors for r in refl),
                "stopped_idle": self.stopped_idle}
