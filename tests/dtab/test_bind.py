"""dtab.bind: binding trees through a lookup (Finagle ``Namer.bind``) and the default interpreter.

Rows 31-34 and 41-50 and 57 of reference section 3.5, the Ok/Pending/Failed
rules of Alt and Union, and a namer whose answers change over time.
"""

from __future__ import annotations

import pytest

from dtab import (
    ADDR_WEIGHT_KEY,
    EMPTY,
    FAIL,
    NEG,
    PENDING,
    Address,
    AddrBound,
    Alt,
    BindDepthExceeded,
    BindTooLarge,
    BoundName,
    Dtab,
    Failed,
    Interpreter,
    Leaf,
    Namer,
    Ok,
    Path,
    Union,
    Weighted,
    bind,
    evaluate,
    global_lookup,
    map_tree,
    read_tree,
    simplify,
)
from tests.helpers.fake_namer import FakeNamer, host_port_rule


def bound_leaf(id_: str, residual: str = "/", *hostports: str) -> Leaf:
    addrs = []
    for hp in hostports:
        host, port = hp.rsplit(":", 1)
        addrs.append(Address(host, int(port)))
    return Leaf(BoundName(Path.read(id_), Path.read(residual), AddrBound.of(*addrs)))


def inet(port: int) -> Leaf:
    """What ``/$/inet/<port>`` binds to."""
    return bound_leaf(f"/$/inet/{port}", "/", f"0.0.0.0:{port}")


def weighted(leaf: Leaf, weight: float = 1.0) -> Leaf:
    """``leaf`` as binding leaves it inside a union branch of that weight."""
    b = leaf.value
    return Leaf(
        BoundName(b.id, b.residual, AddrBound(b.addr.addresses, ((ADDR_WEIGHT_KEY, weight),)))
    )


class TableLookup:
    """A lookup answering listed paths from a table, others through the global ``/$/`` namer."""

    def __init__(self, table: dict[str, object]) -> None:
        self.table = {Path.read(k): v for k, v in table.items()}
        self.asked: list[str] = []

    def __call__(self, path: Path):
        self.asked.append(path.show())
        if path in self.table:
            answer = self.table[path]
            if isinstance(answer, Exception):
                raise answer
            return answer
        return global_lookup(path)


def addresses(state) -> frozenset[str] | None:
    """The evaluated bound tree as a set of ``host:port``; None for negative or failed."""
    assert isinstance(state, Ok), state
    names = evaluate(state.value)
    if names is None:
        return None
    return frozenset(a.show() for name in names for a in name.addr.addresses)


def has_no_alt(tree) -> bool:
    match tree:
        case Alt():
            return False
        case Union(weighted):
            return all(has_no_alt(w.tree) for w in weighted)
        case _:
            return True


# Rows 32-34 (Finagle NamerTest): /test/1 and /test/2 are bound names.
TEST_NAMES = {"/test/1": Ok(inet(1)), "/test/2": Ok(inet(2))}


class NamerTestRowsTests:
    @pytest.mark.parametrize(
        "tree,expected",
        [
            ("! | /test/1 | /test/2", Ok(FAIL)),
            ("~ | /$/fail | /test/1", Ok(FAIL)),
            ("/$/nil | /$/fail | /test/1", Ok(EMPTY)),
        ],
        ids=["row32-fail-stops-alt", "row33-global-fail-stops-alt", "row34-empty-stops-alt"],
    )
    def test_alt_stops_at_fail_and_empty(self, tree, expected):
        """Fail and Empty both end an Alt; only Neg falls through."""
        lookup = TableLookup(TEST_NAMES)
        assert bind(lookup, read_tree(tree)) == expected
        assert "/test/1" not in lookup.asked

    # Rows 41-44: t0..t2 answer the given trees (None = Neg; "fail" = the namer raises).
    @pytest.mark.parametrize(
        "tree,answers,expected",
        [
            (
                "/test/0 | /test/1 & /test/2",
                {"/test/0": EMPTY, "/test/1": NEG, "/test/2": NEG},
                frozenset(),
            ),
            (
                "/test/0 | /test/1 & /test/2",
                {"/test/0": read_tree("/$/inet/1"), "/test/1": NEG, "/test/2": NEG},
                frozenset({"0.0.0.0:1"}),
            ),
            (
                "/test/0 | /test/1 & /test/2",
                {"/test/0": NEG, "/test/1": NEG, "/test/2": read_tree("/$/inet/2")},
                frozenset({"0.0.0.0:2"}),
            ),
            (
                "/test/0 & /test/1",
                {"/test/0": read_tree("/$/inet/1"), "/test/1": NEG},
                frozenset({"0.0.0.0:1"}),
            ),
            ("/test/0 & /test/1", {"/test/0": NEG, "/test/1": NEG}, None),
            ("/test/0 & /test/1", {"/test/0": EMPTY, "/test/1": NEG}, frozenset()),
            (
                "/test/0 & /test/1",
                {"/test/0": read_tree("/$/inet/1"), "/test/1": "fail"},
                frozenset({"0.0.0.0:1"}),
            ),
        ],
        ids=[
            "row41-empty-first",
            "row42-bound-first",
            "row43-union-second",
            "row44-bound-neg",
            "row44-neg-neg",
            "row44-empty-neg",
            "row44-bound-failure",
        ],
    )
    def test_alt_and_union_evaluation(self, tree, answers, expected):
        """The bound tree evaluates to the expected addresses (None: negative)."""
        table = {
            p: (RuntimeError(f"namer failed on {p}") if t == "fail" else Ok(t))
            for p, t in answers.items()
        }
        assert addresses(bind(TableLookup(table), read_tree(tree))) == expected


