"""The interceptor on a real grpc.aio server: fail closed, identity for handlers, health open, counts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from service.security.audit import AuthStats
from service.security.auth import AuthConfig, Authenticator
from service.security.identity import current_identity
from service.security.interceptor import AuthInterceptor
from tests.fixtures.tls import sha256_hex

EVERYTHING = "token-with-every-group"
READER = "token-metadata-only"


async def who(request: bytes, context) -> bytes:
    identity = current_identity()
    return (identity.name if identity else "nobody").encode()


async def who_streamed(request: bytes, context) -> AsyncIterator[bytes]:
    for _ in range(2):
        identity = current_identity()
        yield (identity.name if identity else "nobody").encode()


def raw(handler, streaming: bool = False):
    build = grpc.unary_stream_rpc_method_handler if streaming else grpc.unary_unary_rpc_method_handler
    return build(handler, request_deserializer=None, response_serializer=None)


@pytest.fixture
async def served() -> AsyncIterator[tuple[grpc.aio.Channel, AuthStats]]:
    config = AuthConfig.model_validate(
        {
            "tokens": [
                {"name": "root", "sha256": sha256_hex(EVERYTHING), "groups": ["infer", "metadata", "admin"]},
                {"name": "reader", "sha256": sha256_hex(READER), "groups": ["metadata"]},
            ]
        }
    )
    stats = AuthStats()
    server = grpc.aio.server(interceptors=[AuthInterceptor(Authenticator(config), stats)])
    server.add_generic_rpc_handlers(
        (
            # Real method names (their groups come from the table) served by stand-in handlers.
            grpc.method_handlers_generic_handler(
                "switchyard.v1.Predict", {"ListModels": raw(who), "PredictStream": raw(who_streamed, streaming=True)}
            ),
            grpc.method_handlers_generic_handler("test.Unlisted", {"Call": raw(who)}),
        )
    )
    health_pb2_grpc.add_HealthServicer_to_server(HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield channel, stats
    finally:
        await channel.close()
        await server.stop(0)


def bearer(token: str):
    return (("authorization", f"Bearer {token}"),)


async def call(channel, method: str, token: str | None = None) -> bytes:
    return await channel.unary_unary(method)(b"", metadata=bearer(token) if token else None)


async def test_the_handler_sees_the_callers_name(served):
    channel, stats = served
    assert await call(channel, "/switchyard.v1.Predict/ListModels", READER) == b"reader"
    assert stats.requests[("reader", "metadata", "allowed")] == 1


async def test_a_streaming_handler_sees_the_callers_name_on_every_reply(served):
    channel, _ = served
    replies = channel.unary_stream("/switchyard.v1.Predict/PredictStream")(b"", metadata=bearer(EVERYTHING))
    assert [reply async for reply in replies] == [b"root", b"root"]


async def test_a_streaming_call_outside_the_group_ends_before_the_handler(served):
    channel, stats = served
    replies = channel.unary_stream("/switchyard.v1.Predict/PredictStream")(b"", metadata=bearer(READER))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        [reply async for reply in replies]
    assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "'infer'" in (caught.value.details() or "")
    assert stats.requests[("reader", "infer", "denied")] == 1


async def test_a_method_in_no_group_is_denied_to_everyone(served):
    channel, stats = served
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(channel, "/test.Unlisted/Call", EVERYTHING)
    assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert stats.requests[("root", "none", "denied")] == 1


async def test_no_credentials_are_unauthenticated_and_counted_without_a_name(served):
    channel, stats = served
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(channel, "/switchyard.v1.Predict/ListModels")
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert stats.requests[("", "metadata", "unauthenticated")] == 1


async def test_health_needs_no_credentials(served):
    channel, stats = served
    reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert not stats.requests  # probes are neither checked nor counted


async def test_a_method_nobody_serves_stays_unimplemented(served):
    channel, _ = served
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(channel, "/test.Nowhere/Call", EVERYTHING)
    assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED
