"""l5d.http.trace: Finagle's flags, the B3 codec, the sampling decision (pure)."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from l5d.http.headers import TraceId
from l5d.http.trace import (
    DEBUG, SAMPLED, SAMPLING_KNOWN, Tracing, b3_lines, parse_sample_rate, read_b3, sampled_of,
    with_sampled,
)

KNOWN_YES = SAMPLING_KNOWN | SAMPLED
M64 = (1 << 64) - 1


def _head():
    return SimpleNamespace()


def _b3(lines: bytes) -> dict[bytes, bytes]:
    out = {}
    for line in lines.split(b"\r\n"):
        if line:
            name, _, value = line.partition(b": ")
            out[name] = value
    return out


class FlagsTests:
    """Finagle's Flags.scala: Debug 1, SamplingKnown 2, Sampled 4."""

    def test_bits_are_finagles(self) -> None:
        assert (DEBUG, SAMPLING_KNOWN, SAMPLED) == (1, 2, 4)

    @pytest.mark.parametrize("flags, expected", [
        (0, None), (SAMPLED, None), (SAMPLING_KNOWN, False), (KNOWN_YES, True),
        (DEBUG, True), (DEBUG | SAMPLING_KNOWN, True), (8 | KNOWN_YES, True),
    ])
    def test_sampled_of(self, flags: int, expected: bool | None) -> None:
        """Unknown unless SamplingKnown; Debug is always sampled (TraceId.sampled)."""
        assert sampled_of(flags) is expected

    def test_with_sampled_sets_and_clears(self) -> None:
        """Sampled sets both bits, not sampled clears Sampled; other bits are kept."""
        assert with_sampled(0, True) == KNOWN_YES
        assert with_sampled(KNOWN_YES | 1 << 50, False) == SAMPLING_KNOWN | 1 << 50
        assert with_sampled(SAMPLED, None) == SAMPLED
        assert with_sampled(DEBUG, False) == DEBUG | KNOWN_YES

    def test_round_trip_on_random_flags(self) -> None:
        """sampled_of(with_sampled(f, s)) == s, unless Debug (then True)."""
        rng = random.Random(5)
        for _ in range(500):
            flags = rng.getrandbits(64)
            s = rng.choice([True, False])
            want = True if flags & DEBUG else s
            assert sampled_of(with_sampled(flags, s)) is want


class SampleHeaderTests:
    """l5d-sample: a float, clamped to 0..1 (LinkerdHeaders.Sample)."""

    @pytest.mark.parametrize("raw, rate", [
        (b"1", 1.0), (b"0", 0.0), (b"0.25", 0.25), (b" .5 ", 0.5), (b"1e-1", 0.1),
        (b"7", 1.0), (b"-3", 0.0), (b"2.5E0", 1.0),
        (b"", None), (b"yes", None), (b"nan", None), (b"inf", None), (b"1_0", None),
        (b"0x1", None),
    ])
    def test_parse(self, raw: bytes, rate: float | None) -> None:
        assert parse_sample_rate(raw) == rate


class B3Tests:
    """x-b3-* as Linkerd's ZipkinTrace reads and writes them."""

    def test_read_a_child_span(self) -> None:
        got = read_b3({b"x-b3-traceid": b"00000000000000aa", b"x-b3-spanid": b"bb",
                       b"x-b3-parentspanid": b"CC", b"x-b3-sampled": b"1"})
        assert got == TraceId(0xBB, 0xCC, 0xAA, KNOWN_YES)

    def test_no_span_no_trace(self) -> None:
        """Without a valid x-b3-spanid there is no incoming trace."""
        assert read_b3({b"x-b3-traceid": b"aa"}) is None
        assert read_b3({b"x-b3-spanid": b"zz", b"x-b3-traceid": b"aa"}) is None

    def test_defaults_as_finagle(self) -> None:
        """No parent: a root (parent = span); no trace id: the parent's."""
        assert read_b3({b"x-b3-spanid": b"5"}) == TraceId(5, 5, 5, 0)
        assert read_b3({b"x-b3-spanid": b"5", b"x-b3-parentspanid": b"6"}) == TraceId(5, 6, 6, 0)

    def test_128_bit_trace_ids_are_kept(self) -> None:
        tid = "463ac35c9f6413ad48485a3953bb6124"
        got = read_b3({b"x-b3-traceid": tid.encode(), b"x-b3-spanid": b"a2fb4a1d1a96d312"})
        assert got.trace_id == int(tid, 16)
        assert _b3(b3_lines(got))[b"x-b3-traceid"] == tid.encode()

    def test_long_span_keeps_its_rightmost_16_digits(self) -> None:
        """SpanId.fromString reads the rightmost 16 hex digits."""
        assert read_b3({b"x-b3-spanid": b"ffff0000000000000007"}).span_id == 7

    @pytest.mark.parametrize("sampled, flags, want", [
        (b"1", None, True), (b"true", None, True), (b"0", None, False), (b"FALSE", None, False),
        (b"maybe", None, None), (None, b"1", True), (b"0", b"1", True), (None, b"6", True),
        (None, b"2", False), (None, b"x", None),
    ])
    def test_sampling(self, sampled, flags, want) -> None:
        values = {b"x-b3-spanid": b"1"}
        if sampled is not None:
            values[b"x-b3-sampled"] = sampled
        if flags is not None:
            values[b"x-b3-flags"] = flags
        assert sampled_of(read_b3(values).flags) is want

    def test_write(self) -> None:
        """Lower-case 16-digit hex; the parent only when there is one; sampled only when
        decided; flags always."""
        lines = _b3(b3_lines(TraceId(0xB, 0xC, 0xA, KNOWN_YES)))
        assert lines == {b"x-b3-traceid": b"000000000000000a", b"x-b3-spanid": b"000000000000000b",
                         b"x-b3-parentspanid": b"000000000000000c", b"x-b3-sampled": b"1",
                         b"x-b3-flags": b"6"}
        root = _b3(b3_lines(TraceId(7, 7, 7, 0)))
        assert root == {b"x-b3-traceid": b"0000000000000007", b"x-b3-spanid": b"0000000000000007",
                        b"x-b3-flags": b"0"}
        assert _b3(b3_lines(TraceId(7, 7, 7, SAMPLING_KNOWN)))[b"x-b3-sampled"] == b"0"

    def test_round_trip_on_random_ids(self) -> None:
        rng = random.Random(9)
        for _ in range(300):
            span, parent = rng.getrandbits(64), rng.getrandbits(64)
            trace = rng.getrandbits(rng.choice([64, 128]))
            flags = rng.choice([0, SAMPLING_KNOWN, KNOWN_YES, DEBUG | KNOWN_YES])
            t = TraceId(span, parent, trace, flags)
            assert read_b3(_b3(b3_lines(t))) == t


