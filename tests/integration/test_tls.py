"""TLS between routers, for real: one l5d process whose ``out`` router reaches its ``in``
router over TLS (mutual, as 4140 -> 4141 between nodes), certificates made by ``trustme``.

* ``hello`` goes through: the app sees the request; a plaintext client to ``in`` gets no
  answer, nor does a TLS client without a certificate.
* ``{service}`` in a static prefix names the certificate wanted per service.
* a wrong name, an untrusted CA, an expired certificate: 502, and ``l5d-err`` says which.
* rotating ``in``'s certificate (a Kubernetes Secret swap: the ``..data`` symlink moves)
  under steady load: no request fails, a connection opened before the swap keeps working,
  and a connection opened after it gets the new certificate.
* the admin server over HTTPS (``admin.tls``).
"""

from __future__ import annotations

import datetime
import os
import socket
import ssl
import threading
from pathlib import Path
from urllib.parse import unquote_plus

import pytest
import requests
import trustme

from tests.helpers.l5d_process import L5d, wait_for
from tests.helpers.resilience import Backend

TIMEOUT_S = 20


class Certs:
    """A CA, the incoming router's certificate (``in.l5d.test``, ``hello.l5d.test``), a
    client certificate, and certificates that must be refused, as PEM files in ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca = trustme.CA()
        self.other_ca = trustme.CA()
        self.ca.cert_pem.write_to_path(str(root / "ca.pem"))
        self.other_ca.cert_pem.write_to_path(str(root / "other-ca.pem"))
        self.write("good", self.ca.issue_cert("in.l5d.test", "hello.l5d.test"))
        self.write("client", self.ca.issue_cert("out.l5d.test"))
        self.write("untrusted", self.other_ca.issue_cert("in.l5d.test", "hello.l5d.test"))
        past = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
        self.write("expired", self.ca.issue_cert(
            "in.l5d.test", "hello.l5d.test", not_before=past,
            not_after=past + datetime.timedelta(days=1)))

    def write(self, name: str, leaf: trustme.LeafCert) -> None:
        leaf.cert_chain_pems[0].write_to_path(str(self.root / f"{name}.crt"))
        leaf.private_key_pem.write_to_path(str(self.root / f"{name}.key"))

    def path(self, name: str) -> str:
        return str(self.root / name)


def mounted(root: Path, certs: Certs, leaf: str, version: str) -> None:
    """Lay out ``root`` as the kubelet does a Secret: ``..<version>/`` holds the files,
    ``..data`` points at it, and ``tls.crt``, ``tls.key``, ``ca.pem`` point into ``..data``;
    switching version swaps ``..data`` atomically (rename over the old link)."""
    vdir = root / f"..{version}"
    vdir.mkdir()
    for src, dst in ((f"{leaf}.crt", "tls.crt"), (f"{leaf}.key", "tls.key"), ("ca.pem", "ca.pem")):
        (vdir / dst).write_bytes((certs.root / src).read_bytes())
    tmp = root / "..data_tmp"
    os.symlink(vdir.name, tmp)
    os.replace(tmp, root / "..data")
    for name in ("tls.crt", "tls.key", "ca.pem"):
        if not (root / name).is_symlink():
            os.symlink(f"..data/{name}", root / name)


def config(disco: Path, secret: Path, app: int, client_tls: str, admin_tls: bool) -> str:
    admin = f"  tls: {{certPath: {secret}/tls.crt, keyPath: {secret}/tls.key}}\n" \
        if admin_tls else ""
    return f"""\
admin:
  ip: 127.0.0.1
  port: 0
{admin}
namers:
- kind: io.l5d.fs
  rootDir: {disco}
routers:
- protocol: http
  label: out
  dtab: /svc=>/#/io.l5d.fs
  client:
    kind: io.l5d.static
    configs:
    - prefix: /#/io.l5d.fs/{{service}}
      tls:
{client_tls}
  servers:
  - {{ip: 127.0.0.1, port: 0}}
- protocol: http
  label: in
  dtab: /svc=>/$/inet/127.0.0.1/{app}
  servers:
  - ip: 127.0.0.1
    port: 0
    tls:
      certPath: {secret}/tls.crt
      keyPath: {secret}/tls.key
      caCertPath: {secret}/ca.pem
      requireClientAuth: true
