"""The re-send rules of l5d.retry.safety, row by row."""

from __future__ import annotations

import pytest

from l5d.retry import ResponseClass
from l5d.retry.safety import (
    MAX_REQUEUES, buffered, may_requeue_connect, may_requeue_unanswered, may_retry,
)


@pytest.mark.parametrize("chunked, length, expected", [
    (False, None, True),  # no body
    (False, 0, True),
    (False, 5120, True),  # streamAfterContentLengthKB 5: up to and including 5 KiB
    (False, 5121, False),
    (True, None, False),  # chunked: never, whatever its size
])
def test_buffered(chunked: bool, length: int | None, expected: bool) -> None:
    assert buffered(chunked, length, 5120) is expected


def test_connect_requeues_while_an_endpoint_is_open() -> None:
    assert may_requeue_connect(0, True, 1)
    assert may_requeue_connect(MAX_REQUEUES - 1, True, 3)
    assert not may_requeue_connect(MAX_REQUEUES, True, 3)


def test_connect_requeues_with_every_endpoint_down_try_each_other_once() -> None:
    assert [may_requeue_connect(n, False, 3) for n in range(4)] == [True, True, False, False]
    assert not may_requeue_connect(0, False, 1)  # a lone endpoint: nowhere else to go


@pytest.mark.parametrize("method, answered, replayable, already, expected", [
    ("GET", False, True, False, True),
    ("PUT", False, True, False, True),
    ("DELETE", False, True, False, True),
    ("POST", False, True, False, False),  # may have been delivered: never
    ("PATCH", False, True, False, False),
    ("GET", True, True, False, False),  # the server answered (garbage): it saw it
    ("GET", False, False, False, False),  # body not kept whole
    ("GET", False, True, True, False),  # once per request
])
def test_unanswered(method, answered, replayable, already, expected) -> None:
    assert may_requeue_unanswered(method, answered, replayable, already) is expected


@pytest.mark.parametrize("cls, replayable, responded, expected", [
    (ResponseClass.RETRYABLE, True, False, True),
    (ResponseClass.RETRYABLE, False, False, False),
    (ResponseClass.RETRYABLE, True, True, False),  # never after a response byte went down
    (ResponseClass.NON_RETRYABLE, True, False, False),
    (ResponseClass.SUCCESS, True, False, False),
])
def test_retry(cls, replayable, responded, expected) -> None:
    assert may_retry(cls, replayable, responded) is expected
