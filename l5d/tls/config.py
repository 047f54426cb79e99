"""The ``tls`` objects of servers, clients and the admin server (pure).

Linkerd 1.x's keys (``linkerd/docs/server.md`` "Server TLS", ``client.md`` "Client
TLS"), read into frozen values; nothing here opens a file. A server's ``tls``::

    tls:
      certPath: /certs/tls.crt          # PEM certificate (required)
      keyPath: /certs/tls.key           # PEM private key, PKCS#8 or traditional (required)
      intermediateCertsPath: /certs/chain.pem   # PEM certificates sent after ours
      caCertPath: /certs/ca.crt         # CAs that sign client certificates
      requireClientAuth: true           # mutual TLS: refuse clients without a good one
      ciphers: [ECDHE-RSA-AES128-GCM-SHA256]    # OpenSSL names (default: OpenSSL's)
      enabledProtocols: [TLSv1.2, TLSv1.3]      # (Linkerd's ``protocols`` is read too)

A client's ``tls`` (per client, or per ``io.l5d.static`` prefix, where ``{var}``
captures of the prefix may be used in ``commonName``)::

    tls:
      commonName: "{service}.linkerd"   # the name the server's certificate must carry
      trustCerts: [/certs/ca.crt]       # CAs trusted (default: the system's)
      trustCertsBundle: /certs/bundle.pem
      clientAuth: {certPath: ..., keyPath: ..., intermediateCertsPath: ...}
      disableValidation: false          # true: no check of the server at all
      enabledProtocols: [TLSv1.3]
      enabled: true                     # false: this prefix goes plaintext
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

from l5d.config._check import require
from l5d.config._fields import REQUIRED, Fields
from l5d.config._kinds import make
from l5d.router.pathmatch import substitute

__all__ = [
    "ClientAuthConfig", "ClientTlsConfig", "PROTOCOLS", "ServerTlsConfig",
    "read_client_tls", "read_server_tls",
]

#: ``enabledProtocols`` values, in order (OpenSSL's names, as Java's)
PROTOCOLS = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")


def _check_protocols(value: object) -> None:
    require(value is None or (isinstance(value, tuple) and value
                              and all(p in PROTOCOLS for p in value)),
            "enabled_protocols", value, f"None or a non-empty tuple of {', '.join(PROTOCOLS)}")


def _check_path(name: str, value: object, optional: bool = False) -> None:
    require((optional and value is None) or (isinstance(value, str) and value != ""),
            name, value, "a file name" + (" or None" if optional else ""))


@dataclass(frozen=True, slots=True)
class ServerTlsConfig:
    """A server's (or the admin server's) ``tls``.

    :param cert_path: ``certPath``: our certificate (PEM).
    :param key_path: ``keyPath``: its private key (PEM; PKCS#8 as Linkerd, or traditional).
    :param intermediate_certs_path: ``intermediateCertsPath``: PEM certificates sent after
        ours (the chain up to the CA).
    :param ca_cert_path: ``caCertPath``: the CAs client certificates must chain to.
    :param require_client_auth: ``requireClientAuth``: refuse a client without a certificate
        signed by ``caCertPath``'s CAs (mutual TLS).
    :param ciphers: ``ciphers``: OpenSSL cipher names (TLS 1.2 and below); ``None``: OpenSSL's.
    :param enabled_protocols: ``enabledProtocols``: the versions allowed (``None``: TLS 1.2
        and 1.3).
    """

    cert_path: str
    key_path: str
    intermediate_certs_path: str | None = None
    ca_cert_path: str | None = None
    require_client_auth: bool = False
    ciphers: tuple[str, ...] | None = None
    enabled_protocols: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        _check_path("cert_path", self.cert_path)
        _check_path("key_path", self.key_path)
        _check_path("intermediate_certs_path", self.intermediate_certs_path, optional=True)
        _check_path("ca_cert_path", self.ca_cert_path, optional=True)
        require(isinstance(self.require_client_auth, bool), "require_client_auth",
                self.require_client_auth, "a boolean")
        if self.require_client_auth and self.ca_cert_path is None:
            raise ValueError("requireClientAuth: needs caCertPath (the CAs that sign "
                             "client certificates)")
        require(self.ciphers is None or (isinstance(self.ciphers, tuple) and self.ciphers
                                         and all(isinstance(c, str) and c for c in self.ciphers)),
                "ciphers", self.ciphers, "None or a non-empty tuple of cipher names")
        _check_protocols(self.enabled_protocols)

    @property
    def files(self) -> tuple[str, ...]:
        """Every file this config reads (watched for rotation)."""
        return tuple(p for p in (self.cert_path, self.key_path, self.intermediate_certs_path,
                                 self.ca_cert_path) if p is not None)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"certPath": self.cert_path, "keyPath": self.key_path}
        if self.intermediate_certs_path is not None:
            out["intermediateCertsPath"] = self.intermediate_certs_path
        if self.ca_cert_path is not None:
            out["caCertPath"] = self.ca_cert_path
        out["requireClientAuth"] = self.require_client_auth
        if self.ciphers is not None:
            out["ciphers"] = list(self.ciphers)
        if self.enabled_protocols is not None:
            out["enabledProtocols"] = list(self.enabled_protocols)
        return out


@dataclass(frozen=True, slots=True)
class ClientAuthConfig:
    """``clientAuth``: the certificate a client shows a server that asks for one."""

    cert_path: str
    key_path: str
    intermediate_certs_path: str | None = None

    def __post_init__(self) -> None:
        _check_path("cert_path", self.cert_path)
        _check_path("key_path", self.key_path)
        _check_path("intermediate_certs_path", self.intermediate_certs_path, optional=True)

    def to_json(self) -> dict[str, Any]:
        out = {"certPath": self.cert_path, "keyPath": self.key_path}
        if self.intermediate_certs_path is not None:
            out["intermediateCertsPath"] = self.intermediate_certs_path
        return out


@dataclass(frozen=True, slots=True)
class ClientTlsConfig:
    """A client's ``tls``. Off unless written (Linkerd's default).

    :param common_name: ``commonName``: the name the server's certificate must carry
        (a DNS subjectAltName, or its CN when it has none); may hold ``{var}``
        captures of an ``io.l5d.static`` prefix, filled in by :meth:`bound`. Required
        unless ``disable_validation``. Also sent as SNI.
    :param disable_validation: ``disableValidation``: accept any certificate (no CA, no
        name, no date check). Not with ``client_auth`` (as Linkerd).
    :param trust_certs: ``trustCerts``: PEM files of the CAs trusted; with
        ``trust_certs_bundle`` empty too, the system's CAs.
    :param trust_certs_bundle: ``trustCertsBundle``: one PEM file of trusted CAs.
    :param client_auth: ``clientAuth``: our certificate for mutual TLS.
    :param enabled_protocols: ``enabledProtocols`` (Linkerd: ``protocols``).
    :param enabled: ``enabled``: ``false`` turns TLS off for the clients this entry matches.
    """

    common_name: str | None = None
    disable_validation: bool = False
    trust_certs: tuple[str, ...] = ()
    trust_certs_bundle: str | None = None
    client_auth: ClientAuthConfig | None = None
    enabled_protocols: tuple[str, ...] | None = None
    enabled: bool = True

    def __post_init__(self) -> None:
        require(self.common_name is None or (isinstance(self.common_name, str)
                                             and self.common_name != ""),
                "common_name", self.common_name, "None or a name")
        require(isinstance(self.disable_validation, bool), "disable_validation",
                self.disable_validation, "a boolean")
        require(isinstance(self.enabled, bool), "enabled", self.enabled, "a boolean")
        require(isinstance(self.trust_certs, tuple)
                and all(isinstance(p, str) and p for p in self.trust_certs),
                "trust_certs", self.trust_certs, "a tuple of file names")
        _check_path("trust_certs_bundle", self.trust_certs_bundle, optional=True)
        require(self.client_auth is None or isinstance(self.client_auth, ClientAuthConfig),
                "client_auth", self.client_auth, "None or a ClientAuthConfig")
        _check_protocols(self.enabled_protocols)
        if self.enabled and not self.disable_validation and self.common_name is None:
            raise ValueError("commonName: required unless disableValidation is true "
                             "(the name the server's certificate must carry)")
        if self.disable_validation and self.client_auth is not None:
            raise ValueError("disableValidation: cannot be used with clientAuth (as Linkerd)")

    @property
    def files(self) -> tuple[str, ...]:
        """Every file this config reads (watched for rotation)."""
        out = list(self.trust_certs)
        if self.trust_certs_bundle is not None:
            out.append(self.trust_certs_bundle)
        if self.client_auth is not None:
            out += [self.client_auth.cert_path, self.client_auth.key_path]
            if self.client_auth.intermediate_certs_path is not None:
                out.append(self.client_auth.intermediate_certs_path)
        return tuple(out)

    def bound(self, captures: Mapping[str, str]) -> "ClientTlsConfig":
        """This config with ``{var}`` in ``commonName`` replaced by the prefix's captures
        (Linkerd's ``TlsClientConfig`` with ``PathMatcher.substitute``)."""
        if self.common_name is None or "{" not in self.common_name:
            return self
        return replace(self, common_name=substitute(captures, self.common_name))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"enabled": self.enabled}
        if self.common_name is not None:
            out["commonName"] = self.common_name
        out["disableValidation"] = self.disable_validation
        if self.trust_certs:
            out["trustCerts"] = list(self.trust_certs)
        if self.trust_certs_bundle is not None:
            out["trustCertsBundle"] = self.trust_certs_bundle
        if self.client_auth is not None:
            out["clientAuth"] = self.client_auth.to_json()
        if self.enabled_protocols is not None:
            out["enabledProtocols"] = list(self.enabled_protocols)
        return out


