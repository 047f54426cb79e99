"""One API client and one set of shared watches per way to the API (Twisted shell).

Namers and transformers that reach the API the same way (the same
:class:`~l5d.k8s.access.Access`) share a :class:`~l5d.k8s.watches.Watches`, so
every watched object is watched once per process, whoever uses it.
"""

from __future__ import annotations

import random
from typing import Any, Mapping

from twisted.logger import Logger

from l5d.k8s.choice import Access

log = Logger()

__all__ = ["K8sApis"]


class K8sApis:
    """``Access -> Watches``, created on first use.

    :param env: the environment the entry point read (in-cluster variables).
    :param watch_options: passed to every :class:`Watches` (TTLs, backoff: tests).
    """

    def __init__(self, reactor: Any, env: Mapping[str, str], rng: random.Random,
                 **watch_options: Any) -> None:
        self._reactor = reactor
        self._env = self.env = env
        self._rng = self.rng = rng
        self._options = watch_options
        self.by_access: dict[Access, Any] = {}
        #: called (no arguments) whenever any watch's objects changed: the control of
        #: workers tells them at once (:mod:`l5d.workers.supervisor`)
        self.listeners: list[Any] = []

    def watches(self, access: Access) -> Any:
        """The shared :class:`~l5d.k8s.watches.Watches` for ``access`` (the HTTP client and
        its imports are loaded on the first call: a config without Kubernetes pays nothing).

        :raises ValueError: credentials that cannot be loaded.
        """
        watches = self.by_access.get(access)
        if watches is None:
            from l5d.k8s.access import api_client
            from l5d.k8s.watches import Watches

            try:
                api = api_client(self._reactor, access, self._env)
            except ValueError as err:
                if not access.auto:
                    raise
                log.warn("k8s: {err}; using Linkerd's default, a kubectl proxy on "
                         "localhost:8001", err=err)
                api = api_client(self._reactor, access.fallback(), self._env)
            watches = self.by_access[access] = Watches(self._reactor, api, self._rng,
                                                       **self._options)
            watches.listeners = self.listeners  # shared: one list for every access
        return watches

    def start(self) -> None:
        for watches in self.by_access.values():
            watches.start()

    def stop(self) -> None:
        for watches in self.by_access.values():
            watches.stop()
