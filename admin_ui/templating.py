"""The admin pages' jinja2 environment and static files (pure: no Twisted).

* :func:`environment`: templates from ``admin_ui/templates`` (package data), HTML
  autoescaping on for every template, :class:`jinja2.StrictUndefined` (a name a template
  uses but its view model lacks is an error, not an empty string), and ``static_url``: a
  static file's address with its content hash (``/static/admin.css?v=1a2b3c4d``), so a page
  always names the bytes it was written for and the files can be cached for a year.
* :class:`StaticFiles`: the files of ``admin_ui/static`` read once, each with its content
  type, hash and the headers to serve it with.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Any


__all__ = ["CONTENT_TYPES", "StaticFile", "StaticFiles", "environment"]

#: content type by file extension (anything else is not served)
CONTENT_TYPES = {
    "css": "text/css; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "svg": "image/svg+xml",
    "png": "image/png",
    "ico": "image/x-icon",
    "txt": "text/plain; charset=utf-8",
}
#: a request naming the current hash (``?v=``) may be kept this long
IMMUTABLE = "public, max-age=31536000, immutable"
#: without (or with another) hash: keep, but ask again each time (ETag answers 304)
REVALIDATE = "no-cache"


@dataclass(frozen=True, slots=True)
class StaticFile:
    """One static file: ``body``, ``content_type`` and ``version`` (8 hex digits of its
    SHA-256, also its ETag)."""

    name: str
    body: bytes
    content_type: str
    version: str

    @property
    def etag(self) -> str:
        return f'"{self.version}"'

    def headers(self, asked_version: str | None) -> dict[str, str]:
        """The response headers; ``asked_version`` is the request's ``?v=``."""
        return {"content-type": self.content_type, "etag": self.etag,
                "cache-control": IMMUTABLE if asked_version == self.version else REVALIDATE,
                "x-content-type-options": "nosniff"}


class StaticFiles:
    """The static files of the ``admin_ui`` package (or ``files``, ``name -> bytes``)."""

    def __init__(self, files: dict[str, bytes] | None = None) -> None:
        if files is None:
            root = resources.files("admin_ui") / "static"
            files = {p.name: p.read_bytes() for p in root.iterdir() if p.is_file()}
        self.files: dict[str, StaticFile] = {}
        for name, body in files.items():
            ext = name.rsplit(".", 1)[-1]
            if ext in CONTENT_TYPES and not name.startswith("."):
                version = hashlib.sha256(body).hexdigest()[:8]
                self.files[name] = StaticFile(name, body, CONTENT_TYPES[ext], version)

    def get(self, name: str) -> StaticFile | None:
        return self.files.get(name)

    def url(self, name: str) -> str:
        """``/static/<name>?v=<hash>``; a name with no file is a mistake (KeyError)."""
        return f"/static/{name}?v={self.files[name].version}"


def environment(static: StaticFiles) -> Any:
    """The pages' environment (autoescape on, StrictUndefined, ``static_url``); jinja2 is
    imported here, at the first page view, not at start (issue 14, memory)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("admin_ui", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static_url"] = static.url
    return env
