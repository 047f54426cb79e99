"""Binding across processes: a worker's interpreter and the control's answering service.

A worker's routers bind names without running namers: :class:`RemoteInterpreter` stands in
for :class:`dtab.Interpreter` and asks the control, whose :class:`BindService` binds with the
router's real interpreter (so the Kubernetes API sees one watch per object per node, however
many workers there are). The conversation, each message a tuple of plain values::

    worker -> control   ("bind", label, dtab_text, path_text)
    control -> worker   ("bound", label, dtab_text, path_text, encoded_state, tried)
    control -> worker   ("gen",)

``encoded_state`` is :func:`l5d.workers.codec.encode_state`'s; ``tried`` is a tuple of the
paths the delegation tried (for the 502 no-route text), empty unless some pick in the bound
tree finds no address. A name the control has not bound yet (``PENDING``) gets no answer
until a namer change makes it bind; then it is answered by itself. ``("gen",)`` says that a
namer or transformer changed: the worker's cached states may be stale.

Namers are touched only by a worker's request: after a ``gen`` a worker asks again for the
names its routers use (while routing on the state it has), so names nobody uses are not
looked up, and idle Kubernetes watches expire as they do in one process.

Reactor-thread only, in both processes. The reactor is passed to :meth:`BindService.start`;
the rest is synchronous.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from typing import Any, Callable, Hashable, Mapping

from twisted.internet.task import LoopingCall

from dtab import (
    PENDING, AddrBound, BoundName, Dtab, Failed, Leaf, Ok, Path, State, Union,
)
from l5d.router.route import resolutions
from l5d.workers.codec import decode_state, encode_state

__all__ = ["DEFAULT_POLL_INTERVAL_S", "BindService", "RemoteInterpreter", "UnknownRouter",
           "routable"]

DEFAULT_POLL_INTERVAL_S = 0.02
_DTAB_TEXTS = 64  # distinct dtabs whose text a worker keeps (base, base ++ each override)


class _Status(enum.Enum):
    FRESH = "fresh"  # the control's latest answer, nothing asked since
    STALE = "stale"  # a namer changed since the answer: ask at the next bind
    ASKED = "asked"  # a request is out


class _Entry:
    __slots__ = ("state", "status", "tried", "used", "held")

    def __init__(self, state: State, status: _Status, tried: list[str]) -> None:
        self.state = state
        self.status = status
        self.tried = tried
        self.used = True  # bound since the last gen: asked again at once at the next
        self.held = False  # a bind answered PENDING instead of this (stale) state


class RemoteInterpreter:
    """A worker's interpreter: the control's answers, cached. Reactor-thread only.

    :param label: the router's label (which of the control's interpreters binds).
    :param send: sends one message to the control; must not raise.
    :param max_entries: bound of the cache (least recently used first out), so distinct
        ``l5d-dtab`` overrides cannot grow it without bound.

    :meth:`bind` never waits: it answers the cached state (asking the control again once when
    that state is stale) or, for a name it has never seen, asks and answers ``PENDING``; the
    router polls until the answer comes. :attr:`generation` goes up whenever an answer
    changes a cached state and whenever the control says its namers changed, so the
    router's binding cache and route memos re-bind.
    """

    def __init__(self, label: str, send: Callable[[tuple], None],
                 max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries: expected >= 1, got {max_entries!r}")
        self.label = label
        self._send = send
        self._max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._texts: dict[Dtab, str] = {}
        #: compared by equality with the value seen at the last bind (read-only to others)
        self.generation = 0
        self.requests = 0
        self.evictions = 0
        #: called (no arguments) after an answer changed a state: a router wakes the
        #: requests waiting for a binding at once instead of at their next poll
        self.wake: list[Callable[[], None]] = []

    def __len__(self) -> int:
        return len(self._entries)

    def bind(self, dtab: Dtab, path: Path) -> State:
        """The last state the control answered for ``path`` under ``dtab``, or ``PENDING``."""
        key = (self._dtab_text(dtab), path.show())
        entries = self._entries
        entry = entries.get(key)
        if entry is None:
            entries[key] = _Entry(PENDING, _Status.ASKED, [])
            self._evict()
            self._ask(key)
            return PENDING
        entries.move_to_end(key)
        entry.used = True
        if entry.status is _Status.FRESH:
            return entry.state
        if entry.status is _Status.STALE:
            entry.status = _Status.ASKED
            self._ask(key)
        state = entry.state
        # the namers changed since this answer: route on its endpoints while asking (they
        # are what one process had a moment ago), but never fail a request on an old Neg
        # or empty answer: wait for the new one (a pod may just have come to this node)
        if isinstance(state, Ok) and routable(state.value):
            return state
        entry.held = True
        return PENDING

    def resolutions(self, dtab: Dtab, path: Path) -> list[str]:
        """The paths the control's delegation tried for ``path`` (the no-route text)."""
        entry = self._entries.get((self._dtab_text(dtab), path.show()))
        return list(entry.tried) if entry is not None else []

    def on_bound(self, dtab_text: str, path_text: str, encoded_state: Any,
                 tried: Any = ()) -> None:
        """The control's answer: cached, and :attr:`generation` bumped when it changes the
        state (an answer that cannot be decoded is a ``Failed`` state)."""
        try:
            state = decode_state(encoded_state)
        except ValueError as e:
            state = Failed(e)
        key = (dtab_text, path_text)
        tried = [str(t) for t in tried]
        entry = self._entries.get(key)
        if entry is None:  # evicted while asked, or never asked: keep it all the same
            self._entries[key] = _Entry(state, _Status.FRESH, tried)
            self._evict()
            self.generation += 1
            for wake in self.wake:
                wake()
            return
        entry.status = _Status.FRESH  # answers come in order: this one is after any gen
        entry.tried = tried
        if entry.state != state or entry.held:
            entry.state = state
            entry.held = False
            self.generation += 1  # the router binds again (it may have cached PENDING)
        for wake in self.wake:
            wake()

    def on_generation(self) -> None:
        """The control's namers changed: a name bound since the previous change is asked
        again at once (its answer is usually in before the next request: a name in use
        routes on the new endpoints once the control answers, not one request later);
        the others are stale, asked again when next bound (so names no longer in use touch
        no namer, and their watches can expire). :attr:`generation` goes up."""
        for key, entry in self._entries.items():
            if entry.used and entry.status is _Status.FRESH:
                entry.status = _Status.ASKED
                self._ask(key)
            elif entry.status is not _Status.ASKED:
                entry.status = _Status.STALE
            entry.used = False
        self.generation += 1

    def _ask(self, key: tuple[str, str]) -> None:
        self.requests += 1
        self._send(("bind", self.label, key[0], key[1]))

    def _evict(self) -> None:
        entries = self._entries
        while len(entries) > self._max_entries:
            entries.popitem(last=False)
            self.evictions += 1

    def _dtab_text(self, dtab: Dtab) -> str:
        texts = self._texts
        text = texts.get(dtab)
        if text is None:
            if len(texts) >= _DTAB_TEXTS:
                texts.clear()
            text = texts[dtab] = dtab.show()
        return text


