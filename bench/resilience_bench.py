#!/usr/bin/env python3
"""resilience_bench.py - one slow, one flaky and one healthy backend behind l5d, nginx and
HAProxy, in the same run: success rate, latency, where the requests went and how many were
retried.

Three HTTP backends on 127.0.0.1 (this script, --serve-backends, one asyncio process):
  slow     answers every request after --slow-ms (default 50 ms)
  flaky    answers 500 to a random --fail-rate (default 20 %) of its requests (seeded)
  healthy  answers at once
Each counts what it served; GET /stats on the side port (BASE) returns the counts as JSON and
POST /reset zeroes them and re-seeds the flaky backend (done before every measured run, so
every peer sees the same sequence of failures).

Peers (--peers, comma-separated, run one at a time, in the order given):
  l5d-ewma   l5d, client.loadBalancer.kind=ewma and
             service.responseClassifier.kind=io.l5d.http.retryableRead5XX (default budget)
  l5d-rr     l5d, client.loadBalancer.kind=roundRobin, no retries (default classifier)
  l5d-plain  l5d with no policy key at all (what works before loadBalancer/retries exist)
  nginx-rr   nginx round robin, upstream keepalive, proxy_next_upstream off (no retries)
  haproxy    HAProxy balance leastconn, retries 3, option redispatch, retry-on 5xx responses
l5d names the three backends as one service: an io.l5d.fs file `backends` with three
`127.0.0.1 PORT` lines, dtab `/svc => /#/io.l5d.fs;`, so `GET http://backends/` (Host:
backends) is /svc/backends -> /#/io.l5d.fs/backends: one client with three endpoints.
Every peer is sent the same absolute-form request (as an http_proxy client sends it):
    GET http://backends/ HTTP/1.1
    Host: backends

Per peer: a fresh proxy process, a warm-up (--warmup requests, not counted), the backends'
counters reset, then exactly --requests GETs at --concurrency keep-alive connections from
this script's own asyncio load generator (per request: status, latency, which backend
answered, or the error); then the proxy is stopped. Output (--out, default
/tmp/l5d-resilience-bench): table.md (printed), results.json, raw/PEER.tsv (one line per
request), raw/PEER.backends.json, the generated configs and logs/.

With 2+ CPUs the proxy runs on CPU 0, the backends and the load generator on CPU 1.
Only 127.0.0.1 is used; every process started here is stopped on exit (also on Ctrl-C or
SIGTERM), and every step has a time limit.

usage: bench/resilience_bench.py [options]
  --peers LIST        default l5d-ewma,l5d-rr,nginx-rr,haproxy
  --requests N        measured requests per peer (default 20000)
  --concurrency C     connections, each with one request in flight (default 32)
  --warmup N          unmeasured requests per peer first (default 1000; 0: none)
  --slow-ms MS        delay of the slow backend (default 50)
  --fail-rate F       share of the flaky backend's requests answered 500 (default 0.2)
  --seed S            the flaky backend's seed (default 1)
  --timeout S         per-request limit; over it the request is an error (default 10)
  --run-timeout S     limit for one measured run (default 600)
  --base-port P       ports P (stats), P+1..P+3 (backends), P+10 nginx, P+20 haproxy,
                      P+40.. l5d peers (default 24300)
  --out DIR           results directory (default /tmp/l5d-resilience-bench)
  --no-pin            do not pin processes to CPUs
  --check-configs     write every peer's config, check it (YAML, l5d --validate, nginx -t,
                      haproxy -c) and exit: 0 if all are accepted
  --install           apt-get install nginx / haproxy if a selected peer needs them (root)
env: PY - the interpreter that runs l5d (default: the repository's .venv/bin/python)
"""

import argparse
import asyncio
import collections
import json
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
ALL_PEERS = ("l5d-ewma", "l5d-rr", "l5d-plain", "nginx-rr", "haproxy")
DEFAULT_PEERS = "l5d-ewma,l5d-rr,nginx-rr,haproxy"
BACKENDS = ("slow", "flaky", "healthy")  # on BASE+1, BASE+2, BASE+3
SERVICE = "backends"  # the Host / the io.l5d.fs file name
PROXY_CPU, LOAD_CPU = 0, 1

# Nothing here may leave the machine, whatever the caller's environment says.
for _v in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
           "ALL_PROXY", "no_proxy", "NO_PROXY"):
    os.environ.pop(_v, None)


def note(msg):
    print("# " + msg, file=sys.stderr, flush=True)


class Fatal(Exception):
    pass


# ---------------------------------------------------------------------------------------
# Backends (run as a child process: resilience_bench.py --serve-backends ...)
# ---------------------------------------------------------------------------------------

