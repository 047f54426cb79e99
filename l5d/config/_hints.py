"""Hints for a dtab that a ``#`` cut short (pure).

``#`` is a comment twice over: in YAML after a space (``dtab: /svc => #/io.l5d.fs``
is the value ``/svc =>``), and in a dtab where whitespace may stand (a dentry
written ``#/io.l5d.fs/...`` in a ``dtab: |`` block is a comment). Either way
the dtab a user meant is not the one parsed; when that leads to an error, the
error says which ``#`` did it. A namer path is written ``/#/<prefix>``.
"""

from __future__ import annotations

from l5d.config._node import Node, locate_in_string

__all__ = ["dtab_comment_hint", "null_value_hint"]

_LABEL = frozenset("_:.#$%-/")


def _comment_starts(text: str, end: int) -> list[int]:
    """Indexes of the ``#`` before ``end`` that start dtab comments."""
    starts = []
    i = 0
    while i < min(end, len(text)):
        c = text[i]
        if c == "#" and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] in _LABEL)):
            starts.append(i)
            nl = text.find("\n", i)
            i = len(text) if nl < 0 else nl
        i += 1
    return starts


def _yaml_comment(node: Node, lines: tuple[str, ...]) -> str | None:
    """The ``#...`` YAML dropped after a plain scalar, if any (on its lines)."""
    if node.style is not None or not lines or not 0 < node.line <= len(lines):
        return None
    first = lines[node.line - 1]
    indent = len(first) - len(first.lstrip(" "))
    texts = [first[node.column - 1:]]
    for line in lines[node.line:]:
        if not line.strip() or len(line) - len(line.lstrip(" ")) <= indent:
            break
        texts.append(line)
    for text in texts:
        cut = text.find(" #")
        if cut >= 0:
            return text[cut + 1:].strip()
    return None


def dtab_comment_hint(node: Node, position: int, lines: tuple[str, ...]) -> str | None:
    """A hint for a dtab (string ``node``) that failed to parse at ``position``, or ``None``."""
    dropped = _yaml_comment(node, lines)
    if dropped is not None:
        return (f'hint: YAML read "{dropped}" as a comment (a "#" after a space); '
                f'quote the dtab or write it as a block (dtab: |); a namer path is "/#/..."')
    text = node.value if isinstance(node.value, str) else ""
    starts = _comment_starts(text, position)
    if starts:
        line, _ = locate_in_string(node, starts[-1])
        where = f" on line {line}" if line else ""
        return (f'hint: the "#"{where} starts a comment to the end of its line; '
                f'a namer path is written "/#/..."')
    return None


def null_value_hint(key_node: Node, lines: tuple[str, ...]) -> str | None:
    """For ``dtab: #/...``, which YAML reads as an empty value: what was dropped."""
    if not lines or not 0 < key_node.line <= len(lines):
        return None
    rest = lines[key_node.line - 1][key_node.column - 1:]
    colon = rest.find(":")
    after = rest[colon + 1:].strip() if colon >= 0 else ""
    if after.startswith("#"):
        return (f'YAML read "{after}" as a comment, so the value is empty; quote it '
                f'or write it as a block (dtab: |); a namer path is "/#/..."')
    return None
