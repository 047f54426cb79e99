"""The ``tls`` keys of servers, clients (global and per prefix) and the admin (pure)."""

from __future__ import annotations

import pytest

from dtab import Path
from l5d.config import ConfigError, parse_config
from l5d.tls.config import ClientAuthConfig, ClientTlsConfig, ServerTlsConfig


def parse(client: str = "", server: str = "", admin: str = "") -> object:
    text = (f"admin: {{port: 9990{admin}}}\nrouters:\n- protocol: http\n"
            f"  client: {client or '{}'}\n"
            f"  servers:\n  - port: 4141{server}\n")
    return parse_config(text)


class ServerTlsTests:
    """Server and admin ``tls``: every key, its default, and the errors."""

    def test_every_key(self) -> None:
        """All of Linkerd's server keys, read into the value."""
        cfg = parse(server="\n    tls: {certPath: /c.pem, keyPath: /k.pem, caCertPath: /ca.pem,"
                           " requireClientAuth: true, intermediateCertsPath: /i.pem,"
                           " ciphers: [ECDHE-RSA-AES128-GCM-SHA256],"
                           " enabledProtocols: [TLSv1.3, TLSv1.2]}")
        assert cfg.routers[0].servers[0].tls == ServerTlsConfig(
            "/c.pem", "/k.pem", "/i.pem", "/ca.pem", True,
            ("ECDHE-RSA-AES128-GCM-SHA256",), ("TLSv1.3", "TLSv1.2"))

    def test_defaults_and_admin(self) -> None:
        """Left out: plaintext; with only the two paths: no client auth, OpenSSL's ciphers."""
        assert parse().routers[0].servers[0].tls is None
        assert parse().admin.tls is None
        cfg = parse(admin=", tls: {certPath: /c, keyPath: /k}")
        assert cfg.admin.tls == ServerTlsConfig("/c", "/k")
        assert cfg.to_json()["admin"]["tls"] == {"certPath": "/c", "keyPath": "/k",
                                                 "requireClientAuth": False}

    def test_linkerd_protocols_key(self) -> None:
        """Linkerd's ``protocols`` is read as ``enabledProtocols``."""
        cfg = parse(server="\n    tls: {certPath: /c, keyPath: /k, protocols: [TLSv1.2]}")
        assert cfg.routers[0].servers[0].tls.enabled_protocols == ("TLSv1.2",)

    @pytest.mark.parametrize("tls,message", [
        ("{keyPath: /k}", 'routers[0].servers[0].tls: missing required key "certPath"'),
        ("{certPath: /c, keyPath: /k, requireClientAuth: true}",
         "routers[0].servers[0].tls: requireClientAuth: needs caCertPath"),
        ("{certPath: /c, keyPath: /k, enabledProtocols: [SSLv3]}",
         "routers[0].servers[0].tls.enabledProtocols[0]: unknown protocol 'SSLv3'"),
        ("{certPath: /c, keyPath: /k, protocols: [TLSv1.2], enabledProtocols: [TLSv1.2]}",
         'routers[0].servers[0].tls.protocols: write "enabledProtocols" or "protocols"'),
        ("{certPath: /c, keyPath: /k, cert: /x}",
         'routers[0].servers[0].tls.cert: unknown key "cert"'),
    ], ids=["no-cert", "client-auth-without-ca", "bad-protocol", "both-protocol-keys",
            "unknown-key"])
    def test_errors(self, tls: str, message: str) -> None:
        """Each mistake is named with its key path."""
        with pytest.raises(ConfigError) as info:
            parse(server=f"\n    tls: {tls}")
        assert message in str(info.value)


class ClientTlsTests:
    """Client ``tls``: off by default, per prefix, ``{service}`` in ``commonName``."""

    def test_off_by_default(self) -> None:
        """No ``tls``: clients are plaintext."""
        assert parse().routers[0].client.params_for(Path.read("/#/io.l5d.fs/a")).tls is None

    def test_global(self) -> None:
        """Every key, on every client."""
        cfg = parse(client="{tls: {commonName: linkerd, trustCerts: [/ca.pem],"
                           " trustCertsBundle: /b.pem, enabledProtocols: [TLSv1.3],"
                           " clientAuth: {certPath: /c, keyPath: /k}}}")
        assert cfg.routers[0].client.params_for(Path.read("/#/x")).tls == ClientTlsConfig(
            "linkerd", False, ("/ca.pem",), "/b.pem", ClientAuthConfig("/c", "/k"),
            ("TLSv1.3",))

    def test_per_prefix_with_capture(self) -> None:
        """A static entry's ``{service}`` capture fills ``commonName``; an entry with
        ``enabled: false`` turns TLS off for what it matches; others stay plaintext."""
        cfg = parse(client="\n    kind: io.l5d.static\n    configs:\n"
                           "    - prefix: /#/io.l5d.k8s/default/*/{service}\n"
                           "      tls: {commonName: '{service}.default.svc', trustCerts: [/ca]}\n"
                           "    - prefix: /#/io.l5d.k8s/default/*/legacy\n"
                           "      tls: {enabled: false}\n")
        client = cfg.routers[0].client
        tls = client.params_for(Path.read("/#/io.l5d.k8s/default/http/hello/x")).tls
        assert tls.common_name == "hello.default.svc"
        assert client.params_for(Path.read("/#/io.l5d.k8s/default/http/legacy")).tls is None
        assert client.params_for(Path.read("/#/io.l5d.fs/hello")).tls is None

    @pytest.mark.parametrize("tls,message", [
        ("{trustCerts: [/ca]}", "commonName: required unless disableValidation is true"),
        ("{disableValidation: true, clientAuth: {certPath: /c, keyPath: /k}}",
         "disableValidation: cannot be used with clientAuth"),
        ("{commonName: x, clientAuth: {certPath: /c}}",
         'routers[0].client.tls.clientAuth: missing required key "keyPath"'),
        ("{commonName: x, trustCerts: /ca}", "routers[0].client.tls.trustCerts: expected a list"),
    ], ids=["no-name", "no-validation-with-auth", "auth-without-key", "trust-not-a-list"])
    def test_errors(self, tls: str, message: str) -> None:
        """Each mistake is named with its key path."""
        with pytest.raises(ConfigError) as info:
            parse(client=f"{{tls: {tls}}}")
        assert message in str(info.value)

    def test_disable_validation_needs_no_name(self) -> None:
        """``disableValidation: true`` alone is a complete config."""
        cfg = parse(client="{tls: {disableValidation: true}}")
        assert cfg.routers[0].client.params_for(Path()).tls.disable_validation
