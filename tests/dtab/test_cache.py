"""dtab.cache: BindingCache reuses bindings, follows namer generations, and stays bounded."""

from __future__ import annotations

import pytest

from dtab import NEG, PENDING, Address, BindingCache, Dtab, Interpreter, Ok, Path
from tests.helpers.fake_namer import FakeNamer

TTL_S = 240.0


class FakeNow:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class CountingInterpreter(Interpreter):
    """An Interpreter that counts real bindings."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.binds = 0

    def bind(self, dtab, path):
        self.binds += 1
        return super().bind(dtab, path)


@pytest.fixture
def setup():
    namer = FakeNamer(
        "/#/io.l5d.fake", lambda n, p: Ok(n.bound(p.show(), "/", Address("10.0.0.1", 80)))
    )
    interpreter = CountingInterpreter([(namer.prefix, namer)])
    now = FakeNow()
    cache = BindingCache(interpreter, now, max_size=3, idle_ttl_s=TTL_S)
    return cache, interpreter, namer, now


DTAB = Dtab.read("/svc=>/#/io.l5d.fake")


def P(text: str) -> Path:
    return Path.read(text)


class BindingCacheHitTests:
    def test_hit_returns_the_same_object(self, setup):
        """A second bind of the same (dtab, path) returns the very same state, without binding."""
        cache, interpreter, _, _ = setup
        first = cache.bind(DTAB, P("/svc/a"))
        second = cache.bind(DTAB, P("/svc/a"))
        assert second is first
        assert interpreter.binds == 1
        assert (cache.hits, cache.misses) == (1, 1)

    def test_equal_dtabs_share_an_entry(self, setup):
        """The key is by value: a dtab parsed again from other text is the same key."""
        cache, interpreter, _, _ = setup
        first = cache.bind(DTAB, P("/svc/a"))
        assert cache.bind(Dtab.read(" /svc => /#/io.l5d.fake ; "), P("/svc/a")) is first
        assert interpreter.binds == 1

    def test_different_dtab_or_path_is_a_miss(self, setup):
        """Another path, or the same path under another dtab, is bound separately."""
        cache, interpreter, _, _ = setup
        cache.bind(DTAB, P("/svc/a"))
        cache.bind(DTAB, P("/svc/b"))
        cache.bind(DTAB + Dtab.read("/svc/a=>/$/inet/1"), P("/svc/a"))
        assert interpreter.binds == 3 and len(cache) == 3

    def test_pending_and_neg_are_cached_too(self, setup):
        """Every state is cached; only a generation change makes the cache ask again."""
        cache, interpreter, namer, _ = setup
        namer.set_rule(lambda n, p: PENDING)
        assert cache.bind(DTAB, P("/svc/a")) is PENDING
        assert cache.bind(DTAB, P("/svc/a")) is PENDING
        assert cache.bind(Dtab(), P("/nothing")) == Ok(NEG)
        assert interpreter.binds == 2


class BindingCacheGenerationTests:
    def test_generation_change_rebinds(self, setup):
        """After a namer generation bump the next bind is redone and follows the new answer."""
        cache, interpreter, namer, _ = setup
        before = cache.bind(DTAB, P("/svc/a"))
        namer.answer("/a", Ok(namer.bound("/a", "/", Address("10.0.0.9", 80))))
        after = cache.bind(DTAB, P("/svc/a"))
        assert after is not before
        assert after == Ok(namer.bound("/a", "/", Address("10.0.0.9", 80)))
        assert interpreter.binds == 2
        assert cache.bind(DTAB, P("/svc/a")) is after

    def test_generation_change_affects_every_entry(self, setup):
        """A generation bump invalidates entries for other paths as well (the cache cannot tell)."""
        cache, interpreter, namer, _ = setup
        cache.bind(DTAB, P("/svc/a"))
        cache.bind(DTAB, P("/svc/b"))
        namer.answer("/zzz", Ok(NEG))
        cache.bind(DTAB, P("/svc/b"))
        assert interpreter.binds == 3

    def test_pending_then_bound(self, setup):
        """A name pending before the namer's first sync is bound once the namer has synced."""
        cache, _, namer, _ = setup
        namer.set_rule(lambda n, p: PENDING)
        assert cache.bind(DTAB, P("/svc/a")) is PENDING
        namer.set_rule(lambda n, p: Ok(n.bound(p.show(), "/", Address("10.0.0.1", 80))))
        assert cache.bind(DTAB, P("/svc/a")) == Ok(namer.bound("/a", "/", Address("10.0.0.1", 80)))


