"""client.loadBalancer: every kind and key with Linkerd's defaults, and the exact errors."""

from __future__ import annotations


import pytest

from dtab import Path
from l5d.config import (
    ApertureConfig,
    ConfigError,
    EwmaConfig,
    HeapConfig,
    P2CConfig,
    RoundRobinConfig,
)

from tests.l5d.config._router_block import HEAD, router  # noqa: F401


def error(block: str) -> str:
    with pytest.raises(ConfigError) as info:
        router(block)
    return str(info.value)


def balancer(yaml: str):
    return router(f"client:\n  loadBalancer: {yaml}\n").client.params_for(Path.read("/a")) \
        .load_balancer


class KindTests:
    """Each kind with its defaults, and with every key written."""

    CASES = [
        ("p2c", "{kind: p2c}", P2CConfig(max_effort=5, enable_probation=False)),
        ("p2c-all", "{kind: p2c, maxEffort: 10, enableProbation: true}",
         P2CConfig(max_effort=10, enable_probation=True)),
        ("ewma", "{kind: ewma}", EwmaConfig(max_effort=5, decay_time_s=10.0)),
        ("ewma-all", "{kind: ewma, maxEffort: 3, decayTimeMs: 150, enableProbation: true}",
         EwmaConfig(max_effort=3, decay_time_s=0.15, enable_probation=True)),
        ("aperture", "{kind: aperture}",
         ApertureConfig(max_effort=5, smooth_window_s=5.0, low_load=0.5, high_load=2.0,
                        min_aperture=1)),
        ("aperture-all", "{kind: aperture, maxEffort: 2, smoothWindowMs: 15000, lowLoad: 0.875,"
         " highLoad: 1.125, minAperture: 4, enableProbation: false}",
         ApertureConfig(max_effort=2, smooth_window_s=15.0, low_load=0.875, high_load=1.125,
                        min_aperture=4)),
        ("aperture-int-loads", "{kind: aperture, lowLoad: 1, highLoad: 2}",
         ApertureConfig(low_load=1.0, high_load=2.0)),
        ("heap", "{kind: heap}", HeapConfig(enable_probation=False)),
        ("heap-all", "{kind: heap, enableProbation: true}", HeapConfig(enable_probation=True)),
        ("roundRobin", "{kind: roundRobin}", RoundRobinConfig(max_effort=5)),
        ("roundRobin-all", "{kind: roundRobin, maxEffort: 1, enableProbation: true}",
         RoundRobinConfig(max_effort=1, enable_probation=True)),
    ]

    @pytest.mark.parametrize("name, yaml, expected", CASES, ids=[c[0] for c in CASES])
    def test_kind(self, name: str, yaml: str, expected) -> None:
        """The block becomes this config (keys left out take Linkerd's defaults)."""
        assert balancer(yaml) == expected, name

    def test_default_is_p2c(self) -> None:
        """No loadBalancer anywhere: p2c, maxEffort 5, probation off."""
        assert router("").client.params_for(Path.read("/a")).load_balancer == P2CConfig()

    def test_json(self) -> None:
        """Every key, defaults included, kind first and enableProbation last."""
        assert ApertureConfig().to_json() == {
            "kind": "aperture", "maxEffort": 5, "smoothWindowMs": 5000, "lowLoad": 0.5,
            "highLoad": 2.0, "minAperture": 1, "enableProbation": False}
        assert list(EwmaConfig().to_json()) == ["kind", "maxEffort", "decayTimeMs",
                                                "enableProbation"]
        assert HeapConfig().to_json() == {"kind": "heap", "enableProbation": False}


