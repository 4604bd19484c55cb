"""A call's gRPC deadline as an absolute time on the runner's clock."""

from __future__ import annotations

from collections.abc import Callable

import grpc


def deadline_of(context: grpc.aio.ServicerContext, clock: Callable[[], float]) -> float | None:
    """`clock() + time remaining`, or None when the client set no deadline."""
    remaining = context.time_remaining()
    return None if remaining is None else clock() + remaining
