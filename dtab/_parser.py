"""One recursive-descent parser for paths, prefixes, trees, dentries and dtabs (pure).

A port of Finagle's ``NameTreeParsers``: it walks an index over the text, skips
whitespace and ``#`` comments (to end of line) between tokens, and raises one
:class:`dtab.errors.DtabParseError` that brackets the offending character.

Grammar (EBNF; whitespace and comments are allowed between tokens)::

    dtab      ::= [ dentry { ';' dentry } [ ';' ] ]     (';;' is an error)
    dentry    ::= prefix '=>' tree
    prefix    ::= '/' [ pelem { '/' pelem } ]
    pelem     ::= '*' | label
    tree      ::= tree1 { '|' tree1 }                 (Alt, lowest precedence)
    tree1     ::= weighted { '&' weighted }           (Union)
    weighted  ::= [ number '*' ] simple
    simple    ::= '(' tree ')' | path | '!' | '~' | '$'
    path      ::= '/' [ label { '/' label } ]
    label     ::= ( labelchar | '\\x' hexdigit hexdigit )+
    labelchar ::= [0-9A-Za-z_:.#$%-]
    number    ::= digits with at most one '.', not '.' alone (e.g. 2, 0.5, .5)

Comments start with ``#`` where whitespace may stand; inside a label ``#`` is an
ordinary character (``/#/io.l5d.k8s``).
"""

from __future__ import annotations

from dtab.dtab import ANY, Dentry, Dtab, Prefix
from dtab.errors import DtabParseError
from dtab.nametree import EMPTY, FAIL, NEG, Alt, Leaf, NameTree, Union, Weighted, DEFAULT_WEIGHT
from dtab.path import LABEL_CHARS, Path

_HEX = frozenset("0123456789abcdefABCDEF")
_NOT_WHITESPACE = frozenset("\xa0\u2007\u202f")  # Java's isWhitespace excludes no-break spaces
_NUMBER_CHARS = frozenset("0123456789.")


