"""dtab.delegate: the step-by-step delegation trace (Linkerd's DelegateTree and /delegator.json).

Rows 51-56 (Linkerd ``DelegatorTest`` and ``DelegateApiHandlerTest``) and 58
(``DelegateTreeTest``) of reference section 3.5, as exact JSON.
"""

from __future__ import annotations

import json

import pytest

from dtab import (
    ADDR_NEG,
    ADDR_PENDING,
    FAIL,
    PENDING,
    Address,
    AddrBound,
    AddrFailed,
    BindDepthExceeded,
    BindTooLarge,
    BoundName,
    Delegate,
    DelegateAlt,
    DelegateEmpty,
    DelegateException,
    DelegateFail,
    DelegateLeaf,
    DelegateNeg,
    DelegateUnion,
    DelegateWeighted,
    Dentry,
    Dtab,
    Failed,
    Interpreter,
    Ok,
    Path,
    Transformation,
    delegate_tree_json,
    render_delegate_tree,
)
from dtab.delegate import simplify as simplify_delegate
from tests.helpers.fake_namer import FakeNamer

D1 = Dtab.read("""
    /bah/humbug => /$/inet/127.1/8080 ;
    /beh => /#/error ;
    /foo => /bah | /$/fail ;
    /foo => /bar ;
    /boo => /foo ;
    /meh => /heh ;
""")


def error_namer() -> FakeNamer:
    """Linkerd's ``ErrorNamer``: every lookup fails naming the full path."""
    return FakeNamer(
        "/#/error", lambda n, p: Failed(LookupError(f"error naming {(n.prefix + p).show()}"))
    )


def interpreter(*namers: FakeNamer) -> Interpreter:
    return Interpreter([(n.prefix, n) for n in (error_namer(), *namers)])


def delegate_json(dtab: Dtab, path: str, *namers: FakeNamer) -> dict:
    state = interpreter(*namers).delegate(dtab, Path.read(path))
    assert isinstance(state, Ok), state
    return delegate_tree_json(state.value)


def dentry(prefix: str, dst: str) -> dict:
    return {"prefix": prefix, "dst": dst}


FOO_ALT = dentry("/foo", "/bah | /$/fail")
INET_8080 = {"type": "bound", "addrs": [{"ip": "127.0.0.1", "port": 8080, "meta": {}}], "meta": {}}

ROWS = [
    ("row51-no-dentry-is-neg", "/nope", {"type": "neg", "path": "/nope"}),
    (
        "row52-delegate-to-neg",
        "/meh/hey",
        {
            "type": "delegate",
            "path": "/meh/hey",
            "delegate": {"type": "neg", "path": "/heh/hey", "dentry": dentry("/meh", "/heh")},
        },
    ),
    (
        "row53-alt-of-neg-neg-fail",
        "/boo/lol",
        {
            "type": "delegate",
            "path": "/boo/lol",
            "delegate": {
                "type": "alt",
                "path": "/foo/lol",
                "dentry": dentry("/boo", "/foo"),
                "alt": [
                    {"type": "neg", "path": "/bar/lol", "dentry": dentry("/foo", "/bar")},
                    {"type": "neg", "path": "/bah/lol", "dentry": FOO_ALT},
                    {"type": "fail", "path": "/$/fail/lol", "dentry": FOO_ALT},
                ],
            },
        },
    ),
    (
        "row54-alt-with-bound-leaf",
        "/boo/humbug/ya",
        {
            "type": "delegate",
            "path": "/boo/humbug/ya",
            "delegate": {
                "type": "alt",
                "path": "/foo/humbug/ya",
                "dentry": dentry("/boo", "/foo"),
                "alt": [
                    {"type": "neg", "path": "/bar/humbug/ya", "dentry": dentry("/foo", "/bar")},
                    {
                        "type": "delegate",
                        "path": "/bah/humbug/ya",
                        "dentry": FOO_ALT,
                        "delegate": {
                            "type": "leaf",
                            "path": "/$/inet/127.1/8080/ya",
                            "dentry": dentry("/bah/humbug", "/$/inet/127.1/8080"),
                            "bound": {"addr": INET_8080, "id": "/$/inet/127.1/8080", "path": "/ya"},
                        },
                    },
                    {"type": "fail", "path": "/$/fail/humbug/ya", "dentry": FOO_ALT},
                ],
            },
        },
    ),
    (
        "row55-namer-error-is-exception",
        "/beh/humbug",
        {
            "type": "delegate",
            "path": "/beh/humbug",
            "delegate": {
                "type": "exception",
                "path": "/#/error/humbug",
                "dentry": dentry("/beh", "/#/error"),
                "message": "error naming /#/error/humbug",
            },
        },
    ),
]


