"""dtab.nametree: evaluation, simplification and printing of NameTrees.

Rows 9-11 (parsing) are in test_parser.py; rows 17-30 (eval/simplified, from
Finagle's ``NameTreeTest``) are here; the laws on random trees are in test_laws.py.
"""

from __future__ import annotations

import pickle

import pytest

from dtab import (
    EMPTY,
    FAIL,
    NEG,
    Alt,
    Leaf,
    Path,
    Union,
    Weighted,
    evaluate,
    map_tree,
    read_tree,
    show_tree,
    simplify,
)
from dtab.nametree import show_weight


def paths(*texts: str) -> frozenset:
    return frozenset(Path.read(t) for t in texts)


# (id, tree, evaluation: None = negative or failed, else the set of leaves)
EVAL_CASES = [
    ("row17", "~", None),
    ("row18", "/ok", paths("/ok")),
    ("row19", "/ok & /ok1", paths("/ok", "/ok1")),
    ("row20", "/ok & ~ & /blah & $", paths("/ok", "/blah")),
    ("row21", "$ & $ & $", frozenset()),
    ("row22", "~ & ~ & (~ | ~)", None),
    ("row23", "~ | /foo | /bar", paths("/foo")),
    ("row24", "~ | $ | /blah", frozenset()),
    ("row25", "~ | (~ | $) | /blah", frozenset()),
    ("row26", "(~|$|/foo) & (/bar|/blah) & ~ & /FOO", paths("/bar", "/FOO")),
    ("row27", "! | /ok", None),
    ("row28", "/ok & !", paths("/ok")),
    ("row29", "! & ! & !", None),
    ("row30", "~ | /ok | !", paths("/ok")),
    ("fail-in-nested-alt-stops-outer", "(~ | !) | /ok", None),
    ("all-fail-union-is-neg-in-alt", "(! & !) | /ok", paths("/ok")),
    ("empty-alone", "$", frozenset()),
    ("fail-alone", "!", None),
    ("weights-do-not-matter", "0*/a & 9*/b", paths("/a", "/b")),
]


class EvaluateTests:
    @pytest.mark.parametrize(
        "tree,expected", [c[1:] for c in EVAL_CASES], ids=[c[0] for c in EVAL_CASES]
    )
    def test_evaluate_and_simplified_evaluate(self, tree, expected):
        """A tree and its simplification evaluate to the same leaves (Finagle eval/simplified)."""
        t = read_tree(tree)
        assert evaluate(t) == expected, tree
        assert evaluate(simplify(t)) == expected, tree

    @pytest.mark.parametrize(
        "tree,expected",
        [
            (Alt(()), None),
            (Union(()), None),
            (Alt((Leaf(Path.of("a")),)), paths("/a")),
            (Union((Weighted(3.0, FAIL),)), None),
            # a one-branch union is its branch, so its Fail stops the Alt (Finagle)
            (Alt((Union((Weighted(3.0, FAIL),)), Leaf(Path.of("a")))), None),
            (Alt((Union((Weighted(3.0, NEG),)), Leaf(Path.of("a")))), paths("/a")),
            (Alt((Alt(()), EMPTY)), frozenset()),
        ],
        ids=[
            "empty-alt",
            "empty-union",
            "alt-of-one",
            "union-of-one-fail",
            "union-of-one-fail-in-alt",
            "union-of-one-neg-in-alt",
            "empty-alt-in-alt",
        ],
    )
    def test_degenerate_shapes(self, tree, expected):
        """Empty and one-child Alt/Union (never parsed) evaluate as in Finagle."""
        assert evaluate(tree) == expected
        assert evaluate(simplify(tree)) == expected


# (id, tree, simplified tree); trees built by hand where the parser cannot express them
SIMPLIFY_CASES = [
    ("leaf", read_tree("/a"), read_tree("/a")),
    ("alt-drops-neg", read_tree("~ | /a | ~ | /b"), read_tree("/a | /b")),
    ("alt-of-negs-is-neg", read_tree("~ | ~"), NEG),
    ("alt-one-left-collapses", read_tree("~ | /a"), read_tree("/a")),
    ("alt-stops-after-fail", read_tree("/a | ! | /b"), read_tree("/a | !")),
    ("alt-fail-first", read_tree("! | /a"), FAIL),
    ("alt-keeps-empty-and-later", read_tree("$ | /a"), read_tree("$ | /a")),
    ("alt-nested-not-flattened", read_tree("(/a | /b) | /c"), read_tree("(/a | /b) | /c")),
    ("union-drops-neg-and-fail", read_tree("/a & ~ & ! & /b"), read_tree("/a & /b")),
    ("union-keeps-empty", read_tree("$ & ~"), EMPTY),
    ("union-of-negs-is-neg", read_tree("~ & !"), NEG),
    ("union-keeps-weights", read_tree("2*/a & ~ & 3*/b"), read_tree("2*/a & 3*/b")),
    ("union-one-left-drops-weight", read_tree("2*/a & ~"), read_tree("/a")),
    ("children-simplified", read_tree("(~ | /a) & (/b & ~)"), read_tree("/a & /b")),
    ("empty-alt", Alt(()), NEG),
    ("empty-union", Union(()), NEG),
    ("alt-of-one", Alt((Leaf(Path.of("a")),)), read_tree("/a")),
    ("union-of-one", Union((Weighted(2.0, Leaf(Path.of("a"))),)), read_tree("/a")),
    ("union-of-one-fail-stays-fail", Union((Weighted(2.0, FAIL),)), FAIL),
]


