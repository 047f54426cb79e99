"""What a linker logs, and its per-router access logs, in memory on a MemoryReactorClock.

Requests arrive over :class:`~tests.helpers.server_harness.MemoryTransport` on the router's
own server factory; the log lines are Python ``logging`` records (caplog); the access
log's file calls run at once on the test thread.
"""

from __future__ import annotations

import logging
from pathlib import Path

from twisted.internet.address import IPv4Address
from twisted.internet.protocol import Factory
from twisted.internet.testing import MemoryReactorClock

from l5d.config import parse_config
from l5d.linker import Linker, build, Env
from l5d.telemetry.access_log import run_now
from tests.helpers.server_harness import MemoryTransport

UNROUTABLE = b"GET /x HTTP/1.1\r\nHost: nowhere\r\n\r\n"


def config(tmp_path: Path, router: str = "", admin: str = "") -> str:
    return (f"admin: {{ip: 127.0.0.1, port: 9990{admin}}}\n"
            "routers:\n- protocol: http\n  dtab: /svc/slow => /$/inet/127.0.0.1/9;\n"
            "  servers: [{ip: 127.0.0.1, port: 4140}]\n" + router)


def start(text: str) -> tuple[Linker, MemoryReactorClock]:
    reactor = MemoryReactorClock()
    linker = build(parse_config(text), Env(), reactor, now=reactor.seconds,
                   wall=lambda: 1_700_000_000.0 + reactor.seconds(),
                   run_blocking=lambda name: run_now)
    linker.start(Factory())
    return linker, reactor


def connect(linker: Linker) -> tuple[object, MemoryTransport]:
    factory = linker._servers[0].factory
    conn = factory.buildProtocol(IPv4Address("TCP", "10.0.0.9", 5555))
    transport = MemoryTransport()
    transport.peerAddr = IPv4Address("TCP", "10.0.0.9", 5555)
    conn.makeConnection(transport)
    return conn, transport


def messages(caplog, name: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == name]


class UnroutableTests:
    """A 502 for a name that cannot be routed is logged, at most once per name per 10 s."""

    def test_a_burst_of_unroutable_requests_is_one_warning_then_the_count(
            self, tmp_path: Path, caplog) -> None:
        """50 requests for /svc/nowhere: 50 answers of 502, one warning with the name and
        the reason, then (49 more suppressed) when the window closes."""
        caplog.set_level(logging.INFO)
        linker, reactor = start(config(tmp_path))
        conn, transport = connect(linker)
        for _ in range(50):
            conn.dataReceived(UNROUTABLE)
        assert transport.value().count(b"HTTP/1.1 502 ") == 50
        first = ("rt/http: 502 for /svc/nowhere: no route (resolutions considered: "
                 "/svc/nowhere)")
        assert messages(caplog, "l5d.router") == [first]
        reactor.advance(10)
        assert messages(caplog, "l5d.router") == [first, first + " (49 more suppressed)"]
        assert caplog.records[0].levelname == "WARNING"

    def test_each_name_has_its_own_line(self, tmp_path: Path, caplog) -> None:
        """Two names, two lines."""
        caplog.set_level(logging.INFO)
        linker, _ = start(config(tmp_path))
        conn, _ = connect(linker)
        conn.dataReceived(UNROUTABLE + UNROUTABLE.replace(b"nowhere", b"elsewhere"))
        assert [m.split(":")[1] for m in messages(caplog, "l5d.router")] == [
            " 502 for /svc/nowhere", " 502 for /svc/elsewhere"]

    def test_the_override_dtab_is_named(self, tmp_path: Path, caplog) -> None:
        """A request that carried l5d-dtab says so: its override may be why."""
        caplog.set_level(logging.INFO)
        linker, _ = start(config(tmp_path))
        conn, _ = connect(linker)
        conn.dataReceived(b"GET / HTTP/1.1\r\nHost: nowhere\r\nl5d-dtab: /svc/a=>/svc/b\r\n\r\n")
        [line] = messages(caplog, "l5d.router")
        assert line.endswith("with the override dtab /svc/a=>/svc/b")

    def test_a_routed_request_logs_nothing(self, tmp_path: Path, caplog) -> None:
        """The success path has no log call."""
        caplog.set_level(logging.DEBUG)
        linker, reactor = start(config(tmp_path))
        conn, _ = connect(linker)
        conn.dataReceived(b"GET / HTTP/1.1\r\nHost: slow\r\n\r\n")
        assert reactor.tcpClients and not messages(caplog, "l5d.router")

    def test_stop_writes_the_held_count(self, tmp_path: Path, caplog) -> None:
        """Held lines are not lost at stop."""
        caplog.set_level(logging.INFO)
        linker, reactor = start(config(tmp_path))
        conn, _ = connect(linker)
        conn.dataReceived(UNROUTABLE * 3)
        done = linker.stop()
        conn.connectionLost(None)  # the drained connection closes
        reactor.advance(0.1)
        assert done.called
        assert messages(caplog, "l5d.router")[-1].endswith("(2 more suppressed)")


