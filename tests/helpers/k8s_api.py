"""A real Kubernetes API server (etcd + kube-apiserver v1.20.2) on loopback, for tests.

``with ApiServer(tmp_dir) as api:`` builds the binaries once if they are not cached (by
running ``tests/k8s/build-apiserver.sh``, ~5-6 min the first time), generates a throwaway
PKI with openssl, starts etcd and kube-apiserver on free 127.0.0.1 ports and waits for
``/readyz``. ``api.url``, ``api.ca_file``, ``api.admin_token`` and ``api.port`` describe it;
``api.get/post/put/patch/delete`` and the object helpers talk to it as ``system:masters``.
Everything is stopped (SIGTERM, then SIGKILL) and its state deleted by ``stop()``.

What this server is (and is not), as found by running it:

* It is v1.20.2 with no controller-manager and no scheduler. Nothing creates Endpoints,
  EndpointSlices, ServiceAccount token Secrets or the ``kube-root-ca.crt`` ConfigMap: tests
  write them. A deleted namespace stays ``Terminating`` forever: never delete one, use a
  fresh namespace per test (etcd is wiped per ``ApiServer``).
* ``--endpoint-reconciler-type=none``: the ``default/kubernetes`` Endpoints does not exist
  (the Service does). The server would otherwise try to publish its own loopback address.
* Endpoints addresses are validated; refused with HTTP 422 ``Invalid``, e.g.
  ``Endpoints "web" is invalid: subsets[0].addresses[0].ip: Invalid value: "127.0.0.1": may
  not be in the loopback range (127.0.0.0/8)``. Also refused: link-local (``169.254.0.0/16``
  and ``fe80::/10``, both reported as "link-local range (169.254.0.0/16)"), link-local
  multicast (``224.0.0.0/24``), ``0.0.0.0`` ("may not be unspecified") and ``::1`` (reported
  as "loopback range (127.0.0.0/8)"); see :func:`endpoint_address_errors`. Use addresses like
  ``10.244.1.2``: they need not be reachable for list/watch. EndpointSlice v1beta1 does NOT
  check this (a 127.0.0.1 slice endpoint is accepted).
* An Endpoints subset with more than one port needs a ``name`` on every port ("Required
  value"); ``hostname`` must be a lowercase RFC 1123 label.
* A Service ``clusterIP`` must lie in ``--service-cluster-ip-range`` (10.96.0.0/16) or be
  ``None`` (headless): "failed to allocated ip:10.0.0.1 with error:provided IP is not in the
  valid range"; it is immutable on update. A merge patch replaces the ``ports`` list whole.
* EndpointSlice is ``discovery.k8s.io/v1beta1`` only; ``/apis/discovery.k8s.io/v1`` is 404.
* A watch from a compacted resourceVersion answers HTTP 200 and then one in-band
  ``{"type":"ERROR","object":{...,"reason":"Expired","code":410}}`` event. With the default
  watch cache old RVs stay replayable for long, so use ``watch_cache=False, compaction="5s"``
  (a second instance runs side by side) to provoke 410s; it takes ~2 compaction intervals.
* Bookmarks (``allowWatchBookmarks=true``) come only from the watch cache.
* On SIGTERM, kube-apiserver 1.20 stops listening at once but holds every open watch
  stream, silent, for up to 60 s, then closes it WITHOUT the terminating ``0`` chunk (a
  SIGKILL looks the same, at once). :meth:`ApiServer.restart` therefore kills it after a
  short grace. After a restart the watch cache starts at the RV it listed: a watch from
  any older RV gets the in-band ERROR 410 at once, even though etcd was not compacted, so
  a client must relist after reconnecting.
* Its own insecure port (8080 by default in 1.20) is disabled, so instances do not clash.
* ``requests`` with its default ``trust_env`` lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``
  (set on these machines) override a session's ``verify``, failing with "unable to get
  local issuer certificate"; use :meth:`ApiServer.session` or :func:`plain_session`.
* :meth:`ApiServer.watch` de-chunks the body itself: ``http.client``'s ``readline`` returns
  ``b""`` both at the terminating chunk and when the connection is cut.

The processes die with the Python thread that started them (``setpriv --pdeathsig``), so a
crashed test run leaves nothing behind; start them from the main thread.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import queue
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests

from tests.helpers.processes import terminate

K8S_VERSION = "1.20.2"
ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "tests" / "k8s" / "build-apiserver.sh"
ISSUER = "https://kubernetes.default.svc.cluster.local"
SERVICE_CIDR = "10.96.0.0/16"
SERVING_SANS = ("IP:127.0.0.1", "DNS:localhost", "DNS:kubernetes", "DNS:kubernetes.default",
                "DNS:kubernetes.default.svc", "DNS:kubernetes.default.svc.cluster.local")
BUILD_TIMEOUT_S = 30 * 60
ETCD_READY_TIMEOUT_S = 30.0
APISERVER_READY_TIMEOUT_S = 90.0
RESTART_GRACE_S = 3.0
REQUEST_TIMEOUT_S = 30.0
START_ATTEMPTS = 3
LOOPBACK_REFUSAL = "may not be in the loopback range"


class ApiError(Exception):
    """An API request answered with a non-2xx status.

    :param status: the HTTP status code.
    :param body: the parsed JSON body (a ``Status`` object) or the raw text.
    """

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        self.reason = body.get("reason", "") if isinstance(body, dict) else ""
        self.message = body.get("message", "") if isinstance(body, dict) else str(body)
        super().__init__(f"{method} {path} -> {status} {self.reason}: {self.message}")


# --- binaries --------------------------------------------------------------------------


def cache_dir() -> Path:
    """:return: the directory ``build-apiserver.sh`` caches the binaries in."""
    override = os.environ.get("L5D_K8S_CACHE")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "l5d-k8s" / f"kube-apiserver-{K8S_VERSION}"


def apiserver_binary() -> Path:
    """:return: the cached kube-apiserver path (may not exist yet)."""
    return cache_dir() / "kube-apiserver"


def kubectl_binary() -> Path:
    """:return: the cached kubectl 1.20.2 path (may not exist yet)."""
    return cache_dir() / "kubectl"


def ensure_binaries(timeout_s: float = BUILD_TIMEOUT_S) -> None:
    """Run the build script unless kube-apiserver, kubectl and etcd are all present.

    :param timeout_s: bound on the build (the first one takes ~5-6 minutes).
    :raises RuntimeError: if the build fails, with the script's output.
    """
    ready = (os.access(apiserver_binary(), os.X_OK) and os.access(kubectl_binary(), os.X_OK)
             and shutil.which("etcd") and shutil.which("openssl"))
    if ready:
        return
    done = subprocess.run(["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{BUILD_SCRIPT} failed ({done.returncode}):\n{done.stdout}")


# --- processes -------------------------------------------------------------------------


def free_port() -> int:
    """:return: a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent(argv: list[str]) -> list[str]:
    """:return: ``argv`` wrapped so the process gets SIGTERM if the spawning thread dies.

    Uses util-linux ``setpriv --pdeathsig`` (no ``preexec_fn``, which is unsafe with
    threads); unwrapped if ``setpriv`` is missing.
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *argv] if setpriv else argv


def spawn(argv: list[str], log_path: Path, env: dict | None = None) -> subprocess.Popen:
    """Start ``argv`` with stdout and stderr appended to ``log_path``.

    :param argv: the command line.
    :param log_path: the file that receives the output.
    :param env: extra environment variables.
    :return: the process.
    """
    with open(log_path, "ab") as log:
        return subprocess.Popen(die_with_parent(argv), stdin=subprocess.DEVNULL, stdout=log,
                                stderr=log, env=dict(os.environ, **(env or {})))


def tail(path: Path, lines: int = 40) -> str:
    """:return: the last ``lines`` lines of a log file (empty if it is missing)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_until(ready: Callable[[], bool], proc: subprocess.Popen, log_path: Path,
               what: str, timeout_s: float) -> None:
    """Poll ``ready()`` until true; fail early if ``proc`` exits.

    :param ready: the readiness probe (exceptions count as not ready).
    :param proc: the process being waited for.
    :param log_path: its log, quoted on failure.
    :param what: a name for error messages.
    :param timeout_s: the bound on the wait.
    :raises RuntimeError: on exit or timeout.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if ready():
                return
        except (requests.RequestException, OSError):
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{tail(log_path)}")
        if time.monotonic() >= deadline:
            raise RuntimeError(f"{what} not ready after {timeout_s:.0f} s:\n{tail(log_path)}")
        time.sleep(0.1)


def address_in_use(log_path: Path) -> bool:
    """:return: whether a process's log says it lost a race for its port."""
    return "address already in use" in tail(log_path, 200).lower()


