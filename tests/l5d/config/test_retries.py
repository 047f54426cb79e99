"""Backoffs and retry budgets (service.retries, client.requeueBudget): keys, defaults, errors."""

from __future__ import annotations


import pytest

from dtab import Path
from l5d.config import (
    Backoff,
    ConfigError,
    RetriesConfig,
    RetryBudgetConfig,
)
from l5d.config.retries import DEFAULT_RETRY_BACKOFF

from tests.l5d.config._router_block import HEAD, router  # noqa: F401


def service(yaml: str):
    return router(f"service:\n  retries: {yaml}\n").service.params_for(Path.read("/svc/a"))


class BackoffTests:
    """``retries.backoff``: constant or jittered."""

    CASES = [
        ("constant", "{kind: constant, ms: 250}", Backoff.constant(0.25)),
        ("constant-default-ms", "{kind: constant}", Backoff.constant(0.0)),
        ("jittered", "{kind: jittered, minMs: 10, maxMs: 10000}", Backoff.jittered(0.01, 10.0)),
        ("jittered-equal-bounds", "{kind: jittered, minMs: 5, maxMs: 5}",
         Backoff.jittered(0.005, 0.005)),
    ]

    @pytest.mark.parametrize("name, yaml, expected", CASES, ids=[c[0] for c in CASES])
    def test_backoff(self, name: str, yaml: str, expected: Backoff) -> None:
        """The block becomes this Backoff."""
        assert service(f"{{backoff: {yaml}}}").retry_backoff == expected, name

    def test_default_is_no_wait(self) -> None:
        """No backoff: retry at once (constant 0)."""
        assert service("{}").retry_backoff == DEFAULT_RETRY_BACKOFF == Backoff("constant")

    def test_json(self) -> None:
        """Linkerd's keys, in ms; equal jitter shows its bounds too."""
        assert Backoff.constant(0.5).to_json() == {"kind": "constant", "ms": 500}
        assert Backoff.jittered(0.01, 10.0).to_json() == {
            "kind": "jittered", "minMs": 10, "maxMs": 10000}
        assert Backoff.equal_jittered(5.0, 300.0).to_json() == {
            "kind": "equalJittered", "minMs": 5000, "maxMs": 300000}

    @pytest.mark.parametrize("make, message", [
        (lambda: Backoff("exponential"),
         "kind: expected one of constant, jittered, equalJittered, got 'exponential'"),
        (lambda: Backoff.constant(-1.0), "delay_s: expected seconds >= 0, got -1.0"),
        (lambda: Backoff("constant", min_s=1.0, max_s=1.0),
         "min_s: expected min_s = max_s = 0 for a constant backoff, got (1.0, 1.0)"),
        (lambda: Backoff.jittered(0.0, 1.0), "min_s: expected seconds > 0, got 0.0"),
        (lambda: Backoff.equal_jittered(2.0, 1.0), "max_s: expected a number >= 2, got 1.0"),
        (lambda: Backoff("jittered", delay_s=1.0, min_s=1.0, max_s=2.0),
         "delay_s: expected 0 for a jittered backoff, got 1.0"),
    ], ids=["kind", "negative", "constant-bounds", "jittered-zero", "equal-inverted",
            "jittered-delay"])
    def test_post_init(self, make, message: str) -> None:
        """Built in code, bad values are ValueErrors naming the field."""
        with pytest.raises(ValueError) as info:
            make()
        assert str(info.value) == message