class DelegatorRowsTests:
    @pytest.mark.parametrize("path,expected", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
    def test_delegator_json(self, path, expected):
        """Delegating through D1 gives exactly Linkerd's delegator JSON."""
        assert delegate_json(D1, path) == expected

    def test_row53_binds_to_fail(self):
        """Row 53: binding (not delegating) the same path stops at the Fail branch."""
        assert interpreter().bind(D1, Path.read("/boo/lol")) == Ok(FAIL)

    def test_row54_binds_to_the_bound_branch(self):
        """Row 54: binding goes to 127.0.0.1:8080, residual /ya; the Fail branch is not reached."""
        state = interpreter().bind(D1, Path.read("/boo/humbug/ya"))
        bound = state.value.value
        assert (bound.id.show(), bound.residual.show()) == ("/$/inet/127.1/8080", "/ya")
        assert [a.show() for a in bound.addr.addresses] == ["127.0.0.1:8080"]

    def test_row55_binding_fails(self):
        """Row 55: binding the path fails with the namer's error (delegation shows it as a node)."""
        state = interpreter().bind(D1, Path.read("/beh/humbug"))
        assert isinstance(state, Failed) and str(state.error) == "error naming /#/error/humbug"

    def test_row56_neg_dentry_exact_json(self):
        """Row 56: a dentry to ``~`` is a neg node with path ``~``, byte for byte."""
        dtab = Dtab.read("/a=>/$/inet/1;/neg => ~")
        text = json.dumps(delegate_json(dtab, "/neg"), separators=(",", ":"))
        assert text == (
            '{"type":"delegate","path":"/neg","delegate":'
            '{"type":"neg","path":"~","dentry":{"prefix":"/neg","dst":"~"}}}'
        )

    def test_linkerd_delegate_api_response(self):
        """Linkerd's DelegateApiHandlerTest: an error branch inside an Alt is an exception node.

        Two deliberate differences from that (older) fixture: the root's null
        dentry is omitted, as in row 56, and each address carries its ``meta``.
        """
        dtab = Dtab.read("""
            /beh => /#/error ;
            /bah/humbug => /$/inet/127.1/8080 ;
            /foo => /bah | /beh | /$/fail ;
            /foo => /bar ;
            /boo => /foo ;
            /meh => /heh ;
        """)
        alt = dentry("/foo", "/bah | /beh | /$/fail")
        expected = (
            '{"type":"delegate","path":"/boo/humbug","delegate":{'
            '"type":"alt","path":"/foo/humbug","dentry":{"prefix":"/boo","dst":"/foo"},"alt":['
            '{"type":"neg","path":"/bar/humbug","dentry":{"prefix":"/foo","dst":"/bar"}},'
            '{"type":"delegate","path":"/bah/humbug",'
            '"dentry":{"prefix":"/foo","dst":"/bah | /beh | /$/fail"},"delegate":{'
            '"type":"leaf","path":"/$/inet/127.1/8080","dentry":{"prefix":"/bah/humbug",'
            '"dst":"/$/inet/127.1/8080"},'
            '"bound":{"addr":{"type":"bound",'
            '"addrs":[{"ip":"127.0.0.1","port":8080,"meta":{}}],"meta":{}},'
            '"id":"/$/inet/127.1/8080","path":"/"}}},'
            '{"type":"delegate","path":"/beh/humbug",'
            '"dentry":{"prefix":"/foo","dst":"/bah | /beh | /$/fail"},"delegate":{'
            '"type":"exception","path":"/#/error/humbug",'
            '"dentry":{"prefix":"/beh","dst":"/#/error"},'
            '"message":"error naming /#/error/humbug"}},'
            '{"type":"fail","path":"/$/fail/humbug",'
            '"dentry":{"prefix":"/foo","dst":"/bah | /beh | /$/fail"}}]}}'
        )
        got = delegate_json(dtab, "/boo/humbug")
        assert json.dumps(got, separators=(",", ":")) == expected
        assert got["delegate"]["alt"][1]["dentry"] == alt

    def test_render_text(self):
        """The text rendering shows each step, the dentry that fired, and the outcome."""
        state = interpreter().delegate(D1, Path.read("/boo/humbug/ya"))
        assert render_delegate_tree(state.value) == (
            "/boo/humbug/ya\n"
            "  /foo/humbug/ya  (/boo=>/foo)  alt (first non-neg wins):\n"
            "    1. /bar/humbug/ya  (/foo=>/bar)  neg (~)\n"
            "    2. /bah/humbug/ya  (/foo=>/bah | /$/fail)\n"
            "      /$/inet/127.1/8080/ya  (/bah/humbug=>/$/inet/127.1/8080)"
            "  => bound /$/inet/127.1/8080 residual /ya [127.0.0.1:8080]\n"
            "    3. /$/fail/humbug/ya  (/foo=>/bah | /$/fail)  fail (!)\n"
        )


class DelegateOutcomeTests:
    def test_union_branches_with_weights(self):
        """A union shows every branch with its weight: bound, empty and a failed lookup alike."""
        dtab = Dtab.read("/s=>2*/$/inet/1 & /$/nil & /$/nope")
        d = dentry("/s", "2.00*/$/inet/1 & /$/nil & /$/nope")
        assert delegate_json(dtab, "/s") == {
            "type": "union",
            "path": "/s",
            "union": [
                {
                    "weight": 2.0,
                    "tree": {
                        "type": "leaf",
                        "path": "/$/inet/1",
                        "dentry": d,
                        "bound": {
                            "addr": {
                                "type": "bound",
                                "addrs": [{"ip": "0.0.0.0", "port": 1, "meta": {}}],
                                "meta": {},
                            },
                            "id": "/$/inet/1",
                            "path": "/",
                        },
                    },
                },
                {"weight": 1.0, "tree": {"type": "empty", "path": "/$/nil", "dentry": d}},
                {
                    "weight": 1.0,
                    "tree": {
                        "type": "exception",
                        "path": "/$/nope",
                        "dentry": d,
                        "message": "Unknown namer: nope for path: /$/nope",
                    },
                },
            ],
        }

    def test_pending_namer_makes_delegation_pending(self):
        """A namer that has not answered yet makes the whole delegation PENDING."""
        pending = FakeNamer("/#/p", lambda n, p: PENDING)
        it = interpreter(pending)
        assert it.delegate(Dtab.read("/s=>/#/p"), Path.read("/s/x")) is PENDING
        assert it.delegate(Dtab.read("/s=>/$/inet/1 | /#/p"), Path.read("/s/x")) is PENDING
        assert it.delegate(Dtab.read("/s=>/$/inet/1 & /#/p"), Path.read("/s/x")) is PENDING

    def test_loop_fails_with_the_depth_limit(self):
        """Row 31's loop fails delegation as it fails binding."""
        state = interpreter().delegate(
            Dtab.read("/foo/bar=>/bar/foo;/bar/foo=>/foo/bar"), Path.read("/foo/bar")
        )
        assert state == Failed(BindDepthExceeded(100))

    def test_loop_in_one_alt_branch_is_an_exception_node(self):
        """A looping fallback branch does not hide the others: it becomes an exception node."""
        dtab = Dtab.read("/loop=>/loop/x;/a=>/$/inet/1 | /loop")
        got = delegate_json(dtab, "/a")
        assert got["type"] == "alt" and got["alt"][1] == {
            "type": "exception",
            "path": "/a",
            "dentry": dentry("/a", "/$/inet/1 | /loop"),
            "message": "Max recursion level: 100 reached in Namer lookup",
        }

    def test_step_budget_applies(self):
        """An exponentially growing delegation stops at the lookup budget."""
        it = Interpreter(max_steps=30)
        assert it.delegate(Dtab.read("/a=>/a/x | /a/y"), Path.read("/a")) == Failed(
            BindTooLarge(30)
        )

    def test_dentry_to_fail_and_empty(self):
        """``!`` and ``$`` dentries show as fail (path ``!``) and empty nodes."""
        assert delegate_json(Dtab.read("/f=>!"), "/f/x") == {
            "type": "delegate",
            "path": "/f/x",
            "delegate": {"type": "fail", "path": "!", "dentry": dentry("/f", "!")},
        }
        assert delegate_json(Dtab.read("/e=>$"), "/e/x") == {
            "type": "delegate",
            "path": "/e/x",
            "delegate": {"type": "empty", "path": "/e/x", "dentry": dentry("/e", "$")},
        }


# Row 58 (Linkerd DelegateTreeTest): simplification of hand-built trees.
NOP = None
A_B = Dentry.read("/a => /b")


def leaf(path: str, d: Dentry) -> DelegateLeaf:
    return DelegateLeaf(Path.read(path), d, Path.read(path))


class DelegateSimplifyTests:
    def test_row58_same_path_collapses(self):
        """Row 58: an Alt at its parent Delegate's path takes the parent's place and dentry."""
        b_cd = Dentry.read("/b => /c|/d")
        orig = Delegate(
            Path.read("/a"),
            NOP,
            Delegate(
                Path.read("/b"),
                A_B,
                DelegateAlt(Path.read("/b"), b_cd, (leaf("/c", b_cd), leaf("/d", b_cd))),
            ),
        )
        assert simplify_delegate(orig) == Delegate(
            Path.read("/a"),
            NOP,
            DelegateAlt(Path.read("/b"), A_B, (leaf("/c", b_cd), leaf("/d", b_cd))),
        )

    @pytest.mark.parametrize("kind", ["alt", "union"])
    def test_row58_single_branch_becomes_delegate(self, kind):
        """Row 58: a one-branch Alt or Union becomes a Delegate."""
        b_c = Dentry.read("/b => /c")
        inner = (
            DelegateAlt(Path.read("/b"), b_c, (leaf("/c", b_c),))
            if kind == "alt"
            else DelegateUnion(Path.read("/b"), b_c, (DelegateWeighted(1.0, leaf("/c", b_c)),))
        )
        orig = Delegate(Path.read("/a"), NOP, Delegate(Path.read("/b"), A_B, inner))
        assert simplify_delegate(orig) == Delegate(
            Path.read("/a"), NOP, Delegate(Path.read("/b"), A_B, leaf("/c", b_c))
        )

    @pytest.mark.parametrize("kind", ["alt", "union"])
    def test_row58_no_branch_becomes_neg(self, kind):
        """Row 58: an Alt or Union with no branches becomes Neg."""
        b_neg = Dentry.read("/b => ~")
        inner = (
            DelegateAlt(Path.read("/b"), b_neg, ())
            if kind == "alt"
            else DelegateUnion(Path.read("/b"), b_neg, ())
        )
        orig = Delegate(Path.read("/a"), NOP, Delegate(Path.read("/b"), A_B, inner))
        assert simplify_delegate(orig) == Delegate(
            Path.read("/a"),
            NOP,
            Delegate(Path.read("/b"), A_B, DelegateNeg(Path.read("/b"), b_neg)),
        )


class DelegateJsonTests:
    BOUND_ID = Path.read("/#/io.l5d.k8s/default/http/hello")

    @pytest.mark.parametrize(
        "addr,expected",
        [
            (ADDR_NEG, {"type": "neg"}),
            (ADDR_PENDING, {"type": "pending"}),
            (AddrFailed("watch broke"), {"type": "failed", "cause": "watch broke"}),
            (
                AddrBound(
                    frozenset(
                        {Address("10.0.0.2", 80, (("nodeName", "n2"),)), Address("10.0.0.1", 80)}
                    ),
                    (("k", "v"),),
                ),
                {
                    "type": "bound",
                    "addrs": [
                        {"ip": "10.0.0.1", "port": 80, "meta": {}},
                        {"ip": "10.0.0.2", "port": 80, "meta": {"nodeName": "n2"}},
                    ],
                    "meta": {"k": "v"},
                },
            ),
        ],
        ids=["neg", "pending", "failed", "bound-sorted"],
    )
    def test_addr_json(self, addr, expected):
        """A bound leaf's address set serialises in each of its four states."""
        tree = DelegateLeaf(self.BOUND_ID, None, BoundName(self.BOUND_ID, Path(), addr))
        assert delegate_tree_json(tree) == {
            "type": "leaf",
            "path": self.BOUND_ID.show(),
            "bound": {"addr": expected, "id": self.BOUND_ID.show(), "path": "/"},
        }

    def test_transformation(self):
        """A transformer step names the transformer and the bound name it started from."""
        before = BoundName(self.BOUND_ID, Path(), AddrBound.of(Address("10.0.0.1", 80)))
        after_id = Path.read("/%/io.l5d.k8s.localnode/10.0.0.5") + self.BOUND_ID
        after = BoundName(after_id, Path(), AddrBound())
        tree = Transformation(
            self.BOUND_ID, "io.l5d.k8s.localnode", before, DelegateLeaf(after_id, None, after)
        )
        assert delegate_tree_json(tree) == {
            "type": "transformation",
            "path": self.BOUND_ID.show(),
            "name": "io.l5d.k8s.localnode",
            "bound": {
                "addr": {
                    "type": "bound",
                    "addrs": [{"ip": "10.0.0.1", "port": 80, "meta": {}}],
                    "meta": {},
                },
                "id": self.BOUND_ID.show(),
                "path": "/",
            },
            "tree": {
                "type": "leaf",
                "path": after_id.show(),
                "bound": {
                    "addr": {"type": "bound", "addrs": [], "meta": {}},
                    "id": after_id.show(),
                    "path": "/",
                },
            },
        }

    def test_nodes_without_dentry_omit_it(self):
        """Only nodes reached through a dentry carry one; fail/empty/exception nodes too."""
        p = Path.read("/$/fail/x")
        assert delegate_tree_json(DelegateFail(p, None)) == {"type": "fail", "path": "/$/fail/x"}
        assert delegate_tree_json(DelegateEmpty(p, None)) == {"type": "empty", "path": "/$/fail/x"}
        assert delegate_tree_json(DelegateException(p, None, RuntimeError("x"))) == {
            "type": "exception",
            "path": "/$/fail/x",
            "message": "x",
        }
