"""``client.hostConnectionPool`` through a real l5d.

``maxSize`` bounds the connections to one endpoint; when they are all busy, up to
``maxWaiters`` requests wait for one, and a request beyond that is refused by the pool at
once. l5d treats that refusal like a failed connect, but not the endpoint's (failure
accrual does not count it): it requeues the request to another pick (another endpoint
if there is one with room), and when none has room it answers 503 with
``l5d-retryable: true`` (the request reached no one). ``idleTimeMs`` is checked when a
pooled connection is taken. The backends count their open connections, so "never more
than maxSize" is checked where it matters. A ``/slow`` request is held by the backend until
the test opens the gate, so "while the first is still being served" needs no timing.
"""

from __future__ import annotations

import contextlib
import threading
import time

import requests

from tests.helpers.l5d_process import L5d, wait_for
from tests.helpers.resilience import Backend, fs_l5d, stat

TIMEOUT_S = 20


class Gate:
    """Holds every ``/slow`` request in the backend until :meth:`open` (or 10 s)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def __call__(self, seen) -> float:  # a Backend delay_s
        if seen.target.startswith("/slow"):
            self._event.wait(10)
        return 0.0

    def open(self) -> None:
        self._event.set()

    @contextlib.contextmanager
    def held(self):
        """Closed inside the block, open after it (whatever happens)."""
        try:
            yield self
        finally:
            self.open()


def pool(max_waiters: int, extra: str = "") -> str:
    return (f"client: {{hostConnectionPool: {{maxSize: 1, maxWaiters: {max_waiters}}}"
            f"{extra}}}\n")


class Concurrent:
    """Requests started in order in threads, each after the previous one is in flight."""

    def __init__(self, l5d: L5d) -> None:
        self.l5d = l5d
        self.results: dict[str, requests.Response] = {}
        self._threads: list[threading.Thread] = []

    def start(self, target: str, in_flight) -> None:
        def run() -> None:
            rsp = requests.get(f"http://x{target}", proxies={"http": f"http://{self.l5d.proxy}"},
                               timeout=TIMEOUT_S)
            self.results[target] = rsp

        t = threading.Thread(target=run)
        t.start()
        self._threads.append(t)
        assert wait_for(in_flight, timeout_s=5)

    def join(self) -> None:
        for t in self._threads:
            t.join(TIMEOUT_S + 5)


class MaxWaitersTests:
    """One endpoint, one connection allowed, a slow request holding it."""

    def test_no_waiters_the_second_request_is_a_503(self) -> None:
        """maxWaiters 0: the second request is refused (503 naming the full pool, retryable)
        while the first is still being served; the backend never had two connections or saw
        the second."""
        gate = Gate()
        with Backend(delay_s=gate) as b, L5d(f"/svc=>/$/inet/127.0.0.1/{b.port}",
                                             router_yaml=pool(0)) as l5d:
            run = Concurrent(l5d)
            with gate.held():
                run.start("/slow1", lambda: b.count("/slow1") == 1)
                run.start("/second", lambda: "/second" in run.results)  # /slow1 still held
                second = run.results["/second"]
                assert second.status_code == 503
                assert second.text.startswith("the connection pool is full (1 connections busy")
                assert second.headers["l5d-retryable"] == "true"
                assert stat(l5d.metrics(), "rt/http/client/", "retries/requeues") == 0
            run.join()
            assert run.results["/slow1"].status_code == 200
            assert b.targets() == ["/slow1"]
            assert b.max_open == 1

    def test_one_waiter_waits_and_succeeds(self) -> None:
        """maxWaiters 1: the second request waits for the connection and gets its 200; a
        third, with the waiter slot taken, is refused."""
        gate = Gate()
        with Backend(delay_s=gate) as b, L5d(f"/svc=>/$/inet/127.0.0.1/{b.port}",
                                             router_yaml=pool(1)) as l5d:
            run = Concurrent(l5d)
            with gate.held():
                run.start("/slow1", lambda: b.count("/slow1") == 1)
                run.start("/slow2", lambda: stat(l5d.metrics(), "rt/http/client/",
                                                 "requests") == 2)
                run.start("/third", lambda: "/third" in run.results)  # both still held
                assert run.results["/third"].status_code == 503
                assert "/slow2" not in run.results and b.targets() == ["/slow1"]
            run.join()
            assert [run.results[t].status_code for t in ("/slow1", "/slow2")] == [200, 200]
            assert b.targets() == ["/slow1", "/slow2"]
            assert b.max_open == 1 and b.connections == 1  # the waiter got the same connection


    def test_a_full_pool_does_not_mark_the_endpoint_dead(self) -> None:
        """A request refused by a full pool is l5d's doing, no evidence that the endpoint is
        down: no failure accrual removal, and the next request is served."""
        gate = Gate()
        with Backend(delay_s=gate) as b, L5d(f"/svc=>/$/inet/127.0.0.1/{b.port}",
                                             router_yaml=pool(0)) as l5d:
            run = Concurrent(l5d)
            with gate.held():
                run.start("/slow1", lambda: b.count("/slow1") == 1)
                run.start("/second", lambda: "/second" in run.results)
                assert run.results["/second"].status_code == 503
            run.join()
            assert l5d.metric("failure_accrual/removals") == 0
            assert l5d.metric("loadbalancer/available") == 1
            assert requests.get("http://x/after", proxies={"http": f"http://{l5d.proxy}"},
                                timeout=TIMEOUT_S).status_code == 200


class FailoverTests:
    """Two endpoints, one connection each, round robin."""

    def test_a_full_pool_sends_the_request_to_the_other_endpoint(self, tmp_path) -> None:
        """/slow holds endpoint A's only connection; /fast goes to B; the next pick is A,
        whose pool refuses it: requeued to B, 200. No endpoint ever had two connections."""
        gate = Gate()
        with Backend(delay_s=gate) as a, Backend(delay_s=gate) as b:
            with fs_l5d(tmp_path, [a.port, b.port],
                        pool(0, ", loadBalancer: {kind: roundRobin}")) as l5d:
                run = Concurrent(l5d)
                with gate.held():
                    run.start("/slow1", lambda: len(a.seen) + len(b.seen) == 1)
                    holder = a if a.seen else b
                    other = b if holder is a else a
                    for target in ("/fast1", "/fast2", "/fast3"):
                        rsp = requests.get(f"http://x{target}",
                                           proxies={"http": f"http://{l5d.proxy}"},
                                           timeout=TIMEOUT_S)
                        assert rsp.status_code == 200
                run.join()
                assert run.results["/slow1"].status_code == 200
                assert holder.targets() == ["/slow1"]
                assert other.targets() == ["/fast1", "/fast2", "/fast3"]
                assert a.max_open == 1 and b.max_open == 1
                assert l5d.metric("retries/requeues") >= 1


class IdleTimeTests:
    """``idleTimeMs`` closes connections that stayed idle."""

    def test_connections_are_reused_while_busy(self) -> None:
        """Back-to-back requests share one connection."""
        with Backend() as b, L5d(f"/svc=>/$/inet/127.0.0.1/{b.port}") as l5d:
            for i in range(3):
                assert requests.get(f"http://x/{i}", proxies={"http": f"http://{l5d.proxy}"},
                                    timeout=TIMEOUT_S).status_code == 200
            assert b.connections == 1

    def test_a_connection_idle_past_idle_time_is_not_reused(self) -> None:
        """idleTimeMs 200, then 0.8 s idle: the next request opens a new connection."""
        with Backend() as b, L5d(f"/svc=>/$/inet/127.0.0.1/{b.port}",
                                 router_yaml="client: {hostConnectionPool: {idleTimeMs: 200}}\n"
                                 ) as l5d:
            proxies = {"http": f"http://{l5d.proxy}"}
            assert requests.get("http://x/1", proxies=proxies, timeout=TIMEOUT_S).ok
            time.sleep(0.8)
            assert requests.get("http://x/2", proxies=proxies, timeout=TIMEOUT_S).ok
            assert b.connections == 2
