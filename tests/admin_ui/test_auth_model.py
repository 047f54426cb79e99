"""admin_ui.auth_model: the security decisions, as pure functions."""

from __future__ import annotations

import pytest

from admin_ui.auth_model import (
    Allowed, Denied, WriteRequest, bearer_token, decide_write, host_allowed, host_name,
    safe_next, same_origin,
)

ALLOWED = frozenset({"l5d.internal"})


@pytest.mark.parametrize("host,ok", [
    ("127.0.0.1:9990", True), ("127.0.0.1", True), ("localhost:9990", True),
    ("LOCALHOST", True), ("[::1]:9990", True), ("[::1]", True), ("10.0.0.7:9990", True),
    ("l5d.internal:9990", True), ("L5D.internal", True),
    ("evil.example", False), ("localhost.evil.example", False), ("127.0.0.1.nip.io", False),
    ("", False), (None, False), ("[::1", False), ("a:b:c", False), ("::1", False),
    ("127.0.0.1:99999999", False),
])
def test_host_allowed(host: str | None, ok: bool) -> None:
    assert host_allowed(host, ALLOWED) is ok


def test_host_name() -> None:
    assert host_name("Example.COM:80") == "example.com"
    assert host_name("[fe80::1]:9990") == "fe80::1"


@pytest.mark.parametrize("origin,host,ok", [
    (None, "127.0.0.1:9990", True),
    ("http://127.0.0.1:9990", "127.0.0.1:9990", True),
    ("http://localhost:9990", "localhost:9990", True),
    ("http://localhost", "localhost", True),
    ("http://[::1]:9990", "[::1]:9990", True),
    ("http://localhost:9990", "127.0.0.1:9990", False),  # another origin, though the same box
    ("http://127.0.0.1:8080", "127.0.0.1:9990", False),
    ("http://evil.example", "127.0.0.1:9990", False),
    ("null", "127.0.0.1:9990", False),
    ("file://", "127.0.0.1:9990", False),
])
def test_same_origin(origin: str | None, host: str, ok: bool) -> None:
    assert same_origin(origin, host) is ok


def test_bearer_token() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer") is None
    assert bearer_token(None) is None


def test_safe_next() -> None:
    assert safe_next("/dtab?r=http") == "/dtab?r=http"
    for bad in (None, "", "//evil.example/", "http://evil.example/", "/\\evil", "/a\r\nb"):
        assert safe_next(bad) == "/"


def request(**kw: object) -> WriteRequest:
    base = dict(host="127.0.0.1:9990", origin=None, authorization=None,
                content_type="application/json", csrf=None, peer="127.0.0.1")
    base.update(kw)
    return WriteRequest(**base)  # type: ignore[arg-type]


class DecideWriteTests:
    def test_bearer_token(self) -> None:
        assert decide_write(request(authorization="Bearer t"), "t", None, json_body=True) \
            == Allowed("token@127.0.0.1")
        assert decide_write(request(authorization="Bearer u"), "t", None, json_body=True) \
            == Denied(401, "invalid admin token")
        assert decide_write(request(), "t", None, json_body=True).status == 401

    def test_session_needs_its_csrf_value(self) -> None:
        ok = request(session_csrf="c", csrf="c", session_user="ann", peer="10.0.0.9")
        assert decide_write(ok, "t", None, json_body=True) == Allowed("session:ann@10.0.0.9")
        assert decide_write(request(session_csrf="c", csrf="c"), "t", None,
                            json_body=True) == Allowed("session@127.0.0.1")
        for csrf in (None, "d"):
            out = decide_write(request(session_csrf="c", csrf=csrf), "t", None, json_body=True)
            assert isinstance(out, Denied) and out.status == 403

    def test_order_origin_then_off_then_auth_then_content_type(self) -> None:
        cross = request(origin="http://evil.example", authorization="Bearer t")
        assert decide_write(cross, "t", None, json_body=True).status == 403
        off = decide_write(request(authorization="Bearer t"), None, "admin writes are off: x",
                           json_body=True)
        assert off == Denied(403, "admin writes are off: x")
        form = request(authorization="Bearer t",
                       content_type="application/x-www-form-urlencoded")
        assert decide_write(form, "t", None, json_body=True).status == 415
        assert decide_write(request(authorization="Bearer t", content_type="text/plain"),
                            "t", None, json_body=False) == Allowed("token@127.0.0.1")
        charset = request(authorization="Bearer t", content_type="application/json; charset=utf-8")
        assert isinstance(decide_write(charset, "t", None, json_body=True), Allowed)
