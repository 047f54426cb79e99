"""Retries: backoff streams, retry budgets and HTTP response classification (pure).

``backoff``: infinite delay streams (constant, decorrelated and equal jitter). ``budget``: the
windowed token bucket behind ``service.retries.budget`` and ``client.requeueBudget``.
``classify``: Linkerd's ``responseClassifier`` kinds over an attempt's :class:`Outcome`.
"""

from l5d.retry.backoff import (
    BackoffSpec,
    constant,
    decorrelated_jitter,
    equal_jitter,
)
from l5d.retry.budget import EMPTY, EmptyBudget, RetryBudget, WindowedAdder, retry_budget
from l5d.retry.classify import (
    DEFAULT_KIND,
    KINDS,
    Outcome,
    ResponseClass,
    classifier,
    success_class_header,
)

__all__ = [
    "BackoffSpec",
    "DEFAULT_KIND",
    "EMPTY",
    "EmptyBudget",
    "KINDS",
    "Outcome",
    "ResponseClass",
    "RetryBudget",
    "WindowedAdder",
    "classifier",
    "constant",
    "decorrelated_jitter",
    "equal_jitter",
    "retry_budget",
    "success_class_header",
]
