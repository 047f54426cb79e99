"""l5d.retry.classify: Linkerd's HTTP response classifiers (spec 5.2, 5.3, 5.4, 5.5).

Two checks of the same table: the literal rows of spec table 5.3, and an exhaustive comparison
with a model built the way Linkerd builds it, from partial functions chained with ``orElse``
and wrapped in ``HeaderRetryable`` and ``NonRetryableChunked``.
"""

from __future__ import annotations

import itertools

import pytest

from l5d.retry.classify import (
    ALL_METHODS,
    DEFAULT_KIND,
    IDEMPOTENT_METHODS,
    KINDS,
    READ_METHODS,
    Outcome,
    ResponseClass,
    classifier,
    is_retryable_nack,
    parse_retryable,
    success_class_header,
)

S, R, N = ResponseClass.SUCCESS, ResponseClass.RETRYABLE, ResponseClass.NON_RETRYABLE

NON_RETRYABLE_5XX = "io.l5d.http.nonRetryable5XX"
READ_5XX = "io.l5d.http.retryableRead5XX"
IDEMPOTENT_5XX = "io.l5d.http.retryableIdempotent5XX"
ALL_5XX = "io.l5d.http.retryableAll5XX"
ALL_SUCCESSFUL = "io.l5d.http.allSuccessful"
ORDER = (NON_RETRYABLE_5XX, READ_5XX, IDEMPOTENT_5XX, ALL_5XX, ALL_SUCCESSFUL)


# --- the model: Linkerd's partial functions, literally -------------------------------------

def _retryable_result(o: Outcome) -> bool:
    if o.status is not None:
        return 500 <= o.status <= 599
    return o.error in ("connect", "timeout", "closed", "framing")


def _by_methods(methods):
    def k(o: Outcome):
        if o.method.upper() in methods and _retryable_result(o):
            return R
        return None  # undefined: fall through
    return k


def _non_retryable_server_failures(o: Outcome):
    if o.status is not None and 500 <= o.status <= 599:
        return R if (o.status == 503 and o.nack) else N
    return None


def _default(o: Outcome):
    return S if o.status is not None else N


def _or_else(*partials):
    def f(o: Outcome):
        for p in partials:
            result = p(o)
            if result is not None:
                return result
        return None
    return f


def _header_retryable(inner):
    def f(o: Outcome):
        rc = inner(o)
        return R if rc is N and o.status is not None and o.retryable_header else rc
    return f


def _non_retryable_chunked(inner):
    def f(o: Outcome):
        rc = inner(o)
        return N if rc is R and o.streamed else rc
    return f