class BudgetTests:
    """``retries.budget`` and ``requeueBudget``: ttlSecs 10, minRetriesPerSec 10,
    percentCanRetry 0.2, each defaulted on its own."""

    CASES = [
        ("empty", "{}", RetryBudgetConfig(10.0, 10, 0.2)),
        ("all", "{ttlSecs: 15, minRetriesPerSec: 5, percentCanRetry: 0.5}",
         RetryBudgetConfig(15.0, 5, 0.5)),
        ("ttl-only", "{ttlSecs: 60}", RetryBudgetConfig(60.0, 10, 0.2)),
        ("zero-zero", "{minRetriesPerSec: 0, percentCanRetry: 0}", RetryBudgetConfig(10.0, 0, 0.0)),
        ("percent-int", "{percentCanRetry: 1000}", RetryBudgetConfig(10.0, 10, 1000.0)),
    ]

    @pytest.mark.parametrize("name, yaml, expected", CASES, ids=[c[0] for c in CASES])
    def test_service_budget(self, name: str, yaml: str, expected: RetryBudgetConfig) -> None:
        """``service.retries.budget``."""
        assert service(f"{{budget: {yaml}}}").retry_budget == expected, name

    @pytest.mark.parametrize("name, yaml, expected", CASES, ids=[c[0] for c in CASES])
    def test_requeue_budget(self, name: str, yaml: str, expected: RetryBudgetConfig) -> None:
        """``client.requeueBudget``, the same object."""
        params = router(f"client:\n  requeueBudget: {yaml}\n").client.params_for(Path.read("/a"))
        assert params.requeue_budget == expected, name

    def test_defaults_when_left_out(self) -> None:
        """No budget anywhere: the defaults, on both sides."""
        r = router("")
        assert r.service.params_for(Path.read("/svc")).retry_budget == RetryBudgetConfig()
        assert r.client.params_for(Path.read("/a")).requeue_budget == RetryBudgetConfig()

    def test_json(self) -> None:
        """Every key, ttl in whole seconds."""
        assert RetryBudgetConfig().to_json() == {
            "ttlSecs": 10, "minRetriesPerSec": 10, "percentCanRetry": 0.2}
        assert RetriesConfig().to_json() == {}
        assert RetriesConfig(backoff=Backoff.constant(0.0)).to_json() == {
            "backoff": {"kind": "constant", "ms": 0}}

    @pytest.mark.parametrize("make, message", [
        (lambda: RetryBudgetConfig(ttl_s=0.0),
         "ttl_s: expected whole seconds from 1 to 60, got 0.0"),
        (lambda: RetryBudgetConfig(ttl_s=61), "ttl_s: expected whole seconds from 1 to 60, got 61"),
        (lambda: RetryBudgetConfig(ttl_s=1.5),
         "ttl_s: expected whole seconds from 1 to 60, got 1.5"),
        (lambda: RetryBudgetConfig(min_retries_per_s=-1),
         "min_retries_per_s: expected an integer >= 0, got -1"),
        (lambda: RetryBudgetConfig(percent_can_retry=-1.0),
         "percent_can_retry: expected a number >= 0, got -1.0"),
        (lambda: RetriesConfig(budget={}), "budget: expected None or a RetryBudgetConfig, got {}"),
    ], ids=["ttl-zero", "ttl-61", "ttl-fraction", "min-negative", "pct-negative", "budget-type"])
    def test_post_init(self, make, message: str) -> None:
        """Built in code, bad values are ValueErrors naming the field (Finagle's ranges)."""
        with pytest.raises(ValueError) as info:
            make()
        assert str(info.value) == message


