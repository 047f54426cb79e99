"""l5d.cli.dtab_cmd: ``l5d dtab show|delegate|bind``, run as a real process and in-process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path as FsPath

import pytest
from twisted.internet.task import Clock

from dtab import Dtab, Interpreter, Path, delegate_tree_json, render_delegate_tree
from l5d.cli.dtab_cmd import main

ROOT = FsPath(__file__).resolve().parents[3]


def l5d_dtab(*args: str, stdin: str | None = None,
             env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``l5d dtab ARGS`` as its own process (``env``: extra environment variables)."""
    return subprocess.run(
        [sys.executable, "-m", "l5d", "dtab", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env=None if env is None else {**os.environ, **env},
    )


class BindCommandTests:
    def test_bound_name_exact_output(self):
        """A path bound by an inet dentry prints exactly this JSON line and exits 0."""
        r = l5d_dtab("bind", "--dtab", "/svc=>/$/inet/127.0.0.1/8080", "/svc/x/y")
        assert (r.returncode, r.stderr) == (0, "")
        assert r.stdout == (
            '{"result": "bound", '
            '"tree": {"type": "leaf", "id": "/$/inet/127.0.0.1/8080", "residual": "/x/y"}, '
            '"addrs": [{"id": "/$/inet/127.0.0.1/8080", "residual": "/x/y", "weight": 1.0, '
            '"addr": "127.0.0.1:8080"}]}\n'
        )

    @pytest.mark.parametrize(
        "dtab,kind",
        [
            ("/other=>/$/inet/1", "neg"),
            ("/svc=>~", "neg"),
            ("/svc=>!", "fail"),
            ("/svc=>/$/fail", "fail"),
            ("/svc=>$", "empty"),
            ("/svc=>/$/nil", "empty"),
        ],
    )
    def test_negative_results(self, dtab, kind):
        """Neg, Fail and Empty are answers, not errors: printed as the result, exit 0."""
        r = l5d_dtab("bind", "--dtab", dtab, "/svc/x")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == {"result": kind, "tree": {"type": kind}, "addrs": []}

    def test_weighted_union(self):
        """A weighted union lists every address with its branch's weight."""
        r = l5d_dtab(
            "bind", "--dtab", "/svc=>3*/$/inet/127.0.0.1/8080 & /$/inet/127.0.0.1/9090", "/svc"
        )
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["result"] == "bound"
        assert [(a["addr"], a["weight"]) for a in out["addrs"]] == [
            ("127.0.0.1:8080", 3.0),
            ("127.0.0.1:9090", 1.0),
        ]
        assert [w["weight"] for w in out["tree"]["weighted"]] == [3.0, 1.0]

    def test_loop_exits_1_naming_the_depth_limit(self):
        """A delegation loop cannot be bound: exit 1 with Finagle's message."""
        r = l5d_dtab("bind", "--dtab", "/foo/bar=>/bar/foo;/bar/foo=>/foo/bar", "/foo/bar")
        assert r.returncode == 1 and r.stdout == ""
        assert (
            r.stderr
            == "l5d dtab: cannot bind /foo/bar: Max recursion level: 100 reached in Namer lookup\n"
        )

    def test_unknown_namer_exits_1(self):
        """A ``/$/`` namer that does not exist fails the binding (exit 1), it is not Neg."""
        r = l5d_dtab("bind", "--dtab", "/svc=>/$/com.example.Nope", "/svc")
        assert r.returncode == 1
        assert "Unknown namer: com.example.Nope" in r.stderr

    def test_bad_dtab_exits_2_with_position(self):
        """An unparsable --dtab exits 2 naming the argument, line and column."""
        r = l5d_dtab("bind", "--dtab", "/a=>/b;\n/c=>", "/a")
        assert r.returncode == 2 and r.stdout == ""
        assert r.stderr == "--dtab:2:5: simple expected but end of input found at '/c=>[]'\n"

    def test_bad_path_exits_2(self):
        """An unparsable path exits 2."""
        r = l5d_dtab("bind", "--dtab", "/a=>/b", "/a/")
        assert r.returncode == 2
        assert r.stderr == "PATH:1:4: label char expected but end of input found at '/a/[]'\n"


DTAB_FILE_TEXT = """\
# services
/srv => /#/io.l5d.k8s/default/http ;   # the cluster
/host=>/srv;
/svc   => /host ; /host/world => 2 * /srv/world-v1 & /srv/world-v2 | /srv/world
"""

CANONICAL = (
    "/srv=>/#/io.l5d.k8s/default/http;\n"
    "/host=>/srv;\n"
    "/svc=>/host;\n"
    "/host/world=>(2.00*/srv/world-v1 & /srv/world-v2) | /srv/world;\n"
)


class ShowCommandTests:
    def test_show_file(self, tmp_path):
        """A dtab file prints canonically, one dentry per line, and reads back to the same Dtab."""
        f = tmp_path / "routes.dtab"
        f.write_text(DTAB_FILE_TEXT, encoding="utf-8")
        r = l5d_dtab("show", str(f))
        assert (r.returncode, r.stderr) == (0, "")
        assert r.stdout == CANONICAL
        assert Dtab.read(r.stdout) == Dtab.read(DTAB_FILE_TEXT)

    def test_show_stdin(self):
        """``-`` reads the dtab from standard input."""
        r = l5d_dtab("show", "-", stdin=DTAB_FILE_TEXT)
        assert (r.returncode, r.stdout, r.stderr) == (0, CANONICAL, "")

    def test_show_empty(self):
        """An empty dtab prints nothing."""
        r = l5d_dtab("show", "-", stdin="# nothing\n")
        assert (r.returncode, r.stdout) == (0, "")

    def test_parse_error_names_file_line_and_column(self, tmp_path):
        """A parse error exits 2 with ``FILE:LINE:COL: message`` for the offending line."""
        f = tmp_path / "bad.dtab"
        f.write_text("/a => /b;\n# fine so far\n/c => /d & ;\n", encoding="utf-8")
        r = l5d_dtab("show", str(f))
        assert r.returncode == 2 and r.stdout == ""
        assert r.stderr == f"{f}:3:12: simple expected but ';' found at '/c => /d & [;]'\n"

    def test_parse_error_on_stdin(self):
        """Standard input is named ``<stdin>`` in errors."""
        r = l5d_dtab("show", "-", stdin="/a=>/b\n/c=>/d\n")
        assert r.returncode == 2
        assert r.stderr == "<stdin>:2:1: end of input expected but '/' found at '[/]c=>/d'\n"

    def test_missing_file_exits_2(self, tmp_path):
        """A file that cannot be read exits 2 naming it."""
        missing = tmp_path / "nope.dtab"
        r = l5d_dtab("show", str(missing))
        assert r.returncode == 2 and r.stdout == ""
        assert r.stderr == f"l5d dtab: cannot read {missing}: No such file or directory\n"

    def test_non_utf8_file_exits_2(self, tmp_path):
        """A file that is not UTF-8 text exits 2 with the byte offset."""
        f = tmp_path / "latin1.dtab"
        f.write_bytes(b"/a=>/b\xe9\n")
        r = l5d_dtab("show", str(f))
        assert r.returncode == 2
        assert r.stderr.startswith(f"l5d dtab: {f}: not UTF-8 text")


DELEGATE_DTAB = "/bah/humbug=>/$/inet/127.1/8080;/foo=>/bah|/$/fail;/foo=>/bar;/boo=>/foo"


class DelegateCommandTests:
    def test_delegate_text(self):
        """The text trace shows every step and the dentry that fired."""
        r = l5d_dtab("delegate", "--dtab", DELEGATE_DTAB, "/boo/humbug/ya")
        assert (r.returncode, r.stderr) == (0, "")
        assert r.stdout == (
            "/boo/humbug/ya\n"
            "  /foo/humbug/ya  (/boo=>/foo)  alt (first non-neg wins):\n"
            "    1. /bar/humbug/ya  (/foo=>/bar)  neg (~)\n"
            "    2. /bah/humbug/ya  (/foo=>/bah | /$/fail)\n"
            "      /$/inet/127.1/8080/ya  (/bah/humbug=>/$/inet/127.1/8080)"
            "  => bound /$/inet/127.1/8080 residual /ya [127.0.0.1:8080]\n"
            "    3. /$/fail/humbug/ya  (/foo=>/bah | /$/fail)  fail (!)\n"
        )

    def test_delegate_json_equals_the_library(self):
        """``--json`` prints exactly ``delegate_tree_json`` of the delegation."""
        r = l5d_dtab("delegate", "--json", "--dtab", DELEGATE_DTAB, "/boo/humbug/ya")
        assert r.returncode == 0, r.stderr
        state = Interpreter().delegate(Dtab.read(DELEGATE_DTAB), Path.read("/boo/humbug/ya"))
        assert json.loads(r.stdout) == delegate_tree_json(state.value)
        assert r.stdout.count("\n") == 1

    def test_delegate_row56_json(self):
        """Row 56 through the command line."""
        r = l5d_dtab("delegate", "--json", "--dtab", "/neg => ~", "/neg")
        assert json.loads(r.stdout) == {
            "type": "delegate",
            "path": "/neg",
            "delegate": {"type": "neg", "path": "~", "dentry": {"prefix": "/neg", "dst": "~"}},
        }

    def test_delegate_loop_exits_1(self):
        """Delegating a loop exits 1 with the depth message."""
        r = l5d_dtab("delegate", "--dtab", "/a=>/b;/b=>/a", "/a")
        assert r.returncode == 1
        assert (
            r.stderr
            == "l5d dtab: cannot bind /a: Max recursion level: 100 reached in Namer lookup\n"
        )


class InProcessTests:
    """``main`` with in-memory streams: no process, no files."""

    def _run(self, argv, stdin_text=""):
        stdin, stdout, stderr = io.StringIO(stdin_text), io.StringIO(), io.StringIO()
        code = main(argv, stdin, stdout, stderr)
        return code, stdout.getvalue(), stderr.getvalue()

    def test_show_reads_the_given_stdin(self):
        """``show -`` reads the injected stdin and writes canonical lines to the injected stdout."""
        code, out, err = self._run(["show", "-"], "/a=>/b|/c ; /d=>!")
        assert (code, out, err) == (0, "/a=>/b | /c;\n/d=>!;\n", "")

    def test_delegate_text_matches_the_library(self):
        """The text output is ``render_delegate_tree`` of the delegation."""
        code, out, _ = self._run(["delegate", "--dtab", "/meh=>/heh", "/meh/hey"])
        state = Interpreter().delegate(Dtab.read("/meh=>/heh"), Path.read("/meh/hey"))
        assert code == 0 and out == render_delegate_tree(state.value)

    def test_usage_errors_exit_2_without_exiting_the_process(self):
        """Missing arguments are reported on stderr with exit code 2; SystemExit never escapes."""
        code, out, err = self._run(["bind", "/svc"])
        assert code == 2 and out == ""
        assert "--dtab" in err
        code, _, err = self._run([])
        assert code == 2 and "command" in err

    def test_help_goes_to_stdout(self):
        """``--help`` prints usage to the injected stdout and exits 0."""
        code, out, err = self._run(["--help"])
        assert code == 0 and err == ""
        assert "show" in out and "delegate" in out and "bind" in out


CONFIGURED = """\
namers:
- kind: io.l5d.fs
  rootDir: {disco}
routers:
- protocol: http
  label: out
  dtab: /svc => /#/io.l5d.fs
  interpreter:
    transformers:
    - kind: io.l5d.port
      port: 4141
  servers: [{{port: 4140}}]
- protocol: http
  label: in
  dtab: /svc => /#/io.l5d.fs
  interpreter:
    transformers:
    - kind: io.l5d.k8s.localnode
  servers: [{{port: 4141}}]
"""


POD = {"POD_IP": "10.244.2.1"}


class ConfiguredTests:
    """--config: the router's dtab, its namers and its transformers, as in the router."""

    def config(self, tmp_path: FsPath) -> str:
        disco = tmp_path / "disco"
        disco.mkdir()
        (disco / "web").write_text("10.244.1.2 7777\n10.244.2.2 7777\n")
        path = tmp_path / "l5d.yaml"
        path.write_text(CONFIGURED.format(disco=disco))
        return str(path)

    def test_bind_with_namers_and_transformers(self, tmp_path: FsPath) -> None:
        r = l5d_dtab("bind", "--config", self.config(tmp_path), "/svc/web", env=POD)
        assert r.returncode == 0, r.stderr
        report = json.loads(r.stdout)
        assert sorted(a["addr"] for a in report["addrs"]) == ["10.244.1.2:4141",
                                                              "10.244.2.2:4141"]
        assert report["tree"]["id"] == "/%/io.l5d.port/4141/#/io.l5d.fs/web"

    def test_router_and_environment(self, tmp_path: FsPath) -> None:
        """The incoming router's localnode transformer reads POD_IP from the environment."""
        config = self.config(tmp_path)
        r = l5d_dtab("delegate", "--json", "--config", config, "--router", "in", "/svc/web")
        assert r.returncode == 2 and "needs POD_IP" in r.stderr, r.stderr
        assert r.stderr.startswith(f"{config}: routers[1].interpreter.transformers[0]:")
        out, err = io.StringIO(), io.StringIO()
        code = main(["delegate", "--json", "--config", config, "--router", "in", "/svc/web"],
                    io.StringIO(), out, err, {"POD_IP": "10.244.2.1"}, Clock)
        assert code == 0, err.getvalue()
        node = json.loads(out.getvalue())["delegate"]
        assert node["type"] == "transformation"
        assert [a["ip"] for a in node["tree"]["bound"]["addr"]["addrs"]] == ["10.244.2.2"]

    def test_override_and_unknown_router(self, tmp_path: FsPath) -> None:
        config = self.config(tmp_path)
        r = l5d_dtab("bind", "--config", config, "--dtab", "/svc/web => /$/inet/10.0.0.9/80",
                     "/svc/web", env=POD)
        assert json.loads(r.stdout)["addrs"][0]["addr"] == "10.0.0.9:4141"
        r = l5d_dtab("bind", "--config", config, "--router", "nope", "/svc/web", env=POD)
        assert r.returncode == 2 and "has no router 'nope' (routers: out, in)" in r.stderr

    def test_usage(self) -> None:
        r = l5d_dtab("bind", "/svc/web")
        assert r.returncode == 2 and "one of --dtab or --config" in r.stderr
        r = l5d_dtab("bind", "--dtab", "/a=>/b", "--router", "x", "/svc/web")
        assert r.returncode == 2 and "--router needs --config" in r.stderr
