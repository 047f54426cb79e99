"""Linkerd's HttpEndToEndTest, against a real l5d with real clients (reference 3.5 rows 75-80).

Every row is driven twice where it makes sense: with ``curl`` (a subprocess
with ``http_proxy`` set, so it sends absolute-form requests) and with Python
``requests`` using ``proxies=``. The backends are :class:`EchoBackend`\\ s that
record every request they were sent, so the assertions are on the headers
the application actually saw (reference 4.3) and on the error responses
l5d generated (reference 4.4).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from urllib.parse import unquote_plus

import pytest
import requests

from tests.helpers.backends import EchoBackend
from tests.helpers.l5d_process import ROOT, L5d
from tests.helpers.raw_http import RawClient, request

TIMEOUT_S = 20

#: What the application receives from l5d with the default config (reference 4.3, LE).
DEFAULT_L5D_HEADERS = {"l5d-dst-service", "l5d-dst-client", "l5d-reqid", "l5d-ctx-trace"}


def curl(proxy: str, url: str, *headers: str) -> tuple[int, dict[str, str], bytes]:
    """GET ``url`` with curl through ``http_proxy``; (status, lower-cased headers, body)."""
    args = ["curl", "-s", "-i", "--max-time", str(TIMEOUT_S)]
    for h in headers:
        args += ["-H", h]
    out = subprocess.run(
        args + [url],
        capture_output=True,
        timeout=TIMEOUT_S + 5,
        check=True,
        env=dict(os.environ, http_proxy=f"http://{proxy}", no_proxy=""),
    )
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        hdrs[name.strip().lower()] = value.strip()
    return status, hdrs, body


def get(proxy: str, url: str, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.get(
        url, headers=headers or {}, proxies={"http": f"http://{proxy}"}, timeout=TIMEOUT_S
    )


def seen_headers(backend: EchoBackend, index: int = -1) -> dict[str, str]:
    """The last (or ``index``-th) request's headers as the backend saw them, names lower-cased."""
    return {n.lower(): v for n, v in backend.requests[index]["headers"]}


def l5d_headers(headers: dict[str, str]) -> set[str]:
    return {n for n in headers if n.startswith("l5d-")}


def assert_trace_headers(headers: dict[str, str]) -> None:
    assert re.fullmatch(r"[0-9a-f]{16}", headers["l5d-reqid"]), headers["l5d-reqid"]
    raw = base64.b64decode(headers["l5d-ctx-trace"], validate=True)
    assert len(raw) == 32, raw
    # span, parent, trace id, flags: the request id is the trace id
    assert raw[16:24].hex() == headers["l5d-reqid"]


def assert_l5d_error(status: int, headers: dict[str, str], body: bytes, expected: int) -> str:
    """A Linkerd error response: the status, text/plain, and l5d-err == the body, form-encoded."""
    assert status == expected, (status, body)
    assert headers["content-type"] == "text/plain"
    text = body.decode("utf-8")
    assert unquote_plus(headers["l5d-err"], encoding="latin-1") == text
    assert " " not in headers["l5d-err"] and "\n" not in headers["l5d-err"]
    return text


@pytest.fixture(scope="module")
def cat_and_dog():
    """Row 75's router: two backends and a dtab naming them through /p."""
    with EchoBackend() as cat, EchoBackend() as dog:
        dtab = (
            f"/p/cat=>/$/inet/127.1/{cat.port};/p/dog=>/$/inet/127.1/{dog.port};"
            "/svc/felix=>/p/cat;/svc/clifford=>/p/dog"
        )
        with L5d(dtab) as l5d:
            yield l5d, cat, dog


