"""client.failureAccrual: every kind and key, the default policy and backoff, and the errors."""

from __future__ import annotations


import pytest

from dtab import Path
from l5d.config import (
    Backoff,
    ConfigError,
    ConsecutiveFailuresConfig,
    NoneFailureAccrualConfig,
    SuccessRateConfig,
    SuccessRateWindowedConfig,
)
from l5d.config.accrual import DEFAULT_FAILURE_ACCRUAL
from l5d.config.retries import DEFAULT_ACCRUAL_BACKOFF

from tests.l5d.config._router_block import HEAD, router  # noqa: F401


def accrual(yaml: str):
    return router(f"client:\n  failureAccrual: {yaml}\n").client.params_for(Path.read("/a")) \
        .failure_accrual


class KindTests:
    """Each kind, with and without a backoff."""

    CASES = [
        ("consecutive", "{kind: io.l5d.consecutiveFailures, failures: 10}",
         ConsecutiveFailuresConfig(failures=10, backoff=DEFAULT_ACCRUAL_BACKOFF)),
        ("consecutive-constant",
         "{kind: io.l5d.consecutiveFailures, failures: 5, backoff: {kind: constant, ms: 10000}}",
         ConsecutiveFailuresConfig(failures=5, backoff=Backoff.constant(10.0))),
        ("success-rate", "{kind: io.l5d.successRate, successRate: 0.9, requests: 20}",
         SuccessRateConfig(success_rate=0.9, requests=20)),
        ("success-rate-jittered",
         "{kind: io.l5d.successRate, successRate: 1, requests: 1000,"
         " backoff: {kind: jittered, minMs: 5000, maxMs: 300000}}",
         SuccessRateConfig(success_rate=1.0, requests=1000,
                           backoff=Backoff.jittered(5.0, 300.0))),
        ("windowed", "{kind: io.l5d.successRateWindowed, successRate: 0.8, window: 30}",
         SuccessRateWindowedConfig(success_rate=0.8, window_s=30.0)),
        ("windowed-zero-rate", "{kind: io.l5d.successRateWindowed, successRate: 0, window: 1}",
         SuccessRateWindowedConfig(success_rate=0.0, window_s=1.0)),
        ("none", "{kind: none}", NoneFailureAccrualConfig()),
        ("none-backoff", "{kind: none, backoff: {kind: constant}}",
         NoneFailureAccrualConfig(backoff=Backoff.constant(0.0))),
    ]

    @pytest.mark.parametrize("name, yaml, expected", CASES, ids=[c[0] for c in CASES])
    def test_kind(self, name: str, yaml: str, expected) -> None:
        """The block becomes this config; no backoff means equal jitter 5 s to 300 s."""
        assert accrual(yaml) == expected, name

    def test_default(self) -> None:
        """No failureAccrual anywhere: 5 consecutive failures, equal jitter 5 s to 300 s."""
        assert router("").client.params_for(Path.read("/a")).failure_accrual == \
            DEFAULT_FAILURE_ACCRUAL == ConsecutiveFailuresConfig(
                failures=5, backoff=Backoff.equal_jittered(5.0, 300.0))

    def test_json_leaves_the_default_backoff_out(self) -> None:
        """The default backoff is not written (configs cannot write equalJittered)."""
        assert ConsecutiveFailuresConfig(5).to_json() == {
            "kind": "io.l5d.consecutiveFailures", "failures": 5}
        assert SuccessRateWindowedConfig(0.9, 60.0, Backoff.constant(1.0)).to_json() == {
            "kind": "io.l5d.successRateWindowed", "successRate": 0.9, "window": 60,
            "backoff": {"kind": "constant", "ms": 1000}}


