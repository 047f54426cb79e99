"""The algebraic laws of dtab on random inputs (derandomized hypothesis, Finagle's seeded check).

* ``Path.read(p.show()) == p``; ``read_tree(show_tree(t)) == t`` for trees the
  parser can produce; ``Dtab.read(d.show()) == d == Dtab.read(d.show_lines())``;
* ``simplify`` is a fixpoint and keeps evaluation, for trees of any shape
  (including empty and single-child Alt/Union, which the parser never builds);
* ``(a + b).lookup(p)`` is the documented rule: the matching dentries of ``a``
  then ``b``, scanned last to first, each extended by the rest of the path.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtab import (
    ANY,
    EMPTY,
    FAIL,
    NEG,
    Alt,
    BoundName,
    Dentry,
    Dtab,
    Failed,
    Interpreter,
    Leaf,
    Ok,
    Path,
    Prefix,
    Union,
    Weighted,
    evaluate,
    map_tree,
    read_tree,
    show_tree,
    simplify,
)
from dtab.path import LABEL_CHARS

LAWS = settings(
    derandomize=True, max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# -- strategies ---------------------------------------------------------------

plain_labels = st.text(alphabet=sorted(LABEL_CHARS), min_size=1, max_size=8)
# any text: spaces, '/', '*', '\\', non-ASCII; shown as \xHH escapes of its UTF-8
text_labels = st.text(min_size=1, max_size=6)
# any bytes, kept as surrogate escapes where they are not UTF-8
byte_labels = st.binary(min_size=1, max_size=6).map(lambda b: b.decode("utf-8", "surrogateescape"))
labels = st.one_of(plain_labels, text_labels, byte_labels)
paths = st.lists(labels, max_size=5).map(lambda ls: Path(tuple(ls)))

leaves = paths.map(Leaf)
atoms = st.one_of(leaves, st.sampled_from([NEG, FAIL, EMPTY]))

# weights whose two-decimal form is exact (what Finagle prints) ...
two_decimal_weights = st.integers(min_value=0, max_value=100_000).map(lambda n: n / 100)
# ... and any finite non-negative float, which must fall back to exact digits
any_weights = st.one_of(
    st.floats(min_value=0.0, allow_nan=False, allow_infinity=False),
    st.just(-0.0),
    st.just(5e-324),
    st.just(1.7976931348623157e308),
)


def parser_trees(weights) -> st.SearchStrategy:
    """Trees the parser can produce: every Alt and Union has at least two children."""

    def extend(children):
        alts = st.lists(children, min_size=2, max_size=4).map(lambda ts: Alt(tuple(ts)))
        unions = st.lists(st.builds(Weighted, weights, children), min_size=2, max_size=4).map(
            lambda ws: Union(tuple(ws))
        )
        return st.one_of(alts, unions)

    return st.recursive(atoms, extend, max_leaves=12)


# a small alphabet so that evaluation sees repeated leaves
small_leaves = st.sampled_from(["/a", "/b", "/c"]).map(lambda t: Leaf(Path.read(t)))
small_atoms = st.one_of(small_leaves, st.sampled_from([NEG, FAIL, EMPTY]))


def _any_shape(children):
    alts = st.lists(children, max_size=3).map(lambda ts: Alt(tuple(ts)))
    unions = st.lists(st.builds(Weighted, two_decimal_weights, children), max_size=3).map(
        lambda ws: Union(tuple(ws))
    )
    return st.one_of(alts, unions)


any_shape_trees = st.recursive(small_atoms, _any_shape, max_leaves=12)

prefix_elems = st.one_of(labels, st.just(ANY))
prefixes = st.lists(prefix_elems, max_size=4).map(lambda es: Prefix(tuple(es)))
dentries = st.builds(Dentry, prefixes, parser_trees(two_decimal_weights))
dtabs = st.lists(dentries, max_size=4).map(lambda ds: Dtab(tuple(ds)))

# for lookup: few labels, so prefixes often match
tiny_labels = st.sampled_from(["a", "b", "c"])
tiny_paths = st.lists(tiny_labels, max_size=4).map(lambda ls: Path(tuple(ls)))
tiny_prefixes = st.lists(st.one_of(tiny_labels, st.just(ANY)), max_size=3).map(
    lambda es: Prefix(tuple(es))
)
tiny_trees = st.recursive(
    st.one_of(tiny_paths.map(Leaf), st.sampled_from([NEG, FAIL, EMPTY])),
    lambda ch: st.one_of(
        st.lists(ch, min_size=2, max_size=3).map(lambda ts: Alt(tuple(ts))),
        st.lists(st.builds(Weighted, two_decimal_weights, ch), min_size=2, max_size=3).map(
            lambda ws: Union(tuple(ws))
        ),
    ),
    max_leaves=4,
)
tiny_dtabs = st.lists(st.builds(Dentry, tiny_prefixes, tiny_trees), max_size=4).map(
    lambda ds: Dtab(tuple(ds))
)


# -- laws ---------------------------------------------------------------------


class ShowReadLawTests:
    @LAWS
    @given(paths)
    def test_path_round_trip(self, p):
        """``Path.read(p.show()) == p``."""
        assert Path.read(p.show()) == p

    @LAWS
    @given(prefixes)
    def test_prefix_round_trip(self, p):
        """``Prefix.read(p.show()) == p``, wildcards included."""
        assert Prefix.read(p.show()) == p

    @LAWS
    @given(parser_trees(two_decimal_weights))
    def test_tree_round_trip_two_decimal_weights(self, t):
        """``read_tree(show_tree(t)) == t`` with weights Finagle prints in two decimals."""
        assert read_tree(show_tree(t)) == t

    @LAWS
    @given(parser_trees(any_weights))
    def test_tree_round_trip_exact_weights(self, t):
        """``read_tree(show_tree(t)) == t`` for any finite non-negative weight (exact fallback)."""
        assert read_tree(show_tree(t)) == t

    @LAWS
    @given(dtabs)
    def test_dtab_round_trip(self, d):
        """``Dtab.read(d.show()) == d`` and ``Dtab.read(d.show_lines()) == d``."""
        assert Dtab.read(d.show()) == d
        assert Dtab.read(d.show_lines()) == d

    @LAWS
    @given(parser_trees(two_decimal_weights))
    def test_simplified_parser_tree_round_trips(self, t):
        """Simplified parseable trees stay parseable: ``read(show(simplify(t))) == simplify(t)``."""
        s = simplify(t)
        assert read_tree(show_tree(s)) == s


class SimplifyLawTests:
    @LAWS
    @given(any_shape_trees)
    def test_simplify_is_a_fixpoint(self, t):
        """``simplify(simplify(t)) == simplify(t)``, for trees of any shape."""
        s = simplify(t)
        assert simplify(s) == s

    @LAWS
    @given(any_shape_trees)
    def test_simplify_keeps_evaluation(self, t):
        """``evaluate(simplify(t)) == evaluate(t)``, for trees of any shape."""
        assert evaluate(simplify(t)) == evaluate(t)

    @LAWS
    @given(parser_trees(two_decimal_weights))
    def test_laws_on_parser_trees(self, t):
        """Both simplify laws also hold on trees with arbitrary labels and weights."""
        s = simplify(t)
        assert simplify(s) == s and evaluate(s) == evaluate(t)

    @LAWS
    @given(any_shape_trees)
    def test_simplified_tree_has_no_degenerate_nodes(self, t):
        """A simplified tree has no Neg inside, and every Alt/Union has two or more children."""

        def check(tree, top):
            match tree:
                case Alt(ts):
                    assert len(ts) >= 2 and all(c is not NEG for c in ts)
                    assert all(c is not FAIL for c in ts[:-1]), "nothing follows a Fail"
                    for c in ts:
                        check(c, False)
                case Union(ws):
                    assert len(ws) >= 2 and all(w.tree not in (NEG, FAIL) for w in ws)
                    for w in ws:
                        check(w.tree, False)
                case _:
                    assert top or tree is not NEG

        check(simplify(t), True)


def documented_lookup(dentries: tuple[Dentry, ...], path: Path):
    """Reference section 3.2, written out independently of Dtab.lookup."""
    trees = []
    for d in reversed(dentries):
        elems = d.prefix.elems
        if len(elems) <= len(path) and all(
            e is ANY or e == label for e, label in zip(elems, path.elems)
        ):
            rest = path.elems[len(elems) :]
            trees.append(map_tree(lambda p, rest=rest: Path(p.elems + rest), d.dst))
    if not trees:
        return NEG
    return trees[0] if len(trees) == 1 else Alt(tuple(trees))


class LookupLawTests:
    @LAWS
    @given(tiny_dtabs, tiny_dtabs, tiny_paths)
    def test_concatenated_lookup_follows_the_rule(self, a, b, p):
        """``(a + b).lookup(p)`` is the rule applied to a's dentries followed by b's."""
        assert (a + b).lookup(p) == documented_lookup(a.dentries + b.dentries, p)

    @LAWS
    @given(tiny_dtabs, tiny_dtabs, tiny_paths)
    def test_right_operand_takes_precedence(self, a, b, p):
        """b's matches come first in ``a + b``; if one side has none, the other's answer stands."""
        la, lb, lab = a.lookup(p), b.lookup(p), (a + b).lookup(p)
        na, nb = len(a.matching(p)), len(b.matching(p))
        if nb == 0:
            assert lab == la
        elif na == 0:
            assert lab == lb
        else:
            assert lab.trees[:nb] == (lb.trees if nb > 1 else (lb,))
            assert lab.trees[nb:] == (la.trees if na > 1 else (la,))

    @LAWS
    @given(tiny_dtabs, tiny_paths)
    def test_binding_yields_simplified_trees_without_alt(self, d, p):
        """Any dtab (loops too) binds to a simplified tree of bound names, or to a failure."""
        dtab = Dtab.read("/c=>/$/inet/1") + d
        state = Interpreter(max_depth=20, max_steps=300).bind(dtab, p)
        if isinstance(state, Ok):
            assert simplify(state.value) == state.value
            assert_bound_without_alt(state.value)
        else:
            assert isinstance(state, Failed), state


def assert_bound_without_alt(tree) -> None:
    match tree:
        case Leaf(value):
            assert isinstance(value, BoundName), value
        case Union(ws):
            for w in ws:
                assert_bound_without_alt(w.tree)
        case Alt():
            raise AssertionError(f"an Alt in a bound tree: {tree!r}")
        case _:
            assert tree in (NEG, FAIL, EMPTY)


class FinagleRandomTreeTests:
    WORDS = (
        "Lorem ipsum dolor sit amet consectetur adipisicing elit sed do eiusmod tempor "
        "incididunt ut "
        "labore et dolore magna aliqua Ut enim ad minim veniam quis nostrud exercitation ullamco "
        "laboris nisi ut aliquip ex ea commodo consequat Duis aute irure dolor in reprehenderit in "
        "voluptate velit esse cillum dolore eu fugiat nulla pariatur Excepteur sint occaecat "
        "cupidatat "
        "non proident sunt in culpa qui officia deserunt mollit anim id est laborum"
    ).split()

    def _tree(self, rng: random.Random, depth: int):
        """Finagle NameTreeTest's ``newTree``: integer weights 0-9, one-child nodes collapsed."""
        choice = rng.randrange(3)
        if depth == 0 or choice == 0:
            kind = rng.randrange(4)
            if kind < 3:
                return (FAIL, EMPTY, NEG)[kind]
            return Leaf(Path(tuple(rng.choice(self.WORDS) for _ in range(1 + rng.randrange(10)))))
        n = 1 + rng.randrange(3)
        if choice == 1:
            ws = [Weighted(float(rng.randrange(10)), self._tree(rng, depth - 1)) for _ in range(n)]
            return ws[0].tree if n == 1 else Union(tuple(ws))
        ts = [self._tree(rng, depth - 1) for _ in range(n)]
        return ts[0] if n == 1 else Alt(tuple(ts))

    def test_100_random_trees_round_trip(self):
        """100 random trees from ``random.Random(1234)`` read back from their concrete syntax."""
        rng = random.Random(1234)
        trees = [self._tree(rng, 2) for _ in range(100)]
        assert sum(isinstance(t, (Alt, Union)) for t in trees) > 20, (
            "the generator makes compound trees"
        )
        for t in trees:
            assert read_tree(show_tree(t)) == t, show_tree(t)
