"""Ingress JSON -> rules, and which backend a request gets (Linkerd's IngressCache facts)."""

from __future__ import annotations

import pytest

from l5d.k8s.ingress_model import Backend, match, read_ingresses


def ingress(name: str, rules: list, *, ns: str = "default", default: dict | None = None,
            cls: str | None = None, class_name: str | None = None) -> dict:
    meta: dict = {"name": name, "namespace": ns}
    if cls is not None:
        meta["annotations"] = {"kubernetes.io/ingress.class": cls}
    spec: dict = {"rules": rules}
    if default is not None:
        spec["defaultBackend"] = default
    if class_name is not None:
        spec["ingressClassName"] = class_name
    return {"metadata": meta, "spec": spec}


def svc(name: str, port: int | str) -> dict:
    key = "number" if isinstance(port, int) else "name"
    return {"service": {"name": name, "port": {key: port}}}


def rule(host: str | None, *paths: tuple[str | None, str | None, dict]) -> dict:
    out: dict = {"http": {"paths": [
        {**({"path": p} if p else {}), **({"pathType": t} if t else {}), "backend": b}
        for p, t, b in paths]}}
    if host:
        out["host"] = host
    return out


SPECS = read_ingresses([
    ingress("b-web", [rule("web.example", ("/api", "Prefix", svc("api", "http")),
                           ("/exact", "Exact", svc("exact", 80)),
                           ("/re/[0-9]+", None, svc("regex", 8080)))],
            default=svc("fallback", "http")),
    ingress("a-any", [rule(None, ("/anyhost", "Prefix", svc("any", "http")))]),
    ingress("other", [rule(None, (None, None, svc("nginx", 80)))], cls="nginx"),
    ingress("other2", [rule(None, (None, None, svc("nginx2", 80)))], class_name="nginx"),
    ingress("old", [rule("old.example", ("/", None, {"serviceName": "legacy",
                                                      "servicePort": 81}))], ns="ns2"),
], "linkerd")


class IngressMatchTests:
    """Rows: host, path -> backend (ns/port/svc) or no match."""

    @pytest.mark.parametrize("host, path, expected", [
        ("web.example", "/api", "default/http/api"),
        ("web.example", "/api/users/1", "default/http/api"),
        ("web.example", "/apis", "default/http/fallback"),
        ("web.example", "/exact", "default/80/exact"),
        ("web.example", "/exact/x", "default/http/fallback"),
        ("web.example", "/re/42", "default/8080/regex"),
        ("web.example", "/re/42x", "default/http/fallback"),
        ("other.example", "/anyhost/x", "default/http/any"),
        ("old.example", "/", "default/http/fallback"),
        ("nowhere.example", "/x", "default/http/fallback"),
        (None, "/anyhost", "default/http/any"),
    ])
    def test_match(self, host, path, expected) -> None:
        """Ingresses in namespace/name order: the first matching rule of each, else its
        default backend (which catches everything after it, as in Linkerd)."""
        found = match(SPECS, host, path)
        assert (None if found is None else f"{found.namespace}/{found.port}/{found.service}") \
            == expected

    def test_other_classes_are_left_out(self) -> None:
        """An annotation or ingressClassName naming another class: not ours."""
        assert [s.name for s in SPECS] == ["default/a-any", "default/b-web", "ns2/old"]

    def test_ignore_default_backends(self) -> None:
        """``ignoreDefaultBackends``: the fallback never matches."""
        assert match(SPECS, "web.example", "/apis", ignore_default_backends=True) is None
        assert match(SPECS, "old.example", "/", True) == Backend("ns2", "81", "legacy")
        assert match(SPECS, "old.example", "/x", True) is None
        assert match(SPECS, "web.example", "/api", True) == Backend("default", "http", "api")

    def test_malformed_objects_are_skipped(self) -> None:
        """A path without a usable backend and non-dict objects are ignored."""
        specs = read_ingresses([{"metadata": {"name": "x"}, "spec": {"rules": [
            {"http": {"paths": [{"path": "/a", "backend": {"service": {"name": "s"}}}]}}]}},
            "junk"], "linkerd")
        assert specs[0].rules == () and match(specs, "h", "/a") is None
