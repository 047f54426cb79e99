"""admin_ui.ui: the pages, /static, /admin/dashboard.json, /admin/identify.json and the
delegator's ``replace`` (in memory: an admin site over a built linker)."""

from __future__ import annotations

import json

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from admin_ui.site import build_admin_site
from admin_ui.templating import StaticFiles
from l5d.config import parse_config
from l5d.linker import Env, build
from tests.admin_ui.test_site import Response, exchange

CONFIG = """\
routers:
- protocol: http
  label: web
  dtab: "/svc/a => /$/inet/127.0.0.1/7001; /svc/b => /$/inet/127.0.0.1/7002"
  servers: [{port: 0}]
  service: {kind: io.l5d.global, retries: {budget: {percentCanRetry: 0.3}}}
telemetry:
- kind: io.l5d.recentRequests
  sampleRate: 1.0
"""
PAGES = (b"/", b"/dtab", b"/delegator", b"/requests", b"/metrics", b"/config", b"/logging",
         b"/help", b"/admin", b"/admin/")


class UiTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.config = parse_config(CONFIG)
        self.linker = build(self.config, Env(), self.reactor)
        self.site = build_admin_site(self.config, self.reactor, lambda: None, self.linker)

    def request(self, method: bytes, path: bytes, body: bytes = b"",
                headers: bytes = b"Content-Type: application/json\r\n") -> Response:
        return exchange(self.site, self.reactor, method, path, body, headers)

    def test_every_page_renders_in_the_frame(self) -> None:
        """Each page is HTML with the nav (its own entry marked), a CSP and no caching."""
        for path in PAGES:
            r = self.request(b"GET", path)
            self.assertEqual(200, r.code, path)
            self.assertEqual(b"text/html; charset=utf-8", r.headers[b"content-type"])
            self.assertIn(b"default-src 'self'", r.headers[b"content-security-policy"])
            self.assertIn(b'<nav>', r.body, path)
            self.assertIn(b'/static/admin.css?v=', r.body, path)
        self.assertIn(b'<a href="/dtab" class="current" aria-current="page">Dtab</a>',
                      self.request(b"GET", b"/dtab").body)

    def test_the_index_lists_every_page_and_api(self) -> None:
        """/admin lists the pages and the JSON APIs, and the telemeters' pages."""
        body = self.request(b"GET", b"/admin").body.decode()
        for name in ("/dtab", "/requests", "/admin/dashboard.json", "/admin/identify.json",
                     "/delegator.json", "/admin/metrics.json", "/config.json", "/logging.json",
                     "/client_state.json", "/bound-names.json", "/requests.json"):
            self.assertIn(name, body)

    def test_boot_data_cannot_end_its_script(self) -> None:
        """A router label holding ``</script>`` stays inside the JSON block (tojson escapes
        ``<``), and the config page escapes it as text."""
        config = parse_config(CONFIG.replace("label: web", 'label: "w</script><b>"'))
        site = build_admin_site(config, self.reactor, lambda: None, build(config, Env(),
                                                                          self.reactor))
        self.site = site
        dtab = self.request(b"GET", b"/dtab").body
        self.assertNotIn(b"</script><b>", dtab)
        self.assertIn(b"\\u003c/script\\u003e\\u003cb\\u003e", dtab)
        self.assertIn(b"&lt;/script&gt;&lt;b&gt;", self.request(b"GET", b"/config").body)

    def test_static_files(self) -> None:
        """A static file has its content type and ETag; with its hash in the address it may be
        kept a year, without it it is revalidated; If-None-Match gives 304; unknown is 404."""
        files = StaticFiles()
        version = files.get("dashboard.js").version
        r = self.request(b"GET", b"/static/dashboard.js?v=" + version.encode())
        self.assertEqual((200, b"text/javascript; charset=utf-8",
                          b"public, max-age=31536000, immutable", b"nosniff"),
                         (r.code, r.headers[b"content-type"], r.headers[b"cache-control"],
                          r.headers[b"x-content-type-options"]))
        self.assertEqual(files.get("dashboard.js").body, r.body)
        r = self.request(b"GET", b"/static/admin.css")
        self.assertEqual((b"text/css; charset=utf-8", b"no-cache"),
                         (r.headers[b"content-type"], r.headers[b"cache-control"]))
        etag = r.headers[b"etag"]
        r = self.request(b"GET", b"/static/admin.css", headers=b"If-None-Match: " + etag
                         + b"\r\n")
        self.assertEqual((304, b""), (r.code, r.body))
        self.assertEqual(404, self.request(b"GET", b"/static/nope.js").code)
        self.assertEqual(405, self.request(b"POST", b"/static/admin.css").code)

    def test_the_pages_name_files_that_exist(self) -> None:
        """Every /static address in every page is served (200)."""
        import re
        for path in PAGES:
            for ref in re.findall(rb'/static/[^"?]+\?v=[0-9a-f]+', self.request(b"GET", path).body):
                self.assertEqual(200, self.request(b"GET", ref).code, ref)

    def test_dashboard_json(self) -> None:
        """The dashboard document of the router, uncached, with its retry budget."""
        r = self.request(b"GET", b"/admin/dashboard.json")
        self.assertEqual((200, b"application/json", b"no-store"),
                         (r.code, r.headers[b"content-type"], r.headers[b"cache-control"]))
        doc = json.loads(r.body)
        self.assertEqual([("web", 0.3)],
                         [(x["label"], x["percent_can_retry"]) for x in doc["routers"]])

    def test_identify(self) -> None:
        """POST /admin/identify.json runs the router's identifier; 415 without JSON, 400 for a
        bad request, 404 for an unknown router, 405 for GET."""
        ok = self.request(b"POST", b"/admin/identify.json",
                          json.dumps({"router": "web", "host": "a", "path": "/x"}).encode())
        self.assertEqual((200, {"router": "web", "identified": True, "path": "/svc/a",
                                "uri": "/x", "dtab": ""}), (ok.code, json.loads(ok.body)))
        self.assertEqual(415, self.request(b"POST", b"/admin/identify.json", b"{}",
                                           headers=b"Content-Type: text/plain\r\n").code)
        self.assertEqual(400, self.request(b"POST", b"/admin/identify.json", b"{").code)
        self.assertEqual(400, self.request(b"POST", b"/admin/identify.json",
                                           b'{"path": "x"}').code)
        self.assertEqual(404, self.request(b"POST", b"/admin/identify.json",
                                           b'{"router": "nope"}').code)
        self.assertEqual(405, self.request(b"GET", b"/admin/identify.json").code)

    def test_delegator_replace(self) -> None:
        """With ``replace`` the given dtab stands instead of the router's: /svc/a is then
        not routed by the base dentry."""
        body = {"namespace": "web", "path": "/svc/a", "dtab": "/svc/b=>/$/inet/127.0.0.1/9"}
        appended = json.loads(self.request(b"POST", b"/delegator.json",
                                           json.dumps(body).encode()).body)
        self.assertEqual("delegate", appended["type"])
        self.assertEqual("leaf", appended["delegate"]["type"])
        replaced = json.loads(self.request(b"POST", b"/delegator.json",
                                           json.dumps({**body, "replace": True}).encode()).body)
        self.assertEqual({"type": "neg", "path": "/svc/a"}, replaced)
