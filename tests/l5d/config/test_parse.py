"""parse_config: defaults for every key, every key set, JSON input, to_json round trips."""

from __future__ import annotations

import json
import textwrap

import pytest

from dtab import Dtab, Path
from l5d.config import (
    AdminConfig,
    BindingCacheConfig,
    ClientPolicy,
    FsNamerConfig,
    GlobalClientConfig,
    GlobalServiceConfig,
    HeaderIdentifierConfig,
    HeaderTokenIdentifierConfig,
    InterpreterConfig,
    LinkerConfig,
    MethodAndHostIdentifierConfig,
    PathIdentifierConfig,
    RouterConfig,
    ServerConfig,
    ServicePolicy,
    StaticIdentifierConfig,
    UsageConfig,
    parse_config,
)

MINIMAL = """
routers:
- protocol: http
  servers:
  - {}
"""

FULL = """
admin:
  ip: 0.0.0.0
  port: 9991
  shutdownGraceMs: 2500
namers:
- kind: io.l5d.fs
  rootDir: /etc/disco
  prefix: /disco
  experimental: true
  transformers: []
telemetry: []
usage:
  orgId: acme
  enabled: false
routers:
- protocol: http
  label: outgoing
  dtab: |
    /svc => /#/disco;
    /svc/world => /$/inet/127.0.0.1/7778;
  dstPrefix: /http
  identifier:
  - kind: io.l5d.path
    segments: 2
    consume: true
  - kind: io.l5d.header
    header: x-name
  - kind: io.l5d.methodAndHost
    httpUriInDst: true
  - kind: io.l5d.static
    path: /svc/fallback
  - kind: io.l5d.header.token
    header: x-host
  interpreter:
    kind: default
    transformers: []
  bindingTimeoutMs: 1500
  bindingCache:
    paths: 1
    trees: 2
    bounds: 3
    clients: 4
    idleTtlSecs: 60
  maxHeadersKB: 16
  maxInitialLineKB: 2
  maxErrResponseKB: 64
  streamAfterContentLengthKB: 10
  tracePropagator:
    kind: io.l5d.zipkin
  servers:
  - port: 4140
    ip: 0.0.0.0
    maxCallDepth: 7
    clearContext: true
  - port: 0
"""


def parse(text: str) -> LinkerConfig:
    return parse_config(textwrap.dedent(text), "linkerd.yaml")