class DepthTests:
    def test_row31_loop_exceeds_max_depth(self):
        """Row 31: a two-dentry loop fails with the depth limit, as a value, not a raise."""
        dtab = Dtab.read("/foo/bar=>/bar/foo;/bar/foo=>/foo/bar")
        state = Interpreter().bind(dtab, Path.read("/foo/bar"))
        assert isinstance(state, Failed) and isinstance(state.error, BindDepthExceeded)
        assert str(state.error) == "Max recursion level: 100 reached in Namer lookup"

    def test_row45_configured_depth_limit(self):
        """Row 45: with a depth limit of 2, ``/s=>/s/srv`` fails naming that limit."""
        state = Interpreter(max_depth=2).bind(Dtab.read("/s=>/s/srv"), Path.read("/s/foo/bar"))
        assert state == Failed(BindDepthExceeded(2))
        assert str(state.error) == "Max recursion level: 2 reached in Namer lookup"

    @pytest.mark.parametrize("max_depth,ok", [(3, True), (2, False)], ids=["at-limit", "one-over"])
    def test_depth_boundary(self, max_depth, ok):
        """Two rewrites plus the global lookup reach depth 3: allowed at limit 3, not at 2."""
        state = Interpreter(max_depth=max_depth).bind(
            Dtab.read("/a=>/b;/b=>/$/inet/1"), Path.read("/a")
        )
        assert (state == Ok(inet(1))) is ok
        assert isinstance(state, Failed) is not ok

    def test_exponential_union_is_cut_by_the_step_budget(self):
        """``/a => /a/x & /a/y`` doubles per level; the lookup budget stops it before depth 100."""
        state = Interpreter(max_steps=50).bind(Dtab.read("/a=>/a/x & /a/y"), Path.read("/a"))
        assert state == Failed(BindTooLarge(50))
        assert str(state.error) == "Delegation needed more than 50 lookups"

    def test_step_budget_is_not_hit_by_ordinary_bindings(self):
        """A small union of real names stays well within the default budget."""
        state = Interpreter().bind(Dtab.read("/a=>/$/inet/1 & /$/inet/2"), Path.read("/a"))
        assert addresses(state) == {"0.0.0.0:1", "0.0.0.0:2"}


