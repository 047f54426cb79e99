"""Every examples/*.yaml parses and builds (Linkerd's ExamplesTest pattern).

A file whose first line is ``# notest`` is skipped (for deliberately partial
snippets). The fs namer's example directory is checked too: each file there is
``host port`` per line.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from twisted.internet.testing import MemoryReactor

from l5d.config import FsNamerConfig, parse_config
from l5d.linker import Env, build

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(
    p for p in (ROOT / "examples").glob("*.yaml")
    if not p.read_text(encoding="utf-8").startswith("# notest")
)


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


class ExamplesTests:
    """The shipped examples stay valid."""

    def test_there_are_examples(self) -> None:
        """Guard against a glob that finds nothing."""
        assert any(p.name == "local.yaml" for p in EXAMPLES)

    @pytest.mark.parametrize("path", EXAMPLES, ids=_rel)
    def test_parses_and_builds(self, path: Path) -> None:
        """parse_config + build (every cross-check), no sockets opened."""
        config = parse_config(path.read_text(encoding="utf-8"), _rel(path))
        reactor = MemoryReactor()
        build(config, Env(), reactor)
        assert reactor.tcpServers == []

    @pytest.mark.parametrize("path", EXAMPLES, ids=_rel)
    def test_fs_namer_directories_exist(self, path: Path) -> None:
        """Every io.l5d.fs rootDir (relative to the repository root) is a directory."""
        config = parse_config(path.read_text(encoding="utf-8"), _rel(path))
        for namer in config.namers:
            if isinstance(namer, FsNamerConfig):
                assert (ROOT / namer.root_dir).is_dir(), namer.root_dir

    def test_local_example_routes_to_the_fs_namer(self) -> None:
        """local.yaml: admin 127.0.0.1:9990, router http on 4140, /svc => /#/io.l5d.fs."""
        config = parse_config((ROOT / "examples/local.yaml").read_text(encoding="utf-8"))
        assert (config.admin.ip, config.admin.port) == ("127.0.0.1", 9990)
        [router] = config.routers
        assert router.label == "http" and router.dtab.show() == "/svc=>/#/io.l5d.fs"
        assert [(s.ip, s.port) for s in router.servers] == [("127.0.0.1", 4140)]
        assert config.namers[0].dtab_prefix.show() == "/#/io.l5d.fs"

    @pytest.mark.parametrize(
        "path", sorted((ROOT / "examples/disco").iterdir()), ids=_rel
    )
    def test_disco_files_are_host_port_lines(self, path: Path) -> None:
        """Each non-comment line of a disco file is ``<ip> <port>``."""
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines()
                 if ln.strip() and not ln.startswith("#")]
        assert lines
        for line in lines:
            host, port = line.split()[:2]
            ipaddress.ip_address(host)
            assert 0 < int(port) < 65536
