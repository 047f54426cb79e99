"""Binding states as plain values, for the channel between the control and the workers (pure).

:func:`encode_state` turns what an interpreter's ``bind`` answers (:class:`~dtab.Ok` of a
name tree, :data:`~dtab.PENDING` or :class:`~dtab.Failed`) into nested tuples of ``str``,
``int``, ``float``, ``bool``, ``None`` and ``bytes``, which ``marshal`` carries as they are;
:func:`decode_state` builds the state back. Law (tested on random trees):
``decode_state(encode_state(s)) == s`` with equal hashes, and the singletons (``PENDING``,
``NEG``, ``FAIL``, ``EMPTY``, ``ADDR_NEG``, ``ADDR_PENDING``) come back as themselves.

The encoding (a tag first; the singletons of a tree are their concrete syntax)::

    state ::= ("ok", tree) | "pending" | ("failed", module, qualname, args, message)
    tree  ::= "~" | "!" | "$" | ("path", labels) | ("name", id labels, residual labels, addr)
            | ("alt", (tree, ...)) | ("union", ((weight, tree), ...))
    addr  ::= ("bound", ((host, port, meta), ...), meta) | "neg" | "pending" | ("failed", cause)
    meta  ::= ((key, value), ...)

A failure travels as its exception's type name, ``args`` (when they are plain values) and
message. It comes back as an exception of the same type when this process has that type's
module loaded already (nothing is imported) and the rebuilt exception shows the same message
(its ``__init__`` is not run: only ``args`` are set); otherwise as a :class:`RemoteError`
with the same message. Either way ``str()`` of the decoded error is the original's.

Malformed input to :func:`decode_state`, and a value :func:`encode_state` cannot carry (a
leaf that is neither a path nor a bound name, metadata that is not plain), raise
``ValueError``: both are bugs, not outcomes.
"""

from __future__ import annotations

import sys
from typing import Any

from dtab import (
    ADDR_NEG, ADDR_PENDING, EMPTY, FAIL, NEG, PENDING, Address, AddrBound, AddrFailed, Alt,
    BoundName, Failed, Leaf, Ok, Path, State, Union, Weighted,
)

__all__ = ["RemoteError", "decode_state", "encode_state"]

_SCALARS = (str, int, float, bool, type(None), bytes)
_TREE_SINGLETONS = {"~": NEG, "!": FAIL, "$": EMPTY}


