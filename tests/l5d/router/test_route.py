"""l5d.router.route: picking a bound name, and Linkerd's routing error texts (reference 4.4)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from dtab import (
    EMPTY,
    FAIL,
    NEG,
    Address,
    AddrBound,
    BoundName,
    Dtab,
    Interpreter,
    Leaf,
    Ok,
    Path,
    Union,
    Weighted,
)
from l5d.router.route import (
    addresses,
    attempt_timeout_message,
    binding_timeout_message,
    connect_failed_message,
    format_duration,
    no_route_message,
    pick_bound,
    resolutions,
    total_timeout_message,
    unknown_destination_message,
)


def bound(name: str, *ports: int) -> BoundName:
    return BoundName(
        Path.read(name), Path(), AddrBound(frozenset(Address("127.0.0.1", p) for p in ports))
    )


A = bound("/$/inet/127.0.0.1/1", 1)
B = bound("/$/inet/127.0.0.1/2", 2)


class PickBoundTests:
    """pick_bound: a leaf's bound name; a union picks by weight; Neg/Fail/Empty give None."""

    CASES = [
        ("leaf", Leaf(A), A),
        ("neg", NEG, None),
        ("fail", FAIL, None),
        ("empty", EMPTY, None),
        ("unbound-leaf", Leaf(Path.read("/not/bound")), None),
        ("union-of-one", Union((Weighted(1.0, Leaf(A)),)), A),
        ("nested", Union((Weighted(1.0, Union((Weighted(1.0, Leaf(B)),))),)), B),
    ]

    @pytest.mark.parametrize("name, tree, expected", CASES, ids=[c[0] for c in CASES])
    def test_pick(self, name: str, tree, expected) -> None:
        assert pick_bound(tree, random.Random(1)) == expected, name

    @pytest.mark.parametrize(
        "wa, wb, share_a", [(1.0, 1.0, 0.5), (3.0, 1.0, 0.75), (1.0, 0.0, 1.0), (0.0, 0.0, 0.5)]
    )
    def test_weights(self, wa: float, wb: float, share_a: float) -> None:
        """Each branch is picked with probability weight / sum (uniformly when all weights are
        0)."""
        tree = Union((Weighted(wa, Leaf(A)), Weighted(wb, Leaf(B))))
        rng = random.Random(1234)
        counts = Counter(pick_bound(tree, rng) for _ in range(10_000))
        assert abs(counts[A] / 10_000 - share_a) < 0.02, counts

    def test_zero_weight_branch_is_never_picked(self) -> None:
        tree = Union((Weighted(0.0, Leaf(A)), Weighted(1.0, Leaf(B))))
        rng = random.Random(5)
        assert {pick_bound(tree, rng) for _ in range(1000)} == {B}


class AddressesTests:
    """addresses: the bound name's addresses, sorted (stable round-robin order)."""

    def test_sorted(self) -> None:
        name = BoundName(
            Path.read("/x"),
            Path(),
            AddrBound(
                frozenset(
                    [Address("10.0.0.2", 80), Address("10.0.0.1", 90), Address("10.0.0.1", 80)]
                )
            ),
        )
        assert [(a.host, a.port) for a in addresses(name)] == [
            ("10.0.0.1", 80),
            ("10.0.0.1", 90),
            ("10.0.0.2", 80),
        ]

    def test_unbound_addr_is_empty(self) -> None:
        from dtab import ADDR_NEG, ADDR_PENDING

        for addr in (ADDR_NEG, ADDR_PENDING):
            assert addresses(BoundName(Path.read("/x"), Path(), addr)) == []


class FormatDurationTests:
    """format_duration: twitter util's Duration.toString, the largest unit that divides evenly."""

    CASES = [
        (0.0, "0.milliseconds"),
        (0.001, "1.milliseconds"),
        (0.25, "250.milliseconds"),
        (0.5, "500.milliseconds"),
        (1.0, "1.seconds"),
        (1.5, "1500.milliseconds"),
        (10.0, "10.seconds"),
        (59.0, "59.seconds"),
        (60.0, "1.minutes"),
        (90.0, "90.seconds"),
        (120.0, "2.minutes"),
        (3600.0, "1.hours"),
        (5400.0, "90.minutes"),
        (86400.0, "1.days"),
        (0.1 + 0.2, "300.milliseconds"),  # float noise is rounded to the millisecond
    ]

    @pytest.mark.parametrize("seconds, text", CASES, ids=[c[1] for c in CASES])
    def test_format(self, seconds: float, text: str) -> None:
        assert format_duration(seconds) == text


