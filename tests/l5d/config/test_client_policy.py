"""client: io.l5d.global / io.l5d.static, every client key, and params_for (Linkerd's fold)."""

from __future__ import annotations

import textwrap

import pytest

from dtab import Path
from l5d.config import (
    ApertureConfig,
    ClientParams,
    ClientPolicy,
    ClientSessionConfig,
    ConfigError,
    ConsecutiveFailuresConfig,
    EwmaConfig,
    GlobalClientConfig,
    HostConnectionPoolConfig,
    NoneFailureAccrualConfig,
    P2CConfig,
    RetryBudgetConfig,
    StaticClientConfig,
)
from l5d.config.accrual import DEFAULT_FAILURE_ACCRUAL

from tests.l5d.config._router_block import HEAD, router  # noqa: F401


def params(block: str, client_id: str) -> ClientParams:
    return router(block).client.params_for(Path.read(client_id))


class GlobalTests:
    """``io.l5d.global``: the parameters on the object, for every client."""

    def test_defaults(self) -> None:
        """No client block: every parameter has Linkerd's (or l5d's documented) default."""
        assert params("", "/$/inet/127.1/4141") == ClientParams(
            load_balancer=P2CConfig(max_effort=5, enable_probation=False),
            failure_accrual=DEFAULT_FAILURE_ACCRUAL,
            requeue_budget=RetryBudgetConfig(ttl_s=10.0, min_retries_per_s=10,
                                             percent_can_retry=0.2),
            request_attempt_timeout_s=None,
            host_connection_pool=HostConnectionPoolConfig(min_size=0, max_size=1024,
                                                          idle_time_s=60.0, max_waiters=1024),
            fail_fast=False,
            client_session=ClientSessionConfig(idle_time_s=None, life_time_s=None),
        )

    def test_kind_may_be_left_out(self) -> None:
        """``client: {...}`` and ``client: {kind: io.l5d.global, ...}`` are the same."""
        assert router("client: {failFast: true}").client == \
            router("client: {kind: io.l5d.global, failFast: true}").client == \
            GlobalClientConfig(ClientPolicy(fail_fast=True))

    def test_every_key(self) -> None:
        """Every client key at once (Linkerd's loadbalancer.yaml example, and more)."""
        block = """\
            client:
              loadBalancer: {kind: p2c, maxEffort: 10}
              hostConnectionPool:
                minSize: 0
                maxSize: 1000
                idleTimeMs: 10000
                maxWaiters: 5000
              failureAccrual:
                kind: io.l5d.consecutiveFailures
                failures: 10
              requeueBudget: {percentCanRetry: 0.25}
              requestAttemptTimeoutMs: 100
              failFast: true
              clientSession: {idleTimeMs: 30000, lifeTimeMs: 600000}
            """
        for client_id in ("/#/io.l5d.fs/foo", "/$/inet/127.1/80", "/"):
            assert params(block, client_id) == ClientParams(
                load_balancer=P2CConfig(max_effort=10),
                failure_accrual=ConsecutiveFailuresConfig(failures=10),
                requeue_budget=RetryBudgetConfig(percent_can_retry=0.25),
                request_attempt_timeout_s=0.1,
                host_connection_pool=HostConnectionPoolConfig(0, 1000, 10.0, 5000),
                fail_fast=True,
                client_session=ClientSessionConfig(idle_time_s=30.0, life_time_s=600.0),
            ), client_id

    def test_global_ewma_applies_everywhere(self) -> None:
        """ClientTest: global ``loadBalancer: {kind: ewma}``: /foo and /bar both ewma."""
        block = "client:\n  kind: io.l5d.global\n  loadBalancer: {kind: ewma}\n"
        assert params(block, "/foo").load_balancer == params(block, "/bar").load_balancer == \
            EwmaConfig()

    @pytest.mark.parametrize("yaml, expected", [
        ("{}", HostConnectionPoolConfig()),
        ("{maxSize: 10}", HostConnectionPoolConfig(max_size=10)),
        ("{minSize: 2000}", HostConnectionPoolConfig(min_size=2000, max_size=2000)),
        ("{minSize: 5, maxSize: 5, idleTimeMs: 0, maxWaiters: 0}",
         HostConnectionPoolConfig(5, 5, 0.0, 0)),
    ], ids=["empty", "max", "min-above-default-max", "all"])
    def test_host_connection_pool(self, yaml: str, expected: HostConnectionPoolConfig) -> None:
        """Keys left out take the defaults; maxSize left out is at least minSize."""
        assert params(f"client:\n  hostConnectionPool: {yaml}\n", "/a").host_connection_pool \
            == expected

    def test_json(self) -> None:
        """Only the blocks written appear; each with every key."""
        r = router("client:\n  hostConnectionPool: {maxSize: 10}\n  failFast: false\n")
        assert r.client.to_json() == {
            "kind": "io.l5d.global",
            "hostConnectionPool": {"minSize": 0, "maxSize": 10, "idleTimeMs": 60000,
                                   "maxWaiters": 1024},
            "failFast": False,
        }


