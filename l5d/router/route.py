"""Choosing a destination in a bound tree, and Linkerd's routing error texts (pure)."""

from __future__ import annotations

import random

from dtab import (
    AddrBound, BoundName, Delegate, DelegateAlt, DelegateLeaf, DelegateNeg, DelegateUnion,
    Dtab, Leaf, Path, Union,
)


def pick_bound(tree, rng: random.Random) -> BoundName | None:
    """The bound name a request goes to: a union picks a branch with probability
    weight/sum(weights) (Finagle's NameTreeFactory); Neg, Fail and Empty give None."""
    while True:
        if isinstance(tree, Leaf):
            value = tree.value
            return value if isinstance(value, BoundName) else None
        if isinstance(tree, Union):
            branches = tree.weighted
            total = 0.0
            for w in branches:
                total += w.weight
            if total <= 0.0:
                tree = branches[rng.randrange(len(branches))].tree
                continue
            x = rng.random() * total
            for w in branches:
                x -= w.weight
                if x < 0.0:
                    tree = w.tree
                    break
            else:
                tree = branches[-1].tree
            continue
        return None


def addresses(bound: BoundName) -> list:
    """The bound name's current addresses, sorted for round-robin stability."""
    addr = bound.addr
    if isinstance(addr, AddrBound):
        return sorted(addr.addresses, key=lambda a: (a.host, a.port))
    return []


def _dentries(dtab: Dtab) -> str:
    return "".join(f"  {d.prefix.show()} => {d.dst.show() if hasattr(d.dst, 'show') else d.dst}\n"
                   for d in dtab)


def no_route_message(dst: Path, base: Dtab, local: Dtab, resolutions: list[str]) -> str:
    """Linkerd's RichNoBrokersAvailableException text."""
    considered = "".join(f"  {r}\n" for r in resolutions) or "  unknown\n"
    return (
        "Unable to route request!\n\n"
        f"service name: {dst.show()}\n"
        f"resolutions considered:\n{considered}"
        "dtab:\n"
        f"base dtab:\n{_dentries(base)}"
        f"override dtab:\n{_dentries(local)}"
    )


def resolutions(tree) -> list[str]:
    """The paths a delegation tried, leaf-most first (for the no-route message)."""
    out: list[str] = []

    def walk(node) -> None:
        if isinstance(node, Delegate):
            walk(node.tree)
        elif isinstance(node, DelegateAlt):
            for child in node.trees:
                walk(child)
        elif isinstance(node, DelegateUnion):
            for w in node.weighted:
                walk(w.tree)
        elif isinstance(node, DelegateLeaf):
            value = node.value
            out.append(value.id.show() if isinstance(value, BoundName) else node.path.show())
        elif isinstance(node, DelegateNeg):
            if node.path.elems:
                out.append(node.path.show())
        else:
            path = getattr(node, "path", None)
            if path is not None and path.elems:
                out.append(path.show())

    walk(tree)
    return out


_DURATION_UNITS = (("days", 86_400_000), ("hours", 3_600_000), ("minutes", 60_000),
                   ("seconds", 1000), ("milliseconds", 1))


def format_duration(seconds: float) -> str:
    """Twitter util's Duration.toString at millisecond precision: the largest unit that
    divides the duration evenly (``1.minutes``, ``10.seconds``, ``1500.milliseconds``)."""
    ms = int(round(seconds * 1000))
    if ms == 0:
        return "0.milliseconds"
    for name, size in _DURATION_UNITS:
        if ms % size == 0:
            return f"{ms // size}.{name}"
    raise AssertionError("unreachable: every duration is a whole number of milliseconds")


def binding_timeout_message(timeout_s: float, dst: Path) -> str:
    return (f"Exceeded {format_duration(timeout_s)} binding timeout while resolving name: "
            f"{dst.show()}")


def total_timeout_message(timeout_s: float, dst: Path) -> str:
    """Finagle's GlobalRequestTimeoutException text (``totalTimeoutMs``, reference 4.4)."""
    return (f"exceeded {format_duration(timeout_s)} to {dst.show()} while waiting for a response "
            "for the request, including retries (if applicable)")


def attempt_timeout_message(timeout_s: float, client: Path) -> str:
    """Finagle's IndividualRequestTimeoutException text (``requestAttemptTimeoutMs``)."""
    return (f"exceeded {format_duration(timeout_s)} to {client.show()} while waiting for a "
            "response for an individual request, excluding retries")


def deadline_message(late_s: float, dst: Path) -> str:
    """Finagle's DeadlineExceededException text: the request's ``l5d-ctx-deadline`` passed
    (``late_s`` ago) before l5d could get it a response."""
    return (f"exceeded request deadline by {format_duration(max(late_s, 0.0))} "
            f"to {dst.show()} (l5d-ctx-deadline)")


def no_endpoints_message(dst: Path, client: Path) -> str:
    return f"No hosts are available for {dst.show()}, clientName: {client.show()}"


def unknown_destination_message(method: str, uri: str, peer: str, reason: str) -> str:
    return f'Unknown destination: Request("{method} {uri}", from /{peer}) / {reason}'


def connect_failed_message(selected: str, service: Path, client: Path, addrs: list[str],
                           reason: str = "") -> str:
    """Linkerd's connect failure text; ``reason`` (a TLS check that failed) follows the
    address on the first line."""
    why = f": {reason}" if reason else ""
    return (
        f"Unable to establish connection to {selected}{why}.\n\n"
        f"service name: {service.show()}\n"
        f"client name: {client.show()}\n"
        f"addresses: [{', '.join(addrs)}]\n"
        f"selected address: {selected}"
    )
