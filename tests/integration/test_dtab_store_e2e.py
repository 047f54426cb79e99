"""The dtab store end to end: a real l5d, real clients (requests for the admin API, curl
through the router as a proxy), io.l5d.fs in a directory that outlives the process.

A saved edit routes the next request; a stale version is 409 and an unparsable dtab 400
(with the parser's position), and neither changes routing; a restarted l5d routes with
the saved dtab; a rollback (a PUT of an old text from the history) routes back; writes
without the token are refused; /logging.json turns l5d's debug lines on.
"""

from __future__ import annotations

import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from tests.helpers.l5d_process import L5d, wait_for

TIMEOUT_S = 10


class Named(ThreadingHTTPServer):
    """An origin answering every GET with its name."""

    daemon_threads = True

    def __init__(self, name: str) -> None:
        self.name = name

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                body = name.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()


@pytest.fixture
def origins():
    a, b = Named("A"), Named("B")
    yield a, b
    for o in (a, b):
        o.shutdown()
        o.server_close()


def to(origin: Named) -> str:
    return f"/svc=>/$/inet/127.0.0.1/{origin.port};\n"


def config(dtab: str, directory: Path) -> str:
    return (
        "admin: {ip: 127.0.0.1, port: 0}\n"
        f"dtabStore: {{kind: io.l5d.fs, dir: '{directory}', historySize: 5}}\n"
        "routers:\n- protocol: http\n"
        f"  dtab: '{dtab.strip()}'\n"
        "  servers: [{ip: 127.0.0.1, port: 0}]\n")


def curl(l5d: L5d) -> str:
    """``curl -x`` through the router: the answering origin's name."""
    out = subprocess.run(["curl", "-s", "-m", "5", "-x", f"http://127.0.0.1:{l5d.port}",
                          "http://hello/"], capture_output=True, text=True, timeout=15)
    return out.stdout


class Admin:
    def __init__(self, l5d: L5d) -> None:
        self.l5d = l5d
        self.url = f"http://127.0.0.1:{l5d.admin_port}/admin/dtab/http"

    def get(self) -> dict:
        return requests.get(self.url + ".json", timeout=TIMEOUT_S).json()

    def put(self, dtab: str, version: str, auth: bool = True, **kw) -> requests.Response:
        headers = dict(self.l5d.admin_auth) if auth else {}
        return requests.put(self.url + ".json", json={"dtab": dtab, "version": version},
                            headers=headers, timeout=TIMEOUT_S, **kw)

    def history(self) -> list[dict]:
        return requests.get(self.url + "/history.json", timeout=TIMEOUT_S).json()["history"]


def test_saved_edits_route_survive_a_restart_and_roll_back(origins, tmp_path: Path) -> None:
    a, b = origins
    store = tmp_path / "dtabs"
    text = config(to(a), store)
    with L5d(config=text, stderr_apart=True) as l5d:
        admin = Admin(l5d)
        assert curl(l5d) == "A"
        first = admin.get()
        assert (first["version"], first["source"], first["store"], first["writable"]) == (
            "config", "config", "io.l5d.fs", True)

        refused = admin.put(to(b), "config", auth=False)
        assert refused.status_code == 401 and "error" in refused.json()
        assert curl(l5d) == "A"

        saved = admin.put(to(b), "config")
        assert saved.status_code == 200, saved.text
        assert (saved.json()["version"], saved.json()["source"]) == ("1", "store")
        assert curl(l5d) == "B"  # the very next request

        stale = admin.put(to(a), "config")
        assert stale.status_code == 409
        assert stale.json()["current"]["version"] == "1"
        assert curl(l5d) == "B"

        bad = admin.put(f"/svc=>/$/inet/127.0.0.1/{a.port};\n/svc=>/$/inet/[", "1")
        assert bad.status_code == 400
        assert (bad.json()["line"], bad.json()["column"]) == (2, 15)  # the "["
        assert bad.json()["offset"] == len(f"/svc=>/$/inet/127.0.0.1/{a.port};\n") + 14
        assert curl(l5d) == "B"

        back_to_a = admin.put(to(a), "1")
        assert back_to_a.json()["version"] == "2" and curl(l5d) == "A"
    # every accepted change was logged with who, when, old and new
    log = l5d.errors()
    assert "rt/http: dtab version 1 by token@127.0.0.1 at " in log, log
    assert f"(was version config): old: /svc=>/$/inet/127.0.0.1/{a.port} new: " \
           f"/svc=>/$/inet/127.0.0.1/{b.port}" in log

    with L5d(config=text, stderr_apart=True) as again:
        admin = Admin(again)
        assert curl(again) == "A"  # version 2 (the config also says A: the version tells)
        assert admin.get()["version"] == "2" and admin.get()["source"] == "store"
        history = admin.history()
        assert [c["version"] for c in history] == ["2", "1"]
        assert history[0]["who"] == "token@127.0.0.1"
        # rollback: the old text of version 1, written over the current version
        rolled = admin.put(history[1]["dtab"], "2")
        assert rolled.status_code == 200 and rolled.json()["version"] == "3"
        assert curl(again) == "B"
    assert "rt/http: dtab version 2 from the io.l5d.fs store" in again.errors()

    with L5d(config=text) as third:
        assert curl(third) == "B"  # the rollback was saved too


