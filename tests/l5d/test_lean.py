"""What an l5d process imports (issue 14, memory): l5d/_lean.py and a worker's linker.

Each check runs a fresh interpreter, since this test process has imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: a worker's start, as ``l5d --worker`` makes it (l5d/main.py ``_work``), then what it imported
WORKER = r"""
import json, os, sys
import l5d.main as main
from l5d.reactor import install
install()
from twisted.internet import reactor
from l5d.linker import build
from l5d.workers.side import WorkerSide
from l5d.workers.worker import Worker
import l5d.workers.stats_ship
config = main.parse_config(open(sys.argv[1]).read(), sys.argv[1])
build(config, main.env_from(os.environ), reactor,
      worker=WorkerSide(0, lambda m: None, {}, ("127.0.0.1", 9990), {}))
print(json.dumps(sorted(sys.modules)))
"""

#: what a worker never needs: TLS (the stdlib's and pyOpenSSL), what only
#: ``twisted.python.compat``'s deprecated ``cookielib`` pulled in, the installed plugins'
#: metadata, and the control's parts
NOT_IN_A_WORKER = (
    "ssl", "OpenSSL", "http.client", "urllib.request", "email", "importlib.metadata",
    "l5d.namers.build", "l5d.transformers.build", "l5d.dtab_store.store",
    "l5d.dtab_store.build", "admin_ui",
)


def run(code: str, *args: str) -> str:
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, env={"PYTHONPATH": str(ROOT),
                                                      "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    return out.stdout


class LeanImportsTests:
    def test_a_worker_imports_no_tls_and_no_control_parts(self) -> None:
        """A worker's linker over examples/local.yaml loads none of NOT_IN_A_WORKER."""
        modules = set(json.loads(run(WORKER, str(ROOT / "examples" / "local.yaml"))))
        assert "l5d.http.router" in modules
        assert sorted(modules & set(NOT_IN_A_WORKER)) == []

    def test_cookiejar_loads_at_first_use(self) -> None:
        """http.cookiejar (imported by Twisted, lazily) works as soon as anyone reads it."""
        out = run("import sys, l5d.main, twisted.python.compat\n"
                  "print('http.client' in sys.modules)\n"
                  "from http.cookiejar import CookieJar\n"
                  "print(CookieJar().__class__.__name__, 'http.client' in sys.modules)")
        assert out.split() == ["False", "CookieJar", "True"]

    def test_ssl_still_imports_for_whoever_asks(self) -> None:
        """asyncio loaded without TLS; the ssl module itself imports and works."""
        out = run("import l5d.main, asyncio.sslproto, ssl\n"
                  "print(asyncio.sslproto.ssl, ssl.create_default_context().__class__.__name__)")
        assert out.split() == ["None", "SSLContext"]
