"""l5d.k8s.api: lists and watch streams over real HTTP on 127.0.0.1 (the real reactor).

A twisted.web server plays the API with a resource the test scripts: it writes the
watch body in the chunks the test chooses (events split across chunks, merged in
one, a last line without a newline), ends it cleanly or cuts the connection, or
answers a status. The real kube-apiserver is exercised in tests/integration/k8s.
"""

from __future__ import annotations

import json
from typing import Any

import pytest_twisted
from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import deferLater
from twisted.web import resource, server

from l5d.k8s.api import ApiClient

reactor: Any = _reactor
TIMEOUT_S = 10.0


class Scripted(resource.Resource):
    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.requests: list = []
        self.pending: list = []
        self.waiting: Deferred | None = None

    def render_GET(self, request: Any) -> Any:
        self.requests.append(request)
        if b"watch" in request.args:
            request.setHeader(b"content-type", b"application/json")
            self.pending.append(request)
            if self.waiting is not None:
                waiting, self.waiting = self.waiting, None
                waiting.callback(request)
            return server.NOT_DONE_YET
        if request.path.endswith(b"/missing"):
            request.setResponseCode(404)
            return b'{"kind":"Status","code":404}'
        return json.dumps({"metadata": {"resourceVersion": "7"}, "items": []}).encode()

    def next_watch(self) -> Deferred:
        if self.pending:
            from twisted.internet.defer import succeed
            return succeed(self.pending.pop(0))
        self.waiting = Deferred()
        return self.waiting.addTimeout(TIMEOUT_S, reactor)


class Fixture:
    def __init__(self, token: str | None = None) -> None:
        self.api = Scripted()
        self.port = reactor.listenTCP(0, server.Site(self.api), interface="127.0.0.1")
        self.client = ApiClient(reactor, f"http://127.0.0.1:{self.port.getHost().port}",
                                token=lambda: token)

    @inlineCallbacks
    def close(self) -> Any:
        yield self.client.close()
        for request in self.api.pending:
            if not request.finished:
                request.finish()
        yield self.port.stopListening()


class ApiClientTests:
    @pytest_twisted.inlineCallbacks
    def test_get_returns_status_and_json_with_the_token(self) -> Any:
        f = Fixture(token="sekrit")
        try:
            status, body = yield f.client.get("/api/v1/namespaces/ns/endpoints",
                                              {"fieldSelector": "metadata.name=web"})
            assert (status, body["metadata"]["resourceVersion"]) == (200, "7")
            request = f.api.requests[0]
            assert request.args[b"fieldSelector"] == [b"metadata.name=web"]
            assert request.getHeader(b"authorization") == b"Bearer sekrit"
            status, body = yield f.client.get("/api/v1/missing")
            assert (status, body["code"]) == (404, 404)
        finally:
            yield f.close()

    @pytest_twisted.inlineCallbacks
    def test_events_in_any_chunking_and_a_last_line_without_newline(self) -> Any:
        f = Fixture()
        try:
            events: list = []
            stream = f.client.watch("/w", {"watch": "1"}, events.append, idle_s=30)
            request = yield f.api.next_watch()
            e1 = json.dumps({"type": "ADDED", "object": {"n": 1}}).encode()
            e2 = json.dumps({"type": "MODIFIED", "object": {"n": 2}}).encode()
            e3 = json.dumps({"type": "DELETED", "object": {"n": 3}}).encode()
            for chunk in (e1[:5], e1[5:] + b"\n" + e2[:3], e2[3:] + b"\n\n", e3):
                request.write(chunk)
                yield deferLater(reactor, 0.02, lambda: None)
            assert [e["object"]["n"] for e in events] == [1, 2]
            request.finish()
            outcome = yield stream.done.addTimeout(TIMEOUT_S, reactor)
            assert outcome == ("end", None)
            assert [e["object"]["n"] for e in events] == [1, 2, 3]
        finally:
            yield f.close()

    @pytest_twisted.inlineCallbacks
    def test_a_cut_stream_is_cut_not_ended(self) -> Any:
        f = Fixture()
        try:
            events: list = []
            stream = f.client.watch("/w", {"watch": "1"}, events.append, idle_s=30)
            request = yield f.api.next_watch()
            request.write(b'{"type":"ADDED","object":{}}\n{"type":"MOD')
            yield deferLater(reactor, 0.02, lambda: None)
            request.channel.transport.abortConnection()
            f.api.pending.clear()
            outcome, _ = yield stream.done.addTimeout(TIMEOUT_S, reactor)
            assert outcome == "cut" and len(events) == 1
        finally:
            yield f.close()

    @pytest_twisted.inlineCallbacks
    def test_a_silent_stream_is_cut_after_idle_s(self) -> Any:
        f = Fixture()
        try:
            stream = f.client.watch("/w", {"watch": "1"}, lambda e: None, idle_s=0.2)
            request = yield f.api.next_watch()
            request.write(b'{"type":"BOOKMARK","object":{"metadata":{}}}\n')
            outcome, detail = yield stream.done.addTimeout(TIMEOUT_S, reactor)
            assert outcome == "cut" and "no data" in detail
        finally:
            yield f.close()

    @pytest_twisted.inlineCallbacks
    def test_non_200_watch_is_a_status(self) -> Any:
        f = Fixture()
        try:
            stream = f.client.watch("/api/v1/missing", {"watch": "1", "x": "y"}, lambda e: None,
                                    idle_s=30)
            # the scripted resource streams anything with ?watch: answer it by hand
            request = yield f.api.next_watch()
            request.setResponseCode(410)
            request.write(b'{"kind":"Status","code":410}')
            request.finish()
            f.api.pending.clear()
            outcome = yield stream.done.addTimeout(TIMEOUT_S, reactor)
            assert outcome == ("status", 410)
        finally:
            yield f.close()

    @pytest_twisted.inlineCallbacks
    def test_garbage_line_cuts_the_stream(self) -> Any:
        f = Fixture()
        try:
            stream = f.client.watch("/w", {"watch": "1"}, lambda e: None, idle_s=30)
            request = yield f.api.next_watch()
            request.write(b"<html>not json</html>\n")
            outcome, detail = yield stream.done.addTimeout(TIMEOUT_S, reactor)
            assert outcome == "cut" and "undecodable" in detail
        finally:
            yield f.close()

    @pytest_twisted.inlineCallbacks
    def test_cancel(self) -> Any:
        f = Fixture()
        try:
            stream = f.client.watch("/w", {"watch": "1"}, lambda e: None, idle_s=30)
            yield f.api.next_watch()
            stream.cancel()
            outcome = yield stream.done
            assert outcome == ("cut", "cancelled")
        finally:
            yield f.close()


