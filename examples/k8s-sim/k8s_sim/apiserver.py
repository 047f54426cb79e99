"""The API server: a control process runs it and forwards ``10.244.0.1:443`` to it.

``sim.py _control`` (:func:`control_main`) runs ``ApiServer`` of the project's
``tests/helpers/k8s_api.py`` on 127.0.0.1, so the API server and etcd die with it, and
forwards the bridge address ``10.244.0.1:443`` to it (pods reach it as
``https://kubernetes.default.svc:443``). It writes ``api.json`` in the state directory
once it serves, and exits by itself once the bridge is gone. On SIGUSR1 it restarts
kube-apiserver (same port, same etcd and data) and counts the restart in ``api.json``.
:func:`start_control` starts it; :func:`attach_api` talks to the server it runs;
:func:`restart_apiserver` asks it for a restart and waits for it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from .layout import API_PORT, BRIDGE, BRIDGE_IP, ROOT, SIM_PY
from .procs import CONTROL_READY_S, SimError, alive, cmdline, wait_for
from .state import State, need_state, read_json, tail, write_json


def attach_api(info: dict) -> Any:
    """An ``ApiServer`` object for the server the control process runs (admin helpers only).

    ``tests/helpers/k8s_api.py``'s ``ApiServer`` is subclassed, not edited: its helpers
    (``put_endpoints``, ``service_account_dir``...) need only the URL, CA and admin token.

    :param info: the contents of ``api.json``.
    """
    from tests.helpers.k8s_api import ApiServer, Pki

    class AttachedApi(ApiServer):
        def __init__(self) -> None:
            super().__init__(info["workdir"])
            self.state_dir = Path(info["state_dir"])
            pki = self.state_dir / "pki"
            self.pki = Pki(ca_file=pki / "ca.crt", ca_key=pki / "ca.key",
                           cert_file=pki / "apiserver.crt", key_file=pki / "apiserver.key",
                           sa_key=pki / "sa.key", sa_pub=pki / "sa.pub",
                           token_file=pki / "tokens.csv", admin_token=info["admin_token"])
            self.port = int(info["port"])
            self._session = self._admin_session()

        def stop(self) -> None:  # the control process owns the server
            if self._session is not None:
                self._session.close()
                self._session = None

    return AttachedApi()


def control_main(state_dir: Path) -> int:
    """The control process: the API server (dies with this process) and the forwarder.

    :return: the exit status (0 after SIGTERM, SIGINT or the bridge gone).
    """
    import asyncio

    from tests.helpers.k8s_api import ApiServer

    api_json = state_dir / "api.json"
    api = ApiServer(state_dir / "api")
    stop = threading.Event()
    wanted = threading.Event()  # SIGUSR1: restart kube-apiserver
    restarts: dict[str, Any] = {"restarts": 0, "restart_attempts": 0}
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGUSR1, lambda *_: wanted.set())
    try:
        api.start()
    except BaseException as e:
        write_json(api_json, {"error": f"{type(e).__name__}: {e}"})
        raise

    def publish() -> None:
        write_json(api_json, {
            "url": api.url, "port": api.port, "ca_file": api.ca_file,
            "admin_token": api.admin_token, "state_dir": str(api.state_dir),
            "workdir": str(api.workdir), "forward": f"{BRIDGE_IP}:{API_PORT}",
            "control_pid": os.getpid(),
            "etcd_pid": api._etcd.pid if api._etcd else 0,
            "apiserver_pid": api._apiserver.pid if api._apiserver else 0,
            **restarts,
        })

    def restarter() -> None:
        # One long-lived thread does every restart: kube-apiserver is started with
        # PR_SET_PDEATHSIG, which fires when the *thread* that started it ends.
        while not stop.is_set():
            if not wanted.wait(0.5):
                continue
            wanted.clear()
            started = time.monotonic()
            restarts.pop("restart_error", None)
            try:
                api.restart()
                restarts["restarts"] += 1
                restarts["restart_s"] = round(time.monotonic() - started, 3)
            except Exception as e:  # noqa: BLE001 - reported through api.json
                restarts["restart_error"] = f"{type(e).__name__}: {e}"
            restarts["restart_attempts"] += 1
            publish()

    restart_thread = threading.Thread(target=restarter, name="apiserver-restarts")
    try:
        async def pipe(reader: Any, writer: Any) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
                if writer.can_write_eof():
                    writer.write_eof()
            except (OSError, asyncio.CancelledError):
                pass

        async def handle(reader: Any, writer: Any) -> None:
            try:
                up_r, up_w = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", api.port), 5)
            except (OSError, TimeoutError):
                writer.close()
                return
            try:
                await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))
            finally:
                for w in (writer, up_w):
                    w.close()

        async def serve() -> None:
            server = await asyncio.start_server(handle, BRIDGE_IP, API_PORT, reuse_address=True)
            publish()
            restart_thread.start()
            async with server:
                while not stop.is_set():
                    # The bridge gone (a `down` without this state dir) ends us too.
                    if not Path(f"/sys/class/net/{BRIDGE}").exists():
                        break
                    await asyncio.sleep(0.5)

        asyncio.run(serve())
    finally:
        stop.set()
        if restart_thread.is_alive():
            restart_thread.join(CONTROL_READY_S)
        api.stop()
    return 0


def start_control(st: State) -> dict:
    """Start the control process (``sim.py _control``) and wait for its ``api.json``.

    :return: the contents of ``api.json``, also kept in ``st.api``.
    :raises SimError: if the API server fails or is not up within ``CONTROL_READY_S``.
    """
    api_json = st.dir / "api.json"
    api_json.unlink(missing_ok=True)
    logf = st.dir / "logs" / "control.log"
    with open(logf, "ab") as out:
        proc = subprocess.Popen([st.python, str(SIM_PY), "_control",
                                 "--state", str(st.dir)], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=out, start_new_session=True, cwd=ROOT)
    st.control_pid = proc.pid
    st.save()

    def failed() -> str | None:
        info = read_json(api_json)
        if isinstance(info, dict) and "error" in info:
            return f"{info['error']}\n{tail(logf)}"
        if proc.poll() is not None:
            return f"control process exited ({proc.returncode}):\n{tail(logf)}"
        return None

    wait_for("API server", lambda: isinstance(read_json(api_json), dict)
             and "url" in read_json(api_json), CONTROL_READY_S, failed)
    info = read_json(api_json)
    st.api = info
    st.save()
    return info


def restart_apiserver(state_dir: Path) -> dict:
    """Restart the sim's kube-apiserver, as a control-plane upgrade or crash does: the
    control process stops it (SIGTERM, SIGKILL after 3 s: open watches end without a
    terminating chunk) and starts it again on the same port, with the same etcd and data.

    :return: the new ``api.json`` (``restarts`` counts them, ``restart_s`` is how long
        this one took).
    :raises SimError: if the sim is not up, or the server is not serving again within
        ``CONTROL_READY_S``.
    """
    st = need_state(state_dir)
    api_json = st.dir / "api.json"
    info = read_json(api_json) or {}
    if not (alive(st.control_pid) and "_control" in cmdline(st.control_pid)):
        raise SimError(f"the control process {st.control_pid} does not run")
    if "restart_attempts" not in info:  # SIGUSR1 would end an older control process
        raise SimError("this sim's control process cannot restart the API server "
                       "(it predates restart-apiserver): run `down` and `up`")
    before = info["restart_attempts"]
    os.kill(st.control_pid, signal.SIGUSR1)

    def attempted() -> bool:
        return (read_json(api_json) or {}).get("restart_attempts", 0) > before

    wait_for("API server restart", attempted, CONTROL_READY_S,
             lambda: None if alive(st.control_pid) else "the control process exited")
    info = read_json(api_json)
    if "restart_error" in info:
        raise SimError(f"API server restart: {info['restart_error']}")
    return info