class StateTests:
    """Ok vs PENDING vs Failed through Alt and Union (``/p`` pending, ``/x`` failed, ``/n`` Neg)."""

    TABLE = {
        "/p": PENDING,
        "/p2": PENDING,
        "/x": Failed(RuntimeError("x failed")),
        "/y": Failed(RuntimeError("y failed")),
        "/n": Ok(NEG),
        "/f": Ok(FAIL),
        "/e": Ok(EMPTY),
        "/a": Ok(inet(1)),
        "/b": Ok(inet(2)),
    }

    @pytest.mark.parametrize(
        "tree,expected,not_asked",
        [
            ("/p | /a", PENDING, "/a"),
            ("/n | /p", PENDING, None),
            ("/a | /p", Ok(inet(1)), "/p"),
            ("/x | /a", Failed(RuntimeError("x failed")), "/a"),
            ("/n | /x", Failed(RuntimeError("x failed")), None),
            ("/e | /p", Ok(EMPTY), "/p"),
            ("/f | /p", Ok(FAIL), "/p"),
            ("/n | /n", Ok(NEG), None),
            ("/a & /p", Ok(weighted(inet(1))), None),
            ("/a & /x", Ok(weighted(inet(1))), None),
            ("/p & /p2", PENDING, None),
            ("/x & /p", Failed(RuntimeError("x failed")), None),
            ("/p & /x & /y", Failed(RuntimeError("x failed")), None),
            ("/n & /p", Ok(NEG), None),
            ("/e & /p", Ok(EMPTY), None),
            ("/f & /p", Ok(FAIL), None),
            (
                "/a & /n & /f & /e",
                Ok(Union((Weighted(1.0, weighted(inet(1))), Weighted(1.0, EMPTY)))),
                None,
            ),
        ],
        ids=[
            "alt-pending-first",
            "alt-neg-then-pending",
            "alt-bound-first",
            "alt-failed-first",
            "alt-neg-then-failed",
            "alt-empty-first",
            "alt-fail-first",
            "alt-all-neg",
            "union-ok-and-pending",
            "union-ok-and-failed",
            "union-all-pending",
            "union-failed-and-pending",
            "union-first-failure-kept",
            "union-neg-and-pending",
            "union-empty-and-pending",
            "union-fail-and-pending",
            "union-drops-neg-and-fail-keeps-empty",
        ],
    )
    def test_states(self, tree, expected, not_asked):
        """Alt is sequential and stops at the first non-Neg; Union is Ok when any branch is Ok."""
        lookup = TableLookup(self.TABLE)
        assert bind(lookup, read_tree(tree)) == expected
        if not_asked is not None:
            assert not_asked not in lookup.asked

    def test_raising_namer_fails_the_name(self):
        """A lookup that raises becomes Failed with that exception; nothing propagates."""
        boom = KeyError("boom")
        state = bind(TableLookup({"/a": boom}), read_tree("/a | /$/inet/1"))
        assert isinstance(state, Failed) and state.error is boom

    def test_degenerate_nodes(self):
        """An empty Alt or Union binds to Neg; a one-branch union is its branch (Finagle)."""
        lookup = TableLookup(self.TABLE)
        assert bind(lookup, Alt(())) == Ok(NEG)
        assert bind(lookup, Union(())) == Ok(NEG)
        assert bind(lookup, Union((Weighted(2.0, Leaf(Path.of("f"))),))) == Ok(FAIL)

    def test_singletons_bind_to_themselves(self):
        """Neg, Fail and Empty need no lookup."""
        lookup = TableLookup({})
        for t in (NEG, FAIL, EMPTY):
            assert bind(lookup, t) == Ok(t)
        assert lookup.asked == []

    def test_result_has_no_alt(self):
        """A bound tree keeps unions but never an Alt: the Alt's choice is made."""
        state = bind(TableLookup(self.TABLE), read_tree("(/n | /a | /b) & (/b | /a)"))
        assert state == Ok(
            Union((Weighted(1.0, weighted(inet(1))), Weighted(1.0, weighted(inet(2)))))
        )
        assert has_no_alt(state.value)


class WeightTests:
    DTAB = (
        "/foo=>/bar;"
        "/foo=>3 * /baz & 2 * /booz & /#/testnamer;"
        "/rewritten/by/test/namer=>/$/inet/7070;"
        "/baz=>3 * /$/inet/8080 & 2 * /$/inet/9090;"
        "/booz=>~"
    )

    def _interpreter(self) -> Interpreter:
        # Finagle's test uses /$/<class>; configured namers stand in for class loading here.
        testnamer = FakeNamer(
            "/#/testnamer", lambda n, p: Ok(read_tree("/rewritten/by/test/namer"))
        )
        return Interpreter([(testnamer.prefix, testnamer)])

    def test_row50_inner_weights_attached(self):
        """Row 50: the /booz branch is dropped and each address set carries its innermost weight."""
        state = self._interpreter().bind(Dtab.read(self.DTAB), Path.read("/foo"))
        names = evaluate(state.value)
        got = {
            (a.show(), dict(n.addr.meta)[ADDR_WEIGHT_KEY]) for n in names for a in n.addr.addresses
        }
        assert got == {("0.0.0.0:8080", 3.0), ("0.0.0.0:9090", 2.0), ("0.0.0.0:7070", 1.0)}

    def test_row50_tree_shape(self):
        """Row 50: the bound tree is the outer union of the inner union and the namer's name."""
        state = self._interpreter().bind(Dtab.read(self.DTAB), Path.read("/foo"))
        strip = map_tree(lambda b: b.id.show(), state.value)
        assert strip == Union(
            (
                Weighted(
                    3.0,
                    Union(
                        (Weighted(3.0, Leaf("/$/inet/8080")), Weighted(2.0, Leaf("/$/inet/9090")))
                    ),
                ),
                Weighted(1.0, Leaf("/$/inet/7070")),
            )
        )

    def test_no_weight_outside_a_union(self):
        """A name bound outside any union gets no weight metadata."""
        state = Interpreter().bind(Dtab.read("/a=>/$/inet/1"), Path.read("/a"))
        assert state == Ok(inet(1))
        assert state.value.value.addr.meta == ()

    def test_weight_replaces_a_namers_weight(self):
        """A weight already in the metadata is replaced by the innermost union's, not duplicated."""
        pre = Leaf(
            BoundName(
                Path.read("/n"),
                Path(),
                AddrBound(frozenset({Address("h", 1)}), (("other", "x"), (ADDR_WEIGHT_KEY, 9.0))),
            )
        )
        state = bind(TableLookup({"/n": Ok(pre)}), read_tree("4*/n & /$/nil"))
        leaf = state.value.weighted[0].tree
        assert leaf.value.addr.meta == (("other", "x"), (ADDR_WEIGHT_KEY, 4.0))


