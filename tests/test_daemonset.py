"""The Kubernetes manifests under daemonset/ (and any under examples/) and the Containerfile.

* Every manifest object validates against the Kubernetes JSON schemas (the
  ``kubernetes-validate`` package, offline, strict: unknown fields are errors), for the
  oldest Kubernetes it ships schemas for (closest to the 1.20 test API server) and the
  newest.
* Every l5d config embedded in a ConfigMap (``config.yaml``) is parsed and built, in
  process and by ``python -m l5d --validate`` (as ``tests/test_examples.py`` does for
  ``examples/*.yaml``), and binds to the API with the pod's service account in a cluster.
* The DaemonSets agree with their config (ports, hostPort, probes, downward-API
  variables, transformers), the ClusterRole grants only reads of what the namer and
  transformer watch, and the demo apps are reachable through the dtab.

``tests/integration/k8s/test_manifests.py`` creates the same objects on a real
kube-apiserver.
"""

from __future__ import annotations

import base64
import configparser
import os
import posixpath
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import kubernetes_validate
import pytest
import yaml
from cryptography import x509
from kubernetes_validate.utils import all_versions
from twisted.internet.testing import MemoryReactorClock

from dtab import NEG, AddrBound, Address, BoundName, Interpreter, Leaf, Ok
from dtab import Path as DPath
from l5d.config import LinkerConfig, parse_config
from l5d.config.transformers import (
    DaemonSetTransformerConfig,
    LocalNodeTransformerConfig,
)
from l5d.linker import Env, build
from l5d.tls.context import TlsContexts

ROOT = Path(__file__).resolve().parent.parent
DAEMONSET = ROOT / "daemonset"
CONTAINERFILE = ROOT / "Containerfile"

POD_IP = "10.244.1.5"
NODE_NAME = "node-1"
IN_CLUSTER = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}

ADMIN_PING = "/admin/ping"
READ_VERBS = {"get", "list", "watch"}
# (API group, resource): what the io.l5d.k8s namer and the daemonset transformer read.
READABLE = {("", "endpoints"), ("", "services"), ("", "pods"),
            ("discovery.k8s.io", "endpointslices")}
