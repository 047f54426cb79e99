"""Configs written for l5d in the shape Linkerd users write theirs: every supported kind
and key, combined as Linkerd's examples combine them, parsed AND built (no sockets).

Each config is the project's own (the public Linkerd configs are only a check, run by
``check-linkerd-configs``); the comments say which Linkerd setup each one mirrors.
"""

from __future__ import annotations

import textwrap

import pytest
from twisted.internet.testing import MemoryReactor

from l5d.config import parse_config
from l5d.config.forwarded import LabelerConfig
from l5d.linker import Env, build

#: a DaemonSet linker: outgoing and incoming routers, k8s namer, daemonset transformer,
#: an ingress router in front, per-service retries and per-client balancing
DAEMONSET = """\
admin:
  ip: 0.0.0.0
  port: 9990
  socketOptions: {noDelay: true}
  workerThreads: 2
namers:
- kind: io.l5d.k8s
  host: localhost
  port: 8001
  experimental: true
- kind: io.l5d.rewrite
  prefix: /portNsSvcToK8s
  pattern: "/{port}/{ns}/{svc}"
  name: "/k8s/{ns}/{port}/{svc}"
- kind: io.l5d.fs
  rootDir: disco
  prefix: /disco
telemetry:
- kind: io.l5d.prometheus
- kind: io.l5d.recentRequests
  sampleRate: 0.25
- kind: io.l5d.zipkin
  host: zipkin-collector.default.svc.cluster.local
  port: 9411
  sampleRate: 1.0
usage:
  enabled: false
routers:
- protocol: http
  label: outgoing
  experimental: true
  originator: true
  compressionLevel: 6
  dtab: |
    /k8s       => /#/io.l5d.k8s;          # the namer, by namespace/port/service
    /portNsSvc => /#/portNsSvcToK8s;
    /host      => /portNsSvc/http/default;
    /host      => /portNsSvc/http;
    /svc       => /$/io.buoyant.http.domainToPathPfx/host;
  interpreter:
    kind: default
    transformers:
    - kind: io.l5d.k8s.daemonset
      namespace: default
      port: incoming
      service: l5d
  servers:
  - port: 4140
    ip: 0.0.0.0
    addForwardedHeader:
      by: {kind: ip:port}
      for: {kind: requestRandom}
    socketOptions:
      noDelay: true
      reuseAddr: true
      reusePort: true
      keepAlive: true
      readTimeoutMs: 61000
      writeTimeoutMs: 61000
      backlog: 128
  httpAccessLog: logs/access.log
  httpAccessLogRollPolicy: daily
  httpAccessLogAppend: true
  httpAccessLogRotateCount: 7
  service:
    kind: io.l5d.static
    configs:
    - prefix: /svc
      totalTimeoutMs: 1000
      responseClassifier:
        kind: io.l5d.http.retryableRead5XX
      retries:
        budget: {minRetriesPerSec: 5, percentCanRetry: 0.5, ttlSecs: 15}
        backoff: {kind: jittered, minMs: 10, maxMs: 10000}
  client:
    kind: io.l5d.static
    configs:
    - prefix: /$/inet/{service}/{port}
      socketOptions: {keepAlive: true}
    - prefix: /#/io.l5d.k8s/default/http
      loadBalancer: {kind: ewma, maxEffort: 10, decayTimeMs: 15000}
      failureAccrual:
        kind: io.l5d.consecutiveFailures
        failures: 10
        backoff: {kind: constant, ms: 10000}
      hostConnectionPool: {minSize: 0, maxSize: 1000, idleTimeMs: 10000, maxWaiters: 5000}
      requestAttemptTimeoutMs: 500
      requeueBudget: {percentCanRetry: 0.5}
- protocol: http
  label: incoming
  dtab: |
    /k8s  => /#/io.l5d.k8s;
    /svc  => /$/io.buoyant.http.domainToPathPfx/host;
    /host => /k8s/default/http;
  interpreter:
    kind: default
    transformers:
    - kind: io.l5d.k8s.localnode
  servers:
  - port: 4141
    ip: 0.0.0.0
    clearContext: true
- protocol: http
  label: ingress
  identifier:
    kind: io.l5d.ingress
    namespace: default
    ingressClassAnnotation: linkerd
    ignoreDefaultBackends: false
    host: localhost
    port: 8001
  dtab: /svc => /#/io.l5d.k8s
  servers:
  - port: 80
    ip: 0.0.0.0
    clearContext: true
    addForwardedHeader: {}
- protocol: http
  label: grpc-ish
  identifier:
    kind: io.l5d.header.path
    segments: 1
  dtab: /svc => /#/disco
  servers:
  - port: 4142
"""

