"""Which permission group each RPC needs: infer, metadata or admin; health is open to all.

The table is by full method name ("/package.Service/Method"). A method missing from it is
denied to everyone (fail closed): a new RPC has to be placed in a group before anyone can
call it, and a test walks every registered service so none is forgotten.
"""

from __future__ import annotations

from enum import StrEnum


class Group(StrEnum):
    INFER = "infer"
    METADATA = "metadata"
    ADMIN = "admin"


PREDICT = "switchyard.v1.Predict"
OIP = "inference.GRPCInferenceService"
HEALTH = "grpc.health.v1.Health"
REFLECTION = "grpc.reflection.v1alpha.ServerReflection"

_GROUPS: dict[Group, dict[str, tuple[str, ...]]] = {
    Group.INFER: {
        PREDICT: ("Predict", "PredictStream", "StreamVideo"),
        OIP: ("ModelInfer", "ModelStreamInfer"),
    },
    Group.METADATA: {
        PREDICT: ("ListModels", "GetModel", "GetServerInfo"),
        OIP: (
            "ServerLive",
            "ServerReady",
            "ModelReady",
            "ServerMetadata",
            "ModelMetadata",
            "ModelConfig",
            "ModelStatistics",
        ),
        # Reflection describes the API, nothing about what is loaded beyond what ListModels says.
        REFLECTION: ("ServerReflectionInfo",),
        # Lists every model's health entry ("model/<name>"): as much as ListModels tells.
        HEALTH: ("List",),
    },
    Group.ADMIN: {
        # RepositoryIndex lists every folder, loaded or not: the repository's layout is an
        # operator's view, and the OIP servicer gates it with the load/unload RPCs.
        OIP: (
            "RepositoryIndex",
            "RepositoryModelLoad",
            "RepositoryModelUnload",
            "SystemSharedMemoryStatus",
            "SystemSharedMemoryRegister",
            "SystemSharedMemoryUnregister",
            "CudaSharedMemoryStatus",
            "CudaSharedMemoryRegister",
            "CudaSharedMemoryUnregister",
            "TraceSetting",
            "LogSettings",
        ),
    },
}

# Probes (Kubernetes, load balancers) carry no credentials, and one status says nothing secret.
OPEN_METHODS = frozenset({f"/{HEALTH}/Check", f"/{HEALTH}/Watch"})

METHOD_GROUPS: dict[str, Group] = {
    f"/{service}/{method}": group
    for group, services in _GROUPS.items()
    for service, methods in services.items()
    for method in methods
}


def group_of(method: str) -> Group | None:
    """The group a full method name needs; None for a method no group holds (nobody may call it)."""
    return METHOD_GROUPS.get(method)