def _strings(f: Fields, key: str) -> tuple[str, ...] | None:
    items = f.sequence(key, None)
    if items is None:
        return None
    out = []
    for node, path in items:
        if not isinstance(node.value, str) or not node.value:
            raise f.ctx.error("expected a non-empty string", path, node)
        out.append(node.value)
    return tuple(out)


def _protocols(f: Fields) -> tuple[str, ...] | None:
    """``enabledProtocols``, or Linkerd's ``protocols`` (not both)."""
    if f.written("enabledProtocols") and f.written("protocols"):
        raise f.error('write "enabledProtocols" or "protocols", not both', "protocols",
                      at_key=True)
    key = "protocols" if f.written("protocols") else "enabledProtocols"
    items = f.sequence(key, None, non_empty=True)
    if items is None:
        return None
    for node, path in items:
        if node.value not in PROTOCOLS:
            raise f.ctx.error(f"unknown protocol {node.value!r} (known: {', '.join(PROTOCOLS)})",
                              path, node)
    return tuple(node.value for node, _ in items)


def read_server_tls(f: Fields) -> ServerTlsConfig:
    """A server's or the admin's ``tls`` object."""
    f.expect("certPath", "keyPath", "intermediateCertsPath", "caCertPath", "requireClientAuth",
             "ciphers", "enabledProtocols", "protocols")
    return make(
        f, ServerTlsConfig,
        cert_path=f.string("certPath", REQUIRED),
        key_path=f.string("keyPath", REQUIRED),
        intermediate_certs_path=f.string("intermediateCertsPath", None),
        ca_cert_path=f.string("caCertPath", None),
        require_client_auth=f.boolean("requireClientAuth", False),
        ciphers=_strings(f, "ciphers"),
        enabled_protocols=_protocols(f),
    )


def read_client_tls(f: Fields) -> ClientTlsConfig:
    """A client's (or a static client entry's) ``tls`` object."""
    f.expect("commonName", "disableValidation", "trustCerts", "trustCertsBundle", "clientAuth",
             "enabledProtocols", "protocols", "enabled")
    auth_fields = f.mapping("clientAuth")
    auth = None
    if auth_fields is not None:
        auth_fields.expect("certPath", "keyPath", "intermediateCertsPath")
        auth = make(auth_fields, ClientAuthConfig,
                     cert_path=auth_fields.string("certPath", REQUIRED),
                     key_path=auth_fields.string("keyPath", REQUIRED),
                     intermediate_certs_path=auth_fields.string("intermediateCertsPath", None))
    return make(
        f, ClientTlsConfig,
        common_name=f.string("commonName", None),
        disable_validation=f.boolean("disableValidation", False),
        trust_certs=_strings(f, "trustCerts") or (),
        trust_certs_bundle=f.string("trustCertsBundle", None),
        client_auth=auth,
        enabled_protocols=_protocols(f),
        enabled=f.boolean("enabled", True),
    )
