"""l5d.workers.remote_interpreter: a worker's RemoteInterpreter and the control's BindService,
back to back in one process, every message through marshal (only plain values cross)."""

from __future__ import annotations

import marshal
import random
from pathlib import Path as FsPath
from types import SimpleNamespace

import pytest
from twisted.internet.task import Clock

from dtab import (
    ADDR_NEG, NEG, PENDING, Address, AddrBound, BoundName, Dtab, DtabParseError, Failed,
    Interpreter, Leaf, Ok, Path, Union,
)
from l5d.http.router import HttpRouter
from l5d.http.upstream_request import NO_OVERRIDE
from l5d.namers.fs import FsNamer
from l5d.router.route import resolutions
from l5d.workers.remote_interpreter import BindService, RemoteInterpreter, UnknownRouter
from tests.helpers.fake_namer import FakeNamer

DTAB = Dtab.read("/svc=>/#/io.l5d.fake")
A = Address("10.0.0.1", 8080, (("nodeName", "node-1"),))
B = Address("10.0.0.2", 8080, (("nodeName", "node-2"),))


class Channel:
    """A control (BindService) and workers (RemoteInterpreters) joined by FIFO queues of
    marshalled messages; :meth:`deliver` runs them until both directions are quiet."""

    def __init__(self, interpreters: dict, **service_options) -> None:
        self.interpreters = interpreters
        self.service = BindService(interpreters, self._to_worker, **service_options)
        self.workers: dict[str, RemoteInterpreter] = {}
        self._queue: list[tuple[str, str, bytes]] = []
        self.log: list[tuple[str, str, tuple]] = []  # (to, worker, message), as sent

    def worker(self, name: str = "w1", label: str = "rt", **options) -> RemoteInterpreter:
        remote = RemoteInterpreter(label, lambda m: self._push("control", name, m), **options)
        self.workers[name] = remote
        self.service.add_worker(name)
        return remote

    def _to_worker(self, worker: str, message: tuple) -> None:
        self._push("worker", worker, message)

    def _push(self, to: str, worker: str, message: tuple) -> None:
        self.log.append((to, worker, message))
        self._queue.append((to, worker, marshal.dumps(message)))

    def sent(self, to: str = "control", kind: str | None = None) -> list[tuple]:
        return [m for t, _, m in self.log if t == to and (kind is None or m[0] == kind)]

    def settle(self, worker: RemoteInterpreter, dtab: Dtab, path: Path):
        """``worker`` binds ``path``, the messages are delivered, and it binds again."""
        worker.bind(dtab, path)
        self.deliver()
        return worker.bind(dtab, path)

    def deliver(self, limit: int | None = None) -> None:
        """Deliver until both directions are quiet (or ``limit`` messages)."""
        while self._queue and (limit is None or limit > 0):
            limit = None if limit is None else limit - 1
            to, worker, data = self._queue.pop(0)
            message = marshal.loads(data)
            if to == "control":
                self.service.handle(worker, message)
            elif message[0] == "gen":
                self.workers[worker].on_generation()
            else:
                kind, label, dtab_text, path_text, state, tried = message
                assert kind == "bound" and label == self.workers[worker].label
                self.workers[worker].on_bound(dtab_text, path_text, state, tried)


def fake_setup(**service_options) -> tuple[FakeNamer, Interpreter, Channel, RemoteInterpreter]:
    namer = FakeNamer("/#/io.l5d.fake")
    interpreter = Interpreter([(namer.prefix, namer)])
    channel = Channel({"rt": interpreter}, **service_options)
    return namer, interpreter, channel, channel.worker()


