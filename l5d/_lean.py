"""Imported first by :mod:`l5d.main`: Twisted's TCP without pyOpenSSL (issue 14, memory).

``twisted.internet.tcp`` and ``twisted.internet.posixbase`` import
``twisted.protocols.tls`` (so pyOpenSSL and ``cryptography``, about 12 MiB of RSS)
at import time, only for ``startTLS`` and ``reactor.connectSSL``/``listenSSL``,
which l5d does not use: its TLS wraps the protocol (:mod:`l5d.tls.transport`, and
Twisted's ``wrapClientTLS`` in the Kubernetes client), and those modules are
imported when a config first needs them. Here they are hidden while the two
modules load, then unhidden. A no-op when ``tcp`` is already imported (tests).
"""

from __future__ import annotations

import sys

_HIDDEN = ("twisted.internet._newtls", "twisted.protocols.tls", "twisted.internet.ssl")


def import_tcp_without_tls() -> None:
    if "twisted.internet.tcp" in sys.modules:
        return
    saved = {name: sys.modules.pop(name) for name in _HIDDEN if name in sys.modules}
    for name in _HIDDEN:
        sys.modules[name] = None  # type: ignore[assignment]  # its import raises ImportError
    try:
        import twisted.internet.posixbase  # noqa: F401
        import twisted.internet.tcp  # noqa: F401
    finally:
        for name in _HIDDEN:
            del sys.modules[name]
        sys.modules.update(saved)


import_tcp_without_tls()
