"""Retry safety through a real l5d (issue 10; reliability section 5, D2, E2-E4).

Two endpoints behind one client, balanced round robin so that every few requests one
of them starts at the broken endpoint. Every request carries its own target, and the
backends log what they read, so "never re-sent" and "sent once more, whole" are
checked per request on the upstream side:

* an upstream that dies after reading half of a request body: a POST is a 502 and goes
  nowhere else; a PUT whose body l5d holds goes once more, whole, to the other endpoint
  (a requeue, charged to the client's budget); a PUT whose body l5d has not read yet
  cannot be re-sent: 502;
* an upstream that dies after the response head and part of its body: the client's
  connection is cut, nothing is sent again;
* a 500 under ``retryableRead5XX`` is retried on the other endpoint;
* a streamed request body (chunked, or a Content-Length above
  ``streamAfterContentLengthKB``) is sent once, even under ``retryableAll5XX``;
* a small body still on its way when a retryable answer comes back (xfail: l5d then
  treats it as streamed).
"""

from __future__ import annotations

import itertools
import socket

import pytest
import requests

from tests.helpers.backends import ScriptedBackend
from tests.helpers.l5d_process import L5d
from tests.helpers.raw_http import RawClient, request
from tests.helpers.resilience import (
    Backend, answer, fail_first, fs_l5d, read_message, reset, stat,
)

TIMEOUT_S = 20
ROUND_ROBIN = "client: {loadBalancer: {kind: roundRobin}}\n"
BODY = bytes(range(256)) * 8  # 2048 bytes: buffered (under 5 KiB)
_ids = itertools.count()


def proxies(l5d: L5d) -> dict[str, str]:
    return {"http": f"http://{l5d.proxy}"}


def client_metric(l5d: L5d, name: str) -> float:
    return stat(l5d.metrics(), "rt/http/client/", name)


class HalfBody:
    """An endpoint that reads a request's head and half of its Content-Length body, then
    resets the connection; ``seen`` lists ``(method, target, body bytes read)``."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, int]] = []
        self.backend = ScriptedBackend(self._serve)
        self.port = self.backend.port

    def _serve(self, conn: socket.socket, log: list) -> None:
        head = b""
        while not head.endswith(b"\r\n\r\n"):  # byte by byte: not a byte of the body
            data = conn.recv(1)
            if not data:
                return
            head += data
        lines = head.decode("latin-1").strip().split("\r\n")
        length = next(int(v) for n, _, v in (h.partition(":") for h in lines[1:])
                      if n.strip().lower() == "content-length")
        body = b""
        while len(body) < length // 2:
            data = conn.recv(length // 2 - len(body))
            if not data:
                break
            body += data
        method, target, _ = lines[0].split(" ", 2)
        self.seen.append((method, target, len(body)))
        reset(conn)

    def targets(self) -> list[str]:
        return [t for _, t, _ in self.seen]

    def __enter__(self) -> "HalfBody":
        return self

    def __exit__(self, *exc) -> None:
        self.backend.close()


class CutRequestBodyTests:
    """The upstream dies having read half of the request body, before any response byte."""

    @pytest.fixture()
    def pair(self, tmp_path):
        with HalfBody() as bad, Backend() as good:
            with fs_l5d(tmp_path, [bad.port, good.port], ROUND_ROBIN) as l5d:
                yield l5d, bad, good

    def test_post_is_a_502_and_never_sent_again(self, pair) -> None:
        """A POST may have been acted on: 502, and no endpoint sees it a second time."""
        l5d, bad, good = pair
        outcome = {}
        for _ in range(4):
            target = f"/post{next(_ids)}"
            rsp = requests.post(f"http://x{target}", data=BODY, proxies=proxies(l5d),
                                timeout=TIMEOUT_S)
            outcome[target] = rsp.status_code
        failed = sorted(t for t, s in outcome.items() if s == 502)
        assert failed and set(outcome.values()) <= {200, 502}, outcome
        assert sorted(bad.targets()) == failed  # each once, and only those
        assert all(n == len(BODY) // 2 for _, _, n in bad.seen)
        assert sorted(good.targets()) == sorted(t for t, s in outcome.items() if s == 200)
        assert [s.body for s in good.seen] == [BODY] * len(good.seen)
        assert client_metric(l5d, "retries/requeues") == 0

    def test_put_is_sent_once_more_whole_elsewhere(self, pair) -> None:
        """An idempotent PUT whose whole body l5d kept: requeued once to the other endpoint,
        which gets the complete body; the client sees 200 every time."""
        l5d, bad, good = pair
        targets = []
        for _ in range(4):
            target = f"/put{next(_ids)}"
            targets.append(target)
            with RawClient(l5d.port) as c:  # head and body in one write: l5d holds it all
                c.send(request("PUT", target, [("Host", "x"), ("Content-Length", str(len(BODY)))],
                               BODY))
                rsp = c.read_response()
            assert (rsp.status, rsp.body) == (200, b"ok")
        assert sorted(good.targets()) == sorted(targets)  # each exactly once
        assert [s.body for s in good.seen] == [BODY] * 4
        assert bad.seen and len(set(bad.targets())) == len(bad.seen)
        assert client_metric(l5d, "retries/requeues") == len(bad.seen)

    def test_put_whose_body_l5d_has_not_read_is_a_502(self) -> None:
        """The client is still sending the PUT body when the upstream dies: l5d cannot
        re-send what it never had, so 502 and the request is sent nowhere else."""
        with HalfBody() as bad, L5d(f"/svc=>/$/inet/127.0.0.1/{bad.port}") as l5d:
            with RawClient(l5d.port) as c:
                c.send(request("PUT", "/slow-body", [("Host", "x"), ("Content-Length", "4000")],
                               b"a" * 2500))
                rsp = c.read_response()
                assert rsp.status == 502 and rsp.complete, rsp
                assert rsp.header("Connection") == "close"
            assert bad.seen == [("PUT", "/slow-body", 2000)]
            assert client_metric(l5d, "retries/requeues") == 0


def cut_response(conn: socket.socket) -> None:
    """A 200 head and 10 of its 100 body bytes, then the connection dies."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
    reset(conn)