class BindingTests:
    """A name the worker has not seen, a namer change, a name pending at the control."""

    def test_an_unknown_name_is_pending_until_the_control_answers(self) -> None:
        """One request, PENDING meanwhile (however often bound), then the control's state."""
        namer, interpreter, channel, worker = fake_setup()
        namer.answer("/hello", Ok(namer.bound("/hello", "/", A)))
        path = Path.read("/svc/hello")
        assert worker.bind(DTAB, path) is PENDING
        assert worker.bind(DTAB, path) is PENDING
        assert channel.sent() == [("bind", "rt", DTAB.show(), "/svc/hello")]
        before = worker.generation
        channel.deliver()
        assert worker.generation != before  # so the router's binding cache binds again
        state = worker.bind(DTAB, path)
        assert state == interpreter.bind(DTAB, path)
        assert state.value.value.addr == AddrBound.of(A)
        assert len(channel.sent()) == 1

    def test_a_namer_change_asks_again_at_once_for_a_name_in_use(self) -> None:
        """gen: a name bound since the last change is asked again as the gen arrives (not
        at its next request); until the answer, binds get the old state; the answer
        replaces it and bumps the generation."""
        namer, _, channel, worker = fake_setup()
        namer.answer("/hello", Ok(namer.bound("/hello", "/", A)))
        path = Path.read("/svc/hello")
        old = channel.settle(worker, DTAB, path)
        namer.answer("/hello", Ok(namer.bound("/hello", "/", A, B)))
        channel.service.poll()
        assert channel.sent("worker")[-1] == ("gen",)
        before = worker.generation
        channel.deliver(limit=1)  # the gen arrives: the worker asks before any request
        assert len(channel.sent("control")) == 2
        assert worker.bind(DTAB, path) is old  # the answer is not in yet
        assert worker.bind(DTAB, path) is old
        assert len(channel.sent("control")) == 2  # one request per bump
        channel.deliver()
        assert worker.generation == before + 2  # the gen, then the changed answer
        assert worker.bind(DTAB, path).value.value.addr == AddrBound.of(A, B)
        assert len(channel.sent("control")) == 2

    def test_an_unchanged_answer_keeps_the_state_and_the_generation(self) -> None:
        """Another name changed: this one is asked again, and its equal answer changes
        nothing (the router's route memo stays)."""
        namer, _, channel, worker = fake_setup()
        namer.answer("/hello", Ok(namer.bound("/hello", "/", A)))
        path = Path.read("/svc/hello")
        state = channel.settle(worker, DTAB, path)
        namer.answer("/other", Ok(NEG))
        channel.service.poll()
        channel.deliver()
        generation = worker.generation
        assert worker.bind(DTAB, path) is state
        channel.deliver()
        assert worker.generation == generation and worker.bind(DTAB, path) is state

    def test_a_name_pending_at_the_control_is_answered_when_the_namer_syncs(self) -> None:
        """No answer while PENDING; the namer's change answers it without a new request."""
        namer, _, channel, worker = fake_setup()
        namer.answer("/hello", PENDING)
        channel.service.poll()  # the service sees the namer as it is now
        channel.deliver()
        path = Path.read("/svc/hello")
        assert worker.bind(DTAB, path) is PENDING
        channel.deliver()
        assert channel.sent("worker") == [("gen",)] and channel.service.waiting == 1
        channel.service.poll()  # nothing changed since
        assert channel.sent("worker") == [("gen",)]
        namer.answer("/hello", Ok(namer.bound("/hello", "/", A)))
        channel.service.poll()
        assert [m[0] for m in channel.sent("worker")] == ["gen", "gen", "bound"]
        channel.deliver()
        assert channel.service.waiting == 0
        assert worker.bind(DTAB, path).value.value.addr == AddrBound.of(A)
        assert len(channel.sent("control")) == 1  # the gen did not make the worker ask again

    def test_a_stale_neg_is_not_routed_on_while_asking(self) -> None:
        """After a gen, a name whose last answer was Neg waits for the new answer (a pod
        may just have come) instead of failing on the old one; an equal answer still
        bumps the generation, so a router that cached PENDING binds again; the waiting
        are woken."""
        namer, _, channel, worker = fake_setup()
        woken: list[int] = []
        worker.wake.append(lambda: woken.append(worker.generation))
        namer.answer("/hello", Ok(NEG))
        path = Path.read("/svc/hello")
        assert channel.settle(worker, DTAB, path) == Ok(NEG)
        namer.answer("/other", Ok(NEG))  # another name changed: hello's answer is stale
        channel.service.poll()
        channel.deliver(limit=1)  # the gen only
        assert worker.bind(DTAB, path) is PENDING
        generation = worker.generation
        channel.deliver()  # the worker's request, the same Neg
        assert worker.generation == generation + 1 and woken[-1] == worker.generation
        assert worker.bind(DTAB, path) == Ok(NEG)

    def test_a_stale_routable_state_routes_while_asking(self) -> None:
        namer, _, channel, worker = fake_setup()
        namer.answer("/hello", Ok(namer.bound("/hello", "/", A)))
        path = Path.read("/svc/hello")
        old = channel.settle(worker, DTAB, path)
        worker.bind(DTAB, path)
        namer.answer("/hello", Ok(NEG))
        channel.service.poll()
        channel.deliver(limit=1)
        assert worker.bind(DTAB, path) is old  # its endpoints were good a moment ago
        channel.deliver()
        assert worker.bind(DTAB, path) == Ok(NEG)

    def test_the_control_binds_only_what_workers_ask(self) -> None:
        """A gen asks again only for the names bound since the previous gen; a name not
        bound in between is not looked up until a worker binds it, so idle watches can
        expire."""
        namer, _, channel, worker = fake_setup()
        namer.answer("/hello", Ok(namer.bound("/hello", "/", A)))
        namer.answer("/idle", Ok(namer.bound("/idle", "/", B)))
        worker.bind(DTAB, Path.read("/svc/hello"))
        worker.bind(DTAB, Path.read("/svc/idle"))
        channel.deliver()
        namer.lookups.clear()
        namer.answer("/hello", Ok(namer.bound("/hello", "/", B)))
        channel.service.poll()
        channel.deliver()  # both were bound since: both asked again
        assert sorted(p.show() for p in namer.lookups) == ["/hello", "/idle"]
        namer.lookups.clear()
        worker.bind(DTAB, Path.read("/svc/hello"))  # only hello is in use now
        namer.answer("/hello", Ok(namer.bound("/hello", "/", A)))
        channel.service.poll()
        channel.deliver()
        assert namer.lookups == [Path.read("/hello")]
        namer.lookups.clear()
        namer.answer("/hello", Ok(namer.bound("/hello", "/", B)))
        channel.service.poll()
        channel.deliver()  # nothing bound since the last gen: nothing looked up
        assert namer.lookups == []
        worker.bind(DTAB, Path.read("/svc/idle"))
        channel.deliver()
        assert namer.lookups == [Path.read("/idle")]

    def test_failures_of_namers_travel_as_failed_states(self) -> None:
        """A namer that raises fails the name with the same error type and text."""
        namer, interpreter, channel, worker = fake_setup()

        def broken(_namer, _path):
            raise RuntimeError("namer bug")

        namer.set_rule(broken)
        path = Path.read("/svc/x")
        state = channel.settle(worker, DTAB, path)
        assert state == interpreter.bind(DTAB, path)
        assert isinstance(state.error, RuntimeError) and str(state.error) == "namer bug"

    def test_workers_ask_for_themselves(self) -> None:
        """Two workers: each gets the gen and its own answers; the dtab override is part of
        the key."""
        namer, _, channel, one = fake_setup()
        two = channel.worker("w2")
        namer.answer("/hello", Ok(namer.bound("/hello", "/", A)))
        override = DTAB + Dtab.read("/svc/hello=>/$/inet/127.1/9")
        path = Path.read("/svc/hello")
        one.bind(DTAB, path)
        two.bind(override, path)
        channel.deliver()
        assert one.bind(DTAB, path).value.value.addr == AddrBound.of(A)
        assert two.bind(override, path).value.value.id == Path.read("/$/inet/127.1/9")
        assert two.bind(DTAB, path) is PENDING
        namer.answer("/x", Ok(NEG))
        channel.service.poll()
        assert [w for _, w, m in channel.log if m == ("gen",)] == ["w1", "w2"]
        channel.service.remove_worker("w2")
        namer.answer("/y", Ok(NEG))
        channel.service.poll()
        assert [w for _, w, m in channel.log if m == ("gen",)] == ["w1", "w2", "w1"]

    def test_a_removed_worker_is_not_answered(self) -> None:
        """Its waiting requests go with it."""
        namer, _, channel, worker = fake_setup()
        namer.answer("/hello", PENDING)
        worker.bind(DTAB, Path.read("/svc/hello"))
        channel.deliver()
        channel.service.remove_worker("w1")
        assert channel.service.waiting == 0
        namer.answer("/hello", Ok(NEG))
        channel.service.poll()
        assert channel.sent("worker") == []


