"""``io.l5d.ingress``: a request is named by the Ingress rule it matches (pure).

The Ingress objects come from a watched collection (a
:class:`~l5d.k8s.reflector.Reflector`, injected); its rules are re-read when the
watch reports a change (``generation``). The name is
``dstPrefix/<namespace>/<port>/<service>``, which a dtab sends to the k8s namer
(``/svc => /#/io.l5d.k8s``). Until the first list, and when no rule (and no
default backend) matches, the request is not identified (400), as when Linkerd's
identifier finds nothing; Linkerd would wait for the first list instead.
"""

from __future__ import annotations

from typing import Any, Callable

from dtab import Path
from l5d.k8s.ingress_model import match, read_ingresses
from l5d.router.identifier import Identification, Identified, RequestView, Unidentified

__all__ = ["IngressFeed", "ingress_identifier", "ingress_key", "ingress_keys"]


def ingress_key(cfg: Any) -> str:
    """The name of the Ingress watch an ``io.l5d.ingress`` config asks for (its API access
    and namespace): the same in a control and in its workers, which get that watch's
    Ingresses from the control (:mod:`l5d.workers.supervisor`)."""
    return repr((cfg.access, cfg.namespace))  # a frozen dataclass: its repr is its value


def ingress_keys(config: Any) -> set[str]:
    """The :func:`ingress_key` of every ``io.l5d.ingress`` identifier of ``config``'s routers."""
    from l5d.config.identifiers import IngressIdentifierConfig

    return {ingress_key(c) for r in config.routers for c in r.identifiers
            if isinstance(c, IngressIdentifierConfig)}


class IngressFeed:
    """One ``io.l5d.ingress`` watch of a linker's shared Kubernetes watches: calling it
    starts (once) and returns the reflector; :meth:`unpin` lets it expire once no
    identifier uses it."""

    __slots__ = ("_watches", "_path")

    def __init__(self, watches: Any, path: str) -> None:
        self._watches = watches
        self._path = path

    def __call__(self) -> Any:
        return self._watches.reflector(self._path, {}, pin=True)

    def unpin(self) -> None:
        self._watches.unpin(self._path, {})


def ingress_identifier(prefix: Path, watch: Callable[[], Any], generation: Callable[[], int],
                       ingress_class: str = "linkerd",
                       ignore_default_backends: bool = False) -> Callable[[RequestView],
                                                                          Identification]:
    """:param watch: returns the watched Ingresses (started on the first call; it has
        ``synced`` and ``objects``).
    :param generation: changes whenever the watched objects may have changed."""
    memo: list[Any] = [None, ()]  # [generation, specs]
    held: list[Any] = []  # the reflector, once asked for

    def specs(reflector: Any) -> Any:
        gen = generation()
        if memo[0] != gen:
            memo[0], memo[1] = gen, read_ingresses(reflector.objects.values(), ingress_class)
        return memo[1]

    def identify(req: RequestView) -> Identification:
        if not held:
            held.append(watch())
        reflector = held[0]
        if not reflector.synced:
            return Unidentified("the Ingress resources are not loaded yet")
        raw = req.header(b"host")
        host = raw.decode("latin-1").rsplit(":", 1)[0].lower() if raw else None
        path = req.uri.split("?", 1)[0]
        if "://" in path:  # absolute form: the path of the URI
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        backend = match(specs(reflector), host, path, ignore_default_backends)
        if backend is None:
            return Unidentified(f"no ingress rule matches host {host or ''!r} path {path!r}")
        try:
            name = Path((backend.namespace, backend.port, backend.service))
        except ValueError as e:
            return Unidentified(str(e))
        return Identified(prefix + name, req.uri)

    identify.volatile = True  # type: ignore[attr-defined]  # the rules change: no memo
    return identify
