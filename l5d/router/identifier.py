"""Identifiers: HTTP request -> logical name (``dstPrefix ++ name``), as Linkerd (pure).

An identifier returns :class:`Identified` or :class:`Unidentified`; a list of
identifiers is tried in order and the first that identifies wins (Linkerd's
``identifier: [..]``). Unidentified requests get 400 with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from dtab import DtabParseError, Path


class RequestView:
    """What identifiers may look at. ``uri`` is origin-form (path and query).

    A plain slotted class rather than a frozen dataclass: one is made per request.
    """

    __slots__ = ("method", "uri", "version", "headers", "host")

    def __init__(self, method: str, uri: str, version: str, headers, host: bytes | None = None) -> None:
        self.method = method
        self.uri = uri
        self.version = version
        self.headers = headers
        #: the effective Host (the URI authority for absolute-form requests), when known
        self.host = host

    def header(self, name: bytes) -> bytes | None:
        """The first value of ``name`` (lower-case), or None. ``host`` is the effective Host."""
        if name == b"host" and self.host is not None:
            return self.host
        for n, v in self.headers:
            if n.lower() == name:
                return v
        return None


class Identified:
    """``dst`` is the full logical name; ``uri`` the request-target to forward."""

    __slots__ = ("dst", "uri")

    def __init__(self, dst: Path, uri: str) -> None:
        self.dst = dst
        self.uri = uri

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Identified) and (self.dst, self.uri) == (other.dst, other.uri)

    def __hash__(self) -> int:
        return hash((self.dst, self.uri))

    def __repr__(self) -> str:
        return f"Identified(dst={self.dst!r}, uri={self.uri!r})"


@dataclass(frozen=True, slots=True)
class Unidentified:
    reason: str


Identification = Identified | Unidentified

#: identifiers that derive a name from one header value remember this many
NAME_CACHE_SIZE = 10_000
Identifier = Callable[[RequestView], Identification]


def header_token(prefix: Path, header: str = "Host") -> Identifier:
    """``io.l5d.header.token``: one path segment, the raw header value (not lower-cased)."""
    key = header.lower().encode("latin-1")
    names: dict[bytes, Path] = {}  # header value -> name; Hosts repeat, Paths cache their text

    def identify(req: RequestView) -> Identification:
        value = req.header(key)
        if not value:
            return Unidentified(f"{header} header is absent")
        dst = names.get(value)
        if dst is None:
            if len(names) >= NAME_CACHE_SIZE:
                names.clear()
            dst = names[value] = prefix + Path((value.decode("latin-1"),))
        return Identified(dst, req.uri)

    return identify


def header_path(prefix: Path, header: str = "l5d-name") -> Identifier:
    """``io.l5d.header``: the header value read as a path."""
    key = header.lower().encode("latin-1")

    def identify(req: RequestView) -> Identification:
        value = req.header(key)
        if not value:
            return Unidentified(f"{header} header is absent")
        try:
            path = Path.read(value.decode("latin-1"))
        except DtabParseError as e:
            return Unidentified(f"{header} header is not a path: {e}")
        return Identified(prefix + path, req.uri)

    return identify


def _uri_segments(uri: str) -> list[str]:
    path = uri.split("?", 1)[0].split("#", 1)[0]
    return [s for s in path.split("/") if s]


def method_and_host(prefix: Path, http_uri_in_dst: bool = False) -> Identifier:
    """``io.l5d.methodAndHost``: ``/1.1/<METHOD>/<host>`` (host lower-cased); HTTP/1.0: ``/1.0/<METHOD>``."""

    def identify(req: RequestView) -> Identification:
        if req.version == "1.0":
            elems: tuple[str, ...] = ("1.0", req.method)
        else:
            host = req.header(b"host")
            if not host:
                return Unidentified("HTTP/1.1 request missing hostname")
            elems = ("1.1", req.method, host.decode("latin-1").lower())
        if http_uri_in_dst:
            elems += tuple(_uri_segments(req.uri))
        try:
            return Identified(prefix + Path(elems), req.uri)
        except ValueError as e:
            return Unidentified(str(e))

    return identify


def path_segments(prefix: Path, segments: int = 1, consume: bool = False) -> Identifier:
    """``io.l5d.path``: the first ``segments`` URI path segments; ``consume`` strips them."""

    def identify(req: RequestView) -> Identification:
        segs = _uri_segments(req.uri)
        if len(segs) < segments:
            return Unidentified("not enough segments in path")
        uri = req.uri
        if consume:
            path, sep, query = uri.partition("?")
            kept, dropped = [], 0
            for part in path.split("/"):
                if part and dropped < segments:
                    dropped += 1
                    continue
                kept.append(part)
            uri = ("/".join(kept) or "/") + (sep + query if sep else "")
        return Identified(prefix + Path(tuple(segs[:segments])), uri)

    return identify


def header_path_segments(prefix: Path, header: str = ":path",
                         segments: int | None = None) -> Identifier:
    """``io.l5d.header.path``: the path in ``header`` (``:path``, the default, is the
    request URI's path), its first ``segments`` segments or all of them; the query is
    not part of the name and the URI is forwarded unchanged."""
    key = None if header == ":path" else header.lower().encode("latin-1")

    def identify(req: RequestView) -> Identification:
        if key is None:
            text = req.uri
        else:
            value = req.header(key)
            if not value:
                return Unidentified(f"{header} header is absent")
            text = value.decode("latin-1")
        segs = _uri_segments(text)
        if segments is not None:
            if len(segs) < segments:
                return Unidentified("not enough segments in path")
            segs = segs[:segments]
        try:
            return Identified(prefix + Path(tuple(segs)), req.uri)
        except ValueError as e:
            return Unidentified(str(e))

    return identify


def static(prefix: Path, path: Path) -> Identifier:
    """``io.l5d.static``: always the same name."""

    def identify(req: RequestView) -> Identification:
        return Identified(prefix + path, req.uri)

    return identify


def compose(identifiers: Sequence[Identifier]) -> Identifier:
    """Try each in order; the first Identified wins, else the last reason.

    An identifier whose answer can change for the same request (``io.l5d.ingress``)
    has the attribute ``volatile = True``; so has a composition holding one. The
    router does not memoise what a volatile identifier said about a request head."""
    if len(identifiers) == 1:
        return identifiers[0]

    def identify(req: RequestView) -> Identification:
        result: Identification = Unidentified("no identifier")
        for ident in identifiers:
            result = ident(req)
            if isinstance(result, Identified):
                return result
        return result

    if any(getattr(i, "volatile", False) for i in identifiers):
        identify.volatile = True  # type: ignore[attr-defined]
    return identify
