"""Compare Switchyard's `inference` proto descriptors with the ones tritonclient ships.

Usage: wire_layout.py DIR, where DIR holds grpc_service.pb and model_config.pb: our
serialized FileDescriptorProtos (written by the pytest side, which can import our
modules; this process imports tritonclient's, and the two cannot share a process).
Every message, enum and RPC that tritonclient knows must exist in ours with the same
field numbers, types, labels, map/oneof shape and enum values. Prints a JSON report.
"""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path

from _common import emit
from google.protobuf import descriptor_pb2
from tritonclient.grpc import model_config_pb2, service_pb2


def index(fd: descriptor_pb2.FileDescriptorProto) -> dict[str, object]:
    found: dict[str, object] = {}

    def walk(message, prefix: str) -> None:
        name = f"{prefix}.{message.name}"
        found[name] = {
            f.number: (
                f.name,
                f.type,
                f.label,
                f.type_name,
                message.oneof_decl[f.oneof_index].name if f.HasField("oneof_index") else "",
            )
            for f in message.field
        }
        for nested in message.nested_type:
            walk(nested, name)
        for enum in message.enum_type:
            found[f"{name}.{enum.name}"] = {v.number: v.name for v in enum.value}

    for message in fd.message_type:
        walk(message, f".{fd.package}")
    for enum in fd.enum_type:
        found[f".{fd.package}.{enum.name}"] = {v.number: v.name for v in enum.value}
    for service in fd.service:
        for method in service.method:
            found[f"rpc {fd.package}.{service.name}/{method.name}"] = (
                method.input_type,
                method.output_type,
                method.client_streaming,
                method.server_streaming,
            )
    return found


def main() -> None:
    ours_dir = Path(sys.argv[1])
    problems: list[str] = []
    compared = 0
    for name, module in (("grpc_service", service_pb2), ("model_config", model_config_pb2)):
        theirs_fd = descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)
        ours_fd = descriptor_pb2.FileDescriptorProto.FromString((ours_dir / f"{name}.pb").read_bytes())
        if ours_fd.package != theirs_fd.package:
            problems.append(f"{name}: package {ours_fd.package!r} != {theirs_fd.package!r}")
        theirs, ours = index(theirs_fd), index(ours_fd)
        for key, shape in theirs.items():
            compared += 1
            if key not in ours:
                problems.append(f"{name}: missing {key}")
            elif isinstance(shape, dict):
                for number, field in shape.items():
                    if ours[key].get(number) != field:
                        problems.append(f"{name}: {key} #{number}: ours {ours[key].get(number)} theirs {field}")
            elif ours[key] != shape:
                problems.append(f"{name}: {key}: ours {ours[key]} theirs {shape}")
    emit({"tritonclient": version("tritonclient"), "compared": compared, "problems": problems})


if __name__ == "__main__":
    main()