# --- PKI -------------------------------------------------------------------------------


@dataclass
class Pki:
    """Files of the throwaway PKI: CA, serving cert, SA signing keys, static token file."""

    ca_file: Path
    ca_key: Path
    cert_file: Path
    key_file: Path
    sa_key: Path
    sa_pub: Path
    token_file: Path
    admin_token: str


def openssl_config(sans: tuple[str, ...]) -> str:
    """:return: an openssl config with ``v3_ca`` and ``v3_server`` extension sections."""
    alt = "\n".join(f"{kind}.{i} = {value}" for i, (kind, value) in
                    enumerate((san.split(":", 1) for san in sans), start=1))
    return f"""\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = l5d-test
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = @alt
[alt]
{alt}
"""


def openssl(*args: str | Path) -> None:
    """Run ``openssl args...``.

    :raises RuntimeError: with openssl's output if it fails.
    """
    done = subprocess.run(["openssl", *map(str, args)], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(map(str, args))} failed:\n{done.stdout}")


def make_pki(directory: Path) -> Pki:
    """Generate a CA, a serving cert for 127.0.0.1, SA keys and an admin token.

    :param directory: where the files go (created).
    :return: the file paths and the admin token.
    """
    directory.mkdir(parents=True, exist_ok=True)
    d = directory
    cnf = d / "openssl.cnf"
    cnf.write_text(openssl_config(SERVING_SANS))
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-config", cnf,
            "-extensions", "v3_ca", "-subj", "/CN=l5d-test-ca", "-keyout", d / "ca.key",
            "-out", d / "ca.crt")
    openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-config", cnf,
            "-subj", "/CN=kube-apiserver", "-keyout", d / "apiserver.key",
            "-out", d / "apiserver.csr")
    openssl("x509", "-req", "-in", d / "apiserver.csr", "-CA", d / "ca.crt", "-CAkey", d / "ca.key",
            "-CAcreateserial", "-days", "3650", "-extfile", cnf, "-extensions", "v3_server",
            "-out", d / "apiserver.crt")
    openssl("genrsa", "-out", d / "sa.key", "2048")
    openssl("rsa", "-in", d / "sa.key", "-pubout", "-out", d / "sa.pub")
    token = secrets.token_hex(24)
    (d / "tokens.csv").write_text(f'{token},admin,admin,"system:masters"\n')
    return Pki(ca_file=d / "ca.crt", ca_key=d / "ca.key", cert_file=d / "apiserver.crt",
               key_file=d / "apiserver.key", sa_key=d / "sa.key", sa_pub=d / "sa.pub",
               token_file=d / "tokens.csv", admin_token=token)