class SimplifyTests:
    @pytest.mark.parametrize(
        "tree,expected", [c[1:] for c in SIMPLIFY_CASES], ids=[c[0] for c in SIMPLIFY_CASES]
    )
    def test_simplify(self, tree, expected):
        """Each tree simplifies to exactly the expected tree, which is a fixpoint."""
        assert simplify(tree) == expected
        assert simplify(expected) == expected

    def test_unchanged_tree_is_returned_as_is(self):
        """Simplifying an already simple leaf allocates nothing new."""
        t = read_tree("/a")
        assert simplify(t) is t

    def test_not_a_tree_is_a_bug(self):
        """A foreign value is an AssertionError, not a silent pass-through."""
        with pytest.raises(AssertionError):
            simplify("/a")  # type: ignore[arg-type]


# (id, tree, shown)
SHOW_CASES = [
    ("leaf", read_tree("/a"), "/a"),
    ("singletons", read_tree("! | ~ | $"), "! | ~ | $"),
    ("alt", read_tree("/a|/b"), "/a | /b"),
    ("union", read_tree("/a&/b"), "/a & /b"),
    ("union-in-alt-parenthesised", read_tree("/a & /b | /c"), "(/a & /b) | /c"),
    ("alt-in-union", read_tree("(/a | /b) & /c"), "(/a | /b) & /c"),
    ("alt-in-alt", read_tree("(/a | /b) | /c"), "(/a | /b) | /c"),
    ("two-decimal-weights", read_tree("2*/a & .5*/b & 1.0*/c"), "2.00*/a & 0.50*/b & /c"),
    (
        "exact-weight-when-two-decimals-lose",
        read_tree("0.125*/a & 0.005*/b"),
        "0.125*/a & 0.005*/b",
    ),
    ("weighted-compound", read_tree("2*(/a | /b) & /c"), "2.00*(/a | /b) & /c"),
    ("alt-of-one", Alt((Leaf(Path.of("a")),)), "/a"),
    ("union-of-one-default-weight", Union.of(Leaf(Path.of("a"))), "/a"),
    ("escaped-label", read_tree("/a\\x20b"), "/\\x61\\x20\\x62"),
]


class ShowTests:
    @pytest.mark.parametrize(
        "tree,shown", [c[1:] for c in SHOW_CASES], ids=[c[0] for c in SHOW_CASES]
    )
    def test_show(self, tree, shown):
        """Each tree prints in canonical syntax, which reads back to an equal tree."""
        assert show_tree(tree) == shown
        assert str(tree) == shown
        assert simplify(read_tree(shown)) == simplify(tree)

    @pytest.mark.parametrize(
        "weight,shown",
        [
            (1.0, "1.00"),
            (0.0, "0.00"),
            (-0.0, "0.00"),
            (0.5, "0.50"),
            (0.1, "0.10"),
            (3.0, "3.00"),
            (0.125, "0.125"),
            (1 / 3, "0.3333333333333333"),
            (1e-7, None),
            (5e-324, None),
            (1e300, None),
        ],
        ids=lambda v: repr(v),
    )
    def test_show_weight(self, weight, shown):
        """Two decimals when exact, else exact digits without an exponent; always parseable."""
        text = show_weight(weight)
        if shown is not None:
            assert text == shown
        assert "e" not in text and "-" not in text
        assert read_tree(f"{text}*/a & /b").weighted[0].weight == weight


class ValueTests:
    @pytest.mark.parametrize(
        "weight",
        [-1.0, float("nan"), float("inf"), True, "1"],
        ids=["negative", "nan", "inf", "bool", "str"],
    )
    def test_weighted_rejects_bad_weights(self, weight):
        """Weights are finite, non-negative numbers."""
        with pytest.raises(ValueError, match="weight"):
            Weighted(weight, NEG)

    def test_union_rejects_bare_trees(self):
        """Union branches must be Weighted."""
        with pytest.raises(ValueError, match="weighted"):
            Union((NEG,))  # type: ignore[arg-type]

    def test_singletons_keep_identity_through_pickle(self):
        """NEG, FAIL and EMPTY stay singletons, so ``is`` comparisons keep working."""
        for s in (NEG, FAIL, EMPTY):
            assert pickle.loads(pickle.dumps(s)) is s
        assert [repr(s) for s in (NEG, FAIL, EMPTY)] == ["NEG", "FAIL", "EMPTY"]
        assert [str(s) for s in (NEG, FAIL, EMPTY)] == ["~", "!", "$"]

    def test_map_tree_keeps_shape(self):
        """``map_tree`` rewrites leaf values and nothing else."""
        t = read_tree("/a | 2*/b & (! | ~ | $)")
        mapped = map_tree(lambda p: Path.of("x") + p, t)
        assert mapped == read_tree("/x/a | 2*/x/b & (! | ~ | $)")