class BackendState:
    def __init__(self, name, delay_s, fail_rate, seed):
        self.name, self.delay_s, self.fail_rate, self.seed = name, delay_s, fail_rate, seed
        self.reset(seed)

    def reset(self, seed):
        self.rng = random.Random(seed)
        self.served = self.ok = self.err = 0

    def stats(self):
        return {"served": self.served, "2xx": self.ok, "5xx": self.err,
                "delay_ms": self.delay_s * 1000, "fail_rate": self.fail_rate}


def _parse_heads(buf):
    """Complete request heads at the front of buf -> [(method, target, close)], consumed."""
    out = []
    while True:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return out
        head = bytes(buf[:end]).lower()
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ")
        length = 0
        close = parts[-1] == b"http/1.0"
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            v = v.strip()
            if k == b"content-length":
                length = int(v)
            elif k == b"connection":
                close = b"close" in v if not close else b"keep-alive" not in v
            elif k == b"transfer-encoding":
                raise ValueError("chunked request bodies are not supported")
        if len(buf) < end + 4 + length:
            return out
        del buf[:end + 4 + length]
        out.append((parts[0], parts[1] if len(parts) > 1 else b"/", close))


class BackendProtocol(asyncio.Protocol):
    """One connection to a backend: requests answered in order, one at a time."""

    def __init__(self, state):
        self.state = state
        self.buf = bytearray()
        self.queue = collections.deque()
        self.busy = False
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buf += data
        try:
            self.queue.extend(_parse_heads(self.buf))
        except ValueError:
            self.transport.write(b"HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n")
            self.transport.close()
            return
        self.pump()

    def pump(self):
        if self.busy or not self.queue:
            return
        self.busy = True
        close = self.queue.popleft()[2]
        if self.state.delay_s > 0:
            asyncio.get_running_loop().call_later(self.state.delay_s, self.respond, close)
        else:
            self.respond(close)

    def respond(self, close):
        self.busy = False
        t = self.transport
        if t is None or t.is_closing():
            return
        st = self.state
        fail = st.fail_rate > 0 and st.rng.random() < st.fail_rate
        body = (st.name + ("-fail\n" if fail else "\n")).encode()
        status = b"500 Internal Server Error" if fail else b"200 OK"
        t.write(b"HTTP/1.1 %s\r\nContent-Type: text/plain\r\nX-Backend: %s\r\n"
                b"Content-Length: %d\r\n%s\r\n%s"
                % (status, st.name.encode(), len(body),
                   b"Connection: close\r\n" if close else b"", body))
        st.served += 1
        if fail:
            st.err += 1
        else:
            st.ok += 1
        if close:
            t.close()
        else:
            self.pump()

    def connection_lost(self, exc):
        self.transport = None


class StatsProtocol(asyncio.Protocol):
    """GET /stats: the counters as JSON. POST /reset?seed=S: zero them, re-seed the RNGs."""

    def __init__(self, states):
        self.states = states
        self.buf = bytearray()

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buf += data
        for method, target, close in _parse_heads(self.buf):
            target = target.decode("latin-1")
            if target.startswith("/reset"):
                seed = None
                if "seed=" in target:
                    seed = int(target.split("seed=", 1)[1].split("&")[0])
                for st in self.states.values():
                    st.reset(st.seed if seed is None else seed)
            body = json.dumps({n: s.stats() for n, s in self.states.items()}).encode()
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            if close:
                self.transport.close()


