"""``io.l5d.k8s.configMap``: routers' dtabs in one Kubernetes ConfigMap, watched by every
node, written with resourceVersion compare-and-swap (Twisted shell).

The ConfigMap ``namespace/name`` holds one key per router label, its dtab text. Every
node's l5d lists and watches it (a collection watch with ``fieldSelector=
metadata.name=<name>``, so a map created later is seen; relist on 410, reconnect with
backoff: :class:`~l5d.k8s.reflector.Reflector`) and answers :meth:`read` from the last
state seen. A write PUTs the whole object with ``metadata.resourceVersion`` set to the
version the writer edits, so the API server refuses (409) a write based on a stale map;
an absent map is created (POST; 409 AlreadyExists when another node was first). Either
way the answer is a value: :class:`~l5d.dtab_store.model.Written`, ``Conflict`` (with
the state after a fresh GET) or ``Refused`` (the API unreachable, 403, anything else,
with the API's message). The decisions are :mod:`l5d.dtab_store.configmap_model`'s.

Subscribers are called for every router whose text changed, whoever changed it: this
node (at once, from the API's answer), another node or ``kubectl`` (from the watch).
A removed key calls them with ``None`` (the config's dtab applies again).
Reactor-thread only.
"""

from __future__ import annotations

import random
from typing import Any, Callable, Mapping

from twisted.internet import defer
from twisted.logger import Logger

from l5d.dtab_store.configmap_model import (
    CONFLICT, CREATE, FETCH, DtabMap, Seen, object_with, plan_write, resource_version,
)
from l5d.dtab_store.model import Change, Conflict, Refused, Versioned, Written
from l5d.k8s.api import ApiClient
from l5d.k8s.choice import Access, choose
from l5d.k8s.reflector import Reflector

__all__ = ["DEFAULT_NAME", "DEFAULT_NAMESPACE", "KIND", "ConfigMapBackend", "build_backend",
           "from_access"]

log = Logger()

KIND = "io.l5d.k8s.configMap"
DEFAULT_NAMESPACE = "default"
DEFAULT_NAME = "l5d-dtabs"
#: how long start() waits for the first read of the map before routing on the config's dtabs
DEFAULT_START_TIMEOUT_S = 10.0


class ConfigMapBackend:
    """The ``io.l5d.k8s.configMap`` dtab backend.

    :param api: the Kubernetes API (:func:`l5d.k8s.access.api_client`: kubectl proxy,
        in-pod service account or kubeconfig, as the ``io.l5d.k8s`` namer).
    :param rng: jitter for the watch's backoff.
    :param wall: epoch seconds (when a change was made, for history and annotations).
    :param owns_api: :meth:`stop` closes ``api``'s connections (not when it is shared).
    :param reflector_options: passed to the :class:`Reflector` (backoff, timeouts: tests).
    """

    kind = KIND

    def __init__(self, reactor: Any, api: ApiClient, rng: random.Random,
                 wall: Callable[[], float], *, namespace: str = DEFAULT_NAMESPACE,
                 name: str = DEFAULT_NAME, history_size: int | None = None,
                 start_timeout_s: float = DEFAULT_START_TIMEOUT_S, owns_api: bool = True,
                 **reflector_options: Any) -> None:
        self._reactor = reactor
        self.api = api
        self._owns_api = owns_api
        self.namespace = namespace
        self.name = name
        self._wall = wall
        self.start_timeout_s = start_timeout_s
        self.map = DtabMap(wall) if history_size is None else DtabMap(wall, history_size)
        self._collection = f"/api/v1/namespaces/{namespace}/configmaps"
        self._object_path = f"{self._collection}/{name}"
        self.reflector = Reflector(reactor, api, self._collection,
                                   {"fieldSelector": f"metadata.name={name}"},
                                   self._watched, rng, **reflector_options)
        self._subscribers: list[Callable[[str, Versioned | None], None]] = []

    def describe(self) -> str:
        return f"ConfigMap {self.namespace}/{self.name} ({self.api.description})"

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> defer.Deferred:
        """Read the map once (absent: nothing stored), then fire; the watch runs from now
        on. When the API does not answer within ``start_timeout_s``, fire anyway: routers
        use their config's dtabs until the watch has listed the map."""
        self.reflector.start()
        d = self.api.get(self._object_path)
        d.addTimeout(self.start_timeout_s, self._reactor)

        def read(result: tuple[int, Any]) -> None:
            status, body = result
            if status == 404:
                self._seen(None, initial=True)
            elif status == 200 and isinstance(body, Mapping):
                self._seen(body, initial=True)
            else:
                log.warn("dtab store {where}: reading it answered {status}: {message}; "
                         "the config's dtabs apply until it can be read",
                         where=self.describe(), status=status, message=_message(body))

        def failed(reason: Any) -> None:
            log.warn("dtab store {where}: cannot read it ({why}); the config's dtabs apply "
                     "until it can be read", where=self.describe(), why=_why(reason))

        d.addCallbacks(read, failed)
        return d

    def stop(self) -> defer.Deferred:
        self.reflector.stop()
        return self.api.close() if self._owns_api else defer.succeed(None)

    # -- reads -------------------------------------------------------------------------
    def read(self, router: str) -> Versioned | None:
        return self.map.read(router)

    def history(self, router: str) -> list[Change]:
        return self.map.history(router)

    def subscribe(self, callback: Callable[[str, Versioned | None], None]) -> None:
        self._subscribers.append(callback)

    def _watched(self) -> None:
        objects = self.reflector.objects
        self._seen(next(iter(objects.values())) if objects else None)

    def _seen(self, obj: Mapping[str, Any] | None, initial: bool = False) -> Seen:
        if initial and self.map.synced:
            return Seen()  # the watch's list came first and is at least as new
        seen = self.map.apply(obj)
        for router, message in seen.invalid:
            log.error("dtab store {where}: router {router}'s dtab does not parse, it keeps "
                      "its last good dtab: {message}", where=self.describe(), router=router,
                      message=message)
        for router, versioned, change in seen.changed:
            if change is None:
                log.info("dtab store {where}: router {router}'s dtab was removed; its "
                         "config's dtab applies", where=self.describe(), router=router)
            for callback in self._subscribers:
                try:
                    callback(router, versioned)
                except Exception:
                    log.failure("dtab store subscriber failed for router {router}",
                                router=router)
        return seen

    # -- writes ------------------------------------------------------------------------
    def write(self, router: str, text: str, expected_version: str | None,
              who: str) -> defer.Deferred:
        """Compare-and-swap ``router``'s dtab: ``Written``, ``Conflict`` or ``Refused``."""
        return defer.ensureDeferred(self._write(router, text, expected_version, who))

    async def _write(self, router: str, text: str, expected: str | None,
                     who: str) -> Written | Conflict | Refused:
        plan = plan_write(self.map.object, self.read(router) is not None, expected, False)
        if plan.action == FETCH:  # the map held may be behind: ask the API
            got = await self._get()
            if isinstance(got, Refused):
                return got
            plan = plan_write(got, self.map.versioned(got, router) is not None, expected, True)
            if plan.action == CONFLICT:
                return Conflict(self.map.versioned(got, router))
        body = object_with(plan.base, self.namespace, self.name, router, text, who,
                           self._wall())
        if plan.action == CREATE:
            sent = self.api.send("POST", self._collection, body)
        else:
            sent = self.api.send("PUT", self._object_path, body)
        try:
            status, answer = await sent
        except Exception as err:  # connection refused, timeout...
            return Refused(f"Kubernetes API unreachable ({self.api.description}): {_why(err)}")
        if status in (409, 404):  # a stale resourceVersion; created or deleted meanwhile
            got = await self._get()
            return got if isinstance(got, Refused) else Conflict(
                self.map.versioned(got, router))
        current = self.map.versioned(answer, router) if isinstance(answer, Mapping) else None
        if status not in (200, 201) or current is None:
            return Refused(f"Kubernetes API answered {status}: {_message(answer)}")
        self._seen(answer)
        for change in self.map.history(router):
            if change.version == current.version:
                return Written(current, change)
        # the same text again (or a change already pushed out of the history)
        return Written(current, Change(router, current.version, text,
                                       resource_version(plan.base), text, who, self._wall()))

    async def _get(self) -> Mapping[str, Any] | None | Refused:
        """The map afresh (``None``: absent), applied when present (the watch reports a
        deletion); or why it could not be read."""
        try:
            status, body = await self.api.get(self._object_path)
        except Exception as err:
            return Refused(f"Kubernetes API unreachable ({self.api.description}): {_why(err)}")
        if status == 404:
            return None
        if status != 200 or not isinstance(body, Mapping):
            return Refused(f"Kubernetes API answered {status}: {_message(body)}")
        self._seen(body)
        return body


