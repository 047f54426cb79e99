"""The Linkerd kinds and keys l5d added for compatibility, end to end with real requests.

A real l5d process per config (written for l5d, combining the keys the way Linkerd
configs do), real echo backends on loopback, and ``requests`` as the client:
``io.l5d.rewrite`` in a dtab, the ``io.l5d.header.path`` identifier,
``addForwardedHeader`` with each labeler, ``clearContext``, and ``socketOptions``
on a server (the listening socket really has SO_KEEPALIVE and SO_REUSEPORT).
"""

from __future__ import annotations

import re
import socket
import subprocess

import requests

from tests.helpers.backends import EchoBackend
from tests.helpers.l5d_process import L5d, config_text


def seen(backend: EchoBackend) -> dict[str, str]:
    return {n.lower(): v for n, v in backend.requests[-1]["headers"]}


def get(l5d: L5d, path: str, host: str = "web", **headers: str) -> requests.Response:
    return requests.get(f"http://127.0.0.1:{l5d.port}{path}", headers={"Host": host, **headers},
                        timeout=10)


class RewriteNamerTests:
    """``/#/io.l5d.rewrite`` turns one name into another, bound on through the dtab."""

    def test_rewrite_then_route(self) -> None:
        """Host hello.prod -> /dotted/prod/hello (domainToPathPfx) -> the rewrite namer's
        pattern /{ns}/{service} -> /srv/prod/hello -> the backend."""
        with EchoBackend() as hello:
            namers = ("namers:\n"
                      "- kind: io.l5d.rewrite\n"
                      "  prefix: /dotted\n"
                      "  pattern: /{ns}/{service}\n"
                      "  name: /srv/{ns}/{service}\n")
            dtab = (f"/srv/prod/hello=>/$/inet/127.1/{hello.port};"
                    "/svc=>/$/io.buoyant.http.domainToPathPfx/dotted;"
                    "/dotted=>/#/dotted")
            with L5d(config=config_text(dtab, namers=namers)) as l5d:
                rsp = get(l5d, "/x", host="hello.prod")
                assert rsp.status_code == 200, rsp.text
                assert seen(hello)["l5d-dst-service"] == "/svc/hello.prod"
                miss = get(l5d, "/x", host="hello.test")
                assert miss.status_code == 502, miss.text


class HeaderPathIdentifierTests:
    """``io.l5d.header.path`` names a request by its path (gRPC's /package.Service/Method)."""

    def test_first_segment_names_the_service(self) -> None:
        """``segments: 1``: /helloworld.Greeter/SayHello -> /svc/helloworld.Greeter."""
        with EchoBackend() as greeter:
            router = "identifier:\n  kind: io.l5d.header.path\n  segments: 1\n"
            dtab = f"/svc/helloworld.Greeter=>/$/inet/127.1/{greeter.port}"
            with L5d(config=config_text(dtab, router=router)) as l5d:
                rsp = get(l5d, "/helloworld.Greeter/SayHello?x=1")
                assert rsp.status_code == 200
                assert greeter.requests[-1]["target"] == "/helloworld.Greeter/SayHello?x=1"
                assert seen(greeter)["l5d-dst-service"] == "/svc/helloworld.Greeter"
                assert get(l5d, "/").status_code == 400


class ForwardedHeaderTests:
    """``addForwardedHeader``: one RFC 7239 ``Forwarded`` header per request."""

    def test_labelers(self) -> None:
        """by=router label, for=ip:port of the client; host and the client's own header kept."""
        with EchoBackend() as web:
            server = ("addForwardedHeader:\n"
                      "  by: {kind: router}\n"
                      "  for: {kind: ip:port}\n"
                      "socketOptions: {keepAlive: true, backlog: 64}\n")
            router = "label: edge\n"
            dtab = f"/svc/web=>/$/inet/127.1/{web.port}"
            with L5d(config=config_text(dtab, server=server, router=router)) as l5d:
                rsp = get(l5d, "/", Forwarded="for=1.2.3.4")
                assert rsp.status_code == 200
                values = [v for n, v in web.requests[-1]["headers"] if n.lower() == "forwarded"]
                assert values[0] == "for=1.2.3.4"
                assert re.fullmatch(r'by=_edge;for="127\.0\.0\.1:\d+";host=web', values[1]), values

    def test_default_labels_are_random_per_request(self) -> None:
        """``{}``: by and for are ``_`` + 6 random characters, new for every request."""
        with EchoBackend() as web:
            server = "addForwardedHeader: {}\n"
            dtab = f"/svc/web=>/$/inet/127.1/{web.port}"
            with L5d(config=config_text(dtab, server=server)) as l5d:
                with requests.Session() as s:
                    for _ in range(2):
                        s.get(f"http://127.0.0.1:{l5d.port}/", headers={"Host": "web"},
                              timeout=10)
                labels = [dict(r["headers"])["Forwarded"] for r in web.requests[-2:]]
                for value in labels:
                    assert re.fullmatch(r"by=_[A-Za-z0-9]{6};for=_[A-Za-z0-9]{6};host=web", value)
                assert labels[0] != labels[1]


class ClearContextTests:
    """``clearContext`` on an edge server drops the caller's l5d context headers."""

    def test_l5d_headers_are_dropped(self) -> None:
        """A client's l5d-dtab cannot reroute, and its l5d-* headers never arrive."""
        with EchoBackend() as web, EchoBackend() as evil:
            server = "clearContext: true\n"
            dtab = f"/svc/web=>/$/inet/127.1/{web.port}"
            with L5d(config=config_text(dtab, server=server)) as l5d:
                rsp = get(l5d, "/", **{"l5d-dtab": f"/svc/web=>/$/inet/127.1/{evil.port}",
                                       "l5d-ctx-x": "1"})
                assert rsp.status_code == 200
                assert not evil.requests
                assert "l5d-ctx-x" not in seen(web) and "l5d-dtab" not in seen(web)


class SocketOptionsTests:
    """A server's ``socketOptions`` reach its listening socket."""

    def test_keepalive_and_reuseport(self) -> None:
        """SO_KEEPALIVE on accepted connections, SO_REUSEPORT on the listener."""
        with EchoBackend() as web:
            server = "socketOptions: {keepAlive: true, reusePort: true, backlog: 16}\n"
            dtab = f"/svc/web=>/$/inet/127.1/{web.port}"
            with L5d(config=config_text(dtab, server=server)) as l5d:
                assert get(l5d, "/").status_code == 200
                # a second socket can bind the same port only if the listener set SO_REUSEPORT
                other = socket.socket()
                try:
                    other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                    other.bind(("127.0.0.1", l5d.port))
                finally:
                    other.close()
                out = subprocess.run(["ss", "-tnoH", "state", "established", "sport", "=",
                                      f":{l5d.port}"], capture_output=True, text=True)
                if out.returncode == 0:  # ss shows the keepalive timer of accepted sockets
                    with socket.create_connection(("127.0.0.1", l5d.port)) as c:
                        c.sendall(b"GET / HTTP/1.1\r\nHost: web\r\n\r\n")
                        c.recv(65536)
                        out = subprocess.run(["ss", "-tnoH", "state", "established", "sport",
                                              "=", f":{l5d.port}"], capture_output=True,
                                             text=True)
                        assert "keepalive" in out.stdout, out.stdout