STATIC = """\
client:
  kind: io.l5d.static
  configs:
{}"""


def static(entries: str) -> str:
    return STATIC.format(textwrap.indent(textwrap.dedent(entries), "  "))


class StaticTests:
    """``io.l5d.static``: entries matched against the bound id and folded in file order."""

    def test_disjoint_prefixes(self) -> None:
        """ClientTest: foo -> ewma, bar -> aperture, bas -> the default."""
        block = static("""\
            - prefix: /#/io.l5d.fs/foo
              loadBalancer: {kind: ewma}
            - prefix: /#/io.l5d.fs/bar
              loadBalancer: {kind: aperture}
            """)
        assert params(block, "/#/io.l5d.fs/foo").load_balancer == EwmaConfig()
        assert params(block, "/#/io.l5d.fs/bar").load_balancer == ApertureConfig()
        assert params(block, "/#/io.l5d.fs/bas").load_balancer == P2CConfig()

    def test_later_entry_wins(self) -> None:
        """ClientTest: ``/`` -> ewma, then bar -> aperture: foo ewma, bar aperture."""
        block = static("""\
            - prefix: /
              loadBalancer: {kind: ewma}
            - prefix: /#/io.l5d.fs/bar
              loadBalancer: {kind: aperture}
            """)
        assert params(block, "/#/io.l5d.fs/foo").load_balancer == EwmaConfig()
        assert params(block, "/#/io.l5d.fs/bar").load_balancer == ApertureConfig()

    def test_different_keys_all_apply(self) -> None:
        """Entry 1's failureAccrual and entry 2's loadBalancer both apply."""
        block = static("""\
            - prefix: /#/io.l5d.fs
              failureAccrual: {kind: none}
            - prefix: /#/io.l5d.fs/foo
              loadBalancer: {kind: ewma}
            """)
        p = params(block, "/#/io.l5d.fs/foo/x")
        assert (p.failure_accrual, p.load_balancer) == (NoneFailureAccrualConfig(), EwmaConfig())
        p = params(block, "/#/io.l5d.fs/bar")
        assert (p.failure_accrual, p.load_balancer) == (NoneFailureAccrualConfig(), P2CConfig())

    def test_same_key_is_replaced_wholesale(self) -> None:
        """A later hostConnectionPool resets minSize; a later loadBalancer resets probation."""
        block = static("""\
            - prefix: /
              hostConnectionPool: {minSize: 5}
              loadBalancer: {kind: ewma, enableProbation: true, decayTimeMs: 1}
            - prefix: /#/io.l5d.fs/cat
              hostConnectionPool: {maxSize: 10}
              loadBalancer: {kind: ewma}
            """)
        p = params(block, "/#/io.l5d.fs/cat")
        assert p.host_connection_pool == HostConnectionPoolConfig(min_size=0, max_size=10)
        assert p.load_balancer == EwmaConfig(enable_probation=False)
        p = params(block, "/#/io.l5d.fs/dog")
        assert p.host_connection_pool == HostConnectionPoolConfig(min_size=5)
        assert p.load_balancer == EwmaConfig(decay_time_s=0.001, enable_probation=True)

    def test_matching_entry_that_sets_nothing_changes_nothing(self) -> None:
        """ClientTest "failure accrual": an empty matching entry inherits from ``/``."""
        block = static("""\
            - prefix: /
              failureAccrual: {kind: io.l5d.consecutiveFailures, failures: 2}
            - prefix: /#/io.l5d.fs/foo
            """)
        assert params(block, "/#/io.l5d.fs/foo").failure_accrual == ConsecutiveFailuresConfig(2)

    def test_non_matching_names_get_the_defaults(self) -> None:
        """An id no entry matches (or no entries at all) gets ClientParams()."""
        block = static("""\
            - prefix: /$/inet/*/80
              failureAccrual: {kind: io.l5d.consecutiveFailures, failures: 10}
              requestAttemptTimeoutMs: 5
            """)
        assert params(block, "/$/inet/127.1/8080") == ClientParams()
        assert params(block, "/$/inet/127.1/80").failure_accrual == ConsecutiveFailuresConfig(10)
        assert params("client: {kind: io.l5d.static, configs: []}", "/a") == ClientParams()

    def test_file_order_not_specificity(self) -> None:
        """A general entry after a specific one overrides it (order is all that counts)."""
        block = static("""\
            - prefix: /#/io.l5d.fs/foo
              requestAttemptTimeoutMs: 100
            - prefix: /#
              requestAttemptTimeoutMs: 2000
            """)
        assert params(block, "/#/io.l5d.fs/foo").request_attempt_timeout_s == 2.0

    def test_wildcards_and_captures(self) -> None:
        """``*`` and ``{name}`` prefixes match as PathMatcher does, daemonset ids included."""
        block = static("""\
            - prefix: "/#/*/{service}"
              failFast: true
            - prefix: /%/io.l5d.k8s.daemonset/default/incoming/l5d/#/io.l5d.k8s
              requestAttemptTimeoutMs: 250
            """)
        assert params(block, "/#/io.l5d.fs/cat").fail_fast is True
        assert params(block, "/#/io.l5d.fs").fail_fast is False
        p = params(block, "/%/io.l5d.k8s.daemonset/default/incoming/l5d/#/io.l5d.k8s/default/"
                          "http/hello")
        assert (p.request_attempt_timeout_s, p.fail_fast) == (0.25, False)

    def test_global_is_static_with_prefix_slash(self) -> None:
        """A global block resolves exactly like one static entry with prefix ``/``."""
        keys = "loadBalancer: {kind: heap}\nfailFast: true\nrequeueBudget: {ttlSecs: 2}\n"
        g = router("client:\n" + textwrap.indent(keys, "  ")).client
        s = router(static("- prefix: /\n" + textwrap.indent(keys, "  "))).client
        for client_id in ("/", "/a", "/#/io.l5d.fs/x/y"):
            assert g.params_for(Path.read(client_id)) == s.params_for(Path.read(client_id))

    def test_params_for_is_repeatable(self) -> None:
        """The same id gives equal params every time, and the config does not change."""
        client = router(static("- prefix: /a\n  failFast: true\n")).client
        before = client.to_json()
        results = {client.params_for(Path.read("/a/b")) for _ in range(3)}
        assert len(results) == 1 and client.to_json() == before

    def test_json(self) -> None:
        """Each entry with its prefix and the blocks it writes."""
        block = static("""\
            - prefix: /
              requestAttemptTimeoutMs: 1000
            - prefix: "/#/*/{service}"
              clientSession: {}
            """)
        assert router(block).client.to_json() == {
            "kind": "io.l5d.static",
            "configs": [{"prefix": "/", "requestAttemptTimeoutMs": 1000},
                        {"prefix": "/#/*/{service}", "clientSession": {}}],
        }
        assert router(block).client == StaticClientConfig((
            ClientPolicy(request_attempt_timeout_s=1.0),
            ClientPolicy(prefix="/#/*/{service}", client_session=ClientSessionConfig())))

    def test_request_attempt_timeout_property(self) -> None:
        """The router-wide timeout the runtime reads: only ``/`` entries count."""
        both = static("- prefix: /\n  requestAttemptTimeoutMs: 700\n"
                      "- prefix: /#/io.l5d.fs/cat\n  requestAttemptTimeoutMs: 200\n")
        assert router(both).client.request_attempt_timeout_s == 0.7
        only_cat = static("- prefix: /#/io.l5d.fs/cat\n  requestAttemptTimeoutMs: 200\n")
        assert router(only_cat).client.request_attempt_timeout_s is None


