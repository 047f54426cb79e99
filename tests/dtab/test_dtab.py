"""dtab.dtab: Prefix matching, Dtab.lookup (last dentry wins, earlier ones fall back), ``+``."""

from __future__ import annotations

import pickle

import pytest

from dtab import ANY, EMPTY_DTAB, NEG, Dentry, Dtab, Path, Prefix, read_tree

# (id, dtab, path, expected tree in concrete syntax)
LOOKUP_CASES = [
    ("row01-wildcard", "/a/*/c=>/d", "/a/b/c/e/f", "/d/e/f"),
    ("no-match-is-neg", "/a=>/b", "/x/y", "~"),
    ("empty-dtab-is-neg", "", "/x", "~"),
    ("exact-prefix-keeps-dst", "/a/b=>/c", "/a/b", "/c"),
    ("prefix-longer-than-path", "/a/b/c=>/d", "/a/b", "~"),
    ("prefix-is-label-wise", "/a=>/b", "/ab", "~"),
    ("root-prefix-matches-everything", "/=>/pfx", "/x/y", "/pfx/x/y"),
    ("root-prefix-matches-root", "/=>/pfx", "/", "/pfx"),
    ("wildcard-needs-one-label", "/a/*=>/d", "/a", "~"),
    ("wildcard-matches-any-label", "/*/b=>/d", "/zzz/b/c", "/d/c"),
    ("wildcard-is-not-a-glob", "/a/*=>/d", "/a/x/y", "/d/y"),
    ("escaped-star-is-literal", "/a/\\x2a=>/d", "/a/x", "~"),
    ("escaped-star-matches-star", "/a/\\x2a=>/d", "/a/\\x2a/y", "/d/y"),
    ("later-dentry-first", "/a=>/b;/a=>/c", "/a/x", "/c/x | /b/x"),
    ("three-matches", "/a=>/1;/=>/2;/a/x=>/3", "/a/x", "/3 | /2/a/x | /1/x"),
    ("non-matching-skipped", "/a=>/1;/b=>/2;/a=>/3", "/a", "/3 | /1"),
    ("alt-dst-leaves-extended", "/a=>/b | /c", "/a/x", "/b/x | /c/x"),
    ("union-dst-keeps-weights", "/a=>2*/b & /c", "/a/x", "2*/b/x & /c/x"),
    ("nested-dst-extended", "/a=>(/b | ~) & (! | $ | /c)", "/a/x", "(/b/x | ~) & (! | $ | /c/x)"),
    ("neg-dst", "/neg=>~", "/neg/x", "~"),
    ("fail-dst", "/a=>!", "/a/x", "!"),
    ("neg-dst-still-an-alt-branch", "/a=>/b;/a=>~", "/a/x", "~ | /b/x"),
]


class DtabLookupTests:
    @pytest.mark.parametrize(
        "dtab,path,expected", [c[1:] for c in LOOKUP_CASES], ids=[c[0] for c in LOOKUP_CASES]
    )
    def test_lookup(self, dtab, path, expected):
        """Matching dentries, last first, each with the unmatched rest of the path appended."""
        assert Dtab.read(dtab).lookup(Path.read(path)) == read_tree(expected)

    def test_matching_names_the_dentries(self):
        """``matching`` pairs each rewritten tree with the dentry that produced it, last first."""
        d = Dtab.read("/a=>/1;/b=>/2;/a/x=>/3")
        got = d.matching(Path.read("/a/x/y"))
        assert [(m.show(), t) for m, t in got] == [
            ("/a/x=>/3", read_tree("/3/y")),
            ("/a=>/1", read_tree("/1/x/y")),
        ]

    def test_no_match_is_the_neg_singleton(self):
        """An unmatched path gives the NEG singleton itself."""
        assert Dtab.read("/a=>/b").lookup(Path.read("/c")) is NEG


