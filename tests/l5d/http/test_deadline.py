"""l5d.http.deadline: l5d-ctx-deadline values (Finagle's HeadersTest cases, tables)."""

from __future__ import annotations

import pytest

from l5d.http.deadline import NS, Deadline, combine, encode, parse

NOW = 1_700_000_000.0


class DeadlineTests:
    def test_format(self) -> None:
        d = Deadline.after(NOW, 5.0)
        assert encode(d) == b"1700000000000000000 1700000005000000000"
        assert parse([encode(d)]) == d

    def test_several_values_combine_to_the_strictest(self) -> None:
        a = Deadline(int((NOW + 1) * NS), int((NOW + 10) * NS))
        b = Deadline(int((NOW + 2) * NS), int((NOW + 8) * NS))
        ctx = Deadline(int(NOW * NS), int((NOW + 2) * NS))
        assert combine(parse([encode(a), encode(b)]), ctx) == Deadline(
            int((NOW + 2) * NS), int((NOW + 2) * NS))

    @pytest.mark.parametrize("value", [b"", b"1", b"x y", b"1 2x", b"+1 2", b"1  2",
                                       b"99999999999999999999 1", b"1.5 2"])
    def test_unparsable_values_are_ignored(self, value: bytes) -> None:
        assert parse([value]) is None
        assert parse([value, b"1 2"]) == Deadline(1, 2)

    def test_extra_fields_are_ignored_and_negative_is_fine(self) -> None:
        assert parse([b"1 2 3"]) == Deadline(1, 2)
        assert parse([b"-5 -1"]) == Deadline(-5, -1)

    def test_remaining(self) -> None:
        d = Deadline.after(NOW, 0.25)
        assert d.remaining_s(NOW) == pytest.approx(0.25)
        assert d.remaining_s(NOW + 1) == pytest.approx(-0.75)
        assert combine(None, None) is None
