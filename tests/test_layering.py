"""The import rules of STYLE.md section 3.2, checked by scanning every source file's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("dtab", "l5d", "admin_ui")


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imports(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(module, imported names) for every import statement in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((alias.name, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, tuple(a.name for a in node.names)))
    return out


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


ALL_SOURCES = [p for pkg in PACKAGES for p in _sources(pkg)]


class LayeringTests:
    """dtab stays pure, only the entry point touches the global reactor, l5d never imports admin_ui."""

    @pytest.mark.parametrize("path", _sources("dtab"), ids=_rel)
    def test_dtab_imports_only_the_standard_library_and_itself(self, path: Path) -> None:
        """dtab/ must not import twisted, yaml, jinja2 or anything outside the stdlib."""
        import sys

        for module, _ in _imports(path):
            top = module.split(".")[0]
            assert top == "dtab" or top in sys.stdlib_module_names, f"{_rel(path)} imports {module}"

    @pytest.mark.parametrize("path", ALL_SOURCES, ids=_rel)
    def test_only_main_imports_the_global_reactor(self, path: Path) -> None:
        """``from twisted.internet import reactor`` is allowed in l5d/main.py alone."""
        if _rel(path) == "l5d/main.py":
            return
        for module, names in _imports(path):
            assert module != "twisted.internet.reactor", f"{_rel(path)} imports the global reactor"
            if module == "twisted.internet":
                assert "reactor" not in names, f"{_rel(path)} imports the global reactor"

    @pytest.mark.parametrize("path", _sources("l5d"), ids=_rel)
    def test_l5d_does_not_import_admin_ui(self, path: Path) -> None:
        """The admin UI depends on the router, never the other way round (main.py wires them)."""
        if _rel(path) == "l5d/main.py":
            return
        for module, _ in _imports(path):
            assert module.split(".")[0] != "admin_ui", f"{_rel(path)} imports {module}"

    @pytest.mark.parametrize("path", ALL_SOURCES, ids=_rel)
    def test_only_main_reads_the_environment_or_argv(self, path: Path) -> None:
        """os.environ and sys.argv belong to the process edge (l5d/main.py)."""
        if _rel(path) == "l5d/main.py":
            return
        text = path.read_text(encoding="utf-8")
        assert "os.environ" not in text and "sys.argv" not in text, _rel(path)

    def test_the_scan_sees_the_packages(self) -> None:
        """Guard against a layering test that checks nothing."""
        assert len(_sources("dtab")) >= 8 and (ROOT / "l5d" / "main.py").exists()
