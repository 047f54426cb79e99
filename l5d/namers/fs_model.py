"""The ``io.l5d.fs`` file format (pure).

One file per service under ``rootDir``; the file name is the service name and
each non-blank line is ``host port`` (whitespace-separated). ``#`` starts a
comment. Lines that do not parse are reported, not guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass

from dtab import Address, AddrBound


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
        if len(parts) != 2 or not parts[1].isascii() or not parts[1].isdigit():
            errors.append(f"line {lineno}: expected 'host port', got {raw.strip()!r}")
            continue
        port = int(parts[1])
        if not 0 < port <= 65535:
            errors.append(f"line {lineno}: port out of range: {port}")
            continue
        found.add(Address(parts[0], port))
    return ParsedEndpoints(AddrBound(frozenset(found)), tuple(errors))
