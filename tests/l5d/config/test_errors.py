"""ConfigError: every kind of mistake, with its exact message, file and line."""

from __future__ import annotations

import pickle
from typing import NamedTuple

import pytest

from l5d.config import (
    ConfigError,
    ConflictingLabels,
    ConflictingNamers,
    ConflictingPorts,
    NoRoutersSpecified,
    parse_config,
)


class Case(NamedTuple):
    name: str
    text: str
    error: type
    message: str


CASES = [
    Case(
        'port-not-int',
        'routers:\n- protocol: http\n  servers:\n  - port: 4140\n  - port: 41a0\n',
        ConfigError,
        'linkerd.yaml:5: routers[0].servers[1].port: expected an integer, got "41a0"',
    ),
    Case(
        'port-bool',
        'routers:\n- protocol: http\n  servers:\n  - port: true\n',
        ConfigError,
        'linkerd.yaml:4: routers[0].servers[0].port: expected an integer, got true',
    ),
    Case(
        'port-range',
        'routers:\n- protocol: http\n  servers:\n  - port: 65536\n',
        ConfigError,
        'linkerd.yaml:4: routers[0].servers[0].port: expected a port number (0-65535), got 65536',
    ),
    Case(
        'port-negative',
        'admin:\n  port: -1\nrouters: []\n',
        ConfigError,
        'linkerd.yaml:2: admin.port: expected a port number (0-65535), got -1',
    ),
    Case(
        'bool',
        "routers:\n- protocol: http\n  servers:\n  - clearContext: 'yes'\n",
        ConfigError,
        'linkerd.yaml:4: routers[0].servers[0].clearContext: expected a boolean, got "yes"',
    ),
    Case(
        'string',
        'routers:\n- protocol: http\n  label: [a]\n  servers: [{}]\n',
        ConfigError,
        'linkerd.yaml:3: routers[0].label: expected a string, got a list',
    ),
    Case(
        'string-empty',
        "routers:\n- protocol: http\n  label: ''\n  servers: [{}]\n",
        ConfigError,
        'linkerd.yaml:3: routers[0].label: expected a non-empty string',
    ),
    Case(
        'list',
        'routers:\n  protocol: http\n',
        ConfigError,
        'linkerd.yaml:2: routers: expected a list, got a mapping',
    ),
    Case(
        'list-servers',
        'routers:\n- protocol: http\n  servers: 4140\n',
        ConfigError,
        'linkerd.yaml:3: routers[0].servers: expected a list, got 4140',
    ),
    Case(
        'mapping',
        'admin: 9990\nrouters: []\n',
        ConfigError,
        'linkerd.yaml:1: admin: expected a mapping, got 9990',
    ),
    Case(
        'mapping-item',
        'routers:\n- http\n',
        ConfigError,
        'linkerd.yaml:2: routers[0]: expected a mapping, got "http"',
    ),
    Case(
        'missing-servers',
        'routers:\n- protocol: http\n  label: x\n',
        ConfigError,
        'linkerd.yaml:2: routers[0]: missing required key "servers"',
    ),
    Case(
        'missing-protocol',
        'routers:\n- servers: [{}]\n',
        ConfigError,
        'linkerd.yaml:2: routers[0]: missing required key "protocol"',
    ),
    Case(
        'missing-routers',
        'admin:\n  port: 9990\n',
        NoRoutersSpecified,
        'linkerd.yaml:1: missing required key "routers"',
    ),
    Case(
        'missing-rootdir',
        'namers:\n- kind: io.l5d.fs\nrouters:\n- protocol: http\n  servers: [{}]\n',
        ConfigError,
        'linkerd.yaml:2: namers[0]: missing required key "rootDir"',
    ),
    Case(
        'missing-kind',
        'namers:\n- rootDir: disco\nrouters: []\n',
        ConfigError,
        'linkerd.yaml:2: namers[0]: missing required key "kind"',
    ),
    Case(
        'missing-static-path',
        'routers:\n- protocol: http\n  identifier:\n    kind: io.l5d.static\n  servers: [{}]\n',
        ConfigError,
        'linkerd.yaml:4: routers[0].identifier: missing required key "path"',
    ),
    Case(
        'null-required',
        'routers:\n- protocol:\n  servers: [{}]\n',
        ConfigError,
        'linkerd.yaml:2: routers[0].protocol: expected a string, got null',
    ),
    Case(
        'unknown-top',
        'routers: []\nrouter: []\n',
        ConfigError,
        (
            'linkerd.yaml:2: router: unknown key "router"; did you mean "routers"? (known keys: '
            'admin, configReload, dtabStore, namers, routers, telemetry, usage, workers)'
        ),
    ),
    Case(
        'unknown-server',
        'routers:\n- protocol: http\n  servers:\n  - port: 4140\n    tsl: {}\n',
        ConfigError,
        (
            'linkerd.yaml:5: routers[0].servers[0].tsl: unknown key "tsl" (known keys: '
            'addForwardedHeader, bodyIdleTimeMs, clearContext, headerTimeoutMs, ip, '
            'maxCallDepth, maxConcurrentRequests, maxConnections, port, sendTimeoutMs, '
            'serverSession, socketOptions, tls)'
        ),
    ),
    Case(
        'unknown-admin',
        'admin:\n  portt: 1\nrouters: []\n',
        ConfigError,
        'linkerd.yaml:2: admin.portt: unknown key "portt"; did you mean "port"? (known keys: '
        'allowedHosts, ip, metricsSnapshotIntervalMs, port, readOnly, shutdownGraceMs, '
        'socketOptions, tls, tokenEnv, tokenFile, workerThreads)',
    ),
    Case(
        'unknown-namer-key',
        'namers:\n- kind: io.l5d.fs\n  rootDir: disco\n  root: x\nrouters: []\n',
        ConfigError,
        (
            'linkerd.yaml:4: namers[0].root: unknown key "root" (known keys: experimental, kind, '
            'prefix, rootDir, transformers)'
        ),
    ),
    Case(
        'unknown-identifier-key',
        (
            'routers:\n- protocol: http\n  identifier: {kind: io.l5d.header.token, name: x}\n  '
            'servers: [{}]\n'
        ),
        ConfigError,
        'linkerd.yaml:3: routers[0].identifier.name: unknown key "name" (known keys: header, kind)',
    ),
    Case(
        'old-basedtab',
        'routers:\n- protocol: http\n  baseDtab: /a=>/b\n  servers: [{}]\n',
        ConfigError,
        'linkerd.yaml:3: routers[0].baseDtab: key "baseDtab" is the name Linkerd 0.x used '
        'for "dtab"; write "dtab" (see docs/compat.md)',
    ),
    Case(
        'unknown-namer-kind',
        'namers:\n- kind: io.l5d.nope\nrouters: []\n',
        ConfigError,
        'linkerd.yaml:2: namers[0].kind: unknown kind "io.l5d.nope" (known kinds: io.l5d.fs, '
        'io.l5d.k8s, io.l5d.k8s.ns, io.l5d.rewrite)',
    ),
    Case(
        'unknown-identifier-kind',
        (
            'routers:\n- protocol: http\n  identifier:\n  - kind: io.l5d.header.token\n  - kind: '
            'io.l5d.nope\n  servers: [{}]\n'
        ),
        ConfigError,
        (
            'linkerd.yaml:5: routers[0].identifier[1].kind: unknown kind "io.l5d.nope" (known '
            'kinds: io.l5d.header, io.l5d.header.path, io.l5d.header.token, '
            'io.l5d.ingress, io.l5d.methodAndHost, io.l5d.path, io.l5d.static)'
        ),
    ),
    Case(
        'unknown-telemeter-kind',
        'telemetry:\n- kind: io.l5d.nope\nrouters: []\n',
        ConfigError,
        'linkerd.yaml:2: telemetry[0].kind: unknown kind "io.l5d.nope" '
        '(known kinds: io.l5d.influxdb, io.l5d.prometheus, io.l5d.recentRequests, '
        'io.l5d.statsd, io.l5d.tracelog, io.l5d.zipkin)',
    ),
    Case(
        'unknown-interpreter-kind',
        'routers:\n- protocol: http\n  interpreter: {kind: io.l5d.namerd}\n  servers: [{}]\n',
        ConfigError,
        (
            'linkerd.yaml:3: routers[0].interpreter.kind: kind "io.l5d.namerd" is not supported '
            'by l5d (namerd is not part of l5d; use the default interpreter with a dtab; '
            'see docs/compat.md)'
        ),
    ),
    Case(
        'unsupported-protocol',
        'routers:\n- protocol: h2\n  servers: [{}]\n',
        ConfigError,
        'linkerd.yaml:2: routers[0].protocol: protocol "h2" is not supported by l5d '
        '(l5d routes HTTP/1.1 only; see docs/compat.md)',
    ),
    Case(
        'empty-servers',
        'routers:\n- protocol: http\n  servers: []\n',
        ConfigError,
        'linkerd.yaml:3: routers[0].servers: expected a non-empty list',
    ),
    Case(
        'empty-identifiers',
        'routers:\n- protocol: http\n  identifier: []\n  servers: [{}]\n',
        ConfigError,
        'linkerd.yaml:3: routers[0].identifier: expected a non-empty list',
    ),
    Case(
        'transformers',
        (
            'namers:\n- kind: io.l5d.fs\n  rootDir: d\n  transformers:\n  - kind: '
            'io.l5d.port\nrouters: []\n'
        ),
        ConfigError,
        'linkerd.yaml:5: namers[0].transformers[0]: missing required key "port"',
    ),
    Case(
        'interp-transformers',
        (
            'routers:\n- protocol: http\n  interpreter:\n    transformers: [{kind: x}]\n  servers: '
            '[{}]\n'
        ),
        ConfigError,
        (
            'linkerd.yaml:4: routers[0].interpreter.transformers[0].kind: unknown kind "x" '
            '(known kinds: io.l5d.const, io.l5d.k8s.daemonset, io.l5d.k8s.localnode, '
            'io.l5d.localhost, io.l5d.port, io.l5d.replace, io.l5d.specificHost)'
        ),
    ),
    Case(
        'daemonset-missing-service',
        (
            'routers:\n- protocol: http\n  interpreter:\n    transformers:\n    - kind: '
            'io.l5d.k8s.daemonset\n      namespace: default\n      port: incoming\n'
            '  servers: [{}]\n'
        ),
        ConfigError,
        'linkerd.yaml:5: routers[0].interpreter.transformers[0]: missing required key "service"',
    ),
    Case(
        'k8s-kubeconfig-and-host',
        'namers:\n- kind: io.l5d.k8s\n  host: localhost\n  kubeconfig: /k\nrouters: []\n',
        ConfigError,
        'linkerd.yaml:2: namers[0]: kubeconfig cannot be combined with host/port or '
        'serviceAccount',
    ),
    Case(
        'k8s-discovery',
        'namers:\n- kind: io.l5d.k8s\n  discovery: pods\nrouters: []\n',
        ConfigError,
        'linkerd.yaml:2: namers[0]: discovery: expected one of endpoints, endpointSlices, '
        "got 'pods'",
    ),
    Case(
        'segments',
        (
            'routers:\n- protocol: http\n  identifier: {kind: io.l5d.path, '
            'segments: 0}\n  servers: '
            '[{}]\n'
        ),
        ConfigError,
        'linkerd.yaml:3: routers[0].identifier.segments: expected an integer >= 1, got 0',
    ),
    Case(
        'ip',
        'admin:\n  ip: localhost\nrouters: []\n',
        ConfigError,
        'linkerd.yaml:2: admin.ip: expected an IP address, got "localhost"',
    ),
    Case(
        'duplicate-key',
        'admin:\n  port: 9990\n  ip: 0.0.0.0\n  port: 9991\nrouters: []\n',
        ConfigError,
        'linkerd.yaml:4: admin.port: duplicate key "port" (first on line 2)',
    ),
    Case(
        'duplicate-top',
        'routers: []\nadmin: {}\nrouters: []\n',
        ConfigError,
        'linkerd.yaml:3: routers: duplicate key "routers" (first on line 1)',
    ),
    Case(
        'yaml-syntax',
        'routers:\n- protocol: http\n  servers: [{port: 1}\n',
        ConfigError,
        (
            "linkerd.yaml:4: invalid YAML: expected ',' or ']', but got '<stream end>' (while "
            'parsing a flow sequence)'
        ),
    ),
    Case(
        'yaml-tab',
        'routers:\n\t- protocol: http\n',
        ConfigError,
        (
            "linkerd.yaml:2: invalid YAML: found character '\\t' that cannot start "
            "any token (while "
            'scanning for the next token)'
        ),
    ),
    Case(
        'yaml-two-docs',
        'routers: []\n---\nrouters: []\n',
        ConfigError,
        (
            'linkerd.yaml:2: invalid YAML: but found another document (expected a single document '
            'in the stream)'
        ),
    ),
    Case(
        'top-list',
        '- routers\n',
        ConfigError,
        'linkerd.yaml:1: expected a mapping at the top level, got a list',
    ),
    Case(
        'empty',
        '',
        ConfigError,
        'linkerd.yaml:1: expected a mapping at the top level, got null',
    ),
    Case(
        'dtab-inline',
        'routers:\n- protocol: http\n  dtab: /svc => /#/io.l5d.fs; /foo =>\n  servers: [{}]\n',
        ConfigError,
        (
            "linkerd.yaml:3: routers[0].dtab: simple expected but end of input found at '/svc => "
            "/#/io.l5d.fs; /foo =>[]'"
        ),
    ),
    Case(
        'dtab-block',
        (
            'routers:\n- protocol: http\n  dtab: |\n    /svc => /#/io.l5d.fs;\n    /svc/hello => '
            '/$/inet/127.0.0.1/{port};\n  servers: [{}]\n'
        ),
        ConfigError,
        (
            "linkerd.yaml:5: routers[0].dtab: label char expected but '{' found at '/svc/hello => "
            "/$/inet/127.0.0.1/[{]port};'"
        ),
    ),
    Case(
        'dtab-block-eof',
        (
            'routers:\n- protocol: http\n  dtab: |\n    /svc => /#/io.l5d.fs;\n    '
            '/svc/hello =>\n  '
            'servers: [{}]\n'
        ),
        ConfigError,
        (
            "linkerd.yaml:5: routers[0].dtab: simple expected but end of input "
            "found at '/svc/hello "
            "=>[]'"
        ),
    ),
    Case(
        'dtab-not-string',
        'routers:\n- protocol: http\n  dtab: [/a=>/b]\n  servers: [{}]\n',
        ConfigError,
        'linkerd.yaml:3: routers[0].dtab: expected a string, got a list',
    ),
    Case(
        'dst-prefix',
        'routers:\n- protocol: http\n  dstPrefix: svc\n  servers: [{}]\n',
        ConfigError,
        "linkerd.yaml:3: routers[0].dstPrefix: '/' expected but 's' found at '[s]vc'",
    ),
    Case(
        'static-path',
        (
            "routers:\n- protocol: http\n  identifier: {kind: io.l5d.static, path: '/svc/{x}'}\n  "
            'servers: [{}]\n'
        ),
        ConfigError,
        (
            "linkerd.yaml:3: routers[0].identifier.path: label char expected but '{' found at "
            "'/svc/[{]x}'"
        ),
    ),
    Case(
        'namer-prefix',
        "namers:\n- kind: io.l5d.fs\n  rootDir: d\n  prefix: 'io.l5d.fs/{x}'\nrouters: []\n",
        ConfigError,
        "linkerd.yaml:4: namers[0].prefix: label char expected but '{' found at 'io.l5d.fs/[{]x}'",
    ),
    Case(
        'no-routers',
        'admin: {port: 9990}\nrouters: []\n',
        NoRoutersSpecified,
        'linkerd.yaml:2: routers: at least one router must be specified',
    ),
    Case(
        'conflicting-labels',
        (
            'routers:\n- protocol: http\n  servers: [{port: 4140}]\n- protocol: http\n  servers: '
            '[{port: 4141}]\n'
        ),
        ConflictingLabels,
        (
            'linkerd.yaml:4: routers[1].label: multiple routers with the label "http" (also '
            'routers[0])'
        ),
    ),
    Case(
        'conflicting-ports',
        (
            'routers:\n- protocol: http\n  servers:\n  - port: 4140\n- protocol: http\n  label: '
            'in\n  servers:\n  - port: 4141\n  - port: 4140\n'
        ),
        ConflictingPorts,
        (
            'linkerd.yaml:9: routers[1].servers[1].port: server conflict on 127.0.0.1:4140 (also '
            'used by routers[0].servers[0])'
        ),
    ),
    Case(
        'conflicting-admin',
        'admin:\n  port: 4140\nrouters:\n- protocol: http\n  servers: [{}]\n',
        ConflictingPorts,
        (
            'linkerd.yaml:5: routers[0].servers[0].port: server conflict on 127.0.0.1:4140 (also '
            'used by admin)'
        ),
    ),
    Case(
        'conflicting-wildcard',
        (
            'routers:\n- protocol: http\n  servers:\n  - {ip: 0.0.0.0, port: 4140}\n  - {ip: '
            '10.0.0.1, port: 4140}\n'
        ),
        ConflictingPorts,
        (
            'linkerd.yaml:5: routers[0].servers[1].port: server conflict on 10.0.0.1:4140 (also '
            'used by routers[0].servers[0])'
        ),
    ),
    Case(
        'conflicting-namers',
        (
            'namers:\n- kind: io.l5d.fs\n  rootDir: a\n- kind: io.l5d.fs\n  '
            'rootDir: b\nrouters:\n- '
            'protocol: http\n  servers: [{}]\n'
        ),
        ConflictingNamers,
        (
            'linkerd.yaml:4: namers[1].prefix: namer prefix "/#/io.l5d.fs" '
            'conflicts with namers[0] '
            '("/#/io.l5d.fs")'
        ),
    ),
    Case(
        'merge-key',
        'base: &b {port: 1}\nadmin:\n  <<: *b\nrouters: []\n',
        ConfigError,
        'linkerd.yaml:3: admin: YAML merge keys (<<) are not supported',
    ),
    Case(
        'recursive',
        'routers: &r\n- *r\n',
        ConfigError,
        'linkerd.yaml:1: routers[0]: recursive YAML alias',
    ),
    Case(
        'non-string-key',
        'routers: []\n1: x\n',
        ConfigError,
        'linkerd.yaml:2: expected a string key, got 1',
    ),
    Case(
        'ms-float',
        'admin:\n  shutdownGraceMs: 1.5\nrouters: []\n',
        ConfigError,
        'linkerd.yaml:2: admin.shutdownGraceMs: expected an integer, got 1.5',
    ),
    Case(
        'service-kind',
        'routers:\n- protocol: http\n  servers: [{}]\n  service:\n    kind: io.l5d.perPrefix\n',
        ConfigError,
        'linkerd.yaml:5: routers[0].service.kind: unknown kind "io.l5d.perPrefix" '
        '(known kinds: io.l5d.global, io.l5d.static)',
    ),
    Case(
        'service-static-without-configs',
        'routers:\n- protocol: http\n  servers: [{}]\n  service:\n    kind: io.l5d.static\n',
        ConfigError,
        'linkerd.yaml:5: routers[0].service: missing required key "configs"',
    ),
    Case(
        'service-unknown-key',
        'routers:\n- protocol: http\n  servers: [{}]\n  service:\n    retry: {}\n',
        ConfigError,
        'linkerd.yaml:5: routers[0].service.retry: unknown key "retry" (known keys: kind, '
        'responseClassifier, retries, totalTimeoutMs)',
    ),
    Case(
        'service-timeout-zero',
        'routers:\n- protocol: http\n  servers: [{}]\n  service: {totalTimeoutMs: 0}\n',
        ConfigError,
        'linkerd.yaml:4: routers[0].service.totalTimeoutMs: expected an integer >= 1, got 0',
    ),
    Case(
        'service-not-mapping',
        'routers:\n- protocol: http\n  servers: [{}]\n  service: 500\n',
        ConfigError,
        'linkerd.yaml:4: routers[0].service: expected a mapping, got 500',
    ),
    Case(
        'client-kind',
        'routers:\n- protocol: http\n  servers: [{}]\n  client: {kind: io.l5d.perPrefix}\n',
        ConfigError,
        'linkerd.yaml:4: routers[0].client.kind: unknown kind "io.l5d.perPrefix" '
        '(known kinds: io.l5d.global, io.l5d.static)',
    ),
    Case(
        'client-unknown-key',
        'routers:\n- protocol: http\n  servers: [{}]\n  client: {tsl: {commonName: foo}}\n',
        ConfigError,
        'linkerd.yaml:4: routers[0].client.tsl: unknown key "tsl" '
        '(known keys: clientSession, failFast, failureAccrual, hostConnectionPool, kind, '
        'loadBalancer, requestAttemptTimeoutMs, requeueBudget, socketOptions, tls)',
    ),
    Case(
        'client-timeout-string',
        "routers:\n- protocol: http\n  servers: [{}]\n  client: {requestAttemptTimeoutMs: '1s'}\n",
        ConfigError,
        'linkerd.yaml:4: routers[0].client.requestAttemptTimeoutMs: expected an integer, got "1s"',
    ),
]


