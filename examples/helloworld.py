#!/usr/bin/env python3
"""A re-creation of Buoyant's ``helloworld`` demo service (linkerd-examples), stdlib only.

    helloworld.py -addr :7777 -text Hello -target world     # calls http://world via $http_proxy
    helloworld.py -addr :7778 -text world

It answers ``<text> (<POD_IP>)``, followed by `` <target's body>`` when it has a
target, then ``!``: so ``hello`` answers ``Hello (127.0.0.1) world (127.0.0.1)!!``.
The target is fetched with Python's default opener, which honours ``http_proxy``,
exactly as the Go original honours it; every incoming ``l5d-ctx-*`` header is
copied onto that call. ``TARGET_WORLD`` overrides ``-text``. ``-latency`` sleeps
before answering, ``-failure-rate`` answers 500 that fraction of the time,
``-json`` wraps the answer as ``{"api_result": ...}``. POST ``/setLatency?latency=500ms``
and ``/setFailureRate?failureRate=0.5`` change them at run time.
``GET /headers`` answers, as JSON, what this pod received: its ``pod`` IP, ``text``,
the request ``method`` and ``target``, and every request ``headers`` field in order
as ``[name, value]`` pairs (so a test can see the ``l5d-dst-*`` and ``Via`` fields
l5d added); it ignores ``-latency``, ``-failure-rate`` and ``-target``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def parse_duration(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)?", text.strip())
    if not m:
        raise ValueError(f"bad duration {text!r} (use e.g. 500ms or 2s)")
    value = float(m.group(1))
    seconds = value if m.group(2) == "s" else value / 1000  # bare numbers are ms
    return min(seconds, 10.0)


class State:
    def __init__(self, latency: float, failure_rate: float) -> None:
        self.lock = threading.Lock()
        self.latency = latency
        self.failure_rate = failure_rate
        self.rng = random.Random()


def make_handler(text: str, target: str | None, pod_ip: str, as_json: bool, state: State):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "helloworld/0.1"
        # TCP_NODELAY, as Go's net/http (the original) has: the head and the body are two
        # writes, and Nagle + a keep-alive peer's delayed ACK would hold the body ~40 ms.
        disable_nagle_algorithm = True

        def log_message(self, fmt: str, *args) -> None:  # quiet
            pass

        def _send(self, status: int, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            q = parse_qs(url.query)
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            try:
                if url.path == "/setLatency":
                    state.latency = parse_duration(q["latency"][0])
                elif url.path == "/setFailureRate":
                    rate = float(q["failureRate"][0])
                    if not 0.0 <= rate <= 1.0:
                        raise ValueError("failureRate must be in 0..1")
                    state.failure_rate = rate
                else:
                    self._send(405, "method not allowed\n")
                    return
            except (KeyError, ValueError) as e:
                self._send(400, f"{e}\n")
                return
            self._send(200, "ok\n")

        def do_GET(self) -> None:
            if urlsplit(self.path).path == "/headers":
                data = json.dumps({"pod": pod_ip, "text": text, "method": self.command,
                                   "target": self.path,
                                   "headers": [[k, v] for k, v in self.headers.items()]})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data.encode())))
                self.end_headers()
                self.wfile.write(data.encode())
                return
            if state.latency:
                time.sleep(state.latency)
            with state.lock:
                fail = state.rng.random() < state.failure_rate
            if fail:
                self._send(500, "")
                return
            body = f"{text} ({pod_ip})"
            if target:
                req = urllib.request.Request(f"http://{target}/")
                for name, value in self.headers.items():
                    if name.lower().startswith("l5d-ctx"):
                        req.add_header(name, value)
                try:
                    with urllib.request.urlopen(req, timeout=10) as rsp:
                        body += " " + rsp.read().decode()
                except (urllib.error.URLError, OSError) as e:
                    self._send(503, f"{e}\n")
                    return
            body += "!"
            if as_json:
                body = json.dumps({"api_result": body})
            self._send(200, body)

    return Handler


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-addr", default=":7777")
    p.add_argument("-text", default="Hello")
    p.add_argument("-target", default=None)
    p.add_argument("-latency", default="0ms")
    p.add_argument("-failure-rate", dest="failure_rate", type=float, default=0.0)
    p.add_argument("-json", action="store_true")
    args = p.parse_args()
    host, _, port = args.addr.rpartition(":")
    text = os.environ.get("TARGET_WORLD") or args.text
    pod_ip = os.environ.get("POD_IP", "127.0.0.1")
    state = State(parse_duration(args.latency), args.failure_rate)
    server = ThreadingHTTPServer((host or "127.0.0.1", int(port)),
                                 make_handler(text, args.target, pod_ip, args.json, state))
    server.daemon_threads = True
    print(f"helloworld: {text!r} on {server.server_address[0]}:{server.server_address[1]}"
          + (f", target {args.target}" if args.target else ""), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
