"""The linker's TLS contexts: made only when a config has ``tls`` somewhere.

:class:`TlsContexts` is made by every linker; pyOpenSSL, ``cryptography`` and
``twisted.protocols.tls`` (about 12 MiB of RSS, issue 14) are imported by
:mod:`l5d.tls.context` only when a server's or client's context is first made.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable

from l5d.tls.config import ClientTlsConfig, ServerTlsConfig
from l5d.tls.verdict import TlsFailure

if TYPE_CHECKING:
    from l5d.tls.context import ClientTls, ServerTls, Watched

__all__ = ["DEFAULT_CHECK_INTERVAL_S", "TlsContexts"]

#: how often, at most, a new connection makes l5d look at the certificate files again
DEFAULT_CHECK_INTERVAL_S = 1.0


class TlsContexts:
    """Every TLS context of a linker, made once per distinct set of files.

    :param now: monotonic seconds (when to look at the files again).
    :param check_interval_s: how often at most the files are looked at.
    """

    def __init__(self, now: Callable[[], float],
                 check_interval_s: float = DEFAULT_CHECK_INTERVAL_S) -> None:
        self._now = now
        self._interval_s = check_interval_s
        self._clients: dict[ClientTlsConfig, Watched] = {}
        self._client_tls: dict[ClientTlsConfig, ClientTls] = {}
        self._servers: list[ServerTls] = []
        #: client handshakes that failed, by kind (every client of the linker)
        self.failures: dict[TlsFailure, int] = dict.fromkeys(TlsFailure, 0)
        #: whether :meth:`register_stats` ran (a reload keeps the contexts and their counts)
        self.registered = False

    def server(self, cfg: ServerTlsConfig, what: str) -> ServerTls:
        """A server's TLS (loads the files now: raises if they do not load)."""
        from l5d.tls.context import ServerTls

        server = ServerTls(cfg, what, self._now, self._interval_s)
        self._servers.append(server)
        return server

    def client(self, cfg: ClientTlsConfig) -> ClientTls:
        """A client's TLS for ``cfg`` (its ``commonName`` filled in); the files of
        configs that differ only in ``commonName`` are loaded once."""
        found = self._client_tls.get(cfg)
        if found is None:
            from l5d.tls.context import ClientTls, Watched, client_options

            files_cfg = replace(cfg, common_name="*")  # the same files, whatever the name
            watched = self._clients.get(files_cfg)
            if watched is None:
                watched = self._clients[files_cfg] = Watched(
                    "client", cfg.files, lambda: client_options(cfg).getContext(),
                    self._now, self._interval_s)
            found = self._client_tls[cfg] = ClientTls(cfg, watched, self.failures)
        return found

    @property
    def reloads(self) -> int:
        """How many times changed certificate files were loaded (servers and clients)."""
        return (sum(w.reloads for w in self._clients.values())
                + sum(s.watched.reloads for s in self._servers))

    def register_stats(self, stats: Any) -> None:
        """``tls/reloads`` and ``tls/client/handshake_failures/<kind>`` (``wrong_name``,
        ``untrusted_ca``, ``expired_certificate``, ...) as counters of ``stats``."""
        self.registered = True
        stats.function_counter(lambda: self.reloads, "tls", "reloads")
        for kind in TlsFailure:
            slug = kind.value.replace(" ", "_").lower()
            stats.function_counter(lambda kind=kind: self.failures[kind],
                                   "tls", "client", "handshake_failures", slug)
