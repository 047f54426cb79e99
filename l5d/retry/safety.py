"""When a request may be sent again (pure): the rules of ``docs/retries.md``.

Three ways a request can go out more than once, each with its own rule:

* **requeue after a connect failure**: nothing reached the wire, so any method may go
  to another endpoint, without charge to a budget, up to :data:`MAX_REQUEUES` times while
  the client has an endpoint that is not marked down (Finagle's ``Retries.Effort``), and
  to each other endpoint once when all are marked down;
* **requeue after an unanswered write**: the connection closed before any response byte
  came back (typically a pooled connection the server closed while idle); the request
  may have been read, so only an idempotent method whose whole body l5d kept goes again,
  once, charged to the client's ``requeueBudget``;
* **retry** of an attempt its service's ``responseClassifier`` calls retryable: only if
  the whole request is buffered (no body, or a ``Content-Length`` body of at most
  ``streamAfterContentLengthKB`` that has been read completely; never chunked), nothing
  of the response went downstream yet, and the service's retry budget allows it.

Nothing here knows sockets or clocks: the exchange feeds in what it saw.
"""

from __future__ import annotations

from l5d.retry.classify import IDEMPOTENT_METHODS, ResponseClass

__all__ = ["MAX_REQUEUES", "buffered", "may_requeue_connect", "may_requeue_unanswered", "may_retry"]

#: connect-failure requeues per request (Finagle ``Retries.Effort``)
MAX_REQUEUES = 25


def buffered(chunked: bool, content_length: int | None, limit: int) -> bool:
    """Whether a request's body is small enough to keep for sending again.

    :param chunked: the body is chunked (streamed: never kept).
    :param content_length: its ``Content-Length`` (``None``: no body).
    :param limit: ``streamAfterContentLengthKB`` in bytes.
    """
    if chunked:
        return False
    return content_length is None or content_length <= limit


def may_requeue_connect(requeues: int, any_open: bool, size: int) -> bool:
    """A connect failed (no byte written): try another endpoint?

    While some endpoint is up, yes (Finagle's rule), up to :data:`MAX_REQUEUES` times.
    When every endpoint is marked down (the balancer fails open), Finagle gives up at
    once; l5d still tries each of the others once, so that an endpoint that came back
    while still marked down is found.

    :param requeues: connect requeues this request already had.
    :param any_open: the client has an endpoint whose status is ``OPEN``.
    :param size: how many endpoints the client has.
    """
    return requeues < MAX_REQUEUES and (any_open or requeues + 1 < size)


def may_requeue_unanswered(method: str, answered: bool, replayable: bool,
                           already: bool) -> bool:
    """A connection closed after the request was written, before any response byte:
    send it once more, to another pick (before asking the budget)?

    The server may have read the request (RFC 9110 9.2.2 allows re-sending an idempotent
    one); a pooled connection the server closed while idle is the usual cause. Once per
    request only: a request that kills its server must not take the next one down too.

    :param method: the request method.
    :param answered: the upstream sent bytes (a malformed response): it saw the request.
    :param replayable: the request is whole and buffered (see :func:`buffered`).
    :param already: this request was sent again this way before.
    """
    return not answered and replayable and not already and method in IDEMPOTENT_METHODS


def may_retry(cls: ResponseClass, replayable: bool, responded: bool) -> bool:
    """A classified attempt: retry it (before asking the budget)?

    :param cls: the classifier's verdict.
    :param replayable: the request is whole and buffered.
    :param responded: some of the response already went downstream.
    """
    return cls is ResponseClass.RETRYABLE and replayable and not responded
