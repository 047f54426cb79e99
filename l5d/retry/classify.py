"""HTTP response classification: is an attempt a success, a retryable or a final failure (pure).

Linkerd 1.x's classifiers (``ResponseClassifiers.scala``, ``HttpConfig.scala``) over Finagle's
``ServerErrorsAsFailures`` and ``ClassifiedRetries.Default``. For a configured kind ``K`` the
effective classifier is::

    NonRetryableChunked(HeaderRetryable(K orElse NonRetryableServerFailures orElse Default))

and with no ``responseClassifier`` configured it is the same with ``K`` left out, which is
identical to ``io.l5d.http.nonRetryable5XX``. Spelled out:

* a response outside 500..599 is ``SUCCESS`` under every kind (``l5d-retryable`` is ignored);
* ``allSuccessful``: every response is ``SUCCESS``, every exception ``NON_RETRYABLE``;
* otherwise a 5xx is ``RETRYABLE`` when the method is in the kind's set, or it is a retryable nack
  (503 with ``finagle-http-nack`` or ``Retry-After: 0``), or it carries ``l5d-retryable: true``;
  else ``NON_RETRYABLE``;
* an exception is ``RETRYABLE`` when the method is in the kind's set and the error is a connect
  failure, a timeout, a closed channel or a framing error; else ``NON_RETRYABLE``;
* a ``RETRYABLE`` verdict on a streamed request becomes ``NON_RETRYABLE``.

Method sets: read = GET HEAD OPTIONS TRACE; idempotent = read + PUT DELETE; all = idempotent +
POST PATCH. Finagle upper-cases method names, so ``get`` counts as GET; CONNECT and extension
methods are in no set.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "ALL_METHODS",
    "DEFAULT_KIND",
    "ERRORS",
    "IDEMPOTENT_METHODS",
    "KINDS",
    "Outcome",
    "READ_METHODS",
    "RETRYABLE_ERRORS",
    "ResponseClass",
    "classifier",
    "is_retryable_nack",
    "parse_retryable",
    "success_class_header",
]


class ResponseClass(enum.Enum):
    """Finagle's ``ResponseClass`` for HTTP: ``Successful(1.0)``, ``RetryableFailure``,
    ``NonRetryableFailure`` (Linkerd's HTTP classifiers never produce ``Ignorable``)."""

    SUCCESS = "success"
    RETRYABLE = "retryable"
    NON_RETRYABLE = "non_retryable"


SUCCESS = ResponseClass.SUCCESS
RETRYABLE = ResponseClass.RETRYABLE
NON_RETRYABLE = ResponseClass.NON_RETRYABLE

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
IDEMPOTENT_METHODS = READ_METHODS | {"PUT", "DELETE"}
ALL_METHODS = IDEMPOTENT_METHODS | {"POST", "PATCH"}

#: The ``Outcome.error`` values, and those ``RetryableResult`` accepts: Finagle's retryable
#: write exceptions (``connect``), ``TimeoutException``s (``timeout``),
#: ``ChannelClosedException`` (``closed``) and Linkerd's ``FramingException`` (``framing``).
ERRORS = frozenset({"connect", "timeout", "closed", "framing", "other"})
RETRYABLE_ERRORS = frozenset({"connect", "timeout", "closed", "framing"})


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt produced, reduced to what classification needs.

    :param method: the request method (``str``; ``bytes`` is accepted too).
    :param status: the response status, ``None`` when the attempt ended in an error.
    :param error: ``None`` with a response, else one of :data:`ERRORS`: ``connect`` (nothing
        reached the wire: refused, connect timeout), ``timeout`` (attempt or total timeout),
        ``closed`` (connection closed or reset before a response), ``framing`` (malformed
        response), ``other``.
    :param retryable_header: the response had ``l5d-retryable: true`` (see
        :func:`parse_retryable`).
    :param nack: the response was a retryable nack (see :func:`is_retryable_nack`); only a 503
        counts, whatever this flag says.
    :param streamed: the request body was streamed (chunked, or over the buffered limit).
    :raises ValueError: unless exactly one of ``status`` and ``error`` is given, the status is
        in 100..999 and the error is known.
    """

    method: str
    status: int | None = None
    error: str | None = None
    retryable_header: bool = False
    nack: bool = False
    streamed: bool = False

    def __post_init__(self) -> None:
        if self.status is None:
            if self.error not in ERRORS:
                raise ValueError(
                    f"error must be one of {sorted(ERRORS)} when status is None: {self.error!r}")
        elif self.error is not None:
            raise ValueError(f"error must be None when there is a status: {self.error!r}")
        elif not 100 <= self.status <= 999:
            raise ValueError(f"status must be in 100..999: {self.status!r}")


def _with_bytes(methods: frozenset[str]) -> frozenset:
    return methods | {m.encode("ascii") for m in methods}


#: The standard method names as they arrive on the wire; no need to upper-case these.
_CANONICAL = _with_bytes(ALL_METHODS | {"CONNECT"})


def _make(methods: frozenset[str]) -> Callable[[Outcome], ResponseClass]:
    """The effective classifier of a ``Retryable*Failures`` kind (or, with no methods, the
    default ``nonRetryable5XX``): one closure, a few comparisons and set lookups per call."""
    table = _with_bytes(methods)
    fold = bool(table)  # upper-case only a non-canonical miss, and never for the empty set
    canonical = _CANONICAL
    success, retryable, non_retryable = SUCCESS, RETRYABLE, NON_RETRYABLE
    retryable_errors = RETRYABLE_ERRORS

    def classify(outcome: Outcome) -> ResponseClass:
        status = outcome.status
        method = outcome.method
        if status is not None:
            if status < 500 or status > 599:
                return success
            if (outcome.retryable_header or (status == 503 and outcome.nack)
                    or method in table
                    or (fold and method not in canonical and method.upper() in table)):
                return non_retryable if outcome.streamed else retryable
            return non_retryable
        if outcome.error in retryable_errors and (
                method in table
                or (fold and method not in canonical and method.upper() in table)):
            return non_retryable if outcome.streamed else retryable
        return non_retryable

    return classify


def _all_successful(outcome: Outcome) -> ResponseClass:
    """``ClassifiedRetries.Default``: any response succeeds, any exception fails for good."""
    return NON_RETRYABLE if outcome.status is None else SUCCESS


DEFAULT_KIND = "io.l5d.http.nonRetryable5XX"

_CLASSIFIERS: dict[str, Callable[[Outcome], ResponseClass]] = {
    "io.l5d.http.nonRetryable5XX": _make(frozenset()),
    "io.l5d.http.retryableRead5XX": _make(READ_METHODS),
    "io.l5d.http.retryableIdempotent5XX": _make(IDEMPOTENT_METHODS),
    "io.l5d.http.retryableAll5XX": _make(ALL_METHODS),
    "io.l5d.http.allSuccessful": _all_successful,
}

KINDS = tuple(_CLASSIFIERS)


def classifier(kind: str) -> Callable[[Outcome], ResponseClass]:
    """The effective classifier of a ``responseClassifier`` kind (the same function per kind).

    :param kind: one of :data:`KINDS`; :data:`DEFAULT_KIND` is also the router default.
    :raises ValueError: for an unknown kind.
    """
    try:
        return _CLASSIFIERS[kind]
    except (KeyError, TypeError):
        raise ValueError(f"kind must be one of {', '.join(KINDS)}: {kind!r}") from None


def success_class_header(cls: ResponseClass) -> bytes:
    """The ``l5d-success-class`` value: Java's ``Double.toString`` of the success fraction."""
    return b"1.0" if cls is SUCCESS else b"0.0"


def parse_retryable(value: bytes | str | None) -> bool:
    """Whether an ``l5d-retryable`` header value means true (Scala's ``toBoolean``: ``true`` in
    any case; anything else, ``1`` included, is false).

    :param value: the (first) header value, without surrounding whitespace, or ``None``.
    """
    if value is None:
        return False
    if isinstance(value, bytes):
        return value.lower() == b"true"
    return value.lower() == "true"


def is_retryable_nack(status: int, nack_header: bool, retry_after: bytes | str | None) -> bool:
    """Finagle's ``HttpNackFilter.isRetryableNack``: a 503 with a ``finagle-http-nack`` header or
    ``Retry-After: 0`` exactly.

    :param status: the response status.
    :param nack_header: the response has a ``finagle-http-nack`` header (any value).
    :param retry_after: the ``Retry-After`` value, or ``None``.
    """
    return status == 503 and (nack_header or retry_after == b"0" or retry_after == "0")