#: the linkerd examples' "identifiers" shapes: a list tried in order, every HTTP kind
IDENTIFIERS = """\
namers:
- {kind: io.l5d.fs, rootDir: disco}
routers:
- protocol: http
  dtab: /svc => /#/io.l5d.fs
  dstPrefix: /http
  identifier:
  - kind: io.l5d.header
    header: my-header
  - kind: io.l5d.header.path
    header: x-path
  - kind: io.l5d.path
    segments: 2
    consume: true
  - kind: io.l5d.methodAndHost
    httpUriInDst: true
  - kind: io.l5d.header.token
    header: Host
  - kind: io.l5d.static
    path: /default
  servers:
  - port: 4140
    addForwardedHeader:
      by: {kind: static, label: edge}
      for: {kind: connectionRandom}
  - port: 4141
    addForwardedHeader:
      by: {kind: router}
      for: {kind: ip}
"""


#: the rest of the kinds: telemeters, transformers, balancers, accrual, classifiers,
#: the namespace namer and a dtab store, as a single-node linker with several routers
EVERYTHING_ELSE = """\
admin: {ip: 127.0.0.1, port: 9990, shutdownGraceMs: 5000}
dtabStore: {kind: io.l5d.fs, dir: dtabs, historySize: 5}
namers:
- kind: io.l5d.k8s.ns
  envVar: POD_NAMESPACE
  host: localhost
  port: 8001
  transformers:
  - {kind: io.l5d.port, port: 4141}
- kind: io.l5d.fs
  rootDir: disco
  transformers:
  - {kind: io.l5d.localhost}
  - {kind: io.l5d.specificHost, host: 127.0.0.1}
telemetry:
- kind: io.l5d.influxdb
- kind: io.l5d.statsd
  experimental: true
  prefix: linkerd
  hostname: 127.0.0.1
  port: 8125
  gaugeIntervalMs: 10000
  sampleRate: 0.01
- kind: io.l5d.tracelog
  sampleRate: 0.2
  level: DEBUG
routers:
- protocol: http
  label: replace
  tracePropagator: {kind: io.l5d.zipkin}
  identifier: {kind: io.l5d.methodAndHost}
  dtab: /svc => /#/io.l5d.fs
  bindingTimeoutMs: 5000
  bindingCache: {paths: 100, trees: 100, bounds: 100, clients: 10, idleTtlSecs: 60}
  interpreter:
    kind: default
    transformers:
    - {kind: io.l5d.replace, path: /$/inet/127.0.0.1/8080}
  servers:
  - port: 4150
    serverSession: {idleTimeMs: 30000, lifeTimeMs: 600000}
    maxConcurrentRequests: 100
  service:
    responseClassifier: {kind: io.l5d.http.retryableIdempotent5XX}
    totalTimeoutMs: 3000
  client:
    loadBalancer: {kind: aperture, smoothWindowMs: 5000, lowLoad: 0.5, highLoad: 2.0,
                   minAperture: 1}
    failureAccrual:
      kind: io.l5d.successRateWindowed
      successRate: 0.9
      window: 30
      backoff: {kind: jittered, minMs: 5000, maxMs: 300000}
    clientSession: {idleTimeMs: 10000}
- protocol: http
  label: const
  dtab: /svc => /#/io.l5d.fs
  interpreter:
    transformers:
    - {kind: io.l5d.const, path: /$/inet/127.0.0.1/8081}
  servers: [{port: 4151}]
  service:
    kind: io.l5d.static
    configs:
    - {prefix: /svc/a, responseClassifier: {kind: io.l5d.http.retryableAll5XX}}
    - {prefix: /svc/b, responseClassifier: {kind: io.l5d.http.allSuccessful}}
    - {prefix: /svc/c, responseClassifier: {kind: io.l5d.http.nonRetryable5XX}}
  client:
    kind: io.l5d.static
    configs:
    - {prefix: /, loadBalancer: {kind: heap}, failureAccrual: {kind: none}, failFast: true}
    - {prefix: "/#/io.l5d.fs/{svc}", loadBalancer: {kind: roundRobin, maxEffort: 3}}
    - {prefix: "/#/io.l5d.fs/x", loadBalancer: {kind: p2c, enableProbation: false}}
"""


def parse_and_build(text: str):
    config = parse_config(textwrap.dedent(text), "l5d.yaml")
    reactor = MemoryReactor()
    build(config, Env(pod_ip="10.0.0.5", node_name="node-a", namespace="default",
                      variables={"POD_NAMESPACE": "default"}), reactor)
    assert reactor.tcpServers == []  # built, nothing opened
    return config


