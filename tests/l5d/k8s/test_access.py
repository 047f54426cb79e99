"""l5d.k8s.choice and access: which way to the API a config means, and loading it."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from twisted.internet.task import Clock

from l5d.k8s.access import api_client
from l5d.k8s.apis import K8sApis
from l5d.k8s.choice import KUBECONFIG, PROXY, SERVICE_ACCOUNT, Access, choose

POD = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}


class ChooseTests:
    @pytest.mark.parametrize("args,env,expected", [
        ((None, None, None, None, None), {}, Access(PROXY)),  # Linkerd's default
        (("k8s", None, None, None, None), {}, Access(PROXY, "k8s", 8001)),
        ((None, 8002, None, None, None), POD, Access(PROXY, "localhost", 8002)),
        ((None, None, None, None, None), POD, Access(SERVICE_ACCOUNT, auto=True)),
        ((None, None, True, None, None), {}, Access(SERVICE_ACCOUNT)),
        ((None, None, False, None, None), POD, Access(PROXY)),
        ((None, None, None, "/k", "ctx"), POD, Access(KUBECONFIG, kubeconfig="/k",
                                                      context="ctx")),
    ], ids=["default", "host", "port-in-pod", "pod", "explicit-sa", "sa-off", "kubeconfig"])
    def test_table(self, args, env, expected) -> None:
        assert choose(*args, env) == expected

    def test_service_account_dir_means_the_service_account(self) -> None:
        assert choose(None, None, None, None, None, {}, "/sa") == Access(
            SERVICE_ACCOUNT, account_dir="/sa")


class LoadTests:
    def test_explicit_service_account_without_a_token_is_an_error(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="Service token file does not exist"):
            api_client(Clock(), Access(SERVICE_ACCOUNT, account_dir=str(tmp_path)), POD)

    def test_an_automatic_choice_without_a_token_falls_back_to_kubectl_proxy(
            self, tmp_path: Path) -> None:
        apis = K8sApis(Clock(), POD, random.Random(1))
        access = Access(SERVICE_ACCOUNT, account_dir=str(tmp_path), auto=True)
        assert apis.watches(access).api.base_url == "http://localhost:8001"

    def test_service_account_files(self, tmp_path: Path) -> None:
        (tmp_path / "token").write_text("tok-1")
        (tmp_path / "ca.crt").write_text(CA)
        client = api_client(Clock(), Access(SERVICE_ACCOUNT, account_dir=str(tmp_path)), POD)
        assert client.base_url == "https://10.96.0.1:443"
        assert client._headers()[b"Authorization"] == [b"Bearer tok-1"]

    def test_kubeconfig(self, tmp_path: Path) -> None:
        (tmp_path / "ca.crt").write_text(CA)
        config = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
                  "clusters": [{"name": "k", "cluster": {
                      "server": "https://127.0.0.1:6443",
                      "certificate-authority": str(tmp_path / "ca.crt")}}],
                  "users": [{"name": "u", "user": {"token": "tok-2"}}],
                  "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}
        (tmp_path / "kubeconfig").write_text(json.dumps(config))
        client = api_client(Clock(), Access(KUBECONFIG, kubeconfig=str(tmp_path / "kubeconfig")),
                            {})
        assert client.base_url == "https://127.0.0.1:6443"
        assert client._headers()[b"Authorization"] == [b"Bearer tok-2"]
        with pytest.raises(ValueError, match="kubeconfig"):
            api_client(Clock(), Access(KUBECONFIG, kubeconfig=str(tmp_path / "nope")), {})


def _self_signed_ca() -> str:
    """A throwaway CA certificate (PEM), made here: the loaders only read it."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "l5d-test-ca")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


CA = _self_signed_ca()
