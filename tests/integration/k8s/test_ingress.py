"""io.l5d.ingress against a real kube-apiserver: Ingress rules route real requests.

A real l5d process watches ``networking.k8s.io/v1`` Ingresses in the test's namespace
(through a kubeconfig) and names each request ``/svc/<namespace>/<port>/<service>``
after the rule it matches; the dtab sends those names to echo backends on loopback,
so what each backend received is what the Ingress rules decided. Rules that change
(added, edited, deleted) change the routing without a restart.
"""

from __future__ import annotations

from pathlib import Path

import requests

from tests.helpers.backends import EchoBackend
from tests.helpers.k8s_api import ApiServer
from tests.helpers.l5d_process import L5d, config_text, wait_for

WAIT_S = 20.0


def ingress(name: str, rules: list[dict], *, cls: str | None = None,
            default: str | None = None) -> dict:
    meta: dict = {"name": name}
    if cls is not None:
        meta["annotations"] = {"kubernetes.io/ingress.class": cls}
    spec: dict = {"rules": rules}
    if default is not None:
        spec["defaultBackend"] = {"service": {"name": default, "port": {"name": "http"}}}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta,
            "spec": spec}


def rule(host: str, path: str, service: str, path_type: str = "Prefix") -> dict:
    return {"host": host, "http": {"paths": [{
        "path": path, "pathType": path_type,
        "backend": {"service": {"name": service, "port": {"name": "http"}}}}]}}


def get(l5d: L5d, host: str, path: str) -> requests.Response:
    return requests.get(f"http://127.0.0.1:{l5d.port}{path}", headers={"Host": host},
                        timeout=10)


def start(api: ApiServer, tmp_path: Path, ns: str, dtab: str, extra: str = "") -> L5d:
    kubeconfig = api.kubeconfig(tmp_path / "kubeconfig")
    router = ("identifier:\n  kind: io.l5d.ingress\n  namespace: " + ns + "\n"
              f"  kubeconfig: {kubeconfig}\n" + extra)
    return L5d(config=config_text(dtab, router=router))


class IngressIdentifierTests:
    """Requests go where the namespace's Ingress rules say, and follow their changes."""

    def test_rules_route_requests_and_follow_changes(self, k8s_api: ApiServer,
                                                     k8s_namespace: str, tmp_path: Path):
        """Host + path pick the service; another class is ignored; edits apply live."""
        ns = k8s_namespace
        coll = f"/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses"
        k8s_api.create_or_replace(coll, ingress("web", [rule("web.example", "/api", "api"),
                                                        rule("web.example", "/", "site")]))
        k8s_api.create_or_replace(coll, ingress("nginx", [rule("web.example", "/api", "wrong")],
                                                cls="nginx"))
        with EchoBackend() as api_be, EchoBackend() as site_be, EchoBackend() as shop_be:
            dtab = (f"/svc/{ns}/http/api=>/$/inet/127.1/{api_be.port};"
                    f"/svc/{ns}/http/site=>/$/inet/127.1/{site_be.port};"
                    f"/svc/{ns}/http/shop=>/$/inet/127.1/{shop_be.port}")
            with start(k8s_api, tmp_path, ns, dtab) as l5d:
                assert wait_for(lambda: get(l5d, "web.example", "/api/users").status_code == 200,
                                WAIT_S)
                rsp = get(l5d, "web.example:4140", "/api/users")
                assert rsp.status_code == 200
                assert api_be.requests[-1]["target"] == "/api/users"
                seen = {n.lower(): v for n, v in api_be.requests[-1]["headers"]}
                assert seen["l5d-dst-service"] == f"/svc/{ns}/http/api"
                assert get(l5d, "web.example", "/apis").status_code == 200
                assert site_be.requests[-1]["target"] == "/apis"
                unknown = get(l5d, "other.example", "/api")
                assert unknown.status_code == 400
                assert "no ingress rule matches" in unknown.text

                # a new rule, live: shop.example now routes
                k8s_api.create_or_replace(coll, ingress("shop", [rule("shop.example", "/",
                                                                      "shop")]))
                assert wait_for(lambda: get(l5d, "shop.example", "/cart").status_code == 200,
                                WAIT_S)
                assert shop_be.requests[-1]["target"] == "/cart"
                # deleted: gone again
                k8s_api.delete(f"{coll}/shop")
                assert wait_for(lambda: get(l5d, "shop.example", "/cart").status_code == 400,
                                WAIT_S)

    def test_default_backend_unless_ignored(self, k8s_api: ApiServer, k8s_namespace: str,
                                            tmp_path: Path):
        """An Ingress's default backend catches what no rule matches, unless
        ``ignoreDefaultBackends``."""
        ns = k8s_namespace
        coll = f"/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses"
        k8s_api.create_or_replace(coll, ingress("web", [rule("web.example", "/api", "api")],
                                                default="site"))
        with EchoBackend() as site_be:
            dtab = f"/svc/{ns}/http/site=>/$/inet/127.1/{site_be.port}"
            with start(k8s_api, tmp_path, ns, dtab) as l5d:
                assert wait_for(lambda: get(l5d, "any.example", "/x").status_code == 200,
                                WAIT_S)
                assert site_be.requests[-1]["target"] == "/x"
            with start(k8s_api, tmp_path, ns, dtab, "  ignoreDefaultBackends: true\n") as l5d:
                assert wait_for(lambda: get(l5d, "any.example", "/x").status_code == 400,
                                WAIT_S)
