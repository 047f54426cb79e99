"""admin_ui.names: /delegator.json, /namer_state, /client_state.json, /bound-names.json
(in memory: an admin site over a built linker with an io.l5d.fs namer and a transformer)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path as FsPath

from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from admin_ui.site import build_admin_site
from dtab import PENDING, Path
from l5d.config import parse_config
from l5d.linker import Env, build
from tests.admin_ui.test_site import Response, exchange

CONFIG = """\
namers:
- kind: io.l5d.fs
  rootDir: {disco}
routers:
- protocol: http
  label: out
  dtab: /svc => /#/io.l5d.fs
  interpreter:
    transformers:
    - kind: io.l5d.port
      port: 4141
  servers: [{{port: 0}}]
- protocol: http
  label: plain
  dtab: /svc => /#/io.l5d.fs
  servers: [{{port: 0}}]
"""


class NamePagesTests(SynchronousTestCase):
    def setUp(self) -> None:
        disco = FsPath(tempfile.mkdtemp(prefix="l5d-names-"))
        self.addCleanup(shutil.rmtree, disco, True)
        (disco / "web").write_text("10.244.1.2 7777\n")
        self.reactor = MemoryReactorClock()
        config = parse_config(CONFIG.format(disco=disco))
        self.linker = build(config, Env(), self.reactor)
        for _, namer in self.linker.namers:
            namer.start()
        self.site = build_admin_site(config, self.reactor, lambda: None, self.linker)

    def tearDown(self) -> None:
        for _, namer in self.linker.namers:
            namer.stop()

    def request(self, method: bytes, path: bytes, body: bytes = b"",
                content_type: bytes = b"application/json") -> Response:
        return exchange(self.site, self.reactor, method, path, body,
                        b"Content-Type: " + content_type + b"\r\n")

    def test_delegator_get_through_the_routers_transformer(self) -> None:
        r = self.request(b"GET", b"/delegator.json?namespace=out&path=/svc/web")
        assert r.code == 200 and r.headers[b"content-type"] == b"application/json"
        tree = json.loads(r.body)
        assert tree["type"] == "delegate" and tree["path"] == "/svc/web"
        node = tree["delegate"]
        assert (node["type"], node["name"]) == ("transformation", "PortTransformer")
        assert node["tree"]["bound"]["addr"]["addrs"] == [
            {"ip": "10.244.1.2", "port": 4141, "meta": {}}]

    def test_delegator_post_with_an_override(self) -> None:
        body = json.dumps({"namespace": "plain", "path": "/svc/web",
                           "dtab": "/svc/web => /$/inet/10.0.0.9/80"}).encode()
        tree = json.loads(self.request(b"POST", b"/delegator.json", body).body)
        assert tree["type"] == "alt"  # the override first, then the base dtab's rule
        assert tree["alt"][0]["bound"]["id"] == "/$/inet/10.0.0.9/80"

    def test_delegator_errors(self) -> None:
        assert self.request(b"POST", b"/delegator.json", b"{}", b"text/plain").code == 415
        assert self.request(b"POST", b"/delegator.json", b"{nope").code == 400
        r = self.request(b"GET", b"/delegator.json?path=/svc/web&dtab=/x=>")
        assert r.code == 400 and r.body.startswith(b"Invalid dtab: ")
        r = self.request(b"GET", b"/delegator.json?path=svc")
        assert r.code == 400 and r.body.startswith(b"Invalid path: ")
        assert self.request(b"GET", b"/delegator.json?namespace=nope&path=/a").code == 404
        assert self.request(b"DELETE", b"/delegator.json").code == 405

    def test_delegator_waits_for_a_pending_namer_then_times_out(self) -> None:
        router = self.linker.routers[0]
        router.interpreter.delegate = lambda dtab, path: PENDING
        protocol = self.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 50000))
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(
            b"GET /delegator.json?path=/svc/web HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert transport.value() == b""  # waiting
        self.reactor.advance(1.0)
        assert transport.value() == b""
        self.reactor.pump([0.05] * 30)
        r = Response(transport.value())
        assert r.code == 503 and b"Request timed out." in r.body

    def test_bound_names_and_client_state(self) -> None:
        assert json.loads(self.request(b"GET", b"/bound-names.json").body) == [
            "/#/io.l5d.fs/web"]
        router = self.linker.routers[0]
        from dtab import Dtab
        from l5d.http.dst_client import DstClient
        bound = router.interpreter.bind(Dtab.read("/svc=>/#/io.l5d.fs"),
                                        Path.read("/svc/web")).value.value
        client = router.clients[bound.id] = DstClient(
            router, bound.id, router.client_config.params_for(bound.id))
        client.update(bound)
        state = json.loads(self.request(b"GET", b"/client_state.json").body)
        assert state == {"/%/io.l5d.port/4141/#/io.l5d.fs/web": {
            "state": "bound", "addresses": ["10.244.1.2:4141"]}}
        client.close()

    def test_no_namer_state_page_for_fs(self) -> None:
        assert self.request(b"GET", b"/namer_state/io.l5d.fs.json").code == 404
