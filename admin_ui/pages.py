"""Building blocks of the admin site's pages (Twisted shell, ``twisted.web``)."""

from __future__ import annotations

import json

from twisted.web import pages, resource
from twisted.web.iweb import IRequest

__all__ = ["APPLICATION_JSON", "JsonPage", "Page", "PathDir", "TEXT_PLAIN"]

TEXT_PLAIN = b"text/plain; charset=utf-8"
APPLICATION_JSON = b"application/json"


class Page(resource.Resource):
    """One admin page: the methods in ``methods`` reach :meth:`respond`,
    others get 405 with an ``Allow`` header; nothing lives below it (404)."""

    methods: tuple[bytes, ...] = (b"GET", b"HEAD")

    def getChild(self, path: bytes, request: IRequest) -> resource.IResource:
        return pages.notFound()

    def render(self, request: IRequest) -> bytes:
        if request.method not in self.methods:
            request.setResponseCode(405)
            request.setHeader(b"allow", b", ".join(self.methods))
            request.setHeader(b"content-type", TEXT_PLAIN)
            return b"method not allowed\n"
        return self.respond(request)

    def respond(self, request: IRequest) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError


class PathDir(resource.Resource):
    """A path segment with children: ``index`` (when set) is its own page (``/admin`` and
    ``/admin/``), else 404 for itself; 404 for unknown children."""

    index: resource.Resource | None = None

    def getChild(self, path: bytes, request: IRequest) -> resource.IResource:
        if path == b"" and self.index is not None:
            return self.index
        return pages.notFound()

    def render(self, request: IRequest) -> bytes:
        if self.index is not None:
            return self.index.render(request)
        return pages.notFound().render(request)


class JsonPage(Page):
    """A fixed JSON document, encoded once."""

    def __init__(self, document: object) -> None:
        super().__init__()
        self._body = json.dumps(document, indent=2).encode("utf-8") + b"\n"

    def respond(self, request: IRequest) -> bytes:
        request.setHeader(b"content-type", APPLICATION_JSON)
        return self._body


def mount(root: resource.Resource, path: str, page: resource.Resource) -> None:
    """Put ``page`` at the absolute ``path`` below ``root``, making the directories between
    (``/admin/metrics/prometheus``: ``admin`` and ``metrics`` as :class:`PathDir`)."""
    segs = [s.encode("utf-8") for s in path.strip("/").split("/")]
    node = root
    for seg in segs[:-1]:
        child = node.children.get(seg)
        if child is None:
            child = PathDir()
            node.putChild(seg, child)
        node = child
    node.putChild(segs[-1], page)
