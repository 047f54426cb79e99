"""Per-prefix ``service`` and ``client`` policy through a real l5d (spec 6).

``io.l5d.static`` entries apply to the names their prefix matches: ``service`` entries to
the logical name (``/svc/a``), ``client`` entries to the bound id
(``/$/inet/127.0.0.1/<port>``). Entries are applied in file order, a later block of the
same key replacing the earlier one, ``retries.budget`` and ``retries.backoff`` being
separate. The backends (:class:`~tests.helpers.resilience.Scripted`) answer by target, so
the attempts per target show whether a name's policy retried.
"""

from __future__ import annotations

import time

import pytest
import requests

from tests.helpers.l5d_process import L5d
from tests.helpers.resilience import Scripted

TIMEOUT_S = 20
READ5XX = "io.l5d.http.retryableRead5XX"
DEFAULT = "io.l5d.http.nonRetryable5XX"


def get(l5d: L5d, host: str, target: str) -> requests.Response:
    return requests.get(f"http://{host}{target}", proxies={"http": f"http://{l5d.proxy}"},
                        timeout=TIMEOUT_S)


def two_names(a: Scripted, b: Scripted, router_yaml: str) -> L5d:
    """/svc/a goes to backend ``a``; /svc/b and /svc/c go to backend ``b``."""
    return L5d(f"/svc/a=>/$/inet/127.0.0.1/{a.port}; /svc/b=>/$/inet/127.0.0.1/{b.port}; "
               f"/svc/c=>/$/inet/127.0.0.1/{b.port}", router_yaml=router_yaml)


@pytest.fixture(scope="module")
def service_static():
    """/svc/a: retryableRead5XX; /svc/b: totalTimeoutMs 300; /svc/c: no entry."""
    yaml = f"""\
service:
  kind: io.l5d.static
  configs:
  - prefix: /svc/a
    responseClassifier: {{kind: {READ5XX}}}
  - prefix: /svc/b
    totalTimeoutMs: 300
"""
    with Scripted(slow_s=0.6) as a, Scripted(slow_s=0.6) as b, two_names(a, b, yaml) as l5d:
        yield l5d, a, b


class ServicePrefixTests:
    """``service: {kind: io.l5d.static}``: each name gets its own entry's parameters."""

    def test_only_the_matching_name_is_retried(self, service_static) -> None:
        """A 500 once: /svc/a retries it (200), /svc/b and the unmatched /svc/c pass it on."""
        l5d, a, b = service_static
        assert (get(l5d, "a", "/once-a").status_code, a.count("/once-a")) == (200, 2)
        assert (get(l5d, "b", "/once-b").status_code, b.count("/once-b")) == (500, 1)
        assert (get(l5d, "c", "/once-c").status_code, b.count("/once-c")) == (500, 1)
        m = l5d.metrics()
        assert m["rt/http/service/svc/a/retries/total"] == 1
        assert m["rt/http/service/svc/b/retries/total"] == 0
        assert m["rt/http/service/svc/c/retries/total"] == 0

    def test_only_the_matching_name_times_out(self, service_static) -> None:
        """A 0.6 s backend: /svc/b (totalTimeoutMs 300) answers 503 naming /svc/b; /svc/a
        and /svc/c have no timeout and get the 200."""
        l5d, a, b = service_static
        rsp = get(l5d, "b", "/slow-b")
        assert rsp.status_code == 503
        assert "to /svc/b" in rsp.text and "including retries" in rsp.text
        assert get(l5d, "a", "/slow-a").status_code == 200
        assert get(l5d, "c", "/slow-c").status_code == 200

    def test_later_entries_win_per_key(self) -> None:
        """``/`` sets retryableRead5XX and a tight budget; a later /svc/b entry sets the
        default classifier and a later /svc/a entry only a backoff: /svc/b is not retried,
        /svc/a keeps both the classifier and the budget of ``/`` and waits the backoff."""
        yaml = f"""\
service:
  kind: io.l5d.static
  configs:
  - prefix: /
    responseClassifier: {{kind: {READ5XX}}}
    retries:
      budget: {{minRetriesPerSec: 0, percentCanRetry: 0.5, ttlSecs: 10}}
  - prefix: /svc/b
    responseClassifier: {{kind: {DEFAULT}}}
  - prefix: /svc/a
    retries:
      backoff: {{kind: constant, ms: 200}}
"""
        with Scripted() as a, Scripted() as b, two_names(a, b, yaml) as l5d:
            assert get(l5d, "a", "/ok").status_code == 200  # half a retry deposited
            started = time.monotonic()
            assert get(l5d, "a", "/once-a").status_code == 200
            assert time.monotonic() - started >= 0.2
            assert a.count("/once-a") == 2
            assert get(l5d, "a", "/once-a2").status_code == 500  # the 0.5 budget is spent
            assert a.count("/once-a2") == 1
            assert get(l5d, "b", "/ok").status_code == 200
            assert get(l5d, "b", "/once-b").status_code == 500
            assert b.count("/once-b") == 1
            assert get(l5d, "c", "/ok").status_code == 200  # its own budget: half a retry
            assert get(l5d, "c", "/once-c").status_code == 200  # only ``/`` applies to it
            assert b.count("/once-c") == 2
            m = l5d.metrics()
            assert m["rt/http/service/svc/a/retries/budget_exhausted"] == 1
            assert m["rt/http/service/svc/a/retries/budget"] == 0


