"""Every method the server answers is in a permission group (or deliberately open): nothing is forgotten."""

from __future__ import annotations

from google.protobuf import descriptor_pool

from service.security.groups import METHOD_GROUPS, OPEN_METHODS, Group, group_of
from service.server import SwitchyardServer
from service.settings import ServerSettings


async def test_every_method_of_every_served_service_has_a_group(tmp_path):
    server = SwitchyardServer(ServerSettings(host="127.0.0.1", port=0, metrics_port=-1, model_repository=tmp_path))
    pool = descriptor_pool.Default()
    methods = [
        f"/{service}/{method.name}"
        for service in server.service_names
        for method in pool.FindServiceByName(service).methods
    ]
    assert len(methods) > 20
    missing = [m for m in methods if m not in METHOD_GROUPS and m not in OPEN_METHODS]
    assert not missing, f"put these RPCs in a group (service/security/groups.py): {missing}"
    # And the table names nothing that is not served (a renamed RPC would leave a stale entry).
    assert set(METHOD_GROUPS) | OPEN_METHODS == set(methods)


def test_the_groups_of_the_rpcs_people_ask_about():
    assert group_of("/switchyard.v1.Predict/StreamVideo") is Group.INFER
    assert group_of("/inference.GRPCInferenceService/ModelInfer") is Group.INFER
    assert group_of("/inference.GRPCInferenceService/ModelMetadata") is Group.METADATA
    assert group_of("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo") is Group.METADATA
    assert group_of("/inference.GRPCInferenceService/RepositoryModelLoad") is Group.ADMIN
    assert group_of("/inference.GRPCInferenceService/LogSettings") is Group.ADMIN
    assert group_of("/switchyard.v1.Admin/Anything") is None