def test_a_saved_dtab_outlives_the_config_it_replaced(origins, tmp_path: Path) -> None:
    """The stored dtab wins over the config's at start (config says A, the store B)."""
    a, b = origins
    store = tmp_path / "dtabs"
    with L5d(config=config(to(a), store)) as l5d:
        assert Admin(l5d).put(to(b), "config").status_code == 200
    with L5d(config=config(to(a), store)) as l5d:
        assert curl(l5d) == "B"


def test_logging_json_turns_debug_lines_on(origins, tmp_path: Path) -> None:
    a, b = origins
    with L5d(config=config(to(a), tmp_path / "d"), stderr_apart=True) as l5d:
        admin = Admin(l5d)
        base = f"http://127.0.0.1:{l5d.admin_port}/logging.json"
        assert admin.put(to(b), "config").status_code == 200
        levels = requests.get(base, timeout=TIMEOUT_S).json()
        assert {"name": "l5d", "level": "info"} in levels["loggers"]
        refused = requests.put(base, json={"logger": "l5d", "level": "debug"}, timeout=10)
        assert refused.status_code == 401
        ok = requests.put(base, json={"logger": "l5d", "level": "debug"},
                          headers=l5d.admin_auth, timeout=TIMEOUT_S)
        assert ok.status_code == 200, ok.text
        assert admin.put(to(a), "1").status_code == 200
        assert wait_for(lambda: "compare-and-swap at version 1" in l5d.errors(), 5)
        assert "compare-and-swap at version config" not in l5d.errors()  # was at info


def test_admin_refuses_foreign_hosts_and_cross_site_writes(origins, tmp_path: Path) -> None:
    a, b = origins
    with L5d(config=config(to(a), tmp_path / "d")) as l5d:
        url = f"http://127.0.0.1:{l5d.admin_port}/admin/dtab/http.json"
        rebind = requests.get(url, headers={"Host": f"evil.example:{l5d.admin_port}"},
                              timeout=TIMEOUT_S)
        assert rebind.status_code == 403 and "DNS rebinding" in rebind.json()["error"]
        cross = requests.put(url, json={"dtab": to(b), "version": "config"},
                             headers={**l5d.admin_auth, "Origin": "http://evil.example"},
                             timeout=TIMEOUT_S)
        assert cross.status_code == 403
        form = requests.put(url, data="dtab=x", timeout=TIMEOUT_S, headers={
            **l5d.admin_auth, "Content-Type": "application/x-www-form-urlencoded"})
        assert form.status_code == 415
        assert curl(l5d) == "A"


def test_without_a_token_writes_are_off(origins, tmp_path: Path) -> None:
    a, b = origins
    with L5d(config=config(to(a), tmp_path / "d"), env={"L5D_ADMIN_TOKEN": ""}) as l5d:
        admin = Admin(l5d)
        assert admin.get()["writable"] is False
        off = admin.put(to(b), "config")
        assert off.status_code == 403
        assert off.json()["error"].startswith("admin writes are off: no admin token")
        assert curl(l5d) == "A"


def test_the_login_form_session_and_csrf(origins, tmp_path: Path) -> None:
    """What the page does: log in with the form, read the CSRF value, save with both."""
    a, b = origins
    with L5d(config=config(to(a), tmp_path / "d")) as l5d:
        base = f"http://127.0.0.1:{l5d.admin_port}"
        browser = requests.Session()
        assert "<form" in browser.get(base + "/admin/login", timeout=TIMEOUT_S).text
        token = l5d.admin_auth["Authorization"].split(" ", 1)[1]
        wrong = browser.post(base + "/admin/login", data={"token": "nope"}, timeout=TIMEOUT_S)
        assert wrong.status_code == 401 and "l5d_session" not in browser.cookies
        login = browser.post(base + "/admin/login", timeout=TIMEOUT_S,
                             data={"token": token, "user": "ann", "next": "/dtab"},
                             headers={"Origin": base}, allow_redirects=False)
        assert login.status_code == 303 and login.headers["Location"] == "/dtab"
        assert "HttpOnly" in login.headers["Set-Cookie"]
        session = browser.get(base + "/admin/session.json", timeout=TIMEOUT_S).json()
        assert session["authenticated"] and session["csrf"]
        url = base + "/admin/dtab/http.json"
        body = {"dtab": to(b), "version": "config"}
        no_csrf = browser.put(url, json=body, timeout=TIMEOUT_S)
        assert no_csrf.status_code == 403 and curl(l5d) == "A"
        saved = browser.put(url, json=body, headers={"X-L5d-Csrf": session["csrf"]},
                            timeout=TIMEOUT_S)
        assert saved.status_code == 200 and curl(l5d) == "B"
        history = requests.get(base + "/admin/dtab/http/history.json", timeout=10).json()
        assert history["history"][0]["who"] == "session:ann@127.0.0.1"
        out = browser.post(base + "/admin/logout", headers={"X-L5d-Csrf": session["csrf"]},
                           timeout=TIMEOUT_S)
        assert out.status_code == 200
        assert browser.put(url, json={"dtab": to(a), "version": "1"}, timeout=TIMEOUT_S,
                           headers={"X-L5d-Csrf": session["csrf"]}).status_code == 401