class BindingCacheBoundsTests:
    def test_lru_bound(self, setup):
        """At most max_size entries stay; the least recently used goes first."""
        cache, interpreter, _, _ = setup
        a = cache.bind(DTAB, P("/svc/a"))
        cache.bind(DTAB, P("/svc/b"))
        cache.bind(DTAB, P("/svc/c"))
        assert cache.bind(DTAB, P("/svc/a")) is a  # a is now the most recent
        cache.bind(DTAB, P("/svc/d"))  # evicts b
        assert len(cache) == 3 and cache.evictions == 1
        assert cache.bind(DTAB, P("/svc/a")) is a
        binds = interpreter.binds
        cache.bind(DTAB, P("/svc/b"))
        assert interpreter.binds == binds + 1

    def test_idle_entry_kept_just_before_the_ttl(self, setup):
        """An entry idle for just under the TTL is kept and is still a hit."""
        cache, interpreter, _, now = setup
        a = cache.bind(DTAB, P("/svc/a"))
        now.t += TTL_S - 0.001
        assert cache.expire() == 0 and len(cache) == 1
        assert cache.bind(DTAB, P("/svc/a")) is a
        assert interpreter.binds == 1

    def test_idle_entry_dropped_at_the_ttl(self, setup):
        """An entry idle for exactly the TTL is dropped by expire()."""
        cache, _, _, now = setup
        cache.bind(DTAB, P("/svc/a"))
        now.t += TTL_S
        assert cache.expire() == 1 and len(cache) == 0

    def test_idle_entry_is_not_a_hit_at_the_ttl(self, setup):
        """Even before anything expires it, an entry idle for the TTL is bound again."""
        cache, interpreter, _, now = setup
        a = cache.bind(DTAB, P("/svc/a"))
        now.t += TTL_S
        again = cache.bind(DTAB, P("/svc/a"))
        assert again is not a and again == a
        assert interpreter.binds == 2

    def test_use_refreshes_idleness(self, setup):
        """A hit restarts the idle clock: only entries unused for the TTL go."""
        cache, _, _, now = setup
        a = cache.bind(DTAB, P("/svc/a"))
        cache.bind(DTAB, P("/svc/b"))
        now.t += TTL_S - 1
        assert cache.bind(DTAB, P("/svc/a")) is a
        now.t += 1
        assert cache.expire() == 1  # b, idle for the TTL; a was used 1 s ago
        assert cache.bind(DTAB, P("/svc/a")) is a

    def test_misses_expire_idle_entries(self, setup):
        """Binding a new name also drops idle entries, so memory stays bounded without expire()."""
        cache, _, _, now = setup
        cache.bind(DTAB, P("/svc/a"))
        now.t += TTL_S
        cache.bind(DTAB, P("/svc/b"))
        assert len(cache) == 1

    def test_clear(self, setup):
        """``clear`` forgets everything."""
        cache, interpreter, _, _ = setup
        cache.bind(DTAB, P("/svc/a"))
        cache.clear()
        assert len(cache) == 0
        cache.bind(DTAB, P("/svc/a"))
        assert interpreter.binds == 2

    @pytest.mark.parametrize(
        "kwargs,message",
        [
            ({"max_size": 0}, "max_size: expected >= 1, got 0"),
            ({"idle_ttl_s": 0}, "idle_ttl_s: expected > 0, got 0"),
        ],
        ids=["max-size", "ttl"],
    )
    def test_validates_limits(self, kwargs, message):
        """Limits that would make the cache useless are rejected, naming the parameter."""
        with pytest.raises(ValueError, match=message):
            BindingCache(Interpreter(), FakeNow(), **kwargs)