class CutResponseTests:
    """Nothing is retried once a response byte went downstream."""

    def test_cut_after_the_head_is_not_sent_again(self, tmp_path) -> None:
        """Under retryableAll5XX: the client's connection is cut after at most the 10 bytes,
        and the request reached exactly one endpoint."""
        with Backend(lambda seen: cut_response) as bad, Backend() as good:
            yaml = ROUND_ROBIN + "service: {responseClassifier: {kind: " \
                                 "io.l5d.http.retryableAll5XX}}\n"
            with fs_l5d(tmp_path, [bad.port, good.port], yaml) as l5d:
                cut = 0
                for method in ("GET", "PUT", "GET", "POST"):
                    target = f"/cut{next(_ids)}"
                    with RawClient(l5d.port) as c:
                        c.send(request(method, target, [("Host", "x"), ("Content-Length", "1")],
                                       b"z"))
                        rsp = c.read_response()
                        assert rsp.status == 200
                        if rsp.complete:
                            assert rsp.body == b"ok"
                        else:
                            cut += 1
                            assert c.eof and len(rsp.body) <= 10
                    assert bad.count(target) + good.count(target) == 1, target
                assert cut == len(bad.seen) >= 1
                m = l5d.metrics()
                assert m["rt/http/service/svc/x/retries/total"] == 0
                assert client_metric(l5d, "retries/requeues") == 0


class RetryOnAnotherEndpointTests:
    """A 500 under retryableRead5XX goes to the other endpoint."""

    def test_500_is_retried_on_the_good_endpoint(self, tmp_path) -> None:
        """Every GET gets 200; each reached the good endpoint exactly once and the bad one
        at most once; the bad endpoint's total is ``retries/total``."""
        with Backend(lambda seen: answer(500, b"bad")) as bad, Backend() as good:
            yaml = ROUND_ROBIN + "service: {responseClassifier: {kind: " \
                                 "io.l5d.http.retryableRead5XX}}\n"
            with fs_l5d(tmp_path, [bad.port, good.port], yaml) as l5d:
                targets = [f"/r{next(_ids)}" for _ in range(6)]
                for target in targets:
                    rsp = requests.get(f"http://x{target}", proxies=proxies(l5d),
                                       timeout=TIMEOUT_S)
                    assert (rsp.status_code, rsp.text) == (200, "ok")
                    assert rsp.headers["l5d-success-class"] == "1.0"
                m = l5d.metrics()
            assert sorted(good.targets()) == sorted(targets)
            assert len(set(bad.targets())) == len(bad.seen) >= 1
            assert m["rt/http/service/svc/x/retries/total"] == len(bad.seen)
            assert m["rt/http/service/svc/x/success"] == 6


