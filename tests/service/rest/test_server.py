"""The REST listener: connections it accepts have Nagle off (asyncio only sets TCP_NODELAY on
sockets that say IPPROTO_TCP; with Nagle on, every reply waited 40 ms for a delayed ACK)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from service.rest.server import listening_socket


async def test_accepted_connections_have_nodelay():
    listener = listening_socket("127.0.0.1", 0, reuse_port=False)
    seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.set_result(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(accepted, sock=listener)
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", listener.getsockname()[1])
        assert await asyncio.wait_for(seen, 30) == 1
        writer.close()
    finally:
        server.close()
        await server.wait_closed()


def test_a_taken_port_is_one_line():
    first = listening_socket("127.0.0.1", 0, reuse_port=False)
    try:
        with pytest.raises(RuntimeError, match=r"could not bind the HTTP port 127\.0\.0\.1:\d+"):
            listening_socket("127.0.0.1", first.getsockname()[1], reuse_port=False)
    finally:
        first.close()