class LineFramingTests:
    """The watch body's framing on its own (F6): events split at every byte, merged, with a
    final line without newline, never stuck."""

    def run(self, chunks: list[bytes], end_clean: bool = True) -> tuple[list, tuple]:
        from twisted.internet.task import Clock
        from twisted.python.failure import Failure
        from twisted.web.client import ResponseDone, ResponseFailed

        from l5d.k8s.api import WatchStream, _Lines

        events: list = []
        stream = WatchStream()
        lines = _Lines(stream, events.append, Clock(), idle_s=30)
        for chunk in chunks:
            lines.dataReceived(chunk)
        reason = Failure(ResponseDone()) if end_clean else Failure(ResponseFailed([]))
        lines.connectionLost(reason)
        return events, stream.done.result

    def test_every_split_point(self) -> None:
        body = (json.dumps({"type": "ADDED", "object": {"n": 1, "s": "x" * 50}}) + "\n"
                + json.dumps({"type": "MODIFIED", "object": {"n": 2}}) + "\n"
                + json.dumps({"type": "DELETED", "object": {"n": 3}})).encode()
        for cut in range(1, len(body)):
            events, outcome = self.run([body[:cut], body[cut:]])
            assert [e["object"]["n"] for e in events] == [1, 2, 3], cut
            assert outcome == ("end", None)
        events, _ = self.run([body[i:i + 1] for i in range(len(body))])  # byte by byte
        assert [e["object"]["n"] for e in events] == [1, 2, 3]

    def test_a_large_object(self) -> None:
        big = {"type": "ADDED", "object": {"items": ["x" * 1000] * 2000}}  # ~2 MB
        data = json.dumps(big).encode() + b"\n"
        events, _ = self.run([data[i:i + 65536] for i in range(0, len(data), 65536)])
        assert len(events) == 1 and len(events[0]["object"]["items"]) == 2000

    def test_a_cut_loses_the_partial_event(self) -> None:
        events, outcome = self.run([b'{"type":"ADDED","object":{}}\n{"type":"MOD'],
                                   end_clean=False)
        assert len(events) == 1 and outcome[0] == "cut"