class DefaultsTests:
    """Every key left out takes Linkerd 1.7's default."""

    def setup_method(self) -> None:
        self.config = parse(MINIMAL)
        self.router = self.config.routers[0]

    def test_admin_defaults(self) -> None:
        """admin: 127.0.0.1:9990, shutdownGraceMs 10000 (10 s)."""
        assert self.config.admin == AdminConfig(ip="127.0.0.1", port=9990, shutdown_grace_s=10.0)

    def test_top_level_lists_default_to_empty(self) -> None:
        """namers and telemetry default to empty tuples."""
        assert self.config.namers == () and self.config.telemetry == ()

    def test_usage_defaults(self) -> None:
        """usage: no orgId, enabled true (accepted, never acted on)."""
        assert self.config.usage == UsageConfig(org_id=None, enabled=True)

    def test_server_defaults(self) -> None:
        """servers[j]: 127.0.0.1:4140, maxCallDepth 1000, clearContext false."""
        assert self.router.servers == (
            ServerConfig(port=4140, ip="127.0.0.1", max_call_depth=1000, clear_context=False),
        )

    def test_router_scalar_defaults(self) -> None:
        """label = protocol, /svc, 10 s binding timeout and the KB limits."""
        r = self.router
        assert (r.protocol, r.label, r.dst_prefix) == ("http", "http", Path.read("/svc"))
        assert r.binding_timeout_s == 10.0
        assert (r.max_headers_kb, r.max_initial_line_kb) == (8, 4)
        assert (r.max_err_response_kb, r.stream_after_content_length_kb) == (5120, 5)

    def test_router_dtab_defaults_to_empty(self) -> None:
        """No dtab key means the empty dtab and empty text."""
        assert self.router.dtab == Dtab() and self.router.dtab_text == ""

    def test_identifier_default_is_host_header_token(self) -> None:
        """identifier defaults to [{kind: io.l5d.header.token, header: Host}]."""
        assert self.router.identifiers == (HeaderTokenIdentifierConfig(header="Host"),)

    def test_interpreter_default(self) -> None:
        """interpreter defaults to {kind: default} with no transformers."""
        assert self.router.interpreter == InterpreterConfig(kind="default", transformers=())

    def test_binding_cache_defaults(self) -> None:
        """bindingCache: 1000 of each, idleTtlSecs 600."""
        assert self.router.binding_cache == BindingCacheConfig(1000, 1000, 1000, 1000, 600.0)

    @pytest.mark.parametrize(
        "text, expected",
        [
            ("{kind: io.l5d.header.token}", HeaderTokenIdentifierConfig("Host")),
            ("{kind: io.l5d.header}", HeaderIdentifierConfig("l5d-name")),
            ("{kind: io.l5d.methodAndHost}", MethodAndHostIdentifierConfig(False)),
            ("{kind: io.l5d.path}", PathIdentifierConfig(segments=1, consume=False)),
        ],
        ids=lambda v: v if isinstance(v, str) else "",
    )
    def test_identifier_kind_defaults(self, text: str, expected: object) -> None:
        """Each identifier kind's own defaults."""
        config = parse(f"routers: [{{protocol: http, identifier: {text}, servers: [{{}}]}}]")
        assert config.routers[0].identifiers == (expected,)

    def test_fs_namer_defaults(self) -> None:
        """io.l5d.fs: prefix io.l5d.fs (so /#/io.l5d.fs), not experimental, no transformers."""
        config = parse(MINIMAL + "namers:\n- kind: io.l5d.fs\n  rootDir: disco\n")
        assert config.namers == (FsNamerConfig(root_dir="disco"),)
        namer = config.namers[0]
        assert namer.prefix == Path.read("/io.l5d.fs") and namer.experimental is False
        assert namer.dtab_prefix == Path.read("/#/io.l5d.fs")

    def test_null_values_take_the_default(self) -> None:
        """``key:`` with no value (null) means the default, as with Linkerd's Option fields."""
        config = parse(MINIMAL + "admin:\nnamers:\nusage: {orgId: }\n")
        assert config.admin == AdminConfig() and config.namers == ()
        assert config.usage == UsageConfig()


