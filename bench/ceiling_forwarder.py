#!/usr/bin/env python3
"""Minimal Twisted + httptools forward proxy: the ceiling for a Twisted/CPython design.

Not part of l5d and imports nothing from it. ``bench/router_bench.sh`` runs it as
the peer ``tw-ceiling`` next to l5d and nginx, so every run shows what this host
allows a featureless Twisted/CPython proxy. Absolute-form requests (origin-form
with Host also works) go to their authority: request line rewritten to
origin-form, headers as received, body re-sent (Content-Length or chunked), over
one keep-alive pool per host:port (LIFO). Responses are parsed only to find
where they end and are streamed back byte for byte. Transports write at once when
nothing is queued (Twisted #5303), TCP_NODELAY both ways, and the epoll reactor
runs events without Twisted's per-event log context, as l5d's does
(``--stock-reactor``: Twisted's EPollReactor as it is). No routing, checks,
metrics, logging, l5d headers or retries; no HEAD, CONNECT, 1xx or upgrades.

    python bench/ceiling_forwarder.py --port 24142
"""

import argparse

import httptools
from twisted.internet import epollreactor, tcp
from twisted.internet.main import installReactor
from twisted.internet.protocol import ClientFactory, Factory, Protocol

POOLS = {}  # (host, port) -> [idle Upstream], LIFO
BAD_GATEWAY = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"
reactor = None  # installed by main()


class _Reactor(epollreactor.EPollReactor):
    """EPollReactor.doPoll without ``log.callWithLogger`` around each event."""

    def doPoll(self, timeout):
        try:
            events = self._poller.poll(-1 if timeout is None else timeout, len(self._selectables))
        except InterruptedError:
            return
        selectables, handle = self._selectables, self._doReadOrWrite  # it catches and logs
        for fd, event in events:
            selectable = selectables.get(fd)
            if selectable is not None:
                handle(selectable, fd, event)

    doIteration = doPoll


class _WriteNow:
    """write(): one send() at once when nothing is queued; Twisted's buffering otherwise."""

    def write(self, data):
        if (not self._tempDataLen and self.offset == len(self.dataBuffer) and self.connected
                and not self.disconnecting and type(data) is bytes and data):
            try:
                sent = self.socket.send(data)
            except OSError:
                sent = 0  # queue it: doWrite sends it or reports the loss next turn
            if sent == len(data):
                return
            data = data[sent:]
        super().write(data)


class _Server(_WriteNow, tcp.Server):
    pass


class _Client(_WriteNow, tcp.Client):
    pass


class _Port(tcp.Port):
    transport = _Server


class _Connector(tcp.Connector):
    def _makeTransport(self):
        return _Client(self.host, self.port, self.bindAddress, self, self.reactor)


class Upstream(Protocol):
    """One pooled origin connection; one exchange at a time, response relayed as received."""

    def __init__(self, key):
        self.key, self.down, self.complete, self.keep_alive = key, None, False, False
        self.parser = httptools.HttpResponseParser(self)

    def connectionMade(self):
        self.transport.setTcpNoDelay(True)
        self.factory.down.send(self, self.factory.request)

    def on_message_complete(self):  # should_keep_alive() is only valid in here
        self.complete, self.keep_alive = True, self.parser.should_keep_alive()

    def dataReceived(self, data):
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.abortConnection()  # connectionLost closes the client's side
            return
        down = self.down
        if down is None:  # nothing asked for this
            self.complete = False
            return
        down.transport.write(data)
        if self.complete:
            self.complete, self.down = False, None
            if self.keep_alive:
                POOLS.setdefault(self.key, []).append(self)
            else:
                self.transport.loseConnection()
            down.done()

    def connectionLost(self, reason=None):
        pool = POOLS.get(self.key)
        if pool and self in pool:
            pool.remove(self)
        if self.down is not None:  # mid-exchange: the client cannot get its response
            self.down.transport.loseConnection()


class UpstreamFactory(ClientFactory):
    def __init__(self, key, down, request):
        self.key, self.down, self.request = key, down, request

    def buildProtocol(self, addr):
        p = Upstream(self.key)
        p.factory = self
        return p

    def clientConnectionFailed(self, connector, reason):
        self.down.transport.write(BAD_GATEWAY)
        self.down.done()


class Downstream(Protocol):
    """A client connection: requests are parsed, queued and forwarded one at a time."""

    def connectionMade(self):
        self.transport.setTcpNoDelay(True)
        self.parser = httptools.HttpRequestParser(self)
        self.queue, self.busy, self.url, self.head, self.body = [], False, b"", [], []

    def dataReceived(self, data):
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
            self.transport.loseConnection()

    def on_message_begin(self):
        self.chunked, self.host = False, b""

    def on_url(self, url):
        self.url += url

    def on_header(self, name, value):
        self.head += (name, b": ", value, b"\r\n")
        lname = name.lower()
        if lname == b"host":
            self.host = value
        elif lname == b"transfer-encoding" and b"chunked" in value.lower():
            self.chunked = True

    def on_body(self, data):
        self.body.append(b"%x\r\n%s\r\n" % (len(data), data) if self.chunked else data)

    def on_message_complete(self):
        u = httptools.parse_url(self.url)
        target = (u.path or b"/") + (b"?" + u.query if u.query else b"")
        self.head.insert(0, b"%s %s HTTP/%s\r\n" % (
            self.parser.get_method(), target, self.parser.get_http_version().encode()))
        self.head.append(b"\r\n")
        self.head += self.body
        if self.chunked:
            self.head.append(b"0\r\n\r\n")
        if u.host:
            key = (u.host.decode(), u.port or 80)
        else:  # origin-form: the authority is the Host header
            host, sep, port = self.host.rpartition(b":")
            if not sep or b"]" in port:
                host, port = self.host, b"80"
            key = (host.strip(b"[]").decode(), int(port))
        self.queue.append((key, b"".join(self.head), self.parser.should_keep_alive()))
        self.url, self.head, self.body = b"", [], []
        if not self.busy:
            self.next()

    def next(self):
        if not self.queue:
            self.busy = False
            return
        self.busy = True
        key, request, self.keep_alive = self.queue.pop(0)
        pool = POOLS.get(key)
        if pool:
            self.send(pool.pop(), request)
        else:
            _Connector(key[0], key[1], UpstreamFactory(key, self, request), 10, None,
                       reactor).connect()

    def send(self, up, request):
        up.down = self
        up.transport.write(request)

    def done(self):
        if self.keep_alive:
            self.next()
        else:
            self.queue, self.busy = [], False
            self.transport.loseConnection()

    def connectionLost(self, reason=None):
        self.queue = []


def main():
    global reactor
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ip", default="127.0.0.1")
    ap.add_argument("--stock-reactor", action="store_true",
                    help="Twisted's EPollReactor, with its log context per event")
    args = ap.parse_args()
    reactor = epollreactor.EPollReactor() if args.stock_reactor else _Reactor()
    installReactor(reactor)
    _Port(args.port, Factory.forProtocol(Downstream), 511, args.ip, reactor).startListening()
    reactor.run()


if __name__ == "__main__":
    main()
