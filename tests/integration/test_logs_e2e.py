"""A real l5d process: its httpAccessLog file, logrotate moving it, and what stderr says.

Real requests (``requests``, and ``curl`` for a hostile User-Agent) through a real l5d to
real backends; the access log is read from disk, stderr from the process's pipe.
"""

from __future__ import annotations

import calendar
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from tests.helpers.backends import EchoBackend
from tests.helpers.l5d_process import ROOT, L5d, config_text, wait_for
from tests.helpers.resilience import Scripted

TIMEOUT_S = 20

LINE = re.compile(
    r'(?P<host>\S+) (?P<ip>\S+) - - \[(?P<time>[^\]]+)\] "(?P<request>(?:[^"\\]|\\.)*)" '
    r'(?P<status>\S+) (?P<bytes>\S+) "(?P<referer>(?:[^"\\]|\\.)*)" '
    r'"(?P<agent>(?:[^"\\]|\\.)*)" (?P<router>\S+) (?P<service>\S+) (?P<client>\S+) '
    r'(?P<endpoint>\S+) (?P<ms>\S+) (?P<retries>\S+) (?P<reqid>\S+) '
    r'"(?P<error>(?:[^"\\]|\\.)*)"\Z')


def read_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="ascii").splitlines():
        m = LINE.match(line)
        assert m is not None, line
        out.append(m.groupdict())
    return out


def l5d_with_log(dtab: str, log: Path, extra: str = "", **kw) -> L5d:
    return L5d(config=config_text(dtab, router=f"httpAccessLog: {log}\n{extra}"), **kw)


def test_access_log_lines_of_real_requests(tmp_path: Path) -> None:
    """A routed GET, a POST with a body, an unroutable name and a curl with quotes in its
    User-Agent: one line each, in order, with Linkerd's fields then l5d's."""
    log = tmp_path / "logs" / "access.log"
    with EchoBackend() as backend, \
            l5d_with_log(f"/svc/echo=>/$/inet/127.0.0.1/{backend.port}", log) as l5d:
        base = f"http://127.0.0.1:{l5d.port}"
        s = requests.Session()
        before = time.time()
        r = s.get(base + "/a?b=1", headers={"Host": "echo", "User-Agent": "tester/1",
                                            "Referer": "http://ref.example/"}, timeout=TIMEOUT_S)
        assert r.status_code == 200
        assert s.post(base + "/form", data=b"x" * 100, headers={"Host": "echo"},
                      timeout=TIMEOUT_S).status_code == 200
        assert s.get(base + "/", headers={"Host": "nowhere"}, timeout=TIMEOUT_S).status_code == 502
        curl = shutil.which("curl")
        assert curl, "curl is installed by scripts/sysdeps.sh"
        subprocess.run([curl, "-s", "-o", "/dev/null", "-H", "Host: echo", "-A",
                        'evil" "agent\\', base + "/c"], check=True, timeout=TIMEOUT_S)
        assert wait_for(lambda: len(read_lines(log)) == 4, 10), log.read_text()
        after = time.time()
    lines = read_lines(log)
    get, post, unroutable, hostile = lines
    client = f"/$/inet/127.0.0.1/{backend.port}"
    assert {k: get[k] for k in ("host", "ip", "request", "status", "referer", "agent", "router",
                                "service", "client", "endpoint", "retries", "error")} == {
        "host": "echo", "ip": "127.0.0.1", "request": "GET /a?b=1 HTTP/1.1", "status": "200",
        "referer": "http://ref.example/", "agent": "tester/1", "router": "http",
        "service": "/svc/echo", "client": client, "endpoint": f"127.0.0.1:{backend.port}",
        "retries": "0", "error": "-"}
    stamp = calendar.timegm(time.strptime(get["time"], "%d/%m/%Y:%H:%M:%S UTC"))
    assert int(before) - 1 <= stamp <= after + 1
    assert float(get["ms"]) > 0 and re.fullmatch(r"-|[0-9a-f]{16}", get["reqid"])
    assert int(get["bytes"]) >= 0
    assert (post["request"], post["status"]) == ("POST /form HTTP/1.1", "200")
    assert (unroutable["status"], unroutable["service"], unroutable["client"],
            unroutable["endpoint"]) == ("502", "/svc/nowhere", "-", "-")
    assert unroutable["error"].startswith("Unable to route request! service name: /svc/nowhere")
    assert hostile["agent"] == 'evil\\" \\"agent\\\\' and hostile["request"] == "GET /c HTTP/1.1"