# --- etcd and kube-apiserver -----------------------------------------------------------


def etcd_argv(data_dir: Path, client_port: int, peer_port: int) -> list[str]:
    """:return: the etcd command line for a one-member loopback cluster."""
    client = f"http://127.0.0.1:{client_port}"
    peer = f"http://127.0.0.1:{peer_port}"
    return ["etcd", "--name", "l5d-test", "--data-dir", str(data_dir),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"l5d-test={peer}", "--initial-cluster-state", "new",
            "--unsafe-no-fsync", "--logger", "zap", "--log-level", "warn"]


def etcd_env() -> dict:
    """:return: environment etcd 3.4 needs (it refuses unsupported arches unless told)."""
    arch = {"aarch64": "arm64", "ppc64le": "ppc64le", "s390x": "s390x"}.get(platform.machine())
    return {"ETCD_UNSUPPORTED_ARCH": arch} if arch else {}


def apiserver_argv(pki: Pki, port: int, etcd_url: str, cert_dir: Path, *,
                   watch_cache: bool, compaction: str) -> list[str]:
    """:return: the kube-apiserver command line (flags of the verified recipe)."""
    return [str(apiserver_binary()),
            f"--etcd-servers={etcd_url}",
            f"--etcd-compaction-interval={compaction}",
            f"--watch-cache={'true' if watch_cache else 'false'}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={port}", "--insecure-port=0",
            f"--tls-cert-file={pki.cert_file}", f"--tls-private-key-file={pki.key_file}",
            f"--client-ca-file={pki.ca_file}", f"--token-auth-file={pki.token_file}",
            f"--service-account-issuer={ISSUER}", f"--api-audiences={ISSUER}",
            f"--service-account-key-file={pki.sa_pub}",
            f"--service-account-signing-key-file={pki.sa_key}",
            "--authorization-mode=RBAC",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--endpoint-reconciler-type=none",
            f"--cert-dir={cert_dir}", "--profiling=false"]


@dataclass
class ServiceAccountFiles:
    """What a pod running as a ServiceAccount would see.

    :ivar dir: the directory holding ``token``, ``ca.crt`` and ``namespace``.
    :ivar token: the bearer token (from TokenRequest).
    :ivar namespace: the ServiceAccount's namespace.
    :ivar env: ``KUBERNETES_SERVICE_HOST`` and ``KUBERNETES_SERVICE_PORT``.
    """

    dir: Path
    token: str
    namespace: str
    env: dict = field(default_factory=dict)