class DtabConcatTests:
    D1 = "/foo=>/bar"
    D2 = "/foo=>/biz;/biz=>/$/inet/8080;/bar=>/$/inet/9090"

    def test_row02_concatenation_keeps_order(self):
        """Row 2: ``d1 + d2`` holds the four dentries, d1's first."""
        d = Dtab.read(self.D1) + Dtab.read(self.D2)
        assert [e.show() for e in d] == [
            "/foo=>/bar",
            "/foo=>/biz",
            "/biz=>/$/inet/8080",
            "/bar=>/$/inet/9090",
        ]
        assert d == Dtab.read(self.D1 + ";" + self.D2)

    def test_appended_entries_win(self):
        """The right-hand dtab's dentries are tried first: local overrides beat the base."""
        path = Path.read("/foo")
        assert (Dtab.read(self.D1) + Dtab.read(self.D2)).lookup(path) == read_tree("/biz | /bar")
        assert (Dtab.read(self.D2) + Dtab.read(self.D1)).lookup(path) == read_tree("/bar | /biz")

    def test_empty_dtab_is_the_identity(self):
        """Adding the empty dtab on either side returns the other operand unchanged."""
        d = Dtab.read(self.D2)
        assert d + EMPTY_DTAB is d
        assert EMPTY_DTAB + d is d

    def test_concatenation_is_associative(self):
        """``(a + b) + c == a + (b + c)``."""
        a, b, c = Dtab.read("/a=>/b"), Dtab.read("/c=>/d"), Dtab.read("/e=>/f")
        assert (a + b) + c == a + (b + c)

    def test_adding_a_string_is_a_type_error(self):
        """Text must be parsed first."""
        with pytest.raises(TypeError):
            Dtab.read("/a=>/b") + "/c=>/d"  # type: ignore[operator]


class DtabValueTests:
    def test_show_and_show_lines(self):
        """``show`` joins canonical dentries with ';'; ``show_lines`` puts one per line."""
        d = Dtab.read("/a => /b | /c ;\n/d/* => 2 * /e & /f")
        assert d.show() == "/a=>/b | /c;/d/*=>2.00*/e & /f"
        assert d.show_lines() == "/a=>/b | /c;\n/d/*=>2.00*/e & /f;\n"
        assert Dtab.read(d.show()) == d == Dtab.read(d.show_lines())
        assert EMPTY_DTAB.show() == "" and EMPTY_DTAB.show_lines() == ""

    def test_repr_reads_back(self):
        """``repr`` of a Dtab, Dentry and Prefix is an expression that rebuilds it."""
        d = Dtab.read("/svc/*=>/#/io.l5d.k8s/default/http")
        names = {"Dtab": Dtab, "Dentry": Dentry, "Prefix": Prefix}
        assert eval(repr(d), names) == d
        assert eval(repr(d.dentries[0]), names) == d.dentries[0]
        assert eval(repr(d.dentries[0].prefix), names) == d.dentries[0].prefix
        assert str(d) == d.show()

    def test_equal_dtabs_hash_alike(self):
        """Dtabs are cache keys: equal dtabs (however written) have equal hashes."""
        a = Dtab.read("/a=>/b;/c=>/d")
        b = Dtab.read("  /a => /b ;\n/c=>/d ; ")
        assert a == b and hash(a) == hash(b)
        assert {a: 1}[b] == 1

    def test_pickles(self):
        """A dtab with a wildcard survives pickling, the wildcard as the ANY singleton."""
        d = Dtab.read("/a/*=>/b")
        copy = pickle.loads(pickle.dumps(d))
        assert copy == d and copy.dentries[0].prefix.elems[1] is ANY

    def test_sequence_protocol(self):
        """A dtab iterates over its dentries and is falsy when empty."""
        d = Dtab.read("/a=>/b;/c=>/d")
        assert len(d) == 2 and list(d) == list(d.dentries) and d and not EMPTY_DTAB

    @pytest.mark.parametrize(
        "make,message",
        [
            (lambda: Prefix(("a", "")), "elems"),
            (lambda: Prefix(["a"]), "elems: expected a tuple"),
            (lambda: Dentry("/a", read_tree("/b")), "prefix: expected a Prefix"),
            (lambda: Dtab([]), "dentries"),
            (lambda: Dtab(("/a=>/b",)), "dentries"),
        ],
        ids=["empty-prefix-label", "prefix-list", "dentry-str-prefix", "dtab-list", "dtab-of-str"],
    )
    def test_constructors_validate(self, make, message):
        """Hand-built values are checked like parsed ones, naming the bad field."""
        with pytest.raises(ValueError, match=message):
            make()

    @pytest.mark.parametrize(
        "prefix,path,expected",
        [
            ("/", "/", True),
            ("/a/*", "/a/b", True),
            ("/a/*", "/a", False),
            ("/*/*", "/x/y/z", True),
            ("/a/*/c", "/a/b/d", False),
        ],
    )
    def test_prefix_matches(self, prefix, path, expected):
        """``*`` matches exactly one label; the path may be longer than the prefix."""
        assert Prefix.read(prefix).matches(Path.read(path)) is expected
