"""What of Linkerd 1.x l5d refuses on purpose, and the message that says so (pure).

A Linkerd config that names a kind, protocol or key l5d does not implement
gets an error that names the feature and points at ``docs/compat.md``, rather
than "unknown kind" (a typo) or an unknown key under it. The tables are keyed
by the family (the config key the kind is written under) and hold the reason
shown to the user.
"""

from __future__ import annotations

__all__ = ["COMPAT_DOC", "UNSUPPORTED_KEYS", "UNSUPPORTED_KINDS", "UNSUPPORTED_PROTOCOLS",
           "unsupported_key", "unsupported_kind", "unsupported_message"]

COMPAT_DOC = "docs/compat.md"

_NAMERD = "namerd is not part of l5d; use the default interpreter with a dtab"

UNSUPPORTED_PROTOCOLS: dict[str, str] = {
    "h2": "l5d routes HTTP/1.1 only",
    "thrift": "l5d routes HTTP/1.1 only",
    "thriftmux": "l5d routes HTTP/1.1 only",
    "mux": "l5d routes HTTP/1.1 only",
}

UNSUPPORTED_KINDS: dict[str, dict[str, str]] = {
    "namers": {
        "io.l5d.consul": "no Consul namer",
        "io.l5d.marathon": "no Marathon namer",
        "io.l5d.zk": "no ZooKeeper namer",
        "io.l5d.serversets": "no ZooKeeper serversets namer",
        "io.l5d.zkLeader": "no ZooKeeper leader namer",
        "io.l5d.curator": "no ZooKeeper (Curator) namer",
        "io.l5d.dnssrv": "no DNS SRV namer",
        "io.l5d.k8s.external": "no namer for Kubernetes LoadBalancer services",
        "io.l5d.namerd": _NAMERD,
        "io.l5d.rancher": "no Rancher namer",
        "io.l5d.etcd": "no etcd namer",
    },
    "interpreter": {
        "io.l5d.namerd": _NAMERD,
        "io.l5d.namerd.http": _NAMERD,
        "io.l5d.mesh": _NAMERD,
        "io.l5d.fs": "no dtab file interpreter; write the dtab in the router or use the "
                     "dtab store",
        "io.l5d.k8s.configMap": "no ConfigMap interpreter; use the dtab store",
        "io.l5d.consul.interpreter": "no Consul interpreter",
    },
    "identifiers": {
        "io.l5d.k8s.istio": "Istio support is not part of l5d",
        "io.l5d.h2.ingress": "l5d routes HTTP/1.1 only",
    },
    "telemetry": {
        "io.l5d.adminMetricsExport": "no metrics export telemeter",
        "io.l5d.commonMetrics": "metrics are always on (no telemeter needed)",
        "io.l5d.usage": "no usage reporting",
        "io.zipkin.http": "no Zipkin HTTP collector telemeter",
        "io.zipkin.kafka": "no Zipkin Kafka collector telemeter",
        "io.l5d.opencensus": "no OpenCensus telemeter",
    },
    "transformers": {
        "io.l5d.k8s.daemonsetNamespaced": "no namespaced DaemonSet transformer",
    },
    "announcers": {},
}

UNSUPPORTED_KEYS: dict[str, str] = {
    "announcers": "l5d announces nothing to service discovery",
    "thriftProtocol": "l5d routes HTTP/1.1 only",
    "thriftMethodInDst": "l5d routes HTTP/1.1 only",
    "h2AccessLog": "l5d routes HTTP/1.1 only",
    "h2AccessLogRollPolicy": "l5d routes HTTP/1.1 only",
    "h2AccessLogAppend": "l5d routes HTTP/1.1 only",
    "h2AccessLogRotateCount": "l5d routes HTTP/1.1 only",
    "announce": "l5d announces nothing to service discovery",
    "requestAuthorizers": "Istio support is not part of l5d",
    "security": "l5d's admin has its own protection: a token for writes, readOnly, "
                "allowedHosts",
    "httpIdentifierPort": "no identifier test listener; use the admin's delegator",
    "timestampHeader": "no timestamp header",
    "streamingEnabled": "l5d always streams bodies above streamAfterContentLengthKB",
    "maxResponseKB": "removed in Linkerd 1.7; l5d streams responses of any size",
    "maxChunkKB": "removed in Linkerd 1.6",
}


#: keys Linkerd itself renamed: the old name is an error that gives the new one
RENAMED_KEYS: dict[str, str] = {
    "baseDtab": "dtab",
}


def unsupported_message(what: str, reason: str) -> str:
    """``kind "io.l5d.consul" is not supported by l5d (no Consul namer; see docs/compat.md)``."""
    return f"{what} is not supported by l5d ({reason}; see {COMPAT_DOC})"


def unsupported_kind(family: str, kind: str) -> str | None:
    """The message for a known Linkerd kind l5d does not implement, or ``None``."""
    reason = UNSUPPORTED_KINDS.get(family, {}).get(kind)
    return None if reason is None else unsupported_message(f'kind "{kind}"', reason)


def unsupported_key(key: str) -> str | None:
    """The message for a known Linkerd key l5d does not implement (or an old name of a
    key), or ``None``."""
    new = RENAMED_KEYS.get(key)
    if new is not None:
        return (f'key "{key}" is the name Linkerd 0.x used for "{new}"; write "{new}" '
                f'(see {COMPAT_DOC})')
    reason = UNSUPPORTED_KEYS.get(key)
    return None if reason is None else unsupported_message(f'key "{key}"', reason)
