"""l5d.k8s.reflector: list, watch, resume, relist and back off, on a Clock (in memory)."""

from __future__ import annotations

import logging
import random

from twisted.internet.task import Clock

from l5d.k8s.reflector import Reflector
from tests.helpers.fake_k8s_api import FakeApi

PATH = "/api/v1/namespaces/ns/endpoints"
SELECT = {"fieldSelector": "metadata.name=web"}


def obj(rv: str, ip: str = "10.0.0.1") -> dict:
    return {"metadata": {"name": "web", "namespace": "ns", "resourceVersion": rv},
            "subsets": [{"addresses": [{"ip": ip}], "ports": [{"name": "http", "port": 80}]}]}


def setup(**options):
    clock, api, changes = Clock(), FakeApi(), []
    r = Reflector(clock, api, PATH, SELECT, lambda: changes.append(1), random.Random(7),
                  **options)
    r.start()
    return clock, api, r, changes


class ReflectorTests:
    def test_list_then_watch_from_its_version(self) -> None:
        clock, api, r, changes = setup()
        assert [g.params for g in api.gets] == [SELECT] and not r.synced
        api.gets[0].answer(200, {"metadata": {"resourceVersion": "5"}, "items": [obj("4")]})
        assert r.synced and changes == [1]
        w = api.watches[0]
        assert w.params["resourceVersion"] == "5" and w.params["watch"] == "1"
        assert w.params["allowWatchBookmarks"] == "true" and w.params["fieldSelector"]
        w.send({"type": "MODIFIED", "object": obj("6", "10.0.0.2")})
        assert len(changes) == 2 and r.cache.resource_version == "6"

    def test_a_first_list_of_nothing_is_announced_when_asked_a_second_is_not(self) -> None:
        """Whoever waits for the collection (a worker's Ingresses) learns it is known."""
        clock, api, r, changes = setup()
        api.gets[0].answer(200, {"metadata": {"resourceVersion": "5"}, "items": []})
        assert r.synced and changes == []  # not asked: an empty list changed nothing
        clock, api, r, changes = setup(announce_sync=True)
        api.gets[0].answer(200, {"metadata": {"resourceVersion": "5"}, "items": []})
        assert r.synced and changes == [1]
        api.watches[0].send({"type": "ERROR", "object": {"code": 410, "reason": "Expired"}})
        api.gets[1].answer(200, {"metadata": {"resourceVersion": "7"}, "items": []})
        assert changes == [1]

    def test_clean_end_resumes_from_the_last_version_without_a_list(self) -> None:
        clock, api, r, changes = setup()
        api.gets[0].answer(200, {"metadata": {"resourceVersion": "5"}, "items": []})
        api.watches[0].send({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}})
        api.watches[0].end("end")
        assert len(api.gets) == 1 and api.watches[1].params["resourceVersion"] == "9"

    def test_cut_backs_off_then_resumes(self) -> None:
        clock, api, r, changes = setup(backoff_min_s=0.1, backoff_max_s=5.0)
        api.gets[0].answer(200, {"metadata": {"resourceVersion": "5"}, "items": [obj("5")]})
        api.watches[0].end("cut", "connection reset")
        assert len(api.watches) == 1 and r.objects  # kept while reconnecting
        clock.advance(5.0)
        assert len(api.watches) == 2 and api.watches[1].params["resourceVersion"] == "5"

    def test_410_in_the_stream_relists_and_sees_the_deletion_in_the_gap(self) -> None:
        clock, api, r, changes = setup()
        api.gets[0].answer(200, {"metadata": {"resourceVersion": "5"}, "items": [obj("5")]})
        api.watches[0].send({"type": "ERROR", "object": {"code": 410, "reason": "Expired"}})
        assert len(api.gets) == 2 and r.relists == 1
        assert api.watches[0].stream.cancelled  # the old stream is closed
        api.gets[1].answer(200, {"metadata": {"resourceVersion": "30"}, "items": []})
        assert r.objects == {} and changes == [1, 1]
        assert api.watches[1].params["resourceVersion"] == "30"

    def test_410_status_relists(self) -> None:
        clock, api, r, changes = setup()
        api.gets[0].answer(200, {"metadata": {"resourceVersion": "5"}, "items": []})
        api.watches[0].end("status", 410)
        assert len(api.gets) == 2

    def test_failures_back_off_with_jitter_and_keep_the_last_state(self) -> None:
        clock, api, r, changes = setup(backoff_min_s=0.05, backoff_max_s=1.0)
        api.gets[0].answer(200, {"metadata": {"resourceVersion": "5"}, "items": [obj("5")]})
        api.watches[0].end("status", 500)
        delays = []
        for i in range(6):
            before = clock.seconds()
            while len(api.gets) == i + 1:
                clock.advance(0.01)
            delays.append(clock.seconds() - before)
            api.gets[-1].fail()
        assert all(0.04 <= d <= 1.02 for d in delays), delays
        assert r.objects and r.errors == 7 and "list failed" in r.last_error

    def test_forbidden_list_is_retried_not_fatal(self) -> None:
        clock, api, r, changes = setup(backoff_max_s=0.5)
        api.gets[0].answer(403, {"kind": "Status", "message": "endpoints is forbidden"})
        assert "403" in r.last_error and "forbidden" in r.last_error and not r.synced
        clock.advance(0.5)
        assert len(api.gets) == 2

    def test_stop_cancels_everything(self) -> None:
        clock, api, r, changes = setup()
        api.gets[0].answer(200, {"metadata": {"resourceVersion": "5"}, "items": []})
        r.stop()
        assert api.watches[0].stream.cancelled and not clock.getDelayedCalls()


