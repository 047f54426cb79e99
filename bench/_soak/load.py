"""The soak's load: an app on one node sending through that node's l5d (shell).

``bench/soak.py _load`` runs :func:`load_main` inside a node's network namespace, as an
app with ``http_proxy=node-N:4140`` there would: ``clients`` threads, each with one
keep-alive connection to the node's l5d (opened again only after l5d closed it or a
request on it failed), share a fixed schedule of ``rps`` requests a second, alternately
``GET http://hello/`` and ``GET http://world-v1/``. A request is sent at its slot's
time, or as soon as a client is free when all are busy (so the load is bounded by
``clients`` requests in flight). Nothing is retried: every request's outcome
(:mod:`.outcome`) is one line of ``out``. The schedule ends after ``duration_s``; each
client then finishes its request in flight, which waits at most ``timeout_s``.
"""

from __future__ import annotations

import http.client
import threading
import time
from pathlib import Path

from .outcome import Record, of_exception, of_response, to_line

SERVICES = ("hello", "world-v1")


class _Schedule:
    """Hands out request slots: slot ``i`` is due at ``start + i / rps``."""

    def __init__(self, start: float, rps: float, duration_s: float) -> None:
        self._start, self._rps, self._end = start, rps, start + duration_s
        self._next = 0
        self._lock = threading.Lock()

    def take(self) -> tuple[int, float] | None:
        """:return: the next slot and when it is due, or ``None`` once the run is over."""
        with self._lock:
            i = self._next
            due = self._start + i / self._rps
            if due >= self._end:
                return None
            self._next += 1
            return i, due


def _client(node: int, host: str, port: int, schedule: _Schedule, start: float,
            timeout_s: float, expect: dict, out, lock: threading.Lock) -> None:
    conn: http.client.HTTPConnection | None = None
    while (slot := schedule.take()) is not None:
        i, due = slot
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        service = SERVICES[i % len(SERVICES)]
        sent = time.monotonic()
        try:
            if conn is None:
                conn = http.client.HTTPConnection(host, port, timeout=timeout_s)
            conn.request("GET", f"http://{service}/")
            rsp = conn.getresponse()
            body = rsp.read()
            outcome = of_response(service, rsp.status, rsp.getheader("l5d-err"), body, expect)
            if rsp.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as err:
            outcome = of_exception(err)
            if conn is not None:
                conn.close()
            conn = None
        done = time.monotonic()
        line = to_line(Record(sent - start, (done - sent) * 1000, node, service, outcome))
        with lock:
            out.write(line)
    if conn is not None:
        conn.close()


def load_main(node: int, host: str, port: int, rps: float, clients: int, duration_s: float,
              start_at: float, timeout_s: float, out_path: Path, expect: dict) -> int:
    """Send the load (module docstring) and write one line per request to ``out_path``.

    :param start_at: when slot 0 is due, on the host's ``time.monotonic()`` clock (the
        same in every network namespace), so that all nodes' loads start together.
    :param expect: service -> the pattern its pods' answers match.
    :return: the exit status (0).
    """
    schedule = _Schedule(start_at, rps, duration_s)
    lock = threading.Lock()
    with open(out_path, "w", buffering=1 << 16) as out:
        threads = [threading.Thread(target=_client, args=(
            node, host, port, schedule, start_at, timeout_s, expect, out, lock),
            name=f"client-{k}") for k in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return 0
