"""The cluster's API objects in namespace ``default``, and the l5d config they carry.

* the ServiceAccount ``l5d`` with the rules of ``daemonset/l5d-rbac.yml``'s ClusterRole
  (and of its Role in the sim's namespace),
  and per node its token, ``ca.crt`` and ``namespace`` files;
* the ``l5d-config`` ConfigMap of ``daemonset/l5d.yml``;
* Services and Endpoints ``hello``, ``world-v1`` (headless) and ``l5d``, each address
  with its ``nodeName``.

``api`` arguments are ``ApiServer`` objects (:func:`.apiserver.attach_api`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .layout import (
    L5D_PORTS,
    MANIFEST,
    NAMESPACE,
    RBAC_MANIFEST,
    ROOT,
    SA_NAME,
    SERVICES,
    l5d_ip,
    node_name,
)
from .procs import SimError, wait_for
from .state import Pod, State

#: The rules granted when ``daemonset/l5d-rbac.yml`` has no ClusterRole.
DEFAULT_RULES = [
    {"apiGroups": [""], "resources": ["endpoints", "services", "pods"],
     "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
     "verbs": ["get", "list", "watch"]},
]


def load_yaml_docs(path: Path) -> list[dict]:
    """:return: the mappings among the YAML documents of ``path``."""
    import yaml

    return [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]


def configmap_config(manifest: Path = MANIFEST) -> tuple[dict, str]:
    """The ``l5d-config`` ConfigMap of ``daemonset/l5d.yml`` and its ``config.yaml``.

    :raises SimError: if the manifest or the ConfigMap's ``config.yaml`` is missing.
    """
    if not manifest.exists():
        raise SimError(f"{manifest} does not exist (the DaemonSet manifest is needed)")
    for doc in load_yaml_docs(manifest):
        if doc.get("kind") == "ConfigMap" and doc.get("metadata", {}).get("name") == "l5d-config":
            text = (doc.get("data") or {}).get("config.yaml")
            if text:
                return doc, text
    raise SimError(f"{manifest}: no ConfigMap l5d-config with a config.yaml key")


def l5d_config(config: Path | None) -> tuple[dict, str, str]:
    """The l5d config every node runs.

    :param config: a config file, or ``None`` for the ConfigMap's ``config.yaml``.
    :return: the ConfigMap to write (its ``data``), the config text, and where it came
        from (shown by ``status``).
    """
    if config is None:
        configmap, text = configmap_config()
        return configmap, text, f"{MANIFEST.relative_to(ROOT)} ConfigMap l5d-config config.yaml"
    text = Path(config).read_text()
    return {"data": {"config.yaml": text}}, text, str(config)


def rbac_rules() -> list[dict]:
    """The rules of the ClusterRole in ``daemonset/l5d-rbac.yml`` (least privilege).

    :return: those rules, or :data:`DEFAULT_RULES` if the manifest has none.
    """
    if RBAC_MANIFEST.exists():
        for doc in load_yaml_docs(RBAC_MANIFEST):
            if doc.get("kind") == "ClusterRole" and doc.get("rules"):
                return doc["rules"]
    return DEFAULT_RULES


def role_rules() -> list[dict]:
    """The rules of the Roles in ``daemonset/l5d-rbac.yml`` for the sim's namespace (the
    dtab store's ConfigMap ``l5d-dtabs``).

    :return: those rules (none when the manifest has no Role).
    """
    rules: list[dict] = []
    if RBAC_MANIFEST.exists():
        for doc in load_yaml_docs(RBAC_MANIFEST):
            if (doc.get("kind") == "Role" and doc.get("rules")
                    and doc.get("metadata", {}).get("namespace", NAMESPACE) == NAMESPACE):
                rules += doc["rules"]
    return rules


def address(pod_or_ip: Any, n: int, name: str) -> dict:
    """:return: an Endpoints address: a pod's (or an IP's) on node ``n``, as pod ``name``."""
    ip = pod_or_ip.ip if isinstance(pod_or_ip, Pod) else pod_or_ip
    return {"ip": ip, "nodeName": node_name(n),
            "targetRef": {"kind": "Pod", "namespace": NAMESPACE, "name": name}}


def write_service_endpoints(api: Any, st: State, service: str) -> dict:
    """Write ``service``'s Endpoints: its pods that are ``in_service`` (one PUT).

    :return: the Endpoints the API server stored.
    """
    port_name, port, _ = SERVICES[service]
    pods = [p for p in st.pods_of(service) if p.in_service]
    subsets = []
    if pods:
        subsets = [{"addresses": [address(p, p.node, p.name) for p in pods],
                    "ports": [{"name": port_name, "port": port, "protocol": "TCP"}]}]
    return api.put_endpoints(NAMESPACE, service, subsets)


def write_l5d_endpoints(api: Any, st: State) -> None:
    """Write the ``l5d`` Endpoints: every node's l5d, with its three ports."""
    addrs = [address(l5d_ip(n), n, f"l5d-{node_name(n)}") for n in range(1, st.nodes + 1)]
    api.put_endpoints(NAMESPACE, "l5d", [{
        "addresses": addrs,
        "ports": [{"name": k, "port": v, "protocol": "TCP"} for k, v in L5D_PORTS.items()]}])


def ensure_namespace(api: Any, name: str, wait_s: float = 15) -> None:
    """Wait for the API server's bootstrap to create ``name`` (it does so just after
    ``/readyz``); create it if it never does."""
    from tests.helpers.k8s_api import ApiError

    def exists() -> bool:
        try:
            api.get(f"/api/v1/namespaces/{name}")
            return True
        except ApiError as e:
            if e.status != 404:
                raise
            return False

    try:
        wait_for(f"namespace {name}", exists, wait_s, interval_s=0.2)
    except SimError:
        try:
            api.create_namespace(name)
        except ApiError as e:
            if e.status != 409:
                raise


def write_objects(api: Any, st: State, configmap: dict) -> None:
    """Write every object but the demo services' Endpoints (those wait for their pods).

    The service-account files go to ``STATE/node-N/serviceaccount``.
    """
    ensure_namespace(api, NAMESPACE)
    rules = rbac_rules()
    for n in range(1, st.nodes + 1):
        api.service_account_dir(NAMESPACE, SA_NAME, rules,
                                st.dir / node_name(n) / "serviceaccount", cluster_wide=True)
    namespaced = role_rules()
    if namespaced:  # the Role and RoleBinding of the manifest, in the sim's namespace
        api.grant(NAMESPACE, SA_NAME, namespaced)
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "l5d-config", "namespace": NAMESPACE},
          "data": configmap.get("data", {})}
    api.create_or_replace(f"/api/v1/namespaces/{NAMESPACE}/configmaps", cm)
    for service, (port_name, port, _) in SERVICES.items():
        api.apply_service(NAMESPACE, service, [{"name": port_name, "port": port}],
                          cluster_ip="None")
    api.apply_service(NAMESPACE, "l5d", [{"name": k, "port": v} for k, v in L5D_PORTS.items()])
    write_l5d_endpoints(api, st)
