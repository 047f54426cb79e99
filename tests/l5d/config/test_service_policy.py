"""service: io.l5d.global / io.l5d.static, totalTimeoutMs, retries, responseClassifier."""

from __future__ import annotations

import textwrap

import pytest

from dtab import Path
from l5d.config import (
    Backoff,
    ConfigError,
    GlobalServiceConfig,
    ResponseClassifierConfig,
    RetriesConfig,
    RetryBudgetConfig,
    ServiceParams,
    ServicePolicy,
    StaticServiceConfig,
)
from l5d.config.service_policy import RESPONSE_CLASSIFIER_KINDS

from tests.l5d.config._router_block import HEAD, router  # noqa: F401


def params(block: str, name: str) -> ServiceParams:
    return router(block).service.params_for(Path.read(name))


STATIC = """\
service:
  kind: io.l5d.static
  configs:
{}"""


def static(entries: str) -> str:
    return STATIC.format(textwrap.indent(textwrap.dedent(entries), "  "))


class GlobalTests:
    """``io.l5d.global``: the parameters on the object, for every service."""

    def test_defaults(self) -> None:
        """No service block: no timeout, the default budget, no backoff, nonRetryable5XX."""
        assert params("", "/svc/hello") == ServiceParams(
            total_timeout_s=None,
            retry_budget=RetryBudgetConfig(ttl_s=10.0, min_retries_per_s=10,
                                           percent_can_retry=0.2),
            retry_backoff=Backoff.constant(0.0),
            response_classifier=ResponseClassifierConfig("io.l5d.http.nonRetryable5XX"),
        )

    def test_every_key(self) -> None:
        """Linkerd's retries.yaml example: classifier, budget, jittered backoff, total timeout."""
        block = """\
            service:
              responseClassifier:
                kind: io.l5d.http.retryableIdempotent5XX
              retries:
                budget:
                  minRetriesPerSec: 5
                  percentCanRetry: 0.5
                  ttlSecs: 15
                backoff:
                  kind: jittered
                  minMs: 10
                  maxMs: 10000
              totalTimeoutMs: 1000
            """
        assert params(block, "/svc/dog") == ServiceParams(
            total_timeout_s=1.0,
            retry_budget=RetryBudgetConfig(15.0, 5, 0.5),
            retry_backoff=Backoff.jittered(0.01, 10.0),
            response_classifier=ResponseClassifierConfig("io.l5d.http.retryableIdempotent5XX"),
        )

    @pytest.mark.parametrize("kind", RESPONSE_CLASSIFIER_KINDS)
    def test_response_classifier(self, kind: str) -> None:
        """Each HTTP classifier kind is accepted as written."""
        block = f"service:\n  responseClassifier: {{kind: {kind}}}\n"
        assert params(block, "/svc/a").response_classifier == ResponseClassifierConfig(kind)

    def test_json(self) -> None:
        """Only the blocks written appear."""
        r = router("service:\n  retries: {backoff: {kind: constant, ms: 5}}\n"
                   "  responseClassifier: {kind: io.l5d.http.allSuccessful}\n")
        assert r.service.to_json() == {
            "kind": "io.l5d.global",
            "retries": {"backoff": {"kind": "constant", "ms": 5}},
            "responseClassifier": {"kind": "io.l5d.http.allSuccessful"},
        }
        assert ServiceParams().to_json() == {
            "retries": {"budget": {"ttlSecs": 10, "minRetriesPerSec": 10,
                                   "percentCanRetry": 0.2},
                        "backoff": {"kind": "constant", "ms": 0}},
            "responseClassifier": {"kind": "io.l5d.http.nonRetryable5XX"},
        }


