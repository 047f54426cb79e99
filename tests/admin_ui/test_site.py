"""admin_ui.site: the minimal admin site, driven in memory (StringTransport, Clock)."""

from __future__ import annotations

import json

from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from admin_ui.site import build_admin_site
from l5d.config import parse_config

TOKEN = "s3cret-t0ken"
CONFIG = parse_config(
    "admin: {port: 9991}\n"
    "routers: [{protocol: http, dtab: '/svc => /$/inet/127.0.0.1/7777', servers: [{}]}]\n"
)


class Response:
    """A parsed HTTP/1.1 response from the transport's bytes."""

    def __init__(self, raw: bytes) -> None:
        head, _, self.body = raw.partition(b"\r\n\r\n")
        status_line, *header_lines = head.split(b"\r\n")
        self.code = int(status_line.split(b" ")[1])
        self.headers = {}
        for line in header_lines:
            name, _, value = line.partition(b":")
            self.headers[name.strip().lower()] = value.strip()


def exchange(site, reactor, method: bytes, path: bytes, body: bytes = b"",
             headers: bytes = b"") -> Response:
    """One request (``headers``: raw header lines) over an in-memory connection to ``site``;
    the reactor is advanced once so that deferred answers are written."""
    protocol = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 50000))
    transport = StringTransport()
    protocol.makeConnection(transport)
    protocol.dataReceived(
        method + b" " + path + b" HTTP/1.1\r\nHost: 127.0.0.1:9990\r\nConnection: close\r\n"
        + headers + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    reactor.advance(0)
    return Response(transport.value())


class AdminSiteTests(SynchronousTestCase):
    """Routes, methods and status codes of the admin site."""

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.shutdowns: list[None] = []
        self.site = build_admin_site(CONFIG, self.reactor, lambda: self.shutdowns.append(None),
                                     token=TOKEN)

    def request(self, method: bytes, path: bytes, headers: bytes = b"",
                host: bytes = b"127.0.0.1:9991") -> Response:
        """Send one request over an in-memory connection and parse the answer."""
        protocol = self.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 50000))
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(
            method + b" " + path + b" HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n"
            + headers + b"Content-Length: 0\r\n\r\n"
        )
        response = Response(transport.value())
        protocol.connectionLost(None)
        return response

    def test_ping(self) -> None:
        """GET /admin/ping answers pong as text/plain."""
        response = self.request(b"GET", b"/admin/ping")
        self.assertEqual((200, b"pong"), (response.code, response.body))
        self.assertEqual(b"text/plain; charset=utf-8", response.headers[b"content-type"])

    def test_ping_head(self) -> None:
        """HEAD /admin/ping answers 200 without a body."""
        response = self.request(b"HEAD", b"/admin/ping")
        self.assertEqual((200, b""), (response.code, response.body))

    def test_config_json(self) -> None:
        """GET /config.json is the config's to_json() as JSON."""
        response = self.request(b"GET", b"/config.json")
        self.assertEqual(200, response.code)
        self.assertEqual(b"application/json", response.headers[b"content-type"])
        self.assertEqual(CONFIG.to_json(), json.loads(response.body))

    def test_config_json_round_trips(self) -> None:
        """What /config.json serves parses back to the same config."""
        body = self.request(b"GET", b"/config.json").body
        self.assertEqual(CONFIG, parse_config(body.decode("utf-8")))

    def test_shutdown_post_calls_on_shutdown_after_answering(self) -> None:
        """POST /admin/shutdown answers 200, then calls on_shutdown on the next turn."""
        response = self.request(b"POST", b"/admin/shutdown",
                                b"Authorization: Bearer " + TOKEN.encode() + b"\r\n")
        self.assertEqual(200, response.code)
        self.assertEqual([], self.shutdowns)
        self.reactor.advance(0)
        self.assertEqual([None], self.shutdowns)

    def test_shutdown_needs_the_token(self) -> None:
        """Without the token, or with a wrong one, or cross-origin, no shutdown."""
        bad = b"Authorization: Bearer wrong\r\n"
        cross = (b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
                 b"Origin: http://evil.example\r\n")
        for headers, code in ((b"", 401), (bad, 401), (cross, 403)):
            response = self.request(b"POST", b"/admin/shutdown", headers)
            self.assertEqual(code, response.code, headers)
            self.assertIn("error", json.loads(response.body))
        self.reactor.advance(0)
        self.assertEqual([], self.shutdowns)

    def test_shutdown_is_off_without_a_token(self) -> None:
        """No token configured: read-only, shutdown is 403 and says why."""
        site = build_admin_site(CONFIG, self.reactor, lambda: self.shutdowns.append(None))
        self.site = site
        response = self.request(b"POST", b"/admin/shutdown", b"Authorization: Bearer x\r\n")
        self.assertEqual(403, response.code)
        self.assertIn("admin writes are off: no admin token is configured",
                      json.loads(response.body)["error"])
        self.assertEqual(200, self.request(b"GET", b"/admin/ping").code)

    def test_foreign_host_is_refused_for_reads_too(self) -> None:
        """DNS rebinding: a Host that is not an IP literal, localhost or allowed is 403."""
        for host in (b"evil.example", b"evil.example:9991", b"127.0.0.1.nip.io"):
            response = self.request(b"GET", b"/admin/ping", host=host)
            self.assertEqual(403, response.code, host)
            self.assertIn("DNS rebinding", json.loads(response.body)["error"])
        for host in (b"localhost:9991", b"127.0.0.1", b"[::1]:9991", b"10.1.2.3:9990"):
            self.assertEqual(200, self.request(b"GET", b"/admin/ping", host=host).code, host)
        self.assertEqual(b"nosniff", self.request(b"GET", b"/admin/ping").headers[
            b"x-content-type-options"])

    def test_shutdown_get_is_not_allowed(self) -> None:
        """GET /admin/shutdown is 405 (with Allow: POST) and does not shut down."""
        response = self.request(b"GET", b"/admin/shutdown")
        self.assertEqual(405, response.code)
        self.assertIn(b"POST", response.headers[b"allow"])
        self.reactor.advance(0)
        self.assertEqual([], self.shutdowns)

    def test_ping_post_is_not_allowed(self) -> None:
        """Only GET and HEAD reach /admin/ping."""
        self.assertEqual(405, self.request(b"POST", b"/admin/ping").code)

    def test_unknown_paths_are_404(self) -> None:
        """Everything not listed is 404, including the directories and trailing slashes (``/``
        and ``/admin`` are the UI's dashboard and index: tests/admin_ui/test_ui.py)."""
        for path in (b"/nope", b"/static/", b"/static/nope.js", b"/admin/ping/x", b"/config.json/"):
            self.assertEqual(404, self.request(b"GET", path).code, path)
