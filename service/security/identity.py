"""Who is calling: the identity the interceptor resolved, visible to handlers and log lines.

Only the configured name travels, never a token or a certificate. Each gRPC call runs in its
own asyncio task with a copy of the context, so the value set for one call is never seen by
another.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from service.security.groups import Group

ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Identity:
    name: str
    groups: frozenset[Group]
    # How the caller proved who it is: "token", "certificate" or "anonymous".
    via: str


_current: ContextVar[Identity | None] = ContextVar("switchyard_identity", default=None)


def current_identity() -> Identity | None:
    """The caller of the RPC being handled (None without an auth config, or outside a call)."""
    return _current.get()


def set_current_identity(identity: Identity | None) -> None:
    _current.set(identity)
