"""An app sending requests continuously from inside a node, through that node's l5d.

:class:`Probe` runs ``sim.py _probe`` (:func:`probe_main`) in the node's namespace and
collects the JSON line it prints per answer.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import threading
import time
from typing import Any

from .layout import L5D_PORTS, SIM_PY, netns, node_name
from .node_processes import base_env
from .procs import HTTP_TIMEOUT_S
from .state import State


def pod_ip_of(body: bytes | str) -> str | None:
    """The pod IP a helloworld answer names last (``world (10.244.3.2)!`` -> 10.244.3.2)."""
    text = body.decode(errors="replace") if isinstance(body, bytes) else body
    found = re.findall(r"\((10\.244\.\d+\.\d+)\)", text)
    return found[-1] if found else None


class Probe:
    """Requests that flow continuously from an app on node ``n`` through its l5d.

    A ``_probe`` process runs inside the node's namespace: it sends at most ``count``
    requests, one at a time on a keep-alive connection, ``interval_s`` apart, and
    prints one JSON line per answer (``time.monotonic()`` is the host's clock, so its
    times compare with ours). :attr:`records` fills as the lines arrive.
    """

    def __init__(self, st: State, n: int, url: str, count: int, interval_s: float) -> None:
        self.records: list[dict] = []
        self._lock = threading.Lock()
        argv = ["ip", "netns", "exec", netns(n), st.python, str(SIM_PY),
                "_probe", "--proxy", f"{node_name(n)}:{L5D_PORTS['outgoing']}", "--url", url,
                "--count", str(count), "--interval-ms", str(interval_s * 1000)]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=base_env(), text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                self.records.append(rec)

    def snapshot(self) -> list[dict]:
        """:return: a copy of the records so far."""
        with self._lock:
            return list(self.records)

    @property
    def done(self) -> bool:
        """Whether the probe process has ended and all its lines are read."""
        return self.proc.poll() is not None and not self._reader.is_alive()

    def stop(self) -> None:
        """End the probe process (SIGTERM, then SIGKILL after 5 s) and its reader."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(5)


def probe_main(proxy: str, url: str, count: int, interval_s: float) -> int:
    """``sim.py _probe``: GET ``url`` through ``proxy`` (``host:port``) ``count`` times.

    Prints one JSON line per request: ``i``, ``t0``/``t1`` (send and answer times,
    ``time.monotonic()``), ``status`` (0: no answer), ``pod``, ``body`` and, when not
    200, ``via``.

    :return: the exit status (0).
    """
    host, _, port = proxy.rpartition(":")
    conn = None
    for i in range(count):
        t0 = time.monotonic()
        rec: dict[str, Any] = {"i": i, "t0": t0}
        try:
            if conn is None:
                conn = http.client.HTTPConnection(host, int(port), timeout=HTTP_TIMEOUT_S)
            conn.request("GET", url)
            rsp = conn.getresponse()
            body = rsp.read()
            rec.update(status=rsp.status, pod=pod_ip_of(body),
                       body=body[:200].decode(errors="replace"))
            if rsp.status != 200:  # who answered it
                rec["via"] = rsp.getheader("via")
            if rsp.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as e:
            rec.update(status=0, pod=None, body=f"{type(e).__name__}: {e}")
            if conn is not None:
                conn.close()
            conn = None
        rec["t1"] = time.monotonic()
        try:
            print(json.dumps(rec), flush=True)
        except BrokenPipeError:
            return 0
        left = interval_s - (rec["t1"] - t0)
        if left > 0:
            time.sleep(left)
    return 0
