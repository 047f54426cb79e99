"""l5d.workers.codec: binding states through marshal and back, on examples and random trees."""

from __future__ import annotations

import marshal
import random
from pathlib import Path as FsPath

import pytest
from twisted.internet.task import Clock

from dtab import (
    ADDR_NEG, ADDR_PENDING, EMPTY, EMPTY_DTAB, FAIL, NEG, PENDING, Address, AddrBound, AddrFailed,
    Alt, BindDepthExceeded, BindTooLarge, BoundName, Dtab, DtabParseError, Failed, Interpreter,
    Leaf, Ok, Path, Union, UnknownNamer, Weighted,
)
from dtab.errors import DtabError
from l5d.namers.fs import FsNamer
from l5d.namers.rewrite import RewriteNamer
from l5d.transformers import filters, gateway
from l5d.workers.codec import RemoteError, decode_state, encode_state
from tests.l5d.namers.test_k8s import endpoints, listing, setup as k8s_setup

PLAIN = (str, int, float, bool, type(None), bytes)


def only_plain(value) -> bool:
    """Whether ``value`` is scalars in (nested) tuples: what the codec promises to send."""
    return isinstance(value, PLAIN) or (
        type(value) is tuple and all(map(only_plain, value)))


def through_channel(state):
    """``state`` encoded, sent through marshal, decoded."""
    encoded = encode_state(state)
    assert only_plain(encoded), encoded
    return decode_state(marshal.loads(marshal.dumps(encoded)))


def assert_round_trip(state) -> None:
    back = through_channel(state)
    assert back == state
    assert hash(back) == hash(state)
    if isinstance(state, Failed):
        assert str(back.error) == str(state.error)


NODE1 = Address("10.244.1.2", 8080, (("nodeName", "node-1"),))
NODE2 = Address("10.244.2.2", 8080, (("nodeName", "node-2"),))


def bound_leaf(addr, id_: str = "/#/io.l5d.k8s/default/http/hello", residual: str = "/") -> Leaf:
    return Leaf(BoundName(Path.read(id_), Path.read(residual), addr))


EXAMPLES = [
    ("pending", PENDING),
    ("neg", Ok(NEG)),
    ("fail", Ok(FAIL)),
    ("empty", Ok(EMPTY)),
    ("path leaf", Ok(Leaf(Path.read("/svc/hello")))),
    ("empty path leaf", Ok(Leaf(Path()))),
    ("bound, node names", Ok(bound_leaf(AddrBound.of(NODE1, NODE2)))),
    ("bound, empty set", Ok(bound_leaf(AddrBound()))),
    ("bound, residual", Ok(bound_leaf(AddrBound.of(NODE1), residual="/a/b"))),
    ("addr neg", Ok(bound_leaf(ADDR_NEG))),
    ("addr pending", Ok(bound_leaf(ADDR_PENDING))),
    ("addr failed", Ok(bound_leaf(AddrFailed("no such host")))),
    ("addr meta", Ok(bound_leaf(AddrBound(frozenset({NODE1}), (("namer_nametree_weight", 0.3),))))),
    ("address weights", Ok(bound_leaf(AddrBound.of(
        Address("h", 1, (("endpoint_addr_weight", 0.5),)), Address("h", 2, (("x", None),)),
        Address("::1", 3, (("b", b"\x00"), ("t", (1, "two", 3.0)))))))),
    ("ipv6 and zero port", Ok(bound_leaf(AddrBound.of(Address("fe80::1", 0))))),
    ("escaped labels", Ok(bound_leaf(AddrBound.of(NODE1), id_="/#/x/\\xff\\x00/\\xc3\\xa9"))),
    ("alt", Ok(Alt.of(Leaf(Path.read("/a")), NEG, bound_leaf(ADDR_NEG)))),
    ("union", Ok(Union((Weighted(0.25, bound_leaf(AddrBound.of(NODE1))),
                        Weighted(0.75, bound_leaf(AddrBound.of(NODE2), id_="/$/inet/b/1")),
                        Weighted(0, EMPTY), Weighted(-0.0, FAIL))))),
    ("empty alt and union", Ok(Alt.of(Alt(()), Union(())))),
    ("depth exceeded", Failed(BindDepthExceeded(100))),
    ("too large", Failed(BindTooLarge(10_000))),
    ("unknown namer", Failed(UnknownNamer("nope", "/$/nope/x"))),
    ("parse error", Failed(DtabParseError("/a=>{", 4, "label char", "'{'"))),
    ("value error", Failed(ValueError("bad"))),
    ("key error", Failed(KeyError("k"))),
    ("os error", Failed(OSError(2, "No such file or directory"))),
    ("no args", Failed(RuntimeError())),
]


