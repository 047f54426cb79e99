"""Finagle's global namer: the built-in ``/$/<kind>/...`` names (pure).

=======================================  =====================================================
path                                     result
=======================================  =====================================================
``/$/inet/<host>/<port>/<rest>``         bound id ``/$/inet/<host>/<port>``, residual ``<rest>``
``/$/inet/<port>/<rest>``                the same on the unspecified host (``0.0.0.0``)
``/$/fixedinet/...``                     the same as ``inet`` (Finagle resolves it only once)
``/$/fail/...``                          :data:`FAIL`
``/$/nil/...``                           :data:`EMPTY`
``/$/io.buoyant.rinet/<port>/<host>/…``  like inet with port first
``/$/io.buoyant.hostportPfx/<p>/<h>:<port>/…``  rewrites to ``/<p>/<h>/<port>/…``
``/$/io.buoyant.porthostPfx/<p>/<h>:<port>/…``  rewrites to ``/<p>/<port>/<h>/…``
``/$/io.buoyant.http.domainToPathPfx/<p>/<a.b.c>/…``  ``/<p>/c/b/a/…``
``/$/io.buoyant.http.subdomainOfPfx/<d>/<p>/<h.d>/…``  ``/<p>/<h>/…`` (a ``:port`` is dropped)
``/$/io.buoyant.http.anyMethod/<M>/…``   ``/…`` when ``M`` is upper-case letters
``/$/io.buoyant.http.anyHost/<h>/…``     ``/…`` when ``h`` looks like a host
(and the ``…Pfx`` / non-``Pfx`` twins of the http ones)
``/$/<unknown>/…``                       :class:`Failed` with :class:`UnknownNamer`
anything else                            :data:`NEG`
=======================================  =====================================================

Rewriting namers answer :data:`NEG` for names they do not accept. Nothing here
resolves DNS: addresses keep the host as written.
"""

from __future__ import annotations

import re
from typing import Callable

from dtab.activity import Failed, Ok, State
from dtab.errors import UnknownNamer
from dtab.name import Address, AddrBound, BoundName
from dtab.nametree import EMPTY, FAIL, NEG, Leaf, NameTree
from dtab.path import Path

UNSPECIFIED_HOST = "0.0.0.0"

_HOST_RE = re.compile(r"[A-Za-z0-9.:_-]+\Z")
_METHOD_RE = re.compile(r"[A-Z]+\Z")
_PORT_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
_DIGITS_RE = re.compile(r"[0-9]+\Z")


def _port(text: str) -> int | None:
    """Finagle's IntegerString for ports: ASCII digits only, 0..65535."""
    if not _DIGITS_RE.match(text) or len(text) > 5:
        return None
    port = int(text)
    return port if port <= 65535 else None


def _is_host(text: str) -> bool:
    return bool(_HOST_RE.match(text))


def _bound(full: Path, residual: Path, host: str, port: int) -> NameTree:
    bound_id = full.take(len(full) - len(residual))
    return Leaf(BoundName(bound_id, residual, AddrBound.of(Address(host, port))))


# ---------------------------------------------------------------------------
# rewriting namers: rest-of-path -> tree

def _split_hostport(text: str) -> tuple[str, str] | None:
    parts = text.split(":")
    if len(parts) != 2:
        return None
    host, port = parts
    if not host or not _is_host(host) or not _PORT_LABEL_RE.match(port):
        return None
    return host, port


def _hostport_pfx(rest: Path) -> NameTree:
    if len(rest) < 2:
        return NEG
    hp = _split_hostport(rest.elems[1])
    if hp is None:
        return NEG
    return Leaf(Path.of(rest.elems[0], hp[0], hp[1]) + rest.drop(2))


def _porthost_pfx(rest: Path) -> NameTree:
    if len(rest) < 2:
        return NEG
    hp = _split_hostport(rest.elems[1])
    if hp is None:
        return NEG
    return Leaf(Path.of(rest.elems[0], hp[1], hp[0]) + rest.drop(2))


def _domain_labels(host: str) -> tuple[str, ...] | None:
    labels = tuple(label for label in host.split(".") if label)
    return labels[::-1] or None


def _domain_to_path(rest: Path) -> NameTree:
    if len(rest) < 1 or not _is_host(rest.elems[0]):
        return NEG
    labels = _domain_labels(rest.elems[0])
    return NEG if labels is None else Leaf(Path(labels) + rest.drop(1))


def _domain_to_path_pfx(rest: Path) -> NameTree:
    if len(rest) < 2 or not _is_host(rest.elems[1]):
        return NEG
    labels = _domain_labels(rest.elems[1])
    return NEG if labels is None else Leaf(Path((rest.elems[0],) + labels) + rest.drop(2))


