"""Reading one config object out of a located mapping (pure).

:class:`Fields` wraps a mapping :class:`~l5d.config._node.Node` and hands out
typed values with defaults. Every key asked for becomes a *known* key;
:meth:`Fields.close` then reports whatever is left, listing the known ones
(with a "did you mean" for a near miss). All errors are
:class:`~l5d.config.errors.ConfigError` with the source, the line and column of
the offending node, and the key path.

Errors are collected, as a compiler does: :meth:`Context.report` records one
and reading goes on. A bad optional value is reported and its default used; an
object that cannot be read at all (a required key missing or of the wrong type)
raises, and the nearest recovery point (:meth:`Context.attempt`: each router,
server, plugin, policy entry...) reports it and carries on with the next.
:class:`Abandoned` marks an object given up only because of errors already
reported, so a cascade is never shown. :func:`~l5d.config.parse.parse_config`
raises them all at the end, in file order.

This is the explicit, reflection-free ``from_dict`` the house style asks for:
each config type calls these methods for its own keys (Linkerd's camelCase
names), so the key → attribute translation is written out once per type.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
from dataclasses import dataclass, field
from typing import Callable, TypeVar

from dtab import DtabParseError, Path
from l5d.config._node import Node, describe, locate_in_string
from l5d.config.compat import unsupported_key
from l5d.config.errors import ConfigError

__all__ = ["Abandoned", "Context", "Fields", "REQUIRED", "did_you_mean", "unknown_key_message"]

T = TypeVar("T")


class _Required:
    __slots__ = ()

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required()
"""Sentinel default: the key must be present."""


@dataclass(slots=True)
class Context:
    """What every reader shares: the source name and the positions seen.

    :param source: file name shown in errors.
    :param spans: key path → (line, column) of every object and key read, so
        that whole-config checks can point at a line after the fact.
    """

    source: str = "<config>"
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    errors: list[ConfigError] = field(default_factory=list)
    lines: tuple[str, ...] = ()
    """The source text's lines (for hints about what YAML dropped as a comment)."""

    def report(self, err: ConfigError) -> None:
        """Record ``err`` (once) and carry on reading: every error is reported at once."""
        if isinstance(err, Abandoned) or any(e is err for e in self.errors):
            return
        self.errors.append(err)

    def attempt(self, read: Callable[[], T], default: T) -> T:
        """``read()``, or ``default`` after recording the error it raised.

        The recovery points of the readers: an object that cannot be read is
        left out (or replaced by ``default``) and reading goes on with its
        siblings, so that one run reports every mistake in the file.
        """
        try:
            return read()
        except ConfigError as err:
            self.report(err)
            return default

    def error(
        self, message: str, key_path: str, node: Node | None, cls: type[ConfigError] = ConfigError
    ) -> ConfigError:
        line, column = (node.line, node.column) if node is not None else (0, 0)
        return cls(message, key_path=key_path, line=line, column=column, source=self.source)

    def fields(self, node: Node, key_path: str) -> "Fields":
        """Open ``node`` as an object; it must be a mapping (``null`` counts as ``{}``)."""
        if node.value is None and not node.is_mapping:
            node = Node((), node.line, node.column, is_mapping=True)
        if not node.is_mapping:
            raise self.error(f"expected a mapping, got {describe(node)}", key_path, node)
        self.spans.setdefault(key_path, (node.line, node.column))
        return Fields(node, key_path, self)

    def locate(self, key_path: str) -> tuple[int, int]:
        """Position of ``key_path``, or of its nearest recorded ancestor, or (0, 0)."""
        path = key_path
        while path:
            if path in self.spans:
                return self.spans[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return self.spans.get("", (0, 0))


class Abandoned(ConfigError):
    """An object that could not be built only because of errors already reported
    (a compiler's "error recovery" cascade); never shown."""


def did_you_mean(key: str, known: list[str] | tuple[str, ...]) -> str | None:
    """The known key ``key`` is most likely a misspelling of, or ``None``.

    A different case wins (``rootdir`` -> ``rootDir``); otherwise the closest
    one by :func:`difflib.get_close_matches`.
    """
    for name in known:
        if name.lower() == key.lower():
            return name
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.75)
    return close[0] if close else None