class CodecExampleTests:
    """Each kind of state, tree, addr and error goes through marshal and comes back equal."""

    @pytest.mark.parametrize("name, state", EXAMPLES, ids=[n for n, _ in EXAMPLES])
    def test_round_trip(self, name: str, state) -> None:
        """decode(marshal(encode(s))) == s, with the same hash."""
        assert_round_trip(state)

    def test_singletons_stay_singletons(self) -> None:
        """PENDING, NEG, FAIL, EMPTY, ADDR_NEG and ADDR_PENDING come back as themselves."""
        assert through_channel(PENDING) is PENDING
        for tree in (NEG, FAIL, EMPTY):
            assert through_channel(Ok(tree)).value is tree
        for addr in (ADDR_NEG, ADDR_PENDING):
            assert through_channel(Ok(bound_leaf(addr))).value.value.addr is addr
        alt = through_channel(Ok(Alt.of(NEG, FAIL, EMPTY))).value
        assert alt.trees[0] is NEG and alt.trees[1] is FAIL and alt.trees[2] is EMPTY

    def test_errors_come_back_as_their_own_types(self) -> None:
        """A type this process has loaded is rebuilt, so Failed compares equal."""
        for error in (BindDepthExceeded(7), UnknownNamer("k", "/$/k"), KeyError("k"),
                      DtabParseError("/[", 1, "label char", "'['")):
            back = through_channel(Failed(error)).error
            assert type(back) is type(error) and str(back) == str(error)
        assert isinstance(through_channel(Failed(BindDepthExceeded(7))).error, DtabError)

    def test_an_unknown_error_type_keeps_its_message(self) -> None:
        """A type from a module this process has not loaded is a RemoteError with the text."""
        encoded = ("failed", "no.such.module", "Oops", ("x",), "it broke")
        error = decode_state(encoded).error
        assert isinstance(error, RemoteError)
        assert str(error) == "it broke" and error.kind == "no.such.module.Oops"
        assert through_channel(Failed(error)).error.kind == "no.such.module.Oops"

    def test_an_error_whose_args_are_not_plain(self) -> None:
        """Arguments that cannot travel are left behind; the message still does."""
        class Odd(Exception):
            def __str__(self) -> str:
                return "odd thing"

        back = through_channel(Failed(Odd(object()))).error
        assert str(back) == "odd thing"

    def test_an_error_whose_text_differs_when_rebuilt(self) -> None:
        """A rebuilt exception that would show another text is a RemoteError instead."""
        encoded = ("failed", "builtins", "KeyError", ("k",), "not what KeyError shows")
        assert isinstance(decode_state(encoded).error, RemoteError)
        encoded = ("failed", "builtins", "len", (), "a function is no exception")
        assert isinstance(decode_state(encoded).error, RemoteError)


