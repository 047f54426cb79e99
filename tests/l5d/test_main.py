"""l5d.main: the command line, in process and as a real subprocess."""

from __future__ import annotations

import io
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import types
from pathlib import Path

import pytest
import requests

from l5d.linker import Env
from l5d.main import USAGE, env_from, main

ROOT = Path(__file__).resolve().parents[2]
GOOD = "admin: {port: 0}\nrouters:\n- protocol: http\n  servers: [{port: 0}]\n"
BAD = "routers:\n- protocol: http\n  servers:\n  - port: 41a0\n"
BAD_MESSAGE = 'routers[0].servers[0].port: expected an integer, got "41a0"'
WAIT_S = 20.0
TOKEN = "main-test-token"


def run_main(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), {}, stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def write(tmp_path: Path, text: str, name: str = "linkerd.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


class CommandLineTests:
    """main() in process: forms, exit codes and messages (no sockets)."""

    def test_help(self) -> None:
        """--help prints the usage listing every form and exits 0."""
        code, out, _ = run_main("--help")
        assert code == 0 and out == USAGE
        for form in ("l5d CONFIG", "l5d --validate CONFIG", "l5d dtab"):
            assert form in out

    @pytest.mark.parametrize("argv", [(), ("a", "b"), ("--nope",), ("--validate",)],
                             ids=["none", "two", "flag", "validate-alone"])
    def test_usage_errors(self, argv: tuple[str, ...]) -> None:
        """Wrong arguments print the usage on stderr and exit 2."""
        code, out, err = run_main(*argv)
        assert (code, out, err) == (2, "", USAGE)

    def test_validate_good(self, tmp_path: Path) -> None:
        """--validate on a good file prints "CONFIG: ok" and exits 0."""
        path = write(tmp_path, GOOD)
        assert run_main("--validate", path) == (0, f"{path}: ok\n", "")

    def test_validate_bad(self, tmp_path: Path) -> None:
        """--validate on a bad file prints the ConfigError line on stderr and exits 1."""
        path = write(tmp_path, BAD)
        assert run_main("--validate", path) == (1, "", f"{path}:4: {BAD_MESSAGE}\n")

    def test_validate_runs_the_cross_checks(self, tmp_path: Path) -> None:
        """Conflicting ports are reported by --validate."""
        path = write(tmp_path, "routers:\n- protocol: http\n  servers: [{port: 9990}]\n")
        code, _, err = run_main("--validate", path)
        assert code == 1
        assert err == (
            f"{path}:3: routers[0].servers[0].port: server conflict on 127.0.0.1:9990 "
            "(also used by admin)\n"
        )

    def test_validate_stdin(self) -> None:
        """CONFIG may be - for stdin; errors then say <stdin>."""
        assert run_main("--validate", "-", stdin=GOOD) == (0, "-: ok\n", "")
        assert run_main("--validate", "-", stdin=BAD) == (1, "", f"<stdin>:4: {BAD_MESSAGE}\n")

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file is one clear line and exit 1."""
        path = str(tmp_path / "nope.yaml")
        expected = f"l5d: cannot read config {path}: No such file or directory\n"
        assert run_main("--validate", path) == (1, "", expected)
        assert run_main(path) == (1, "", expected)

    def test_not_utf8(self, tmp_path: Path) -> None:
        """A file that is not UTF-8 is reported, not a traceback."""
        path = tmp_path / "bin.yaml"
        path.write_bytes(b"routers: \xff\n")
        assert run_main("--validate", str(path)) == (
            1, "", f"l5d: {path}: not UTF-8 text (byte 9)\n"
        )

    def test_bad_config_starts_nothing(self, tmp_path: Path) -> None:
        """l5d CONFIG with a bad config exits 1 with the error before any reactor work."""
        path = write(tmp_path, BAD)
        assert run_main(path) == (1, "", f"{path}:4: {BAD_MESSAGE}\n")

    def test_dtab_dispatch(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """l5d dtab ... hands the rest of argv, the streams and the environment to
        l5d.cli.dtab_cmd.main."""
        calls = []

        def fake_main(argv, stdin, stdout, stderr, environ, get_reactor) -> int:
            calls.append((argv, stdin, stdout, stderr, environ))
            assert callable(get_reactor)
            return 7

        module = types.ModuleType("l5d.cli.dtab_cmd")
        module.main = fake_main  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "l5d.cli.dtab_cmd", module)
        streams = io.StringIO(), io.StringIO(), io.StringIO()
        code = main(["dtab", "show", "-x"], {"POD_IP": "10.0.0.1"}, stdin=streams[0],
                    stdout=streams[1], stderr=streams[2])
        assert code == 7 and calls == [(["show", "-x"], *streams, {"POD_IP": "10.0.0.1"})]

    def test_env_from_downward_api_variables(self) -> None:
        """POD_IP, NODE_NAME and POD_NAMESPACE fill Env; empty means unset."""
        environ = {"POD_IP": "10.1.2.3", "NODE_NAME": "node-a", "POD_NAMESPACE": ""}
        env = env_from(environ)
        assert (env.pod_ip, env.node_name, env.namespace) == ("10.1.2.3", "node-a", None)
        assert dict(env.variables) == environ and "127.0.0.1" in env.local_ips
        assert env.resolve("10.0.0.1") == ("10.0.0.1",)


def l5d_command() -> list[str]:
    return [sys.executable, "-m", "l5d"]


def run_l5d(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*l5d_command(), *argv], cwd=ROOT, capture_output=True, text=True, timeout=WAIT_S
    )


class ValidateSubprocessTests:
    """l5d --validate as a real process."""

    def test_good_file(self, tmp_path: Path) -> None:
        """Exit 0 and "CONFIG: ok" on stdout."""
        path = write(tmp_path, GOOD)
        result = run_l5d("--validate", path)
        assert (result.returncode, result.stdout, result.stderr) == (0, f"{path}: ok\n", "")

    def test_bad_file(self, tmp_path: Path) -> None:
        """Exit 1 and the error line on stderr."""
        path = write(tmp_path, BAD)
        result = run_l5d("--validate", path)
        assert (result.returncode, result.stdout) == (1, "")
        assert result.stderr == f"{path}:4: {BAD_MESSAGE}\n"

    def test_console_script(self, tmp_path: Path) -> None:
        """The installed ``l5d`` console script is the same entry point."""
        script = Path(sys.executable).parent / "l5d"
        assert script.exists(), "make test installs the package, console script included"
        path = write(tmp_path, GOOD)
        result = subprocess.run([str(script), "--validate", path], capture_output=True,
                                text=True, timeout=WAIT_S)
        assert (result.returncode, result.stdout) == (0, f"{path}: ok\n")


class ServeSubprocessTests:
    """l5d CONFIG as a real process on 127.0.0.1 with admin port 0."""

    def setup_method(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.lines: queue.Queue[str] | None = None
        self.pump: threading.Thread | None = None

    def teardown_method(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=WAIT_S)
        if self.pump is not None:
            self.pump.join(timeout=WAIT_S)  # EOF once the process is gone
        if self.proc is not None:
            self.proc.stdout.close()
            self.proc.stderr.close()

    def start(self, tmp_path: Path, text: str = GOOD) -> str:
        """Start l5d and return the admin URL from its first output line."""
        self.proc = subprocess.Popen(
            [*l5d_command(), write(tmp_path, text)], cwd=ROOT, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=dict(os.environ, L5D_ADMIN_TOKEN=TOKEN),
        )
        self.router_line = self.read_line(self.proc.stdout)
        assert self.router_line.startswith("l5d: http listening on http://127.0.0.1:"), (
            self.router_line, self.proc.stderr.read())
        line = self.read_line(self.proc.stdout)
        prefix = "l5d: admin listening on "
        assert line.startswith(prefix), (line, self.proc.stderr.read())
        url = line[len(prefix):].strip()
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0/")
        return url

    def read_line(self, stream) -> str:
        """The next stdout line, waiting at most WAIT_S (a thread reads the pipe)."""
        if self.lines is None:
            self.lines = queue.Queue()
            self.pump = threading.Thread(target=self._pump, args=(stream,), daemon=True)
            self.pump.start()
        try:
            return self.lines.get(timeout=WAIT_S)
        except queue.Empty:
            raise AssertionError("l5d printed nothing") from None

    def _pump(self, stream) -> None:
        for line in stream:
            self.lines.put(line)

    def wait(self) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=WAIT_S)

    def test_ping_config_and_shutdown(self, tmp_path: Path) -> None:
        """ping answers pong, config.json parses, POST /admin/shutdown exits 0."""
        url = self.start(tmp_path)
        ping = requests.get(url + "admin/ping", timeout=WAIT_S)
        assert (ping.status_code, ping.text) == (200, "pong")
        config = requests.get(url + "config.json", timeout=WAIT_S).json()
        assert config["admin"]["port"] == 0 and config["routers"][0]["label"] == "http"
        refused = requests.post(url + "admin/shutdown", timeout=WAIT_S)
        assert refused.status_code == 401, refused.text  # a write: the token is needed
        shutdown = requests.post(url + "admin/shutdown", timeout=WAIT_S,
                                 headers={"Authorization": f"Bearer {TOKEN}"})
        assert shutdown.status_code == 200
        assert self.wait() == 0

    def test_prints_the_router_listener_with_its_bound_port(self, tmp_path: Path) -> None:
        """The router's server line names the port actually bound (port 0 in the config)."""
        self.start(tmp_path)
        assert not self.router_line.strip().endswith(":0/"), self.router_line

    def test_sigterm_exits_zero(self, tmp_path: Path) -> None:
        """SIGTERM stops the linker and exits 0."""
        self.start(tmp_path)
        self.proc.send_signal(signal.SIGTERM)
        assert self.wait() == 0

    def test_sigint_exits_zero(self, tmp_path: Path) -> None:
        """SIGINT (Ctrl-C) stops the linker and exits 0."""
        self.start(tmp_path)
        self.proc.send_signal(signal.SIGINT)
        assert self.wait() == 0

    def test_port_in_use_exits_one(self, tmp_path: Path) -> None:
        """An admin port that is taken is reported and exits 1."""
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            text = GOOD.replace("admin: {port: 0}", f"admin: {{port: {port}}}")
            self.proc = subprocess.Popen(
                [*l5d_command(), write(tmp_path, text)], cwd=ROOT, text=True,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )
            assert self.wait() == 1
        err = self.proc.stderr.read()
        assert err.startswith("l5d: cannot start: ") and str(port) in err, err


class DtabSubprocessTests:
    """l5d dtab reaches the real l5d.cli.dtab_cmd."""

    def test_dtab_help(self) -> None:
        """``l5d dtab --help`` exits 0 and talks about dtabs."""
        result = run_l5d("dtab", "--help")
        assert result.returncode == 0 and "dtab" in result.stdout
