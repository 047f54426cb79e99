"""Field checks for the ``__post_init__`` of config values built in code (pure).

The readers check the same ranges with the YAML position first; these make a
config object built by hand just as strict (``ValueError`` naming the field).
"""

from __future__ import annotations

import math

__all__ = ["check_int", "check_number", "check_optional_seconds", "check_seconds", "ms",
           "require"]


def require(ok: bool, name: str, value: object, what: str) -> None:
    if not ok:
        raise ValueError(f"{name}: expected {what}, got {value!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def check_int(name: str, value: object, minimum: int | None = None,
              maximum: int | None = None) -> None:
    require(_is_int(value), name, value, "an integer")
    if minimum is not None:
        require(value >= minimum, name, value, f"an integer >= {minimum}")  # type: ignore[operator]
    if maximum is not None:
        require(value <= maximum, name, value, f"an integer <= {maximum}")  # type: ignore[operator]


def check_number(name: str, value: object, minimum: float | None = None,
                 maximum: float | None = None, above: float | None = None) -> None:
    require(_is_number(value), name, value, "a number")
    if minimum is not None:
        require(value >= minimum, name, value, f"a number >= {minimum:g}")  # type: ignore[operator]
    if above is not None:
        require(value > above, name, value, f"a number > {above:g}")  # type: ignore[operator]
    if maximum is not None:
        require(value <= maximum, name, value, f"a number <= {maximum:g}")  # type: ignore[operator]


def check_seconds(name: str, value: object, *, positive: bool = False) -> None:
    """Float seconds, >= 0 (> 0 with ``positive``)."""
    ok = _is_number(value) and (value > 0 if positive else value >= 0)  # type: ignore[operator]
    require(ok, name, value, "seconds > 0" if positive else "seconds >= 0")


def check_optional_seconds(name: str, value: object) -> None:
    """``None`` (no limit) or seconds > 0."""
    require(value is None or (_is_number(value) and value > 0),  # type: ignore[operator]
            name, value, "None or seconds > 0")


def ms(seconds: float) -> int:
    """Seconds as the integer milliseconds of Linkerd's ``...Ms`` keys."""
    return round(seconds * 1000)