class FullConfigTests:
    """Every implemented key, set to a non-default value, lands on the right attribute."""

    def setup_method(self) -> None:
        self.config = parse(FULL)
        self.router = self.config.routers[0]

    def test_admin(self) -> None:
        """admin keys map to snake_case attributes with seconds."""
        assert self.config.admin == AdminConfig(ip="0.0.0.0", port=9991, shutdown_grace_s=2.5)

    def test_namer(self) -> None:
        """io.l5d.fs with every key set."""
        assert self.config.namers == (
            FsNamerConfig(root_dir="/etc/disco", prefix=Path.read("/disco"), experimental=True),
        )
        assert self.config.namers[0].dtab_prefix == Path.read("/#/disco")

    def test_usage(self) -> None:
        """usage keys are kept."""
        assert self.config.usage == UsageConfig(org_id="acme", enabled=False)

    def test_router_scalars(self) -> None:
        """label, dstPrefix, timeouts and size limits."""
        r = self.router
        assert (r.label, r.dst_prefix, r.binding_timeout_s) == ("outgoing", Path.read("/http"), 1.5)
        assert (r.max_headers_kb, r.max_initial_line_kb) == (16, 2)
        assert (r.max_err_response_kb, r.stream_after_content_length_kb) == (64, 10)
        assert r.binding_cache == BindingCacheConfig(1, 2, 3, 4, 60.0)

    def test_router_dtab_is_parsed_and_its_text_kept(self) -> None:
        """The dtab is a Dtab; the text as written is kept beside it."""
        assert self.router.dtab == Dtab.read(
            "/svc=>/#/disco;/svc/world=>/$/inet/127.0.0.1/7778"
        )
        assert self.router.dtab_text == (
            "/svc => /#/disco;\n/svc/world => /$/inet/127.0.0.1/7778;\n"
        )

    def test_identifier_list_in_order(self) -> None:
        """A list of identifiers keeps its order and every kind's keys."""
        assert self.router.identifiers == (
            PathIdentifierConfig(segments=2, consume=True),
            HeaderIdentifierConfig(header="x-name"),
            MethodAndHostIdentifierConfig(http_uri_in_dst=True),
            StaticIdentifierConfig(path=Path.read("/svc/fallback")),
            HeaderTokenIdentifierConfig(header="x-host"),
        )

    def test_servers(self) -> None:
        """Both servers, the second with port 0 and defaults."""
        assert self.router.servers == (
            ServerConfig(port=4140, ip="0.0.0.0", max_call_depth=7, clear_context=True),
            ServerConfig(port=0),
        )


class InputFormTests:
    """Alternative spellings that mean the same config."""

    def test_single_identifier_object_is_a_list_of_one(self) -> None:
        """identifier may be one object instead of a list."""
        one = parse("routers: [{protocol: http, identifier: {kind: io.l5d.path}, servers: [{}]}]")
        many = parse(
            "routers: [{protocol: http, identifier: [{kind: io.l5d.path}], servers: [{}]}]"
        )
        assert one == many

    def test_namer_prefix_with_or_without_slash(self) -> None:
        """prefix: disco and prefix: /disco are the same path."""
        a = parse(MINIMAL + "namers: [{kind: io.l5d.fs, rootDir: d, prefix: disco}]")
        b = parse(MINIMAL + "namers: [{kind: io.l5d.fs, rootDir: d, prefix: /disco}]")
        assert a == b and a.namers[0].prefix == Path.read("/disco")

    def test_ip_addresses_are_normalised(self) -> None:
        """An IPv6 address is stored in its compressed form."""
        config = parse("routers: [{protocol: http, servers: [{ip: '0:0::1'}]}]")
        assert config.routers[0].servers[0].ip == "::1"

    def test_json_input(self) -> None:
        """A JSON document (tabs included) parses like the same YAML."""
        doc = {"admin": {"port": 9991}, "routers": [{"protocol": "http", "servers": [{}]}]}
        text = json.dumps(doc, indent="\t")
        assert "\t" in text
        assert parse_config(text) == parse("admin: {port: 9991}\n" + MINIMAL)

    def test_anchors_and_aliases(self) -> None:
        """YAML aliases are followed (one server definition shared by two routers)."""
        config = parse(
            """
            routers:
            - protocol: http
              servers: &srv [{port: 0}]
            - protocol: http
              label: other
              servers: *srv
            """
        )
        assert config.routers[0].servers == config.routers[1].servers == (ServerConfig(port=0),)

    def test_label_defaults_per_router(self) -> None:
        """Each router's label defaults to its protocol unless set."""
        config = parse(MINIMAL + "- protocol: http\n  label: in\n  servers: [{port: 4141}]\n")
        assert [r.label for r in config.routers] == ["http", "in"]