class RoutingByHostTests:
    """Rows 75-77: Host picks the service; unknown and missing names get Linkerd's errors."""

    @pytest.mark.parametrize("client", ["curl", "requests"])
    def test_felix_is_served_by_cat_with_the_dst_headers(self, cat_and_dog, client: str) -> None:
        """Row 75: Host felix -> 200 from cat; service /svc/felix, client /$/inet/127.1/C, no
        residual."""
        l5d, cat, dog = cat_and_dog
        before_dog = len(dog.requests)
        if client == "curl":
            status, _, body = curl(l5d.proxy, "http://felix/")
        else:
            rsp = get(l5d.proxy, "http://felix/")
            status, body = rsp.status_code, rsp.content
        assert status == 200
        assert [tuple(h) for h in json.loads(body)["headers"]] == cat.requests[-1]["headers"]
        assert len(dog.requests) == before_dog
        seen = seen_headers(cat)
        assert seen["host"] == "felix"
        assert seen["l5d-dst-service"] == "/svc/felix"
        assert seen["l5d-dst-client"] == f"/$/inet/127.1/{cat.port}"
        assert "l5d-dst-residual" not in seen  # the residual is / : the header is left out
        assert seen["via"] == "1.1 linkerd"
        assert l5d_headers(seen) == DEFAULT_L5D_HEADERS
        assert_trace_headers(seen)

    def test_clifford_is_served_by_dog(self, cat_and_dog) -> None:
        """Row 75's other name goes to the other backend."""
        l5d, cat, dog = cat_and_dog
        rsp = get(l5d.proxy, "http://clifford/bone")
        assert rsp.status_code == 200
        assert dog.requests[-1]["target"] == "/bone"
        assert seen_headers(dog)["l5d-dst-client"] == f"/$/inet/127.1/{dog.port}"

    @pytest.mark.parametrize("client", ["curl", "requests"])
    def test_an_unknown_name_is_a_502_with_l5d_err(self, cat_and_dog, client: str) -> None:
        """Row 76: Host ralph-machio binds to nothing -> 502, l5d-err is the URL-encoded body."""
        l5d, cat, dog = cat_and_dog
        sent = len(cat.requests) + len(dog.requests)
        if client == "curl":
            status, headers, body = curl(l5d.proxy, "http://ralph-machio/")
        else:
            rsp = get(l5d.proxy, "http://ralph-machio/")
            status, headers, body = (
                rsp.status_code,
                {k.lower(): v for k, v in rsp.headers.items()},
                rsp.content,
            )
        text = assert_l5d_error(status, headers, body, 502)
        assert text.startswith("Unable to route request!\n\nservice name: /svc/ralph-machio\n")
        assert "  /svc/felix => /p/cat\n" in text  # the base dtab is listed
        assert "%0A" in headers["l5d-err"] and "+" in headers["l5d-err"]
        assert len(cat.requests) + len(dog.requests) == sent

    def test_an_empty_host_is_a_400_with_l5d_err(self, cat_and_dog) -> None:
        """Row 77: an empty Host cannot be identified -> 400 Unknown destination."""
        l5d, cat, dog = cat_and_dog
        with RawClient(l5d.port) as c:
            c.send(request("GET", "/", [("Host", "")]))
            rsp = c.read_response()
        headers = {n.decode().lower(): v.decode() for n, v in rsp.headers}
        text = assert_l5d_error(rsp.status, headers, rsp.body, 400)
        assert text.startswith('Unknown destination: Request("GET /", from /127.0.0.1:')
        assert text.endswith(" / Host header is absent")

    def test_an_http10_request_without_host_is_a_400(self, cat_and_dog) -> None:
        """Row 77 over HTTP/1.0 (where Host is optional): still unidentified, still 400."""
        l5d, cat, dog = cat_and_dog
        with RawClient(l5d.port) as c:
            c.send(request("GET", "/", [], version="HTTP/1.0"))
            rsp = c.read_response()
        headers = {n.decode().lower(): v.decode() for n, v in rsp.headers}
        assert_l5d_error(rsp.status, headers, rsp.body, 400)

    def test_incoming_trace_context_is_continued(self, cat_and_dog) -> None:
        """l5d-ctx-trace from the client: same trace id, the client's span becomes the parent."""
        l5d, cat, dog = cat_and_dog
        span, trace = 0x1111111111111111, 0x2222222222222222
        incoming = base64.b64encode(
            span.to_bytes(8, "big")
            + (0).to_bytes(8, "big")
            + trace.to_bytes(8, "big")
            + (6).to_bytes(8, "big")
        ).decode()
        assert get(l5d.proxy, "http://felix/", {"l5d-ctx-trace": incoming}).status_code == 200
        seen = seen_headers(cat)
        raw = base64.b64decode(seen["l5d-ctx-trace"])
        assert raw[8:16] == span.to_bytes(8, "big")
        assert raw[16:24] == trace.to_bytes(8, "big")
        assert raw[24:32] == (6).to_bytes(8, "big")
        assert raw[0:8] != span.to_bytes(8, "big")
        assert seen["l5d-reqid"] == "2222222222222222"

    def test_each_request_gets_a_new_trace(self, cat_and_dog) -> None:
        """Without an incoming trace every request is a new root (distinct request ids)."""
        l5d, cat, dog = cat_and_dog
        ids = set()
        for _ in range(5):
            assert get(l5d.proxy, "http://felix/").status_code == 200
            ids.add(seen_headers(cat)["l5d-reqid"])
        assert len(ids) == 5

    def test_foreign_context_headers_pass_through(self, cat_and_dog) -> None:
        """Other l5d-ctx-* headers reach the application untouched."""
        l5d, cat, dog = cat_and_dog
        assert get(l5d.proxy, "http://felix/", {"l5d-ctx-foo": "bar baz"}).status_code == 200
        seen = seen_headers(cat)
        assert seen["l5d-ctx-foo"] == "bar baz"
        assert l5d_headers(seen) == DEFAULT_L5D_HEADERS | {"l5d-ctx-foo"}

    def test_incoming_dst_headers_are_replaced(self, cat_and_dog) -> None:
        """A client cannot forge l5d-dst-* or l5d-reqid: l5d writes its own, once."""
        l5d, cat, dog = cat_and_dog
        forged = {
            "l5d-dst-service": "/svc/evil",
            "l5d-dst-client": "/evil",
            "l5d-dst-residual": "/evil",
            "l5d-reqid": "ffffffffffffffff",
        }
        assert get(l5d.proxy, "http://felix/", forged).status_code == 200
        headers = cat.requests[-1]["headers"]
        names = [n.lower() for n, _ in headers]
        for name in ("l5d-dst-service", "l5d-dst-client", "l5d-reqid"):
            assert names.count(name) == 1, name
        seen = seen_headers(cat)
        assert seen["l5d-dst-service"] == "/svc/felix"
        assert "l5d-dst-residual" not in seen
        assert seen["l5d-reqid"] != "ffffffffffffffff"