class ShutdownTests:
    """stop() says what it does, and what it cut."""

    def test_draining_cutting_and_stopped(self, tmp_path: Path, caplog) -> None:
        """A request still waiting at the end of shutdownGraceMs is cut, and the warning says
        how many connections and requests; its access-log line has no status."""
        caplog.set_level(logging.INFO)
        log = tmp_path / "access.log"
        linker, reactor = start(config(tmp_path, f"  httpAccessLog: {log}\n",
                                       ", shutdownGraceMs: 300"))
        conn, transport = connect(linker)
        conn.dataReceived(b"GET /wait HTTP/1.1\r\nHost: slow\r\n\r\n")  # never connects
        done = linker.stop()
        reactor.advance(0.25)
        assert not done.called
        reactor.advance(0.1)
        assert transport.aborted
        conn.connectionLost(None)  # the transport's close, as a real one would report it
        reactor.advance(0.1)
        assert done.called
        assert messages(caplog, "l5d.linker") == [
            "stopping: draining 1 connections with 1 requests in flight (shutdownGraceMs 300)",
            "stopping: shutdownGraceMs (300) is over: cutting 1 connections with 1 requests "
            "in flight",
            "stopped"]
        [line] = log.read_text().splitlines()
        assert line.startswith('slow 10.0.0.9 - - [') and '"GET /wait HTTP/1.1" - 0 ' in line

    def test_a_linker_that_never_started_says_nothing(self, tmp_path: Path, caplog) -> None:
        """stop() of a linker that was not serving logs nothing (a failed start's cleanup)."""
        caplog.set_level(logging.INFO)
        reactor = MemoryReactorClock()
        linker = build(parse_config(config(tmp_path)), Env(), reactor)
        linker.stop()
        assert not messages(caplog, "l5d.linker")


class AccessLogWiringTests:
    """Each router gets the telemeters' sinks plus its own access log."""

    def test_only_the_router_with_the_key_writes_a_file(self, tmp_path: Path) -> None:
        """Two routers, one access log: its router's requests only."""
        log = tmp_path / "logs" / "a.log"
        text = (config(tmp_path, f"  httpAccessLog: {log}\n") +
                "- protocol: http\n  label: other\n  servers: [{ip: 127.0.0.1, port: 4141}]\n")
        linker, reactor = start(text)
        a, b = linker.routers
        assert len(a.sinks) == 1 and b.sinks == () and linker.sinks == ()
        conn, _ = connect(linker)
        conn.dataReceived(UNROUTABLE)
        reactor.advance(0.1)
        [line] = log.read_text().splitlines()
        assert '"GET /x HTTP/1.1" 502 0 "-" "-" http /svc/nowhere - - ' in line

    def test_a_file_that_cannot_be_opened_fails_start(self, tmp_path: Path) -> None:
        """start() fails naming the router and the path, and leaves nothing listening."""
        (tmp_path / "dir.log").mkdir()
        reactor = MemoryReactorClock()
        linker = build(parse_config(config(tmp_path, f"  httpAccessLog: {tmp_path}/dir.log\n")),
                       Env(), reactor, run_blocking=lambda name: run_now)
        d = linker.start(Factory())
        failures: list = []
        d.addErrback(failures.append)
        assert "rt/http: cannot open the access log" in failures[0].getErrorMessage()
        assert not linker.listeners

    def test_reopen_access_logs(self, tmp_path: Path) -> None:
        """reopen_access_logs() (SIGHUP) makes each writer reopen its path."""
        log = tmp_path / "a.log"
        linker, _ = start(config(tmp_path, f"  httpAccessLog: {log}\n"
                                           "  httpAccessLogRollPolicy: sighup\n"))
        log.rename(tmp_path / "a.log.1")
        linker.reopen_access_logs()
        assert log.exists()
