"""The auth layer over HTTP: the gRPC port's Authenticator, groups and counts, per request.

Each route stands for an RPC of inference.GRPCInferenceService and needs that RPC's group
(service/security/groups.py); `Authorization: Bearer <token>` is the gRPC metadata of the
same name. The health routes are open, as grpc.health.v1 Check is: probes carry no
credentials. With --tls-client-ca, a verified client certificate is an identity as over gRPC
(its names reach the request through service/rest/peer.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.rest.errors import RestError
from service.security.audit import AuthStats
from service.security.auth import Authenticator, Outcome
from service.security.groups import OIP, group_of
from service.security.interceptor import judge_call


class RestAuth:
    def __init__(self, authenticator: Authenticator | None, stats: AuthStats) -> None:
        self._authenticator = authenticator
        self._stats = stats

    def admit(self, route: str, rpc: str | None, headers: Mapping[str, str], peer: Mapping[str, Any]) -> None:
        """Let the request through (its identity set for the log) or raise 401/403.

        `peer`: the TLS client certificate's names (service/rest/peer.py), empty without one."""
        if self._authenticator is None or rpc is None:
            return
        group = group_of(f"/{OIP}/{rpc}")
        header = headers.get("authorization")
        metadata = [("authorization", header)] if header is not None else []
        decision = judge_call(self._authenticator, self._stats, route, group, metadata, lambda: peer)
        if decision.outcome is Outcome.ALLOWED:
            return
        if decision.outcome is Outcome.UNAUTHENTICATED:
            raise RestError(401, decision.message, headers={"www-authenticate": 'Bearer realm="switchyard"'})
        raise RestError(403, decision.message)