def routable(tree: Any) -> bool:
    """Whether every bound name a request may be sent to in ``tree`` has addresses (as
    :func:`l5d.router.route.pick_bound` picks: any branch of a union)."""
    if isinstance(tree, Leaf):
        bound = tree.value
        return (isinstance(bound, BoundName) and isinstance(bound.addr, AddrBound)
                and bool(bound.addr.addresses))
    if isinstance(tree, Union):
        return bool(tree.weighted) and all(routable(w.tree) for w in tree.weighted)
    return False


class UnknownRouter(LookupError):
    """A bind request names a router the control does not have."""

    def __init__(self, label: str) -> None:
        super().__init__(f"no router labelled {label!r}")


class BindService:
    """The control's side: binds what workers ask with the routers' real interpreters.
    Reactor-thread only.

    :param interpreters: router label -> its :class:`dtab.Interpreter`.
    :param send_to: ``(worker, message)``: sends one message to one worker; must not raise.
    :param dtab_cache_size: parsed dtabs kept by text (least recently used first out).
    :param max_waiting: requests kept while their names are ``PENDING`` (oldest first out;
        a dropped one is asked again by its worker after the next ``gen``).

    Workers are any hashable values the channel knows them by.
    """

    def __init__(self, interpreters: Mapping[str, Any],
                 send_to: Callable[[Any, tuple], None], dtab_cache_size: int = 1000,
                 max_waiting: int = 10_000) -> None:
        if dtab_cache_size < 1 or max_waiting < 1:
            raise ValueError(f"dtab_cache_size, max_waiting: expected >= 1, got "
                             f"{dtab_cache_size!r}, {max_waiting!r}")
        self._interpreters = interpreters
        self._send_to = send_to
        self._dtab_cache_size = dtab_cache_size
        self._max_waiting = max_waiting
        self._dtabs: OrderedDict[str, Dtab] = OrderedDict()
        self._waiting: OrderedDict[tuple[Hashable, str, str, str], None] = OrderedDict()
        self._workers: dict[Hashable, None] = {}
        self._seen = self._generations()
        self._loop: LoopingCall | None = None
        self.binds = 0

    # -- workers -------------------------------------------------------------
    def add_worker(self, worker: Hashable) -> None:
        """``worker`` gets every ``("gen",)`` from now on."""
        self._workers[worker] = None

    def remove_worker(self, worker: Hashable) -> None:
        """Forget ``worker`` and the requests it has waiting."""
        self._workers.pop(worker, None)
        for key in [k for k in self._waiting if k[0] == worker]:
            del self._waiting[key]

    @property
    def waiting(self) -> int:
        """Requests not answered yet (their names are ``PENDING``)."""
        return len(self._waiting)

    # -- requests ------------------------------------------------------------
    def handle(self, worker: Hashable, message: tuple) -> None:
        """A worker's ``("bind", label, dtab_text, path_text)``: answered now, or once the
        name stops being ``PENDING``; anything that goes wrong is a ``Failed`` answer.

        :raises ValueError: for a message that is not a bind request (a plumbing bug).
        """
        match message:
            case ("bind", str(label), str(dtab_text), str(path_text)):
                self._answer((worker, label, dtab_text, path_text))
            case _:
                raise ValueError(f"not a bind request: {message!r}")

    def poll(self) -> None:
        """When any interpreter's generation changed: ``("gen",)`` to every worker, then the
        waiting requests bound again (those no longer ``PENDING`` are answered)."""
        generations = self._generations()
        if generations == self._seen:
            return
        self._seen = generations
        for worker in list(self._workers):
            self._send_to(worker, ("gen",))
        waiting = list(self._waiting)
        self._waiting.clear()
        for key in waiting:
            self._answer(key)

    def start(self, reactor: Any, interval: float = DEFAULT_POLL_INTERVAL_S) -> None:
        """:meth:`poll` every ``interval`` seconds on ``reactor``."""
        if self._loop is None:
            self._loop = LoopingCall(self.poll)
            self._loop.clock = reactor
            self._loop.start(interval, now=False)

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    # -- internals -----------------------------------------------------------
    def _generations(self) -> tuple:
        # the interpreter itself too: a reload's new one may start at the same generation
        return tuple((label, id(i), i.generation) for label, i in self._interpreters.items())

    def _answer(self, key: tuple[Hashable, str, str, str]) -> None:
        worker, label, dtab_text, path_text = key
        state, tried = self._bind(label, dtab_text, path_text)
        if state is PENDING:
            self._waiting[key] = None
            self._waiting.move_to_end(key)
            while len(self._waiting) > self._max_waiting:
                self._waiting.popitem(last=False)
            return
        try:
            encoded = encode_state(state)
        except ValueError as e:  # a value the channel cannot carry: say so
            encoded, tried = encode_state(Failed(e)), ()
        self._send_to(worker, ("bound", label, dtab_text, path_text, encoded, tried))

    def _bind(self, label: str, dtab_text: str, path_text: str) -> tuple[State, tuple]:
        interpreter = self._interpreters.get(label)
        if interpreter is None:
            return Failed(UnknownRouter(label)), ()
        self.binds += 1
        try:
            dtab = self._dtab(dtab_text)
            path = Path.read(path_text)
            state = interpreter.bind(dtab, path)
            if isinstance(state, Ok) and not routable(state.value):
                delegated = interpreter.delegate(dtab, path)
                if isinstance(delegated, Ok):
                    return state, tuple(resolutions(delegated.value))
            return state, ()
        except Exception as e:  # bad text (DtabParseError), a transformer's bug: this name
            return Failed(e), ()

    def _dtab(self, text: str) -> Dtab:
        dtabs = self._dtabs
        dtab = dtabs.get(text)
        if dtab is None:
            dtab = Dtab.read(text)
            dtabs[text] = dtab
            if len(dtabs) > self._dtab_cache_size:
                dtabs.popitem(last=False)
        else:
            dtabs.move_to_end(text)
        return dtab