DOWNWARD_API = {"POD_IP": "status.podIP", "NODE_NAME": "spec.nodeName",
                "POD_NAMESPACE": "metadata.namespace"}


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _load(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def _is_object(doc: Any) -> bool:
    return isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc


def _manifest_files() -> list[Path]:
    """Every YAML file under daemonset/, and those under examples/ made of k8s objects."""
    files = sorted(p for ext in ("*.yml", "*.yaml") for p in DAEMONSET.glob(ext))
    for ext in ("*.yml", "*.yaml"):
        for path in sorted((ROOT / "examples").rglob(ext)):
            docs = _load(path)
            if docs and all(_is_object(d) for d in docs):
                files.append(path)
    return files


MANIFEST_FILES = _manifest_files()


@dataclass(frozen=True)
class Obj:
    """One object of a manifest file."""

    file: Path
    doc: dict

    @property
    def id(self) -> str:
        return f"{_rel(self.file)}:{self.doc['kind']}/{self.doc['metadata']['name']}"


OBJECTS = [Obj(path, doc) for path in MANIFEST_FILES for doc in _load(path)]


def _schema_groups() -> set[str]:
    """The API groups kubernetes-validate knows (first label: ``apps``, ``rbac``, ``core``)."""
    from importlib import resources

    directory = resources.files("kubernetes_validate") / "kubernetes-json-schema" / \
        f"v{all_versions()[-1]}-local-strict"
    groups = {"core"}  # core/v1 schemas are named <kind>-v1.json
    for entry in directory.iterdir():
        m = re.fullmatch(r"[a-z0-9]+-([a-z0-9]+)-v\d\w*\.json", entry.name)
        if m:
            groups.add(m.group(1))
    return groups


def _group_label(api_version: str) -> str:
    return "core" if "/" not in api_version else api_version.split("/")[0].split(".")[0]


def _schema_versions() -> list[str]:
    """The oldest schema version >= 1.20 that the package ships, and the newest."""
    versions = [v for v in all_versions()
                if tuple(map(int, v.split(".")[:2])) >= (1, 20)]
    return sorted({versions[0], versions[-1]}, key=lambda v: tuple(map(int, v.split("."))))


SCHEMA_VERSIONS = _schema_versions()


def _by_kind(path: Path, kind: str) -> list[dict]:
    return [d for d in _load(path) if d.get("kind") == kind]


def _one(path: Path, kind: str, name: str | None = None) -> dict:
    found = [d for d in _by_kind(path, kind) if name is None or d["metadata"]["name"] == name]
    assert len(found) == 1, f"{_rel(path)}: expected one {kind} {name or ''}, got {len(found)}"
    return found[0]


def _embedded_configs() -> list[tuple[Path, dict]]:
    """(file, ConfigMap) for every ConfigMap with a ``config.yaml`` key."""
    return [(o.file, o.doc) for o in OBJECTS
            if o.doc["kind"] == "ConfigMap" and "config.yaml" in (o.doc.get("data") or {})]


EMBEDDED = _embedded_configs()
L5D_FILES = [DAEMONSET / "l5d.yml", DAEMONSET / "l5d-cni.yml", DAEMONSET / "l5d-tls.yml"]


def _config_source(path: Path, cm: dict) -> str:
    return f"{_rel(path)}#ConfigMap/{cm['metadata']['name']}/config.yaml"


def _config(path: Path, cm: dict | None = None) -> LinkerConfig:
    cm = cm if cm is not None else _one(path, "ConfigMap", "l5d-config")
    return parse_config(cm["data"]["config.yaml"], _config_source(path, cm))


def _container(path: Path, kind: str = "DaemonSet", name: str = "l5d") -> dict:
    spec = _one(path, kind, name)["spec"]["template"]["spec"]
    assert len(spec["containers"]) == 1
    return spec["containers"][0]


def _pod_spec(path: Path, kind: str = "DaemonSet", name: str = "l5d") -> dict:
    return _one(path, kind, name)["spec"]["template"]["spec"]


def _ports(container: dict) -> dict[str, dict]:
    return {p["name"]: p for p in container["ports"]}


def _resolve_port(container: dict, port: int | str) -> int:
    return port if isinstance(port, int) else _ports(container)[port]["containerPort"]


def _router(config: LinkerConfig, label: str) -> Any:
    [router] = [r for r in config.routers if r.label == label]
    return router


def _env(container: dict) -> list[dict]:
    return container.get("env") or []


def _setup_cfg() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    return cfg


def _image() -> str:
    return f"l5d:{_setup_cfg()['metadata']['version']}"


# --- schemas ----------------------------------------------------------------------------


class ManifestSchemaTests:
    """Every object validates against the Kubernetes OpenAPI schemas."""

    def test_the_manifests_are_there(self) -> None:
        """Guard against a glob that finds nothing."""
        names = {p.name for p in MANIFEST_FILES if p.parent == DAEMONSET}
        assert names == {"l5d-rbac.yml", "l5d.yml", "l5d-cni.yml", "l5d-tls.yml",
                         "hello-world.yml"}

    def test_schema_versions(self) -> None:
        """The oldest schema is the closest the package has to the 1.20 test API server."""
        assert SCHEMA_VERSIONS[0].startswith("1.")
        assert tuple(map(int, SCHEMA_VERSIONS[0].split(".")[:2])) >= (1, 20)

    @pytest.mark.parametrize("path", [p for p in MANIFEST_FILES if p.parent == DAEMONSET],
                             ids=_rel)
    def test_every_document_is_an_object(self, path: Path) -> None:
        """daemonset/ holds only Kubernetes objects (no stray documents)."""
        docs = _load(path)
        assert docs and all(_is_object(d) and d.get("metadata", {}).get("name") for d in docs)

    @pytest.mark.parametrize("version", SCHEMA_VERSIONS)
    @pytest.mark.parametrize("obj", OBJECTS, ids=lambda o: o.id)
    def test_validates(self, obj: Obj, version: str) -> None:
        """Strict validation (unknown fields rejected); a missing schema is a failure, as
        for a misspelt apiVersion. Objects of non-Kubernetes groups under examples/ (a
        kind cluster config, say) are not Kubernetes API objects and are left out."""
        if obj.file.parent != DAEMONSET and \
                _group_label(obj.doc["apiVersion"]) not in _schema_groups():
            pytest.skip(f"{obj.doc['apiVersion']} is not a built-in Kubernetes API group")
        try:
            kubernetes_validate.validate(obj.doc, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            where = ".".join(str(p) for p in err.path)
            pytest.fail(f"{obj.id} against {version}: {where}: {err.message}")
        except kubernetes_validate.SchemaNotFoundError as err:
            pytest.fail(err.message)

    def test_validation_is_not_vacuous(self) -> None:
        """The same validator rejects a misspelt field, a wrong type and an old API."""
        ds = _one(DAEMONSET / "l5d.yml", "DaemonSet")
        typo = {**ds, "spec": {**ds["spec"], "updateStrateg": {}}}
        bad_port = yaml.safe_load(yaml.safe_dump(ds))
        bad_port["spec"]["template"]["spec"]["containers"][0]["ports"][0]["hostPort"] = "4140"
        for broken in (typo, bad_port):
            with pytest.raises(kubernetes_validate.ValidationError):
                kubernetes_validate.validate(broken, SCHEMA_VERSIONS[0], strict=True)
        with pytest.raises(kubernetes_validate.SchemaNotFoundError):
            kubernetes_validate.validate({**ds, "apiVersion": "extensions/v1beta1"},
                                         SCHEMA_VERSIONS[0], strict=True)


# --- embedded l5d configs ---------------------------------------------------------------


class EmbeddedConfigTests:
    """Each ConfigMap's config.yaml is a config l5d accepts and builds."""

    def test_there_are_embedded_configs(self) -> None:
        assert {p.name for p, _ in EMBEDDED} >= {"l5d.yml", "l5d-cni.yml", "l5d-tls.yml"}

    @pytest.mark.parametrize("path,cm", EMBEDDED, ids=lambda x: getattr(x, "name", ""))
    def test_parses_and_builds(self, path: Path, cm: dict) -> None:
        """parse_config + build with the downward-API values; no socket opened."""
        config = _config(path, cm)
        reactor = MemoryReactorClock()
        linker = build(config, Env(pod_ip=POD_IP, node_name=NODE_NAME, namespace="default"),
                       reactor)
        assert reactor.tcpServers == []
        assert [r.label for r in linker.routers] == [r.label for r in config.routers]

    @pytest.mark.parametrize("path,cm", EMBEDDED, ids=lambda x: getattr(x, "name", ""))
    def test_validate_command(self, path: Path, cm: dict, tmp_path: Path) -> None:
        """``python -m l5d --validate`` with POD_IP/NODE_NAME set, as the pod runs it."""
        config = tmp_path / "config.yaml"
        config.write_text(cm["data"]["config.yaml"], encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
        env.update(POD_IP=POD_IP, NODE_NAME=NODE_NAME, POD_NAMESPACE="default")
        done = subprocess.run([sys.executable, "-m", "l5d", "--validate", str(config)],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert (done.returncode, done.stdout, done.stderr) == (0, f"{config}: ok\n", "")

    @pytest.mark.parametrize("path", L5D_FILES, ids=_rel)
    def test_validate_command_needs_the_downward_api(self, path: Path, tmp_path: Path) -> None:
        """Without POD_IP and NODE_NAME the localnode transformer cannot be built: the
        DaemonSet's env is what makes the config valid."""
        config = tmp_path / "config.yaml"
        config.write_text(_one(path, "ConfigMap", "l5d-config")["data"]["config.yaml"],
                          encoding="utf-8")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("KUBERNETES_") and k not in DOWNWARD_API}
        done = subprocess.run([sys.executable, "-m", "l5d", "--validate", str(config)],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 1
        assert "io.l5d.k8s.localnode" in done.stderr

    @pytest.mark.parametrize("path", L5D_FILES, ids=_rel)
    def test_in_a_pod_the_api_is_reached_with_the_service_account(
            self, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """With the in-cluster variables set, the namer and the daemonset transformer both
        use the pod's service account (one shared client); outside a cluster the same
        config means Linkerd's kubectl proxy on localhost:8001."""
        import l5d.k8s.access as access_module
        from l5d.k8s.choice import PROXY, SERVICE_ACCOUNT, Access

        real_client = access_module.api_client

        def recording(reactor: Any, access: Access, env: Any) -> Any:
            seen.append(access)
            return real_client(reactor, Access(PROXY), env)

        # K8sApis asks l5d.k8s.access for the client of each way it sees.
        monkeypatch.setattr(access_module, "api_client", recording)
        config = _config(path)
        for variables, mode in ((IN_CLUSTER, SERVICE_ACCOUNT), ({}, PROXY)):
            seen: list[Access] = []
            linker = build(config, Env(pod_ip=POD_IP, node_name=NODE_NAME,
                                       variables=variables), MemoryReactorClock())
            assert [a.mode for a in seen] == [mode]
            assert list(linker.k8s.by_access) == seen
        assert seen == [Access(PROXY, "localhost", 8001)]

    @pytest.mark.parametrize("path", L5D_FILES, ids=_rel)
    def test_linker_to_linker_config(self, path: Path) -> None:
        """Reference 7.1: outgoing on 0.0.0.0:4140 through the daemonset transformer,
        incoming on 0.0.0.0:4141 through localnode, one dtab, admin on 0.0.0.0:9990."""
        config = _config(path)
        assert (config.admin.ip, config.admin.port) == ("0.0.0.0", 9990)
        assert [n.kind for n in config.namers] == ["io.l5d.k8s"]
        outgoing, incoming = _router(config, "outgoing"), _router(config, "incoming")
        assert [(s.ip, s.port) for s in outgoing.servers] == [("0.0.0.0", 4140)]
        assert [(s.ip, s.port) for s in incoming.servers] == [("0.0.0.0", 4141)]
        assert outgoing.dtab == incoming.dtab
        assert outgoing.dtab.show() == ("/srv=>/#/io.l5d.k8s/default/http;/host=>/srv;"
                                        "/svc=>/host;/host/world=>/srv/world-v1")
        [ds] = outgoing.interpreter.transformers
        [local] = incoming.interpreter.transformers
        assert isinstance(ds, DaemonSetTransformerConfig)
        assert isinstance(local, LocalNodeTransformerConfig)
        assert (ds.namespace, ds.port, ds.service) == ("default", "incoming", "l5d")


# --- the DaemonSet against its config ---------------------------------------------------


class DaemonSetTests:
    """The DaemonSet, its Service and its ConfigMap agree with each other."""

    @pytest.mark.parametrize("path", L5D_FILES, ids=_rel)
    def test_container_ports_are_the_configs(self, path: Path) -> None:
        """One container port per router server and one for the admin, named after the
        routers (Linkerd's names), and no others."""
        config = _config(path)
        ports = _ports(_container(path))
        expected = {r.label: s.port for r in config.routers for s in r.servers}
        expected["admin"] = config.admin.port
        assert {n: p["containerPort"] for n, p in ports.items()} == expected
        assert expected == {"outgoing": 4140, "incoming": 4141, "admin": 9990}
        assert all(p.get("protocol", "TCP") == "TCP" for p in ports.values())

    def test_hostport_on_outgoing_only(self) -> None:
        """l5d.yml: apps reach their node's l5d on hostPort 4140; incoming and admin stay
        on the pod IP."""
        path = DAEMONSET / "l5d.yml"
        ports = _ports(_container(path))
        assert ports["outgoing"]["hostPort"] == 4140 == ports["outgoing"]["containerPort"]
        assert "hostPort" not in ports["incoming"] and "hostPort" not in ports["admin"]
        spec = _pod_spec(path)
        assert not spec.get("hostNetwork", False)
        config = _config(path)
        [ds] = _router(config, "outgoing").interpreter.transformers
        [local] = _router(config, "incoming").interpreter.transformers
        assert ds.host_network is False and local.host_network is False

    def test_cni_variant_uses_the_host_network(self) -> None:
        """l5d-cni.yml: hostNetwork with cluster DNS, every port a node port, and both
        transformers matching by node name."""
        path = DAEMONSET / "l5d-cni.yml"
        spec = _pod_spec(path)
        assert spec["hostNetwork"] is True
        assert spec["dnsPolicy"] == "ClusterFirstWithHostNet"
        for port in _ports(_container(path)).values():
            assert port.get("hostPort", port["containerPort"]) == port["containerPort"]
        assert _ports(_container(path))["outgoing"]["hostPort"] == 4140
        config = _config(path)
        [ds] = _router(config, "outgoing").interpreter.transformers
        [local] = _router(config, "incoming").interpreter.transformers
        assert ds.host_network is True and local.host_network is True

    def test_variants_differ_only_in_the_host_network(self) -> None:
        """l5d-cni.yml is l5d.yml plus hostNetwork: the rest cannot drift apart."""
        def strip(path: Path) -> list[dict]:
            docs = yaml.safe_load(yaml.safe_dump(_load(path)))
            for doc in docs:
                if doc["kind"] == "ConfigMap":
                    doc["data"]["config.yaml"] = re.sub(
                        r"^ *(#.*|hostNetwork: true *(#.*)?)\n", "",
                        doc["data"]["config.yaml"] + "\n", flags=re.MULTILINE).strip()
                if doc["kind"] == "DaemonSet":
                    spec = doc["spec"]["template"]["spec"]
                    spec.pop("hostNetwork", None)
                    spec.pop("dnsPolicy", None)
                    for port in spec["containers"][0]["ports"]:
                        if port["name"] != "outgoing":
                            port.pop("hostPort", None)
            return docs
        assert strip(DAEMONSET / "l5d-cni.yml") == strip(DAEMONSET / "l5d.yml")

    def test_tls_variant_is_l5d_yml_plus_mutual_tls(self) -> None:
        """l5d-tls.yml is l5d.yml plus the Secret, its volume and mount, and the two tls
        blocks: the rest cannot drift apart."""
        def strip(path: Path) -> list[dict]:
            docs = [d for d in yaml.safe_load(yaml.safe_dump(_load(path)))
                    if d["kind"] != "Secret"]
            for doc in docs:
                if doc["kind"] == "ConfigMap":
                    config = yaml.safe_load(doc["data"]["config.yaml"])
                    for router in config["routers"]:
                        router.pop("client", None)
                        for server in router["servers"]:
                            server.pop("tls", None)
                    doc["data"]["config.yaml"] = config
                if doc["kind"] == "DaemonSet":
                    spec = doc["spec"]["template"]["spec"]
                    spec["volumes"] = [v for v in spec["volumes"] if v["name"] != "l5d-tls"]
                    container = spec["containers"][0]
                    container["volumeMounts"] = [m for m in container["volumeMounts"]
                                                 if m["name"] != "l5d-tls"]
            return docs
        assert strip(DAEMONSET / "l5d-tls.yml") == strip(DAEMONSET / "l5d.yml")

    def test_tls_variant_is_mutual_tls_from_4140_to_4141(self, tmp_path: Path) -> None:
        """outgoing's clients speak TLS with a client certificate and check the server's
        name and CA; incoming's 4141 requires a client certificate of the same CA; every
        file is a key of the Secret mounted (not by subPath: rotation); the Secret's
        certificate is the CA's, names the commonName, and its key matches (it loads)."""
        path = DAEMONSET / "l5d-tls.yml"
        config = _config(path)
        client_tls = _router(config, "outgoing").client.params_for(
            DPath.read("/%/io.l5d.k8s.daemonset/10.244.2.1:4141/#/io.l5d.k8s/default/http/x")).tls
        [server] = _router(config, "incoming").servers
        [out_server] = _router(config, "outgoing").servers
        assert out_server.tls is None  # apps talk plaintext to their node's l5d
        assert server.port == 4141 and server.tls.require_client_auth
        assert client_tls.client_auth is not None and not client_tls.disable_validation
        container = _container(path)
        [mount] = [m for m in container["volumeMounts"] if m["name"] == "l5d-tls"]
        assert mount["readOnly"] is True and "subPath" not in mount
        [volume] = [v for v in _pod_spec(path)["volumes"] if v["name"] == "l5d-tls"]
        secret = _one(path, "Secret", volume["secret"]["secretName"])
        files = {}
        for name in set(server.tls.files) | set(client_tls.files):
            assert posixpath.dirname(name) == mount["mountPath"], name
            key = posixpath.basename(name)
            files[key] = base64.b64decode(secret["data"][key])
            (tmp_path / key).write_bytes(files[key])
        local = TlsContexts(lambda: 0.0)

        def here(p: str) -> str:
            return str(tmp_path / posixpath.basename(p))

        local.server(replace(server.tls, cert_path=here(server.tls.cert_path),
                             key_path=here(server.tls.key_path),
                             ca_cert_path=here(server.tls.ca_cert_path)), "test")
        cert = x509.load_pem_x509_certificate(files["tls.crt"])
        ca = x509.load_pem_x509_certificate(files["ca.pem"])
        cert.verify_directly_issued_by(ca)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert client_tls.common_name in names.get_values_for_type(x509.DNSName)

    @pytest.mark.parametrize("path", L5D_FILES, ids=_rel)
    def test_probes_ping_the_admin(self, path: Path) -> None:
        """Readiness and liveness: GET /admin/ping on the admin port of the config."""
        container = _container(path)
        admin = _config(path).admin.port
        for probe in ("readinessProbe", "livenessProbe"):
            get = container[probe]["httpGet"]
            assert get["path"] == ADMIN_PING
            assert _resolve_port(container, get["port"]) == admin
            assert get.get("scheme", "HTTP") == "HTTP"

    @pytest.mark.parametrize("path", L5D_FILES, ids=_rel)
    def test_downward_api_env(self, path: Path) -> None:
        """POD_IP, NODE_NAME and POD_NAMESPACE come from the downward API fields l5d
        expects, and nothing else is set."""
        env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in
               _env(_container(path)) if "fieldRef" in e["valueFrom"]}
        assert env == DOWNWARD_API

    @pytest.mark.parametrize("path", L5D_FILES, ids=_rel)
    def test_the_admin_token_comes_from_an_optional_secret(self, path: Path) -> None:
        """L5D_ADMIN_TOKEN (admin.tokenEnv's default) is the Secret l5d-admin's ``token``,
        optional: without the Secret the admin starts read-only."""
        [token] = [e for e in _env(_container(path)) if "secretKeyRef" in e["valueFrom"]]
        assert token == {"name": "L5D_ADMIN_TOKEN", "valueFrom": {"secretKeyRef": {
            "name": "l5d-admin", "key": "token", "optional": True}}}
        assert _config(path).admin.token_env == "L5D_ADMIN_TOKEN"

    @pytest.mark.parametrize("path", L5D_FILES, ids=_rel)
    def test_runs_l5d_on_the_mounted_config(self, path: Path) -> None:
        """The argument is config.yaml of the l5d-config ConfigMap, mounted read-only."""
        container = _container(path)
        spec = _pod_spec(path)
        assert "command" not in container  # the image's entrypoint: l5d
        [arg] = container["args"]
        [mount] = [m for m in container["volumeMounts"] if m["name"] == "l5d-config"]
        assert mount["readOnly"] is True
        assert arg == f"{mount['mountPath'].rstrip('/')}/config.yaml"
        [volume] = [v for v in spec["volumes"] if v["name"] == mount["name"]]
        assert volume["configMap"]["name"] == _one(path, "ConfigMap")["metadata"]["name"]
        assert container["image"] == _image()

    @pytest.mark.parametrize("path", L5D_FILES, ids=_rel)
    def test_rollout_and_resources(self, path: Path) -> None:
        """One node at a time; requests and limits set, requests under limits."""
        ds = _one(path, "DaemonSet", "l5d")
        assert ds["spec"]["updateStrategy"] == {"type": "RollingUpdate",
                                                "rollingUpdate": {"maxUnavailable": 1}}
        labels = ds["spec"]["template"]["metadata"]["labels"]
        assert labels == ds["spec"]["selector"]["matchLabels"] == {"app": "l5d"}
        res = _container(path)["resources"]
        assert res["requests"] == {"cpu": "50m", "memory": "64Mi"}
        assert set(res["limits"]) == {"cpu", "memory"}
        assert _quantity(res["requests"]["cpu"]) < _quantity(res["limits"]["cpu"])
        assert _quantity(res["requests"]["memory"]) < _quantity(res["limits"]["memory"])

    @pytest.mark.parametrize("path", L5D_FILES, ids=_rel)
    def test_runs_as_the_images_user(self, path: Path) -> None:
        """runAsNonRoot with the Containerfile's numeric uid; service account l5d."""
        spec = _pod_spec(path)
        assert spec["serviceAccountName"] == "l5d"
        sc = spec["securityContext"]
        assert sc["runAsNonRoot"] is True
        assert str(sc["runAsUser"]) == _containerfile_user().split(":")[0]
        assert _container(path)["securityContext"]["allowPrivilegeEscalation"] is False

    @pytest.mark.parametrize("path", L5D_FILES, ids=_rel)
    def test_service_fronts_the_daemonset(self, path: Path) -> None:
        """Service l5d selects the DaemonSet's pods and has its ports, by name and number;
        the daemonset transformer reads this Service's port named ``incoming``, which is
        the incoming router's port."""
        svc = _one(path, "Service", "l5d")
        ds = _one(path, "DaemonSet", "l5d")
        assert svc["metadata"]["namespace"] == ds["metadata"]["namespace"]
        assert svc["spec"]["selector"] == ds["spec"]["template"]["metadata"]["labels"]
        assert svc["spec"].get("type", "ClusterIP") == "ClusterIP"
        container_ports = {n: p["containerPort"] for n, p in _ports(_container(path)).items()}
        service_ports = {}
        for p in svc["spec"]["ports"]:
            target = p.get("targetPort", p["port"])
            assert _resolve_port(_container(path), target) == p["port"]
            service_ports[p["name"]] = p["port"]
        assert service_ports == container_ports
        config = _config(path)
        [ds_t] = _router(config, "outgoing").interpreter.transformers
        assert (ds_t.namespace, ds_t.service) == (svc["metadata"]["namespace"],
                                                  svc["metadata"]["name"])
        [incoming_server] = _router(config, "incoming").servers
        assert service_ports[ds_t.port] == incoming_server.port


def _quantity(text: str | int) -> float:
    """A Kubernetes quantity (``50m``, ``1``, ``64Mi``) as a number."""
    units = {"m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20,
             "Gi": 2**30}
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([a-zA-Z]*)", str(text))
    assert m and m.group(2) in units, text
    return float(m.group(1)) * units[m.group(2)]


# --- RBAC -------------------------------------------------------------------------------


class RbacTests:
    """l5d-rbac.yml: the least privilege the namer and transformer need."""

    PATH = DAEMONSET / "l5d-rbac.yml"

    def test_cluster_role_grants_only_reads(self) -> None:
        """Exactly get/list/watch on endpoints, services, pods and endpointslices: no
        other verb, resource or group, no wildcard, no non-resource URL."""
        role = _one(self.PATH, "ClusterRole", "l5d")
        granted = set()
        for rule in role["rules"]:
            assert set(rule) <= {"apiGroups", "resources", "verbs"}, rule
            assert set(rule["verbs"]) == READ_VERBS, rule
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    granted.add((group, resource))
        assert granted == READABLE
        assert "aggregationRule" not in role

    def test_binding_gives_it_to_the_daemonsets_account(self) -> None:
        """ClusterRoleBinding: ClusterRole l5d to ServiceAccount l5d, in the namespace the
        DaemonSets run in."""
        sa = _one(self.PATH, "ServiceAccount", "l5d")
        binding = _one(self.PATH, "ClusterRoleBinding")
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io",
                                      "kind": "ClusterRole", "name": "l5d"}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "l5d",
                                        "namespace": sa["metadata"]["namespace"]}]
        for path in L5D_FILES:
            ds = _one(path, "DaemonSet", "l5d")
            assert ds["metadata"]["namespace"] == sa["metadata"]["namespace"] == "default"
            assert ds["spec"]["template"]["spec"]["serviceAccountName"] == "l5d"

    def test_dtab_store_role_is_one_configmap_in_l5d_namespace(self) -> None:
        """Role l5d-dtabs (io.l5d.k8s.configMap): get/list/watch/update on ConfigMap
        l5d-dtabs only, create (which cannot name an object) on configmaps; bound to the
        l5d account in its own namespace, the default store name."""
        from l5d.dtab_store.configmap import DEFAULT_NAME

        sa = _one(self.PATH, "ServiceAccount", "l5d")
        role = _one(self.PATH, "Role", "l5d-dtabs")
        namespace = sa["metadata"]["namespace"]
        assert role["metadata"]["namespace"] == namespace
        assert role["rules"] == [
            {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [DEFAULT_NAME],
             "verbs": ["get", "list", "watch", "update"]},
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]}]
        binding = _one(self.PATH, "RoleBinding", "l5d-dtabs")
        assert binding["metadata"]["namespace"] == namespace
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io",
                                      "kind": "Role", "name": "l5d-dtabs"}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "l5d",
                                        "namespace": namespace}]

    def test_only_rbac_objects(self) -> None:
        assert [d["kind"] for d in _load(self.PATH)] == [
            "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]
        assert {d["apiVersion"] for d in _load(self.PATH) if d["kind"] != "ServiceAccount"} \
            == {"rbac.authorization.k8s.io/v1"}


# --- the demo apps ----------------------------------------------------------------------


class HelloWorldTests:
    """hello-world.yml: the apps, their Services, and the way through l5d."""

    PATH = DAEMONSET / "hello-world.yml"
    APPS: ClassVar[dict[str, int]] = {"hello": 7777, "world-v1": 7778}

    @pytest.mark.parametrize("name", sorted(APPS))
    def test_deployment(self, name: str) -> None:
        """3 replicas of examples/helloworld.py from the l5d image, listening on every
        interface on the port of its Service."""
        dep = _one(self.PATH, "Deployment", name)
        assert dep["apiVersion"] == "apps/v1"
        assert dep["spec"]["replicas"] == 3
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert dep["spec"]["selector"]["matchLabels"] == labels == {"app": name}
        c = _container(self.PATH, "Deployment", name)
        assert c["image"] == _image()
        assert c["command"] == ["python", "examples/helloworld.py"]
        assert c["workingDir"] == _containerfile_workdir_of("examples/helloworld.py")
        flags = dict(a.lstrip("-").split("=", 1) for a in c["args"])
        host, _, port = flags["addr"].rpartition(":")
        assert host == "0.0.0.0"  # helloworld.py listens on 127.0.0.1 when host is empty
        assert int(port) == self.APPS[name] == _ports(c)["http"]["containerPort"]

    @pytest.mark.parametrize("name", sorted(APPS))
    def test_env(self, name: str) -> None:
        """NODE_NAME from spec.nodeName, defined BEFORE http_proxy=$(NODE_NAME):4140 (a
        $(VAR) reference only expands variables listed earlier), 4140 being l5d's
        hostPort."""
        env = _env(_container(self.PATH, "Deployment", name))
        names = [e["name"] for e in env]
        by_name = {e["name"]: e for e in env}
        assert by_name["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
        assert by_name["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
        hostport = _ports(_container(DAEMONSET / "l5d.yml"))["outgoing"]["hostPort"]
        assert by_name["http_proxy"]["value"] == f"$(NODE_NAME):{hostport}"
        assert names.index("NODE_NAME") < names.index("http_proxy")

    def test_hello_calls_world(self) -> None:
        c = _container(self.PATH, "Deployment", "hello")
        assert "-target=world" in c["args"] and "-text=Hello" in c["args"]
        world = {e["name"]: e.get("value") for e in
                 _env(_container(self.PATH, "Deployment", "world-v1"))}
        assert world["TARGET_WORLD"] == "world"

    @pytest.mark.parametrize("name", sorted(APPS))
    def test_headless_service(self, name: str) -> None:
        svc = _one(self.PATH, "Service", name)
        assert svc["spec"]["clusterIP"] == "None"
        assert svc["spec"]["selector"] == {"app": name}
        assert svc["spec"]["ports"] == [{"name": "http", "port": self.APPS[name]}]

    @pytest.mark.parametrize("path", L5D_FILES, ids=_rel)
    @pytest.mark.parametrize("host,service", [("hello", "hello"), ("world", "world-v1")])
    def test_names_bind_to_the_demo_services(self, path: Path, host: str,
                                             service: str) -> None:
        """`http://<host>` through either router binds to the Service of that name in
        hello-world.yml (port name ``http``), with a stand-in k8s namer that knows only
        the manifests' Services."""
        services = {(d["metadata"]["namespace"], p["name"], d["metadata"]["name"])
                    for d in _by_kind(self.PATH, "Service") for p in d["spec"]["ports"]}

        class ManifestNamer:
            generation = 0

            def lookup(self, rest: DPath) -> Any:
                key = tuple(rest.take(3))
                if key not in services:
                    return Ok(NEG)
                bound = BoundName(DPath.of("#", "io.l5d.k8s", *key), rest.drop(3),
                                  AddrBound.of(Address("10.244.1.9", 7777)))
                return Ok(Leaf(bound))

        config = _config(path)
        for label in ("outgoing", "incoming"):
            router = _router(config, label)
            interpreter = Interpreter([(DPath.read("/#/io.l5d.k8s"), ManifestNamer())])
            state = interpreter.bind(router.dtab, DPath.read(f"/svc/{host}"))
            assert isinstance(state, Ok) and isinstance(state.value, Leaf), state
            assert state.value.value.id.show() == f"/#/io.l5d.k8s/default/http/{service}"


# --- the Containerfile ------------------------------------------------------------------


def _containerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in CONTAINERFILE.read_text(encoding="utf-8").splitlines():
        if not pending and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        if raw.lstrip().startswith("#"):
            continue
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        lines.append(pending + raw)
        pending = ""
    assert not pending, "Containerfile ends inside a continued line"
    out = []
    for line in lines:
        instruction, _, args = line.strip().partition(" ")
        out.append((instruction.upper(), args.strip()))
    return out


def _containerfile_user() -> str:
    users = [args for instr, args in _containerfile() if instr == "USER"]
    assert users, "Containerfile sets no USER"
    return users[-1]


def _copies() -> list[tuple[list[str], str, str]]:
    """(sources, destination resolved against WORKDIR, WORKDIR) for every COPY."""
    workdir = "/"
    out = []
    for instr, args in _containerfile():
        if instr == "WORKDIR":
            workdir = posixpath.join(workdir, args)
        elif instr == "COPY":
            *sources, dest = shlex.split(args)
            assert not any(s.startswith("--") for s in sources), args
            out.append((sources, posixpath.join(workdir, dest), workdir))
    return out


def _containerfile_workdir_of(relative: str) -> str:
    """The directory from which ``relative`` (a repository path) is found in the image."""
    for sources, dest, _ in _copies():
        if sources == [relative] and dest.endswith("/" + relative):
            return dest[: -len(relative) - 1]
    raise AssertionError(f"Containerfile does not copy {relative}")


class ContainerfileTests:
    """The image the manifests run: python:3.11-slim, the project installed, non-root,
    EXPOSE the three ports, entrypoint l5d."""

    def test_from_python_slim(self) -> None:
        steps = _containerfile()
        assert steps[0][0] == "FROM"
        assert re.fullmatch(r"python:3\.11-slim(@sha256:[0-9a-f]{64})?", steps[0][1])
        assert [i for i, _ in steps].count("FROM") == 1

    def test_installs_the_project_from_a_complete_copy(self) -> None:
        """``pip install .`` runs in a directory holding setup.cfg, pyproject.toml, the
        long_description file and every top-level package setup.cfg includes."""
        cfg = _setup_cfg()
        packages = {p for p in cfg["options.packages.find"]["include"].split() if "." not in p}
        description = cfg["metadata"]["long_description"].removeprefix("file:").strip()
        needed = {"pyproject.toml", "setup.cfg", description} | packages
        assert all((ROOT / n).exists() for n in needed)
        landed: set[str] = set()
        copies = iter(_copies())
        workdir = "/"
        for instr, args in _containerfile():
            if instr == "WORKDIR":
                workdir = posixpath.join(workdir, args)
            elif instr == "COPY":
                sources, dest, _ = next(copies)
                for src in sources:
                    into_dir = dest.endswith("/") or len(sources) > 1
                    landed.add(posixpath.normpath(
                        posixpath.join(dest, posixpath.basename(src)) if into_dir else dest))
            elif instr == "RUN" and re.search(r"\bpip install \.(\s|$)", args):
                missing = {n for n in needed
                           if posixpath.normpath(posixpath.join(workdir, n)) not in landed}
                assert not missing, f"pip install . in {workdir} without {sorted(missing)}"
                return
        pytest.fail("no RUN pip install . in the Containerfile")

    def test_runs_as_a_non_root_user(self) -> None:
        user = _containerfile_user().split(":")[0]
        assert user not in ("root", "0", "")
        assert user.isdigit(), "a numeric uid lets Kubernetes check runAsNonRoot"
        assert re.search(rf"useradd\b.*--uid {user}\b",
                         " ".join(a for i, a in _containerfile() if i == "RUN"))

    def test_exposes_the_daemonsets_ports(self) -> None:
        exposed = {int(p) for i, a in _containerfile() if i == "EXPOSE" for p in a.split()}
        assert exposed == {4140, 4141, 9990}
        assert exposed == {p["containerPort"] for p in
                           _ports(_container(DAEMONSET / "l5d.yml")).values()}

    def test_entrypoint_is_the_console_script(self) -> None:
        [entry] = [a for i, a in _containerfile() if i == "ENTRYPOINT"]
        assert yaml.safe_load(entry) == ["l5d"]
        scripts = _setup_cfg()["options.entry_points"]["console_scripts"]
        assert re.search(r"^\s*l5d\s*=", scripts, flags=re.MULTILINE)

    def test_ships_the_demo_app(self) -> None:
        """hello-world.yml runs examples/helloworld.py relative to /app."""
        assert _containerfile_workdir_of("examples/helloworld.py") == "/app"
        assert (ROOT / "examples/helloworld.py").is_file()
