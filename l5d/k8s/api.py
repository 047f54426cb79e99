"""A Kubernetes API client for lists and endless watches, on the reactor (Twisted shell).

:class:`ApiClient` speaks HTTP/1.1 with treq to one API endpoint: plain HTTP to a
``kubectl proxy`` (Linkerd's way), or HTTPS with a bearer token and the cluster CA
(see :mod:`l5d.k8s.access` for where those come from). Two calls:

* :meth:`ApiClient.get` -> ``(status, JSON body or None)``, bounded by a timeout
  (:meth:`ApiClient.send` the same for a write: ``POST``/``PUT`` with a JSON body);
* :meth:`ApiClient.watch` streams a watch: the body is read unbuffered (treq would
  otherwise keep the whole endless stream), split on newlines (events may arrive
  merged or split across chunks; a last line without a newline still counts), each
  line decoded as JSON and handed to ``on_event``. A stream silent for ``idle_s`` is
  cut. The returned :class:`WatchStream` fires ``done`` with ``("end", None)`` for
  a clean end of the response (the server's ``timeoutSeconds``: watch again from
  the last version), ``("status", code)`` when the server answered something other
  than 200 (410: relist), or ``("cut", reason)`` for a broken or idle stream.

The token is asked for before every request (``token()``), so a rotated
service-account token is picked up. Reactor-thread only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlencode

import treq
from treq.client import HTTPClient
from twisted.internet import defer
from twisted.internet.protocol import Protocol
from twisted.web.client import Agent, HTTPConnectionPool, ResponseDone
from twisted.web.http import PotentialDataLoss

__all__ = ["ApiClient", "WatchStream"]

DEFAULT_REQUEST_TIMEOUT_S = 30.0
#: what the API server records as the field manager of l5d's writes
USER_AGENT = b"l5d"
#: longest watch line kept while waiting for its newline (a whole object, JSON)
MAX_LINE_BYTES = 16 * 1024 * 1024


@dataclass
class WatchStream:
    """A running watch: ``done`` fires once with ``(outcome, detail)``; ``cancel()`` ends it
    (then ``done`` fires with ``("cut", "cancelled")``)."""

    done: defer.Deferred = field(default_factory=defer.Deferred)
    _cancel: Callable[[], None] | None = None
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True
        self.finish("cut", "cancelled")
        cancel, self._cancel = self._cancel, None
        if cancel is not None:
            cancel()

    def finish(self, outcome: str, detail: Any) -> None:
        if not self.done.called:
            self.done.callback((outcome, detail))


class _Lines(Protocol):
    """Newline-delimited JSON from a response body, with an idle timer."""

    def __init__(self, stream: WatchStream, on_event: Callable[[Any], None], reactor: Any,
                 idle_s: float) -> None:
        self._stream = stream
        self._on_event = on_event
        self._reactor = reactor
        self._idle_s = idle_s
        self._buffer = b""
        self._timer = reactor.callLater(idle_s, self._idle)
        self.failed: str | None = None

    def makeConnection(self, transport: Any) -> None:
        super().makeConnection(transport)
        self._stream._cancel = self._stop

    def _stop(self) -> None:
        if self.transport is not None:
            self.transport.stopProducing()

    def _idle(self) -> None:
        self._timer = None
        self.failed = f"no data for {self._idle_s:g} s"
        self._stop()

    def dataReceived(self, data: bytes) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.reset(self._idle_s)
        buffer = self._buffer + data
        lines = buffer.split(b"\n")
        self._buffer = lines.pop()
        if len(self._buffer) > MAX_LINE_BYTES:
            self.failed = f"a watch event longer than {MAX_LINE_BYTES} bytes"
            self._buffer = b""
            self._stop()
            return
        for line in lines:
            self._line(line)

    def _line(self, line: bytes) -> None:
        line = line.strip()
        if not line or self._stream.cancelled or self.failed:
            return
        try:
            event = json.loads(line)
        except ValueError:
            self.failed = f"undecodable watch event {line[:80]!r}"
            self._stop()
            return
        self._on_event(event)

    def connectionLost(self, reason: Any = None) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        clean = reason is not None and reason.check(ResponseDone, PotentialDataLoss)
        if clean and not self.failed and self._buffer.strip():
            self._line(self._buffer)  # a final event without its newline
        if clean and not self.failed and not self._stream.cancelled:
            self._stream.finish("end", None)
        else:
            detail = self.failed or (reason.getErrorMessage() if reason is not None else "lost")
            self._stream.finish("cut", detail)


class ApiClient:
    """One Kubernetes API endpoint.

    :param base_url: ``http://localhost:8001`` (kubectl proxy) or ``https://host:port``.
    :param tls: an ``IPolicyForHTTPS`` for https (the cluster CA, client certificates).
    :param token: returns the current bearer token, or ``None`` (no ``Authorization``).
    :param description: how this endpoint is reached, for logs and admin pages.
    """

    def __init__(self, reactor: Any, base_url: str, *, tls: Any = None,
                 token: Callable[[], str | None] = lambda: None, description: str = "",
                 request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S) -> None:
        self._reactor = reactor
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.description = description or self.base_url
        self.request_timeout_s = request_timeout_s
        pool = HTTPConnectionPool(reactor, persistent=True)
        pool.retryAutomatically = False  # a list is re-sent by the reflector's own policy
        pool.maxPersistentPerHost = 4
        agent = Agent(reactor, contextFactory=tls, pool=pool) if tls is not None else Agent(
            reactor, pool=pool)
        self._pool = pool
        self._http = HTTPClient(agent)

    def url(self, path: str, params: dict[str, str] | None = None) -> str:
        query = f"?{urlencode(sorted(params.items()))}" if params else ""
        return f"{self.base_url}{path}{query}"

    def _headers(self) -> dict[bytes, list[bytes]]:
        headers = {b"Accept": [b"application/json"], b"User-Agent": [USER_AGENT]}
        token = self._token()
        if token:
            headers[b"Authorization"] = [b"Bearer " + token.encode("latin-1")]
        return headers

    def get(self, path: str, params: dict[str, str] | None = None) -> defer.Deferred:
        """``(status, decoded JSON or None)``; errors (connect, timeout) fail the Deferred."""
        return self._request("GET", self.url(path, params), self._headers(), None)

    def send(self, method: str, path: str, body: Any) -> defer.Deferred:
        """``method`` (``POST``, ``PUT``) with ``body`` as JSON: ``(status, decoded JSON or
        None)``, as :meth:`get`; errors (connect, timeout) fail the Deferred."""
        headers = self._headers()
        headers[b"Content-Type"] = [b"application/json"]
        return self._request(method, self.url(path), headers,
                             json.dumps(body).encode("utf-8"))

    def _request(self, method: str, url: str, headers: dict[bytes, list[bytes]],
                 data: bytes | None) -> defer.Deferred:
        d = self._http.request(method, url, headers=headers, data=data, unbuffered=False,
                               reactor=self._reactor)

        def body(response: Any) -> defer.Deferred:
            return treq.content(response).addCallback(lambda raw: (response.code, _json(raw)))

        d.addCallback(body)
        d.addTimeout(self.request_timeout_s, self._reactor)
        return d

    def watch(self, path: str, params: dict[str, str], on_event: Callable[[Any], None],
              idle_s: float) -> WatchStream:
        """Start a watch (``params`` should hold ``watch=1`` and ``resourceVersion``)."""
        stream = WatchStream()
        d = self._http.request("GET", self.url(path, params), headers=self._headers(),
                               unbuffered=True, reactor=self._reactor)
        d.addTimeout(self.request_timeout_s, self._reactor)
        stream._cancel = d.cancel

        def started(response: Any) -> None:
            if stream.cancelled:
                response.deliverBody(_Discard())
                return
            if response.code != 200:
                stream._cancel = None
                treq.content(response).addBoth(lambda _: stream.finish("status", response.code))
                return
            response.deliverBody(_Lines(stream, on_event, self._reactor, idle_s))

        def failed(reason: Any) -> None:
            stream.finish("cut", reason.getErrorMessage())

        d.addCallbacks(started, failed)
        return stream

    def close(self) -> defer.Deferred:
        return self._pool.closeCachedConnections()


class _Discard(Protocol):
    def makeConnection(self, transport: Any) -> None:
        super().makeConnection(transport)
        transport.stopProducing()

    def connectionLost(self, reason: Any = None) -> None:
        pass


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None