_K = {
    NON_RETRYABLE_5XX: _non_retryable_server_failures,
    READ_5XX: _by_methods({"GET", "HEAD", "OPTIONS", "TRACE"}),
    IDEMPOTENT_5XX: _by_methods({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"}),
    ALL_5XX: _by_methods({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE", "POST", "PATCH"}),
    ALL_SUCCESSFUL: _default,
}


def model(kind: str):
    base = _or_else(_non_retryable_server_failures, _default)
    return _non_retryable_chunked(_header_retryable(_or_else(_K[kind], base)))


METHODS = ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE", "POST", "PATCH", "CONNECT",
           "PURGE", "get", "Post", "delete"]
STATUSES = [100, 101, 200, 204, 301, 304, 400, 404, 429, 499, 500, 501, 502, 503, 504, 599, 600,
            999]
ERRORS = ["connect", "timeout", "closed", "framing", "other"]


def all_outcomes():
    for method, streamed in itertools.product(METHODS, (False, True)):
        for status, header, nack in itertools.product(STATUSES, (False, True), (False, True)):
            yield Outcome(method, status=status, retryable_header=header, nack=nack,
                          streamed=streamed)
        for error in ERRORS:
            yield Outcome(method, error=error, streamed=streamed)


# --- spec table 5.3, row by row -------------------------------------------------------------

def _row(outcomes, expected: str):
    """Rows of the table: outcomes and the letters for the five kinds in ORDER."""
    return [(o, dict(zip(ORDER, (dict(S=S, R=R, N=N, _=None)[c] for c in expected))))
            for o in outcomes]


TABLE = [
    ("1xx-4xx, any method", _row(
        [Outcome(m, s) for m in METHODS for s in (100, 200, 204, 301, 400, 404, 499)], "SSSSS")),
    ("5xx, read", _row([Outcome(m, s) for m in READ_METHODS for s in (500, 502, 599)], "NRRRS")),
    ("5xx, PUT/DELETE", _row([Outcome(m, 500) for m in ("PUT", "DELETE")], "NNRRS")),
    ("5xx, POST/PATCH", _row([Outcome(m, 502) for m in ("POST", "PATCH")], "NNNRS")),
    ("5xx, CONNECT/extension", _row([Outcome(m, 500) for m in ("CONNECT", "PURGE")], "NNNNS")),
    ("503 nack, any method", _row([Outcome(m, 503, nack=True) for m in METHODS], "RRRRS")),
    ("5xx + l5d-retryable, any method", _row(
        [Outcome(m, s, retryable_header=True) for m in METHODS for s in (500, 503, 599)],
        "RRRRS")),
    ("2xx/4xx + l5d-retryable", _row(
        [Outcome(m, s, retryable_header=True) for m in METHODS for s in (200, 404)], "SSSSS")),
    ("retryable exception, read method", _row(
        [Outcome("GET", error=e) for e in ("connect", "timeout", "closed", "framing")], "NRRRN")),
    ("retryable exception, PUT", _row(
        [Outcome("PUT", error=e) for e in ("connect", "timeout", "closed", "framing")], "NNRRN")),
    ("retryable exception, POST", _row(
        [Outcome("POST", error=e) for e in ("connect", "timeout", "closed", "framing")], "NNNRN")),
    ("retryable exception, method in no set", _row(
        [Outcome("CONNECT", error="timeout"), Outcome("PURGE", error="closed")], "NNNNN")),
    ("other exception", _row([Outcome(m, error="other") for m in METHODS], "NNNNN")),
    ("streamed, would be R", _row(
        [Outcome("GET", 500, streamed=True), Outcome("POST", 503, nack=True, streamed=True),
         Outcome("DELETE", 502, retryable_header=True, streamed=True)], "NNNNS")),
    ("streamed exception", _row([Outcome("GET", error="timeout", streamed=True)], "NNNNN")),
    ("nack needs a 503", _row([Outcome("GET", 500, nack=True), Outcome("POST", 502, nack=True)],
                              "N___S")),
]


def _table_cases():
    for name, rows in TABLE:
        for i, (outcome, expected) in enumerate(rows):
            for kind, cls in expected.items():
                if cls is not None:
                    yield pytest.param(outcome, kind, cls, id=f"{name}-{i}-{kind[12:]}")


class ClassifierTableTests:
    """Every row of spec table 5.3, for every kind."""

    @pytest.mark.parametrize(("outcome", "kind", "expected"), list(_table_cases()))
    def test_table_row(self, outcome: Outcome, kind: str, expected: ResponseClass) -> None:
        """The effective classifier of the kind gives the table's class."""
        assert classifier(kind)(outcome) is expected


class ClassifierModelTests:
    """The classifiers agree with Linkerd's composition on every combination of inputs."""

    @pytest.mark.parametrize("kind", ORDER)
    def test_agrees_with_the_orelse_model(self, kind: str) -> None:
        """Methods x statuses x flags x errors x streamed, against the partial-function model."""
        fast, slow = classifier(kind), model(kind)
        checked = 0
        for outcome in all_outcomes():
            assert fast(outcome) is slow(outcome), outcome
            checked += 1
        assert checked > 1000

    @pytest.mark.parametrize("kind", ORDER)
    def test_bytes_methods_classify_like_str(self, kind: str) -> None:
        """A method given as bytes (as the parser hands it over) is the same method."""
        c = classifier(kind)
        for outcome in all_outcomes():
            as_bytes = Outcome(outcome.method.encode(), outcome.status, outcome.error,
                               outcome.retryable_header, outcome.nack, outcome.streamed)
            assert c(as_bytes) is c(outcome), outcome


class ClassifierTests:
    """classifier(kind): the registry of kinds and the spec 5.5 single-attempt vectors."""

    def test_kinds(self) -> None:
        """The five Linkerd HTTP kinds, nonRetryable5XX the default."""
        assert set(KINDS) == set(ORDER) and DEFAULT_KIND == NON_RETRYABLE_5XX

    def test_same_function_for_a_kind(self) -> None:
        """Classifiers are built once per kind."""
        assert classifier(READ_5XX) is classifier(READ_5XX)

    @pytest.mark.parametrize("kind", ["io.l5d.h2.retryableRead5XX", "retryableRead5XX", "", None])
    def test_unknown_kind(self, kind) -> None:
        """An unknown kind is a ValueError naming it."""
        with pytest.raises(ValueError, match="kind must be one of"):
            classifier(kind)

    @pytest.mark.parametrize(("name", "kind", "outcome", "expected"), [
        ("read5XX GET 200 is a success", READ_5XX, Outcome("GET", 200), S),
        ("read5XX POST 500 is a final failure", READ_5XX, Outcome("POST", 500), N),
        ("read5XX GET 500 is retried", READ_5XX, Outcome("GET", 500), R),
        ("all5XX POST 500 is retried", ALL_5XX, Outcome("POST", 500), R),
        ("default 500 + l5d-retryable is retried", DEFAULT_KIND,
         Outcome("GET", 500, retryable_header=True), R),
        ("read5XX POST 500 + l5d-retryable is retried", READ_5XX,
         Outcome("POST", 500, retryable_header=True), R),
        ("default 503 Retry-After: 0 is retried", DEFAULT_KIND, Outcome("POST", 503, nack=True), R),
        ("allSuccessful 500 is a success", ALL_SUCCESSFUL, Outcome("GET", 500), S),
        ("allSuccessful timeout is a failure", ALL_SUCCESSFUL, Outcome("GET", error="timeout"), N),
    ], ids=lambda x: x if isinstance(x, str) and " " in x else "")
    def test_end_to_end_vectors(self, name, kind, outcome, expected) -> None:
        """The single-attempt classifications behind ResponseClassificationEndToEndTest."""
        assert classifier(kind)(outcome) is expected

    def test_method_names_are_case_folded_like_finagle(self) -> None:
        """Finagle's Method(name) upper-cases, so 'get' is GET."""
        assert classifier(READ_5XX)(Outcome("get", 500)) is R
        assert classifier(READ_5XX)(Outcome(b"Head", 500)) is R
        assert classifier(READ_5XX)(Outcome("post", 500)) is N

    def test_method_sets(self) -> None:
        """read within idempotent within all; CONNECT in none."""
        assert READ_METHODS == {"GET", "HEAD", "OPTIONS", "TRACE"}
        assert IDEMPOTENT_METHODS == READ_METHODS | {"PUT", "DELETE"}
        assert ALL_METHODS == IDEMPOTENT_METHODS | {"POST", "PATCH"}
        assert "CONNECT" not in ALL_METHODS


class OutcomeTests:
    """Outcome: exactly one of status and error, both validated."""

    @pytest.mark.parametrize(("kwargs", "message"), [
        ({}, "error must be one of"),
        ({"error": "refused"}, "error must be one of"),
        ({"status": 200, "error": "timeout"}, "error must be None"),
        ({"status": 99}, "status must be in 100..999"),
        ({"status": 1000}, "status must be in 100..999"),
    ])
    def test_rejects_inconsistent_outcomes(self, kwargs: dict, message: str) -> None:
        """ValueError naming the field."""
        with pytest.raises(ValueError, match=message):
            Outcome("GET", **kwargs)

    def test_is_a_frozen_value(self) -> None:
        """Outcomes compare by value and cannot be changed."""
        assert Outcome("GET", 200) == Outcome("GET", 200)
        with pytest.raises(AttributeError):
            Outcome("GET", 200).status = 500  # type: ignore[misc]


class HeaderTests:
    """l5d-success-class, l5d-retryable and nack detection (spec 5.2, 5.4)."""

    @pytest.mark.parametrize(("cls", "value"), [(S, b"1.0"), (R, b"0.0"), (N, b"0.0")])
    def test_success_class_header(self, cls: ResponseClass, value: bytes) -> None:
        """Java's Double.toString of the success fraction."""
        assert success_class_header(cls) == value

    @pytest.mark.parametrize(("value", "expected"), [
        ("true", True), ("TRUE", True), ("True", True), (b"tRuE", True), (b"true", True),
        ("false", False), ("1", False), (b"1", False), ("yes", False), ("", False),
        (" true", False), (None, False),
    ])
    def test_parse_retryable(self, value, expected: bool) -> None:
        """Scala's toBoolean: 'true' in any case; anything else, 1 included, is false."""
        assert parse_retryable(value) is expected

    @pytest.mark.parametrize(("status", "nack_header", "retry_after", "expected"), [
        (503, True, None, True),
        (503, False, b"0", True),
        (503, False, "0", True),
        (503, False, b"1", False),
        (503, False, b"00", False),
        (503, False, None, False),
        (500, True, b"0", False),
        (429, False, b"0", False),
    ])
    def test_is_retryable_nack(self, status, nack_header, retry_after, expected) -> None:
        """A 503 with finagle-http-nack or Retry-After: 0 exactly."""
        assert is_retryable_nack(status, nack_header, retry_after) is expected
