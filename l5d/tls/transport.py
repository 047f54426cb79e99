"""TLS over l5d's TCP transports: server and client wrappers (Twisted shell).

Both sides use :class:`twisted.protocols.tls.TLSMemoryBIOProtocol` over the
immediate-write TCP transports of :mod:`l5d.http.fasttcp`: the ciphertext goes out
through their ``write`` at once, as plaintext bytes do. Twisted's default TLS
protocol (``BufferingTLSTransport``) holds small writes until the next reactor turn;
l5d writes a response head and body in one call already, so it uses the unbuffered
one.

* :func:`tls_server_factory`: an accepted connection is handed to the HTTP server at
  once; the handshake runs ahead of the first request.
* :func:`tls_client_factory`: the upstream connection is handed to the pool only once
  the handshake is done and the server's certificate passed the client's checks. A
  handshake that fails (or takes longer than the connect timeout) fails the connect,
  with the reason from :class:`l5d.tls.context.Handshake` (wrong name, untrusted CA,
  expired certificate...), which becomes the 502's ``l5d-err``.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import error as ierror
from twisted.protocols.tls import TLSMemoryBIOFactory, TLSMemoryBIOProtocol
from twisted.python.failure import Failure

__all__ = ["TlsHandshakeFailed", "tls_client_factory", "tls_server_factory"]


class TlsHandshakeFailed(ierror.ConnectError):
    """An upstream TLS handshake failed; the message says why."""

    def __str__(self) -> str:
        return self.args[0] if self.args and self.args[0] else "TLS handshake failed"


class _ServerProtocol(TLSMemoryBIOProtocol):
    """Server side. A half-close (``loseWriteConnection``) would skip TLS's close_notify,
    so it closes the TLS session instead."""

    def loseWriteConnection(self) -> None:
        self.loseConnection()


class _ServerFactory(TLSMemoryBIOFactory):
    protocol = _ServerProtocol


def tls_server_factory(creator: Any, factory: Any, reactor: Any) -> TLSMemoryBIOFactory:
    """``factory``'s connections over TLS (``creator``: a :class:`~l5d.tls.context.ServerTls`)."""
    return _ServerFactory(creator, False, factory, reactor)


class _ClientProtocol(TLSMemoryBIOProtocol):
    """Client side: connects the wrapped protocol once the handshake is done."""

    _up = False
    _timer: Any = None
    #: the :class:`~l5d.tls.context.Handshake` check of this connection (set by ClientTls)
    tls_check: Any = None

    def __init__(self, factory: Any, wrappedProtocol: Any) -> None:
        super().__init__(factory, wrappedProtocol, _connectWrapped=False)

    def makeConnection(self, transport: Any) -> None:
        timeout_s = self.factory.timeout_s
        if timeout_s is not None:
            self._timer = self.factory._clock.callLater(timeout_s, self._timed_out)
        super().makeConnection(transport)

    def _timed_out(self) -> None:
        self._timer = None
        self._reason = Failure(TlsHandshakeFailed(
            string="TLS handshake failed: no answer within the connect timeout"))
        self.abortConnection()

    def _checkHandshakeStatus(self) -> None:
        super()._checkHandshakeStatus()
        if self._handshakeDone and not self._up and not self._aborted:
            self._up = True
            self._cancel_timer()
            self.wrappedProtocol.makeConnection(self)

    def _cancel_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()

    def getHandle(self) -> Any:
        # UpstreamConnection polls its socket for bytes left after a response; under TLS
        # the socket also carries records that are not application data (TLS 1.3 session
        # tickets), so there is no socket to poll: the TLS layer delivers stray bytes.
        raise AttributeError("getHandle")

    def connectionLost(self, reason: Failure) -> None:
        self._cancel_timer()
        if self._up:
            super().connectionLost(reason)
            return
        check = self.tls_check
        reason = self._reason or reason
        self._reason = None
        self._lostTLSConnection = True
        self.connected = False
        self._tlsConnection = None
        self.factory.unregisterProtocol(self)
        if reason is not None and reason.check(TlsHandshakeFailed):  # timed out
            message = str(reason.value)
            if check is not None:
                check.failed(message)
        else:
            why = _reason_text(reason)
            message = check.failed(why) if check is not None else f"TLS handshake failed: {why}"
        self.factory.wrappedFactory.on_fail(Failure(TlsHandshakeFailed(string=message)))


def _reason_text(reason: Failure | None) -> str:
    if reason is None or reason.check(ierror.ConnectionDone):
        return "the server closed the connection during the handshake"
    value = reason.value
    args = getattr(value, "args", ())
    if args and isinstance(args[0], list) and args[0]:  # OpenSSL.SSL.Error's [(lib, fn, reason)]
        return "; ".join(str(e[-1]) for e in args[0])
    return str(value) or type(value).__name__


class _ClientFactory(TLSMemoryBIOFactory):
    protocol = _ClientProtocol
    timeout_s: float | None = None


def tls_client_factory(creator: Any, factory: Any, reactor: Any,
                       timeout_s: float | None) -> TLSMemoryBIOFactory:
    """``factory`` (an upstream connection factory with ``on_fail``) over TLS.

    :param creator: a :class:`~l5d.tls.context.ClientTls`.
    :param timeout_s: how long the handshake may take (the connect timeout).
    """
    wrapped = _ClientFactory(creator, True, factory, reactor)
    wrapped.timeout_s = timeout_s
    return wrapped