class ReflectorLogTests:
    """A failing watch is a warning per collection per 10 s, and its recovery is said."""

    def _lines(self, caplog) -> list[tuple[str, str]]:
        return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "l5d.k8s"]

    def test_repeated_failures_are_one_line_per_window_with_the_count(self, caplog) -> None:
        """The API refusing every list: a warning at once with the reason and the backoff,
        then one line per 10 s saying how many more failures there were."""
        caplog.set_level(logging.INFO)
        clock, api, r, changes = setup(backoff_min_s=0.05, backoff_max_s=1.0)
        api.gets[0].fail()
        errors_then = None
        while clock.seconds() < 10.5:
            clock.advance(0.05)
            if errors_then is None and len(self._lines(caplog)) == 2:
                errors_then = r.errors
            if not api.gets[-1].deferred.called:
                api.gets[-1].fail()
        lines = self._lines(caplog)
        assert len(lines) == 2 and lines[0][0] == "WARNING"
        assert lines[0][1].startswith(f"k8s {PATH}: list failed: ")
        assert "; retrying in " in lines[0][1]
        assert lines[0][1].endswith(" s (the last addresses known are kept)")
        held = int(lines[1][1].rsplit("(", 1)[1].split()[0])
        assert held == errors_then - 1 and held > 5  # every failure but the first, counted

    def test_recovery_is_said_once(self, caplog) -> None:
        """The first good list after failures logs how many there were."""
        caplog.set_level(logging.INFO)
        clock, api, r, changes = setup(backoff_max_s=0.5)
        api.gets[0].answer(500, {"message": "etcd down"})
        clock.advance(0.5)
        api.gets[1].answer(200, {"metadata": {"resourceVersion": "5"}, "items": []})
        assert self._lines(caplog)[-1] == ("INFO", f"k8s {PATH}: listed again after 1 failures")

    def test_a_watch_that_resumes_says_so(self, caplog) -> None:
        """A cut watch that comes back says so at its first event."""
        caplog.set_level(logging.INFO)
        clock, api, r, changes = setup(backoff_min_s=0.1, backoff_max_s=0.1)
        api.gets[0].answer(200, {"metadata": {"resourceVersion": "5"}, "items": [obj("5")]})
        api.watches[0].end("cut", "connection reset")
        clock.advance(0.1)
        api.watches[1].send({"type": "MODIFIED", "object": obj("6", "10.0.0.2")})
        lines = self._lines(caplog)
        assert lines[0][1].startswith(f"k8s {PATH}: watch cut: connection reset; retrying in")
        assert lines[1] == ("INFO", f"k8s {PATH}: watching again after 1 failures")
