"""The ``io.l5d.fs`` file format (pure).

One file per service under ``rootDir``; the file name is the service name and
each non-blank line is ``host port``, or ``host port * weight`` (whitespace-separated;
Linkerd's format). ``#`` starts a comment. Lines that do not parse are reported, not
guessed at. A weight goes into the address's metadata under Finagle's
``endpoint_addr_weight`` (the load balancer's business); 1.0 is left out.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from dtab import Address, AddrBound

#: Finagle's ``WeightedAddress`` metadata key
WEIGHT_KEY = "endpoint_addr_weight"
_WEIGHT = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")


@dataclass(frozen=True, slots=True)
class ParsedEndpoints:
    addr: AddrBound
    errors: tuple[str, ...]


def parse_endpoints(text: str) -> ParsedEndpoints:
    """Addresses from a service file, with one message per bad line."""
    found: set[Address] = set()
    errors: list[str] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        weighted = len(parts) == 4 and parts[2] == "*"
        if (len(parts) != 2 and not weighted) or not parts[1].isascii() or not parts[1].isdigit():
            errors.append(f"line {lineno}: expected 'host port' or 'host port * weight', "
                          f"got {raw.strip()!r}")
            continue
        port = int(parts[1])
        if not 0 < port <= 65535:
            errors.append(f"line {lineno}: port out of range: {port}")
            continue
        meta: tuple = ()
        if weighted:
            text = parts[3]
            weight = float(text) if _WEIGHT.match(text) else math.nan
            if not math.isfinite(weight) or weight < 0:
                errors.append(f"line {lineno}: expected a weight >= 0, got {text!r}")
                continue
            if weight != 1.0:
                meta = ((WEIGHT_KEY, weight),)
        found.add(Address(parts[0], port, meta))
    return ParsedEndpoints(AddrBound(frozenset(found)), tuple(errors))