class ToJsonTests:
    """to_json renders Linkerd's camelCase keys with every default, and reads back equal."""

    def test_minimal_to_json_has_every_default(self) -> None:
        """The exact JSON of the minimal config."""
        assert parse(MINIMAL).to_json() == {
            "admin": {"ip": "127.0.0.1", "port": 9990, "shutdownGraceMs": 10000,
                      "metricsSnapshotIntervalMs": 60000, "tokenEnv": "L5D_ADMIN_TOKEN",
                      "readOnly": False, "allowedHosts": []},
            "routers": [
                {
                    "protocol": "http",
                    "label": "http",
                    "servers": [
                        {"port": 4140, "ip": "127.0.0.1", "maxCallDepth": 1000,
                         "clearContext": False, "serverSession": {"idleTimeMs": 120000},
                         "headerTimeoutMs": 10000, "bodyIdleTimeMs": 60000, "sendTimeoutMs": 60000}
                    ],
                    "dtab": "",
                    "dstPrefix": "/svc",
                    "identifier": [{"kind": "io.l5d.header.token", "header": "Host"}],
                    "interpreter": {"kind": "default", "transformers": []},
                    "bindingTimeoutMs": 10000,
                    "bindingCache": {"paths": 1000, "trees": 1000, "bounds": 1000,
                                     "clients": 1000, "idleTtlSecs": 600},
                    "maxHeadersKB": 8,
                    "maxInitialLineKB": 4,
                    "maxErrResponseKB": 5120,
                    "streamAfterContentLengthKB": 5,
                    "maxRequestKB": 2097152,
                    "service": {"kind": "io.l5d.global"},
                    "client": {"kind": "io.l5d.global"},
                    "tracePropagator": {"kind": "io.l5d.default"},
                    "experimental": False,
                    "originator": False,
                    "compressionLevel": -1,
                }
            ],
            "namers": [],
            "telemetry": [],
            "usage": {"enabled": True},
            "dtabStore": {"kind": "io.l5d.inMemory", "historySize": 20},
            "configReload": {"watch": False, "intervalMs": 2000},
            "workers": "auto",
        }

    @pytest.mark.parametrize("text", [MINIMAL, FULL], ids=["minimal", "full"])
    def test_round_trip(self, text: str) -> None:
        """parse(json.dumps(cfg.to_json())) == cfg."""
        config = parse(text)
        assert parse_config(json.dumps(config.to_json())) == config

    def test_round_trip_is_a_fixpoint(self) -> None:
        """Rendering the re-parsed config gives the same JSON again."""
        once = parse(FULL).to_json()
        assert parse_config(json.dumps(once)).to_json() == once

    def test_namer_json(self) -> None:
        """A namer renders its common keys and its own."""
        config = parse(FULL)
        assert config.namers[0].to_json() == {
            "kind": "io.l5d.fs", "prefix": "/disco", "experimental": True,
            "transformers": [], "rootDir": "/etc/disco",
        }

    def test_usage_json_includes_org_id_when_set(self) -> None:
        """orgId appears only when set."""
        assert parse(FULL).usage.to_json() == {"enabled": False, "orgId": "acme"}


class ModelTests:
    """The dataclasses check their own fields and are immutable."""

    def test_frozen(self) -> None:
        """Assigning to a config attribute fails."""
        config = parse(MINIMAL)
        with pytest.raises(AttributeError):
            config.admin.port = 1  # type: ignore[misc]

    @pytest.mark.parametrize(
        "make, message",
        [
            (lambda: ServerConfig(port=70000), "port: expected a port number (0-65535), got 70000"),
            (lambda: AdminConfig(port=True), "port: expected a port number (0-65535), got True"),
            (lambda: PathIdentifierConfig(segments=0), "segments: expected an integer >= 1, got 0"),
            (lambda: RouterConfig(protocol="h2", servers=(ServerConfig(),)),
             "protocol: expected http, got 'h2'"),
            (lambda: RouterConfig(protocol="http", servers=()),
             "servers: expected a non-empty tuple, got ()"),
            (lambda: FsNamerConfig(root_dir=""), "root_dir: expected a non-empty string, got ''"),
        ],
        ids=["port", "bool-port", "segments", "protocol", "servers", "root-dir"],
    )
    def test_post_init_rejects_bad_values(self, make, message: str) -> None:
        """ValueError names the field and the bad value."""
        with pytest.raises(ValueError) as info:
            make()
        assert str(info.value) == message

    def test_router_label_defaults_to_protocol_in_code(self) -> None:
        """A RouterConfig built in code gets label = protocol too."""
        assert RouterConfig(protocol="http", servers=(ServerConfig(),)).label == "http"

    def test_dtab_text_does_not_affect_equality(self) -> None:
        """Two routers differing only in how the dtab was written are equal."""
        a = parse("routers: [{protocol: http, dtab: '/a => /b', servers: [{}]}]")
        b = parse("routers: [{protocol: http, dtab: \"/a=>/b;\", servers: [{}]}]")
        assert a == b and a.routers[0].dtab_text != b.routers[0].dtab_text


