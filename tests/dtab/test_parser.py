"""dtab._parser: the grammar of paths, trees, prefixes, dentries and dtabs, and its errors.

Good inputs are reference section 3.5 rows 3-7, 9-11, 13, 14 and 16; bad inputs
(rows 8, 12 and 15, and more) are checked against their exact messages, which
follow Finagle's ``NameTreeParsers``: ``<expected> expected but <found> found at
'<text with the offending character in brackets>'``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import pytest

from dtab import (
    ANY,
    EMPTY,
    FAIL,
    NEG,
    Alt,
    Dentry,
    Dtab,
    DtabParseError,
    Leaf,
    Path,
    Prefix,
    Union,
    Weighted,
    read_tree,
)


def L(text: str) -> Leaf:
    return Leaf(Path.read(text))


def W(weight: float, tree) -> Weighted:
    return Weighted(weight, tree)


class Good(NamedTuple):
    id: str
    read: Callable
    text: str
    expected: object


GOOD = [
    Good("row05-slash-is-empty", Path.read, "/", Path()),
    Good("row06-surrounding-space", Path.read, "  /foo/bar  ", Path.of("foo", "bar")),
    Good("row07-hex-escapes", Path.read, "/\\x66\\x6f\\x6F", Path.of("foo")),
    Good("path-comment-after", Path.read, "/foo # trailing comment", Path.of("foo")),
    Good("path-hash-inside-label", Path.read, "/#/io.l5d.k8s", Path.of("#", "io.l5d.k8s")),
    Good("row09-fail-neg-empty", read_tree, "! | ~ | $", Alt((FAIL, NEG, EMPTY))),
    Good(
        "row10-and-binds-tighter",
        read_tree,
        "/foo & /bar | /bar & /baz",
        Alt((Union.of(L("/foo"), L("/bar")), Union.of(L("/bar"), L("/baz")))),
    ),
    Good(
        "row11-weights",
        read_tree,
        "1 * /foo & 2 * /bar | .5 * /bar & .5 * /baz",
        Alt(
            (
                Union((W(1.0, L("/foo")), W(2.0, L("/bar")))),
                Union((W(0.5, L("/bar")), W(0.5, L("/baz")))),
            )
        ),
    ),
    Good("tree-parens-of-one", read_tree, "(/a)", L("/a")),
    Good("tree-double-parens", read_tree, "((/a | /b))", Alt((L("/a"), L("/b")))),
    Good(
        "tree-nested-alt-kept", read_tree, "(/a | /b) | /c", Alt((Alt((L("/a"), L("/b"))), L("/c")))
    ),
    Good(
        "tree-weighted-parens",
        read_tree,
        "2 * (/a | /b) & /c",
        Union((W(2.0, Alt((L("/a"), L("/b")))), W(1.0, L("/c")))),
    ),
    Good(
        "tree-number-forms",
        read_tree,
        "5.*/a & 0*/b & 007*/c",
        Union((W(5.0, L("/a")), W(0.0, L("/b")), W(7.0, L("/c")))),
    ),
    Good("tree-no-spaces", read_tree, "/a&/b|~", Alt((Union.of(L("/a"), L("/b")), NEG))),
    Good(
        "tree-newlines-and-comments",
        read_tree,
        "/a # first\n | # second\n /b",
        Alt((L("/a"), L("/b"))),
    ),
    Good("row13-root-prefix", Dentry.read, "/=>!", Dentry(Prefix(()), FAIL)),
    Good("row13-root-prefix-spaced", Dentry.read, "/ => !", Dentry(Prefix(()), FAIL)),
    Good(
        "row14-wildcard", Dentry.read, "/foo/*/bar => !", Dentry(Prefix(("foo", ANY, "bar")), FAIL)
    ),
    Good("prefix-escaped-star-is-a-label", Prefix.read, "/\\x2a", Prefix(("*",))),
    Good("prefix-lone-star", Prefix.read, "/*", Prefix((ANY,))),
    Good("row16-empty-dtab", Dtab.read, "", Dtab()),
    Good("row16-trailing-semicolon", Dtab.read, "/=>!;", Dtab((Dentry(Prefix(()), FAIL),))),
    Good(
        "row16-two",
        Dtab.read,
        "/=>!;/foo=>/bar",
        Dtab((Dentry(Prefix(()), FAIL), Dentry(Prefix(("foo",)), L("/bar")))),
    ),
    Good(
        "row04-trailing-semicolon-multiline",
        Dtab.read,
        "/b => /c;\n/a => /b;",
        Dtab((Dentry(Prefix(("b",)), L("/c")), Dentry(Prefix(("a",)), L("/b")))),
    ),
    Good(
        "row03-comments",
        Dtab.read,
        "\n# a comment\n/#foo => /biz  # another comment\n"
        "         | ( /bliz & # yet another comment\n"
        "             /bluth ) # duh bluths\n"
        "             ; #finalmente\n#/ignore=>/me;\n",
        Dtab((Dentry(Prefix(("#foo",)), Alt((L("/biz"), Union.of(L("/bliz"), L("/bluth"))))),)),
    ),
    Good("dtab-only-whitespace-and-comments", Dtab.read, "  \n# nothing here\n\t", Dtab()),
]


class ParserGoodInputTests:
    @pytest.mark.parametrize("case", GOOD, ids=[c.id for c in GOOD])
    def test_parses(self, case):
        """Each input parses to exactly the expected value."""
        assert case.read(case.text) == case.expected, case.id


class Bad(NamedTuple):
    id: str
    read: Callable
    text: str
    message: str
    position: int


BAD = [
    # row 8: paths
    Bad("row08-empty", Path.read, "", "'/' expected but end of input found at '[]'", 0),
    Bad(
        "row08-trailing-slash",
        Path.read,
        "/foo/bar/",
        "label char expected but end of input found at '/foo/bar/[]'",
        9,
    ),
    Bad("row08-braces", Path.read, "/{}", "end of input expected but '{' found at '/[{]}'", 1),
    Bad("row08-backslash-not-x", Path.read, "/\\?", "'x' expected but '?' found at '/\\[?]'", 2),
    Bad("row08-bad-hex", Path.read, "/\\x?", "hex char expected but '?' found at '/\\x[?]'", 3),
    Bad(
        "row08-bad-second-hex",
        Path.read,
        "/\\x0?",
        "hex char expected but '?' found at '/\\x0[?]'",
        4,
    ),
    Bad("path-no-slash", Path.read, "foo", "'/' expected but 'f' found at '[f]oo'", 0),
    Bad(
        "path-empty-label",
        Path.read,
        "/foo//bar",
        "label char expected but '/' found at '/foo/[/]bar'",
        5,
    ),
    Bad(
        "path-inner-space",
        Path.read,
        "/foo bar",
        "end of input expected but 'b' found at '/foo [b]ar'",
        5,
    ),
    Bad(
        "path-no-break-space-is-not-whitespace",
        Path.read,
        "/a\xa0",
        "end of input expected but '\xa0' found at '/a[\xa0]'",
        2,
    ),
    # row 12: trees
    Bad("row12-empty", read_tree, "", "simple expected but end of input found at '[]'", 0),
    Bad("row12-only-comment", read_tree, "#", "simple expected but end of input found at '#[]'", 1),
    Bad(
        "row12-dangling-and",
        read_tree,
        "/foo &",
        "simple expected but end of input found at '/foo &[]'",
        6,
    ),
    Bad(
        "row12-two-dots",
        read_tree,
        "/foo & 0.1.2 * /bar",
        "number char expected but '.' found at '/foo & 0.1[.]2 * /bar'",
        10,
    ),
    # Finagle brackets the character after the lone '.'; we bracket the '.' itself
    Bad(
        "row12-lone-dot",
        read_tree,
        "/foo & . * /bar",
        "weight expected but '.' found at '/foo & [.] * /bar'",
        7,
    ),
    Bad(
        "tree-unclosed-paren", read_tree, "(/a", "')' expected but end of input found at '(/a[]'", 3
    ),
    Bad("tree-stray-paren", read_tree, "/a)", "end of input expected but ')' found at '/a[)]'", 2),
    Bad(
        "tree-dangling-bar",
        read_tree,
        "/a |",
        "simple expected but end of input found at '/a |[]'",
        4,
    ),
    Bad("tree-weight-without-star", read_tree, "1 /a", "'*' expected but '/' found at '1 [/]a'", 2),
    Bad(
        "tree-negative-weight", read_tree, "-1*/a", "simple expected but '-' found at '[-]1*/a'", 0
    ),
    # row 15: dentries
    Bad(
        "row15-star-in-label",
        Dentry.read,
        "/foo/*bar/baz => !",
        "'=' expected but 'b' found at '/foo/*[b]ar/baz => !'",
        6,
    ),
    Bad("row15-no-arrow", Dentry.read, "/&!", "'=' expected but '&' found at '/[&]!'", 1),
    Bad(
        "dentry-no-tree",
        Dentry.read,
        "/foo=>",
        "simple expected but end of input found at '/foo=>[]'",
        6,
    ),
    Bad(
        "dentry-no-arrow-at-end",
        Dentry.read,
        "/foo",
        "'=' expected but end of input found at '/foo[]'",
        4,
    ),
    Bad(
        "dentry-half-arrow",
        Dentry.read,
        "/foo=/bar",
        "'>' expected but '/' found at '/foo=[/]bar'",
        5,
    ),
    Bad(
        "dentry-star-after-label",
        Dentry.read,
        "/foo*=>/a",
        "'=' expected but '*' found at '/foo[*]=>/a'",
        4,
    ),
    Bad("dentry-no-slash", Dentry.read, "*/a=>/b", "'/' expected but '*' found at '[*]/a=>/b'", 0),
    Bad(
        "prefix-star-then-label",
        Prefix.read,
        "/*x",
        "end of input expected but 'x' found at '/*[x]'",
        2,
    ),
    # dtabs
    Bad("dtab-only-semicolons", Dtab.read, ";;", "'/' expected but ';' found at '[;];'", 0),
    Bad(
        "dtab-empty-dentry",
        Dtab.read,
        "/a=>/b;;/c=>/d",
        "'/' expected but ';' found at '/a=>/b;[;]/c=>/d'",
        7,
    ),
    Bad(
        "dtab-missing-semicolon",
        Dtab.read,
        "/a=>/b\n/c=>/d",
        "end of input expected but '/' found at '/a=>/b\n[/]c=>/d'",
        7,
    ),
]


class ParserBadInputTests:
    @pytest.mark.parametrize("case", BAD, ids=[c.id for c in BAD])
    def test_error_message_and_position(self, case):
        """Each bad input raises DtabParseError with the exact message and position."""
        with pytest.raises(DtabParseError) as info:
            case.read(case.text)
        err = info.value
        assert str(err) == case.message, case.id
        assert err.position == case.position, case.id
        assert err.text == case.text

    def test_parse_errors_are_value_errors(self):
        """Callers that only know ValueError still catch parse errors."""
        with pytest.raises(ValueError):
            Dtab.read("/a=>")

    def test_expected_and_found_are_kept(self):
        """The error carries what the grammar wanted and what it got, for editors to show."""
        with pytest.raises(DtabParseError) as info:
            Dtab.read("/a=>/b|")
        assert (info.value.expected, info.value.found) == ("simple", "end of input")

    def test_non_string_input_is_a_type_error(self):
        """Bytes are not text; the caller decodes."""
        with pytest.raises(TypeError):
            Dtab.read(b"/a=>/b")  # type: ignore[arg-type]


class ParserPositionTests:
    TEXT = "/a=>/b;\n# comment\n/c=>/d;\n/e=>/f g\n"

    def test_line_and_column_of_a_multi_line_dtab(self):
        """The error names the 1-based line and column of the bad character."""
        with pytest.raises(DtabParseError) as info:
            Dtab.read(self.TEXT)
        err = info.value
        assert err.position == self.TEXT.index("g")
        assert (err.line, err.column) == (4, 8)
        assert err.line_message() == "end of input expected but 'g' found at '/e=>/f [g]'"

    def test_line_and_column_at_end_of_input(self):
        """At end of input after a newline, the position is the start of the next line."""
        text = "/a=>/b;\n/c=>\n"
        with pytest.raises(DtabParseError) as info:
            Dtab.read(text)
        err = info.value
        assert err.position == len(text)
        assert (err.line, err.column) == (3, 1)
        assert err.line_message() == "simple expected but end of input found at '[]'"
        assert str(err) == "simple expected but end of input found at '/a=>/b;\n/c=>\n[]'"

    def test_first_line_first_column(self):
        """An error at the very first character is line 1, column 1."""
        with pytest.raises(DtabParseError) as info:
            Dtab.read("x")
        assert (info.value.line, info.value.column) == (1, 1)
