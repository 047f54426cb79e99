"""l5d.dtab_store.configmap_model: ConfigMap JSON -> per-router dtabs, attribution, write plans
(pure, as tables and transcripts)."""

from __future__ import annotations

import hashlib

import pytest

from dtab import Dtab
from l5d.dtab_store.configmap_model import (
    CHANGED_AT, CHANGED_BY, CHANGED_ROUTER, CHANGED_SHA256, CONFLICT, CREATE, FETCH, REPLACE,
    DtabMap, attribution, object_with, plan_write,
)
from l5d.dtab_store.model import Versioned

ONE = "/svc=>/#/io.l5d.k8s/default/http"
TWO = "/svc=>/#/io.l5d.k8s/prod/http"
WALL = 1_700_000_000.0


def cm(rv: str | None, data: dict | None = None, **meta) -> dict:
    metadata = {"name": "l5d-dtabs", "namespace": "ns", **meta}
    if rv is not None:
        metadata["resourceVersion"] = rv
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata,
            **({"data": data} if data is not None else {})}


def by_l5d(router: str, text: str, who: str = "alice",
           at: str = "2026-12-07T15:00:00.250+00:00") -> dict:
    return {CHANGED_BY: who, CHANGED_AT: at, CHANGED_ROUTER: router,
            CHANGED_SHA256: hashlib.sha256(text.encode()).hexdigest()}


def managed(manager: str, time: str, *keys: str) -> dict:
    return {"manager": manager, "operation": "Update", "apiVersion": "v1", "time": time,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {".": {}, **{f"f:{k}": {} for k in keys}}}}


def changed(seen) -> list[tuple[str, str | None]]:
    return [(r, None if v is None else v.dtab.show()) for r, v, _ in seen.changed]


class DtabMapTests:
    """Applying states of the map: what changed, versions, history, never backwards."""

    def test_absent_map_stores_nothing(self) -> None:
        """An absent map syncs the view; every router reads None."""
        m = DtabMap(lambda: WALL)
        assert not m.synced
        seen = m.apply(None)
        assert m.synced and seen.changed == () and m.read("http") is None
        assert m.version is None and m.history("http") == []

    def test_transcript_of_states(self) -> None:
        """Each state gives the routers whose text changed; every router's version is the
        map's."""
        m = DtabMap(lambda: WALL)
        transcript = [
            (cm("5", {"http": ONE}), [("http", ONE)]),
            (cm("6", {"http": ONE, "grpc": TWO}), [("grpc", TWO)]),
            (cm("7", {"http": TWO, "grpc": TWO}), [("http", TWO)]),
            (cm("7", {"http": TWO, "grpc": TWO}), []),  # the same state again
            (cm("6", {"http": ONE}), []),  # older than held: ignored
            (cm("9", {"http": TWO}), [("grpc", None)]),  # a key removed
            (None, [("http", None)]),  # the map deleted
            (cm("12", {"http": ONE}), [("http", ONE)]),  # and created again
        ]
        for obj, expected in transcript:
            assert changed(m.apply(obj)) == expected, obj
        assert m.read("http") == Versioned(Dtab.read(ONE), "12") and m.read("grpc") is None

    def test_unchanged_text_keeps_the_same_dtab_object_with_the_new_version(self) -> None:
        """Routers compare base dtabs by identity: another key's write must not look like a
        new dtab."""
        m = DtabMap(lambda: WALL)
        m.apply(cm("5", {"http": ONE}))
        before = m.read("http")
        m.apply(cm("6", {"http": ONE, "grpc": TWO}))
        after = m.read("http")
        assert after.version == "6" and after.dtab is before.dtab

    def test_unparsable_key_keeps_the_last_good_dtab(self) -> None:
        """A key that does not parse is reported; the router keeps its last good dtab (at the
        map's version, so the next write can fix it); with none, it reads None."""
        m = DtabMap(lambda: WALL)
        m.apply(cm("5", {"http": ONE}))
        seen = m.apply(cm("6", {"http": "/svc => (", "grpc": "nope"}))
        assert seen.changed == ()
        assert [r for r, _ in seen.invalid] == ["grpc", "http"]
        assert dict(seen.invalid)["grpc"] == "'/' expected but 'n' found at '[n]ope'"
        assert m.read("http") == Versioned(Dtab.read(ONE), "6") and m.read("grpc") is None
        # grpc never had a good dtab: its removal is no change
        assert changed(m.apply(cm("7", {"http": TWO}))) == [("http", TWO)]
        assert m.history("http")[0].previous == "/svc => ("

    def test_history_newest_first_bounded_with_previous(self) -> None:
        m = DtabMap(lambda: WALL, history_size=2)
        texts = [f"/svc=>/$/inet/10.0.0.{i}/80" for i in range(4)]
        for i, text in enumerate(texts):
            m.apply(cm(str(10 + i), {"http": text}, annotations=by_l5d("http", text)))
        history = m.history("http")
        assert [c.dtab for c in history] == [texts[3], texts[2]]
        assert (history[0].version, history[0].previous_version, history[0].previous) == (
            "13", "12", texts[2])
        assert history[0].who == "alice" and history[0].at == 1796655600.25
        first = DtabMap(lambda: WALL)
        first.apply(cm("3", {"http": ONE}))
        assert first.history("http")[0].previous_version is None

    def test_history_size_must_be_positive(self) -> None:
        with pytest.raises(ValueError, match="history_size"):
            DtabMap(lambda: WALL, history_size=0)

    def test_versioned_of_another_state(self) -> None:
        """A conflict's current state: parsed, reusing the dtab held for the same text."""
        m = DtabMap(lambda: WALL)
        m.apply(cm("5", {"http": ONE}))
        other = m.versioned(cm("8", {"http": ONE}), "http")
        assert other.version == "8" and other.dtab is m.read("http").dtab
        assert m.versioned(cm("8", {"http": TWO}), "http") == Versioned(Dtab.read(TWO), "8")
        assert m.versioned(cm("8", {"http": "("}), "http") is None
        assert m.versioned(None, "http") is None and m.versioned(cm("8", {}), "http") is None