async def serve_backends(args):
    base = args.base_port
    states = {
        "slow": BackendState("slow", args.slow_ms / 1000.0, 0.0, args.seed),
        "flaky": BackendState("flaky", 0.0, args.fail_rate, args.seed),
        "healthy": BackendState("healthy", 0.0, 0.0, args.seed),
    }
    loop = asyncio.get_running_loop()
    servers = []
    for i, name in enumerate(BACKENDS):
        st = states[name]
        servers.append(await loop.create_server(lambda st=st: BackendProtocol(st),
                                                "127.0.0.1", base + 1 + i, backlog=4096,
                                                reuse_address=True))
    servers.append(await loop.create_server(lambda: StatsProtocol(states), "127.0.0.1", base,
                                            reuse_address=True))
    print("backends ready: stats on 127.0.0.1:%d, %s" % (
        base, ", ".join("%s on %d" % (n, base + 1 + i) for i, n in enumerate(BACKENDS))),
        flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for s in servers:
        s.close()


# ---------------------------------------------------------------------------------------
# Load generator
# ---------------------------------------------------------------------------------------

REQUEST = (b"GET http://%s/ HTTP/1.1\r\nHost: %s\r\nUser-Agent: resilience-bench\r\n\r\n"
           % (SERVICE.encode(), SERVICE.encode()))


async def read_response(reader):
    """-> (status, backend, keep_alive). Raises on anything that is not a whole response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    first = lines[0].split(b" ", 2)
    if len(first) < 2 or not first[0].startswith(b"HTTP/1."):
        raise ValueError("bad status line %r" % lines[0][:60])
    status = int(first[1])
    length, chunked, backend = None, False, ""
    keep = first[0] == b"HTTP/1.1"
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        k = k.strip().lower()
        v = v.strip()
        if k == b"content-length":
            length = int(v)
        elif k == b"transfer-encoding":
            chunked = b"chunked" in v.lower()
        elif k == b"connection":
            lv = v.lower()
            if b"close" in lv:
                keep = False
            elif b"keep-alive" in lv:
                keep = True
        elif k == b"x-backend":
            backend = v.decode("latin-1")
    if status < 200 or status in (204, 304):
        if status < 200:  # an interim response: the real one follows
            return await read_response(reader)
    elif chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                break
            await reader.readexactly(size + 2)
    elif length is not None:
        if length:
            await reader.readexactly(length)
    else:
        await reader.read()  # until the connection closes
        keep = False
    return status, backend, keep


async def run_load(port, n, conc, timeout_s, run_timeout_s):
    """Exactly n requests over conc keep-alive connections -> dict of per-request lists."""
    status = [0] * n
    lat_us = [0] * n
    backend = [""] * n
    error = ["not sent"] * n
    nxt = [0]
    inflight = {}  # worker id -> [t0, writer, timed_out]

    async def worker(w):
        reader = writer = None
        while nxt[0] < n:
            i = nxt[0]
            nxt[0] += 1
            t0 = time.perf_counter()
            if writer is None:
                try:
                    reader, writer = await asyncio.wait_for(
                        asyncio.open_connection("127.0.0.1", port), timeout_s)
                except (OSError, asyncio.TimeoutError) as e:
                    error[i] = "connect: %s" % (type(e).__name__,)
                    reader = writer = None
                    await asyncio.sleep(0.01)
                    continue
            slot = inflight[w] = [t0, writer, False]
            try:
                writer.write(REQUEST)
                st, be, keep = await read_response(reader)
            except (OSError, EOFError, ValueError, asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError) as e:
                error[i] = "timeout" if slot[2] else "%s" % (type(e).__name__,)
                writer.transport.abort()
                reader = writer = None
                continue
            finally:
                inflight.pop(w, None)
            lat_us[i] = int((time.perf_counter() - t0) * 1e6)
            status[i], backend[i], error[i] = st, be, ""
            if not keep:
                writer.transport.abort()
                reader = writer = None
        if writer is not None:
            writer.transport.abort()

    async def watchdog():
        while True:
            await asyncio.sleep(0.05)
            now = time.perf_counter()
            for slot in list(inflight.values()):
                if not slot[2] and now - slot[0] > timeout_s:
                    slot[2] = True
                    slot[1].transport.abort()

    dog = asyncio.ensure_future(watchdog())
    workers = [asyncio.ensure_future(worker(w)) for w in range(conc)]
    t_start = time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.gather(*workers), run_timeout_s)
        timed_out = False
    except asyncio.TimeoutError:
        timed_out = True
    elapsed = time.perf_counter() - t_start
    dog.cancel()
    for slot in inflight.values():
        slot[1].transport.abort()
    return {"status": status, "lat_us": lat_us, "backend": backend, "error": error,
            "elapsed_s": elapsed, "run_timed_out": timed_out}


# ---------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------

class Procs:
    """Every process started here, each in its own process group, stopped on exit."""

    def __init__(self, pin):
        self.pin = pin
        self.procs = []

    def start(self, name, argv, log, cpu):
        def pre():
            if self.pin:
                os.sched_setaffinity(0, {cpu})
        f = open(log, "ab")
        p = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.DEVNULL, stdout=f,
                             stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=pre)
        f.close()
        p.l5d_bench_name = name
        self.procs.append(p)
        return p

    def stop(self, p, grace=5.0):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        # whatever is left of its group (nginx workers, ...): KILL
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            note("process %d (%s) did not exit" % (p.pid, p.l5d_bench_name))
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self):
        for p in list(reversed(self.procs)):
            self.stop(p)


def port_in_use(port):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def http_get(port, path="/", method="GET", host=None, timeout=2.0):
    """A request on a fresh connection -> (status, headers dict lower-cased, body)."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, headers={"Host": host} if host else {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def backend_stats(base, reset_seed=None):
    path = "/stats" if reset_seed is None else "/reset?seed=%d" % reset_seed
    st, _, body = http_get(base, path, method="GET" if reset_seed is None else "POST")
    if st != 200:
        raise Fatal("backend stats answered %d" % st)
    return json.loads(body)


def wait_ready(proc, port, log, secs=20.0):
    """Until a request through the proxy is answered by one of our backends."""
    deadline = time.monotonic() + secs
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Fatal("%s exited during start-up (status %s); last lines of %s:\n%s"
                        % (proc.l5d_bench_name, proc.returncode, log, tail(log)))
        try:
            st, hdrs, _ = http_get(port, "http://%s/" % SERVICE, host=SERVICE, timeout=1.0)
            if hdrs.get("x-backend") in BACKENDS:
                return
            last = "answered %d without X-Backend" % st
        except OSError as e:
            last = str(e)
        time.sleep(0.2)
    raise Fatal("%s gave no answer from a backend through port %d within %.0f s (%s); see %s"
                % (proc.l5d_bench_name, port, secs, last, log))


def tail(path, n=8):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


# ---------------------------------------------------------------------------------------
# Peer configurations
# ---------------------------------------------------------------------------------------

# Per-peer policy keys, put into the router of L5D_TEMPLATE (indented as router keys).
# Linkerd 1.x names: client.loadBalancer (ewma, roundRobin, ...) and
# service.responseClassifier; leaving service.retries out means Linkerd's default retry
# budget (percentCanRetry 0.2, minRetriesPerSec 10, ttlSecs 10).
L5D_POLICY = {
    "l5d-ewma": """\
  client:
    kind: io.l5d.global
    loadBalancer:
      kind: ewma
  service:
    kind: io.l5d.global
    responseClassifier:
      kind: io.l5d.http.retryableRead5XX
""",
    "l5d-rr": """\
  client:
    kind: io.l5d.global
    loadBalancer:
      kind: roundRobin
""",
    "l5d-plain": "",
}

# What L5D_POLICY must parse to (checked by --check-configs and before every run).
L5D_POLICY_KEYS = {
    "l5d-ewma": {"client": {"kind": "io.l5d.global", "loadBalancer": {"kind": "ewma"}},
                 "service": {"kind": "io.l5d.global",
                             "responseClassifier": {"kind": "io.l5d.http.retryableRead5XX"}}},
    "l5d-rr": {"client": {"kind": "io.l5d.global", "loadBalancer": {"kind": "roundRobin"}}},
    "l5d-plain": {},
}

L5D_TEMPLATE = """\
# Generated by bench/resilience_bench.py for the {peer} peer.
# GET http://{service}/ (Host: {service}) is identified as /svc/{service} (default
# identifier: io.l5d.header.token on Host), the dtab sends it to /#/io.l5d.fs/{service},
# and that file lists the three backends: one client with three endpoints.
admin:
  ip: 127.0.0.1
  port: 0
  shutdownGraceMs: 2000
workers: 1  # one router process: its balancer sees every request (docs/workers.md)
namers:
- kind: io.l5d.fs
  rootDir: {disco}
routers:
- protocol: http
  label: {label}
  dtab: |
    /svc => /#/io.l5d.fs;
  servers:
  - ip: 127.0.0.1
    port: {port}
{policy}"""

NGINX_TEMPLATE = """\
# Generated by bench/resilience_bench.py: nginx round robin over the three backends, upstream
# keep-alive, no retries (proxy_next_upstream off). One worker.
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;

events {{
    worker_connections 4096;
    multi_accept on;
}}

http {{
    access_log off;
    keepalive_timeout 120s;
    keepalive_requests 100000000;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;

    upstream backends {{
{servers}
        keepalive 64;
        keepalive_requests 100000000;
    }}

    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_next_upstream off;
        }}
    }}
}}
"""

# HAProxy has no "5xx" keyword for retry-on: the 5xx statuses it can retry on are listed.
HAPROXY_TEMPLATE = """\
# Generated by bench/resilience_bench.py: HAProxy leastconn over the three backends, with
# layer-7 retries of 5xx answers (retries 3, option redispatch). One thread.
global
    nbthread 1
    maxconn 4096
    pidfile {dir}/haproxy.pid

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 30s
    timeout http-keep-alive 120s
    option http-keep-alive
    retries 3
    option redispatch
    retry-on conn-failure empty-response response-timeout 500 501 502 503 504

frontend fe
    bind 127.0.0.1:{port}
    default_backend be

backend be
    balance leastconn
{servers}
"""


class Bench:
    def __init__(self, args):
        self.a = args
        self.out = os.path.abspath(args.out)
        self.base = args.base_port
        self.py = os.environ.get("PY") or os.path.join(REPO, ".venv", "bin", "python")
        self.backend_ports = [self.base + 1 + i for i in range(3)]
        self.ports = {"nginx-rr": self.base + 10, "haproxy": self.base + 20,
                      "l5d-ewma": self.base + 40, "l5d-rr": self.base + 41,
                      "l5d-plain": self.base + 42}
        ncpu = len(os.sched_getaffinity(0))
        self.pin = (not args.no_pin) and {PROXY_CPU, LOAD_CPU} <= os.sched_getaffinity(0)
        self.pin_note = ("proxy pinned to CPU %d; backends and load generator to CPU %d"
                         % (PROXY_CPU, LOAD_CPU) if self.pin else
                         "not pinned (%s)" % ("--no-pin" if args.no_pin else
                                              "%d CPU(s) available" % ncpu))
        self.procs = Procs(self.pin)

    # -- configs --------------------------------------------------------------------
    def write_configs(self, peer):
        """-> (argv, log, check argv or None) for a peer; writes its config under OUT."""
        port = self.ports[peer]
        if peer.startswith("l5d-"):
            disco = os.path.join(self.out, "disco")
            os.makedirs(disco, exist_ok=True)
            with open(os.path.join(disco, SERVICE), "w") as f:
                f.writelines("127.0.0.1 %d\n" % p for p in self.backend_ports)
            cfg = os.path.join(self.out, "%s.yaml" % peer)
            with open(cfg, "w") as f:
                f.write(L5D_TEMPLATE.format(peer=peer, service=SERVICE, disco=disco,
                                            label=peer, port=port,
                                            policy=L5D_POLICY[peer]))
            return ([self.py, "-m", "l5d", cfg], cfg,
                    [self.py, "-m", "l5d", "--validate", cfg])
        if peer == "nginx-rr":
            d = os.path.join(self.out, "nginx")
            for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
                os.makedirs(os.path.join(d, "tmp", sub), exist_ok=True)
            cfg = os.path.join(d, "nginx.conf")
            with open(cfg, "w") as f:
                f.write(NGINX_TEMPLATE.format(
                    dir=d, port=port,
                    servers="\n".join("        server 127.0.0.1:%d;" % p
                                      for p in self.backend_ports)))
            nginx = shutil.which("nginx") or "nginx"
            return ([nginx, "-e", "stderr", "-p", d, "-c", cfg, "-g", "daemon off;"], cfg,
                    [nginx, "-e", "stderr", "-p", d, "-c", cfg, "-t"])
        if peer == "haproxy":
            d = os.path.join(self.out, "haproxy")
            os.makedirs(d, exist_ok=True)
            cfg = os.path.join(d, "haproxy.cfg")
            with open(cfg, "w") as f:
                f.write(HAPROXY_TEMPLATE.format(
                    dir=d, port=port,
                    servers="\n".join("    server %s 127.0.0.1:%d" % (n, p)
                                      for n, p in zip(BACKENDS, self.backend_ports))))
            hap = shutil.which("haproxy") or "haproxy"
            return [hap, "-db", "-f", cfg], cfg, [hap, "-c", "-f", cfg]
        raise Fatal("unknown peer %s" % peer)

    def check_config(self, peer, quiet=False):
        """-> (ok, message): the peer's own checker on its generated config."""
        _, cfg, check = self.write_configs(peer)
        if peer.startswith("l5d-"):
            try:
                import yaml
            except ImportError:
                yaml = None
            if yaml is not None:
                try:
                    with open(cfg) as f:
                        router = yaml.safe_load(f)["routers"][0]
                    got = {k: router.get(k) for k in ("client", "service") if k in router}
                    if router["servers"][0]["port"] != self.ports[peer]:
                        raise ValueError("wrong port")
                    if got != L5D_POLICY_KEYS[peer]:
                        raise ValueError("policy keys %r, meant %r" % (got, L5D_POLICY_KEYS[peer]))
                except Exception as e:  # noqa: BLE001 - report any malformation
                    return False, "%s: not well-formed: %s" % (cfg, e)
        try:
            r = subprocess.run(check, cwd=REPO, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=120)
        except FileNotFoundError:
            return False, "%s: %s is not installed" % (peer, check[0])
        except subprocess.TimeoutExpired:
            return False, "%s: %s took over 120 s" % (peer, " ".join(check))
        msg = (r.stdout + r.stderr).strip()
        return r.returncode == 0, "%s: %s" % (cfg, msg.splitlines()[-1] if msg else "ok")

    # -- tools ----------------------------------------------------------------------
    def ensure_tools(self, peers):
        need = {"nginx-rr": "nginx", "haproxy": "haproxy"}
        missing = sorted({need[p] for p in peers if p in need and not shutil.which(need[p])})
        if any(p.startswith("l5d-") for p in peers) and not os.access(self.py, os.X_OK):
            raise Fatal("no interpreter at %s for l5d (run 'make venv', or set PY)" % self.py)
        if not missing:
            return
        users = ", ".join(p for p in peers if need.get(p) in missing)
        if not self.a.install:
            raise Fatal("missing: %s (needed by %s). Install it (Debian/Ubuntu: apt-get install "
                        "%s), rerun as root with --install, or leave the peer out with --peers"
                        % (" ".join(missing), users, " ".join(missing)))
        if os.geteuid() != 0:
            raise Fatal("--install needs root (apt-get)")
        note("apt-get install %s (Debian starts the distribution's own service where an init "
             "system runs; this script never uses that instance)" % " ".join(missing))
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for cmd, limit in ((["apt-get", "update", "-qq"], 600),
                           (["apt-get", "install", "-y", "-qq", "--no-install-recommends"]
                            + missing, 900)):
            try:
                r = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, timeout=limit,
                                   stdout=sys.stderr)
            except subprocess.TimeoutExpired:
                raise Fatal("%s took over %d s" % (" ".join(cmd), limit))
            if r.returncode != 0:
                raise Fatal("%s failed (exit %d)" % (" ".join(cmd), r.returncode))
        still = [t for t in missing if not shutil.which(t)]
        if still:
            raise Fatal("still missing after apt-get: %s" % " ".join(still))

    def versions(self):
        v = {}
        for tool, cmd in (("nginx", ["nginx", "-v"]), ("haproxy", ["haproxy", "-v"])):
            if shutil.which(tool):
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
                first = ((r.stdout + r.stderr).strip().splitlines() or ["?"])[0]
                # "nginx version: nginx/1.22.1", "HAProxy version 2.6.12-1 2023/... - ..."
                words = first.replace("version:", "").replace("version", "").split()
                v[tool] = (words[-1].split("/")[-1] if tool == "nginx" else
                           words[1] if len(words) > 1 else first)
        try:
            rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                 capture_output=True, text=True, timeout=30).stdout.strip()
            dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO,
                                   capture_output=True, text=True, timeout=30).stdout.strip()
            v["l5d"] = rev + (" (+ uncommitted)" if dirty else "")
        except (OSError, subprocess.TimeoutExpired):
            v["l5d"] = "?"
        v["python (load generator)"] = sys.version.split()[0]
        return v

    # -- the run --------------------------------------------------------------------
    def run(self, peers):
        a = self.a
        self.ensure_tools(peers)
        os.makedirs(self.out, exist_ok=True)
        for sub in ("raw", "logs"):
            shutil.rmtree(os.path.join(self.out, sub), ignore_errors=True)
            os.makedirs(os.path.join(self.out, sub))
        for f in ("table.md", "results.json"):
            try:
                os.remove(os.path.join(self.out, f))
            except FileNotFoundError:
                pass
        # every config is checked before anything starts
        bad = []
        for p in peers:
            ok, msg = self.check_config(p)
            if not ok:
                bad.append(msg)
        if bad:
            raise Fatal("a peer's config is rejected (leave the peer out with --peers):\n  "
                        + "\n  ".join(bad))
        used = [self.base] + self.backend_ports + [self.ports[p] for p in peers]
        busy = [p for p in used if port_in_use(p)]
        if busy:
            raise Fatal("port(s) %s on 127.0.0.1 already in use (see --base-port)"
                        % ", ".join(map(str, busy)))

        meta = {
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "host": "%d CPUs, Linux %s" % (os.cpu_count(), os.uname().release),
            "pinning": self.pin_note, "versions": self.versions(),
            "requests": a.requests, "concurrency": a.concurrency, "warmup": a.warmup,
            "slow_ms": a.slow_ms, "fail_rate": a.fail_rate, "seed": a.seed,
            "timeout_s": a.timeout, "peers": peers,
            "command": " ".join(["bench/resilience_bench.py"] + sys.argv[1:]),
        }
        for k, v in meta.items():
            note("%s: %s" % (k, v))
        if self.pin:
            os.sched_setaffinity(0, {LOAD_CPU})

        blog = os.path.join(self.out, "logs", "backends.log")
        bproc = self.procs.start("backends", [
            sys.executable, os.path.abspath(__file__), "--serve-backends",
            "--base-port", str(self.base), "--slow-ms", str(a.slow_ms),
            "--fail-rate", str(a.fail_rate), "--seed", str(a.seed)], blog, LOAD_CPU)
        deadline = time.monotonic() + 15
        while True:
            try:
                backend_stats(self.base)
                break
            except (OSError, Fatal):
                if bproc.poll() is not None or time.monotonic() > deadline:
                    raise Fatal("the backends did not start; see %s:\n%s" % (blog, tail(blog)))
                time.sleep(0.1)

        results = []
        for peer in peers:
            argv, cfg, _ = self.write_configs(peer)
            port = self.ports[peer]
            log = os.path.join(self.out, "logs", "%s.log" % peer)
            note("%s: starting (%s)" % (peer, cfg))
            proc = self.procs.start(peer, argv, log, PROXY_CPU)
            try:
                wait_ready(proc, port, log)
                if a.warmup:
                    note("%s: warm-up, %d requests" % (peer, a.warmup))
                    asyncio.run(run_load(port, a.warmup, a.concurrency, a.timeout,
                                         a.run_timeout))
                backend_stats(self.base, reset_seed=a.seed)
                note("%s: %d requests at concurrency %d" % (peer, a.requests, a.concurrency))
                load = asyncio.run(run_load(port, a.requests, a.concurrency, a.timeout,
                                            a.run_timeout))
                bstats = backend_stats(self.base)
                alive = proc.poll() is None
            finally:
                self.procs.stop(proc)
            res = summarize(peer, load, bstats)
            res["proxy_alive_after_run"] = alive
            results.append(res)
            self.write_raw(peer, load, bstats)
            note("%s: success %.3f %%, p50 %.1f ms, p99 %.1f ms, slow share %.1f %%, "
                 "retries %.1f %%, errors %d, %.1f s"
                 % (peer, 100 * res["success_rate"], res["p50_ms"], res["p99_ms"],
                    100 * res["slow_share"], 100 * res["retry_share"], res["errors"],
                    res["elapsed_s"]))
        self.procs.stop(bproc)

        table = render(meta, results)
        with open(os.path.join(self.out, "table.md"), "w") as f:
            f.write(table)
        with open(os.path.join(self.out, "results.json"), "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=2)
        print(table, end="")
        return 0

    def write_raw(self, peer, load, bstats):
        with open(os.path.join(self.out, "raw", "%s.tsv" % peer), "w") as f:
            f.write("i\tstatus\tlatency_us\tbackend\terror\n")
            for i, (st, lat, be, err) in enumerate(zip(load["status"], load["lat_us"],
                                                       load["backend"], load["error"])):
                f.write("%d\t%d\t%d\t%s\t%s\n" % (i, st, lat, be, err))
        with open(os.path.join(self.out, "raw", "%s.backends.json" % peer), "w") as f:
            json.dump(bstats, f, indent=2)


# ---------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------

def pct(sorted_vals, q):
    if not sorted_vals:
        return float("nan")
    k = max(0, min(len(sorted_vals) - 1, int(-(-q * len(sorted_vals) // 1)) - 1))
    return sorted_vals[k]


def summarize(peer, load, bstats):
    n = len(load["status"])
    lats = sorted(lat for lat, e in zip(load["lat_us"], load["error"]) if not e)
    ok = sum(1 for s in load["status"] if 200 <= s < 300)
    answered = len(lats)
    served = {b: bstats[b]["served"] for b in BACKENDS}
    total = sum(served.values())
    errs = collections.Counter(e for e in load["error"] if e)
    final = collections.Counter(b for b, e in zip(load["backend"], load["error"]) if not e)
    return {
        "peer": peer, "requests": n, "answered": answered, "ok": ok,
        "non_2xx": answered - ok, "errors": n - answered, "error_kinds": dict(errs),
        "success_rate": ok / n if n else 0.0,
        "p50_ms": pct(lats, 0.50) / 1000.0, "p99_ms": pct(lats, 0.99) / 1000.0,
        "max_ms": (lats[-1] / 1000.0) if lats else float("nan"),
        "backend_served": served, "backend_total": total,
        "slow_share": served["slow"] / total if total else 0.0,
        "retry_share": total / n - 1 if n else 0.0,
        "retries": total - n,
        "final_answer_from": dict(final),
        "elapsed_s": load["elapsed_s"], "rps": n / load["elapsed_s"] if load["elapsed_s"] else 0,
        "run_timed_out": load["run_timed_out"],
    }


def render(meta, results):
    lines = ["# resilience_bench: slow (%g ms) + flaky (%g %% 500) + healthy backend"
             % (meta["slow_ms"], 100 * meta["fail_rate"]), ""]
    lines.append("%s; %d requests per peer at concurrency %d after %d warm-up requests; "
                 "seed %d; %s." % (meta["date"], meta["requests"], meta["concurrency"],
                                   meta["warmup"], meta["seed"], meta["pinning"]))
    lines.append("Versions: %s." % "; ".join("%s %s" % kv for kv in meta["versions"].items()))
    lines += ["", ("| peer | requests | success | p50 ms | p99 ms | slow share | retries | "
                   "non-2xx | errors | req/s |"),
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        lines.append("| %s | %d | %.3f %% | %.1f | %.1f | %.1f %% | %.1f %% | %d | %d | %.0f |"
                     % (r["peer"], r["requests"], 100 * r["success_rate"], r["p50_ms"],
                        r["p99_ms"], 100 * r["slow_share"], 100 * r["retry_share"],
                        r["non_2xx"], r["errors"], r["rps"]))
    lines.append("")
    lines.append("slow share = requests the slow backend served / all the backends served; "
                 "retries = all the backends served / client requests - 1; errors = requests "
                 "with no complete response (%s)." % (
                     ", ".join("%s: %s" % (r["peer"], r["error_kinds"]) for r in results
                               if r["error_kinds"]) or "none"))
    lines += ["", "Targets (from the issue), for l5d-ewma:", "",
              "| target | measured | met |", "| --- | --- | --- |"]
    lines += ["| %s | %s | %s |" % t for t in targets(results)]
    lines.append("")
    return "\n".join(lines)


def targets(results):
    by = {r["peer"]: r for r in results}
    e = by.get("l5d-ewma")
    na = "n/a (l5d-ewma not run)"

    def yes(b):
        return "yes" if b else "**no**"
    out = []
    if e is None:
        for t in ("slow backend < 10 % of requests", "success >= 99.9 %",
                  "retries within the budget (20 % + 10/s)", "p99 <= 1/3 of l5d-rr's",
                  "success and p99 better than nginx-rr and haproxy"):
            out.append((t, "-", na))
        return out
    out.append(("slow backend < 10 % of requests", "%.1f %%" % (100 * e["slow_share"]),
                yes(e["slow_share"] < 0.10)))
    out.append(("success >= 99.9 %", "%.3f %%" % (100 * e["success_rate"]),
                yes(e["success_rate"] >= 0.999)))
    budget = 0.2 * e["requests"] + 10 * e["elapsed_s"]
    out.append(("retries within the budget (20 % + 10/s)",
                "%d retries, budget %d (%.1f s)" % (e["retries"], budget, e["elapsed_s"]),
                yes(e["retries"] <= budget)))
    rr = by.get("l5d-rr")
    if rr:
        out.append(("p99 <= 1/3 of l5d-rr's", "%.1f vs %.1f ms" % (e["p99_ms"], rr["p99_ms"]),
                    yes(e["p99_ms"] <= rr["p99_ms"] / 3)))
    else:
        out.append(("p99 <= 1/3 of l5d-rr's", "-", "n/a (l5d-rr not run)"))
    for ref in ("nginx-rr", "haproxy"):
        o = by.get(ref)
        t = "success and p99 better than %s" % ref
        if o:
            out.append((t, "%.3f %% vs %.3f %%, %.1f vs %.1f ms" % (
                100 * e["success_rate"], 100 * o["success_rate"], e["p99_ms"], o["p99_ms"]),
                # 100 % cannot be beaten: a tie at 100 % counts, p99 must still be lower
                yes((e["success_rate"] > o["success_rate"]
                     or e["success_rate"] == o["success_rate"] == 1.0)
                    and e["p99_ms"] < o["p99_ms"])))
        else:
            out.append((t, "-", "n/a (%s not run)" % ref))
    return out


# ---------------------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("-h", "--help", action="store_true")
    p.add_argument("--peers", default=DEFAULT_PEERS)
    p.add_argument("--requests", type=int, default=20000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--slow-ms", type=float, default=50.0)
    p.add_argument("--fail-rate", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--run-timeout", type=float, default=600.0)
    p.add_argument("--base-port", type=int, default=24300)
    p.add_argument("--out", default="/tmp/l5d-resilience-bench")
    p.add_argument("--no-pin", action="store_true")
    p.add_argument("--check-configs", action="store_true")
    p.add_argument("--install", action="store_true")
    p.add_argument("--serve-backends", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.help:
        print(__doc__.strip())
        sys.exit(0)
    if a.requests < 1 or a.concurrency < 1 or a.warmup < 0:
        p.error("--requests and --concurrency must be at least 1, --warmup at least 0")
    if not 0 <= a.fail_rate <= 1 or a.slow_ms < 0:
        p.error("--fail-rate must be within 0..1 and --slow-ms at least 0")
    if not 1024 <= a.base_port <= 65535 - 50:
        p.error("--base-port must be within 1024..65485")
    return a


def main(argv):
    a = parse_args(argv)
    if a.serve_backends:
        asyncio.run(serve_backends(a))
        return 0
    peers = [p.strip() for p in a.peers.split(",") if p.strip()]
    unknown = [p for p in peers if p not in ALL_PEERS]
    if unknown or not peers or len(set(peers)) != len(peers):
        print("resilience_bench.py: --peers wants distinct names from %s, not %r"
              % (", ".join(ALL_PEERS), a.peers), file=sys.stderr)
        return 2
    bench = Bench(a)

    def on_signal(signum, _frame):
        # the load generator's tasks are abandoned: no "exception never retrieved" noise
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        if a.check_configs:
            os.makedirs(bench.out, exist_ok=True)
            rc = 0
            for peer in peers:
                ok, msg = bench.check_config(peer)
                print("%-9s %s  %s" % (peer, "accepted" if ok else "REJECTED", msg))
                rc |= not ok
            return rc
        return bench.run(peers)
    except Fatal as e:
        print("resilience_bench.py: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        note("interrupted; stopping what was started")
        return 130
    finally:
        bench.procs.stop_all()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