def unknown_key_message(key: str, known: list[str] | tuple[str, ...]) -> str:
    listed = ", ".join(sorted(known)) or "none"
    guess = did_you_mean(key, known)
    hint = f'; did you mean "{guess}"?' if guess else ""
    return f'unknown key "{key}"{hint} (known keys: {listed})'


def join(path: str, key: str) -> str:
    """``join("routers[0]", "label") == "routers[0].label"``."""
    return f"{path}.{key}" if path else key


def path_error(ctx: Context, node: Node, key_path: str, err: DtabParseError) -> ConfigError:
    """A dtab/path parse error, placed at the offending character of ``node``.

    The message is the parser's (expected, found, the bad character
    bracketed); for a multi-line dtab it shows only the line in question.
    """
    line, column = locate_in_string(node, err.position)
    text, pos = err.text, min(err.position, len(err.text))
    if "\n" in text:
        if pos >= len(text.rstrip()):  # end of input: point just past the last dentry
            pos = len(text.rstrip())
        start = text.rfind("\n", 0, pos) + 1
        end = text.find("\n", pos)
        text, pos = text[start:] if end < 0 else text[start:end], pos - start
        shown = f"{text[:pos]}[{text[pos:pos + 1]}]{text[pos + 1:]}"
        message = f"{err.expected} expected but {err.found} found at '{shown}'"
    else:
        message = str(err)
    return ConfigError(message, key_path=key_path, line=line, column=column, source=ctx.source)


