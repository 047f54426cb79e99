"""l5d.k8s.ingress_model.slim: what a control sends its workers reads as the whole Ingress."""

from __future__ import annotations

from l5d.k8s.ingress_model import CLASS_ANNOTATION, read_ingresses, slim


def ingress(name: str, cls: str | None, host: str) -> dict:
    annotations = {"kubectl.kubernetes.io/last-applied-configuration": "{" + "x" * 4000 + "}"}
    if cls is not None:
        annotations[CLASS_ANNOTATION] = cls
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": "web", "resourceVersion": "7",
                         "annotations": annotations, "managedFields": [{"f": "x" * 2000}]},
            "spec": {"rules": [{"host": host, "http": {"paths": [{
                "path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "site", "port": {"number": 80}}}}]}}]},
            "status": {"loadBalancer": {}}}


def test_slim_reads_the_same_and_drops_the_rest() -> None:
    objs = [ingress("a", None, "a.example"), ingress("b", "linkerd", "b.example"),
            ingress("c", "nginx", "c.example"), "not an object"]
    for cls in ("linkerd", "nginx"):
        assert read_ingresses([slim(o) for o in objs], cls) == read_ingresses(objs, cls)
    small = slim(objs[1])
    assert small["metadata"] == {"name": "b", "namespace": "web",
                                 "annotations": {CLASS_ANNOTATION: "linkerd"}}
    assert set(small) == {"metadata", "spec"} and len(repr(small)) < 400