@pytest.fixture(scope="module")
def fails_once():
    """A backend answering 500 to the first request for each target, behind an l5d whose
    classifier retries every method."""
    with Backend(fail_first(answer(500, b"boom"))) as backend, L5d(
            f"/svc=>/$/inet/127.0.0.1/{backend.port}",
            router_yaml="service: {responseClassifier: {kind: io.l5d.http.retryableAll5XX}}\n"
    ) as l5d:
        yield l5d, backend


class StreamedBodyTests:
    """E3: a streamed request body is never retried; a buffered one is, intact."""

    def test_chunked_body_is_sent_once(self, fails_once) -> None:
        """A chunked POST answered 500 under retryableAll5XX: the 500 is passed on."""
        l5d, backend = fails_once
        with RawClient(l5d.port) as c:
            c.send(request("POST", "/chunked", [("Host", "x"), ("Transfer-Encoding", "chunked")],
                           b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"))
            rsp = c.read_response()
        assert (rsp.status, rsp.body) == (500, b"boom")
        assert rsp.header("l5d-success-class") == "0.0"
        seen = [s for s in backend.seen if s.target == "/chunked"]
        assert [(s.chunked, s.body) for s in seen] == [(True, b"hello world")]

    @pytest.mark.parametrize("size, retried", [
        (0, True), (4000, True), (5120, True), (5121, False), (64 * 1024, False)])
    def test_content_length_body(self, fails_once, size: int, retried: bool) -> None:
        """Up to streamAfterContentLengthKB (5 KiB) the body is kept and the retry carries
        all of it; above, the 500 is passed on and the body went up once."""
        l5d, backend = fails_once
        target = f"/cl{size}"
        body = bytes(i % 251 for i in range(size))
        rsp = requests.put(f"http://x{target}", data=body, proxies=proxies(l5d),
                           timeout=TIMEOUT_S)
        bodies = [s.body for s in backend.seen if s.target == target]
        if retried:
            assert (rsp.status_code, rsp.text) == (200, "ok")
            assert bodies == [body, body]
        else:
            assert (rsp.status_code, rsp.text) == (500, "boom")
            assert bodies == [body]

    def test_the_limit_is_the_router_key(self) -> None:
        """``streamAfterContentLengthKB: 1``: a 2000-byte body is streamed, so not retried;
        a 1024-byte one is."""
        with Backend(fail_first(answer(500, b"boom"))) as backend, L5d(
                f"/svc=>/$/inet/127.0.0.1/{backend.port}",
                router_yaml="streamAfterContentLengthKB: 1\n"
                            "service: {responseClassifier: {kind: io.l5d.http.retryableAll5XX}}\n"
        ) as l5d:
            big = requests.post("http://x/big", data=b"b" * 2000, proxies=proxies(l5d),
                                timeout=TIMEOUT_S)
            small = requests.post("http://x/small", data=b"s" * 1024, proxies=proxies(l5d),
                                  timeout=TIMEOUT_S)
        assert (big.status_code, backend.count("/big")) == (500, 1)
        assert (small.status_code, backend.count("/small")) == (200, 2)


class LateBodyTests:
    """A small Content-Length body that is still on its way when a retryable answer comes."""

    def test_nack_before_the_body_arrived_is_retried(self) -> None:
        """POST with Content-Length 5, its body held back; the upstream answers a 503 nack to
        the head alone: once the body came, the request is sent again, whole: 200."""
        attempts: list[bytes | None] = []

        def handler(conn: socket.socket, log: list) -> None:
            if not attempts:
                head = b""
                while b"\r\n\r\n" not in head:
                    head += conn.recv(65536)
                attempts.append(None)
                conn.sendall(answer(503, b"nack", [("Retry-After", "0")]))
                conn.settimeout(2)
                try:
                    conn.recv(65536)  # keep the connection open until l5d is done with it
                except OSError:
                    pass
                return
            seen, _ = read_message(conn)
            attempts.append(seen.body if seen else None)
            conn.sendall(answer(200, b"ok"))

        with ScriptedBackend(handler) as backend, L5d(
                f"/svc=>/$/inet/127.0.0.1/{backend.port}") as l5d:
            with RawClient(l5d.port) as c:
                c.send(request("POST", "/late", [("Host", "x"), ("Content-Length", "5")]))
                try:  # l5d now passes the nack on; one that waits for the body answers later
                    rsp = c.read_response(timeout_s=1.0)
                except TimeoutError:
                    c.send(b"hello")
                    rsp = c.read_response()
        assert (rsp.status, rsp.body) == (200, b"ok")
        assert attempts == [None, b"hello"]