ERRORS = [
    ("missing-kind", "client:\n  loadBalancer: {maxEffort: 3}\n",
     'linkerd.yaml:5: routers[0].client.loadBalancer: missing required key "kind"'),
    ("unknown-kind", "client:\n  loadBalancer: {kind: leastLoaded}\n",
     'linkerd.yaml:5: routers[0].client.loadBalancer.kind: unknown kind "leastLoaded" '
     '(known kinds: aperture, ewma, heap, p2c, roundRobin)'),
    ("not-mapping", "client:\n  loadBalancer: ewma\n",
     'linkerd.yaml:5: routers[0].client.loadBalancer: expected a mapping, got "ewma"'),
    ("heap-max-effort", "client:\n  loadBalancer: {kind: heap, maxEffort: 5}\n",
     'linkerd.yaml:5: routers[0].client.loadBalancer.maxEffort: unknown key "maxEffort" '
     '(known keys: enableProbation, kind)'),
    ("p2c-decay", "client:\n  loadBalancer: {kind: p2c, decayTimeMs: 5}\n",
     'linkerd.yaml:5: routers[0].client.loadBalancer.decayTimeMs: unknown key "decayTimeMs" '
     '(known keys: enableProbation, kind, maxEffort)'),
    ("ewma-unknown", "client:\n  loadBalancer: {kind: ewma, decayTime: 5}\n",
     'linkerd.yaml:5: routers[0].client.loadBalancer.decayTime: unknown key "decayTime"; '
     'did you mean "decayTimeMs"? '
     '(known keys: decayTimeMs, enableProbation, kind, maxEffort)'),
    ("static-decay-zero",
     "client:\n  kind: io.l5d.static\n  configs:\n  - prefix: /\n    loadBalancer: {kind: p2c}\n"
     "  - prefix: /#/io.l5d.fs\n    loadBalancer:\n      kind: ewma\n      decayTimeMs: 0\n",
     'linkerd.yaml:12: routers[0].client.configs[1].loadBalancer.decayTimeMs: '
     'expected an integer >= 1, got 0'),
    ("max-effort-zero", "client:\n  loadBalancer: {kind: roundRobin, maxEffort: 0}\n",
     'linkerd.yaml:5: routers[0].client.loadBalancer.maxEffort: expected an integer >= 1, got 0'),
    ("max-effort-string", "client:\n  loadBalancer: {kind: p2c, maxEffort: '5'}\n",
     'linkerd.yaml:5: routers[0].client.loadBalancer.maxEffort: expected an integer, got "5"'),
    ("probation-string", "client:\n  loadBalancer: {kind: p2c, enableProbation: 'yes'}\n",
     'linkerd.yaml:5: routers[0].client.loadBalancer.enableProbation: '
     'expected a boolean, got "yes"'),
    ("smooth-zero", "client:\n  loadBalancer: {kind: aperture, smoothWindowMs: 0}\n",
     'linkerd.yaml:5: routers[0].client.loadBalancer.smoothWindowMs: '
     'expected an integer >= 1, got 0'),
    ("low-load-zero", "client:\n  loadBalancer: {kind: aperture, lowLoad: 0}\n",
     'linkerd.yaml:5: routers[0].client.loadBalancer.lowLoad: expected a number > 0, got 0'),
    ("low-load-string", "client:\n  loadBalancer: {kind: aperture, lowLoad: low}\n",
     'linkerd.yaml:5: routers[0].client.loadBalancer.lowLoad: expected a number, got "low"'),
    ("low-load-inf", "client:\n  loadBalancer: {kind: aperture, lowLoad: .inf}\n",
     'linkerd.yaml:5: routers[0].client.loadBalancer.lowLoad: expected a number, got inf'),
    ("high-below-low", "client:\n  loadBalancer: {kind: aperture, lowLoad: 1.5, highLoad: 1}\n",
     'linkerd.yaml:5: routers[0].client.loadBalancer.highLoad: expected a number > 1.5, got 1'),
    ("high-equal-low", "client:\n  loadBalancer: {kind: aperture, lowLoad: 1, highLoad: 1}\n",
     'linkerd.yaml:5: routers[0].client.loadBalancer.highLoad: expected a number > 1, got 1'),
    ("high-below-default-low", "client:\n  loadBalancer: {kind: aperture, highLoad: 0.25}\n",
     'linkerd.yaml:5: routers[0].client.loadBalancer.highLoad: '
     'expected a number > 0.5, got 0.25'),
    ("min-aperture-zero", "client:\n  loadBalancer: {kind: aperture, minAperture: 0}\n",
     'linkerd.yaml:5: routers[0].client.loadBalancer.minAperture: '
     'expected an integer >= 1, got 0'),
]


class ErrorTests:
    """Bad loadBalancer blocks fail with exactly this message."""

    @pytest.mark.parametrize("name, block, message", ERRORS, ids=[c[0] for c in ERRORS])
    def test_message(self, name: str, block: str, message: str) -> None:
        """``{source}:{line}: {key path}: {message}``."""
        assert error(block) == message, name

    @pytest.mark.parametrize("make, message", [
        (lambda: P2CConfig(max_effort=0), "max_effort: expected an integer >= 1, got 0"),
        (lambda: EwmaConfig(decay_time_s=0), "decay_time_s: expected seconds > 0, got 0"),
        (lambda: ApertureConfig(low_load=3.0),
         "high_load: expected a number > 3, got 2.0"),
        (lambda: ApertureConfig(min_aperture=True),
         "min_aperture: expected an integer, got True"),
        (lambda: HeapConfig(enable_probation=1),
         "enable_probation: expected a boolean, got 1"),
        (lambda: RoundRobinConfig(max_effort=2.5), "max_effort: expected an integer, got 2.5"),
    ], ids=["p2c", "ewma", "aperture-loads", "aperture-bool", "heap", "round-robin"])
    def test_post_init(self, make, message: str) -> None:
        """Built in code, bad values are ValueErrors naming the field."""
        with pytest.raises(ValueError) as info:
            make()
        assert str(info.value) == message
