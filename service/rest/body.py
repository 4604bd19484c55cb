"""Reading a request body within the server's message limit, before it is all in memory.

The limit is --max-message-bytes, the gRPC port's: a declared Content-Length above it is
refused at once (413) without reading a byte; a chunked body is read until it passes it.
"""

from __future__ import annotations

from starlette.requests import Request

from service.rest.errors import RestError


def _too_large(limit: int) -> RestError:
    return RestError(413, f"request body is larger than the server's limit of {limit} bytes (max_message_bytes)")


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise RestError(400, "Content-Length is not a number")
        if int(declared) > limit:
            raise _too_large(limit)
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        if chunk:  # the stream ends with an empty chunk: keep a one-chunk body uncopied
            parts.append(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)
