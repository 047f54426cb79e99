"""l5d.router.identifier: request -> logical name, Linkerd's identifiers (reference 1.4), as
tables."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from dtab import Path
from l5d.router.identifier import (
    Identified,
    RequestView,
    Unidentified,
    compose,
    header_path,
    header_token,
    method_and_host,
    path_segments,
    static,
)

SVC = Path.read("/svc")


def req(
    uri: str = "/",
    host: str | None = "web",
    method: str = "GET",
    version: str = "1.1",
    **headers: str,
) -> RequestView:
    hs: list[tuple[bytes, bytes]] = []
    if host is not None:
        hs.append((b"Host", host.encode("latin-1")))
    for name, value in headers.items():
        hs.append((name.replace("_", "-").encode(), value.encode("latin-1")))
    return RequestView(method, uri, version, tuple(hs))


class Case(NamedTuple):
    name: str
    request: RequestView
    expected: str  # a path (identified, and the uri unchanged) or "!<reason>"
    uri: str | None = None  # the forwarded uri when it changes


def check(identifier, case: Case) -> None:
    result = identifier(case.request)
    if case.expected.startswith("!"):
        assert result == Unidentified(case.expected[1:]), case.name
    else:
        assert isinstance(result, Identified), (case.name, result)
        assert result.dst == Path.read(case.expected), case.name
        assert result.uri == (case.uri if case.uri is not None else case.request.uri), case.name


class HeaderTokenTests:
    """io.l5d.header.token: the raw Host value as one segment, not lower-cased, port kept."""

    CASES = [
        Case("host", req(host="web"), "/svc/web"),
        Case("case-kept", req(host="Web.Example"), "/svc/Web.Example"),
        Case("port-kept", req(host="hello:7777"), "/svc/hello:7777"),
        Case("missing", req(host=None), "!Host header is absent"),
        Case("empty", req(host=""), "!Host header is absent"),
        Case("uri-untouched", req("/a/b?c=1", host="web"), "/svc/web"),
    ]

    @pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
    def test_identify(self, case: Case) -> None:
        check(header_token(SVC), case)

    def test_other_header(self) -> None:
        """``header: x-service`` reads that header instead (case-insensitively)."""
        ident = header_token(SVC, "X-Service")
        check(ident, Case("other", req(host="web", x_service="api"), "/svc/api"))
        check(ident, Case("absent", req(host="web"), "!X-Service header is absent"))


class HeaderPathTests:
    """io.l5d.header: the header value read as a path."""

    CASES = [
        Case("path", req(l5d_name="/a/b"), "/svc/a/b"),
        Case("root", req(l5d_name="/"), "/svc"),
        Case("absent", req(), "!l5d-name header is absent"),
        Case("not-a-path", req(l5d_name="a/b"), "!"),
    ]

    @pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
    def test_identify(self, case: Case) -> None:
        result = header_path(SVC)(case.request)
        if case.name == "not-a-path":
            assert isinstance(result, Unidentified)
            assert result.reason.startswith("l5d-name header is not a path: ")
            return
        check(header_path(SVC), case)


class MethodAndHostTests:
    """io.l5d.methodAndHost: /1.1/<METHOD>/<host lower-cased>, /1.0/<METHOD> for HTTP/1.0."""

    CASES = [
        Case("get", req(host="Web"), "/svc/1.1/GET/web"),
        Case("post-port", req(host="web:80", method="POST"), "/svc/1.1/POST/web:80"),
        Case("http10", req(host="web", version="1.0"), "/svc/1.0/GET"),
        Case("http10-no-host", req(host=None, version="1.0"), "/svc/1.0/GET"),
        Case("no-host", req(host=None), "!HTTP/1.1 request missing hostname"),
    ]

    @pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
    def test_identify(self, case: Case) -> None:
        check(method_and_host(SVC), case)

    URI_CASES = [
        Case("uri", req("/a/b?q=1", host="web"), "/svc/1.1/GET/web/a/b"),
        Case("root", req("/", host="web"), "/svc/1.1/GET/web"),
        Case("empty-segments", req("//a//b/", host="web"), "/svc/1.1/GET/web/a/b"),
        Case("fragment", req("/a#frag", host="web"), "/svc/1.1/GET/web/a"),
    ]

    @pytest.mark.parametrize("case", URI_CASES, ids=[c.name for c in URI_CASES])
    def test_http_uri_in_dst(self, case: Case) -> None:
        """httpUriInDst appends the path segments; the forwarded uri does not change."""
        check(method_and_host(SVC, http_uri_in_dst=True), case)


class PathSegmentsTests:
    """io.l5d.path: the first N path segments; ``consume`` strips them from the forwarded uri."""

    CASES = [
        (1, False, Case("one", req("/users/42"), "/svc/users")),
        (2, False, Case("two", req("/users/42/x"), "/svc/users/42")),
        (1, False, Case("query-ignored", req("/a?b=/c"), "/svc/a")),
        (2, False, Case("too-few", req("/a"), "!not enough segments in path")),
        (1, False, Case("root", req("/"), "!not enough segments in path")),
        (1, True, Case("consume", req("/users/42?x=1"), "/svc/users", "/42?x=1")),
        (2, True, Case("consume-all", req("/a/b"), "/svc/a/b", "/")),
        (2, True, Case("consume-all-query", req("/a/b?q"), "/svc/a/b", "/?q")),
        (1, True, Case("consume-trailing-slash", req("/a/"), "/svc/a", "/")),
    ]

    @pytest.mark.parametrize("segments, consume, case", CASES, ids=[c[2].name for c in CASES])
    def test_identify(self, segments: int, consume: bool, case: Case) -> None:
        check(path_segments(SVC, segments, consume), case)


class StaticAndComposeTests:
    """io.l5d.static, and a list of identifiers tried in order."""

    def test_static(self) -> None:
        check(
            static(SVC, Path.read("/fixed/name")), Case("static", req(host=None), "/svc/fixed/name")
        )

    CASES = [
        Case("first-wins", req("/a", host="web", l5d_name="/n"), "/svc/n"),
        Case("falls-through", req("/a", host="web"), "/svc/web"),
        Case("last-reason", req("/a", host=None), "!Host header is absent"),
    ]

    @pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
    def test_compose(self, case: Case) -> None:
        """The first Identified wins; otherwise the last identifier's reason."""
        check(compose([header_path(SVC), header_token(SVC)]), case)

    def test_compose_of_one_is_itself(self) -> None:
        ident = header_token(SVC)
        assert compose([ident]) is ident


class RequestViewTests:
    """RequestView.header: the first value, case-insensitive."""

    def test_header(self) -> None:
        view = RequestView("GET", "/", "1.1", ((b"X-A", b"1"), (b"x-a", b"2")))
        assert view.header(b"x-a") == b"1"
        assert view.header(b"x-b") is None
