"""List, then watch, forever: one Kubernetes collection kept current (Twisted shell).

A :class:`Reflector` keeps a :class:`~l5d.k8s.cache.WatchCache` of one collection
(``/api/v1/namespaces/<ns>/endpoints`` with ``fieldSelector=metadata.name=<svc>``,
say: a collection watch also sees an object that does not exist yet) current:

1. list; on success the cache takes the items and the list's resourceVersion;
2. watch from that version (``allowWatchBookmarks``, and ``timeoutSeconds`` so the
   server recycles the stream), applying each event;
3. when the stream ends cleanly, watch again from the last version seen; when it is
   cut (or silent for ``idle_s``), back off, then do the same;
4. "too old" (an ERROR event with code 410 inside the 200 stream, or an HTTP 410)
   means relist: the cache diffs the new list against what it held, so changes
   missed in the gap (deletions included) are seen;
5. anything else that fails (connection refused, 5xx, 403, an ERROR event) backs off
   with jitter and relists. Meanwhile the cache keeps the last known objects: the
   API being unreachable never empties an address set.

``on_change()`` is called after every change of the cached objects (and, with
``announce_sync``, after the first successful list even when it changed nothing: the
collection is known now). Backoff is
exponential with full jitter between ``backoff_min_s`` and ``backoff_max_s`` (the
``rng`` and the reactor's clock are injected) and resets after a successful list.
:attr:`state` is Linkerd's ``WatchState`` (``/namer_state/<prefix>.json``).
Each failure is logged as a warning (at most one line per collection per 10 s, with how
many were held back), and the first successful list after failures says so.
Reactor-thread only.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timezone
from typing import Any, Callable

from twisted.logger import Logger

from l5d.k8s.api import ApiClient, WatchStream
from l5d.k8s.cache import CHANGED, RELIST, RETRY, WatchCache
from l5d.telemetry.limited_log import RateLimitedLog

__all__ = ["Reflector"]

log = Logger()
warnings = logging.getLogger("l5d.k8s")

BACKOFF_MIN_S = 0.05
BACKOFF_MAX_S = 10.0
#: the server ends each watch after about this long (randomised per stream, as client-go)
WATCH_TIMEOUT_S = 300
#: a stream silent this long is presumed dead (bookmarks arrive about every minute)
IDLE_S = WATCH_TIMEOUT_S + 30.0


class Reflector:
    """One watched collection.

    :param path: the collection, e.g. ``/api/v1/namespaces/default/endpoints``.
    :param params: selectors (``fieldSelector``, ``labelSelector``) for list and watch.
    :param on_change: called (no arguments) after the cached objects changed.
    :param announce_sync: also call it after the first successful list that changed
        nothing (an empty collection): whoever waits for the list (a namer's pending
        name, a worker's Ingress rules) learns it is known.
    """

    def __init__(self, reactor: Any, api: ApiClient, path: str, params: dict[str, str],
                 on_change: Callable[[], None], rng: random.Random, *,
                 backoff_min_s: float = BACKOFF_MIN_S, backoff_max_s: float = BACKOFF_MAX_S,
                 watch_timeout_s: int = WATCH_TIMEOUT_S, idle_s: float = IDLE_S,
                 announce_sync: bool = False) -> None:
        self._reactor = reactor
        self.api = api
        self.path = path
        self.params = dict(params)
        self._on_change = on_change
        self._announce_sync = announce_sync
        self._rng = rng
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.watch_timeout_s = watch_timeout_s
        self.idle_s = idle_s
        self.cache = WatchCache()
        self._attempt = 0
        self._timer: Any = None
        self._stream: WatchStream | None = None
        self._pending: Any = None  # the list in flight
        self.running = False
        #: counters for the namer's stats and state page
        self.lists = 0
        self.relists = 0
        self.watches = 0
        self.errors = 0
        self.last_error: str | None = None
        self._failing = 0  # failures since the last successful list
        self.warnings = RateLimitedLog(warnings, reactor, lambda: reactor.seconds())
        self.state: dict[str, Any] = {"request": None, "lastRequestAt": None, "response": None,
                                      "lastResponseAt": None, "lastStreamStartAt": None,
                                      "lastStreamData": None, "lastStreamDataAt": None,
                                      "lastStreamEndAt": None, "streaming": False}

    @property
    def synced(self) -> bool:
        return self.cache.synced

    @property
    def objects(self) -> dict[str, Any]:
        return self.cache.objects

    def start(self) -> None:
        if not self.running:
            self.running = True
            self._list()

    def stop(self) -> None:
        self.running = False
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.cancel()
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.cancel()
        self.warnings.flush()

    # -- the loop ----------------------------------------------------------------
    def _now(self) -> str:
        return datetime.fromtimestamp(self._reactor.seconds(), timezone.utc).isoformat()

    def _list(self) -> None:
        self._timer = None
        if not self.running:
            return
        self.lists += 1
        self.state.update(request=f"GET {self.api.url(self.path, self.params)}",
                          lastRequestAt=self._now())
        d = self._pending = self.api.get(self.path, self.params)
        d.addCallbacks(self._listed, self._list_failed)
        d.addErrback(self._bug)

    def _listed(self, result: tuple[int, Any]) -> None:
        self._pending = None
        if not self.running:
            return
        status, body = result
        if status != 200 or not isinstance(body, dict):
            message = body.get("message") if isinstance(body, dict) else None
            self._failed(f"list answered {status}" + (f": {message}" if message else ""))
            return
        self.state.update(response=body, lastResponseAt=self._now())
        first = self._announce_sync and not self.cache.synced
        changes = self.cache.listed(body)
        self._attempt = 0
        if self._failing:
            self._recovered("listed")
        if changes or first:  # the first list, even of nothing: now synced
            self._on_change()
        self._watch()

    def _list_failed(self, reason: Any) -> None:
        self._pending = None
        if self.running:
            self._failed(f"list failed: {reason.getErrorMessage() or reason.type.__name__}")

    def _watch(self) -> None:
        self._timer = None
        if not self.running:
            return
        self.watches += 1
        params = dict(self.params, watch="1", allowWatchBookmarks="true",
                      timeoutSeconds=str(self.watch_timeout_s))
        if self.cache.resource_version:
            params["resourceVersion"] = self.cache.resource_version
        self.state.update(lastStreamStartAt=self._now(), streaming=True)
        stream = self._stream = self.api.watch(self.path, params, self._event, self.idle_s)
        stream.done.addCallback(self._watch_ended, stream)
        stream.done.addErrback(self._bug)

    def _event(self, event: Any) -> None:
        if not self.running:
            return
        self.state.update(lastStreamData=event, lastStreamDataAt=self._now())
        verdict = self.cache.event(event)
        if self._failing and verdict != RETRY:
            self._recovered("watching")
        if verdict == CHANGED:
            self._on_change()
        elif verdict == RELIST:
            self.relists += 1
            self._end_stream()
            self._list()
        elif verdict == RETRY:
            message = event.get("object", {}).get("message") if isinstance(event, dict) else None
            self._end_stream()
            self._failed(f"watch error: {message or event!r:.200}")

    def _end_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.cancel()

    def _watch_ended(self, result: tuple[str, Any], stream: WatchStream) -> None:
        self.state.update(lastStreamEndAt=self._now(), streaming=False)
        if stream is not self._stream or not self.running:
            return  # replaced (a relist) or stopped
        self._stream = None
        outcome, detail = result
        if outcome == "end":
            self._watch()  # the server's timeoutSeconds: carry on from the last version
        elif outcome == "status" and detail == 410:
            self.relists += 1
            self._list()
        elif outcome == "status":
            self._failed(f"watch answered {detail}")
        else:
            self._failed(f"watch cut: {detail}", then=self._watch)

    def _recovered(self, what: str) -> None:
        self.warnings.info(("ok", self.path), "k8s %s: %s again after %d failures",
                           self.path, what, self._failing)
        self._failing = 0

    def _failed(self, message: str, then: Callable[[], None] | None = None) -> None:
        """Back off (full jitter), then relist (or ``then``); the cache is kept meanwhile."""
        self.errors += 1
        self._failing += 1
        self.last_error = message
        self._attempt += 1
        ceiling = min(self.backoff_max_s, self.backoff_min_s * 2 ** min(self._attempt, 30))
        delay = self._rng.uniform(self.backoff_min_s, ceiling)
        self.warnings.warning(("failed", self.path), "k8s %s: %s; retrying in %.1f s "
                              "(the last addresses known are kept)", self.path, message, delay)
        self._timer = self._reactor.callLater(delay, then or self._list)

    def _bug(self, reason: Any) -> None:
        log.failure("k8s reflector bug", reason)