def from_access(reactor: Any, access: Access, env: Mapping[str, str], rng: random.Random,
                wall: Callable[[], float], **options: Any) -> ConfigMapBackend:
    """A backend with its own API client, reaching the API as the ``io.l5d.k8s`` namer does
    (``host``/``port``: a kubectl proxy; in a pod with neither: its service account, falling
    back to Linkerd's ``localhost:8001`` when the pod has no token).

    :param env: the environment the entry point read (in-cluster variables).
    :param options: :class:`ConfigMapBackend`'s (``namespace``, ``name``...).
    :raises ValueError: credentials that cannot be loaded.
    """
    from l5d.k8s.access import api_client

    try:
        api = api_client(reactor, access, env)
    except ValueError as err:
        if not access.auto:
            raise
        log.warn("dtab store: {err}; using Linkerd's default, a kubectl proxy on "
                 "localhost:8001", err=err)
        api = api_client(reactor, access.fallback(), env)
    return ConfigMapBackend(reactor, api, rng, wall, **options)


def build_backend(config: Any, reactor: Any, k8s: Any,
                  wall: Callable[[], float]) -> ConfigMapBackend:
    """The backend of a ``dtabStore`` of kind ``io.l5d.k8s.configMap``
    (:func:`l5d.dtab_store.build.build_backend`'s hook): the API reached as its ``host``,
    ``port``... say, as the ``io.l5d.k8s`` namer reaches it.

    :param k8s: the linker's :class:`~l5d.k8s.apis.K8sApis`: the backend shares the API
        client of the namers that reach the API the same way (one client, one set of
        credentials, per way).
    """
    a = config.access
    access = choose(a.host, a.port, a.service_account, a.kubeconfig, a.context, k8s.env,
                    a.account_dir)
    # the API client of the namers and transformers that reach the API the same way
    api = k8s.watches(access).api
    return ConfigMapBackend(reactor, api, k8s.rng, wall, namespace=config.namespace,
                            name=config.name, history_size=config.history_size,
                            owns_api=False)


def _message(body: Any) -> str:
    if isinstance(body, Mapping) and body.get("message"):
        return str(body["message"])
    return "no message"


def _why(err: Any) -> str:
    if hasattr(err, "getErrorMessage"):
        return err.getErrorMessage() or err.type.__name__
    return str(err) or type(err).__name__
