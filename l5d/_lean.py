"""Imported first by :mod:`l5d.main`: Twisted without the TLS modules it does not need
(issue 14, memory).

* ``twisted.internet.tcp`` and ``twisted.internet.posixbase`` import
  ``twisted.protocols.tls`` (so pyOpenSSL and ``cryptography``, about 12 MiB of RSS)
  at import time, only for ``startTLS`` and ``reactor.connectSSL``/``listenSSL``,
  which l5d does not use: its TLS wraps the protocol (:mod:`l5d.tls.transport`, and
  Twisted's ``wrapClientTLS`` in the Kubernetes client), and those modules are
  imported when a config first needs them. Here they are hidden while the two
  modules load, then unhidden.
* ``twisted.internet.defer`` imports ``asyncio`` (for ``Deferred.asFuture`` and
  ``fromFuture``), which imports the standard ``ssl`` module (OpenSSL's libraries, about
  5 MiB) for its TLS transports. l5d never runs an asyncio loop, so ``ssl`` is hidden while
  ``asyncio`` loads: asyncio catches the ``ImportError`` and goes without TLS, and ``ssl``
  itself imports as usual for whoever asks later (the Kubernetes client does).
* ``twisted.python.compat`` imports ``http.cookiejar`` only to offer it under a deprecated
  name; that pulls ``urllib.request``, ``http.client`` (and ``ssl`` again) and ``email``.
  It is loaded lazily (:class:`importlib.util.LazyLoader`): the module object exists, its
  code runs at the first attribute anyone reads.

A no-op when ``tcp`` is already imported (the tests); each part is skipped when its module
was imported before.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

_HIDDEN = ("twisted.internet._newtls", "twisted.protocols.tls", "twisted.internet.ssl")
#: imported lazily: run at the first attribute read
_LAZY = ("http.cookiejar",)


class _LazyFinder:
    """A meta path finder that hands out ``_LAZY`` modules with a lazy loader."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name not in _LAZY:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = importlib.util.LazyLoader(spec.loader)
                return spec
        return None


def _hiding(names: tuple[str, ...]) -> dict[str, Any]:
    saved = {name: sys.modules.pop(name) for name in names if name in sys.modules}
    for name in names:
        sys.modules[name] = None  # type: ignore[assignment]  # its import raises ImportError
    return saved


def _unhide(names: tuple[str, ...], saved: dict[str, Any]) -> None:
    for name in names:
        del sys.modules[name]
    sys.modules.update(saved)


def import_tcp_without_tls() -> None:
    if "twisted.internet.tcp" in sys.modules:
        return
    if "asyncio" not in sys.modules and "ssl" not in sys.modules:
        saved = _hiding(("ssl",))
        try:
            import asyncio  # noqa: F401
        finally:
            _unhide(("ssl",), saved)
    lazy = _LazyFinder()
    sys.meta_path.insert(0, lazy)
    saved = _hiding(_HIDDEN)
    try:
        import twisted.internet.posixbase  # noqa: F401
        import twisted.internet.tcp  # noqa: F401
    finally:
        _unhide(_HIDDEN, saved)
        sys.meta_path.remove(lazy)


import_tcp_without_tls()
