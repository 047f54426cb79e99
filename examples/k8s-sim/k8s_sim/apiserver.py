"""The API server: a control process runs it and forwards ``10.244.0.1:443`` to it.

``sim.py _control`` (:func:`control_main`) runs ``ApiServer`` of the project's
``tests/helpers/k8s_api.py`` on 127.0.0.1, so the API server and etcd die with it, and
forwards the bridge address ``10.244.0.1:443`` to it (pods reach it as
``https://kubernetes.default.svc:443``). It writes ``api.json`` in the state directory
once it serves, and exits by itself once the bridge is gone. :func:`start_control`
starts it; :func:`attach_api` talks to the server it runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

from .layout import API_PORT, BRIDGE, BRIDGE_IP, ROOT, SIM_PY
from .procs import CONTROL_READY_S, wait_for
from .state import State, read_json, tail, write_json


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
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        api.start()
    except BaseException as e:
        write_json(api_json, {"error": f"{type(e).__name__}: {e}"})
        raise
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
            write_json(api_json, {
                "url": api.url, "port": api.port, "ca_file": api.ca_file,
                "admin_token": api.admin_token, "state_dir": str(api.state_dir),
                "workdir": str(api.workdir), "forward": f"{BRIDGE_IP}:{API_PORT}",
                "control_pid": os.getpid(),
                "etcd_pid": api._etcd.pid if api._etcd else 0,
                "apiserver_pid": api._apiserver.pid if api._apiserver else 0,
            })
            async with server:
                while not stop.is_set():
                    # The bridge gone (a `down` without this state dir) ends us too.
                    if not Path(f"/sys/class/net/{BRIDGE}").exists():
                        break
                    await asyncio.sleep(0.5)

        asyncio.run(serve())
    finally:
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