class NoRouteTests:
    """What the 502 no-route text says was tried comes from the control."""

    def test_a_negative_binding_carries_what_was_tried(self) -> None:
        """Ok(NEG): the resolutions of the control's delegation, as one process has them."""
        namer, interpreter, channel, worker = fake_setup()
        dtab = Dtab.read("/svc=>/#/io.l5d.fake;/svc/b=>/$/nil|/#/io.l5d.fake/other")
        path = Path.read("/svc/nothing")
        assert channel.settle(worker, dtab, path) == Ok(NEG)
        expected = resolutions(interpreter.delegate(dtab, path).value)
        assert expected and worker.resolutions(dtab, path) == expected

    @pytest.mark.parametrize("tree, tried", [
        ("routable", False), ("no addresses", True), ("addr neg", True), ("half a union", True),
    ])
    def test_tried_only_when_some_pick_has_no_address(self, tree: str, tried: bool) -> None:
        """A bound name with addresses needs no delegation; an empty or negative one does."""
        namer, _, channel, worker = fake_setup()
        good = namer.bound("/good", "/", A)
        empty = namer.bound("/empty", "/")
        answers = {"routable": good, "no addresses": empty,
                   "addr neg": Leaf(BoundName(good.value.id, Path(), ADDR_NEG)),
                   "half a union": Union.of(good, empty)}
        namer.answer("/name", Ok(answers[tree]))
        path = Path.read("/svc/name")
        worker.bind(DTAB, path)
        channel.deliver()
        assert bool(worker.resolutions(DTAB, path)) is tried
        assert worker.resolutions(DTAB, Path.read("/svc/never")) == []

    def test_the_router_says_what_the_control_tried(self) -> None:
        """HttpRouter._no_route asks a worker's interpreter for its resolutions, not delegate."""
        namer, _, channel, worker = fake_setup()
        path = Path.read("/svc/nothing")
        worker.bind(DTAB, path)
        channel.deliver()
        answered = []
        router = SimpleNamespace(interpreter=worker,
                                 _unroutable=lambda ex, message, reason: answered.append(reason))
        ex = SimpleNamespace(local_dtab=NO_OVERRIDE, dst=path)
        HttpRouter._no_route(router, ex, DTAB)
        assert answered == ["no route (resolutions considered: "
                            + ", ".join(worker.resolutions(DTAB, path)) + ")"]
        assert "/#/io.l5d.fake/nothing" in answered[0]


