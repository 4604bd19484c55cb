"""The servicers' one error path, on a real grpc.aio server: every ErrorCode reaches the client
as its status; an unexpected exception reaches it as INTERNAL with a neutral message (the
traceback goes to the server log); a stream ends with the status of what broke it."""

from __future__ import annotations

import logging
import re

import grpc
import pytest

from protos.errors import ErrorCode, SwitchyardError
from service.rpc.errors import in_band_error, stream_errors, unary_errors
from service.rpc.status import GRPC_STATUS

SERVICE = "test.Errors"


class Raiser:
    """Raises what the request names: an ErrorCode name, or anything else for a ValueError."""

    @staticmethod
    def _raise(request: bytes) -> None:
        name = request.decode()
        if name in ErrorCode.__members__:
            raise SwitchyardError(f"message for {name}", ErrorCode[name])
        raise ValueError(f"secret detail at /srv/models/{name}")

    @unary_errors
    async def Unary(self, request: bytes, context) -> bytes:
        self._raise(request)
        return b"unreachable"

    @stream_errors
    async def Stream(self, request: bytes, context):
        yield b"first"
        self._raise(request)

    @unary_errors
    async def AbortsItself(self, request: bytes, context) -> bytes:
        await context.abort(grpc.StatusCode.ALREADY_EXISTS, "aborted by the method")
        return b"unreachable"


@pytest.fixture
async def channel():
    raiser = Raiser()
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(raiser.Unary),
        "Stream": grpc.unary_stream_rpc_method_handler(raiser.Stream),
        "AbortsItself": grpc.unary_unary_rpc_method_handler(raiser.AbortsItself),
    }
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel
    await server.stop(None)


@pytest.mark.parametrize("code", list(ErrorCode))
async def test_every_error_code_reaches_the_client_as_its_status(channel, code):
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await channel.unary_unary(f"/{SERVICE}/Unary")(code.name.encode())
    assert info.value.code() == GRPC_STATUS[code]
    assert info.value.details() == f"message for {code.name}"


async def test_unexpected_error_is_internal_with_a_neutral_message(channel, caplog):
    with caplog.at_level(logging.ERROR, logger="service.rpc.status"):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await channel.unary_unary(f"/{SERVICE}/Unary")(b"weights.onnx")
    details = info.value.details()
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert "ValueError" not in details and "/srv/models" not in details and "secret" not in details
    incident = re.fullmatch(r"internal error; see the server log for request ([0-9a-f]{12})", details)
    assert incident, details
    # The server log has the traceback under the id the client was given.
    (record,) = [r for r in caplog.records if incident.group(1) in r.getMessage()]
    assert record.exc_info and record.exc_info[0] is ValueError
    assert "Raiser.Unary" in record.getMessage()


async def test_a_broken_stream_ends_with_its_status_after_the_replies_sent(channel):
    call = channel.unary_stream(f"/{SERVICE}/Stream")(ErrorCode.RESOURCE_EXHAUSTED.name.encode())
    replies = []
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for reply in call:
            replies.append(reply)
    assert replies == [b"first"]
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_an_unexpected_stream_error_hides_the_exception(channel):
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for _ in channel.unary_stream(f"/{SERVICE}/Stream")(b"x"):
            pass
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert "ValueError" not in info.value.details()


async def test_a_method_that_aborts_itself_keeps_its_status_and_logs_nothing(channel, caplog):
    with caplog.at_level(logging.ERROR, logger="service.rpc.status"):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await channel.unary_unary(f"/{SERVICE}/AbortsItself")(b"")
    assert (info.value.code(), info.value.details()) == (grpc.StatusCode.ALREADY_EXISTS, "aborted by the method")
    assert not caplog.records  # an abort is not an internal error


def test_in_band_errors_read_like_aborted_ones():
    assert in_band_error(SwitchyardError("no such model", ErrorCode.NOT_FOUND)) == ("NOT_FOUND", "no such model")
    code, message = in_band_error(KeyError("tensor"))
    assert code == "INTERNAL" and "KeyError" not in message and message.startswith("internal error; see the server log")
