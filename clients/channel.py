"""The channel every client opens: one target (or several, spread with health-aware
round_robin), the connection settings (clients/connection.py), TLS and a bearer token
(clients/security.py), a Predict stub, the per-call defaults, and closing as a context manager.

The asyncio channel is opened lazily in the event loop that first uses it: grpc.aio channels
belong to one loop, so a client built outside a loop (or reused after asyncio.run ended) would
otherwise fail in the loop that uses it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import grpc

from clients.connection import DEFAULT_RETRY, RetryPolicy, connection_options, resolve_target
from clients.pool import ChannelPool, check_channels
from clients.request import DEFAULT_MAX_MESSAGE
from clients.security import TlsConfig, open_aio_channel, open_channel
from clients.tracing import with_trace_context
from protos.switchyard.v1 import predict_pb2_grpc

__all__ = ["AsyncPredictChannel", "PredictChannel"]

Metadata = Mapping[str, str] | Sequence[tuple[str, str]]


class _Settings:
    """What both channel kinds take; `call(...)` gives one call's keyword arguments."""

    def __init__(
        self,
        target: str | Iterable[str] = "127.0.0.1:8001",
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE,
        tls: TlsConfig | bool | None = None,
        token: str | None = None,
        options: Iterable[tuple[str, Any]] = (),
        retry: RetryPolicy | None = DEFAULT_RETRY,
        wait_for_ready: bool | None = None,
        keepalive: float | None = None,
        compression: grpc.Compression | None = None,
        timeout: float | None = None,
        channels: int = 1,
    ) -> None:
        self._address, round_robin = resolve_target(target)
        self._channels = check_channels(channels)
        self._options = connection_options(
            max_message_bytes, round_robin=round_robin, retry=retry, keepalive=keepalive, extra=options
        )
        self._tls = tls
        self._token = token
        self._wait_for_ready = wait_for_ready
        self._compression = compression
        self._timeout = timeout
        self._open()

    def _open(self) -> None:
        raise NotImplementedError

    def _call_options(self, timeout: float | None, metadata: Metadata | None) -> dict[str, Any]:
        pairs = with_trace_context(tuple(metadata.items()) if isinstance(metadata, Mapping) else tuple(metadata or ()))
        return {
            "timeout": self._timeout if timeout is None else timeout,
            "metadata": pairs or None,
            "wait_for_ready": self._wait_for_ready,
            "compression": self._compression,
        }


_DOC = """
    tls: a TlsConfig, True (TLS trusting the system's roots) or None (plaintext).
    token: sent as `authorization: Bearer <token>` with every call.
    options: extra grpc channel arguments, e.g. [("grpc.primary_user_agent", "me")]; they win.
    retry: grpc's retries of the idempotent unary calls on UNAVAILABLE (RetryPolicy); None: off.
    wait_for_ready: calls wait for a connection (up to their timeout) instead of failing fast.
    keepalive: seconds between HTTP/2 pings on an idle connection (finds dead peers behind NATs).
    compression: e.g. grpc.Compression.Gzip for every call.
    timeout: the default deadline (seconds) of every call; a call's own timeout= wins.
    channels: open N channels, each its own connection, and take them in turn per call
        (clients/pool.py): reaches every process of a `serve --workers N` server.
"""


class PredictChannel(_Settings):
    def _open(self) -> None:
        self._pool = ChannelPool(self._open_channel, self._options, self._channels, predict_pb2_grpc.PredictStub)
        self._channel = self._pool.channels[0]

    def _open_channel(self, options: list[tuple[str, Any]]) -> grpc.Channel:
        return open_channel(self._address, options, tls=self._tls, token=self._token)

    @property
    def _stub(self) -> predict_pb2_grpc.PredictStub:
        return self._pool.stub()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for channel in self._pool.channels:
            channel.close()


class AsyncPredictChannel(_Settings):
    def _open(self) -> None:
        self._channel: grpc.aio.Channel | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool: ChannelPool[grpc.aio.Channel, predict_pb2_grpc.PredictStub] | None = None

    @property
    def _stub(self) -> predict_pb2_grpc.PredictStub:
        loop = asyncio.get_running_loop()
        if self._pool is None or self._loop is not loop:
            if self._loop is not None and self._loop is not loop and self._loop.is_running():
                raise RuntimeError("this async client is in use in another event loop; make one client per loop")
            # The loop it was opened in has ended; its channel went with it.
            self._pool = ChannelPool(self._open_channel, self._options, self._channels, predict_pb2_grpc.PredictStub)
            self._channel = self._pool.channels[0]
            self._loop = loop
        return self._pool.stub()

    def _open_channel(self, options: list[tuple[str, Any]]) -> grpc.aio.Channel:
        return open_aio_channel(self._address, options, tls=self._tls, token=self._token)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        pool, self._pool, self._channel, self._loop = self._pool, None, None, None
        for channel in pool.channels if pool is not None else ():
            await channel.close()


PredictChannel.__doc__ = "Blocking channel owner: `with Client(target, ...) as client: ...`.\n" + _DOC
AsyncPredictChannel.__doc__ = "asyncio channel owner: `async with Client(target, ...) as client: ...`.\n" + _DOC