def parse_error(read, text: str) -> DtabParseError:
    with pytest.raises(DtabParseError) as raised:
        read(text)
    return raised.value


class BoundsAndErrorsTests:
    """Bounded caches; what cannot be bound is a Failed answer, never an exception."""

    def test_the_worker_cache_is_a_bounded_lru(self) -> None:
        """max_entries names at most; the least recently used goes, and is asked again."""
        namer, _, channel, _ = fake_setup()
        worker = channel.worker("small", max_entries=3)
        namer.set_rule(lambda n, p: Ok(n.bound(p.show(), "/", A)))
        paths = [Path.read(f"/svc/n{i}") for i in range(5)]
        for path in paths:
            worker.bind(DTAB, path)
        channel.deliver()
        assert len(worker) == 3 and worker.evictions >= 2
        worker.bind(DTAB, paths[2])  # the most recent three: 2, 3, 4
        assert worker.requests == 5
        assert worker.bind(DTAB, paths[0]) is PENDING and worker.requests == 6
        with pytest.raises(ValueError):
            RemoteInterpreter("rt", lambda m: None, max_entries=0)

    def test_waiting_requests_and_parsed_dtabs_are_bounded(self) -> None:
        """max_waiting keeps the newest requests; dtab_cache_size parsed dtabs at most."""
        namer, _, channel, worker = fake_setup(max_waiting=2, dtab_cache_size=2)
        namer.set_rule(lambda n, p: PENDING)
        for i in range(3):
            worker.bind(Dtab.read(f"/svc=>/#/io.l5d.fake/d{i}"), Path.read("/svc/x"))
        channel.deliver()
        assert channel.service.waiting == 2
        assert len(channel.service._dtabs) == 2
        namer.set_rule(None)
        channel.service.poll()
        assert len(channel.sent("worker", "bound")) == 2

    @pytest.mark.parametrize("label, dtab_text, path_text, error", [
        ("nope", DTAB.show(), "/svc/x", lambda: UnknownRouter("nope")),
        ("rt", "/svc=>", "/svc/x", lambda: parse_error(Dtab.read, "/svc=>")),
        ("rt", DTAB.show(), "svc/x", lambda: parse_error(Path.read, "svc/x")),
    ], ids=["unknown label", "bad dtab", "bad path"])
    def test_what_cannot_be_bound_is_answered_failed(self, label, dtab_text, path_text,
                                                      error) -> None:
        """An unknown router label or text that does not parse: a Failed state with the
        parser's message."""
        _, _, channel, worker = fake_setup()
        channel.service.handle("w1", ("bind", label, dtab_text, path_text))
        (_, _, message), = channel.log
        assert message[:4] == ("bound", label, dtab_text, path_text)
        worker.on_bound(dtab_text, path_text, message[4], message[5])
        state = worker._entries[(dtab_text, path_text)].state
        assert state == Failed(error()) and str(state.error) == str(error())

    def test_a_message_that_is_not_a_request_is_a_mistake(self) -> None:
        """The plumbing sends only bind requests here."""
        _, _, channel, _ = fake_setup()
        with pytest.raises(ValueError):
            channel.service.handle("w1", ("gen",))

    def test_an_answer_that_does_not_decode_is_a_failed_state(self) -> None:
        """The worker keeps going: the name fails (a 502) instead."""
        _, _, _, worker = fake_setup()
        worker.on_bound(DTAB.show(), "/svc/x", ("ok", "?"), ())
        assert isinstance(worker.bind(DTAB, Path.read("/svc/x")), Failed)