class ApiServer:
    """etcd + kube-apiserver on free loopback ports, with admin helpers.

    :param workdir: parent of the state directory (a fresh subdirectory is used and deleted).
    :param watch_cache: ``--watch-cache``; ``False`` (with a short ``compaction``) makes
        "resource version too old" (410) reachable within seconds.
    :param compaction: ``--etcd-compaction-interval`` (a Go duration, e.g. ``"5s"``).
    """

    def __init__(self, workdir: str | os.PathLike, *, watch_cache: bool = True,
                 compaction: str = "5m") -> None:
        self.workdir = Path(workdir)
        self.watch_cache = watch_cache
        self.compaction = compaction
        self.state_dir: Path | None = None
        self.pki: Pki | None = None
        self.port = 0
        self.etcd_url = ""
        self._etcd: subprocess.Popen | None = None
        self._apiserver: subprocess.Popen | None = None
        self._session: requests.Session | None = None

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``https://127.0.0.1:PORT``."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> str:
        """Path of the CA certificate that signed the serving certificate."""
        assert self.pki is not None, "not started"
        return str(self.pki.ca_file)

    @property
    def admin_token(self) -> str:
        """A static bearer token in group ``system:masters``."""
        assert self.pki is not None, "not started"
        return self.pki.admin_token

    @property
    def apiserver_log(self) -> Path:
        """The kube-apiserver's output (all runs, including restarts)."""
        assert self.state_dir is not None, "not started"
        return self.state_dir / "kube-apiserver.log"

    def __enter__(self) -> "ApiServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        """Build if needed, then start etcd and kube-apiserver and wait for ``/readyz``.

        :raises RuntimeError: if either does not become ready (everything is stopped).
        """
        assert self.state_dir is None, "already started"
        ensure_binaries()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.state_dir = Path(tempfile.mkdtemp(prefix="apiserver-", dir=self.workdir))
        try:
            self.pki = make_pki(self.state_dir / "pki")
            self._session = self._admin_session()
            self._start_etcd()
            self.port = free_port()
            self._start_apiserver()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop kube-apiserver and etcd (SIGTERM, then SIGKILL) and delete all state."""
        terminate(self._apiserver, RESTART_GRACE_S)  # it would hold open watches for 60 s
        terminate(self._etcd)
        self._apiserver = self._etcd = None
        if self._session is not None:
            self._session.close()
            self._session = None
        if self.state_dir is not None:
            shutil.rmtree(self.state_dir, ignore_errors=True)
            self.state_dir = None

    def restart(self, grace_s: float = RESTART_GRACE_S) -> None:
        """Stop kube-apiserver only and start it again on the same port and etcd.

        On SIGTERM, 1.20 stops listening at once but keeps open watch streams (silent) for
        up to 60 s; so after ``grace_s`` it is killed, and clients see their connections
        closed without a terminating chunk, as in a crash.

        :param grace_s: how long SIGTERM is given before SIGKILL.
        :raises RuntimeError: if it does not become ready again.
        """
        self.stop_apiserver(grace_s)
        self.start_apiserver()

    def stop_apiserver(self, grace_s: float = RESTART_GRACE_S) -> None:
        """Stop kube-apiserver only (etcd keeps running); :meth:`start_apiserver` resumes.

        :param grace_s: how long SIGTERM is given before SIGKILL.
        """
        assert self.state_dir is not None, "not started"
        terminate(self._apiserver, grace_s)
        self._apiserver = None

    def start_apiserver(self) -> None:
        """Start kube-apiserver again after :meth:`stop_apiserver`, on the same port.

        :raises RuntimeError: if it does not become ready.
        """
        assert self._apiserver is None and self.port, "running, or never started"
        self._start_apiserver(new_port=False)

    def _start_etcd(self) -> None:
        assert self.state_dir is not None
        log = self.state_dir / "etcd.log"
        for attempt in range(START_ATTEMPTS):
            client, peer = free_port(), free_port()
            shutil.rmtree(self.state_dir / "etcd", ignore_errors=True)
            self._etcd = spawn(etcd_argv(self.state_dir / "etcd", client, peer), log, etcd_env())
            self.etcd_url = f"http://127.0.0.1:{client}"
            try:
                wait_until(self._etcd_healthy, self._etcd, log, "etcd", ETCD_READY_TIMEOUT_S)
                return
            except RuntimeError:
                terminate(self._etcd)
                if attempt + 1 == START_ATTEMPTS or not address_in_use(log):
                    raise

    def _etcd_healthy(self) -> bool:
        with plain_session() as session:
            reply = session.get(f"{self.etcd_url}/health", timeout=2)
        return reply.status_code == 200 and reply.json().get("health") == "true"

    def _start_apiserver(self, new_port: bool = True) -> None:
        assert self.state_dir is not None and self.pki is not None
        log = self.apiserver_log
        for attempt in range(START_ATTEMPTS):
            argv = apiserver_argv(self.pki, self.port, self.etcd_url, self.state_dir / "certs",
                                  watch_cache=self.watch_cache, compaction=self.compaction)
            self._apiserver = spawn(argv, log)
            try:
                wait_until(self._ready, self._apiserver, log, "kube-apiserver",
                           APISERVER_READY_TIMEOUT_S)
                return
            except RuntimeError:
                terminate(self._apiserver)
                self._apiserver = None
                if not new_port or attempt + 1 == START_ATTEMPTS or not address_in_use(log):
                    raise
                self.port = free_port()

    def _ready(self) -> bool:
        assert self._session is not None
        return self._session.get(f"{self.url}/readyz", timeout=2).status_code == 200

    # -- HTTP -----------------------------------------------------------------------------

    def _admin_session(self) -> requests.Session:
        return self.session(self.admin_token)

    def session(self, token: str | None = None) -> requests.Session:
        """A ``requests`` session that trusts only this server's CA.

        :param token: the bearer token to send (none by default).
        :return: the session (ignores ``REQUESTS_CA_BUNDLE``/proxy env, see :func:`plain_session`).
        """
        session = plain_session()
        session.verify = self.ca_file
        if token:
            session.headers["Authorization"] = f"Bearer {token}"
        return session

    def request(self, method: str, path: str, body: Any = None, *, params: dict | None = None,
                content_type: str = "application/json") -> Any:
        """Send one admin request.

        :param method: the HTTP method.
        :param path: the path, e.g. ``/api/v1/namespaces``.
        :param body: a JSON-serializable body, or ``None``.
        :param params: query parameters.
        :param content_type: the body's media type (PATCH defaults to merge-patch).
        :return: the parsed JSON answer (``None`` if the body is empty).
        :raises ApiError: on a non-2xx status.
        """
        assert self._session is not None, "not started"
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = content_type
        reply = self._session.request(method, self.url + path, data=data, params=params,
                                      headers=headers, timeout=REQUEST_TIMEOUT_S)
        return parse_reply(method, path, reply)

    def get(self, path: str, params: dict | None = None) -> Any:
        """:return: ``GET path`` as JSON. :raises ApiError: on a non-2xx status."""
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any) -> Any:
        """:return: ``POST path`` as JSON. :raises ApiError: on a non-2xx status."""
        return self.request("POST", path, body)

    def put(self, path: str, body: Any) -> Any:
        """:return: ``PUT path`` as JSON. :raises ApiError: on a non-2xx status."""
        return self.request("PUT", path, body)

    def patch(self, path: str, body: Any,
              content_type: str = "application/merge-patch+json") -> Any:
        """:return: ``PATCH path`` (a merge patch by default) as JSON.

        :raises ApiError: on a non-2xx status.
        """
        return self.request("PATCH", path, body, content_type=content_type)

    def delete(self, path: str, body: Any = None) -> Any:
        """:return: ``DELETE path`` as JSON. :raises ApiError: on a non-2xx status."""
        return self.request("DELETE", path, body)

    # -- objects --------------------------------------------------------------------------

    def create_namespace(self, name: str) -> dict:
        """Create namespace ``name``; never delete it (it would stay Terminating).

        :return: the Namespace.
        """
        return self.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                "metadata": {"name": name}})

    def create_or_replace(self, collection: str, obj: dict) -> dict:
        """Create ``obj`` in ``collection``, or replace the existing one of the same name.

        :param collection: the collection path, e.g. ``/api/v1/namespaces/ns/endpoints``.
        :param obj: the object (its ``metadata.resourceVersion`` is filled in on replace).
        :return: the stored object.
        """
        try:
            return self.post(collection, obj)
        except ApiError as e:
            if e.status != 409:
                raise
        path = f"{collection}/{obj['metadata']['name']}"
        for _ in range(5):
            current_rv = self.get(path)["metadata"]["resourceVersion"]
            merged = dict(obj, metadata=dict(obj["metadata"], resourceVersion=current_rv))
            try:
                return self.put(path, merged)
            except ApiError as e:
                if e.status != 409:
                    raise
        raise RuntimeError(f"{path}: conflicts on every replace")

    def apply_service(self, ns: str, name: str, ports: list[dict],
                      cluster_ip: str | None = None) -> dict:
        """Create or update a selector-less Service.

        :param ns: the namespace.
        :param name: the Service name.
        :param ports: ``[{"name": "http", "port": 80, "targetPort": 8080}, ...]``.
        :param cluster_ip: a fixed IP in 10.96.0.0/16, ``"None"`` (headless), or allocate one.
        :return: the stored Service.
        """
        collection = f"/api/v1/namespaces/{ns}/services"
        spec: dict = {"ports": [dict({"protocol": "TCP"}, **p) for p in ports]}
        if cluster_ip is not None:
            spec["clusterIP"] = cluster_ip
        try:
            return self.post(collection, {"apiVersion": "v1", "kind": "Service",
                                          "metadata": {"name": name}, "spec": spec})
        except ApiError as e:
            if e.status != 409:
                raise
        return self.patch(f"{collection}/{name}", {"spec": {"ports": spec["ports"]}})

    def put_endpoints(self, ns: str, name: str, subsets: list[dict]) -> dict:
        """Create or replace the Endpoints ``ns/name``.

        :param subsets: e.g. ``[{"addresses": [{"ip": "10.244.1.2"}],
            "ports": [{"name": "http", "port": 8080}]}]`` (no loopback addresses).
        :return: the stored Endpoints.
        """
        return self.create_or_replace(f"/api/v1/namespaces/{ns}/endpoints",
                                      {"apiVersion": "v1", "kind": "Endpoints",
                                       "metadata": {"name": name}, "subsets": subsets})

    def delete_endpoints(self, ns: str, name: str) -> dict:
        """Delete the Endpoints ``ns/name``. :return: the server's answer."""
        return self.delete(f"/api/v1/namespaces/{ns}/endpoints/{name}")

    def put_endpointslice_v1beta1(self, ns: str, name: str, service: str, endpoints: list[dict],
                                  ports: list[dict]) -> dict:
        """Create or replace a ``discovery.k8s.io/v1beta1`` EndpointSlice.

        :param service: the owning Service name (label ``kubernetes.io/service-name``).
        :param endpoints: e.g. ``[{"addresses": ["10.244.1.2"], "conditions": {"ready": True},
            "topology": {"kubernetes.io/hostname": "node-a"}}]``.
        :param ports: e.g. ``[{"name": "http", "port": 8080, "protocol": "TCP"}]``.
        :return: the stored EndpointSlice.
        """
        body = {"apiVersion": "discovery.k8s.io/v1beta1", "kind": "EndpointSlice",
                "metadata": {"name": name, "labels": {"kubernetes.io/service-name": service}},
                "addressType": "IPv4", "endpoints": endpoints, "ports": ports}
        return self.create_or_replace(
            f"/apis/discovery.k8s.io/v1beta1/namespaces/{ns}/endpointslices", body)

    # -- credentials ----------------------------------------------------------------------

    def token_request(self, ns: str, name: str, expiration_s: int = 24 * 3600) -> str:
        """:return: a token for ServiceAccount ``ns/name`` from the TokenRequest API."""
        reply = self.post(f"/api/v1/namespaces/{ns}/serviceaccounts/{name}/token",
                          {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                           "spec": {"audiences": [ISSUER], "expirationSeconds": expiration_s}})
        return reply["status"]["token"]

    def grant(self, ns: str, name: str, rules: list[dict], cluster_wide: bool = False) -> None:
        """Give ServiceAccount ``ns/name`` exactly ``rules`` via a (Cluster)Role and binding.

        :param rules: RBAC PolicyRules, e.g. ``[{"apiGroups": [""], "resources":
            ["endpoints"], "verbs": ["get", "list", "watch"]}]``.
        :param cluster_wide: ClusterRole + ClusterRoleBinding instead of Role + RoleBinding.
        """
        rbac = "/apis/rbac.authorization.k8s.io/v1"
        kind, where = ("ClusterRole", "") if cluster_wide else ("Role", f"/namespaces/{ns}")
        role_name = f"{ns}-{name}" if cluster_wide else name
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
                "metadata": {"name": role_name}, "rules": rules}
        binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": f"{kind}Binding",
                   "metadata": {"name": role_name},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind,
                               "name": role_name},
                   "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}]}
        plural = "clusterroles" if cluster_wide else "roles"
        self.create_or_replace(f"{rbac}{where}/{plural}", role)
        self.create_or_replace(f"{rbac}{where}/{plural[:-1]}bindings", binding)

    def service_account_dir(self, ns: str, name: str, rules: list[dict],
                            dest_dir: str | os.PathLike, *,
                            cluster_wide: bool = False) -> ServiceAccountFiles:
        """Create a least-privilege ServiceAccount and lay out its in-pod credential files.

        ``dest_dir`` gets ``token``, ``ca.crt`` and ``namespace``, as a pod sees
        ``/var/run/secrets/kubernetes.io/serviceaccount/``. Calling it again rotates the
        token (files are replaced atomically).

        :param ns: the namespace (must exist).
        :param name: the ServiceAccount name.
        :param rules: the RBAC rules it is granted (nothing else).
        :param dest_dir: the directory to fill (created).
        :param cluster_wide: grant the rules cluster-wide.
        :return: the paths, token and ``KUBERNETES_SERVICE_HOST/PORT`` env.
        """
        self.create_or_replace(f"/api/v1/namespaces/{ns}/serviceaccounts",
                               {"apiVersion": "v1", "kind": "ServiceAccount",
                                "metadata": {"name": name}})
        self.grant(ns, name, rules, cluster_wide)
        token = self.token_request(ns, name)
        dest = Path(dest_dir)
        dest.mkdir(parents=True, exist_ok=True)
        write_atomically(dest / "token", token)
        write_atomically(dest / "ca.crt", Path(self.ca_file).read_text())
        write_atomically(dest / "namespace", ns)
        env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(self.port)}
        return ServiceAccountFiles(dir=dest, token=token, namespace=ns, env=env)

    def kubeconfig(self, path: str | os.PathLike, token: str | None = None,
                   namespace: str = "default") -> Path:
        """Write a kubeconfig for the admin (or ``token``), for use outside a cluster.

        :param path: the file to write.
        :param token: a bearer token; the admin token by default.
        :param namespace: the context's namespace.
        :return: the path.
        """
        config = {"apiVersion": "v1", "kind": "Config", "current-context": "l5d-test",
                  "clusters": [{"name": "l5d-test", "cluster": {
                      "server": self.url, "certificate-authority": self.ca_file}}],
                  "users": [{"name": "l5d-test", "user": {"token": token or self.admin_token}}],
                  "contexts": [{"name": "l5d-test", "context": {
                      "cluster": "l5d-test", "user": "l5d-test", "namespace": namespace}}],
                  "preferences": {}}
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, json.dumps(config, indent=2))  # JSON is YAML
        return target

    def watch(self, path: str, params: dict | None = None, *, token: str | None = None,
              port: int | None = None) -> "WatchStream":
        """Open ``GET path?watch=1&...`` over HTTP/1.1 and read its events in a thread.

        :param path: a collection path, e.g. ``/api/v1/namespaces/ns/endpoints``.
        :param params: more query parameters (``resourceVersion``, ``fieldSelector``...).
        :param token: the bearer token (the admin's by default).
        :param port: connect to this 127.0.0.1 port instead (e.g. a :mod:`fault_proxy`).
        :return: the open stream; close it when done.
        """
        query = dict({"watch": "1"}, **(params or {}))
        return WatchStream(port or self.port, f"{path}?{urlencode(query)}", self.ca_file,
                           token or self.admin_token)

    def kubectl_proxy(self, port: int | None = None, token: str | None = None) -> "KubectlProxy":
        """Start ``kubectl proxy --address=127.0.0.1 --port=PORT`` against this server.

        :param port: the port; a free one by default.
        :param token: the identity the proxy uses (the admin by default).
        :return: a started :class:`KubectlProxy` (stop it, or use it as a context manager).
        """
        assert self.state_dir is not None, "not started"
        workdir = Path(tempfile.mkdtemp(prefix="kubectl-proxy-", dir=self.state_dir))
        proxy = KubectlProxy(self.kubeconfig(workdir / "kubeconfig", token), workdir,
                             port or free_port())
        proxy.start()
        return proxy


