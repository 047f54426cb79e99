"""The admin's writes in memory (StringTransport, MemoryReactorClock): login sessions with
CSRF and expiry, the dtab API, /logging.json."""

from __future__ import annotations

import itertools
import json
import logging

from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import LogLevel, LogLevelFilterPredicate
from twisted.trial.unittest import SynchronousTestCase

from admin_ui.security import FAILURE_WINDOW_S, MAX_FAILURES, SESSION_TTL_S
from admin_ui.site import build_admin_site
from dtab import Dtab
from l5d.config import parse_config
from l5d.linker import Env, build
from l5d.telemetry.log_levels import LogLevels

TOKEN = "s3cret-t0ken"
CONFIG = parse_config(
    "admin: {port: 9991}\n"
    "routers: [{protocol: http, dtab: '/svc => /$/inet/127.0.0.1/7777', servers: [{port: 0}]}]\n"
)
JSON = b"application/json"


class Response:
    def __init__(self, raw: bytes) -> None:
        head, _, self.body = raw.partition(b"\r\n\r\n")
        status_line, *header_lines = head.split(b"\r\n")
        self.code = int(status_line.split(b" ")[1])
        self.headers: dict[bytes, list[bytes]] = {}
        for line in header_lines:
            name, _, value = line.partition(b":")
            self.headers.setdefault(name.strip().lower(), []).append(value.strip())

    def json(self) -> dict:
        return json.loads(self.body)


class WritesTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.linker = build(CONFIG, Env(), self.reactor, wall=lambda: 1_800_000_000.0)
        self.linker.dtab_store.start()
        self.levels = LogLevels(LogLevelFilterPredicate(defaultLogLevel=LogLevel.warn),
                                logging.Manager(logging.RootLogger(logging.INFO)))
        counter = itertools.count()
        self.site = build_admin_site(CONFIG, self.reactor, lambda: None, self.linker,
                                     token=TOKEN, log_levels=self.levels,
                                     token_bytes=lambda n: bytes([next(counter) % 256]) * n)
        self.bearer = b"Bearer " + TOKEN.encode()

    def request(self, method: bytes, path: bytes, body: bytes = b"", *,
                content_type: bytes | None = JSON, headers: dict[bytes, bytes] | None = None,
                peer: str = "127.0.0.1") -> Response:
        protocol = self.site.buildProtocol(IPv4Address("TCP", peer, 50000))
        transport = StringTransport(peerAddress=IPv4Address("TCP", peer, 50000))
        protocol.makeConnection(transport)
        lines = [method + b" " + path + b" HTTP/1.1", b"Host: 127.0.0.1:9991",
                 b"Connection: close", b"Content-Length: %d" % len(body)]
        if content_type is not None:
            lines.append(b"Content-Type: " + content_type)
        lines += [k + b": " + v for k, v in (headers or {}).items()]
        protocol.dataReceived(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        self.reactor.advance(0)
        return Response(transport.value())

    def put_dtab(self, dtab: str, version: str, **kw: object) -> Response:
        headers = kw.pop("headers", {b"Authorization": self.bearer})
        return self.request(b"PUT", b"/admin/dtab/http.json",
                            json.dumps({"dtab": dtab, "version": version}).encode(),
                            headers=headers, **kw)  # type: ignore[arg-type]

    # -- the dtab API --------------------------------------------------------
    def test_get_put_conflict_invalid_history(self) -> None:
        got = self.request(b"GET", b"/admin/dtab/http.json").json()
        self.assertEqual({"router": "http", "dtab": "/svc=>/$/inet/127.0.0.1/7777;\n",
                          "version": "config", "store": "io.l5d.inMemory", "writable": True,
                          "source": "config"}, got)
        saved = self.put_dtab("/svc => /$/inet/127.0.0.1/8888;", "config")
        self.assertEqual(200, saved.code)
        self.assertEqual(("1", "store"), (saved.json()["version"], saved.json()["source"]))
        self.assertEqual(Dtab.read("/svc=>/$/inet/127.0.0.1/8888"),
                         self.linker.routers[0].base_dtab())
        stale = self.put_dtab("/svc => /$/inet/127.0.0.1/9999", "config")
        self.assertEqual(409, stale.code)
        self.assertEqual("1", stale.json()["current"]["version"])
        bad = self.put_dtab("/svc => /$/inet/127.0.0.1/9999;\n/x=>{", "1")
        self.assertEqual(400, bad.code)
        self.assertEqual((36, 2, 5), (bad.json()["offset"], bad.json()["line"],
                                      bad.json()["column"]))
        self.assertIn("Invalid dtab:", bad.json()["error"])
        self.assertEqual(Dtab.read("/svc=>/$/inet/127.0.0.1/8888"),
                         self.linker.routers[0].base_dtab())
        history = self.request(b"GET", b"/admin/dtab/http/history.json").json()
        [change] = history["history"]
        self.assertEqual(("1", "token@127.0.0.1", None, None),
                         (change["version"], change["who"], change["previous"],
                          change["previous_version"]))
        self.assertEqual(1_800_000_000.0, change["at"])

    def test_unknown_router_and_bad_bodies(self) -> None:
        self.assertEqual(404, self.request(b"GET", b"/admin/dtab/nope.json").code)
        self.assertEqual(404, self.request(b"GET", b"/admin/dtab/nope/history.json").code)
        for body in (b"{", b"[]", b'{"dtab": "/a=>/b"}'):
            r = self.request(b"PUT", b"/admin/dtab/http.json", body,
                             headers={b"Authorization": self.bearer})
            self.assertEqual(400, r.code, body)

    def test_writes_are_refused_without_token_or_json(self) -> None:
        self.assertEqual(401, self.put_dtab("/a=>/b", "config", headers={}).code)
        form = self.put_dtab("/a=>/b", "config", content_type=b"text/plain")
        self.assertEqual(415, form.code)
        self.assertEqual("config", self.linker.dtab_store.current("http").version)

    # -- sessions ------------------------------------------------------------
    def login(self, token: str = TOKEN, **headers: bytes) -> Response:
        return self.request(b"POST", b"/admin/login",
                            f"token={token}&user=ann&next=/dtab".encode(),
                            content_type=b"application/x-www-form-urlencoded",
                            headers={k.encode(): v for k, v in headers.items()})

    def test_login_sets_a_strict_http_only_cookie_and_redirects(self) -> None:
        r = self.login(Origin=b"http://127.0.0.1:9991")
        self.assertEqual(303, r.code)
        self.assertEqual([b"/dtab"], r.headers[b"location"])
        [cookie] = r.headers[b"set-cookie"]
        self.assertTrue(cookie.startswith(b"l5d_session="))
        for attribute in (b"HttpOnly", b"SameSite=strict", b"Path=/"):
            self.assertIn(attribute.lower(), cookie.lower())

    def test_login_refuses_a_wrong_token_and_a_foreign_origin(self) -> None:
        self.assertEqual(401, self.login("nope").code)
        self.assertEqual(403, self.login(Origin=b"http://evil.example").code)
        self.assertNotIn(b"set-cookie", self.login("nope").headers)

    def test_wrong_tokens_from_one_address_are_throttled(self) -> None:
        """MAX_FAILURES wrong tokens (login or bearer) in FAILURE_WINDOW_S: that address
        gets 429 with Retry-After, even with the right token, until the window passes;
        other addresses are not affected."""
        wrong = {b"Authorization": b"Bearer guess"}
        for _ in range(MAX_FAILURES - 1):
            self.assertEqual(401, self.put_dtab("/svc=>/a", "config", headers=wrong).code)
        self.assertEqual(401, self.login("guess").code)
        blocked = self.put_dtab("/svc=>/a", "config")
        self.assertEqual((429, [b"%d" % FAILURE_WINDOW_S]),
                         (blocked.code, blocked.headers[b"retry-after"]))
        self.assertEqual(429, self.login().code)
        self.assertEqual(200, self.put_dtab("/svc=>/b", "config", peer="10.0.0.7").code)
        self.reactor.advance(FAILURE_WINDOW_S)
        self.assertEqual(303, self.login().code)

    def session_cookie(self) -> bytes:
        cookie = self.login().headers[b"set-cookie"][0].split(b";")[0]
        return cookie

    def test_session_writes_need_the_csrf_header(self) -> None:
        cookie = self.session_cookie()
        info = self.request(b"GET", b"/admin/session.json", headers={b"Cookie": cookie}).json()
        self.assertEqual((True, True, "ann"), (info["authenticated"], info["writable"],
                                               info["user"]))
        no_csrf = self.put_dtab("/svc=>/a", "config", headers={b"Cookie": cookie})
        self.assertEqual(403, no_csrf.code)
        ok = self.put_dtab("/svc=>/a", "config", headers={
            b"Cookie": cookie, b"X-L5d-Csrf": info["csrf"].encode()}, peer="10.0.0.9")
        self.assertEqual(200, ok.code)
        [change] = self.linker.dtab_store.history("http")
        self.assertEqual("session:ann@10.0.0.9", change.who)

    def test_sessions_expire_and_logout_ends_them(self) -> None:
        cookie = self.session_cookie()
        self.reactor.advance(SESSION_TTL_S - 1)
        info = self.request(b"GET", b"/admin/session.json", headers={b"Cookie": cookie}).json()
        self.assertTrue(info["authenticated"])
        out = self.request(b"POST", b"/admin/logout", content_type=None, headers={
            b"Cookie": cookie, b"X-L5d-Csrf": info["csrf"].encode()})
        self.assertEqual(200, out.code)
        self.assertFalse(self.request(b"GET", b"/admin/session.json",
                                      headers={b"Cookie": cookie}).json()["authenticated"])
        cookie = self.session_cookie()
        self.reactor.advance(SESSION_TTL_S)
        self.assertFalse(self.request(b"GET", b"/admin/session.json",
                                      headers={b"Cookie": cookie}).json()["authenticated"])

    def test_login_page_escapes_and_keeps_next_local(self) -> None:
        r = self.request(b"GET", b"/admin/login?next=//evil.example/%3Cscript%3E")
        self.assertEqual(200, r.code)
        self.assertIn(b'name="next" value="/"', r.body)
        r = self.request(b"GET", b"/admin/login?next=/dtab%22%3E%3Cscript%3E")
        self.assertNotIn(b"<script>", r.body)

    # -- logging -------------------------------------------------------------
    def test_logging_json(self) -> None:
        got = self.request(b"GET", b"/logging.json").json()
        self.assertEqual(["debug", "info", "warn", "error", "critical"], got["levels"])
        self.assertIn({"name": "l5d", "level": "info"}, got["loggers"])
        body = json.dumps({"logger": "l5d", "level": "debug"}).encode()
        self.assertEqual(401, self.request(b"PUT", b"/logging.json", body).code)
        r = self.request(b"PUT", b"/logging.json", body, headers={b"Authorization": self.bearer})
        self.assertEqual((200, "debug"), (r.code, r.json()["level"]))
        self.assertEqual("debug", self.levels.level("l5d.router"))
        bad = json.dumps({"logger": "l5d", "level": "loud"}).encode()
        self.assertEqual(400, self.request(b"PUT", b"/logging.json", bad,
                                           headers={b"Authorization": self.bearer}).code)