class InterpreterTests:
    @pytest.mark.parametrize(
        "dtab,path,port",
        [
            ("/foo=>/$/inet/8080", "/foo", 8080),
            ("/foo=>/bar;/bar=>/$/inet/8080", "/foo", 8080),
        ],
        ids=["row47-direct", "row48-indirection"],
    )
    def test_default_interpreter_rows(self, dtab, path, port):
        """Rows 47-48: the dtab rewrites to a global inet name."""
        assert Interpreter().bind(Dtab.read(dtab), Path.read(path)) == Ok(inet(port))

    def test_row49_order_of_dtab_evaluation(self):
        """Row 49: the later dtab's dentries win: d1 + d2 goes to :8080, d2 + d1 to :9090."""
        d1 = Dtab.read("/foo=>/bar")
        d2 = Dtab.read("/foo=>/biz;/biz=>/$/inet/8080;/bar=>/$/inet/9090")
        assert Interpreter().bind(d1 + d2, Path.read("/foo")) == Ok(inet(8080))
        assert Interpreter().bind(d2 + d1, Path.read("/foo")) == Ok(inet(9090))

    def test_row46_empty_dtab_is_neg(self):
        """Row 46: nothing names ``/s/foo``, so it binds to Neg."""
        assert Interpreter().bind(Dtab(), Path.read("/s/foo")) == Ok(NEG)

    def test_row57_base_dtab_change_is_followed(self):
        """Row 57: Neg with only the local dentry; bound once the base dtab names ``/bar``."""
        inet_namer = FakeNamer("/#inet", host_port_rule)
        interpreter = Interpreter([(inet_namer.prefix, inet_namer)])
        local = Dtab.read("/foo => /bar")
        path = Path.read("/foo/fah")
        assert interpreter.bind(Dtab() + local, path) == Ok(NEG)
        base = Dtab.read("/bar => /#inet/127.1/8080")
        assert interpreter.bind(base + local, path) == Ok(
            bound_leaf("/#inet/127.1/8080", "/fah", "127.1:8080")
        )

    def test_fake_namer_is_a_namer(self):
        """The FakeNamer satisfies the Namer protocol the interpreter relies on."""
        assert isinstance(FakeNamer("/#/x"), Namer)
        assert not isinstance(object(), Namer)

    def test_dentry_shadows_a_configured_namer(self):
        """The dtab comes first, so a dentry can shadow a ``/#/`` path; the namer is not asked."""
        namer = FakeNamer("/#/io.l5d.fake", lambda n, p: Ok(n.bound("/svc", "/")))
        interpreter = Interpreter([(namer.prefix, namer)])
        state = interpreter.bind(
            Dtab.read("/#/io.l5d.fake=>/$/inet/1"), Path.read("/#/io.l5d.fake/svc")
        )
        assert state == Ok(bound_leaf("/$/inet/1", "/svc", "0.0.0.0:1"))
        assert namer.lookups == []

    def test_namer_gets_the_path_after_its_prefix(self):
        """A configured namer receives the rest of the path and its answer is bound."""
        namer = FakeNamer("/#/io.l5d.fake")
        namer.answer(
            "/default/http/hello",
            Ok(namer.bound("/default/http/hello", "/", Address("10.0.0.1", 80))),
        )
        state = Interpreter([(namer.prefix, namer)]).bind(
            Dtab.read("/svc=>/#/io.l5d.fake/default/http"), Path.read("/svc/hello")
        )
        assert state == Ok(bound_leaf("/#/io.l5d.fake/default/http/hello", "/", "10.0.0.1:80"))
        assert namer.lookups == [Path.read("/default/http/hello")]

    def test_namers_are_tried_in_order_and_neg_tries_the_next(self):
        """Of the namers whose prefix matches, the first non-Neg answer wins; others are skipped."""
        first = FakeNamer("/#/a")
        second = FakeNamer("/#", lambda n, p: Ok(n.bound("/a/x", "/", Address("h", 2))))
        third = FakeNamer("/#/a", lambda n, p: Ok(inet(3)))
        unrelated = FakeNamer("/#/b", lambda n, p: Ok(inet(4)))
        interpreter = Interpreter([(n.prefix, n) for n in (unrelated, first, second, third)])
        state = interpreter.bind(Dtab(), Path.read("/#/a/x"))
        assert state == Ok(bound_leaf("/#/a/x", "/", "h:2"))
        assert first.lookups == [Path.read("/x")] and second.lookups == [Path.read("/a/x")]
        assert third.lookups == [] and unrelated.lookups == []

    @pytest.mark.parametrize(
        "answer",
        [PENDING, Ok(EMPTY), Ok(FAIL), Failed(RuntimeError("down"))],
        ids=["pending", "empty", "fail", "failed"],
    )
    def test_first_non_neg_namer_answer_stands(self, answer):
        """Pending, Empty, Fail and failures are answers: the next namer is not asked."""
        first = FakeNamer("/#/a", lambda n, p: answer)
        second = FakeNamer("/#/a", lambda n, p: Ok(inet(2)))
        interpreter = Interpreter([(first.prefix, first), (second.prefix, second)])
        assert interpreter.bind(Dtab(), Path.read("/#/a/x")) == answer
        assert second.lookups == []

    def test_namer_that_answers_with_a_path_goes_back_to_the_dtab(self):
        """A namer may answer another path, which is delegated again from the dtab."""
        namer = FakeNamer("/#/rw", lambda n, p: Ok(Leaf(Path.of("svc") + p)))
        state = Interpreter([(namer.prefix, namer)]).bind(
            Dtab.read("/svc=>/$/inet/5"), Path.read("/#/rw/x")
        )
        assert state == Ok(bound_leaf("/$/inet/5", "/x", "0.0.0.0:5"))

    def test_generation_tuple(self):
        """The interpreter's generation is the namers' generations, in order."""
        a, b = FakeNamer("/#/a"), FakeNamer("/#/b")
        interpreter = Interpreter([(a.prefix, a), (b.prefix, b)])
        assert interpreter.generation == (0, 0)
        b.answer("/x", Ok(NEG))
        assert interpreter.generation == (0, 1)