class StaticTests:
    """``io.l5d.static``: entries matched against the service name, folded in file order."""

    def test_latency_example(self) -> None:
        """linkerd-examples' linkerd-latency.yml: /svc/hello 600 ms, /svc/world 100 ms."""
        block = static("""\
            - prefix: /svc/hello
              totalTimeoutMs: 600
            - prefix: /svc/world
              totalTimeoutMs: 100
            """)
        r = router(block)
        assert r.service.params_for(Path.read("/svc/hello")).total_timeout_s == 0.6
        assert r.service.params_for(Path.read("/svc/world/v1")).total_timeout_s == 0.1
        assert r.service.params_for(Path.read("/svc/other")) == ServiceParams()
        assert r.service.total_timeout_s is None  # nothing router-wide

    def test_service_options_example(self) -> None:
        """Linkerd's service-options.yaml: /svc 500, /svc/foo 1000, /svc/bar adds retries."""
        block = static("""\
            - prefix: /svc
              totalTimeoutMs: 500
            - prefix: /svc/foo
              totalTimeoutMs: 1000
            - prefix: /svc/bar
              retries:
                budget: {minRetriesPerSec: 5, percentCanRetry: 0.5, ttlSecs: 15}
                backoff: {kind: jittered, minMs: 10, maxMs: 10000}
            """)
        assert params(block, "/svc/foo").total_timeout_s == 1.0
        assert params(block, "/svc/baz").total_timeout_s == 0.5
        assert params(block, "/svc/bar") == ServiceParams(
            total_timeout_s=0.5, retry_budget=RetryBudgetConfig(15.0, 5, 0.5),
            retry_backoff=Backoff.jittered(0.01, 10.0))
        assert params(block, "/svc/baz").retry_budget == RetryBudgetConfig()

    def test_retry_budget_and_backoff_are_separate(self) -> None:
        """A later ``retries: {backoff}`` keeps an earlier budget, and the other way round."""
        block = static("""\
            - prefix: /svc
              retries: {budget: {percentCanRetry: 0.5}}
            - prefix: /svc/a
              retries: {backoff: {kind: constant, ms: 20}}
            - prefix: /svc/a/b
              retries: {budget: {ttlSecs: 5}}
            - prefix: /svc/a/b/c
              retries: {}
            """)
        p = params(block, "/svc/a")
        assert (p.retry_budget, p.retry_backoff) == (
            RetryBudgetConfig(percent_can_retry=0.5), Backoff.constant(0.02))
        p = params(block, "/svc/a/b")  # the later budget block replaces the earlier wholesale
        assert (p.retry_budget, p.retry_backoff) == (
            RetryBudgetConfig(ttl_s=5.0), Backoff.constant(0.02))
        assert params(block, "/svc/a/b/c") == p  # an empty retries block changes nothing

    def test_classifier_per_prefix(self) -> None:
        """A later responseClassifier replaces the earlier one for the names it matches."""
        block = static("""\
            - prefix: /
              responseClassifier: {kind: io.l5d.http.retryableRead5XX}
            - prefix: /svc/pay
              responseClassifier: {kind: io.l5d.http.nonRetryable5XX}
              totalTimeoutMs: 3000
            """)
        assert params(block, "/svc/hello").response_classifier.kind == \
            "io.l5d.http.retryableRead5XX"
        p = params(block, "/svc/pay/x")
        assert (p.response_classifier.kind, p.total_timeout_s) == (
            "io.l5d.http.nonRetryable5XX", 3.0)

    def test_captures_match(self) -> None:
        """``*`` and ``{name}`` prefixes match service names too."""
        block = static("- prefix: /svc/*/{version}\n  totalTimeoutMs: 50\n")
        assert params(block, "/svc/hello/v2").total_timeout_s == 0.05
        assert params(block, "/svc/hello").total_timeout_s is None

    def test_json(self) -> None:
        """Each entry with its prefix and the blocks it writes."""
        block = static("- prefix: /svc\n  retries: {budget: {}}\n")
        assert router(block).service.to_json() == {"kind": "io.l5d.static", "configs": [
            {"prefix": "/svc", "retries": {"budget": {"ttlSecs": 10, "minRetriesPerSec": 10,
                                                      "percentCanRetry": 0.2}}}]}
        assert router(block).service == StaticServiceConfig((
            ServicePolicy("/svc", retries=RetriesConfig(budget=RetryBudgetConfig())),))


SERVICE_KNOWN = "kind, responseClassifier, retries, totalTimeoutMs"
ENTRY_KNOWN = "prefix, responseClassifier, retries, totalTimeoutMs"

