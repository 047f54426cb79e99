"""Trace context on the data path: Finagle's flags, Linkerd's two trace propagators and the
sampling decision (pure).

Every request l5d sends upstream carries a trace context (:class:`~l5d.http.headers.TraceId`):
a new span for l5d's client request, the child of the incoming span when the request came
with one (same trace id), else the start of a new trace. A router's propagator decides
which headers carry it (``tracePropagator``):

* ``io.l5d.default`` (Linkerd's ``LinkerdTracePropagator``): reads ``l5d-ctx-trace``
  and ``l5d-sample``, writes ``l5d-reqid`` and ``l5d-ctx-trace``;
* ``io.l5d.zipkin`` (Linkerd's ``ZipkinTracePropagator``): reads and writes the B3 headers
  ``x-b3-traceid``, ``x-b3-spanid``, ``x-b3-parentspanid``, ``x-b3-sampled`` and
  ``x-b3-flags``; removes ``l5d-ctx-trace`` and ``l5d-sample`` and writes no ``l5d-reqid``.

**Sampling** is decided once per trace and travels in Finagle's flags (``SamplingKnown``
and ``Sampled``; ``Debug`` means sampled): an ``l5d-sample`` rate on the request decides
for it (whatever came in); otherwise a decision that came in is kept; otherwise the
router's tracers decide with their sample rate (the largest of the configured tracers');
with no tracer configured nothing is decided and the next hop may. Random draws come from
the injected ``rng``.

**Spans.** When the router has tracers, a new trace gets two spans: l5d's server span,
whose id is the trace id, and l5d's client span, its child. With an incoming trace, l5d's
server span *is* the incoming span (Zipkin's shared span) and the client span is its
child. A router without tracers makes a new trace of one span (span = parent = trace, as
Finagle writes a root): nobody records spans there, and it costs one random draw.
"""

from __future__ import annotations

import binascii
import random
import re
import struct
from typing import Any

from l5d.config.model import DEFAULT_TRACE_PROPAGATOR, TRACE_PROPAGATORS
from l5d.http.headers import TraceId, decode_trace

__all__ = [
    "B3_HEADERS", "DEBUG", "DEFAULT_PROPAGATOR", "PROPAGATORS", "SAMPLED", "SAMPLING_KNOWN",
    "Tracing", "ZIPKIN_PROPAGATOR", "b3_lines", "parse_sample_rate", "read_b3", "sampled_of",
    "with_sampled",
]

#: Finagle's ``Flags``: the trace must pass every sampling stage (it is sampled)
DEBUG = 1 << 0
#: a sampling decision was made (then ``SAMPLED`` is it)
SAMPLING_KNOWN = 1 << 1
SAMPLED = 1 << 2
_MASK64 = (1 << 64) - 1

DEFAULT_PROPAGATOR = DEFAULT_TRACE_PROPAGATOR
ZIPKIN_PROPAGATOR = "io.l5d.zipkin"
PROPAGATORS = TRACE_PROPAGATORS
assert ZIPKIN_PROPAGATOR in PROPAGATORS

CTX_TRACE = b"l5d-ctx-trace"
REQID = b"l5d-reqid"
SAMPLE = b"l5d-sample"
B3_TRACE = b"x-b3-traceid"
B3_SPAN = b"x-b3-spanid"
B3_PARENT = b"x-b3-parentspanid"
B3_SAMPLED = b"x-b3-sampled"
B3_FLAGS = b"x-b3-flags"
B3_HEADERS = frozenset({B3_TRACE, B3_SPAN, B3_PARENT, B3_SAMPLED, B3_FLAGS})

_RATE = re.compile(rb"[ \t]*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t]*\Z")
_HEX = re.compile(rb"[ \t]*([0-9a-fA-F]{1,32})[ \t]*\Z")
_DIGITS = re.compile(rb"[ \t]*(-?[0-9]{1,19})[ \t]*\Z")
_PACK = struct.Struct(">QQQQ").pack
_NEW_TUPLE = tuple.__new__
_LOW64 = (1 << 64) - 1
_B64 = binascii.b2a_base64


def sampled_of(flags: int) -> bool | None:
    """The sampling decision ``flags`` carry: ``None`` when none was made (Finagle's
    ``TraceId.sampled``; ``Debug`` is sampled)."""
    if flags & DEBUG:
        return True
    if flags & SAMPLING_KNOWN:
        return bool(flags & SAMPLED)
    return None


def with_sampled(flags: int, sampled: bool | None) -> int:
    """``flags`` carrying the decision ``sampled`` (``None``: unchanged; as Finagle's
    ``TraceId.serialize``, and ``Debug`` stays sampled)."""
    if sampled is None:
        return flags
    if sampled or flags & DEBUG:
        return flags | SAMPLING_KNOWN | SAMPLED
    return (flags | SAMPLING_KNOWN) & ~SAMPLED


