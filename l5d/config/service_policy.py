"""Per-service policy: the ``service`` object of a router (pure).

Keys and defaults are Linkerd's (``linkerd/docs/routers.md``, "Service Parameters";
``SvcConfig.scala``): ``totalTimeoutMs``, ``retries`` (``budget``, ``backoff``; see
:mod:`l5d.config.retries`) and ``responseClassifier``. How ``io.l5d.static`` entries
combine is in :mod:`l5d.config.policy`; ``service.params_for(name)`` gives a
:class:`ServiceParams` with everything resolved.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from dtab import Path
from l5d.config._check import check_optional_seconds, ms, require
from l5d.config._fields import Fields
from l5d.config._kinds import make
from l5d.config.policy import (
    DEFAULT_GLOBAL_KIND, STATIC_KIND, PolicyConfig, compile_prefix, read_policy, read_prefix,
)
from l5d.config.retries import (
    DEFAULT_RETRY_BACKOFF, Backoff, RetriesConfig, RetryBudgetConfig, read_retries,
)
from l5d.router.pathmatch import PathMatcher

__all__ = [
    "DEFAULT_RESPONSE_CLASSIFIER",
    "GlobalServiceConfig",
    "RESPONSE_CLASSIFIER_KINDS",
    "ResponseClassifierConfig",
    "SERVICE_KEYS",
    "ServiceConfig",
    "ServiceParams",
    "ServicePolicy",
    "StaticServiceConfig",
    "read_service",
]

NON_RETRYABLE_5XX = "io.l5d.http.nonRetryable5XX"
#: HTTP response classifier kinds (Linkerd's ``ResponseClassifiers.scala``), sorted
RESPONSE_CLASSIFIER_KINDS = (
    "io.l5d.http.allSuccessful",
    NON_RETRYABLE_5XX,
    "io.l5d.http.retryableAll5XX",
    "io.l5d.http.retryableIdempotent5XX",
    "io.l5d.http.retryableRead5XX",
)

#: the parameter keys of a service block (``prefix`` added in static entries)
SERVICE_KEYS = ("totalTimeoutMs", "retries", "responseClassifier")


@dataclass(frozen=True, slots=True)
class ResponseClassifierConfig:
    """``responseClassifier``: which responses are failures, and which of those may be
    retried.

    ==========================================  ===============================================
    kind                                        5xx (and connection errors) retryable for
    ==========================================  ===============================================
    ``io.l5d.http.nonRetryable5XX`` (default)   none (a 503 nack still is)
    ``io.l5d.http.retryableRead5XX``            GET, HEAD, OPTIONS, TRACE
    ``io.l5d.http.retryableIdempotent5XX``      the read methods, PUT, DELETE
    ``io.l5d.http.retryableAll5XX``             every method
    ``io.l5d.http.allSuccessful``               none: every response is a success
    ==========================================  ===============================================
    """

    kind: str = NON_RETRYABLE_5XX

    def __post_init__(self) -> None:
        require(self.kind in RESPONSE_CLASSIFIER_KINDS, "kind", self.kind,
                "one of " + ", ".join(RESPONSE_CLASSIFIER_KINDS))

    @classmethod
    def from_fields(cls, f: Fields) -> "ResponseClassifierConfig":
        f.expect("kind")
        kind = f.string("kind")
        if kind not in RESPONSE_CLASSIFIER_KINDS:
            known = ", ".join(RESPONSE_CLASSIFIER_KINDS)
            raise f.error(f'unknown kind "{kind}" (known kinds: {known})', "kind")
        return cls(kind)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind}


DEFAULT_RESPONSE_CLASSIFIER = ResponseClassifierConfig()


@dataclass(frozen=True, slots=True)
class ServiceParams:
    """Every service parameter for one service name, resolved.

    :param total_timeout_s: ``totalTimeoutMs`` (``None``: no limit).
    :param retry_budget: ``retries.budget``; one budget per service.
    :param retry_backoff: ``retries.backoff``; wait before each retry.
    :param response_classifier: ``responseClassifier``.
    """

    total_timeout_s: float | None = None
    retry_budget: RetryBudgetConfig = RetryBudgetConfig()
    retry_backoff: Backoff = DEFAULT_RETRY_BACKOFF
    response_classifier: ResponseClassifierConfig = DEFAULT_RESPONSE_CLASSIFIER

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.total_timeout_s is not None:
            out["totalTimeoutMs"] = ms(self.total_timeout_s)
        out["retries"] = {"budget": self.retry_budget.to_json(),
                          "backoff": self.retry_backoff.to_json()}
        out["responseClassifier"] = self.response_classifier.to_json()
        return out


@dataclass(frozen=True, slots=True)
class ServicePolicy:
    """One block of service parameters as written: the ``service`` object of kind
    ``io.l5d.global`` (prefix ``/``) or one entry of ``io.l5d.static``'s ``configs``.
    A parameter left out is ``None``.

    :param prefix: the pattern the service name must match (:mod:`l5d.router.pathmatch`).
    :param total_timeout_s: ``totalTimeoutMs``; the whole request, binding and retries
        included, must have its response by then: 503 before the response head, the
        connection cut after it.
    """

    prefix: str = "/"
    total_timeout_s: float | None = None
    retries: RetriesConfig | None = None
    response_classifier: ResponseClassifierConfig | None = None
    matcher: PathMatcher = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "matcher", compile_prefix(self.prefix))
        check_optional_seconds("total_timeout_s", self.total_timeout_s)
        require(self.retries is None or isinstance(self.retries, RetriesConfig),
                "retries", self.retries, "None or a RetriesConfig")
        require(self.response_classifier is None
                or isinstance(self.response_classifier, ResponseClassifierConfig),
                "response_classifier", self.response_classifier,
                "None or a ResponseClassifierConfig")

    def apply(self, params: ServiceParams) -> ServiceParams:
        """``params`` with every parameter this block writes replaced (the retry budget
        and backoff separately)."""
        changes: dict[str, Any] = {}
        if self.total_timeout_s is not None:
            changes["total_timeout_s"] = self.total_timeout_s
        if self.retries is not None:
            if self.retries.budget is not None:
                changes["retry_budget"] = self.retries.budget
            if self.retries.backoff is not None:
                changes["retry_backoff"] = self.retries.backoff
        if self.response_classifier is not None:
            changes["response_classifier"] = self.response_classifier
        return replace(params, **changes) if changes else params

    @classmethod
    def from_fields(cls, f: Fields, with_prefix: bool) -> "ServicePolicy":
        if with_prefix:
            f.expect("prefix", *SERVICE_KEYS)
        timeout_ms = f.integer("totalTimeoutMs", None, minimum=1)
        classifier = f.mapping("responseClassifier")
        return make(
            f, cls,
            prefix=read_prefix(f) if with_prefix else "/",
            total_timeout_s=None if timeout_ms is None else timeout_ms / 1000.0,
            retries=read_retries(f),
            response_classifier=None if classifier is None
            else ResponseClassifierConfig.from_fields(classifier),
        )

    def params_json(self) -> dict[str, Any]:
        """The parameters this block writes, in Linkerd's keys."""
        out: dict[str, Any] = {}
        if self.total_timeout_s is not None:
            out["totalTimeoutMs"] = ms(self.total_timeout_s)
        if self.retries is not None:
            out["retries"] = self.retries.to_json()
        if self.response_classifier is not None:
            out["responseClassifier"] = self.response_classifier.to_json()
        return out

    def to_json(self) -> dict[str, Any]:
        return {"prefix": self.prefix, **self.params_json()}


