"""Endpoint-set updates and failure accrual through a real l5d (io.l5d.fs as the namer).

* an endpoint removed while a request is in flight on it: that request completes;
* an endpoint that stays keeps its balancer and accrual state (a dead mark survives an
  update that adds another endpoint), a new one starts fresh;
* a dead endpoint is probed once its backoff passes and revived by a good answer.
"""

from __future__ import annotations

import threading
import time

import requests

from tests.helpers.l5d_process import wait_for
from tests.helpers.resilience import OK, Backend, answer, fs_l5d, stat

TIMEOUT_S = 20
CLIENT = "rt/http/client/"


def get(l5d, target: str = "/") -> requests.Response:
    return requests.get(f"http://x{target}", proxies={"http": f"http://{l5d.proxy}"},
                        timeout=TIMEOUT_S)


def write_endpoints(tmp_path, ports: list[int]) -> None:
    (tmp_path / "disco" / "x").write_text("".join(f"127.0.0.1 {p}\n" for p in ports))


def test_a_request_in_flight_on_a_removed_endpoint_completes(tmp_path) -> None:
    release = threading.Event()

    def slow(seen) -> float:
        if seen.target == "/slow":
            release.wait(10)
        return 0.0

    with Backend(delay_s=slow) as a, Backend() as b, fs_l5d(tmp_path, [a.port]) as l5d:
        assert get(l5d).status_code == 200
        result: dict = {}
        t = threading.Thread(target=lambda: result.update(rsp=get(l5d, "/slow")))
        t.start()
        assert wait_for(lambda: a.count("/slow") == 1, 10)
        write_endpoints(tmp_path, [b.port])  # a leaves the set while /slow is on it
        # the client follows its address set when the next request is routed
        assert wait_for(lambda: get(l5d, "/after").status_code == 200
                        and b.count("/after") == 1, 10)
        assert stat(l5d.metrics(), CLIENT, "loadbalancer/removes") == 1
        release.set()
        t.join(TIMEOUT_S)
        assert result["rsp"].status_code == 200 and result["rsp"].text == "ok"


def test_an_endpoint_that_stays_keeps_its_dead_mark_a_new_one_starts_fresh(tmp_path) -> None:
    bad_answer = answer(500, b"no")
    with Backend(lambda seen: bad_answer) as bad, Backend() as good, Backend() as new:
        with fs_l5d(tmp_path, [bad.port, good.port]) as l5d:
            for _ in range(30):
                get(l5d)
            assert bad.count("/") == 5  # five consecutive failures: marked dead
            write_endpoints(tmp_path, [bad.port, good.port, new.port])
            assert wait_for(lambda: get(l5d).status_code == 200
                            and stat(l5d.metrics(), CLIENT, "loadbalancer/size") == 3, 10)
            m = l5d.metrics()
            assert stat(m, CLIENT, "loadbalancer/busy") == 1
            assert stat(m, CLIENT, "loadbalancer/available") == 2
            for _ in range(30):
                assert get(l5d).status_code == 200
            assert bad.count("/") == 5 and new.count("/") > 0


def test_a_dead_endpoint_is_probed_and_revived(tmp_path) -> None:
    mode = {"ok": False}
    with Backend(lambda seen: OK if mode["ok"] else answer(500, b"no")) as flaky, \
            Backend() as good, fs_l5d(
                tmp_path, [flaky.port, good.port],
                "client:\n  failureAccrual:\n    kind: io.l5d.consecutiveFailures\n"
                "    failures: 2\n    backoff: {kind: constant, ms: 300}\n") as l5d:
        while flaky.count("/") < 2:
            get(l5d)
        assert stat(l5d.metrics(), CLIENT, "failure_accrual/removals") == 1
        marked = time.monotonic()
        for _ in range(10):  # while dead (300 ms), none of these reach it
            get(l5d)
        if time.monotonic() - marked < 0.3:
            assert flaky.count("/") == 2
        mode["ok"] = True
        time.sleep(0.35)
        assert wait_for(lambda: get(l5d) is not None and flaky.count("/") > 2, 10)
        m = l5d.metrics()
        assert stat(m, CLIENT, "failure_accrual/probes") >= 1
        assert stat(m, CLIENT, "failure_accrual/revivals") == 1
        assert stat(m, CLIENT, "loadbalancer/available") == 2
        # 300 ms per dead mark (a probe that came before the fix marks it dead again)
        assert stat(m, CLIENT, "failure_accrual/removed_for_ms") % 300 == 0