class AttributionTests:
    """Who made a router's text: l5d's annotations if they describe it, else the field
    manager that owns the key."""

    @pytest.mark.parametrize("case,obj,who,at", [
        ("l5d's own write",
         cm("5", {"http": ONE}, annotations=by_l5d("http", ONE)), "alice", 1796655600.25),
        ("annotations of another router",
         cm("5", {"http": ONE}, annotations=by_l5d("grpc", ONE),
            managedFields=[managed("l5d", "2026-12-07T15:00:00Z", "http", "grpc")]),
         "l5d (outside l5d)", 1796655600.0),
        ("kubectl changed the text after l5d",
         cm("5", {"http": TWO}, annotations=by_l5d("http", ONE), managedFields=[
             managed("l5d", "2026-12-07T15:00:09Z", "grpc"),
             managed("kubectl-edit", "2026-12-07T15:00:05Z", "http")]),
         "kubectl-edit (outside l5d)", 1796655605.0),
        ("no owner of the key: the latest manager",
         cm("5", {"http": TWO}, managedFields=[
             managed("a", "2026-12-07T15:00:01Z"), managed("b", "2026-12-07T15:00:02Z")]),
         "b (outside l5d)", 1796655602.0),
        ("nothing recorded", cm("5", {"http": TWO}), "unknown (outside l5d)", None),
        ("a bad time", cm("5", {"http": ONE}, annotations=dict(
            by_l5d("http", ONE), **{CHANGED_AT: "yesterday"})), "alice", None),
    ])
    def test_attribution(self, case: str, obj: dict, who: str, at: float | None) -> None:
        assert attribution(obj, "http", obj["data"]["http"]) == (who, at), case

    def test_change_without_a_recorded_time_is_stamped_with_the_wall_clock(self) -> None:
        m = DtabMap(lambda: WALL)
        m.apply(cm("5", {"http": ONE}))
        assert m.history("http")[0].at == WALL


class ObjectWithTests:
    """The object a write sends."""

    def test_new_map(self) -> None:
        obj = object_with(None, "ns", "l5d-dtabs", "http", ONE, "alice", 1796655600.25)
        assert obj["metadata"]["name"] == "l5d-dtabs" and obj["metadata"]["namespace"] == "ns"
        assert "resourceVersion" not in obj["metadata"] and obj["data"] == {"http": ONE}
        assert obj["metadata"]["annotations"] == by_l5d("http", ONE)

    def test_replace_keeps_version_other_keys_and_annotations_and_the_base(self) -> None:
        base = cm("7", {"grpc": TWO, "http": TWO}, annotations={"team": "mesh"},
                  managedFields=[managed("l5d", "2026-12-07T15:00:00Z", "http")])
        obj = object_with(base, "ns", "l5d-dtabs", "http", ONE, "alice", 1796655600.25)
        assert obj["metadata"]["resourceVersion"] == "7"
        assert obj["data"] == {"grpc": TWO, "http": ONE}
        assert obj["metadata"]["annotations"] == dict(by_l5d("http", ONE), team="mesh")
        assert "managedFields" not in obj["metadata"]
        assert base["data"]["http"] == TWO and "managedFields" in base["metadata"]
        assert attribution(obj, "http", ONE) == ("alice", 1796655600.25)


class PlanWriteTests:
    """Compare-and-swap decisions, as a table: (map, stored, expected, fresh) -> action."""

    @pytest.mark.parametrize("case,obj,stored,expected,fresh,action", [
        ("nothing, no map", None, False, None, False, CREATE),
        ("nothing, the map without the key", cm("5", {}), False, None, False, REPLACE),
        ("nothing, but a dtab is stored", cm("5", {"http": ONE}), True, None, False, FETCH),
        ("... still after a fresh read", cm("5", {"http": ONE}), True, None, True, CONFLICT),
        ("the version held", cm("5", {"http": ONE}), True, "5", False, REPLACE),
        ("another version: the view may lag", cm("5", {"http": ONE}), True, "6", False, FETCH),
        ("another version, fresh", cm("7", {"http": ONE}), True, "6", True, CONFLICT),
        ("a version, no map", None, False, "6", False, FETCH),
        ("a version, no map, fresh", None, False, "6", True, CONFLICT),
    ])
    def test_plan(self, case, obj, stored, expected, fresh, action) -> None:
        plan = plan_write(obj, stored, expected, fresh)
        assert plan.action == action, case
        assert (plan.base is obj) if action == REPLACE else plan.base is None, case
