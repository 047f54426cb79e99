"""Requests: plain HTTP GETs, GETs through a node's l5d, and waiting until the mesh routes."""

from __future__ import annotations

import http.client
import re
import socket

from .layout import L5D_PORTS, SERVICES, l5d_ip, node_name
from .procs import E2E_READY_S, HTTP_TIMEOUT_S, wait_for
from .state import State

HELLO_RE = re.compile(r"Hello \((10\.244\.\d+\.\d+)\) world \((10\.244\.\d+\.\d+)\)!!")
#: service -> what its pods answer to ``GET /``
ANSWER_RE = {"hello": HELLO_RE, "world-v1": re.compile(r"world \((10\.244\.\d+\.\d+)\)!")}


def tcp_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """:return: whether ``host:port`` accepts a connection."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_get(host: str, port: int, target: str,
             timeout: float = HTTP_TIMEOUT_S) -> tuple[int, dict, bytes]:
    """One plain HTTP/1.1 GET (no proxy settings from the environment).

    :return: the status, the headers (lower-case names) and the body.
    """
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", target)
        rsp = conn.getresponse()
        return rsp.status, {k.lower(): v for k, v in rsp.getheaders()}, rsp.read()
    finally:
        conn.close()


def via_l5d(n: int, url: str, timeout: float = HTTP_TIMEOUT_S) -> tuple[int, dict, bytes]:
    """GET ``url`` through node ``n``'s l5d :4140, as an app with ``http_proxy`` would."""
    return http_get(l5d_ip(n), L5D_PORTS["outgoing"], url, timeout=timeout)


def mesh_ready(st: State) -> None:
    """Wait until every node's l5d routes every service: from each node, to the services
    with no pod there (node to node, 4140 -> the other node's 4141) and to those with one
    (4140 -> this l5d's own 4141 -> the local pod). hello's pods call ``world`` through
    their own node's l5d, so every outgoing and incoming router is on some path.

    :raises SimError: if a service does not answer within ``E2E_READY_S``.
    """
    def answered(n: int, service: str) -> bool:
        status, _, body = via_l5d(n, f"http://{service}/", timeout=12)
        text = body.decode(errors="replace")
        return status == 200 and ANSWER_RE[service].fullmatch(text) is not None

    for n in range(1, st.nodes + 1):
        for service in SERVICES:
            wait_for(f"http://{service}/ from {node_name(n)}",
                     lambda n=n, service=service: answered(n, service), E2E_READY_S,
                     interval_s=0.3)
