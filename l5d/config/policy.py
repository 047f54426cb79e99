"""Per-prefix policy, the frame shared by ``client`` and ``service`` (pure).

Both objects come in Linkerd's two kinds (``linkerd/core/.../{Client,Svc}.scala``):

* ``io.l5d.global`` (the default; ``kind`` may be left out): the parameters are
  written on the object itself and apply to every client (service). It is the
  same as one ``io.l5d.static`` entry with prefix ``/``.
* ``io.l5d.static``: ``configs`` is a list of entries, each a ``prefix`` pattern
  (:mod:`l5d.router.pathmatch`) plus parameters, matched against a client's bound
  id (``/#/io.l5d.k8s/default/http/hello``) or a service's name (``/svc/hello``).

Resolution (``params_for(name)``, Linkerd's ``PerClientParams.paramsFor``): start
from the defaults, then for every entry whose prefix matches, **in file order**,
each parameter block the entry writes replaces the value so far **wholesale**
(a later ``hostConnectionPool: {maxSize: 10}`` resets ``minSize`` to its
default; it is not merged with an earlier block). Blocks an entry leaves out
keep the value so far, so an entry that matches but writes nothing changes
nothing, and a name no entry matches gets the defaults. ``service.retries``
is two parameters, ``budget`` and ``backoff``, replaced separately.

The entries' patterns are compiled when the config is built, so ``params_for``
is a loop over a few entries; it runs once per new client or service, never per
request.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, TypeVar

from dtab import Path
from l5d.config._fields import REQUIRED, Fields
from l5d.router import pathmatch
from l5d.router.pathmatch import PathMatcher

__all__ = ["DEFAULT_GLOBAL_KIND", "POLICY_KINDS", "PolicyConfig", "STATIC_KIND",
           "compile_prefix", "read_policy", "read_prefix"]

#: ``service.kind`` / ``client.kind``: the same parameters for every service / client.
DEFAULT_GLOBAL_KIND = "io.l5d.global"
#: ``service.kind`` / ``client.kind``: per-prefix ``configs``.
STATIC_KIND = "io.l5d.static"
POLICY_KINDS = (DEFAULT_GLOBAL_KIND, STATIC_KIND)

E = TypeVar("E")
C = TypeVar("C")


def compile_prefix(pattern: str) -> PathMatcher:
    """An entry's ``prefix`` (``ValueError`` naming the field when it cannot match anything)."""
    try:
        return pathmatch.compile(pattern)
    except ValueError as err:
        raise ValueError(f"prefix: {err}") from None


def read_prefix(f: Fields) -> str:
    """The required ``prefix`` of a static entry, checked to compile."""
    pattern = f.string("prefix")
    try:
        pathmatch.compile(pattern)
    except ValueError as err:
        raise f.error(str(err), "prefix") from None
    return pattern


class PolicyConfig:
    """Base of the ``client`` and ``service`` configs of both kinds.

    A subclass provides ``entries`` (its entries in file order, each with a
    ``matcher`` and an ``apply(params) -> params``) and ``DEFAULTS`` (the params
    of a name that nothing matches).
    """

    __slots__ = ()
    kind: ClassVar[str]
    DEFAULTS: ClassVar[Any]

    @property
    def entries(self) -> tuple[Any, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    def params_for(self, name: Path) -> Any:
        """Every parameter for ``name``, defaults filled in (see the module docstring)."""
        params = self.DEFAULTS
        for entry in self.entries:
            if entry.matcher.match(name) is not None:
                params = entry.apply(params)
        return params


def read_policy(f: Fields, key: str, keys: tuple[str, ...],
                read_entry: Callable[[Fields, bool], E],
                make_global: Callable[[E], C], make_static: Callable[[tuple[E, ...]], C],
                default: Callable[[], C]) -> C:
    """``client`` / ``service`` of a router: either kind, or ``default()`` when left out.

    :param keys: the parameter keys an entry may write.
    :param read_entry: reads one entry's parameters (and its ``prefix`` when the flag is true).
    """
    sub = f.mapping(key)
    if sub is None:
        return default()
    kind = sub.string("kind", DEFAULT_GLOBAL_KIND)
    if kind == DEFAULT_GLOBAL_KIND:
        sub.expect("kind", *keys)
        return make_global(read_entry(sub, False))
    if kind == STATIC_KIND:
        sub.expect("kind", "configs")
        items = sub.sequence("configs", REQUIRED)
        ctx = sub.ctx
        entries = (ctx.attempt(lambda: read_entry(ctx.fields(node, path), True), None)
                   for node, path in items)
        return make_static(tuple(e for e in entries if e is not None))
    sub.ignore_rest()
    known = ", ".join(POLICY_KINDS)
    raise sub.error(f'unknown kind "{kind}" (known kinds: {known})', "kind")