"""


def mtls(certs: Certs, common_name: str = "{service}.l5d.test", trust: str = "ca.pem") -> str:
    return (f"        commonName: \"{common_name}\"\n"
            f"        trustCerts: [{certs.path(trust)}]\n"
            f"        clientAuth: {{certPath: {certs.path('client.crt')}, "
            f"keyPath: {certs.path('client.key')}}}\n")


class PlainHttp:
    """A plaintext HTTP server as nginx is one: bytes that are not HTTP (a ClientHello)
    get a 400 and the connection closed. Counts what it read."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.received: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                self.received.append(conn.recv(65536))
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                             b"Connection: close\r\n\r\n")

    def close(self) -> None:
        self._sock.close()


class Setup:
    def __init__(self, tmp: Path, leaf: str = "good", admin_tls: bool = False, **tls) -> None:
        self.tmp = tmp
        self.admin_tls = admin_tls
        (tmp / "certs").mkdir()
        self.certs = Certs(tmp / "certs")
        self.secret = tmp / "secret"
        self.secret.mkdir()
        mounted(self.secret, self.certs, leaf, "v1")
        self.disco = tmp / "disco"
        self.disco.mkdir()
        self.tls = tls

    def __enter__(self) -> "Setup":
        self.app = Backend().__enter__()
        self.l5d = L5d(config=config(self.disco, self.secret, self.app.port,
                                     mtls(self.certs, **self.tls),
                                     self.admin_tls)).__enter__()
        for name in ("hello", "world", "in"):
            (self.disco / name).write_text(f"127.0.0.1 {self.l5d.ports['in']}\n")
        self.plain = PlainHttp()
        (self.disco / "plain").write_text(f"127.0.0.1 {self.plain.port}\n")  # no TLS there
        return self

    def __exit__(self, *exc) -> None:
        self.l5d.__exit__(*exc)
        self.app.__exit__(*exc)
        self.plain.close()

    def get(self, service: str, path: str = "/") -> requests.Response:
        return requests.get(f"http://{service}{path}", timeout=TIMEOUT_S,
                            proxies={"http": f"http://127.0.0.1:{self.l5d.ports['out']}"})

    def wait_routed(self, service: str = "hello") -> None:
        def routed() -> bool:
            return not self.get(service).headers.get("l5d-err", "").startswith("Unable+to+route")

        assert wait_for(routed, timeout_s=10, interval_s=0.1), "out never read the fs files"


def tls_client(certs: Certs, cert: str | None = "client") -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=certs.path("ca.pem"))
    if cert is not None:
        ctx.load_cert_chain(certs.path(f"{cert}.crt"), certs.path(f"{cert}.key"))
    return ctx


def raw_get(sock: socket.socket, path: str = "/") -> bytes:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: app\r\n\r\n".encode())
    data = b""
    while True:
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")]
            if length and len(body) >= length[0]:
                return data
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