class DecideTests:
    """Tracing.decide: ids from the seeded rng, sampling decided once and carried in flags."""

    def test_ids_come_from_the_rng(self) -> None:
        """The same seed gives the same ids; a new trace with tracers: span, then trace."""
        a = Tracing(random.Random(3), sample_rate=0.0).decide(None, None)
        b = Tracing(random.Random(3), sample_rate=0.0).decide(None, None)
        rng = random.Random(3)
        span, trace = rng.getrandbits(64), rng.getrandbits(64)
        assert a == b == TraceId(span, trace, trace, 0)

    def test_no_tracer_new_trace_is_one_span(self) -> None:
        """Without tracers a new trace is a Finagle root (span = parent = trace), undecided."""
        t = Tracing(random.Random(3)).decide(None, None)
        assert t.span_id == t.parent_id == t.trace_id and t.flags == 0

    def test_child_of_the_incoming_span(self) -> None:
        incoming = TraceId(11, 22, 33, 0)
        t = Tracing(random.Random(1), sample_rate=1.0).decide(incoming, None)
        assert (t.parent_id, t.trace_id) == (11, 33) and t.span_id not in (11, 22, 33)

    @pytest.mark.parametrize("rate, want", [(1.0, True), (0.0, None)])
    def test_root_decision_by_the_tracers_rate(self, rate: float, want: bool | None) -> None:
        """Rate 1 samples every new trace; a tracer that never decides leaves it undecided."""
        tracing = Tracing(random.Random(1), sample_rate=rate)
        assert {sampled_of(tracing.decide(None, None).flags) for _ in range(50)} == {want}

    def test_rate_is_a_share_of_traces(self) -> None:
        """At 0.25, about a quarter of 4000 new traces are sampled, the rest decided not."""
        tracing = Tracing(random.Random(2), sample_rate=0.25)
        got = [sampled_of(tracing.decide(None, None).flags) for _ in range(4000)]
        assert set(got) == {True, False}
        assert 850 < got.count(True) < 1150

    @pytest.mark.parametrize("flags", [SAMPLING_KNOWN, KNOWN_YES])
    def test_incoming_decision_is_kept(self, flags: int) -> None:
        """An earlier hop decided: this hop's rate does not change it."""
        for rate in (0.0, 1.0):
            t = Tracing(random.Random(1), sample_rate=rate).decide(TraceId(1, 1, 1, flags), None)
            assert t.flags == flags

    def test_undecided_incoming_is_decided_here(self) -> None:
        t = Tracing(random.Random(1), sample_rate=1.0).decide(TraceId(1, 1, 1, 0), None)
        assert sampled_of(t.flags) is True

    def test_l5d_sample_overrides(self) -> None:
        """l5d-sample decides whatever came in and whatever tracers there are."""
        tracing = Tracing(random.Random(1))
        assert sampled_of(tracing.decide(None, 1.0).flags) is True
        assert sampled_of(tracing.decide(TraceId(1, 1, 1, KNOWN_YES), 0.0).flags) is False
        assert sampled_of(tracing.decide(TraceId(1, 1, 1, DEBUG), 0.0).flags) is True

    def test_other_flag_bits_travel(self) -> None:
        t = Tracing(random.Random(1), sample_rate=1.0).decide(TraceId(1, 1, 1, 1 << 50), None)
        assert t.flags == 1 << 50 | KNOWN_YES

    def test_bad_arguments(self) -> None:
        with pytest.raises(ValueError, match="propagator"):
            Tracing(random.Random(1), "io.l5d.nope")
        with pytest.raises(ValueError, match="sample_rate"):
            Tracing(random.Random(1), sample_rate=1.5)