class ResidualTests:
    """Row 78: the part of the name the dtab did not consume is sent as l5d-dst-residual."""

    @pytest.mark.parametrize("client", ["curl", "requests"])
    def test_residual_dog(self, client: str) -> None:
        """/svc/dog -> /srv/dog -> /$/inet/127.1/P/dog: client /$/inet/127.1/P, residual /dog."""
        with EchoBackend() as backend, L5d(f"/srv=>/$/inet/127.1/{backend.port};/svc=>/srv") as l5d:
            if client == "curl":
                status, _, _ = curl(l5d.proxy, "http://dog/path")
            else:
                status = get(l5d.proxy, "http://dog/path").status_code
            assert status == 200
            seen = seen_headers(backend)
            assert seen["l5d-dst-service"] == "/svc/dog"
            assert seen["l5d-dst-client"] == f"/$/inet/127.1/{backend.port}"
            assert seen["l5d-dst-residual"] == "/dog"
            assert (
                backend.requests[-1]["target"] == "/path"
            )  # the residual is not applied to the URI

    def test_delegation_steps(self) -> None:
        """The steps of row 78, as ``l5d dtab delegate`` shows them for the same dtab."""
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "l5d",
                "dtab",
                "delegate",
                "--dtab",
                "/srv=>/$/inet/127.1/4;/svc=>/srv",
                "/svc/dog",
            ],
            capture_output=True,
            text=True,
            cwd=str(ROOT),
            timeout=TIMEOUT_S,
            check=True,
        )
        lines = [line.strip() for line in out.stdout.splitlines()]
        assert lines[0] == "/svc/dog"
        assert lines[1] == "/srv/dog  (/svc=>/srv)"
        assert lines[2].startswith("/$/inet/127.1/4/dog  (/srv=>/$/inet/127.1/4)")
        assert "residual /dog" in lines[2]


@pytest.fixture(scope="module")
def dtab_router():
    """Two backends; /svc/felix goes to cat unless a per-request dtab says otherwise."""
    with EchoBackend() as cat, EchoBackend() as dog:
        dtab = (
            f"/p/cat=>/$/inet/127.1/{cat.port};/p/dog=>/$/inet/127.1/{dog.port};"
            "/svc/felix=>/p/cat"
        )
        with L5d(dtab) as l5d:
            yield l5d, cat, dog


