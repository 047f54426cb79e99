"""The reactor l5d runs on: Twisted's epoll reactor without a log context per event.

Twisted's reactors wrap every read or write event in ``log.callWithLogger``,
which builds a context dictionary and pushes and pops it so that legacy log
lines written during the event carry the connection's ``logPrefix``. On the
proxy's data path that is two events per request and about 2 µs each on the
benchmark machine (``docs/performance.md``), for a prefix l5d's own logging
(``twisted.logger`` with explicit fields) never reads.

:class:`EPollReactor` is Twisted's ``EPollReactor`` with ``doPoll`` (its
``doIteration``, the hook every Twisted reactor implements) calling
``_doReadOrWrite`` directly. ``_doReadOrWrite`` already catches and logs what
``doRead``/``doWrite`` raise and disconnects the selectable, exactly as
before; an error escaping it is logged here. :func:`install` is called by
:mod:`l5d.main` only, before anything imports the global reactor; on a platform
without epoll Twisted's default reactor is used.
"""

from __future__ import annotations

import errno
from typing import Any

from twisted.logger import Logger

try:
    from twisted.internet.epollreactor import EPollReactor as _TwistedEPollReactor
except ImportError:  # pragma: no cover - not Linux
    _TwistedEPollReactor = None  # type: ignore[assignment,misc]

log = Logger()

if _TwistedEPollReactor is not None:

    class EPollReactor(_TwistedEPollReactor):  # type: ignore[misc,valid-type]
        """``EPollReactor`` whose events run without ``log.callWithLogger``."""

        def doPoll(self, timeout: float | None) -> None:
            if timeout is None:
                timeout = -1  # wait indefinitely
            try:
                events = self._poller.poll(timeout, len(self._selectables))
            except OSError as err:
                if err.errno == errno.EINTR:
                    return
                raise
            selectables = self._selectables
            handle = self._doReadOrWrite
            for fd, event in events:
                selectable = selectables.get(fd)
                if selectable is None:
                    continue
                try:
                    handle(selectable, fd, event)
                except BaseException:
                    log.failure("unhandled error in reactor event for {s!r}", s=selectable)

        doIteration = doPoll


def install() -> Any:
    """Install l5d's reactor as the global one (epoll), or leave Twisted's default."""
    if _TwistedEPollReactor is None:  # pragma: no cover - not Linux
        return None
    from twisted.internet.main import installReactor

    reactor = EPollReactor()
    installReactor(reactor)
    return reactor
