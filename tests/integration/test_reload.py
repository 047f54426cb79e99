"""Live reload of a real l5d process with traffic flowing: POST /admin/reload, SIGHUP and
``configReload.watch`` swap in a new dtab, client policy and server port with no failed
request; a bad config is refused with its errors while traffic keeps flowing."""

from __future__ import annotations

import signal
import socket
import threading
import time

import requests

from tests.helpers.backends import ScriptedBackend, read_head
from tests.helpers.l5d_process import L5d, wait_for


def _named(name: bytes, gate: tuple[threading.Event, threading.Event] | None = None):
    """A keep-alive backend answering ``name``; ``/slow`` waits 0.5 s first, or with
    ``gate = (started, release)`` sets ``started`` and waits for ``release``."""
    def handler(conn: socket.socket, log: list) -> None:
        buf = b""
        while True:
            head, buf = read_head(conn, buf)
            if not head:
                return
            if b" /slow " in head.split(b"\r\n", 1)[0]:
                if gate is None:
                    time.sleep(0.5)
                else:
                    gate[0].set()
                    gate[1].wait(15)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(name), name))
    return handler


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(backend: int, ports: list[int], *, client: str = "", extra: str = "",
            workers: int | str = 1) -> str:
    servers = ", ".join(f"{{ip: 127.0.0.1, port: {p}}}" for p in ports)
    text = (f"workers: {workers}\n"
            "admin: {ip: 127.0.0.1, port: 0, metricsSnapshotIntervalMs: 0}\n"
            "routers:\n- protocol: http\n"
            f"  dtab: /svc=>/$/inet/127.0.0.1/{backend}\n"
            f"  servers: [{servers}]\n")
    if client:
        text += f"  client: {client}\n"
    return text + extra