class ClientPrefixTests:
    """``client: {kind: io.l5d.static}``: entries match the bound id."""

    def test_load_balancer_and_attempt_timeout_per_bound_id(self) -> None:
        """``/$/inet/*/<port of a>``: ewma and requestAttemptTimeoutMs 300. Client a reports
        p2c_peak_ewma and times a slow request out; client b keeps p2c and no timeout."""
        with Scripted(slow_s=0.6) as a, Scripted(slow_s=0.6) as b:
            yaml = f"""\
client:
  kind: io.l5d.static
  configs:
  - prefix: "/$/inet/*/{a.port}"
    loadBalancer: {{kind: ewma}}
    requestAttemptTimeoutMs: 300
"""
            with two_names(a, b, yaml) as l5d:
                assert get(l5d, "a", "/ok").status_code == 200
                assert get(l5d, "b", "/ok").status_code == 200
                rsp = get(l5d, "a", "/slow-a")
                assert rsp.status_code == 503
                assert f"to /$/inet/127.0.0.1/{a.port}" in rsp.text
                assert get(l5d, "b", "/slow-b").status_code == 200
                m = l5d.metrics()
        client_a = f"rt/http/client/$/inet/127.0.0.1/{a.port}/loadbalancer/algorithm/"
        client_b = f"rt/http/client/$/inet/127.0.0.1/{b.port}/loadbalancer/algorithm/"
        assert {k[len(client_a):]: v for k, v in m.items() if k.startswith(client_a)} == {
            "p2c_peak_ewma": 1}
        assert {k[len(client_b):]: v for k, v in m.items() if k.startswith(client_b)} == {
            "p2c_least_loaded": 1}

    def test_a_later_entry_replaces_the_block(self) -> None:
        """``/`` sets roundRobin, a later entry for client a sets heap: a reports heap, b
        round robin."""
        with Scripted() as a, Scripted() as b:
            yaml = f"""\
client:
  kind: io.l5d.static
  configs:
  - prefix: /
    loadBalancer: {{kind: roundRobin}}
  - prefix: "/$/inet/127.0.0.1/{a.port}"
    loadBalancer: {{kind: heap}}
"""
            with two_names(a, b, yaml) as l5d:
                assert get(l5d, "a", "/ok").status_code == 200
                assert get(l5d, "b", "/ok").status_code == 200
                m = l5d.metrics()
        assert m[f"rt/http/client/$/inet/127.0.0.1/{a.port}/loadbalancer/algorithm/"
                 "heap_least_loaded"] == 1
        assert m[f"rt/http/client/$/inet/127.0.0.1/{b.port}/loadbalancer/algorithm/"
                 "round_robin"] == 1
