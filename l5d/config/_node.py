"""Located values: the YAML document as plain data that remembers positions (pure).

:mod:`l5d.config.parse` turns the YAML node graph into :class:`Node` trees so
that the rest of the config code never imports ``yaml`` and every error can
name a line. A mapping is kept as its ``(key, value)`` node pairs, in document
order, after duplicate keys were rejected.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = ["Node", "describe", "locate_in_string"]

LITERAL = "|"
FOLDED = ">"
QUOTED = ("'", '"')


@dataclass(frozen=True, slots=True, eq=False)
class Node:
    """One YAML value with its position.

    :param value: a ``str``/``int``/``float``/``bool``/``None`` (or another
        YAML scalar such as a date), a ``tuple`` of nodes for a sequence, or a
        ``tuple`` of ``(key_node, value_node)`` pairs for a mapping
        (``is_mapping`` tells the two apart).
    :param line: 1-based line where the value starts.
    :param column: 1-based column where the value starts.
    :param is_mapping: whether ``value`` holds mapping pairs.
    :param style: the YAML scalar style: ``None`` (plain), ``'``, ``"``, ``|``
        or ``>``.
    :param indent: for block scalars, the 0-based column of the content.
    """

    value: object
    line: int
    column: int
    is_mapping: bool = False
    style: str | None = None
    indent: int = 0

    @property
    def is_sequence(self) -> bool:
        return isinstance(self.value, tuple) and not self.is_mapping

    def plain(self) -> object:
        """The value with positions dropped (dicts, lists and scalars)."""
        if self.is_mapping:
            return {k.value: v.plain() for k, v in self.value}  # type: ignore[union-attr]
        if self.is_sequence:
            return [item.plain() for item in self.value]  # type: ignore[union-attr]
        return self.value


def describe(node: Node) -> str:
    """How a value is shown after ``got`` in a type error: ``"41a0"``, ``true``, ``a list``."""
    value = node.value
    if node.is_mapping:
        return "a mapping"
    if node.is_sequence:
        return "a list"
    if value is None or isinstance(value, (bool, str)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def locate_in_string(node: Node, index: int) -> tuple[int, int]:
    """The (line, column), both 1-based, of character ``index`` of a string node.

    Exact for literal block scalars (``dtab: |``), whose lines are the source
    lines, and for single-line plain or quoted scalars. For folded (``>``)
    block scalars and for plain or quoted scalars that span lines, YAML has
    joined lines, so this falls back to the line where the content starts
    (best effort, documented in ``docs/config.md``). Escape sequences in
    double-quoted scalars can shift the column.
    """
    text = node.value if isinstance(node.value, str) else ""
    index = max(0, min(index, len(text)))
    if index >= len(text.rstrip()):  # at the end: after the last visible character
        index = len(text.rstrip())
    if node.style == LITERAL:
        newlines = text.count("\n", 0, index)
        offset = index - (text.rfind("\n", 0, index) + 1)
        return node.line + 1 + newlines, node.indent + offset + 1
    if node.style == FOLDED:
        return node.line + 1, node.indent + 1
    if "\n" in text[:index]:
        return node.line, node.column
    quote = 1 if node.style in QUOTED else 0
    return node.line, node.column + quote + index