def _strip_port(host: str) -> str:
    """Linkerd's ``Match.dropPort``: everything from the first ``:`` (not at the start) goes."""
    idx = host.find(":")
    return host[:idx] if idx > 0 else host


def _subdomain(domain: str, host: str) -> str | None:
    host = _strip_port(host)
    suffix = "." + domain
    if host.endswith(suffix) and len(host) > len(suffix):
        return host[: -len(suffix)]
    return None


def _subdomain_of(rest: Path) -> NameTree:
    if len(rest) < 2 or not (_is_host(rest.elems[0]) and _is_host(rest.elems[1])):
        return NEG
    sub = _subdomain(rest.elems[0], rest.elems[1])
    return NEG if sub is None else Leaf(Path.of(sub) + rest.drop(2))


def _subdomain_of_pfx(rest: Path) -> NameTree:
    if len(rest) < 3 or not (_is_host(rest.elems[0]) and _is_host(rest.elems[2])):
        return NEG
    sub = _subdomain(rest.elems[0], rest.elems[2])
    return NEG if sub is None else Leaf(Path.of(rest.elems[1], sub) + rest.drop(3))


def _any_method(rest: Path) -> NameTree:
    if len(rest) < 1 or not _METHOD_RE.match(rest.elems[0]):
        return NEG
    return Leaf(rest.drop(1))


def _any_method_pfx(rest: Path) -> NameTree:
    if len(rest) < 2 or not _METHOD_RE.match(rest.elems[1]):
        return NEG
    return Leaf(Path.of(rest.elems[0]) + rest.drop(2))


def _any_host(rest: Path) -> NameTree:
    if len(rest) < 1 or not _is_host(rest.elems[0]):
        return NEG
    return Leaf(rest.drop(1))


def _any_host_pfx(rest: Path) -> NameTree:
    if len(rest) < 2 or not _is_host(rest.elems[1]):
        return NEG
    return Leaf(Path.of(rest.elems[0]) + rest.drop(2))


def _rinet(full: Path, rest: Path) -> NameTree:
    if len(rest) < 2:
        return NEG
    port = _port(rest.elems[0])
    if port is None:
        return NEG
    return _bound(full, rest.drop(2), rest.elems[1], port)


_REWRITERS: dict[str, Callable[[Path], NameTree]] = {
    "io.buoyant.hostportPfx": _hostport_pfx,
    "io.buoyant.porthostPfx": _porthost_pfx,
    "io.buoyant.http.domainToPath": _domain_to_path,
    "io.buoyant.http.domainToPathPfx": _domain_to_path_pfx,
    "io.buoyant.http.subdomainOf": _subdomain_of,
    "io.buoyant.http.subdomainOfPfx": _subdomain_of_pfx,
    "io.buoyant.http.anyMethod": _any_method,
    "io.buoyant.http.anyMethodPfx": _any_method_pfx,
    "io.buoyant.http.anyHost": _any_host,
    "io.buoyant.http.anyHostPfx": _any_host_pfx,
}

#: Every ``/$/<kind>`` this package knows.
BUILTIN_KINDS = frozenset({"inet", "fixedinet", "fail", "nil", "io.buoyant.rinet", *_REWRITERS})


def global_lookup(path: Path) -> State:
    """Look ``path`` up in Finagle's global namer (the ``/$/`` names).

    :returns: ``Ok(tree)`` (``NEG`` for paths outside ``/$/``), or ``Failed``
        with :class:`UnknownNamer` for a ``/$/<kind>`` nobody implements.
    """
    elems = path.elems
    if len(elems) < 2 or elems[0] != "$":
        return Ok(NEG)
    kind = elems[1]
    if kind == "inet" or kind == "fixedinet":
        if len(elems) >= 4:
            port = _port(elems[3])
            if port is not None:
                return Ok(_bound(path, path.drop(4), elems[2], port))
        if len(elems) >= 3:
            port = _port(elems[2])
            if port is not None:
                return Ok(_bound(path, path.drop(3), UNSPECIFIED_HOST, port))
        return Failed(UnknownNamer(kind, path.show()))
    if kind == "fail":
        return Ok(FAIL)
    if kind == "nil":
        return Ok(EMPTY)
    if kind == "io.buoyant.rinet":
        return Ok(_rinet(path, path.drop(2)))
    rewriter = _REWRITERS.get(kind)
    if rewriter is None:
        return Failed(UnknownNamer(kind, path.show()))
    rest = path.drop(2)
    return Ok(rewriter(rest) if rest else NEG)
