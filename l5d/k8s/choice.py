"""Which way to the Kubernetes API a namer or transformer config means (pure).

See :mod:`l5d.k8s.access` for the three ways (kubectl proxy, service account,
kubeconfig). Kept apart from it so that choosing (at build time, for every config)
imports nothing heavy: the HTTP client is loaded only when the API is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

__all__ = ["Access", "DEFAULT_HOST", "DEFAULT_PORT", "KUBECONFIG", "PROXY", "SERVICE_ACCOUNT",
           "SERVICE_ACCOUNT_DIR", "choose"]

DEFAULT_HOST = "localhost"
DEFAULT_PORT = 8001
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
PROXY, SERVICE_ACCOUNT, KUBECONFIG = "kubectlProxy", "serviceAccount", "kubeconfig"


@dataclass(frozen=True, slots=True)
class Access:
    """One resolved way to the API; equal values share one client and one set of watches."""

    mode: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    kubeconfig: str | None = None
    context: str | None = None
    account_dir: str = SERVICE_ACCOUNT_DIR
    #: chosen because the config named no way and the environment is a pod's: when the pod
    #: has no service-account token after all, Linkerd's default (a kubectl proxy on
    #: localhost:8001) is used instead (:meth:`fallback`)
    auto: bool = False

    def fallback(self) -> "Access":
        """Linkerd's default way, for an ``auto`` choice whose credentials are missing."""
        return Access(PROXY)

    def describe(self) -> str:
        if self.mode == PROXY:
            return f"kubectl proxy at http://{self.host}:{self.port}"
        if self.mode == SERVICE_ACCOUNT:
            return f"service account in {self.account_dir}"
        return f"kubeconfig {self.kubeconfig}" + (f" (context {self.context})" if self.context
                                                  else "")


def choose(host: str | None, port: int | None, service_account: bool | None,
           kubeconfig: str | None, context: str | None, env: Mapping[str, str],
           account_dir: str | None = None) -> Access:
    """The way to the API for one namer or transformer config (pure)."""
    if kubeconfig is not None:
        return Access(KUBECONFIG, kubeconfig=kubeconfig, context=context)
    in_pod = bool(env.get("KUBERNETES_SERVICE_HOST"))
    if service_account or account_dir is not None:
        return Access(SERVICE_ACCOUNT, account_dir=account_dir or SERVICE_ACCOUNT_DIR)
    if service_account is None and host is None and port is None and in_pod:
        return Access(SERVICE_ACCOUNT, auto=True)
    return Access(PROXY, host or DEFAULT_HOST, port or DEFAULT_PORT)
