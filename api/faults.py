"""What the API answers when something underneath fails: quickly, in words, keeping nothing.

- Redis (job state and the queue) down: 503 with Retry-After, within a second when it
  refuses connections and a few when it stops answering (the API's Redis client does not
  ride out an outage the way a worker's does: a teacher is waiting).
- The storage disk full, before or while an upload is written: 507, the partial file removed.
- A client that stops sending its upload: 408 after `body_read_timeout_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import shutil
from collections.abc import AsyncIterator, Iterator

import redis
from fastapi import FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse
from kombu.exceptions import OperationalError

from scangrade.settings import Settings
from worker.service.storage import Storage

DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
QUEUE_DOWN = ("the grading queue is not answering just now (its Redis database is down);"
              " nothing was changed or stored: try again in a minute")


class QueueUnavailable(HTTPException):
    def __init__(self, retry_after_s: int = 30) -> None:
        super().__init__(status.HTTP_503_SERVICE_UNAVAILABLE, QUEUE_DOWN,
                         headers={"Retry-After": str(retry_after_s)})


def install(app: FastAPI, settings: Settings) -> None:
    """Redis failing under any route (job state, or sending a task) becomes a 503 in words,
    not a 500 after a long wait."""

    async def queue_down(_request: Request, _exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": QUEUE_DOWN}, status_code=503,
                            headers={"Retry-After": str(settings.retry_after_s)})

    app.add_exception_handler(redis.RedisError, queue_down)
    app.add_exception_handler(OperationalError, queue_down)  # sending a task failed


def _disk_full(settings: Settings | None = None) -> HTTPException:
    return HTTPException(
        status.HTTP_507_INSUFFICIENT_STORAGE,
        "the server's disk is full, so the upload was not kept; try again later, and tell"
        " whoever runs the server" + (f" (it keeps {settings.min_free_bytes} bytes free,"
                                      " setting min_free_bytes)" if settings else ""),
    )


def check_free_space(storage: Storage, settings: Settings) -> None:
    """Refuses an upload up front when the storage disk is nearly full."""
    storage.root.mkdir(parents=True, exist_ok=True)
    if shutil.disk_usage(storage.root).free < settings.min_free_bytes:
        raise _disk_full(settings)


@contextlib.contextmanager
def disk_full_as_507() -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        if exc.errno in DISK_FULL_ERRNOS:
            raise _disk_full() from exc
        raise


async def body_pieces(request: Request, timeout_s: float) -> AsyncIterator[bytes]:
    """The request body as it arrives; 408 when the client stops sending for `timeout_s`."""
    stream = request.stream().__aiter__()
    while True:
        try:
            piece = await asyncio.wait_for(stream.__anext__(), timeout_s)
        except StopAsyncIteration:
            return
        except TimeoutError as exc:
            raise HTTPException(
                status.HTTP_408_REQUEST_TIMEOUT,
                f"the upload stalled: nothing arrived for {timeout_s:g} s; send it again",
            ) from exc
        yield piece