class _Load:
    """Requests in a loop over one keep-alive session (plus a slow one now and then) until
    stopped; every outcome kept."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.bodies: list[str] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(path,))
                         for path in ("/", "/", "/slow")]

    def _run(self, path: str) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            try:
                rsp = session.get(f"http://127.0.0.1:{self.port}{path}",
                                  headers={"Host": "svc"}, timeout=10)
                if rsp.status_code != 200:
                    self.failures.append(f"{rsp.status_code} {rsp.headers.get('l5d-err')}")
                else:
                    self.bodies.append(rsp.text)
            except requests.RequestException as err:
                self.failures.append(repr(err))

    def __enter__(self) -> "_Load":
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(15)

    def count(self, body: str) -> int:
        return sum(1 for b in list(self.bodies) if b == body)


def _post_reload(l5d: L5d) -> requests.Response:
    return requests.post(f"http://127.0.0.1:{l5d.admin_port}/admin/reload",
                         headers=l5d.admin_auth, timeout=30)


class ReloadTests:
    def test_reload_under_load_changes_dtab_client_and_ports_without_a_failed_request(
            self) -> None:
        port, added = _free_port(), _free_port()
        with ScriptedBackend(_named(b"a")) as a, ScriptedBackend(_named(b"b")) as b, \
                L5d(config=_config(a.port, [port])) as l5d, _Load(port) as load:
            assert wait_for(lambda: load.count("a") >= 50, 20), load.failures
            l5d.config_path.write_text(_config(
                b.port, [port, added], client="{requestAttemptTimeoutMs: 5000}"))
            rsp = _post_reload(l5d)
            assert rsp.status_code == 200, rsp.text
            doc = rsp.json()
            assert doc["outcome"] == "reloaded"
            assert "rt/http: dtab" in doc["changes"]
            assert "rt/http: client" in doc["changes"]
            assert doc["servers"]["bound"] == [f"127.0.0.1:{added}"]
            assert doc["servers"]["kept"] == [f"127.0.0.1:{port}"]
            # the same keep-alive sessions now reach b
            assert wait_for(lambda: load.count("b") >= 50, 20), load.failures
            assert requests.get(f"http://127.0.0.1:{added}/", headers={"Host": "svc"},
                                timeout=10).text == "b"
            cfg = requests.get(f"http://127.0.0.1:{l5d.admin_port}/config.json",
                               timeout=10).json()
            assert cfg["routers"][0]["client"]["requestAttemptTimeoutMs"] == 5000
            assert len(cfg["routers"][0]["servers"]) == 2
        assert load.failures == [], load.failures[:5]
        assert "reload (POST /admin/reload by" in l5d.output()

    def test_a_request_in_flight_finishes_on_the_old_routing_and_its_connection_moves_on(
            self) -> None:
        """A request held by its backend during the reload gets the old backend's answer;
        the next request on the same keep-alive connection takes the new routing."""
        port = _free_port()
        started, release = threading.Event(), threading.Event()
        with ScriptedBackend(_named(b"a", (started, release))) as a, \
                ScriptedBackend(_named(b"b")) as b, L5d(config=_config(a.port, [port])) as l5d:
            session = requests.Session()
            result: dict = {}

            def slow() -> None:
                result["text"] = session.get(f"http://127.0.0.1:{port}/slow",
                                             headers={"Host": "svc"}, timeout=20).text

            t = threading.Thread(target=slow)
            t.start()
            assert started.wait(10)
            l5d.config_path.write_text(_config(b.port, [port],
                                               client="{requestAttemptTimeoutMs: 5000}"))
            assert _post_reload(l5d).json()["outcome"] == "reloaded"
            release.set()
            t.join(20)
            assert result.get("text") == "a"
            assert session.get(f"http://127.0.0.1:{port}/", headers={"Host": "svc"},
                               timeout=10).text == "b"
            assert l5d.metric(f"rt/http/server/127.0.0.1/{port}/connects") == 1
            assert wait_for(lambda: "reload: the replaced routers and servers finished "
                                    "(rt/http)" in l5d.output(), 10)

    def test_namers_and_telemetry_are_rebuilt_under_load(self) -> None:
        """An io.l5d.fs namer moved to another directory (the new one names b) and a
        telemeter added: no failed request, b answers, the telemeter's page is served."""
        port = _free_port()
        l5d = L5d(config="")

        def config(root: str, extra: str = "") -> str:
            # workers: auto (two on a 2-CPU machine): the control has the namer, workers route
            return (_config(0, [port], workers="auto").replace("/svc=>/$/inet/127.0.0.1/0",
                                                "/svc=>/#/io.l5d.fs/svc")
                    + f"namers:\n- {{kind: io.l5d.fs, rootDir: {l5d.dir / root}}}\n" + extra)

        with ScriptedBackend(_named(b"a")) as a, ScriptedBackend(_named(b"b")) as b:
            for name, backend in (("one", a), ("two", b)):
                (l5d.dir / name).mkdir()
                (l5d.dir / name / "svc").write_text(f"127.0.0.1 {backend.port}\n")
            l5d.config_path.write_text(config("one"))
            with l5d:
                self._namers_and_telemetry(l5d, port, config)

    @staticmethod
    def _namers_and_telemetry(l5d: L5d, port: int, config) -> None:
        prometheus = f"http://127.0.0.1:{l5d.admin_port}/admin/metrics/prometheus"
        assert requests.get(prometheus, timeout=10).status_code == 404
        with _Load(port) as load:
            assert wait_for(lambda: load.count("a") >= 20, 20), load.failures
            l5d.config_path.write_text(config("two",
                                              "telemetry:\n- {kind: io.l5d.prometheus}\n"))
            doc = _post_reload(l5d).json()
            assert doc["outcome"] == "reloaded", doc
            assert {"namers: /#/io.l5d.fs changed", "telemetry changed"} <= set(
                doc["changes"]), doc
            assert wait_for(lambda: load.count("b") >= 20, 20), load.failures
        assert load.failures == [], load.failures[:5]
        rsp = requests.get(prometheus, timeout=10)
        assert rsp.status_code == 200 and '{rt="http"' in rsp.text

    def test_bad_config_is_refused_with_every_error_while_traffic_flows(self) -> None:
        port = _free_port()
        with ScriptedBackend(_named(b"a")) as a, \
                L5d(config=_config(a.port, [port])) as l5d, _Load(port) as load:
            assert wait_for(lambda: load.count("a") >= 20, 20), load.failures
            good = l5d.config_path.read_text()
            l5d.config_path.write_text(good.replace("servers:", "servrs:"))
            rsp = _post_reload(l5d)
            assert rsp.status_code == 400, rsp.text
            doc = rsp.json()
            assert doc["outcome"] == "refused"
            assert any("servrs" in e for e in doc["errors"]), doc
            # an admin change cannot be reloaded: refused by name
            l5d.config_path.write_text(good.replace("metricsSnapshotIntervalMs: 0",
                                                    "metricsSnapshotIntervalMs: 1000"))
            doc = _post_reload(l5d).json()
            assert doc["outcome"] == "refused"
            assert "admin.metricsSnapshotIntervalMs" in doc["errors"][0], doc
            n = load.count("a")
            assert wait_for(lambda: load.count("a") >= n + 20, 20)
            cfg = requests.get(f"http://127.0.0.1:{l5d.admin_port}/config.json",
                               timeout=10).json()
            assert cfg["admin"]["metricsSnapshotIntervalMs"] == 0
        assert load.failures == [], load.failures[:5]
        assert "refused, the running config stays" in l5d.output()

    def test_reload_needs_the_admin_token(self) -> None:
        with ScriptedBackend(_named(b"a")) as a, L5d(config=_config(a.port, [0])) as l5d:
            rsp = requests.post(f"http://127.0.0.1:{l5d.admin_port}/admin/reload", timeout=10)
            assert rsp.status_code == 401

    def test_sighup_reloads(self) -> None:
        port = _free_port()
        with ScriptedBackend(_named(b"a")) as a, ScriptedBackend(_named(b"b")) as b, \
                L5d(config=_config(a.port, [port])) as l5d, _Load(port) as load:
            assert wait_for(lambda: load.count("a") >= 20, 20), load.failures
            l5d.config_path.write_text(_config(b.port, [port]))
            l5d.proc.send_signal(signal.SIGHUP)
            assert wait_for(lambda: load.count("b") >= 20, 20), load.failures
        assert load.failures == [], load.failures[:5]
        assert "reload (SIGHUP): rt/http: dtab" in l5d.output()

    def test_file_watch_reloads_and_removed_port_stops_listening(self) -> None:
        port, other = _free_port(), _free_port()
        watch = "configReload: {watch: true, intervalMs: 100}\n"
        with ScriptedBackend(_named(b"a")) as a, ScriptedBackend(_named(b"b")) as b, \
                L5d(config=_config(a.port, [port, other], extra=watch)) as l5d, \
                _Load(port) as load:
            assert wait_for(lambda: load.count("a") >= 20, 20), load.failures
            l5d.config_path.write_text(_config(b.port, [port], extra=watch))
            assert wait_for(lambda: load.count("b") >= 20, 20), load.failures

            def refused() -> bool:
                try:
                    socket.create_connection(("127.0.0.1", other), timeout=1).close()
                    return False
                except OSError:
                    return True

            assert wait_for(refused, 10)
            # a bad text is refused once (not every interval), and traffic goes on
            l5d.config_path.write_text(_config(b.port, [port], extra=watch + "bogus: 1\n"))
            assert wait_for(lambda: "refused, the running config stays" in l5d.output(), 10)
            n = load.count("b")
            assert wait_for(lambda: load.count("b") >= n + 50, 20)
        assert load.failures == [], load.failures[:5]
        assert "reload (a change of the config file)" in l5d.output()
        assert l5d.output().count('unknown key "bogus"') == 1, l5d.output()

    def test_saved_dtab_edit_survives_a_reload(self) -> None:
        port = _free_port()
        with ScriptedBackend(_named(b"a")) as a, ScriptedBackend(_named(b"b")) as b, \
                ScriptedBackend(_named(b"c")) as c, \
                L5d(config=_config(a.port, [port])) as l5d:
            base = f"http://127.0.0.1:{l5d.admin_port}/admin/dtab/http.json"
            version = requests.get(base, timeout=10).json()["version"]
            rsp = requests.put(base, json={"dtab": f"/svc=>/$/inet/127.0.0.1/{c.port}",
                                           "version": version},
                               headers=l5d.admin_auth, timeout=10)
            assert rsp.status_code == 200, rsp.text
            l5d.config_path.write_text(_config(b.port, [port]))
            assert _post_reload(l5d).json()["outcome"] == "reloaded"
            assert requests.get(f"http://127.0.0.1:{port}/", headers={"Host": "svc"},
                                timeout=10).text == "c"