class ServiceAndClientTests:
    """service/client of kind io.l5d.global with Linkerd's timeout keys (kind may be left out)."""

    CASES = [
        ("absent", "", None, None),
        ("empty", "service: {}\n  client: {}", None, None),
        ("kind-only", "service: {kind: io.l5d.global}\n  client: {kind: io.l5d.global}",
         None, None),
        ("total", "service: {kind: io.l5d.global, totalTimeoutMs: 1500}", 1.5, None),
        ("attempt", "client: {requestAttemptTimeoutMs: 250}", None, 0.25),
        ("both", "service: {totalTimeoutMs: 60000}\n  client: {requestAttemptTimeoutMs: 1}",
         60.0, 0.001),
    ]

    @pytest.mark.parametrize("name, yaml, total_s, attempt_s", CASES, ids=[c[0] for c in CASES])
    def test_read(self, name: str, yaml: str, total_s, attempt_s) -> None:
        """The timeouts in seconds (None: no limit), and back to the same JSON."""
        text = "routers:\n- protocol: http\n  servers: [{}]\n  " + yaml + "\n"
        router = parse_config(text, "linkerd.yaml").routers[0]
        assert router.service == GlobalServiceConfig(ServicePolicy(total_timeout_s=total_s)), name
        assert router.client == GlobalClientConfig(
            ClientPolicy(request_attempt_timeout_s=attempt_s)), name
        assert (router.service.total_timeout_s, router.client.request_attempt_timeout_s) == (
            total_s, attempt_s), name
        again = parse_config(json.dumps(parse_config(text).to_json()))
        assert again.routers[0] == router

    def test_json(self) -> None:
        """The keys appear only when set."""
        assert GlobalServiceConfig().to_json() == {"kind": "io.l5d.global"}
        assert GlobalServiceConfig(ServicePolicy(total_timeout_s=0.5)).to_json() == {
            "kind": "io.l5d.global", "totalTimeoutMs": 500}
        assert GlobalClientConfig(ClientPolicy(request_attempt_timeout_s=2.0)).to_json() == {
            "kind": "io.l5d.global", "requestAttemptTimeoutMs": 2000}

    @pytest.mark.parametrize("make, message", [
        (lambda: GlobalServiceConfig(ServicePolicy(prefix="/svc")),
         "policy: expected a ServicePolicy with prefix \"/\", got "
         "ServicePolicy(prefix='/svc', total_timeout_s=None, retries=None, "
         "response_classifier=None)"),
        (lambda: ServicePolicy(total_timeout_s=0),
         "total_timeout_s: expected None or seconds > 0, got 0"),
        (lambda: ClientPolicy(request_attempt_timeout_s=-1.0),
         "request_attempt_timeout_s: expected None or seconds > 0, got -1.0"),
    ], ids=["global-prefix", "zero", "negative"])
    def test_post_init(self, make, message: str) -> None:
        """Built in code, bad values are ValueErrors naming the field."""
        with pytest.raises(ValueError) as info:
            make()
        assert str(info.value) == message