class MessageTests:
    """The exact error texts Linkerd users grep for."""

    def test_binding_timeout(self) -> None:
        assert binding_timeout_message(10.0, Path.read("/svc/x")) == (
            "Exceeded 10.seconds binding timeout while resolving name: /svc/x"
        )

    def test_total_timeout(self) -> None:
        """Finagle's GlobalRequestTimeoutException."""
        assert total_timeout_message(0.5, Path.read("/svc/x")) == (
            "exceeded 500.milliseconds to /svc/x while waiting for a response for the request, "
            "including retries (if applicable)"
        )

    def test_attempt_timeout(self) -> None:
        """Finagle's IndividualRequestTimeoutException, named by the client."""
        assert attempt_timeout_message(60.0, Path.read("/$/inet/127.1/8080")) == (
            "exceeded 1.minutes to /$/inet/127.1/8080 while waiting for a response for an "
            "individual "
            "request, excluding retries"
        )

    def test_unknown_destination(self) -> None:
        assert unknown_destination_message(
            "GET", "/a?b", "10.0.0.1:5000", "Host header is absent"
        ) == (
            'Unknown destination: Request("GET /a?b", from /10.0.0.1:5000) / Host header is absent'
        )

    def test_connect_failed(self) -> None:
        assert connect_failed_message(
            "10.0.0.1:80",
            Path.read("/svc/x"),
            Path.read("/#/io.l5d.fs/x"),
            ["10.0.0.1:80", "10.0.0.2:80"],
        ) == (
            "Unable to establish connection to 10.0.0.1:80.\n\n"
            "service name: /svc/x\n"
            "client name: /#/io.l5d.fs/x\n"
            "addresses: [10.0.0.1:80, 10.0.0.2:80]\n"
            "selected address: 10.0.0.1:80"
        )

    def test_no_route(self) -> None:
        """RichNoBrokersAvailable: the name, what was tried, the base and override dtabs."""
        text = no_route_message(
            Path.read("/svc/x"),
            Dtab.read("/svc/a=>/b;/c=>/d"),
            Dtab.read("/e=>/f"),
            ["/svc/x", "/b/x"],
        )
        assert text == (
            "Unable to route request!\n\n"
            "service name: /svc/x\n"
            "resolutions considered:\n  /svc/x\n  /b/x\n"
            "dtab:\n"
            "base dtab:\n  /svc/a => /b\n  /c => /d\n"
            "override dtab:\n  /e => /f\n"
        )

    def test_no_route_with_nothing_tried(self) -> None:
        text = no_route_message(Path.read("/svc/x"), Dtab(), Dtab(), [])
        assert "resolutions considered:\n  unknown\n" in text
        assert text.endswith("base dtab:\noverride dtab:\n")


class ResolutionsTests:
    """resolutions: the paths a delegation went through, for the no-route message."""

    CASES = [
        ("neg", "/svc=>/srv", "/svc/x", ["/srv/x"]),
        ("nothing", "", "/svc/x", ["/svc/x"]),
        ("alt", "/svc=>/a | /b", "/svc/x", ["/a/x", "/b/x"]),
        ("bound", "/svc=>/$/inet/127.1/80", "/svc/x", ["/$/inet/127.1/80"]),
    ]

    @pytest.mark.parametrize("name, dtab, path, expected", CASES, ids=[c[0] for c in CASES])
    def test_resolutions(self, name: str, dtab: str, path: str, expected: list[str]) -> None:
        state = Interpreter().delegate(Dtab.read(dtab), Path.read(path))
        assert isinstance(state, Ok)
        assert resolutions(state.value) == expected, name