class LinkerdStyleConfigTests:
    """Linkerd-shaped configs read into the values they say, and build."""

    def test_daemonset_linker(self) -> None:
        """Three routers, four namers, three telemeters: every key lands."""
        config = parse_and_build(DAEMONSET)
        outgoing, incoming, ingress, grpc = config.routers
        assert (outgoing.experimental, outgoing.originator, outgoing.compression_level) == \
            (True, True, 6)
        server = outgoing.servers[0]
        assert server.socket_options.reuse_port and server.socket_options.keep_alive
        assert server.socket_options.backlog == 128
        assert server.socket_options.read_timeout_s == 61.0
        assert server.add_forwarded_header.by == LabelerConfig("ip:port")
        assert incoming.servers[0].clear_context
        assert ingress.identifiers[0].kind == "io.l5d.ingress"
        assert ingress.identifiers[0].namespace == "default"
        assert ingress.servers[0].add_forwarded_header.for_ == LabelerConfig("requestRandom")
        assert grpc.identifiers[0].segments == 1
        rewrite = config.namers[1]
        assert (rewrite.kind, rewrite.dtab_prefix.show(), rewrite.name) == \
            ("io.l5d.rewrite", "/#/portNsSvcToK8s", "/k8s/{ns}/{port}/{svc}")
        assert outgoing.access_log.rotate_count == 7
        json = config.to_json()
        assert json["routers"][0]["servers"][0]["socketOptions"]["backlog"] == 128
        assert json["routers"][0]["servers"][0]["addForwardedHeader"] == {
            "by": {"kind": "ip:port"}, "for": {"kind": "requestRandom"}}
        assert json["namers"][1] == {"kind": "io.l5d.rewrite", "prefix": "/portNsSvcToK8s",
                                     "experimental": False, "transformers": [],
                                     "pattern": "/{port}/{ns}/{svc}",
                                     "name": "/k8s/{ns}/{port}/{svc}"}

    def test_every_identifier_kind_in_one_list(self) -> None:
        """Six identifiers tried in order; static and router labelers."""
        config = parse_and_build(IDENTIFIERS)
        kinds = [i.kind for i in config.routers[0].identifiers]
        assert kinds == ["io.l5d.header", "io.l5d.header.path", "io.l5d.path",
                         "io.l5d.methodAndHost", "io.l5d.header.token", "io.l5d.static"]
        first, second = config.routers[0].servers
        assert first.add_forwarded_header.by == LabelerConfig("static", "edge")
        assert second.add_forwarded_header.for_ == LabelerConfig("ip")

    def test_every_other_kind(self) -> None:
        """Telemeters, transformers, balancers, accrual, classifiers and a dtab store."""
        config = parse_and_build(EVERYTHING_ELSE)
        assert [t.kind for t in config.telemetry] == ["io.l5d.influxdb", "io.l5d.statsd",
                                                      "io.l5d.tracelog"]
        assert [t.kind for n in config.namers for t in n.transformers] == [
            "io.l5d.port", "io.l5d.localhost", "io.l5d.specificHost"]
        replace, const = config.routers
        assert replace.trace_propagator == "io.l5d.zipkin"
        assert replace.interpreter.transformers[0].kind == "io.l5d.replace"
        assert const.interpreter.transformers[0].kind == "io.l5d.const"
        assert [c.load_balancer.kind for c in const.client.configs] == ["heap", "roundRobin",
                                                                        "p2c"]
        assert config.dtab_store.to_json()["kind"] == "io.l5d.fs"

    @pytest.mark.parametrize("block, message", [
        ("addForwardedHeader: {by: {kind: static}}",
         'routers[0].servers[0].addForwardedHeader.by: missing required key "label"'),
        ("addForwardedHeader: {by: {kind: random}}",
         'routers[0].servers[0].addForwardedHeader.by.kind: unknown kind "random"'),
        ("addForwardedHeader: {for: {kind: ip, label: x}}",
         'routers[0].servers[0].addForwardedHeader.for.label: unknown key "label"'),
        ("socketOptions: {backlog: 0}",
         "routers[0].servers[0].socketOptions.backlog: expected an integer >= 1, got 0"),
        ("socketOptions: {keepalive: true}",
         'routers[0].servers[0].socketOptions.keepalive: unknown key "keepalive"; '
         'did you mean "keepAlive"?'),
    ])
    def test_bad_server_keys(self, block: str, message: str) -> None:
        """The new server keys are checked like every other one."""
        text = f"routers:\n- protocol: http\n  servers:\n  - port: 4140\n    {block}\n"
        with pytest.raises(ValueError) as info:
            parse_config(text, "l5d.yaml")
        assert f"l5d.yaml:5: {message}" in str(info.value)

    @pytest.mark.parametrize("namer, message", [
        ("{kind: io.l5d.rewrite, name: /x}", 'namers[0]: missing required key "pattern"'),
        ("{kind: io.l5d.rewrite, pattern: '/a//b', name: /x}",
         "namers[0]: pattern: empty segment in path pattern '/a//b'"),
        ("{kind: io.l5d.rewrite, pattern: /a, name: x}",
         "namers[0]: name: expected a path such as /svc/{service}, got 'x'"),
    ])
    def test_bad_rewrite(self, namer: str, message: str) -> None:
        """pattern and name are required and checked."""
        text = f"namers:\n- {namer}\nrouters:\n- protocol: http\n  servers: [{{}}]\n"
        with pytest.raises(ValueError) as info:
            parse_config(text, "l5d.yaml")
        assert f"l5d.yaml:2: {message}" == str(info.value)

    def test_compression_level_range(self) -> None:
        """compressionLevel is -1..9."""
        text = "routers:\n- protocol: http\n  compressionLevel: 10\n  servers: [{}]\n"
        with pytest.raises(ValueError, match="compressionLevel: expected an integer <= 9"):
            parse_config(text, "l5d.yaml")
