"""admin_ui.identify: a whole request -> the router's name for it (pure, table-driven)."""

from __future__ import annotations

import pytest

from admin_ui.identify import identify_request
from dtab import Path
from l5d.router import identifier as ident

SVC = Path.read("/svc")
TOKEN = ident.header_token(SVC)
METHOD_HOST = ident.method_and_host(SVC)
PATH_CONSUME = ident.path_segments(SVC, 1, consume=True)

CASES = [
    # (case, identifier, request, answer)
    ("host token", TOKEN, {"host": "hello", "path": "/a"},
     {"identified": True, "path": "/svc/hello", "uri": "/a", "dtab": ""}),
    ("host from the headers", TOKEN, {"headers": [["Host", "hola"]]},
     {"identified": True, "path": "/svc/hola", "uri": "/", "dtab": ""}),
    ("the host field wins over a Host header", TOKEN,
     {"host": "a", "headers": {"Host": "b"}},
     {"identified": True, "path": "/svc/a", "uri": "/", "dtab": ""}),
    ("absolute-form: the authority is the host", TOKEN,
     {"host": "ignored", "path": "http://web:8080/x?y"},
     {"identified": True, "path": "/svc/web:8080", "uri": "/x?y", "dtab": ""}),
    ("no host", TOKEN, {"path": "/a"},
     {"identified": False, "reason": "Host header is absent"}),
    ("method and host, lower-cased", METHOD_HOST, {"method": "POST", "host": "Hello"},
     {"identified": True, "path": "/svc/1.1/POST/hello", "uri": "/", "dtab": ""}),
    ("HTTP/1.0", METHOD_HOST, {"method": "GET", "version": "1.0"},
     {"identified": True, "path": "/svc/1.0/GET", "uri": "/", "dtab": ""}),
    ("path consumed", PATH_CONSUME, {"path": "/users/42?x=1"},
     {"identified": True, "path": "/svc/users", "uri": "/42?x=1", "dtab": ""}),
    ("the request's dtab headers, ctx first", TOKEN,
     {"host": "h", "headers": [["l5d-dtab", "/a=>/b"], ["l5d-ctx-dtab", "/c=>/d"]]},
     {"identified": True, "path": "/svc/h", "uri": "/", "dtab": "/c=>/d;/a=>/b"}),
    ("a bad dtab header", TOKEN, {"host": "h", "headers": [["l5d-dtab", "/a=>"]]},
     None),
]


@pytest.mark.parametrize("case,identifier,request_doc,answer", CASES, ids=[c[0] for c in CASES])
def test_identify(case, identifier, request_doc, answer) -> None:
    """Each request is identified as the router would."""
    code, got = identify_request(identifier, request_doc)
    assert code == 200, case
    if answer is None:
        assert got["identified"] is False and got["reason"].startswith("l5d-dtab header:")
    else:
        assert got == answer, case


BAD = [
    ("not an object", [], "expected a JSON object"),
    ("method", {"method": "G T"}, "method: not an HTTP token: 'G T'"),
    ("path", {"path": "nope"}, "path: expected /... or an absolute http:// URI, got 'nope'"),
    ("version", {"version": "2"}, "version: expected 1.0 or 1.1, got '2'"),
    ("headers shape", {"headers": "x"}, "headers: expected [[name, value], ...] or {name: value}"),
    ("header name", {"headers": [["a b", "c"]]}, "headers: not a header name: 'a b'"),
]


@pytest.mark.parametrize("case,request_doc,error", BAD, ids=[c[0] for c in BAD])
def test_bad_requests(case, request_doc, error) -> None:
    """A request that cannot be built is a 400 naming the field."""
    assert identify_request(TOKEN, request_doc) == (400, {"error": error}), case
