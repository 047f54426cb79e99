"""l5d.k8s.cache: the reflector's state machine, as transcripts of (input -> answer)."""

from __future__ import annotations

from l5d.k8s.cache import CHANGED, RELIST, RETRY, UNCHANGED, WatchCache


def obj(name: str, rv: str, **extra) -> dict:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv}, **extra}


def listed(rv: str, *items: dict) -> dict:
    return {"metadata": {"resourceVersion": rv}, "items": list(items)}


class WatchCacheTests:
    def test_list_then_events(self) -> None:
        c = WatchCache()
        assert not c.synced
        changes = c.listed(listed("10", obj("a", "5")))
        assert [(ch.type, ch.name) for ch in changes] == [("ADDED", "ns/a")]
        assert c.synced and c.resource_version == "10"
        transcript = [
            ({"type": "ADDED", "object": obj("b", "11")}, CHANGED),
            ({"type": "MODIFIED", "object": obj("b", "12", x=1)}, CHANGED),
            ({"type": "MODIFIED", "object": obj("b", "12", x=1)}, UNCHANGED),  # same object
            ({"type": "MODIFIED", "object": obj("b", "11")}, UNCHANGED),  # older than held
            ({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "20"}}}, UNCHANGED),
            ({"type": "DELETED", "object": obj("a", "21")}, CHANGED),
            ({"type": "DELETED", "object": obj("a", "22")}, UNCHANGED),  # already gone
        ]
        for event, answer in transcript:
            assert c.event(event) == answer, event
        assert sorted(c.objects) == ["ns/b"] and c.resource_version == "22"

    def test_too_old_in_the_stream_means_relist(self) -> None:
        c = WatchCache()
        c.listed(listed("1"))
        gone = {"type": "ERROR", "object": {"kind": "Status", "status": "Failure",
                                            "reason": "Expired", "code": 410,
                                            "message": "too old resource version"}}
        assert c.event(gone) == RELIST
        assert c.event({"type": "ERROR", "object": {"code": 500, "message": "x"}}) == RETRY

    def test_relist_gives_the_changes_of_the_gap_deletions_included(self) -> None:
        c = WatchCache()
        c.listed(listed("1", obj("a", "1"), obj("b", "1"), obj("c", "1")))
        changes = c.listed(listed("9", obj("b", "1"), obj("c", "7"), obj("d", "8")))
        assert [(ch.type, ch.name) for ch in changes] == [
            ("DELETED", "ns/a"), ("MODIFIED", "ns/c"), ("ADDED", "ns/d")]
        assert c.listed(listed("9", obj("b", "1"), obj("c", "7"), obj("d", "8"))) == []

    def test_opaque_versions_are_never_compared(self) -> None:
        c = WatchCache()
        c.listed(listed("x", obj("a", "zz")))
        assert c.event({"type": "MODIFIED", "object": obj("a", "aa", v=2)}) == CHANGED

    def test_malformed_events_mean_retry(self) -> None:
        c = WatchCache()
        for event in ["junk", {"type": "ADDED"}, {"type": "ADDED", "object": {"metadata": {}}},
                      {"type": "WAT", "object": obj("a", "1")}]:
            assert c.event(event) == RETRY, event