class LinesTests:
    """What a router writes upstream and keeps on the head."""

    def test_fast_root_is_todays_bytes(self) -> None:
        """No tracer, default propagator: one id, the same header lines Finagle's root has."""
        head = _head()
        lines = Tracing(random.Random(4)).root(head)
        span = random.Random(4).getrandbits(64)
        assert head.trace == span
        root = TraceId(span, span, span, 0)
        assert lines == b"l5d-reqid: %s\r\nl5d-ctx-trace: %s\r\n" % (root.reqid, root.encode())

    @pytest.mark.parametrize("propagator", ["io.l5d.default", "io.l5d.zipkin"])
    @pytest.mark.parametrize("rate", [0.0, 0.3, 1.0])
    def test_root_is_decide_without_an_incoming_trace(self, propagator, rate) -> None:
        """root() (inlined for speed with tracers) makes what decide(None, None) makes, draw
        for draw, and the lines of that trace."""
        a, c = _head(), _head()
        ta, tb, tc = (Tracing(random.Random(8), propagator, rate) for _ in range(3))
        for _ in range(50):
            lines = ta.root(a)
            assert a.trace == tb.decide(None, None)
            assert lines == tc.lines(c, None) and c.trace == a.trace

    def test_traced_root_keeps_a_trace_id(self) -> None:
        head = _head()
        Tracing(random.Random(4), sample_rate=1.0).root(head)
        assert isinstance(head.trace, TraceId) and sampled_of(head.trace.flags) is True
        assert not hasattr(head, "trace_parent")

    def test_incoming_default(self) -> None:
        """l5d-ctx-trace and l5d-sample are read; the incoming span's parent is kept."""
        head = _head()
        incoming = TraceId(0x11, 0x22, 0x33, 0)
        lines = Tracing(random.Random(4)).lines(
            head, [(b"l5d-ctx-trace", incoming.encode()), (b"l5d-sample", b"1")])
        t = head.trace
        assert (t.parent_id, t.trace_id, sampled_of(t.flags)) == (0x11, 0x33, True)
        assert head.trace_parent == 0x22
        assert lines == b"l5d-reqid: %s\r\nl5d-ctx-trace: %s\r\n" % (t.reqid, t.encode())

    def test_first_value_counts_and_bad_values_are_ignored(self) -> None:
        head = _head()
        first = TraceId(1, 2, 3, 0)
        Tracing(random.Random(4)).lines(head, [(b"l5d-ctx-trace", first.encode()),
                                               (b"l5d-ctx-trace", TraceId(9, 9, 9).encode()),
                                               (b"l5d-sample", b"often")])
        assert head.trace.trace_id == 3 and sampled_of(head.trace.flags) is None
        head = _head()
        Tracing(random.Random(4)).lines(head, [(b"l5d-ctx-trace", b"garbage")])
        assert head.trace.span_id == head.trace.parent_id == head.trace.trace_id

    def test_zipkin(self) -> None:
        """B3 in, B3 out; a root incoming span has no parent to keep."""
        head = _head()
        lines = Tracing(random.Random(4), "io.l5d.zipkin").lines(
            head, [(b"x-b3-traceid", b"aa"), (b"x-b3-spanid", b"bb"), (b"x-b3-sampled", b"1")])
        t = head.trace
        assert (t.parent_id, t.trace_id) == (0xBB, 0xAA)
        assert not hasattr(head, "trace_parent")
        assert _b3(lines) == {b"x-b3-traceid": b"00000000000000aa",
                              b"x-b3-spanid": b"%016x" % t.span_id,
                              b"x-b3-parentspanid": b"00000000000000bb",
                              b"x-b3-sampled": b"1", b"x-b3-flags": b"6"}

    def test_drop_sets(self) -> None:
        """Each propagator removes the other's context headers and its own; l5d-sample always."""
        default = Tracing(random.Random(1))
        zipkin = Tracing(random.Random(1), "io.l5d.zipkin")
        assert {b"l5d-ctx-trace", b"l5d-reqid", b"l5d-sample"} <= default.drop
        assert b"x-b3-spanid" not in default.drop
        assert {b"l5d-ctx-trace", b"l5d-reqid", b"l5d-sample", b"x-b3-traceid", b"x-b3-spanid",
                b"x-b3-parentspanid", b"x-b3-sampled", b"x-b3-flags"} <= zipkin.drop