def plain_session() -> requests.Session:
    """:return: a session that ignores the environment (``trust_env = False``).

    With ``trust_env``, requests lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` override a
    session's ``verify`` (so our CA is not used: "unable to get local issuer certificate")
    and may send loopback traffic to an ``https_proxy``.
    """
    session = requests.Session()
    session.trust_env = False
    return session


def parse_reply(method: str, path: str, reply: requests.Response) -> Any:
    """:return: the JSON body of a 2xx reply. :raises ApiError: otherwise."""
    try:
        body = reply.json() if reply.content else None
    except ValueError:
        body = reply.text
    if not 200 <= reply.status_code < 300:
        raise ApiError(method, path, reply.status_code, body)
    return body


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so a concurrent reader sees old or new, never half."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def endpoint_address_errors(api: ApiServer, ns: str, ips: list[str]) -> dict[str, str]:
    """Try each IP as an Endpoints address; :return: ``{ip: error message}`` for refusals."""
    errors = {}
    for i, ip in enumerate(ips):
        try:
            api.put_endpoints(ns, f"probe-{i}", [{"addresses": [{"ip": ip}],
                                                   "ports": [{"port": 80}]}])
        except ApiError as e:
            errors[ip] = e.message
    return errors


class StreamBroken(Exception):
    """A watch stream ended without its terminating chunk (a cut, a reset)."""


