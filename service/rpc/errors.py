"""The one error path of every servicer method: any exception becomes a status through status.py.

Servicer methods are written as plain code that raises; a decorator turns what escapes into
`context.abort(status, message)`:

    @unary_errors                      # unary reply (unary or client-streaming request)
    async def Predict(self, request, context): ...

    @stream_errors                     # streamed replies (an async generator method)
    async def PredictStream(self, requests, context): ...

Streams that answer a bad message in band and keep going (PredictStream's
PredictResponse.error, ModelStreamInfer's error_message, StreamVideo's FrameError) take the
code name and message from `in_band_error`, so in-band and aborted errors read the same.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from service.rpc.status import grpc_status

Reply = TypeVar("Reply")
UnaryMethod = Callable[[Any, Any, Any], Awaitable[Reply]]
StreamMethod = Callable[[Any, Any, Any], AsyncIterator[Reply]]


def unary_errors(method: UnaryMethod[Reply]) -> UnaryMethod[Reply]:
    """Abort the call with the status of whatever the method raises."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: Any) -> Reply:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise  # already aborted (with its own status): let grpc finish the call
        except Exception as exc:
            code, message = grpc_status(exc, method.__qualname__)
            await context.abort(code, message)
            raise AssertionError("context.abort returned") from exc  # abort always raises

    return wrapper


def stream_errors(method: StreamMethod[Reply]) -> StreamMethod[Reply]:
    """Abort a reply stream with the status of whatever ends it early (a broken stream)."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: Any) -> AsyncIterator[Reply]:
        try:
            async for reply in method(self, request, context):
                yield reply
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            code, message = grpc_status(exc, method.__qualname__)
            await context.abort(code, message)

    return wrapper


def in_band_error(error: BaseException, where: str = "") -> tuple[str, str]:
    """(status code name, message) for an error answered inside a stream's reply message."""
    code, message = grpc_status(error, where)
    return code.name, message
