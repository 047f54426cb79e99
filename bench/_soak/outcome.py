"""One soak request's outcome: answered as it should be, a deliberate failure, or lost
(pure: standard library only, no I/O).

* ``ok``: a 2xx whose body is the asked service's answer (``Hello (...) world (...)!!``
  for hello, ``world (...)!`` for world-v1).
* ``failed``: a deliberate failure: a 5xx that carries ``l5d-err`` (an l5d refused the
  request and said why). Its detail is the status and the ``l5d-err`` reason with
  addresses and numbers blanked, so that the same reason counts as one kind.
* ``lost``: anything else: no response (the connection refused, reset or closed first,
  or no answer within the client's timeout), a 5xx without ``l5d-err``, another status,
  or a 2xx with the wrong body.

A line of the load's output file is one request: :func:`to_line` / :func:`from_line`.
"""

from __future__ import annotations

import http.client
import re
import socket
from dataclasses import dataclass
from enum import Enum
from typing import Mapping, Pattern
from urllib.parse import unquote_plus

__all__ = ["Kind", "Outcome", "Record", "err_reason", "from_line", "of_exception",
           "of_response", "to_line"]

#: the longest ``l5d-err`` reason kept (longer ones are cut)
REASON_CHARS = 100

_ADDR = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b")
_NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")


class Kind(Enum):
    """What became of a request."""

    OK = "ok"
    FAILED = "failed"
    LOST = "lost"


@dataclass(frozen=True, slots=True)
class Outcome:
    """A request's :class:`Kind`, the response's ``status`` (0: none came) and, unless
    ``ok``, what happened in a few words."""

    kind: Kind
    status: int
    detail: str = ""


def err_reason(l5d_err: str) -> str:
    """The kind of a deliberate failure: an ``l5d-err`` value (form-encoded) decoded, its
    first line, IP addresses as ``ADDR`` and other numbers as ``N``, cut to
    :data:`REASON_CHARS`.

    >>> err_reason("connection+refused+to+10.244.1.2%3A7777")
    'connection refused to ADDR'
    """
    text = unquote_plus(l5d_err, encoding="latin-1").strip().splitlines()
    first = text[0] if text else ""
    first = _NUMBER.sub("N", _ADDR.sub("ADDR", first))
    return first[:REASON_CHARS]


def of_response(service: str, status: int, l5d_err: str | None, body: bytes,
                expect: Mapping[str, Pattern]) -> Outcome:
    """Classify a complete response to ``GET http://<service>/``.

    :param l5d_err: the response's ``l5d-err`` header, or ``None``.
    :param expect: service -> the pattern its pods' answers match in full.
    """
    if 200 <= status < 300:
        if expect[service].fullmatch(body.decode(errors="replace")):
            return Outcome(Kind.OK, status)
        return Outcome(Kind.LOST, status, f"{status} with a wrong body")
    if status >= 500 and l5d_err:
        return Outcome(Kind.FAILED, status, f"{status} {err_reason(l5d_err)}")
    if status >= 500:
        return Outcome(Kind.LOST, status, f"{status} without l5d-err")
    return Outcome(Kind.LOST, status, f"{status}" + (" with l5d-err" if l5d_err else ""))


def of_exception(err: BaseException) -> Outcome:
    """Classify a request that got no complete response (always ``lost``)."""
    match err:
        case socket.timeout() | TimeoutError():
            detail = "timeout: no response"
        case ConnectionRefusedError():
            detail = "connection refused"
        case http.client.RemoteDisconnected():  # a ConnectionResetError too
            detail = "connection closed without a response"
        case ConnectionResetError():
            detail = "connection reset"
        case BrokenPipeError():
            detail = "broken pipe"
        case http.client.IncompleteRead():
            detail = "response cut short"
        case http.client.HTTPException():
            detail = f"bad response ({type(err).__name__})"
        case _:
            detail = type(err).__name__
    return Outcome(Kind.LOST, 0, detail)


@dataclass(frozen=True, slots=True)
class Record:
    """One request of the soak: sent ``t_s`` seconds after the load started, answered (or
    given up) ``latency_ms`` later, through ``node``'s l5d, to ``service``."""

    t_s: float
    latency_ms: float
    node: int
    service: str
    outcome: Outcome


def to_line(r: Record) -> str:
    """:return: ``r`` as one tab-separated line (newline included)."""
    detail = r.outcome.detail.replace("\t", " ").replace("\n", " ")
    return (f"{r.t_s:.4f}\t{r.latency_ms:.2f}\t{r.node}\t{r.service}\t"
            f"{r.outcome.kind.value}\t{r.outcome.status}\t{detail}\n")


def from_line(line: str) -> Record:
    """The inverse of :func:`to_line`.

    :raises ValueError: on a line that is not one.
    """
    t, latency, node, service, kind, status, detail = line.rstrip("\n").split("\t")
    return Record(float(t), float(latency), int(node), service,
                  Outcome(Kind(kind), int(status), detail))
