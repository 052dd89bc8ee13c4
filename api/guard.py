"""Checks that must happen before a request body is read.

FastAPI parses multipart forms (spooling file parts to disk) before route dependencies run,
so a token check in a dependency alone would let anyone without a token make the server
store gigabytes. This ASGI middleware refuses /api requests without a valid token before
reading a byte of the body, and caps the body of every /api request except PDF uploads,
which the upload route streams to disk under its own limit.
"""

from __future__ import annotations

import re

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import caller_or_problem
from scangrade.settings import Settings

API_PREFIX = "/api/"
UPLOAD_PATH = re.compile(r"^/api/exams/[^/]+/jobs$")
FORM_OVERHEAD_BYTES = 64 * 1024  # multipart boundaries and headers around the files


class _BodyTooLarge(Exception):
    pass


class RequestGuard:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        # Exam creation carries up to three files (layout, key, roster).
        self.body_limit = 3 * settings.max_exam_file_bytes + FORM_OVERHEAD_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        scheme, _, token = headers.get("authorization", "").partition(" ")
        problem = caller_or_problem(self.settings, scheme or None, token.strip() or None)
        if isinstance(problem, str):
            await JSONResponse({"detail": problem}, status_code=401,
                               headers={"WWW-Authenticate": "Bearer"})(scope, receive, send)
            return
        if UPLOAD_PATH.match(scope["path"]):
            await self.app(scope, receive, send)  # streamed to disk under max_upload_bytes
            return
        await self._limited(scope, receive, send, headers)

    async def _limited(self, scope: Scope, receive: Receive, send: Send,
                       headers: dict[str, str]) -> None:
        too_large = JSONResponse(
            {"detail": f"request body over the {self.body_limit} byte limit"}, status_code=413)
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.body_limit:
            await too_large(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.body_limit:
                raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await too_large(scope, receive, send)