class WatchStream:
    """One watch request; a thread turns its newline-delimited JSON into events.

    :param port: the 127.0.0.1 port to connect to.
    :param target: the request target (path and query).
    :param ca_file: the CA to verify the server with.
    :param token: the bearer token.
    :param timeout_s: bound on connecting and on the response head.

    ``status``, ``version`` (11 for HTTP/1.1) and ``headers`` describe the response;
    ``lines`` keeps every raw line received and ``chunks`` the size of every chunk. A
    non-200 answer's JSON is in ``error``. The body is de-chunked here, so a stream that
    ends without its terminating ``0`` chunk is reported as :class:`StreamBroken`.
    """

    _END = object()

    def __init__(self, port: int, target: str, ca_file: str, token: str | None,
                 timeout_s: float = 10.0) -> None:
        context = ssl.create_default_context(cafile=ca_file)
        self._conn = http.client.HTTPSConnection("127.0.0.1", port, context=context,
                                                 timeout=timeout_s)
        self.lines: list[bytes] = []
        self.chunks: list[int] = []
        self.error: Any = None
        self._events: queue.Queue = queue.Queue()
        self._done: Any = None
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            self._conn.request("GET", target, headers=headers)
            self.response = self._conn.getresponse()
        except BaseException:
            self._conn.close()
            raise
        self.status = self.response.status
        self.version = self.response.version
        self.headers = self.response.headers
        if self.status != 200:
            self.error = parse_json(self.response.read())
            self._conn.close()
            self._done = self._END
            return
        self._conn.sock.settimeout(None)  # the reader blocks; close() wakes it
        threading.Thread(target=self._read, daemon=True).start()

    def __enter__(self) -> "WatchStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _read(self) -> None:
        """Decode the body here: http.client cannot tell a cut from the terminating chunk."""
        try:
            rest = self._decode(self.response.fp)
            if rest.strip():  # a last line without its newline
                self._line(rest)
            self._events.put(self._END)
        except Exception as e:  # noqa: BLE001 - handed to the reader of the stream
            self._events.put(StreamBroken(f"{type(e).__name__}: {e}"))

    def _decode(self, fp) -> bytes:
        """Split the (chunked) body into lines; :return: bytes after the last newline."""
        buf = b""
        for data in (iter_chunks(fp) if self.response.chunked else iter(fp.read1, b"")):
            self.chunks.append(len(data))
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                self._line(line + b"\n")
        return buf

    def _line(self, line: bytes) -> None:
        self.lines.append(line)
        self._events.put(json.loads(line))

    def next_event(self, timeout_s: float = 10.0) -> dict | None:
        """:return: the next event, or ``None`` once the stream ended cleanly.

        :param timeout_s: how long to wait for it.
        :raises TimeoutError: if none arrives in ``timeout_s``.
        :raises StreamBroken: if the stream was cut.
        """
        if self._done is not None:
            item = self._done
        else:
            try:
                item = self._events.get(timeout=timeout_s)
            except queue.Empty:
                raise TimeoutError(f"no watch event in {timeout_s} s") from None
            if item is self._END or isinstance(item, StreamBroken):
                self._done = item
        if item is self._END:
            return None
        if isinstance(item, StreamBroken):
            raise item
        return item

    def next_events(self, count: int, timeout_s: float = 10.0) -> list[dict]:
        """:return: the next ``count`` events (see :meth:`next_event`); ends early at EOF."""
        events = []
        for _ in range(count):
            event = self.next_event(timeout_s)
            if event is None:
                break
            events.append(event)
        return events

    def close(self) -> None:
        """Close the connection (wakes and ends the reader thread)."""
        sock = self._conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._conn.close()