class DtabOverrideTests:
    """Rows 79-80: l5d-dtab and l5d-ctx-dtab apply and propagate; dtab-local does neither."""

    @pytest.mark.parametrize("header", ["l5d-dtab", "l5d-ctx-dtab"])
    @pytest.mark.parametrize("client", ["curl", "requests"])
    def test_override_is_propagated_as_l5d_ctx_dtab(
        self, dtab_router, header: str, client: str
    ) -> None:
        """Row 79: downstream sees l5d-ctx-dtab: /a=>/b and never l5d-dtab."""
        l5d, cat, dog = dtab_router
        if client == "curl":
            status, _, _ = curl(l5d.proxy, "http://felix/", f"{header}: /a=>/b")
        else:
            status = get(l5d.proxy, "http://felix/", {header: "/a=>/b"}).status_code
        assert status == 200
        seen = seen_headers(cat)
        assert seen["l5d-ctx-dtab"] == "/a=>/b"
        assert "l5d-dtab" not in seen
        assert l5d_headers(seen) == DEFAULT_L5D_HEADERS | {"l5d-ctx-dtab"}

    @pytest.mark.parametrize("header", ["l5d-dtab", "l5d-ctx-dtab"])
    def test_override_is_applied(self, dtab_router, header: str) -> None:
        """The override is appended to the base dtab, so it wins: felix goes to dog."""
        l5d, cat, dog = dtab_router
        before = len(cat.requests)
        assert get(l5d.proxy, "http://felix/", {header: "/svc/felix=>/p/dog"}).status_code == 200
        assert len(cat.requests) == before
        seen = seen_headers(dog)
        assert seen["l5d-dst-client"] == f"/$/inet/127.1/{dog.port}"
        assert seen["l5d-ctx-dtab"] == "/svc/felix=>/p/dog"

    def test_ctx_dtab_then_user_dtab(self, dtab_router) -> None:
        """Both headers: l5d-ctx-dtab first, l5d-dtab after it (the later dentry wins)."""
        l5d, cat, dog = dtab_router
        rsp = get(
            l5d.proxy,
            "http://felix/",
            {"l5d-dtab": "/svc/felix=>/p/cat", "l5d-ctx-dtab": "/svc/felix=>/p/dog"},
        )
        assert rsp.status_code == 200
        assert seen_headers(cat)["l5d-ctx-dtab"] == "/svc/felix=>/p/dog;/svc/felix=>/p/cat"

    @pytest.mark.parametrize("client", ["curl", "requests"])
    def test_dtab_local_is_forwarded_untouched_and_not_applied(
        self, dtab_router, client: str
    ) -> None:
        """Row 80: dtab-local reaches the app as sent; it neither routes nor becomes
        l5d-ctx-dtab."""
        l5d, cat, dog = dtab_router
        before = len(dog.requests)
        if client == "curl":
            status, _, _ = curl(l5d.proxy, "http://felix/", "dtab-local: /svc/felix=>/p/dog")
        else:
            status = get(
                l5d.proxy, "http://felix/", {"dtab-local": "/svc/felix=>/p/dog"}
            ).status_code
        assert status == 200
        assert len(dog.requests) == before
        seen = seen_headers(cat)
        assert seen["dtab-local"] == "/svc/felix=>/p/dog"
        assert "l5d-ctx-dtab" not in seen
        assert l5d_headers(seen) == DEFAULT_L5D_HEADERS

    @pytest.mark.parametrize("header", ["l5d-dtab", "l5d-ctx-dtab"])
    def test_an_unparsable_override_is_a_400(self, dtab_router, header: str) -> None:
        """A dtab header that does not parse: 400 with the parser's message; nothing forwarded."""
        l5d, cat, dog = dtab_router
        before = len(cat.requests) + len(dog.requests)
        rsp = get(l5d.proxy, "http://felix/", {header: "/a=>"})
        headers = {k.lower(): v for k, v in rsp.headers.items()}
        text = assert_l5d_error(rsp.status_code, headers, rsp.content, 400)
        assert "expected" in text
        assert len(cat.requests) + len(dog.requests) == before


class ResponseHeaderTests:
    """What the client sees on the way back (reference 4.3)."""

    @pytest.mark.parametrize("client", ["curl", "requests"])
    def test_via_and_success_class(self, cat_and_dog, client: str) -> None:
        """Responses carry Via: 1.1 linkerd and l5d-success-class."""
        l5d, cat, dog = cat_and_dog
        if client == "curl":
            status, headers, _ = curl(l5d.proxy, "http://felix/")
        else:
            rsp = get(l5d.proxy, "http://felix/")
            status, headers = rsp.status_code, {k.lower(): v for k, v in rsp.headers.items()}
        assert status == 200
        assert headers["via"] == "1.1 linkerd"
        assert headers["l5d-success-class"] == "1.0"

    def test_error_responses_carry_via(self, cat_and_dog) -> None:
        """l5d's own errors also say Via: 1.1 linkerd."""
        l5d, cat, dog = cat_and_dog
        rsp = get(l5d.proxy, "http://ralph-machio/")
        assert rsp.headers["Via"] == "1.1 linkerd"
