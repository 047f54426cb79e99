"""The router end to end with real clients: curl and requests through http_proxy."""

from __future__ import annotations

import json
import os
import subprocess

import requests

from tests.helpers.backends import EchoBackend
from tests.helpers.l5d_process import L5d


class RouterSmokeTests:
    """A request sent as an http_proxy client sends it reaches the backend the dtab names."""

    def test_curl_through_http_proxy_reaches_the_backend(self) -> None:
        """curl http://hello/ with http_proxy set is routed by Host to the inet address."""
        with EchoBackend() as backend, L5d(f"/svc/hello=>/$/inet/127.0.0.1/{backend.port}") as l5d:
            out = subprocess.run(["curl", "-s", "-i", "http://hello/x?y=1"], capture_output=True,
                                 env=dict(os.environ, http_proxy=l5d.proxy), timeout=30, check=True)
            head, _, body = out.stdout.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), out.stdout
            seen = json.loads(body)
            assert seen["target"] == "/x?y=1"
            names = {n.lower(): v for n, v in seen["headers"]}
            assert names["host"] == "hello"
            assert names["l5d-dst-service"] == "/svc/hello"
            assert names["l5d-dst-client"] == f"/$/inet/127.0.0.1/{backend.port}"

    def test_requests_through_http_proxy_gets_a_502_for_an_unknown_name(self) -> None:
        """An unroutable name is a 502 whose l5d-err names the service."""
        with L5d("/svc/hello=>/$/inet/127.0.0.1/9") as l5d:
            rsp = requests.get("http://nope/", proxies={"http": f"http://{l5d.proxy}"}, timeout=10)
            assert rsp.status_code == 502
            assert "service name: /svc/nope" in rsp.text
            assert "l5d-err" in rsp.headers