class ChangingNamerTests:
    def test_binding_follows_the_namer(self):
        """Pending before the first sync, then bound, then the fallback once the name goes."""
        namer = FakeNamer("/#/io.l5d.k8s", lambda n, p: PENDING)
        interpreter = Interpreter([(namer.prefix, namer)])
        dtab = Dtab.read("/svc=>/$/inet/9;/svc=>/#/io.l5d.k8s/default/http")
        path = Path.read("/svc/hello")
        generations = [namer.generation]

        assert interpreter.bind(dtab, path) == PENDING

        hello = namer.bound("/default/http/hello", "/", Address("10.0.0.1", 8080))
        namer.answer("/default/http/hello", Ok(hello))
        generations.append(namer.generation)
        assert interpreter.bind(dtab, path) == Ok(hello)

        scaled = namer.bound(
            "/default/http/hello", "/", Address("10.0.0.1", 8080), Address("10.0.0.2", 8080)
        )
        namer.answer("/default/http/hello", Ok(scaled))
        generations.append(namer.generation)
        assert addresses(interpreter.bind(dtab, path)) == {"10.0.0.1:8080", "10.0.0.2:8080"}

        namer.answer("/default/http/hello", Ok(NEG))
        generations.append(namer.generation)
        assert interpreter.bind(dtab, path) == Ok(bound_leaf("/$/inet/9", "/hello", "0.0.0.0:9"))

        assert generations == sorted(set(generations)), "every change bumps the generation"

    def test_simplified_bound_tree_is_stable(self):
        """Binding is pure: the same namer state binds to equal trees, already simplified."""
        namer = FakeNamer("/#inet", host_port_rule)
        interpreter = Interpreter([(namer.prefix, namer)])
        dtab = Dtab.read("/s=>/#inet/10.0.0.1/80 & /#inet/10.0.0.2/80 & ~")
        first = interpreter.bind(dtab, Path.read("/s"))
        assert first == interpreter.bind(dtab, Path.read("/s"))
        assert simplify(first.value) == first.value