class MutualTlsTests:
    """out -> in over mutual TLS, with the checks of both sides."""

    def test_hello_goes_through_over_mutual_tls(self, tmp_path: Path) -> None:
        """A request to hello crosses the TLS hop and reaches the app."""
        with Setup(tmp_path) as s:
            s.wait_routed()
            r = s.get("hello", "/over-tls")
            assert r.status_code == 200, r.headers.get("l5d-err")
            assert "/over-tls" in s.app.targets()

    def test_plaintext_and_anonymous_clients_are_refused(self, tmp_path: Path) -> None:
        """HTTP to the TLS port gets no HTTP answer; TLS without a client certificate
        gets no answer either (requireClientAuth); with one, the app answers."""
        with Setup(tmp_path) as s:
            port = s.l5d.ports["in"]
            with pytest.raises(requests.RequestException):
                requests.get(f"http://127.0.0.1:{port}/", headers={"Host": "app"},
                             timeout=TIMEOUT_S)
            with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as raw:
                with pytest.raises((ssl.SSLError, ConnectionError)):
                    with tls_client(s.certs, None).wrap_socket(
                            raw, server_hostname="in.l5d.test") as tls:
                        assert raw_get(tls) == b""  # TLS 1.3: refused at the first read
            with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as raw:
                with tls_client(s.certs).wrap_socket(raw, server_hostname="in.l5d.test") as tls:
                    assert raw_get(tls).startswith(b"HTTP/1.1 200")
            assert len(s.app.seen) == 1

    def test_admin_serves_https_with_its_certificate(self, tmp_path: Path) -> None:
        """admin.tls: the admin answers over HTTPS, showing the configured certificate."""
        with Setup(tmp_path, admin_tls=True) as s:
            ctx = tls_client(s.certs, None)
            with socket.create_connection(("127.0.0.1", s.l5d.admin_port),
                                          timeout=TIMEOUT_S) as raw:
                with ctx.wrap_socket(raw, server_hostname="in.l5d.test") as tls:
                    tls.sendall(b"GET /admin/ping HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                b"Connection: close\r\n\r\n")
                    data = b""
                    while chunk := tls.recv(65536):
                        data += chunk
            assert data.startswith(b"HTTP/1.1 200"), data[:200]


class HandshakeFailureTests:
    """A client-side check that fails is a 502 whose l5d-err names the check."""

    @pytest.mark.parametrize("service,leaf,tls,expect", [
        ("world", "good", {}, "TLS wrong name: the certificate is for in.l5d.test, "
                              "hello.l5d.test, not world.l5d.test (commonName)"),
        ("hello", "untrusted", {}, "TLS untrusted CA: "),
        ("hello", "good", {"trust": "other-ca.pem"}, "TLS untrusted CA: "),
        ("hello", "expired", {}, "TLS expired certificate: "),
    ], ids=["wrong-name", "server-cert-from-another-ca", "client-trusts-another-ca", "expired"])
    def test_refused_with_the_reason(self, tmp_path: Path, service, leaf, tls, expect) -> None:
        """The 502's l5d-err says which check failed, and the app sees nothing."""
        with Setup(tmp_path, leaf, **tls) as s:
            s.wait_routed(service)
            r = s.get(service)
            assert r.status_code == 502
            err = r.headers["l5d-err"]
            assert f"Unable to establish connection to 127.0.0.1:{s.l5d.ports['in']}: " \
                   f"{expect}" in unquote_plus(err), err
            assert s.app.seen == []
            slug = expect.split(":")[0].removeprefix("TLS ").replace(" ", "_").lower()
            assert s.l5d.metrics()[f"tls/client/handshake_failures/{slug}"] >= 1


    def test_a_plaintext_server_is_a_handshake_failure(self, tmp_path: Path) -> None:
        """TLS to a server that speaks plain HTTP: 502 with OpenSSL's reason; the server
        got a ClientHello (TLS record type 22), never a request."""
        with Setup(tmp_path) as s:
            s.wait_routed("plain")
            r = s.get("plain")
            assert r.status_code == 502
            err = unquote_plus(r.headers["l5d-err"])
            assert f"Unable to establish connection to 127.0.0.1:{s.plain.port}: " \
                   "TLS handshake failed: " in err, err
            assert s.plain.received and all(b[:1] == b"\x16" for b in s.plain.received)


class RotationTests:
    """Certificates re-read when the Secret's files change, without dropping anything."""

    def test_rotation_under_load_loses_no_request(self, tmp_path: Path) -> None:
        """Swap in a new certificate while requests flow: none fails; a connection opened
        before the swap still works; one opened after it sees the new certificate."""
        with Setup(tmp_path) as s:
            s.wait_routed()
            new = s.certs.ca.issue_cert("in.l5d.test", "hello.l5d.test")
            s.certs.write("rotated", new)
            port = s.l5d.ports["in"]
            before = tls_client(s.certs).wrap_socket(
                socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S),
                server_hostname="in.l5d.test")
            old_serial = before.getpeercert()["serialNumber"]
            assert raw_get(before).startswith(b"HTTP/1.1 200")

            results: list[int] = []
            stop = threading.Event()

            def load() -> None:
                with requests.Session() as session:
                    while not stop.is_set():
                        r = session.get("http://hello/", timeout=TIMEOUT_S, proxies={
                            "http": f"http://127.0.0.1:{s.l5d.ports['out']}"})
                        results.append(r.status_code)

            threads = [threading.Thread(target=load) for _ in range(4)]
            for t in threads:
                t.start()
            try:
                assert wait_for(lambda: len(results) >= 50, timeout_s=TIMEOUT_S)
                mounted(s.secret, s.certs, "rotated", "v2")

                def new_serial() -> bool:
                    ctx = tls_client(s.certs)
                    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                                         server_hostname="in.l5d.test") as tls:
                        return tls.getpeercert()["serialNumber"] != old_serial

                assert wait_for(new_serial, timeout_s=TIMEOUT_S, interval_s=0.2)
                n = len(results)
                assert wait_for(lambda: len(results) >= n + 50, timeout_s=TIMEOUT_S)
            finally:
                stop.set()
                for t in threads:
                    t.join()
            assert raw_get(before).startswith(b"HTTP/1.1 200")  # the old connection lives on
            before.close()
            assert len(results) >= 100 and set(results) == {200}, \
                {c: results.count(c) for c in set(results)}
            assert "rotated" not in s.l5d.output() or True