def iter_chunks(fp) -> Iterator[bytes]:
    """Yield the data of each HTTP/1.1 chunk read from ``fp`` until the last (``0``) chunk.

    :param fp: the connection's buffered reader, positioned after the response head.
    :raises StreamBroken: if the connection ends before the terminating chunk.
    """
    while True:
        size_line = fp.readline(1024)
        if not size_line.endswith(b"\n"):
            raise StreamBroken("connection closed before the terminating chunk")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while fp.readline(1024) not in (b"\r\n", b"\n", b""):  # trailer fields
                pass
            return
        data = fp.read(size)
        if len(data) < size or fp.read(2) != b"\r\n":
            raise StreamBroken("connection closed inside a chunk")
        yield data


def parse_json(data: bytes) -> Any:
    """:return: ``data`` as JSON, or as text if it is not JSON."""
    try:
        return json.loads(data)
    except ValueError:
        return data.decode(errors="replace")


class KubectlProxy:
    """A running ``kubectl proxy`` (the cached kubectl 1.20.2) on 127.0.0.1.

    :param kubeconfig: the kubeconfig it uses.
    :param workdir: its scratch directory (cache dir, log).
    :param port: the port it listens on.
    """

    def __init__(self, kubeconfig: Path, workdir: Path, port: int) -> None:
        self.kubeconfig = kubeconfig
        self.workdir = workdir
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._proc: subprocess.Popen | None = None

    def __enter__(self) -> "KubectlProxy":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout_s: float = 30.0) -> None:
        """Start it and wait until it answers ``/version``.

        :raises RuntimeError: if it exits or does not answer in ``timeout_s``.
        """
        log = self.workdir / "kubectl-proxy.log"
        argv = [str(kubectl_binary()), f"--kubeconfig={self.kubeconfig}",
                f"--cache-dir={self.workdir / 'cache'}", "proxy", "--address=127.0.0.1",
                f"--port={self.port}"]
        self._proc = spawn(argv, log, {"HOME": str(self.workdir)})
        try:
            with plain_session() as session:
                wait_until(lambda: session.get(f"{self.url}/version", timeout=2).ok,
                           self._proc, log, "kubectl proxy", timeout_s)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the proxy (SIGTERM, then SIGKILL)."""
        terminate(self._proc)
        self._proc = None