class PollTests:
    """The LoopingCall on the control's reactor."""

    def test_polls_every_interval(self) -> None:
        """A namer change reaches the workers at the next tick, not before."""
        namer, _, channel, worker = fake_setup()
        clock = Clock()
        channel.service.start(clock, interval=0.02)
        namer.answer("/x", Ok(NEG))
        clock.advance(0.019)
        assert channel.sent("worker") == []
        clock.advance(0.001)
        assert channel.sent("worker") == [("gen",)]
        clock.advance(0.02)
        assert channel.sent("worker") == [("gen",)]
        channel.service.stop()
        namer.answer("/y", Ok(NEG))
        clock.advance(1.0)
        assert channel.sent("worker") == [("gen",)]
        channel.service.stop()  # twice is fine

    def test_with_the_fs_namer(self, tmp_path: FsPath) -> None:
        """io.l5d.fs on a Clock: a file's change reaches the worker through gen and a
        re-request; a removed file is Neg with what was tried."""
        clock = Clock()
        (tmp_path / "hello").write_text("127.0.0.1 7777\n")
        namer = FsNamer(clock, str(tmp_path), Path.read("/#/io.l5d.fs"), poll_interval_s=1.0)
        namer.start()
        channel = Channel({"rt": Interpreter([(namer.prefix, namer)])})
        worker = channel.worker()
        channel.service.start(clock)
        dtab, path = Dtab.read("/svc=>/#/io.l5d.fs"), Path.read("/svc/hello")
        assert worker.bind(dtab, path) is PENDING
        channel.deliver()
        assert worker.bind(dtab, path).value.value.addr == AddrBound.of(
            Address("127.0.0.1", 7777))
        (tmp_path / "hello").write_text("127.0.0.1 7777\n127.0.0.1 7778\n")
        clock.advance(1.0)  # the namer's poll
        clock.advance(0.02)  # the service's
        channel.deliver()  # the gen, the worker's request again, its answer
        assert len(worker.bind(dtab, path).value.value.addr.addresses) == 2
        (tmp_path / "hello").unlink()
        clock.advance(1.0)
        clock.advance(0.02)
        channel.deliver()
        worker.bind(dtab, path)
        channel.deliver()
        assert worker.bind(dtab, path) == Ok(NEG)
        assert worker.resolutions(dtab, path) == ["/#/io.l5d.fs/hello"]
        channel.service.stop()
        namer.stop()


class AgreementTests:
    """Whatever the namers do, a worker ends up with what one process would bind."""

    def test_random_changes(self) -> None:
        """200 seeded steps of namer changes, polls, binds and deliveries: after each
        delivery, every name the worker has bound since the last gen is the control's."""
        rng = random.Random(20)
        namer, interpreter, channel, worker = fake_setup()
        names = [f"/n{i}" for i in range(6)]
        addresses = [Address(f"10.0.0.{i}", 80) for i in range(4)]
        answers = [PENDING, Ok(NEG), None, None, None]
        for _ in range(200):
            for _ in range(rng.randrange(3)):
                answer = rng.choice(answers)
                name = rng.choice(names)
                if answer is None:
                    answer = Ok(namer.bound(name, "/", *rng.sample(addresses, rng.randrange(3))))
                namer.answer(name, answer)
            channel.service.poll()
            channel.deliver()
            used = [Path.read("/svc" + n) for n in rng.sample(names, 3)]
            for path in used:
                worker.bind(DTAB, path)
            channel.deliver()
            for path in used:
                expected = interpreter.bind(DTAB, path)
                if expected is not PENDING:
                    assert worker.bind(DTAB, path) == expected