class CodecRefusalTests:
    """What the codec cannot carry, and input it was not given, are ValueErrors."""

    @pytest.mark.parametrize("state", [
        Ok(Leaf(42)), Ok("not a tree"), "not a state",
        Ok(bound_leaf(AddrBound.of(Address("h", 1, (("k", object()),))))),
        Ok(bound_leaf("not an addr")),
    ], ids=["int leaf", "str tree", "str state", "object meta", "bad addr"])
    def test_encode_refuses(self, state) -> None:
        with pytest.raises(ValueError):
            encode_state(state)

    @pytest.mark.parametrize("value", [
        None, "ok", ("ok",), ("ok", "?"), ("ok", ("path",)), ("ok", ("alt", 3)),
        ("ok", ("union", ((1.0,),))), ("ok", ("union", (("x", "~"),))),
        ("ok", ("name", (), (), "nope")), ("ok", ("name", (), (), ("bound", ((1, 2),), ()))),
        ("ok", ("name", ("",), (), "neg")), ("failed", "m"), ("nope", 1),
    ])
    def test_decode_refuses(self, value) -> None:
        with pytest.raises(ValueError):
            decode_state(value)


# -- real namer and transformer outputs ------------------------------------------------

def fs_state(tmp_path: FsPath) -> list:
    (tmp_path / "hello").write_text("127.0.0.1 7777\n10.0.0.2 8080 * 0.5\nweb.local 80 * 3\n")
    namer = FsNamer(Clock(), str(tmp_path), Path.read("/#/io.l5d.fs"))
    namer.start()
    interp = Interpreter([(Path.read("/#/io.l5d.fs"), namer)])
    dtab = Dtab.read("/svc=>/#/io.l5d.fs;/svc/split=>0.3*/#/io.l5d.fs/hello & 0.7*/$/inet/h/1;"
                     "/svc/gone=>/#/io.l5d.fs/nothing|/$/nil")
    return [interp.bind(dtab, Path.read(p)) for p in (
        "/svc/hello/a/b", "/svc/split", "/svc/gone", "/svc/missing", "/$/inet/127.1/80")]


def k8s_states() -> list:
    clock, api, watches, namer = k8s_setup()
    web, l5d = Path.read("/ns/http/web"), Path.read("/ns/http/l5d")
    pending = namer.lookup(web)
    namer.lookup(l5d)
    api.gets[0].answer(200, listing("5", endpoints("4", "10.244.1.2", "10.244.2.2")))
    api.gets[1].answer(200, listing("5", endpoints("4", "10.244.1.1", "10.244.3.1",
                                                   port=4141, name="l5d")))
    prefix = Path.read("/#/io.l5d.k8s")
    daemonset = gateway.daemonset(Path.read("/%/io.l5d.k8s.daemonset/ns/http/l5d"), namer,
                                  "ns", "http", "l5d", host_network=False)
    by_node = gateway.daemonset(Path.read("/%/io.l5d.k8s.daemonset/ns/http/l5d"), namer,
                                "ns", "http", "l5d", host_network=True)
    localnode = filters.localnode(Path.read("/%/io.l5d.k8s.localnode"), host_network=True,
                                  pod_ip=None, node_name="node-2")
    states = [pending, namer.lookup(web), namer.lookup(Path.read("/ns/grpc/web"))]
    for transformers in ((daemonset,), (by_node,), (localnode,), (localnode, daemonset)):
        interp = Interpreter([(prefix, namer)], transformers=transformers)
        states.append(interp.bind(Dtab.read("/svc=>/#/io.l5d.k8s/ns/http"),
                                  Path.read("/svc/web/x")))
    return states


