"""N channels to one target, each with a connection of its own; calls take them in turn.

`serve --workers N` runs N processes on one port, and the kernel hands each *connection* to
one of them: a client on one channel talks to one worker for as long as the connection lives.
grpc also lets channels whose arguments are equal share one connection (its process-wide
subchannel pool), so opening N plain channels is still one connection. Each channel of a pool
gets its own subchannel pool and an argument no other channel has, so N channels are N
connections for the kernel to spread, and round-robin over them spreads the calls.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

__all__ = ["ChannelPool", "check_channels", "pooled_options"]

Channel = TypeVar("Channel")
Stub = TypeVar("Stub")
Options = list[tuple[str, Any]]

# A channel argument grpc does not know: it only makes the channels' arguments differ.
CHANNEL_INDEX = "switchyard.channel_index"
MAX_CHANNELS = 256


def check_channels(count: object) -> int:
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_CHANNELS:
        raise ValueError(f"channels must be an integer from 1 to {MAX_CHANNELS}, got {count!r}")
    return count


def pooled_options(options: Iterable[tuple[str, Any]], index: int) -> Options:
    """The options of a pool's channel `index`: its own subchannel pool, so its own connection."""
    return [*options, ("grpc.use_local_subchannel_pool", 1), (CHANNEL_INDEX, index)]


class ChannelPool(Generic[Channel, Stub]):
    """`count` channels opened with `open(options)`; `stub()` gives their stubs in turn.

    One channel is opened exactly as without a pool (it may share a connection, as before).
    """

    def __init__(
        self,
        open: Callable[[Options], Channel],
        options: Iterable[tuple[str, Any]],
        count: int,
        stub: Callable[[Channel], Stub],
    ) -> None:
        count = check_channels(count)
        options = list(options)
        self.channels = [open(options)] if count == 1 else [open(pooled_options(options, i)) for i in range(count)]
        self._stubs = [stub(channel) for channel in self.channels]
        # next() on itertools.count is one C call: threads sharing a sync client never get the same turn twice.
        self._turn = itertools.count()

    def stub(self) -> Stub:
        stubs = self._stubs
        return stubs[0] if len(stubs) == 1 else stubs[next(self._turn) % len(stubs)]
