"""The one error path of every servicer method: any exception becomes a status through status.py.

Servicer methods are written as plain code that raises; a decorator turns what escapes into
the call's status (code and message):

    @unary_errors                      # unary reply (unary or client-streaming request)
    async def Predict(self, request, context): ...

    @stream_errors                     # streamed replies (an async generator method)
    async def PredictStream(self, requests, context): ...

Streams that answer a bad message in band and keep going (PredictStream's
PredictResponse.error, ModelStreamInfer's error_message, StreamVideo's FrameError) take the
code name and message from `in_band_error`, so in-band and aborted errors read the same.

The decorators set the status and end the call rather than call `context.abort`: grpc keeps an
abort's exception on the call's state, and that exception's traceback (and the one it was raised
from) holds the failed request's frames, its message and tensors among them, in a reference
cycle that lives until the garbage collector's next full pass. Under load that kept gigabytes of
rejected requests resident (docs/security.md, memory).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar, cast

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
        context.set_code(code)
        context.set_details(message)
        return cast(Reply, None)  # grpc discards the reply of a call whose status is not OK

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
            context.set_code(code)
            context.set_details(message)

    return wrapper


def in_band_error(error: BaseException, where: str = "") -> tuple[str, str]:
    """(status code name, message) for an error answered inside a stream's reply message."""
    code, message = grpc_status(error, where)
    return code.name, message
