"""The channel pool: N channels with arguments of their own, stubs taken in turn."""

from __future__ import annotations

import asyncio

import pytest

from clients import AsyncSwitchyardClient, SwitchyardClient
from clients.pool import CHANNEL_INDEX, ChannelPool, check_channels, pooled_options


def test_one_channel_is_opened_as_without_a_pool():
    opened: list[list] = []
    pool = ChannelPool(lambda options: opened.append(options) or len(opened), [("a", 1)], 1, lambda c: f"stub{c}")
    assert opened == [[("a", 1)]]
    assert [pool.stub() for _ in range(3)] == ["stub1"] * 3


def test_pooled_channels_differ_in_their_arguments_and_take_turns():
    opened: list[list] = []
    pool = ChannelPool(lambda options: opened.append(options) or len(opened), [("a", 1)], 3, lambda c: f"stub{c}")
    assert len(opened) == 3
    assert len({tuple(options) for options in opened}) == 3  # no two may share grpc's subchannel (connection)
    for index, options in enumerate(opened):
        assert ("grpc.use_local_subchannel_pool", 1) in options and (CHANNEL_INDEX, index) in options
        assert options[0] == ("a", 1)
    assert [pool.stub() for _ in range(7)] == ["stub1", "stub2", "stub3", "stub1", "stub2", "stub3", "stub1"]
    assert pooled_options([], 2) == [("grpc.use_local_subchannel_pool", 1), (CHANNEL_INDEX, 2)]


@pytest.mark.parametrize("bad", [0, -1, 257, 2.0, True, "4"])
def test_channels_must_be_a_small_positive_integer(bad):
    with pytest.raises(ValueError, match="channels must be an integer from 1 to 256"):
        check_channels(bad)
    with pytest.raises(ValueError, match="channels must be an integer"):
        SwitchyardClient("127.0.0.1:1", channels=bad)


def test_clients_open_and_close_every_channel_of_their_pool():
    client = SwitchyardClient("127.0.0.1:1", channels=3)
    assert len(client._pool.channels) == 3 and client._channel is client._pool.channels[0]
    client.close()

    async def use() -> int:
        async with AsyncSwitchyardClient("127.0.0.1:1", channels=2) as aio:
            assert aio._stub is not None  # opened lazily in the loop that uses it
            assert aio._pool is not None
            return len(aio._pool.channels)

    assert asyncio.run(use()) == 2