ERRORS = [
    ("classifier-unknown", "service:\n  responseClassifier: {kind: io.l5d.h2.retryableRead5XX}\n",
     'linkerd.yaml:5: routers[0].service.responseClassifier.kind: unknown kind '
     '"io.l5d.h2.retryableRead5XX" (known kinds: io.l5d.http.allSuccessful, '
     'io.l5d.http.nonRetryable5XX, io.l5d.http.retryableAll5XX, '
     'io.l5d.http.retryableIdempotent5XX, io.l5d.http.retryableRead5XX)'),
    ("classifier-missing-kind", "service:\n  responseClassifier: {}\n",
     'linkerd.yaml:5: routers[0].service.responseClassifier: missing required key "kind"'),
    ("classifier-string", "service:\n  responseClassifier: io.l5d.http.retryableRead5XX\n",
     'linkerd.yaml:5: routers[0].service.responseClassifier: expected a mapping, '
     'got "io.l5d.http.retryableRead5XX"'),
    ("classifier-extra-key",
     "service:\n  responseClassifier:\n    kind: io.l5d.http.retryableAll5XX\n"
     "    retryableStatusCodes: [503]\n",
     'linkerd.yaml:7: routers[0].service.responseClassifier.retryableStatusCodes: unknown key '
     '"retryableStatusCodes" (known keys: kind)'),
    ("global-prefix", "service: {prefix: /svc, totalTimeoutMs: 5}\n",
     f'linkerd.yaml:4: routers[0].service.prefix: unknown key "prefix" '
     f'(known keys: {SERVICE_KNOWN})'),
    ("entry-unknown", static("- prefix: /svc\n  timeoutMs: 5\n"),
     f'linkerd.yaml:8: routers[0].service.configs[0].timeoutMs: unknown key "timeoutMs"; '
     f'did you mean "totalTimeoutMs"? '
     f'(known keys: {ENTRY_KNOWN})'),
    ("entry-timeout-zero", static("- prefix: /svc\n- prefix: /svc/a\n  totalTimeoutMs: 0\n"),
     'linkerd.yaml:9: routers[0].service.configs[1].totalTimeoutMs: '
     'expected an integer >= 1, got 0'),
    ("entry-without-prefix", static("- totalTimeoutMs: 5\n"),
     'linkerd.yaml:7: routers[0].service.configs[0]: missing required key "prefix"'),
    ("entry-retries-budget",
     static("- prefix: /svc\n  retries:\n    budget: {percentCanRetry: 2000}\n"),
     'linkerd.yaml:9: routers[0].service.configs[0].retries.budget.percentCanRetry: '
     'expected a number <= 1000, got 2000'),
    ("entry-retries-backoff",
     static("- prefix: /svc\n  retries:\n    backoff: {kind: jittered, minMs: 10}\n"),
     'linkerd.yaml:9: routers[0].service.configs[0].retries.backoff: '
     'missing required key "maxMs"'),
    ("static-configs-null", "service:\n  kind: io.l5d.static\n  configs:\n",
     'linkerd.yaml:6: routers[0].service.configs: expected a list, got null'),
]


class ErrorTests:
    """Bad service blocks fail with exactly this message."""

    @pytest.mark.parametrize("name, block, message", ERRORS, ids=[c[0] for c in ERRORS])
    def test_message(self, name: str, block: str, message: str) -> None:
        """``{source}:{line}: {key path}: {message}``."""
        with pytest.raises(ConfigError) as info:
            router(block)
        assert str(info.value) == message, name

    @pytest.mark.parametrize("make, message", [
        (lambda: ResponseClassifierConfig("io.l5d.http.retryable5XX"),
         "kind: expected one of " + ", ".join(RESPONSE_CLASSIFIER_KINDS)
         + ", got 'io.l5d.http.retryable5XX'"),
        (lambda: ServicePolicy(retries={}), "retries: expected None or a RetriesConfig, got {}"),
        (lambda: ServicePolicy(prefix=""), None),
        (lambda: GlobalServiceConfig(ServicePolicy("/svc")),
         "policy: expected a ServicePolicy with prefix \"/\", got " + repr(ServicePolicy("/svc"))),
    ], ids=["classifier", "retries", "empty-prefix-is-slash", "global-prefix"])
    def test_post_init(self, make, message) -> None:
        """Built in code, bad values are ValueErrors naming the field (an empty prefix, like
        Linkerd's, matches everything)."""
        if message is None:
            assert make().matcher.match(Path.read("/x")) == {}
            return
        with pytest.raises(ValueError) as info:
            make()
        assert str(info.value) == message