def parse_sample_rate(value: bytes) -> float | None:
    """An ``l5d-sample`` value: a decimal number, clamped to 0..1 (Linkerd's
    ``Headers.Sample``); ``None`` when it is not one."""
    if not _RATE.match(value):
        return None
    rate = float(value)
    return 0.0 if rate < 0.0 else 1.0 if rate > 1.0 else rate


def _hex_id(value: bytes | None, digits: int) -> int | None:
    """A lower- or upper-case hex id of at most ``digits`` hex digits (leading zeros may be
    left out); a longer span id keeps its rightmost 16 (Finagle's ``SpanId.fromString``)."""
    if value is None:
        return None
    m = _HEX.match(value)
    if m is None:
        return None
    text = m.group(1)
    if len(text) > digits:
        text = text[-digits:]
    return int(text, 16)


def read_b3(values: dict[bytes, bytes]) -> TraceId | None:
    """The incoming trace of B3 headers (lower-case name -> first value), as Linkerd's
    ``ZipkinTrace.get``: no (valid) ``x-b3-spanid``, no trace. A missing parent makes the
    span a root; a missing trace id is the parent's (Finagle's ``TraceId.traceId``).
    ``x-b3-sampled`` is ``1``/``true`` or ``0``/``false``; ``x-b3-flags`` Finagle's flags
    as a decimal number (``1``: debug)."""
    span = _hex_id(values.get(B3_SPAN), 16)
    if span is None:
        return None
    parent = _hex_id(values.get(B3_PARENT), 16)
    if parent is None:
        parent = span
    trace = _hex_id(values.get(B3_TRACE), 32)
    if trace is None:
        trace = parent
    flags = 0
    raw_flags = values.get(B3_FLAGS)
    if raw_flags is not None:
        m = _DIGITS.match(raw_flags)
        if m is not None:
            flags = int(m.group(1)) & _MASK64
    sampled = values.get(B3_SAMPLED)
    if sampled is not None:
        word = sampled.strip(b" \t").lower()
        if word in (b"1", b"true"):
            flags = with_sampled(flags, True)
        elif word in (b"0", b"false"):
            flags = with_sampled(flags, False)
    return TraceId(span, parent, trace, flags)


def b3_lines(trace: TraceId) -> bytes:
    """The B3 header lines of ``trace``: ``x-b3-parentspanid`` only when the span has a
    parent, ``x-b3-sampled`` only when the sampling is decided (B3 leaves it absent
    otherwise), ``x-b3-flags`` always (Finagle's flags, as Linkerd writes them)."""
    tid = trace.trace_id
    out = (b"x-b3-traceid: %032x\r\n" if tid > _MASK64 else b"x-b3-traceid: %016x\r\n") % tid
    out += b"x-b3-spanid: %016x\r\n" % trace.span_id
    if trace.parent_id != trace.span_id:
        out += b"x-b3-parentspanid: %016x\r\n" % trace.parent_id
    sampled = sampled_of(trace.flags)
    if sampled is not None:
        out += b"x-b3-sampled: 1\r\n" if sampled else b"x-b3-sampled: 0\r\n"
    return out + b"x-b3-flags: %d\r\n" % trace.flags


def default_lines(trace: TraceId) -> bytes:
    """``l5d-reqid`` and ``l5d-ctx-trace`` lines of ``trace``."""
    span, parent, tid, flags = trace
    if tid > _MASK64:  # a 128-bit trace id: Finagle's 40-byte form
        return b"l5d-reqid: %s\r\nl5d-ctx-trace: %s\r\n" % (trace.reqid, trace.encode())
    return b"l5d-reqid: %016x\r\nl5d-ctx-trace: %s\r\n" % (
        tid, _B64(_PACK(span, parent, tid, flags), newline=False))


