"""l5d.router.pathmatch: Linkerd's PathMatcher vectors (PathMatcherTest, ClientTest, RouterTest)."""

from __future__ import annotations

import random

import pytest

from dtab import Path
from l5d.router import pathmatch
from l5d.router.pathmatch import MATCH_ALL, substitute

# (pattern, path, expected captures or None), in concrete syntax
MATCH_CASES = [
    ("/foo/bar", "/foo/bar", {}),
    ("/foo/bar", "/foo/bar/bas", {}),
    ("/foo/bar", "/foo/goo", None),
    ("/foo/bar", "/foo", None),
    ("/foo/*/*", "/foo/hi/there", {}),
    ("/foo/*/*", "/foo/hi", None),
    ("/foo/{A}", "/foo/bar/bas", {"A": "bar"}),
    ("/foo/bar/{A}:http", "/foo/bar/bas:http", {"A": "bas"}),
    ("/foo/{A}/*/{B}", "/foo/boo/bar/bas", {"A": "boo", "B": "bas"}),
    ("/foo/bar/{A}-{B}", "/foo/bar/foo-bar-baz", {"A": "foo-bar", "B": "baz"}),
    ("{A}.{B}.{C}", "/www.foo.com", {"A": "www", "B": "foo", "C": "com"}),
    ("/foo/{A}/bar", "/foo/bar/bad", None),
    ("/", "/", {}),
    ("/", "/anything/at/all", {}),
    ("/#/io.l5d.fs/{service}", "/#/io.l5d.fs/foo", {"service": "foo"}),
    ("/#/io.l5d.fs/{service}", "/#/io.l5d.wrong/bas", None),
    ("/#/io.l5d.serversets/s/*/staging/{service}:https",
     "/#/io.l5d.serversets/s/nobody/staging/foo:https", {"service": "foo"}),
    ("/$/inet/*/80", "/$/inet/127.1/80", {}),
    ("/$/inet/*/80", "/$/inet/127.1/8080", None),
    # a segment with captures is searched, not anchored: text around it need not cover the label
    ("/a/x{A}", "/a/yxz", {"A": "z"}),
    ("/a/{A}.com", "/a/foo.com.au", {"A": "foo"}),
    ("/a/{A}.com", "/a/foo", None),
    # '.' is literal; so is '$' (Linkerd's regex would make it an anchor)
    ("/a/{A}.b", "/a/xyb", None),
    ("/a/{A}$b", "/a/x$b", {"A": "x"}),
    # the later of two captures with one name wins
    ("/{A}/{A}", "/x/y", {"A": "y"}),
    # leading, repeated and trailing slashes are ignored
    ("//foo/", "/foo/bar", {}),
    ("foo", "/foo", {}),
    # labels are compared as shown (escaped when they hold other characters)
    ("/a/\\x20", "/a/\\x20", {}),
]


class MatchTests:
    """compile(pattern).match(path): captures, or None."""

    @pytest.mark.parametrize("pattern, path, expected", MATCH_CASES,
                             ids=[f"{c[0]} ~ {c[1]}" for c in MATCH_CASES])
    def test_match(self, pattern: str, path: str, expected) -> None:
        """The spec's vectors and the edge cases of the segment rules."""
        assert pathmatch.compile(pattern).match(Path.read(path)) == expected

    def test_match_all_matches_every_path(self) -> None:
        """MATCH_ALL (``/``) matches random paths, the empty one included, with no captures."""
        rng = random.Random(1234)
        for _ in range(100):
            labels = tuple(rng.choice(["a", "b", "svc", "#", "io.l5d.fs"])
                           for _ in range(rng.randrange(5)))
            assert MATCH_ALL.match(Path(labels)) == {}

    def test_a_pattern_matches_what_it_prefixes(self) -> None:
        """A literal pattern matches exactly the paths it is a prefix of."""
        rng = random.Random(4321)
        for _ in range(200):
            path = Path(tuple(rng.choice("abc") for _ in range(rng.randrange(5))))
            pattern = Path(tuple(rng.choice("abc") for _ in range(rng.randrange(4))))
            found = pathmatch.compile(pattern.show()).match(path)
            assert (found is not None) == path.startswith(pattern), (pattern, path)


class CompileTests:
    """compile: what it accepts and how it shows."""

    def test_show_is_the_pattern_as_written(self) -> None:
        """show(), str() and repr() give the text back."""
        m = pathmatch.compile("/#/*/{service}")
        assert (m.show(), str(m), repr(m)) == (
            "/#/*/{service}", "/#/*/{service}", "compile('/#/*/{service}')")

    def test_equal_patterns_are_equal(self) -> None:
        """Matchers compare by their text."""
        assert pathmatch.compile("/a/{b}") == pathmatch.compile("/a/{b}")
        assert pathmatch.compile("/a") != pathmatch.compile("/a/")

    @pytest.mark.parametrize("pattern, message", [
        ("/a//b", "empty segment in path pattern '/a//b'"),
        (None, "expected a path pattern, got None"),
    ], ids=["empty-segment", "not-a-string"])
    def test_rejects(self, pattern, message: str) -> None:
        """A pattern no path could match is a ValueError."""
        with pytest.raises(ValueError) as info:
            pathmatch.compile(pattern)  # type: ignore[arg-type]
        assert str(info.value) == message


class SubstituteTests:
    """substitute: Linkerd's ``{name}`` replacement (tls.commonName)."""

    @pytest.mark.parametrize("captures, text, expected", [
        ({"service": "foo"}, "{service}.com", "foo.com"),
        ({"service": "foo"}, "*.{service}.com", "*.foo.com"),
        ({"a": "1", "b": "2"}, "{a}-{b}-{a}", "1-2-1"),
        ({}, "{service}.com", "{service}.com"),
        ({"x": "1"}, "{service}", "{service}"),
    ], ids=["one", "wildcard-name", "several", "none", "unknown-name"])
    def test_substitute(self, captures, text: str, expected: str) -> None:
        """Each known ``{name}`` is replaced; other braces stay."""
        assert substitute(captures, text) == expected

    def test_capture_then_substitute(self) -> None:
        """The ClientTest TLS vector: the bound id's capture becomes the common name."""
        m = pathmatch.compile("/#/io.l5d.serversets/s/*/staging/{service}:https")
        found = m.match(Path.read("/#/io.l5d.serversets/s/nobody/staging/foo:https"))
        assert found is not None and substitute(found, "*.{service}.com") == "*.foo.com"