class ServiceConfig(PolicyConfig):
    """Base of the ``service`` configs: :class:`GlobalServiceConfig`,
    :class:`StaticServiceConfig`. ``params_for(name) -> ServiceParams``."""

    __slots__ = ()
    DEFAULTS: ClassVar[ServiceParams] = ServiceParams()

    def params_for(self, name: Path) -> ServiceParams:
        return PolicyConfig.params_for(self, name)

    @property
    def total_timeout_s(self) -> float | None:
        """The router-wide total timeout: the value for a name only ``/`` entries match
        (what the runtime applies until it resolves parameters per service)."""
        return self.params_for(Path()).total_timeout_s


@dataclass(frozen=True, slots=True)
class GlobalServiceConfig(ServiceConfig):
    """``service: {kind: io.l5d.global, <params>}``: ``policy`` applies to every service."""

    kind: ClassVar[str] = DEFAULT_GLOBAL_KIND
    policy: ServicePolicy = ServicePolicy()

    def __post_init__(self) -> None:
        require(isinstance(self.policy, ServicePolicy) and self.policy.prefix == "/",
                "policy", self.policy, 'a ServicePolicy with prefix "/"')

    @property
    def entries(self) -> tuple[ServicePolicy, ...]:
        return (self.policy,)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.policy.params_json()}


@dataclass(frozen=True, slots=True)
class StaticServiceConfig(ServiceConfig):
    """``service: {kind: io.l5d.static, configs: [...]}``: entries folded in order."""

    kind: ClassVar[str] = STATIC_KIND
    configs: tuple[ServicePolicy, ...] = ()

    def __post_init__(self) -> None:
        require(isinstance(self.configs, tuple)
                and all(isinstance(c, ServicePolicy) for c in self.configs),
                "configs", self.configs, "a tuple of ServicePolicy")

    @property
    def entries(self) -> tuple[ServicePolicy, ...]:
        return self.configs

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "configs": [c.to_json() for c in self.configs]}


def read_service(f: Fields) -> ServiceConfig:
    """A router's ``service`` (``GlobalServiceConfig()`` when left out)."""
    return read_policy(f, "service", SERVICE_KEYS, ServicePolicy.from_fields,
                       lambda p: GlobalServiceConfig(p), lambda cs: StaticServiceConfig(cs),
                       GlobalServiceConfig)
