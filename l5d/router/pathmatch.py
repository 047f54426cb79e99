"""Path patterns of per-prefix policy: Linkerd's ``PathMatcher`` (pure).

``client.configs[i].prefix`` and ``service.configs[i].prefix`` are patterns,
matched against a client's bound id (``/#/io.l5d.k8s/default/http/hello``) or a
service's logical name (``/svc/hello``). Grammar (pieces are split on ``/``;
leading and trailing ``/`` are ignored, an empty piece between two is an error)::

    pattern  ::= '/'* (segment ('/' segment)*)? '/'*
    segment  ::= '*' | (text | capture)+
    capture  ::= '{' name '}'
    name     ::= [a-zA-Z0-9.:-_]+      (Linkerd's class: ':-_' is the range ':' .. '_')

Matching (``finagle/buoyant/.../PathMatcher.scala``), segment by segment:

* a pattern matches by **prefix**: once its segments are used up it matches,
  whatever is left of the path; if the path runs out first, no match. The
  pattern ``/`` matches every path, the empty one included;
* ``*`` matches any one label;
* a segment without captures matches a label equal to it;
* a segment with captures becomes a regular expression in which each
  ``{name}`` is a greedy ``(.*)``, **searched** (not anchored) in the label:
  ``{A}-{B}`` on ``foo-bar-baz`` gives ``A=foo-bar, B=baz``, and ``bar-{A}``
  also matches ``xbar-y``. Linkerd escapes only ``.`` in the text around
  captures; here all of it is literal (the only difference is for labels with
  ``$``, the one regex character a label may hold besides ``.``).

Labels are compared in their shown form (``Path.show``'s, as Finagle's
``showElems``). A capture seen twice keeps the later value.

Example::

    >>> m = compile("/#/io.l5d.fs/{service}")
    >>> m.match(Path.read("/#/io.l5d.fs/foo/bar"))
    {'service': 'foo'}
    >>> substitute({"service": "foo"}, "{service}.linkerd.io")
    'foo.linkerd.io'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

from dtab import Path
from dtab.path import show_label

__all__ = ["MATCH_ALL", "PathMatcher", "compile", "substitute"]

_CAPTURE = re.compile(r"\{([a-zA-Z0-9.:-_]+)\}")
_WILDCARD = "*"


@dataclass(frozen=True, slots=True)
class _Segment:
    """One piece of a pattern: ``*``, a literal label, or a search regex with capture names."""

    text: str
    regex: re.Pattern[str] | None = None
    names: tuple[str, ...] = ()


def _segment(text: str) -> _Segment:
    if text == _WILDCARD:
        return _Segment(text)
    names = tuple(m.group(1) for m in _CAPTURE.finditer(text))
    if not names:
        return _Segment(text)
    literals = _CAPTURE.split(text)[::2]  # split() interleaves the captured names
    return _Segment(text, re.compile("(.*)".join(re.escape(part) for part in literals)), names)


@dataclass(frozen=True, slots=True)
class PathMatcher:
    """A compiled pattern (see the module docstring). Build it with :func:`compile`.

    :param pattern: the text as written (what :meth:`show` gives back).
    """

    pattern: str
    _segments: tuple[_Segment, ...] = field(default=(), repr=False, compare=False)

    def match(self, path: Path) -> dict[str, str] | None:
        """The captures when ``path`` matches (``{}`` when there are none), else ``None``.

        Test the result with ``is not None``: a match without captures is an empty dict.
        """
        labels = path.elems
        if len(labels) < len(self._segments):
            return None
        found: dict[str, str] = {}
        for seg, label in zip(self._segments, labels):
            if seg.regex is None:
                if seg.text != _WILDCARD and seg.text != show_label(label):
                    return None
                continue
            m = seg.regex.search(show_label(label))
            if m is None:
                return None
            found.update(zip(seg.names, m.groups()))
        return found

    def show(self) -> str:
        return self.pattern

    def __str__(self) -> str:
        return self.pattern

    def __repr__(self) -> str:
        return f"compile({self.pattern!r})"


def compile(pattern: str) -> PathMatcher:  # noqa: A001 - named like re.compile
    """Compile ``pattern``.

    :raises ValueError: not a string, or an empty segment (``/a//b``), which no
        label could ever match.
    """
    if not isinstance(pattern, str):
        raise ValueError(f"expected a path pattern, got {pattern!r}")
    pieces = pattern.split("/")
    while pieces and not pieces[0]:
        pieces.pop(0)
    while pieces and not pieces[-1]:
        pieces.pop()
    if "" in pieces:
        raise ValueError(f"empty segment in path pattern {pattern!r}")
    return PathMatcher(pattern, tuple(_segment(p) for p in pieces))


def substitute(captures: Mapping[str, str], text: str) -> str:
    """``text`` with every ``{name}`` of ``captures`` replaced by its value (Linkerd's
    ``PathMatcher.substitute``, used for ``tls.commonName``); other braces stay."""
    for name, value in captures.items():
        text = text.replace("{" + name + "}", value)
    return text


MATCH_ALL = compile("/")
"""The pattern ``/``: what an ``io.l5d.global`` block applies to."""