LATER_ISSUE_KEYS = ["forwardClientCert"]
ISTIO = ('key "requestAuthorizers" is not supported by l5d (Istio support is not part of l5d; '
         'see docs/compat.md)')
GLOBAL_KNOWN = ("clientSession, failFast, failureAccrual, hostConnectionPool, kind, "
                "loadBalancer, requestAttemptTimeoutMs, requeueBudget, socketOptions, tls")
ENTRY_KNOWN = ("clientSession, failFast, failureAccrual, hostConnectionPool, loadBalancer, "
               "prefix, requestAttemptTimeoutMs, requeueBudget, socketOptions, tls")

ERRORS = [
    *[(f"global-{key}", f"client:\n  {key}: {{}}\n",
       f'linkerd.yaml:5: routers[0].client.{key}: unknown key "{key}" (known keys: {GLOBAL_KNOWN})')
      for key in LATER_ISSUE_KEYS],
    *[(f"static-{key}", static(f"- prefix: /\n- prefix: /#\n  {key}: {{}}\n"),
       f'linkerd.yaml:9: routers[0].client.configs[1].{key}: unknown key "{key}" '
       f'(known keys: {ENTRY_KNOWN})')
      for key in LATER_ISSUE_KEYS],
    ("global-requestAuthorizers", "client:\n  requestAuthorizers: []\n",
     f'linkerd.yaml:5: routers[0].client.requestAuthorizers: {ISTIO}'),
    ("static-requestAuthorizers", static("- prefix: /\n  requestAuthorizers: []\n"),
     f'linkerd.yaml:8: routers[0].client.configs[0].requestAuthorizers: {ISTIO}'),
    ("static-without-configs", "client:\n  kind: io.l5d.static\n",
     'linkerd.yaml:5: routers[0].client: missing required key "configs"'),
    ("static-configs-mapping", "client:\n  kind: io.l5d.static\n  configs: {prefix: /}\n",
     'linkerd.yaml:6: routers[0].client.configs: expected a list, got a mapping'),
    ("static-params-on-top", "client:\n  kind: io.l5d.static\n  failFast: true\n  configs: []\n",
     'linkerd.yaml:6: routers[0].client.failFast: unknown key "failFast" '
     '(known keys: configs, kind)'),
    ("global-prefix", "client:\n  prefix: /\n",
     f'linkerd.yaml:5: routers[0].client.prefix: unknown key "prefix" '
     f'(known keys: {GLOBAL_KNOWN})'),
    ("entry-without-prefix", static("- failFast: true\n"),
     'linkerd.yaml:7: routers[0].client.configs[0]: missing required key "prefix"'),
    ("entry-prefix-not-string", static("- prefix: 5\n"),
     'linkerd.yaml:7: routers[0].client.configs[0].prefix: expected a string, got 5'),
    ("entry-prefix-empty-segment", static("- prefix: /#//foo\n"),
     "linkerd.yaml:7: routers[0].client.configs[0].prefix: empty segment in path pattern "
     "'/#//foo'"),
    ("entry-not-mapping", static("- /#/io.l5d.fs\n"),
     'linkerd.yaml:7: routers[0].client.configs[0]: expected a mapping, got "/#/io.l5d.fs"'),
    ("fail-fast-string", "client: {failFast: 'no'}\n",
     'linkerd.yaml:4: routers[0].client.failFast: expected a boolean, got "no"'),
    ("attempt-timeout-zero", static("- prefix: /\n  requestAttemptTimeoutMs: 0\n"),
     'linkerd.yaml:8: routers[0].client.configs[0].requestAttemptTimeoutMs: '
     'expected an integer >= 1, got 0'),
    ("pool-unknown", "client:\n  hostConnectionPool: {size: 1}\n",
     'linkerd.yaml:5: routers[0].client.hostConnectionPool.size: unknown key "size" '
     '(known keys: idleTimeMs, maxSize, maxWaiters, minSize)'),
    ("pool-min-negative", "client:\n  hostConnectionPool: {minSize: -1}\n",
     'linkerd.yaml:5: routers[0].client.hostConnectionPool.minSize: '
     'expected an integer >= 0, got -1'),
    ("pool-max-zero", "client:\n  hostConnectionPool: {maxSize: 0}\n",
     'linkerd.yaml:5: routers[0].client.hostConnectionPool.maxSize: '
     'expected an integer >= 1, got 0'),
    ("pool-max-below-min", "client:\n  hostConnectionPool: {minSize: 10, maxSize: 5}\n",
     'linkerd.yaml:5: routers[0].client.hostConnectionPool.maxSize: '
     'expected an integer >= 10, got 5'),
    ("pool-idle-negative", "client:\n  hostConnectionPool: {idleTimeMs: -5}\n",
     'linkerd.yaml:5: routers[0].client.hostConnectionPool.idleTimeMs: '
     'expected an integer >= 0, got -5'),
    ("pool-waiters-negative", "client:\n  hostConnectionPool: {maxWaiters: -1}\n",
     'linkerd.yaml:5: routers[0].client.hostConnectionPool.maxWaiters: '
     'expected an integer >= 0, got -1'),
    ("session-unknown", "client:\n  clientSession: {maxLifeTimeMs: 5}\n",
     'linkerd.yaml:5: routers[0].client.clientSession.maxLifeTimeMs: unknown key "maxLifeTimeMs"; '
     'did you mean "lifeTimeMs"? '
     '(known keys: idleTimeMs, lifeTimeMs)'),
    ("session-idle-zero", "client:\n  clientSession: {idleTimeMs: 0}\n",
     'linkerd.yaml:5: routers[0].client.clientSession.idleTimeMs: '
     'expected an integer >= 1, got 0'),
]


