"""The grpc.aio server interceptor that lets a call through or ends it before its handler runs.

Each method's handler is wrapped once (then cached): the wrapper resolves the caller from
the call's metadata and TLS peer (service/security/auth.py), counts the decision, and either
runs the handler with the identity set (service/security/identity.py) or aborts with
UNAUTHENTICATED or PERMISSION_DENIED. Health checks pass untouched; a method no group holds
is refused. The check needs the call's ServicerContext for the peer certificate, which
intercept_service does not get: hence a wrapper, not a decision in intercept_service.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

import grpc

from service.rpc.handlers import behavior_of, with_behavior
from service.security.audit import AuthStats
from service.security.auth import Authenticator, Decision, Outcome
from service.security.groups import OPEN_METHODS, Group, group_of
from service.security.identity import set_current_identity

log = logging.getLogger(__name__)

_STATUS = {Outcome.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED, Outcome.DENIED: grpc.StatusCode.PERMISSION_DENIED}


def judge_call(
    authenticator: Authenticator, stats: AuthStats, route: str, group: Group | None, metadata: Any, peer: Any
) -> Decision:
    """Decide one call (gRPC or REST), count it, and on ALLOWED set its identity; a refusal is logged.

    `metadata`: (key, value) pairs holding `authorization`; `peer`: the TLS peer, or a callable returning it.
    """
    decision = authenticator.decide(route, group, metadata, peer)
    name = decision.identity.name if decision.identity else ""
    stats.count(name, group.value if group else "none", decision.outcome.value)
    if decision.outcome is Outcome.ALLOWED:
        set_current_identity(decision.identity)
        return decision
    # A known identity out of its groups is worth a line; unauthenticated calls (scanners,
    # misconfigured clients) could flood the log, so they are DEBUG and counted in the metric.
    level = logging.INFO if decision.outcome is Outcome.DENIED else logging.DEBUG
    log.log(level, "%s %s (identity %r): %s", decision.outcome.value, route, name, decision.message)
    return decision


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, authenticator: Authenticator, stats: AuthStats) -> None:
        self._authenticator = authenticator
        self._stats = stats
        # Registered methods only (continuation answers None for the rest), so this stays small.
        self._guarded: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        if method in OPEN_METHODS:
            return await continuation(handler_call_details)
        guarded = self._guarded.get(method)
        if guarded is None:
            handler = await continuation(handler_call_details)
            if handler is None:
                return handler  # not served here: UNIMPLEMENTED, as without the interceptor
            guarded = self._guarded[method] = self._guard(method, handler)
        return guarded

    def _guard(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        behavior = behavior_of(handler)
        group = group_of(method)

        async def admit(context: grpc.aio.ServicerContext) -> None:
            metadata = context.invocation_metadata() or ()
            decision = judge_call(self._authenticator, self._stats, method, group, metadata, context.auth_context)
            if decision.outcome is not Outcome.ALLOWED:
                await context.abort(_STATUS[decision.outcome], decision.message)

        wrapped: Callable[..., Any]
        if inspect.isasyncgenfunction(behavior):

            async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                await admit(context)
                async with aclosing(behavior(request, context)) as replies:
                    async for reply in replies:
                        yield reply

        elif inspect.iscoroutinefunction(behavior):

            async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
                await admit(context)
                return await behavior(request, context)

        else:
            # A synchronous handler would run on grpc's thread pool, outside this guard's reach.
            raise TypeError(f"{method}: only asyncio handlers can be served behind the auth layer")
        return with_behavior(handler, wrapped)