class Fields:
    """One config object being read (``where`` is its key path). Used once, then closed."""

    __slots__ = ("node", "where", "ctx", "_entries", "_known", "_reported", "errors_before")

    def __init__(self, node: Node, where: str, ctx: Context) -> None:
        self.node = node
        self.where = where
        self.ctx = ctx
        self._entries: dict[str, tuple[Node, Node]] = {
            k.value: (k, v) for k, v in node.value  # type: ignore[union-attr]
        }
        self._known: list[str] = []
        self._reported: set[str] = set()
        #: how many errors were reported before this object was opened
        self.errors_before = len(ctx.errors)

    # -- plumbing ------------------------------------------------------------
    def key_path(self, key: str) -> str:
        return join(self.where, key)

    def error(self, message: str, key: str | None = None, *, at_key: bool = False,
              cls: type[ConfigError] = ConfigError) -> ConfigError:
        """An error about ``key`` (at its value, or its key with ``at_key``) or the object."""
        if key is None:
            return self.ctx.error(message, self.where, self.node, cls)
        entry = self._entries.get(key)
        node = self.node if entry is None else entry[0 if at_key else 1]
        return self.ctx.error(message, self.key_path(key), node, cls)

    def raw(self, key: str) -> Node | None:
        """The value node of ``key``, or ``None`` when absent or ``null``."""
        if key not in self._known:
            self._known.append(key)
        entry = self._entries.get(key)
        if entry is None:
            return None
        self.ctx.spans.setdefault(self.key_path(key), (entry[1].line, entry[1].column))
        return None if entry[1].value is None else entry[1]

    def missing(self, key: str) -> ConfigError:
        """``missing required key``, unless an unknown key already reported here is its
        misspelling (``windowMs`` for ``window``): one mistake, one error."""
        if key not in self._known:
            self._known.append(key)
        typos = [k for k in self._entries if k not in self._known or k in self._reported]
        for typo in typos:
            if did_you_mean(typo, [key]):
                if typo not in self._reported:
                    self._reported.add(typo)
                    self.ctx.report(self.error(unknown_key_message(typo, self._known), typo,
                                               at_key=True))
                return Abandoned(f'missing required key "{key}"')
        return self.error(f'missing required key "{key}"')

    def entry(self, key: str) -> tuple[Node, Node] | None:
        """The ``(key node, value node)`` of ``key`` as written, or ``None``."""
        return self._entries.get(key)

    def written(self, key: str) -> bool:
        """Whether ``key`` appears in the document at all (even as ``null``)."""
        return key in self._entries

    def _get(self, key: str, default: object, check: Callable[[Node], T], what: str) -> T:
        """The checked value; a bad optional value is reported and its default used."""
        node = self.raw(key)
        if node is None:
            if default is REQUIRED:
                if self.written(key):  # present but null
                    raise self.error(f"expected {what}, got null", key)
                raise self.missing(key)
            return default  # type: ignore[return-value]
        if default is REQUIRED:
            return check(node)
        return self.ctx.attempt(lambda: check(node), default)  # type: ignore[arg-type]

    def expect(self, *keys: str) -> "Fields":
        """Declare every key this object has, and report any other one now.

        Checking up front means a misspelt key is reported as unknown rather
        than as a missing required key, even when reading stops at that key.
        """
        for key in keys:
            if key not in self._known:
                self._known.append(key)
        self.close()
        return self

    def close(self) -> None:
        """Report every key nobody asked for (with a "did you mean" for a near miss);
        reading goes on."""
        for key in self._entries:
            if key not in self._known and key not in self._reported:
                self._reported.add(key)
                message = unsupported_key(key) or unknown_key_message(key, self._known)
                self.ctx.report(self.error(message, key, at_key=True))

    def ignore(self, *keys: str) -> None:
        """Mark ``keys`` as known without reading them (their object was refused already)."""
        for key in keys:
            if key not in self._known:
                self._known.append(key)

    def ignore_rest(self) -> None:
        """Mark every key as known: the object was refused by its ``kind``, so its keys
        are not checked (an unknown kind is named, not a key under it)."""
        self.ignore(*self._entries)

    # -- typed getters -------------------------------------------------------
    def string(self, key: str, default: object = REQUIRED, *, allow_empty: bool = False) -> str:
        def check(node: Node) -> str:
            if not isinstance(node.value, str):
                raise self.error(f"expected a string, got {describe(node)}", key)
            if not node.value and not allow_empty:
                raise self.error("expected a non-empty string", key)
            return node.value

        return self._get(key, default, check, "a string")

    def boolean(self, key: str, default: object = REQUIRED) -> bool:
        def check(node: Node) -> bool:
            if not isinstance(node.value, bool):
                raise self.error(f"expected a boolean, got {describe(node)}", key)
            return node.value

        return self._get(key, default, check, "a boolean")

    def integer(self, key: str, default: object = REQUIRED, *, minimum: int | None = 0,
                maximum: int | None = None) -> int:
        def check(node: Node) -> int:
            value = node.value
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.error(f"expected an integer, got {describe(node)}", key)
            if minimum is not None and value < minimum:
                raise self.error(f"expected an integer >= {minimum}, got {value}", key)
            if maximum is not None and value > maximum:
                raise self.error(f"expected an integer <= {maximum}, got {value}", key)
            return value

        return self._get(key, default, check, "an integer")

    def number(self, key: str, default: object = REQUIRED, *, minimum: float | None = None,
               maximum: float | None = None, above: float | None = None) -> float:
        """A finite number (an integer is accepted and returned as a float).

        :param minimum: smallest allowed value; :param above: the value must be greater.
        """
        def check(node: Node) -> float:
            value = node.value
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value):
                raise self.error(f"expected a number, got {describe(node)}", key)
            if minimum is not None and value < minimum:
                raise self.error(f"expected a number >= {minimum:g}, got {value!r}", key)
            if above is not None and value <= above:
                raise self.error(f"expected a number > {above:g}, got {value!r}", key)
            if maximum is not None and value > maximum:
                raise self.error(f"expected a number <= {maximum:g}, got {value!r}", key)
            return float(value)

        return self._get(key, default, check, "a number")

    def port(self, key: str, default: object = REQUIRED) -> int:
        """A TCP port, 0..65535 (0 lets the OS pick one)."""
        def check(node: Node) -> int:
            value = node.value
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.error(f"expected an integer, got {describe(node)}", key)
            if not 0 <= value <= 65535:
                raise self.error(f"expected a port number (0-65535), got {value}", key)
            return value

        return self._get(key, default, check, "an integer")

    def millis(self, key: str, default_s: object = REQUIRED) -> float:
        """An integer ``...Ms`` key, returned as float seconds."""
        default = default_s if default_s is REQUIRED else None
        ms = self.integer(key, default)
        return default_s if ms is None else ms / 1000.0  # type: ignore[return-value]

    def seconds(self, key: str, default_s: object = REQUIRED, *, minimum: int | None = 0) -> float:
        """An integer ``...Secs`` key, returned as float seconds."""
        default = default_s if default_s is REQUIRED else None
        secs = self.integer(key, default, minimum=minimum)
        return default_s if secs is None else float(secs)  # type: ignore[return-value]

    def ip(self, key: str, default: object = REQUIRED) -> str:
        """An IPv4 or IPv6 address literal (hostnames are not resolved here)."""
        def check(node: Node) -> str:
            if not isinstance(node.value, str):
                raise self.error(f"expected an IP address, got {describe(node)}", key)
            try:
                return str(ipaddress.ip_address(node.value))
            except ValueError:
                raise self.error(f"expected an IP address, got {describe(node)}", key) from None

        return self._get(key, default, check, "an IP address")

    def path(self, key: str, default: object = REQUIRED) -> Path:
        """A Finagle path such as ``/svc``, checked with the dtab parser."""
        def check(node: Node) -> Path:
            if not isinstance(node.value, str):
                raise self.error(f"expected a path, got {describe(node)}", key)
            try:
                return Path.read(node.value)
            except DtabParseError as err:
                raise path_error(self.ctx, node, self.key_path(key), err) from None

        return self._get(key, default, check, "a path")

    def mapping(self, key: str, default: object = None) -> "Fields | None":
        """A nested object, or ``default`` (``REQUIRED`` to insist) when absent."""
        node = self.raw(key)
        if node is None:
            if default is REQUIRED:
                raise self.missing(key)
            return None
        if default is REQUIRED:
            return self.ctx.fields(node, self.key_path(key))
        return self.ctx.attempt(lambda: self.ctx.fields(node, self.key_path(key)), None)

    def sequence(self, key: str, default: object = (), *, one_or_many: bool = False,
                 non_empty: bool = False) -> tuple[tuple[Node, str], ...]:
        """The items of a list as ``(node, key_path)`` pairs.

        :param one_or_many: also accept a single mapping (Linkerd's
            ``identifier: {kind: ...}``), read as a list of one.
        :param non_empty: reject ``[]``.
        """
        node = self.raw(key)
        if node is None:
            if default is REQUIRED:
                if self.written(key):
                    raise self.error("expected a list, got null", key)
                raise self.missing(key)
            return default  # type: ignore[return-value]
        if one_or_many and node.is_mapping:
            return ((node, self.key_path(key)),)
        if not node.is_sequence or (non_empty and not node.value):
            what = "a non-empty list" if node.is_sequence else f"a list, got {describe(node)}"
            err = self.error(f"expected {what}", key)
            if default is REQUIRED:
                raise err
            self.ctx.report(err)
            return default  # type: ignore[return-value]
        items = node.value  # type: ignore[assignment]
        base = self.key_path(key)
        out = []
        for i, item in enumerate(items):  # type: ignore[arg-type]
            item_path = f"{base}[{i}]"
            self.ctx.spans.setdefault(item_path, (item.line, item.column))
            out.append((item, item_path))
        return tuple(out)

    def empty_list(self, key: str, reason: str) -> tuple[()]:
        """A key that is accepted only as ``[]`` for now (e.g. ``transformers``)."""
        items = self.sequence(key)
        if items:
            raise self.error(f"expected an empty list ({reason})", key)
        return ()