class ErrorMessageTests:
    """Each bad config fails with exactly this ``str()`` and this class."""

    @pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
    def test_message(self, case: Case) -> None:
        """The error is ``{source}:{line}: {key_path}: {message}`` and of the named class."""
        with pytest.raises(ConfigError) as info:
            parse_config(case.text, "linkerd.yaml")
        assert type(info.value) is case.error
        assert str(info.value) == case.message


class ConfigErrorTests:
    """The attributes behind the message."""

    def test_attributes(self) -> None:
        """source, line, column (1-based), key_path and message are separate attributes."""
        text = "routers:\n- protocol: http\n  servers:\n  - port: 4140\n  - port: 41a0\n"
        with pytest.raises(ConfigError) as info:
            parse_config(text, "linkerd.yaml")
        err = info.value
        assert (err.source, err.line, err.column) == ("linkerd.yaml", 5, 11)
        assert err.key_path == "routers[0].servers[1].port"
        assert err.message == 'expected an integer, got "41a0"'

    def test_is_a_value_error(self) -> None:
        """ConfigError and its subclasses are ValueErrors."""
        for cls in (ConfigError, ConflictingPorts, ConflictingLabels, NoRoutersSpecified,
                    ConflictingNamers):
            assert issubclass(cls, ValueError)

    def test_default_source(self) -> None:
        """Without a source name errors say ``<config>``."""
        with pytest.raises(ConfigError) as info:
            parse_config("admin: 1\nrouters: []\n")
        assert str(info.value) == "<config>:1: admin: expected a mapping, got 1"

    def test_unknown_line_is_left_out(self) -> None:
        """An error with no position (line 0) shows no line number."""
        err = ConflictingLabels("multiple routers", key_path="routers[1].label")
        assert str(err) == "<config>: routers[1].label: multiple routers"

    def test_dtab_error_column_points_at_the_bad_character(self) -> None:
        """In a ``dtab: |`` block the column is that of the bad character in the file."""
        text = "routers:\n- protocol: http\n  dtab: |\n    /a => /b;\n    /c => /{d}\n" \
               "  servers: [{}]\n"
        with pytest.raises(ConfigError) as info:
            parse_config(text)
        assert (info.value.line, info.value.column) == (5, 12)
        assert text.splitlines()[4][11] == "{"

    def test_pickle_round_trip(self) -> None:
        """Errors survive pickling (multiprocessing, trial) with their class and attributes."""
        err = ConflictingPorts("clash", key_path="admin.port", line=3, column=9, source="x.yaml")
        copy = pickle.loads(pickle.dumps(err))
        assert type(copy) is ConflictingPorts and str(copy) == str(err)
        assert (copy.line, copy.column, copy.key_path) == (3, 9, "admin.port")