class _Parser:
    __slots__ = ("text", "size", "idx")

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise TypeError(f"expected str, got {type(text).__name__}")
        self.text = text
        self.size = len(text)
        self.idx = 0

    # -- primitives ---------------------------------------------------------
    def _illegal(self, expected: str, found: str | None = None, at: int | None = None) -> DtabParseError:
        pos = self.idx if at is None else at
        if found is None:
            found = self._show_char(pos)
        return DtabParseError(self.text, pos, expected, found)

    def _show_char(self, pos: int) -> str:
        return "end of input" if pos >= self.size else f"'{self.text[pos]}'"

    def peek(self) -> str:
        return self.text[self.idx] if self.idx < self.size else ""

    def at_end(self) -> bool:
        return self.idx >= self.size

    def maybe_eat(self, char: str) -> bool:
        if self.idx < self.size and self.text[self.idx] == char:
            self.idx += 1
            return True
        return False

    def eat(self, char: str) -> None:
        if not self.maybe_eat(char):
            raise self._illegal(f"'{char}'")

    def eat_whitespace(self) -> None:
        text, size = self.text, self.size
        while self.idx < size:
            c = text[self.idx]
            if c == "#":
                nl = text.find("\n", self.idx)
                self.idx = size if nl < 0 else nl + 1
            elif c.isspace() and c not in _NOT_WHITESPACE:
                self.idx += 1
            else:
                break

    def ensure_end(self) -> None:
        if not self.at_end():
            raise self._illegal("end of input")

    # -- labels and paths ----------------------------------------------------
    def _is_label_start(self) -> bool:
        c = self.peek()
        return c != "" and (c in LABEL_CHARS or c == "\\")

    def parse_label(self) -> str:
        text, size = self.text, self.size
        start = self.idx
        # fast path: a run of plain label characters
        i = start
        while i < size and text[i] in LABEL_CHARS:
            i += 1
        if i > start and (i >= size or text[i] != "\\"):
            self.idx = i
            return text[start:i]
        buf = bytearray()
        while True:
            c = self.peek()
            if c != "" and c in LABEL_CHARS:
                buf.append(ord(c))
                self.idx += 1
            elif c == "\\":
                self.idx += 1
                self.eat("x")
                hi = self._hex()
                lo = self._hex()
                buf.append(int(hi + lo, 16))
            else:
                raise self._illegal("label char")
            if not self._is_label_start():
                break
        return buf.decode("utf-8", "surrogateescape")

    def _hex(self) -> str:
        c = self.peek()
        if c == "" or c not in _HEX:
            raise self._illegal("hex char")
        self.idx += 1
        return c

    def parse_path(self) -> Path:
        self.eat_whitespace()
        self.eat("/")
        if not self._is_label_start():
            return Path()
        labels = [self.parse_label()]
        while self.maybe_eat("/"):
            labels.append(self.parse_label())
        return Path(tuple(labels))

    # -- prefixes --------------------------------------------------------------
    def parse_prefix(self):
        self.eat_whitespace()
        self.eat("/")
        c = self.peek()
        if not (c == "*" or self._is_label_start()):
            return Prefix(())
        elems: list = []
        while True:
            if self.peek() == "*":
                self.idx += 1
                elems.append(ANY)
            else:
                elems.append(self.parse_label())
            if not self.maybe_eat("/"):
                break
        return Prefix(tuple(elems))

    # -- trees ---------------------------------------------------------------
    def parse_tree(self) -> NameTree:
        trees = []
        while True:
            trees.append(self.parse_tree1())
            self.eat_whitespace()
            if not self.maybe_eat("|"):
                break
        return trees[0] if len(trees) == 1 else Alt(tuple(trees))

    def parse_tree1(self) -> NameTree:
        weighted = []
        while True:
            weighted.append(self.parse_weighted())
            self.eat_whitespace()
            if not self.maybe_eat("&"):
                break
        return weighted[0].tree if len(weighted) == 1 else Union(tuple(weighted))

    def parse_weighted(self) -> Weighted:
        self.eat_whitespace()
        weight = DEFAULT_WEIGHT
        if self.peek() != "" and self.peek() in _NUMBER_CHARS:
            weight = self.parse_number()
            self.eat_whitespace()
            self.eat("*")
            self.eat_whitespace()
        return Weighted(weight, self.parse_simple())

    def parse_number(self) -> float:
        start = self.idx
        seen_dot = False
        while self.peek() != "" and self.peek() in _NUMBER_CHARS:
            if self.peek() == ".":
                if seen_dot:
                    raise self._illegal("number char")
                seen_dot = True
            self.idx += 1
        digits = self.text[start:self.idx]
        if digits == ".":
            raise self._illegal("weight", "'.'", at=start)
        return float(digits)

    def parse_simple(self) -> NameTree:
        self.eat_whitespace()
        c = self.peek()
        if c == "(":
            self.idx += 1
            tree = self.parse_tree()
            self.eat_whitespace()
            self.eat(")")
            return tree
        if c == "/":
            return Leaf(self.parse_path())
        if c == "!":
            self.idx += 1
            return FAIL
        if c == "~":
            self.idx += 1
            return NEG
        if c == "$":
            self.idx += 1
            return EMPTY
        raise self._illegal("simple")

    # -- dentries and dtabs --------------------------------------------------
    def parse_dentry(self):
        prefix = self.parse_prefix()
        self.eat_whitespace()
        self.eat("=")
        self.eat(">")
        tree = self.parse_tree()
        return Dentry(prefix, tree)

    def parse_dtab(self):
        dentries = []
        while True:
            self.eat_whitespace()
            if not self.at_end():
                dentries.append(self.parse_dentry())
                self.eat_whitespace()
            if not self.maybe_eat(";"):
                break
        return Dtab(tuple(dentries))


def _all(text: str, method: str):
    p = _Parser(text)
    result = getattr(p, method)()
    p.eat_whitespace()
    p.ensure_end()
    return result


def parse_path(text: str) -> Path:
    return _all(text, "parse_path")


def parse_tree(text: str) -> NameTree:
    return _all(text, "parse_tree")


def parse_prefix(text: str):
    return _all(text, "parse_prefix")


def parse_dentry(text: str):
    return _all(text, "parse_dentry")


def parse_dtab(text: str):
    return _all(text, "parse_dtab")