class Tracing:
    """One router's trace propagation and sampling (immutable; reactor-thread only, for the
    ``rng``).

    :param rng: where ids and sampling draws come from.
    :param propagator: ``io.l5d.default`` or ``io.l5d.zipkin``.
    :param sample_rate: ``None`` when the router has no tracer; else the rate at which its
        tracers want new traces sampled (0..1; 0 for tracers that never decide, as
        ``io.l5d.tracelog``).

    ``drop`` is the set of header names never forwarded as they came (the caller's other
    rules included, see :mod:`l5d.http.upstream_request`); ``collect`` those of them read
    here. :meth:`root` is the hot path (a request without trace headers); :meth:`lines`
    takes what the caller collected.
    """

    __slots__ = ("rng", "propagator", "sample_rate", "traced", "drop", "collect", "_fast",
                 "_traced_default", "_bits")

    def __init__(self, rng: random.Random, propagator: str = DEFAULT_PROPAGATOR,
                 sample_rate: float | None = None, drop: frozenset[bytes] = frozenset()) -> None:
        if propagator not in PROPAGATORS:
            raise ValueError(f"propagator: expected one of {', '.join(PROPAGATORS)}, "
                             f"got {propagator!r}")
        if sample_rate is not None and not 0.0 <= sample_rate <= 1.0:
            raise ValueError(f"sample_rate: expected a number in 0..1, got {sample_rate!r}")
        self.rng = rng
        self.propagator = propagator
        self.sample_rate = sample_rate or 0.0
        self.traced = sample_rate is not None
        if propagator == ZIPKIN_PROPAGATOR:
            self.collect = B3_HEADERS
            self.drop = drop | B3_HEADERS | {CTX_TRACE, REQID, SAMPLE}
        else:
            self.collect = frozenset({CTX_TRACE, SAMPLE})
            self.drop = drop | {CTX_TRACE, REQID, SAMPLE}
        # the common case: l5d-ctx-trace, no tracer: one random id and nothing to decide
        self._fast = propagator == DEFAULT_PROPAGATOR and not self.traced
        # with tracers: decide(None, None) and default_lines, inlined
        self._traced_default = propagator == DEFAULT_PROPAGATOR and self.traced
        self._bits = rng.getrandbits

    def root(self, head: Any) -> bytes:
        """The trace header lines of a request that came without trace headers; sets
        ``head.trace``."""
        if self._fast:
            span = self._bits(64)
            head.trace = span  # TraceId(span, span, span, 0), made only if a record asks
            return b"l5d-reqid: %016x\r\nl5d-ctx-trace: %s\r\n" % (
                span, _B64(_PACK(span, span, span, 0), newline=False))
        if self._traced_default:
            rate = self.sample_rate
            flags = 0
            if rate > 0.0:
                flags = SAMPLING_KNOWN | SAMPLED if self.rng.random() < rate else SAMPLING_KNOWN
            # one 128-bit draw is the two 64-bit draws decide() makes (its low half is the
            # first), and a TraceId made without NamedTuple's Python-level __new__
            ids = self._bits(128)
            span = ids & _LOW64
            trace = ids >> 64
            head.trace = _NEW_TUPLE(TraceId, (span, trace, trace, flags))
            return b"l5d-reqid: %016x\r\nl5d-ctx-trace: %s\r\n" % (
                trace, _B64(_PACK(span, trace, trace, flags), newline=False))
        return self.lines(head, None)

    def lines(self, head: Any, found: list[tuple[bytes, bytes]] | None) -> bytes:
        """The trace header lines of a request whose trace headers (lower-case name, value;
        names in ``collect``) are ``found``; sets ``head.trace`` (and ``head.trace_parent``,
        the incoming span's parent, when it has one)."""
        incoming, rate = self.read(found) if found else (None, None)
        trace = self.decide(incoming, rate)
        head.trace = trace
        if incoming is not None and incoming.parent_id != incoming.span_id:
            head.trace_parent = incoming.parent_id
        if self.propagator == DEFAULT_PROPAGATOR:
            return default_lines(trace)
        return b3_lines(trace)

    def read(self, found: list[tuple[bytes, bytes]]) -> tuple[TraceId | None, float | None]:
        """The incoming trace and the request's own sample rate (``l5d-sample``) of the
        collected trace headers; the first value of each name counts."""
        values: dict[bytes, bytes] = {}
        for name, value in found:
            values.setdefault(name, value)
        if self.propagator == ZIPKIN_PROPAGATOR:
            return read_b3(values), None
        raw = values.get(CTX_TRACE)
        incoming = decode_trace(raw) if raw is not None else None
        raw = values.get(SAMPLE)
        return incoming, parse_sample_rate(raw) if raw is not None else None

    def read_headers(self, headers: list[tuple[bytes, bytes]]) -> tuple[
            TraceId | None, float | None]:
        """:meth:`read` over a whole header list (a request l5d answered itself)."""
        collect = self.collect
        return self.read([(n.lower(), v) for n, v in headers if n.lower() in collect])

    def decide(self, incoming: TraceId | None, rate: float | None) -> TraceId:
        """The context of l5d's client request: a child of ``incoming`` or a new trace,
        with the sampling decision in its flags (see the module's docstring).

        :param rate: the request's own sample rate (``l5d-sample``), or ``None``.
        """
        rng = self.rng
        if incoming is None:
            flags = 0
            sampled = None
        else:
            flags = incoming.flags
            sampled = sampled_of(flags)
        if rate is not None:
            sampled = rng.random() < rate
        elif sampled is None and self.sample_rate > 0.0:
            sampled = rng.random() < self.sample_rate
        flags = with_sampled(flags, sampled)
        span = rng.getrandbits(64)
        if incoming is not None:
            return TraceId(span, incoming.span_id, incoming.trace_id, flags)
        if self.traced:  # a server span (the trace id) and l5d's client span, its child
            trace = rng.getrandbits(64)
            return TraceId(span, trace, trace, flags)
        return TraceId(span, span, span, flags)