ERRORS = [
    ("ttl-zero", "service:\n  retries:\n    budget: {ttlSecs: 0}\n",
     'linkerd.yaml:6: routers[0].service.retries.budget.ttlSecs: expected an integer >= 1, got 0'),
    ("ttl-61", "service:\n  retries:\n    budget: {ttlSecs: 61}\n",
     'linkerd.yaml:6: routers[0].service.retries.budget.ttlSecs: '
     'expected an integer <= 60, got 61'),
    ("min-negative", "client:\n  requeueBudget: {minRetriesPerSec: -1}\n",
     'linkerd.yaml:5: routers[0].client.requeueBudget.minRetriesPerSec: '
     'expected an integer >= 0, got -1'),
    ("min-float", "client:\n  requeueBudget: {minRetriesPerSec: 0.5}\n",
     'linkerd.yaml:5: routers[0].client.requeueBudget.minRetriesPerSec: '
     'expected an integer, got 0.5'),
    ("pct-negative", "client:\n  requeueBudget: {percentCanRetry: -0.1}\n",
     'linkerd.yaml:5: routers[0].client.requeueBudget.percentCanRetry: '
     'expected a number >= 0, got -0.1'),
    ("pct-too-big", "client:\n  requeueBudget: {percentCanRetry: 1000.5}\n",
     'linkerd.yaml:5: routers[0].client.requeueBudget.percentCanRetry: '
     'expected a number <= 1000, got 1000.5'),
    ("budget-unknown", "client:\n  requeueBudget: {ttl: 10}\n",
     'linkerd.yaml:5: routers[0].client.requeueBudget.ttl: unknown key "ttl" '
     '(known keys: minRetriesPerSec, percentCanRetry, ttlSecs)'),
    ("retries-unknown", "service:\n  retries: {budget: {}, maxRetries: 3}\n",
     'linkerd.yaml:5: routers[0].service.retries.maxRetries: unknown key "maxRetries" '
     '(known keys: backoff, budget)'),
    ("backoff-kind-missing", "service:\n  retries: {backoff: {ms: 5}}\n",
     'linkerd.yaml:5: routers[0].service.retries.backoff: missing required key "kind"'),
    ("backoff-kind-unknown", "service:\n  retries: {backoff: {kind: equalJittered}}\n",
     'linkerd.yaml:5: routers[0].service.retries.backoff.kind: unknown kind "equalJittered" '
     '(known kinds: constant, jittered)'),
    ("constant-negative", "service:\n  retries: {backoff: {kind: constant, ms: -1}}\n",
     'linkerd.yaml:5: routers[0].service.retries.backoff.ms: expected an integer >= 0, got -1'),
    ("constant-min", "service:\n  retries: {backoff: {kind: constant, minMs: 1}}\n",
     'linkerd.yaml:5: routers[0].service.retries.backoff.minMs: unknown key "minMs" '
     '(known keys: kind, ms)'),
    ("jittered-min-missing", "service:\n  retries:\n    backoff: {kind: jittered, maxMs: 10}\n",
     'linkerd.yaml:6: routers[0].service.retries.backoff: missing required key "minMs"'),
    ("jittered-max-missing", "service:\n  retries:\n    backoff: {kind: jittered, minMs: 10}\n",
     'linkerd.yaml:6: routers[0].service.retries.backoff: missing required key "maxMs"'),
    ("jittered-min-zero",
     "service:\n  retries:\n    backoff: {kind: jittered, minMs: 0, maxMs: 10}\n",
     'linkerd.yaml:6: routers[0].service.retries.backoff.minMs: expected an integer >= 1, got 0'),
    ("jittered-inverted",
     "service:\n  retries:\n    backoff: {kind: jittered, minMs: 100, maxMs: 10}\n",
     'linkerd.yaml:6: routers[0].service.retries.backoff.maxMs: '
     'expected an integer >= 100, got 10'),
    ("jittered-ms", "service:\n  retries:\n    backoff: {kind: jittered, ms: 10}\n",
     'linkerd.yaml:6: routers[0].service.retries.backoff: missing required key "minMs"\n'
     'linkerd.yaml:6: routers[0].service.retries.backoff.ms: unknown key "ms" '
     '(known keys: kind, maxMs, minMs)'),
]


class ErrorTests:
    """Bad budgets and backoffs fail with exactly this message."""

    @pytest.mark.parametrize("name, block, message", ERRORS, ids=[c[0] for c in ERRORS])
    def test_message(self, name: str, block: str, message: str) -> None:
        """``{source}:{line}: {key path}: {message}``."""
        with pytest.raises(ConfigError) as info:
            router(block)
        assert str(info.value) == message, name