ERRORS = [
    ("missing-kind", "client:\n  failureAccrual: {failures: 3}\n",
     'linkerd.yaml:5: routers[0].client.failureAccrual: missing required key "kind"'),
    ("unknown-kind", "client:\n  failureAccrual: {kind: io.l5d.consecutive}\n",
     'linkerd.yaml:5: routers[0].client.failureAccrual.kind: unknown kind "io.l5d.consecutive"; '
     'did you mean "io.l5d.consecutiveFailures"? '
     '(known kinds: io.l5d.consecutiveFailures, io.l5d.successRate, '
     'io.l5d.successRateWindowed, none)'),
    ("failures-missing", "client:\n  failureAccrual: {kind: io.l5d.consecutiveFailures}\n",
     'linkerd.yaml:5: routers[0].client.failureAccrual: missing required key "failures"'),
    ("failures-zero",
     "client:\n  failureAccrual: {kind: io.l5d.consecutiveFailures, failures: 0}\n",
     'linkerd.yaml:5: routers[0].client.failureAccrual.failures: '
     'expected an integer >= 1, got 0'),
    ("success-rate-above-one",
     "client:\n  failureAccrual:\n    kind: io.l5d.successRate\n    successRate: 1.5\n"
     "    requests: 10\n",
     'linkerd.yaml:7: routers[0].client.failureAccrual.successRate: '
     'expected a number <= 1, got 1.5'),
    ("success-rate-negative",
     "client:\n  failureAccrual: {kind: io.l5d.successRate, successRate: -0.1, requests: 1}\n",
     'linkerd.yaml:5: routers[0].client.failureAccrual.successRate: '
     'expected a number >= 0, got -0.1'),
    ("requests-missing", "client:\n  failureAccrual: {kind: io.l5d.successRate, successRate: 1}\n",
     'linkerd.yaml:5: routers[0].client.failureAccrual: missing required key "requests"'),
    ("requests-zero",
     "client:\n  failureAccrual: {kind: io.l5d.successRate, successRate: 1, requests: 0}\n",
     'linkerd.yaml:5: routers[0].client.failureAccrual.requests: '
     'expected an integer >= 1, got 0'),
    ("window-zero",
     "client:\n  failureAccrual: {kind: io.l5d.successRateWindowed, successRate: 1, window: 0}\n",
     'linkerd.yaml:5: routers[0].client.failureAccrual.window: expected an integer >= 1, got 0'),
    ("window-ms", "client:\n  failureAccrual:\n    kind: io.l5d.successRateWindowed\n"
     "    successRate: 1\n    windowMs: 30000\n",
     'linkerd.yaml:8: routers[0].client.failureAccrual.windowMs: unknown key "windowMs"; '
     'did you mean "window"? '
     '(known keys: backoff, kind, successRate, window)'),
    ("none-with-key", "client:\n  failureAccrual: {kind: none, failures: 5}\n",
     'linkerd.yaml:5: routers[0].client.failureAccrual.failures: unknown key "failures" '
     '(known keys: backoff, kind)'),
    ("backoff-bad", "client:\n  failureAccrual:\n    kind: none\n    backoff: {kind: jittered}\n",
     'linkerd.yaml:7: routers[0].client.failureAccrual.backoff: missing required key "minMs"'),
]


class ErrorTests:
    """Bad failureAccrual blocks fail with exactly this message."""

    @pytest.mark.parametrize("name, block, message", ERRORS, ids=[c[0] for c in ERRORS])
    def test_message(self, name: str, block: str, message: str) -> None:
        """``{source}:{line}: {key path}: {message}``."""
        with pytest.raises(ConfigError) as info:
            router(block)
        assert str(info.value) == message, name

    @pytest.mark.parametrize("make, message", [
        (lambda: ConsecutiveFailuresConfig(0), "failures: expected an integer >= 1, got 0"),
        (lambda: SuccessRateConfig(2.0, 10), "success_rate: expected a number <= 1, got 2.0"),
        (lambda: SuccessRateWindowedConfig(0.5, 0.0), "window_s: expected seconds > 0, got 0.0"),
        (lambda: NoneFailureAccrualConfig(backoff=None),
         "backoff: expected a Backoff, got None"),
    ], ids=["consecutive", "success-rate", "windowed", "none"])
    def test_post_init(self, make, message: str) -> None:
        """Built in code, bad values are ValueErrors naming the field."""
        with pytest.raises(ValueError) as info:
            make()
        assert str(info.value) == message
