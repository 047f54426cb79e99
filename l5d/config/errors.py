"""Configuration errors (pure).

Every mistake in a ``linkerd.yaml`` is one :class:`ConfigError`, a
``ValueError`` that knows where it happened::

    linkerd.yaml:7: routers[0].servers[1].port: expected an integer, got "41a0"

The cross-checks that look at the whole config get their own subclasses, named
as in Linkerd's ``io.buoyant.linkerd.config``: :class:`ConflictingPorts`,
:class:`ConflictingLabels`, :class:`NoRoutersSpecified`; namerd's
:class:`ConflictingNamers`; and :class:`DuplicateKind` for two plugin classes
that claim the same ``kind`` (Linkerd's ``Parser.ensureUniqueKinds``).
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConfigErrors",
    "ConflictingLabels",
    "ConflictingNamers",
    "ConflictingPorts",
    "DuplicateKind",
    "NoRoutersSpecified",
]


class ConfigError(ValueError):
    """A configuration that cannot be used, and where it went wrong.

    :param message: what is wrong, e.g. ``expected an integer, got "41a0"``.
    :param key_path: where, e.g. ``routers[0].servers[1].port``; empty for the
        document itself (a YAML syntax error, a top level that is not a mapping).
    :param line: 1-based line in ``source``; 0 when unknown (an error found in a
        config that was built in code rather than parsed).
    :param column: 1-based column; 0 when unknown.
    :param source: the file name, ``<stdin>``, or ``<config>``.

    ``str()`` is ``"{source}:{line}: {key_path}: {message}"``. The
    ``{key_path}: `` part is left out when the key path is empty and the
    ``:{line}`` part when the line is unknown (0), so an error never shows a
    made-up location.
    """

    def __init__(
        self,
        message: str,
        *,
        key_path: str = "",
        line: int = 0,
        column: int = 0,
        source: str = "<config>",
    ) -> None:
        self.message = message
        self.key_path = key_path
        self.line = line
        self.column = column
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        if self.key_path:
            return f"{where}: {self.key_path}: {self.message}"
        return f"{where}: {self.message}"

    def __str__(self) -> str:
        return self._render()

    def __reduce__(self):  # keep pickling (and copying) working with keyword args
        return (
            _rebuild,
            (type(self), self.message, self.key_path, self.line, self.column, self.source),
        )


def _rebuild(cls, message, key_path, line, column, source):
    return cls(message, key_path=key_path, line=line, column=column, source=source)


class ConfigErrors(ConfigError):
    """Several mistakes in one file, all reported at once, in file order.

    Behaves as its first error (``message``, ``key_path``, ``line``...) for code
    that handles one; ``errors`` holds them all and ``str()`` is one line each,
    the way a compiler lists them.

    :param errors: two or more errors, in the order they are shown.
    """

    def __init__(self, errors: "list[ConfigError] | tuple[ConfigError, ...]") -> None:
        self.errors = tuple(errors)
        first = self.errors[0]
        super().__init__(first.message, key_path=first.key_path, line=first.line,
                         column=first.column, source=first.source)

    def _render(self) -> str:
        return "\n".join(str(e) for e in getattr(self, "errors", ()))

    def __reduce__(self):
        return (ConfigErrors, (self.errors,))


def collected(errors: "list[ConfigError]") -> ConfigError:
    """The one error to raise for ``errors`` (non-empty), sorted into file order:
    the error itself when there is one (keeping its class), else :class:`ConfigErrors`."""
    ordered = sorted(errors, key=lambda e: (e.line or 1 << 30, e.column))
    return ordered[0] if len(ordered) == 1 else ConfigErrors(ordered)


class ConflictingPorts(ConfigError):
    """Two servers, or a server and the admin, would listen on the same ip:port."""


class ConflictingLabels(ConfigError):
    """Two routers share a label (the label defaults to the protocol name)."""


class NoRoutersSpecified(ConfigError):
    """The ``routers`` list is missing or empty."""


class ConflictingNamers(ConfigError):
    """Two namers have the same ``/#/`` prefix, or one prefix contains the other."""


class DuplicateKind(ConfigError):
    """Two plugin config classes of one family claim the same ``kind``."""
