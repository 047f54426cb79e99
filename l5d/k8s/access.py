"""How l5d reaches the Kubernetes API: kubectl proxy, in-cluster credentials, or a kubeconfig
(Twisted shell, at build time).

Three ways, chosen by :func:`l5d.k8s.choice.choose` from the config (``host``/``port``,
``serviceAccount``, ``kubeconfig``) and the environment the entry point read:

``kubectlProxy``
    Linkerd's only way: plain HTTP to ``host:port`` (default ``localhost:8001``), where
    a ``kubectl proxy`` sidecar adds the credentials.
``serviceAccount``
    In a pod: ``https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`` with the
    service account's token and the cluster CA (``/var/run/secrets/kubernetes.io/
    serviceaccount/``). The token file is re-read (at most once a minute, by the
    ``kubernetes`` package's loader) so a rotated token is used. Chosen when the config
    says ``serviceAccount: true``, or names no ``host``/``port`` while the environment
    is a pod's.
``kubeconfig``
    Outside a cluster: the server, CA, client certificate or token of a kubeconfig
    context (``kubeconfig``, ``kubeconfigContext``).

Credentials are read with the ``kubernetes`` package (imported only for these two
ways: it costs memory); requests go out with treq (:class:`~l5d.k8s.api.ApiClient`).
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from twisted.internet.ssl import Certificate, CertificateOptions, PrivateCertificate
from twisted.internet.ssl import optionsForClientTLS
from twisted.web.iweb import IPolicyForHTTPS
from zope.interface import implementer

from l5d.k8s.api import ApiClient
from l5d.k8s.choice import PROXY, SERVICE_ACCOUNT, Access

__all__ = ["api_client"]

@implementer(IPolicyForHTTPS)
class _ClusterTLS:
    """Verify the API server against the cluster CA (host names and IP SANs), optionally
    presenting a client certificate."""

    def __init__(self, ca_pem: bytes | None, client: PrivateCertificate | None,
                 verify: bool = True) -> None:
        self._ca = Certificate.loadPEM(ca_pem) if ca_pem else None
        self._client = client
        self._verify = verify

    def creatorForNetloc(self, hostname: bytes, port: int) -> Any:
        if not self._verify:
            extra = {"privateKey": self._client.privateKey.original,
                     "certificate": self._client.original} if self._client else {}
            return CertificateOptions(verify=False, **extra)
        return optionsForClientTLS(hostname.decode("ascii"), trustRoot=self._ca,
                                   clientCertificate=self._client)


def _read(path: str | None) -> bytes | None:
    if not path:
        return None
    with open(path, "rb") as f:
        return f.read()


def _bearer(cfg: Any) -> str | None:
    hook = getattr(cfg, "refresh_api_key_hook", None)
    if hook is not None:
        hook(cfg)  # re-reads a rotated token (the loader decides how often)
    value = (cfg.api_key or {}).get("BearerToken") or (cfg.api_key or {}).get("authorization")
    if not value:
        return None
    kind, _, token = value.partition(" ")
    return (token if kind.lower() == "bearer" else value).strip() or None


def api_client(reactor: Any, access: Access, env: Mapping[str, str]) -> ApiClient:
    """An :class:`ApiClient` for ``access``; credentials are loaded now (files read once,
    the token again when it rotates).

    :raises ValueError: when the credentials cannot be loaded (the message says why).
    """
    if access.mode == PROXY:
        return ApiClient(reactor, f"http://{access.host}:{access.port}",
                         description=access.describe())
    from kubernetes.client import Configuration
    from kubernetes.config.config_exception import ConfigException

    cfg = Configuration()
    try:
        if access.mode == SERVICE_ACCOUNT:
            from kubernetes.config.incluster_config import InClusterConfigLoader

            InClusterConfigLoader(os.path.join(access.account_dir, "token"),
                                  os.path.join(access.account_dir, "ca.crt"),
                                  try_refresh_token=True, environ=dict(env)).load_and_set(cfg)
        else:
            from kubernetes.config.kube_config import load_kube_config

            load_kube_config(config_file=access.kubeconfig, context=access.context,
                             client_configuration=cfg, persist_config=False)
    except (ConfigException, OSError) as err:
        raise ValueError(f"Kubernetes API credentials ({access.describe()}): {err}") from None
    client = None
    if cfg.cert_file and cfg.key_file:
        client = PrivateCertificate.loadPEM(_read(cfg.cert_file) + b"\n" + _read(cfg.key_file))
    tls = _ClusterTLS(_read(cfg.ssl_ca_cert), client, verify=bool(cfg.verify_ssl))
    return ApiClient(reactor, cfg.host, tls=tls, token=lambda: _bearer(cfg),
                     description=access.describe())
