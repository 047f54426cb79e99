"""admin_ui.templating: the environment's safety settings and the static file table."""

from __future__ import annotations

import jinja2
import pytest

from admin_ui.templating import StaticFiles, environment


def test_autoescape_and_strict_undefined() -> None:
    """Every template escapes HTML, and a name missing from the view model is an error."""
    env = environment(StaticFiles({"a.css": b"x"}))
    page = env.from_string("{{ v }}")
    assert page.render(v="<b>&") == "&lt;b&gt;&amp;"
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ missing }}").render()


def test_static_url_names_the_content_hash() -> None:
    """static_url gives the file's address with the first 8 hex digits of its SHA-256; a
    file that does not exist is a mistake."""
    files = StaticFiles({"a.css": b"body{}", "b.js": b"1", ".hidden.js": b"", "c.exe": b""})
    assert sorted(files.files) == ["a.css", "b.js"]
    assert files.url("a.css") == "/static/a.css?v=" + files.get("a.css").version
    assert len(files.get("a.css").version) == 8
    with pytest.raises(KeyError):
        files.url("nope.js")


def test_headers() -> None:
    """The content type by extension; a year's caching only for the current hash."""
    f = StaticFiles({"a.svg": b"<svg/>"}).get("a.svg")
    assert f.headers(f.version) == {
        "content-type": "image/svg+xml", "etag": f'"{f.version}"',
        "cache-control": "public, max-age=31536000, immutable",
        "x-content-type-options": "nosniff"}
    assert f.headers("00000000")["cache-control"] == "no-cache"


def test_the_package_files_are_found() -> None:
    """The installed package's static directory holds the pages' files."""
    assert {"admin.css", "common.js", "dashboard.js", "dtab.js", "chart.js", "dtree.js",
            "requests.js", "metrics.js", "logging.js", "favicon.svg"} <= set(StaticFiles().files)
