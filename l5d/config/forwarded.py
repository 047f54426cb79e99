"""``addForwardedHeader`` of a server: an RFC 7239 ``Forwarded`` header (pure).

Linkerd's keys: ``by`` and ``for``, each a labeler ``{kind: ...}`` of the kinds
below (both default to ``requestRandom``). ``ip`` and ``ip:port`` name the
address (``by``: where the request came in, ``for``: who sent it);
``connectionRandom`` and ``requestRandom`` are obfuscated ``_`` + 6 random
letters and digits, made once per connection or per request (RFC 7239 6.3);
``router`` is ``_`` + the router's label; ``static`` is ``_`` + ``label`` (kept
as it is when it starts with ``_``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from l5d.config._fields import Fields

__all__ = ["DEFAULT_LABELER", "FORWARDED_KEYS", "ForwardedHeaderConfig", "LABELER_KINDS",
           "LabelerConfig", "read_forwarded"]

LABELER_KINDS = ("ip", "ip:port", "connectionRandom", "requestRandom", "router", "static")
FORWARDED_KEYS = ("by", "for")


@dataclass(frozen=True, slots=True)
class LabelerConfig:
    """One labeler; ``label`` only (and required) for ``static``."""

    kind: str = "requestRandom"
    label: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in LABELER_KINDS:
            raise ValueError(f"kind: expected one of {', '.join(LABELER_KINDS)}, "
                             f"got {self.kind!r}")
        if (self.kind == "static") != (self.label is not None):
            raise ValueError("label: expected for kind static only, got "
                             f"{self.label!r} for {self.kind}")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.label is not None:
            out["label"] = self.label
        return out


DEFAULT_LABELER = LabelerConfig()


@dataclass(frozen=True, slots=True)
class ForwardedHeaderConfig:
    """:param by: the labeler of the ``by=`` element. :param for_: of ``for=``."""

    by: LabelerConfig = DEFAULT_LABELER
    for_: LabelerConfig = DEFAULT_LABELER

    def to_json(self) -> dict[str, Any]:
        return {"by": self.by.to_json(), "for": self.for_.to_json()}


def _labeler(f: Fields, key: str) -> LabelerConfig:
    sub = f.mapping(key)
    if sub is None:
        return DEFAULT_LABELER
    kind = sub.string("kind")
    if kind not in LABELER_KINDS:
        sub.ignore_rest()
        raise sub.error(f'unknown kind "{kind}" (known kinds: {", ".join(LABELER_KINDS)})',
                        "kind")
    if kind == "static":
        sub.expect("kind", "label")
        return LabelerConfig(kind, sub.string("label"))
    sub.expect("kind")
    return LabelerConfig(kind)


def read_forwarded(f: Fields, key: str = "addForwardedHeader") -> ForwardedHeaderConfig | None:
    """The server's ``addForwardedHeader`` block (``{}`` turns it on with the defaults),
    or ``None`` when left out."""
    if not f.written(key):
        f.raw(key)  # a known key
        return None
    sub = f.mapping(key)
    if sub is None:  # written as null: on, with the defaults
        return ForwardedHeaderConfig()
    sub.expect(*FORWARDED_KEYS)
    return ForwardedHeaderConfig(by=_labeler(sub, "by"), for_=_labeler(sub, "for"))
