"""io.l5d.header.path: the request path (or a header's) as the name, all or N segments."""

from __future__ import annotations

import pytest

from l5d.config import HeaderPathIdentifierConfig, parse_config
from l5d.router.build import build_identifier
from l5d.router.identifier import header_path_segments
from tests.l5d.router.test_identifier import SVC, Case, check, req

CASES = [
    (":path", None, Case("all", req("/users/42?x=1"), "/svc/users/42")),
    (":path", 1, Case("one", req("/helloworld.Greeter/SayHello"), "/svc/helloworld.Greeter")),
    (":path", 2, Case("two", req("/a/b/c"), "/svc/a/b")),
    (":path", 2, Case("too-few", req("/a"), "!not enough segments in path")),
    (":path", None, Case("root", req("/"), "/svc")),
    ("x-path", None, Case("header", req("/ignored", x_path="/from/header"), "/svc/from/header")),
    ("x-path", 1, Case("header-one", req("/", x_path="/from/header"), "/svc/from")),
    ("x-path", None, Case("header-absent", req("/a"), "!x-path header is absent")),
]


class HeaderPathSegmentsTests:
    """The URI is forwarded unchanged; the query never joins the name."""

    @pytest.mark.parametrize("header, segments, case", CASES, ids=[c[2].name for c in CASES])
    def test_identify(self, header: str, segments: int | None, case: Case) -> None:
        check(header_path_segments(SVC, header, segments), case)


class HeaderPathConfigTests:
    """The config keys, their defaults, and what the router builds from them."""

    def test_defaults_and_keys(self) -> None:
        """``header`` defaults to ``:path``; ``segments`` to all of them."""
        config = parse_config(
            "routers:\n- protocol: http\n  servers: [{}]\n"
            "  identifier:\n  - kind: io.l5d.header.path\n"
            "  - {kind: io.l5d.header.path, header: x-path, segments: 1}\n")
        first, second = config.routers[0].identifiers
        assert first == HeaderPathIdentifierConfig()
        assert second == HeaderPathIdentifierConfig(header="x-path", segments=1)
        assert first.to_json() == {"kind": "io.l5d.header.path", "header": ":path"}
        identify = build_identifier(config.routers[0].identifiers, SVC)
        check(identify, Case("built", req("/a/b"), "/svc/a/b"))

    @pytest.mark.parametrize("segments", [0, -1, True, "2"])
    def test_bad_segments(self, segments: object) -> None:
        """``segments`` is an integer >= 1."""
        with pytest.raises(ValueError):
            HeaderPathIdentifierConfig(segments=segments)  # type: ignore[arg-type]