class RealOutputTests:
    """States made by the real namers, transformers and interpreter round-trip."""

    def test_fs_namer(self, tmp_path: FsPath) -> None:
        """io.l5d.fs: weights in metadata, unions with the weight key, Neg, Empty, /$/inet."""
        states = fs_state(tmp_path)
        weights = {a.meta_dict().get("endpoint_addr_weight")
                   for a in states[0].value.value.addr.addresses}
        assert weights == {None, 0.5, 3.0}
        assert isinstance(states[1].value, Union)
        for state in states:
            assert_round_trip(state)

    def test_k8s_namer_and_transformers(self) -> None:
        """io.l5d.k8s with nodeName metadata; daemonset (subnet and node) and localnode ids."""
        states = k8s_states()
        assert states[0] is PENDING
        ids = [s.value.value.id.show() for s in states[3:]]
        assert ids[0] == "/%/io.l5d.k8s.daemonset/ns/http/l5d/#/io.l5d.k8s/ns/http/web"
        assert ids[2] == "/%/io.l5d.k8s.localnode/node-2/#/io.l5d.k8s/ns/http/web"
        assert ids[3].startswith("/%/io.l5d.k8s.daemonset/ns/http/l5d/%/io.l5d.k8s.localnode/")
        assert {a.show() for a in states[4].value.value.addr.addresses} == {"10.244.1.1:4141"}
        assert states[6].value.value.addr is ADDR_NEG  # node-2's pods only: no l5d on node-2
        for state in states:
            assert_round_trip(state)

    def test_rewrite_namer_and_failures_of_the_interpreter(self) -> None:
        """A namer answering a path leaf; a dtab loop; an unknown /$/ namer."""
        rewrite = RewriteNamer("/{ns}/{svc}", "/svc/{svc}")
        assert_round_trip(rewrite.lookup(Path.read("/default/hello")))
        interp = Interpreter()
        assert_round_trip(interp.bind(Dtab.read("/a=>/b;/b=>/a"), Path.read("/a")))
        assert_round_trip(interp.bind(EMPTY_DTAB, Path.read("/$/nope/x")))


# -- random trees ----------------------------------------------------------------------

LABELS = ("svc", "a", "b", "#", "io.l5d.k8s", "%", "$", "inet", "x\xff", "é", "default")


def random_path(rng: random.Random, max_len: int = 4) -> Path:
    return Path(tuple(rng.choice(LABELS) for _ in range(rng.randrange(max_len + 1))))


def random_meta(rng: random.Random) -> tuple:
    values = (None, True, 0, -3, 1.5, 0.0, "node-1", b"\x01", (1, "x"), 2 ** 70)
    return tuple((f"k{i}", rng.choice(values)) for i in range(rng.randrange(3)))


def random_addr(rng: random.Random):
    kind = rng.randrange(6)
    if kind == 0:
        return ADDR_NEG
    if kind == 1:
        return ADDR_PENDING
    if kind == 2:
        return AddrFailed(rng.choice(("", "timeout", "é\n")))
    addresses = frozenset(
        Address(rng.choice(("10.0.0.1", "127.1", "::1", "web.local")), rng.randrange(65536),
                random_meta(rng)) for _ in range(rng.randrange(6)))
    return AddrBound(addresses, random_meta(rng))


def random_tree(rng: random.Random, depth: int = 0):
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return NEG
    if kind == 1:
        return FAIL
    if kind == 2:
        return EMPTY
    if kind == 3:
        return Leaf(random_path(rng))
    if kind == 4:
        return Leaf(BoundName(random_path(rng), random_path(rng), random_addr(rng)))
    if kind == 5:
        return Alt(tuple(random_tree(rng, depth + 1) for _ in range(rng.randrange(4))))
    return Union(tuple(Weighted(rng.choice((0, 1, 1.0, 0.1, 2.5, 1e-9)),
                                random_tree(rng, depth + 1)) for _ in range(rng.randrange(4))))


def random_state(rng: random.Random):
    kind = rng.randrange(10)
    if kind == 0:
        return PENDING
    if kind == 1:
        return Failed(rng.choice((ValueError("v"), BindDepthExceeded(rng.randrange(200)),
                                  UnknownNamer("k", "/$/k"), RuntimeError("é"))))
    return Ok(random_tree(rng))


class CodecLawTests:
    """The round-trip law on seeded random states."""

    def test_random_states_round_trip(self) -> None:
        """1000 random states: equal, equally hashed, singletons kept, only plain values sent."""
        rng = random.Random(1234)
        for _ in range(1000):
            state = random_state(rng)
            back = through_channel(state)
            assert back == state, state
            assert hash(back) == hash(state)
            if state is PENDING:
                assert back is PENDING

    def test_encoding_is_stable(self) -> None:
        """Encoding a decoded state gives the same value again (up to set order)."""
        rng = random.Random(99)
        for _ in range(200):
            state = random_state(rng)
            once = through_channel(state)
            assert through_channel(once) == once
