"""Raw calls: bodies as bytes, no serializers, each answered with (replies, status, details)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc

AT_ONCE = 8  # cases in flight at once
DEADLINE_S = 10.0  # every call's deadline: a call that reaches it is a hang


async def call_unary(
    channel: grpc.aio.Channel, path: str, body: bytes, timeout: float = DEADLINE_S
) -> tuple[grpc.StatusCode, str]:
    try:
        await channel.unary_unary(path)(body, timeout=timeout)
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details() or ""
    return grpc.StatusCode.OK, ""


@dataclass(frozen=True)
class StreamClient:
    """Streams through grpc's synchronous client, in threads of its own.

    Synchronous: grpc.aio's client reports INTERNAL ("Internal error from Core") instead of the
    server's status when the server ends a stream while the client is still writing
    (grpc/grpc#36066); the synchronous client reports what the server sent. Threads of its own:
    the server in this process runs its decode work in the event loop's default executor, which
    blocked client calls must not occupy.
    """

    channel: grpc.Channel
    threads: ThreadPoolExecutor

    async def call(
        self, path: str, messages: list[bytes], timeout: float = DEADLINE_S
    ) -> tuple[list[bytes], grpc.StatusCode, str]:
        return await asyncio.get_running_loop().run_in_executor(self.threads, self._call, path, messages, timeout)

    def _call(self, path: str, messages: list[bytes], timeout: float) -> tuple[list[bytes], grpc.StatusCode, str]:
        replies: list[bytes] = []
        try:
            for reply in self.channel.stream_stream(path)(iter(messages), timeout=timeout):
                replies.append(reply)
        except grpc.RpcError as error:
            return replies, error.code(), error.details() or ""
        return replies, grpc.StatusCode.OK, ""