def test_a_log_moved_away_is_reopened_and_nothing_is_lost(tmp_path: Path) -> None:
    """mv access.log access.log.1 (logrotate's create) under a running l5d: requests keep
    coming; within about a second a new access.log gets the lines; every request is in
    exactly one of the two files, in order."""
    log = tmp_path / "access.log"
    with EchoBackend() as backend, \
            l5d_with_log(f"/svc/echo=>/$/inet/127.0.0.1/{backend.port}", log) as l5d:
        s = requests.Session()
        sent = 0

        def send() -> None:
            nonlocal sent
            r = s.get(f"http://127.0.0.1:{l5d.port}/n/{sent}", headers={"Host": "echo"},
                      timeout=TIMEOUT_S)
            assert r.status_code == 200
            sent += 1

        for _ in range(20):
            send()
        assert wait_for(lambda: len(read_lines(log)) == 20, 10)
        os.rename(log, tmp_path / "access.log.1")

        def reopened() -> bool:
            send()
            return len(read_lines(log)) > 0

        assert wait_for(reopened, 15, interval_s=0.05)
        for _ in range(10):
            send()
    old, new = read_lines(tmp_path / "access.log.1"), read_lines(log)
    targets = [line["request"].split()[1] for line in old + new]
    assert targets == [f"/n/{i}" for i in range(sent)]
    assert len(new) >= 10


def test_stderr_says_start_unroutable_burst_cut_and_stop(tmp_path: Path) -> None:
    """stderr of a real process: the start-up line (version, config, pid, listeners, access
    log); for a burst of 50 requests to an unroutable name one warning, then the rest as a
    suppressed count; at SIGTERM the drain, the request cut at the end of shutdownGraceMs
    (its access-log line without a status), and the end."""
    log = tmp_path / "access.log"
    with Scripted(slow_s=3.0) as backend:
        config = config_text(f"/svc/x=>/$/inet/127.0.0.1/{backend.port}",
                             router=f"httpAccessLog: {log}").replace(
            "metricsSnapshotIntervalMs: 0",
            "metricsSnapshotIntervalMs: 0, shutdownGraceMs: 300")
        l5d = L5d(config=config, stderr_apart=True)
        with l5d:
            assert wait_for(lambda: " started " in l5d.errors(), 10), l5d.errors()
            started = [line for line in l5d.errors().splitlines() if " started " in line]
            assert len(started) == 1, l5d.errors()
            assert re.fullmatch(
                r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO l5d: l5d \S+ started \(config "
                + re.escape(str(l5d.config_path)) + r", pid \d+\): http on http://127\.0\.0\.1:"
                + f"{l5d.port}/, admin on http://127\\.0\\.0\\.1:{l5d.admin_port}/; rt/http "
                + "access log " + re.escape(str(log)), started[0]), started[0]

            s = requests.Session()
            burst_started = time.monotonic()
            codes = [s.get(f"http://127.0.0.1:{l5d.port}/", headers={"Host": "nowhere"},
                           timeout=TIMEOUT_S).status_code for _ in range(50)]
            burst_s = time.monotonic() - burst_started
            assert codes == [502] * 50

            slow: dict = {}

            def call() -> None:
                try:
                    requests.get(f"http://127.0.0.1:{l5d.port}/slow", headers={"Host": "x"},
                                 timeout=TIMEOUT_S)
                except requests.RequestException as err:
                    slow["error"] = err

            t = threading.Thread(target=call)
            t.start()
            assert wait_for(lambda: backend.count("/slow") == 1, 10)
            l5d.proc.send_signal(signal.SIGTERM)
            assert l5d.proc.wait(TIMEOUT_S) == 0
            t.join(TIMEOUT_S)
            assert "error" in slow  # cut: no response
        err = l5d.errors().splitlines()

    unroutable = [line for line in err if "rt/http: 502 for /svc/nowhere: no route" in line]
    assert unroutable and " WARNING l5d.router: " in unroutable[0]
    assert "suppressed" not in unroutable[0]
    counts = [int(m.group(1)) for line in unroutable[1:]
              for m in [re.search(r"\((\d+) more suppressed\)$", line)] if m]
    assert len(counts) == len(unroutable) - 1 and 1 + sum(counts) == 50, unroutable
    # one line per 10 s at most: the burst took burst_s
    assert len(unroutable) <= 2 + int(burst_s // 10), unroutable

    tail = [line.split(" ", 2)[2] for line in err if " l5d.linker: " in line]
    assert len(tail) == 3, tail
    # the keep-alive connection of the burst may still be open: it is idle, so drained
    assert re.fullmatch(r"l5d\.linker: stopping: draining [12] connections with 1 requests in "
                        r"flight \(shutdownGraceMs 300\)", tail[0]), tail[0]
    assert tail[1:] == [
        "l5d.linker: stopping: shutdownGraceMs (300) is over: cutting 1 connections with 1 "
        "requests in flight",
        "l5d.linker: stopped"]
    assert err[-1].endswith("INFO l5d.linker: stopped")
    lines = read_lines(log)
    assert len(lines) == 51 and lines[-1]["request"] == "GET /slow HTTP/1.1"
    assert lines[-1]["status"] == "-" and lines[-1]["endpoint"] == f"127.0.0.1:{backend.port}"


def test_sighup_policy_reopens_the_file_on_sighup(tmp_path: Path) -> None:
    """httpAccessLogRollPolicy: sighup: after logrotate's rename, SIGHUP makes l5d open a new
    file at the path; the next lines go there."""
    log = tmp_path / "access.log"
    with EchoBackend() as backend, \
            l5d_with_log(f"/svc/echo=>/$/inet/127.0.0.1/{backend.port}", log,
                         "httpAccessLogRollPolicy: sighup\n") as l5d:
        s = requests.Session()
        url = f"http://127.0.0.1:{l5d.port}/"
        assert s.get(url + "one", headers={"Host": "echo"}, timeout=TIMEOUT_S).ok
        assert wait_for(lambda: len(read_lines(log)) == 1, 10)
        os.rename(log, tmp_path / "access.log.1")
        l5d.proc.send_signal(signal.SIGHUP)
        assert wait_for(log.exists, 10)
        assert s.get(url + "two", headers={"Host": "echo"}, timeout=TIMEOUT_S).ok
        assert wait_for(lambda: len(read_lines(log)) == 1, 10)
        assert l5d.proc.poll() is None  # SIGHUP did not end it
    assert [line["request"] for line in read_lines(tmp_path / "access.log.1")] == [
        "GET /one HTTP/1.1"]
    assert [line["request"] for line in read_lines(log)] == ["GET /two HTTP/1.1"]


def test_an_access_log_that_cannot_be_opened_stops_the_start(tmp_path: Path) -> None:
    """A directory where the file should be: l5d says which router and path, and exits 1."""
    (tmp_path / "access.log").mkdir()
    config = tmp_path / "l5d.yaml"
    config.write_text(config_text("/svc=>/$/inet/127.0.0.1/9",
                                  router=f"httpAccessLog: {tmp_path / 'access.log'}"))
    done = subprocess.run([sys.executable, "-m", "l5d", str(config)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr == (f"l5d: cannot start: [Errno 21] rt/http: cannot open the access "
                           f"log {tmp_path / 'access.log'}: Is a directory\n")