class RemoteError(Exception):
    """A failure whose exception type this process cannot rebuild; ``kind`` names it
    (``module.qualname``), ``str()`` is its message."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


# -- encode ---------------------------------------------------------------------------

def encode_state(state: State) -> Any:
    """``state`` as plain values (see the module docstring for the grammar)."""
    if state is PENDING:
        return "pending"
    if isinstance(state, Ok):
        return ("ok", _encode_tree(state.value))
    if isinstance(state, Failed):
        return _encode_error(state.error)
    raise ValueError(f"state: expected Ok, PENDING or Failed, got {state!r}")


def _encode_error(error: BaseException) -> tuple:
    cls = type(error)
    args = error.args if all(isinstance(a, _SCALARS) for a in error.args) else ()
    if isinstance(error, RemoteError):  # passed on again: keep the original's name
        module, _, qualname = error.kind.rpartition(".")
        return ("failed", module, qualname, (), str(error))
    return ("failed", cls.__module__, cls.__qualname__, tuple(args), str(error))


def _encode_tree(tree: Any) -> Any:
    if tree is NEG:
        return "~"
    if tree is FAIL:
        return "!"
    if tree is EMPTY:
        return "$"
    if isinstance(tree, Leaf):
        value = tree.value
        if isinstance(value, BoundName):
            return ("name", value.id.elems, value.residual.elems, _encode_addr(value.addr))
        if isinstance(value, Path):
            return ("path", value.elems)
        raise ValueError(f"leaf: expected a Path or a BoundName, got {value!r}")
    if isinstance(tree, Alt):
        return ("alt", tuple(_encode_tree(t) for t in tree.trees))
    if isinstance(tree, Union):
        return ("union", tuple((w.weight, _encode_tree(w.tree)) for w in tree.weighted))
    raise ValueError(f"tree: expected a NameTree, got {tree!r}")


def _encode_addr(addr: Any) -> Any:
    if isinstance(addr, AddrBound):
        return ("bound",
                tuple((a.host, a.port, _encode_meta(a.meta) if a.meta else ())
                      for a in addr.addresses),
                _encode_meta(addr.meta) if addr.meta else ())
    if addr is ADDR_NEG:
        return "neg"
    if addr is ADDR_PENDING:
        return "pending"
    if isinstance(addr, AddrFailed):
        return ("failed", addr.cause)
    raise ValueError(f"addr: expected an Addr, got {addr!r}")


def _encode_meta(meta: tuple) -> tuple:
    for pair in meta:
        if not (isinstance(pair, tuple) and len(pair) == 2 and _plain(pair[1])):
            raise ValueError(f"meta: expected (key, plain value) pairs, got {pair!r}")
    return meta


def _plain(value: Any) -> bool:
    if isinstance(value, _SCALARS):
        return True
    if isinstance(value, (tuple, list)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(_plain(k) and _plain(v) for k, v in value.items())
    return False


# -- decode ---------------------------------------------------------------------------

def decode_state(value: Any) -> State:
    """The state :func:`encode_state` gave ``value`` for; ``ValueError`` if malformed."""
    try:
        return _decode_state(value)
    except (TypeError, AttributeError) as e:  # a shape the patterns let through
        raise ValueError(f"not an encoded state: {e}") from None


def _decode_state(value: Any) -> State:
    match value:
        case "pending":
            return PENDING
        case ("ok", tree):
            return Ok(_decode_tree(tree))
        case ("failed", str(module), str(qualname), args, str(message)):
            return Failed(_decode_error(module, qualname, tuple(args), message))
        case _:
            raise ValueError(f"not an encoded state: {value!r}")


def _decode_tree(value: Any) -> Any:
    match value:
        case str():
            tree = _TREE_SINGLETONS.get(value)
            if tree is None:
                raise ValueError(f"not an encoded name tree: {value!r}")
            return tree
        case ("name", id_elems, residual_elems, addr):
            return Leaf(BoundName(Path(tuple(id_elems)), Path(tuple(residual_elems)),
                                  _decode_addr(addr)))
        case ("path", elems):
            return Leaf(Path(tuple(elems)))
        case ("alt", trees):
            return Alt(tuple(_decode_tree(t) for t in trees))
        case ("union", weighted):
            return Union(tuple(Weighted(w, _decode_tree(t)) for w, t in weighted))
        case _:
            raise ValueError(f"not an encoded name tree: {value!r}")


def _decode_addr(value: Any) -> Any:
    match value:
        case ("bound", addresses, meta):
            metas: dict = {}  # one tuple per distinct metadata (a node's name, say)
            return AddrBound(frozenset(
                Address(host, port, _shared_meta(metas, m) if m else ())
                for host, port, m in addresses
            ), _decode_meta(meta) if meta else ())
        case "neg":
            return ADDR_NEG
        case "pending":
            return ADDR_PENDING
        case ("failed", str(cause)):
            return AddrFailed(cause)
        case _:
            raise ValueError(f"not an encoded addr: {value!r}")


def _decode_meta(meta: Any) -> tuple:
    return tuple((k, v) for k, v in meta)


def _shared_meta(metas: dict, meta: Any) -> tuple:
    try:
        shared = metas.get(meta)
    except TypeError:  # lists in it (not what encode_state sends): no sharing
        return _decode_meta(meta)
    if shared is None:
        shared = metas[meta] = _decode_meta(meta)
    return shared


def _decode_error(module: str, qualname: str, args: tuple, message: str) -> BaseException:
    """An exception of the named type when this process knows it and it shows ``message``,
    else a :class:`RemoteError`."""
    cls: Any = sys.modules.get(module)  # loaded already: decoding imports nothing
    for part in qualname.split(".") if cls is not None else ():
        cls = getattr(cls, part, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            error = cls.__new__(cls, *args)  # no __init__: its signature is the type's own
            error.args = args
            if str(error) == message:
                return error
        except Exception:  # a type that cannot be rebuilt from its args: keep the text
            pass
    kind = f"{module}.{qualname}" if module else qualname
    return RemoteError(kind, message)