class ErrorTests:
    """Bad client blocks fail with exactly this message; later issues' keys stay unknown."""

    @pytest.mark.parametrize("name, block, message", ERRORS, ids=[c[0] for c in ERRORS])
    def test_message(self, name: str, block: str, message: str) -> None:
        """``{source}:{line}: {key path}: {message}``."""
        with pytest.raises(ConfigError) as info:
            router(block)
        assert str(info.value) == message, name

    @pytest.mark.parametrize("make, message", [
        (lambda: ClientPolicy(prefix="/a//b"),
         "prefix: empty segment in path pattern '/a//b'"),
        (lambda: ClientPolicy(load_balancer="p2c"),
         "load_balancer: expected None or a LoadBalancerConfig, got 'p2c'"),
        (lambda: ClientPolicy(fail_fast=0), "fail_fast: expected None or a bool, got 0"),
        (lambda: GlobalClientConfig(ClientPolicy(prefix="/a")),
         "policy: expected a ClientPolicy with prefix \"/\", got " + repr(ClientPolicy("/a"))),
        (lambda: StaticClientConfig([ClientPolicy()]),
         "configs: expected a tuple of ClientPolicy, got " + repr([ClientPolicy()])),
        (lambda: HostConnectionPoolConfig(min_size=3, max_size=2),
         "max_size: expected an integer >= 3, got 2"),
        (lambda: ClientSessionConfig(life_time_s=0),
         "life_time_s: expected None or seconds > 0, got 0"),
    ], ids=["prefix", "load-balancer", "fail-fast", "global-prefix", "static-list", "pool",
            "session"])
    def test_post_init(self, make, message: str) -> None:
        """Built in code, bad values are ValueErrors naming the field."""
        with pytest.raises(ValueError) as info:
            make()
        assert str(info.value) == message
