"""The protos as a contract for other languages: compiled with protos/ as the only include
path, linted and checked for breaking changes by buf, every enum's zero value UNSPECIFIED."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc_tools
import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FileDescriptor

ROOT = Path(__file__).resolve().parents[2]
PROTOS = ROOT / "protos"
BASELINE = PROTOS / "api-baseline.binpb"
WELL_KNOWN = Path(grpc_tools.__file__).parent / "_proto"
OWN = "switchyard"  # Switchyard's own protos; protos/inference is Triton's layout


def proto_sources() -> list[str]:
    return sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))


def own_files() -> list[FileDescriptor]:
    """The descriptors Python registered for every .proto under protos/switchyard."""
    files = []
    for source in proto_sources():
        if source.startswith(f"{OWN}/"):
            module = importlib.import_module("protos." + source.removesuffix(".proto").replace("/", ".") + "_pb2")
            files.append(module.DESCRIPTOR)
    return files


def enums_of(file: FileDescriptor) -> Iterator[EnumDescriptor]:
    def nested(message: Descriptor) -> Iterator[EnumDescriptor]:
        yield from message.enum_types
        for inner in message.nested_types:
            yield from nested(inner)

    yield from file.enum_types_by_name.values()
    for message in file.message_types_by_name.values():
        yield from nested(message)


def test_every_proto_compiles_with_protos_as_the_only_include_path(tmp_path):
    """What a Go/Java/C++ user runs: `protoc -I protos ...`, from anywhere but the repository."""
    out = tmp_path / "out"
    out.mkdir()
    command = [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTOS}", f"-I{WELL_KNOWN}"]
    command += [f"--python_out={out}", f"--descriptor_set_out={tmp_path / 'set.binpb'}", *proto_sources()]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    compiled = descriptor_pb2.FileDescriptorSet.FromString((tmp_path / "set.binpb").read_bytes())
    assert sorted(f.name for f in compiled.file) == proto_sources()
    assert (out / "switchyard" / "v1" / "predict_pb2.py").is_file()


def test_python_registers_the_same_file_names_other_languages_compile():
    """Server reflection hands out these names; grpcurl resolves imports by them."""
    from protos.inference import grpc_service_pb2
    from protos.switchyard.v1 import predict_pb2

    assert predict_pb2.DESCRIPTOR.name == "switchyard/v1/predict.proto"
    assert [d.name for d in predict_pb2.DESCRIPTOR.dependencies] == [
        "google/protobuf/struct.proto",
        "switchyard/v1/video.proto",
    ]
    assert [d.name for d in grpc_service_pb2.DESCRIPTOR.dependencies] == ["inference/model_config.proto"]


def test_every_own_enum_has_an_unspecified_zero_value():
    checked = []
    for file in own_files():
        for enum in enums_of(file):
            zero = enum.values_by_number.get(0)
            assert zero is not None and zero.name.endswith("_UNSPECIFIED"), f"{enum.full_name}: zero is {zero}"
            checked.append(enum.full_name)
    # Encoding, PixelFormat, DropPolicy, Return, State, Reason at least: the walk found them.
    assert len(checked) >= 6 and "switchyard.v1.StreamConfig.Encoding" in checked


def test_own_files_name_their_go_and_java_packages():
    for file in own_files():
        options = descriptor_pb2.FileOptions.FromString(file.GetOptions().SerializeToString())
        assert options.go_package.endswith(";switchyardv1"), file.name
        assert options.java_package and options.java_multiple_files, file.name


# ---- buf: lint and breaking-change checks -------------------------------------------------


def find_buf() -> str | None:
    found = sorted((ROOT / ".cache" / "tools" / "buf" / "node_modules" / "@bufbuild").glob("buf-*/bin/buf"))
    if found and os.access(found[0], os.X_OK):
        return str(found[0])
    return shutil.which("buf")


@pytest.fixture(scope="module")
def buf() -> str:
    path = find_buf()
    if path is None:
        pytest.skip("buf is not installed: run `bash scripts/get_buf.sh` (the test command does)")
    return path


def run_buf(buf: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([buf, *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=120)


def test_buf_lint_is_clean(buf):
    done = run_buf(buf, "lint", "protos")
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_breaking_change_against_the_recorded_baseline(buf):
    done = run_buf(buf, "breaking", "protos", "--against", str(BASELINE.relative_to(ROOT)))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def scratch(tmp_path) -> Path:
    """A copy of protos/ (sources and buf.yaml) to break on purpose."""
    copy = tmp_path / "protos"
    shutil.copytree(PROTOS, copy, ignore=shutil.ignore_patterns("*.py", "*.pyi", "__pycache__", "*.binpb"))
    return copy


def test_lint_catches_an_enum_without_an_unspecified_zero(buf, scratch):
    video = scratch / "switchyard" / "v1" / "video.proto"
    video.write_text(video.read_text() + "\nenum Colour {\n  COLOUR_RED = 0;\n  COLOUR_GREEN = 1;\n}\n")
    done = run_buf(buf, "lint", str(scratch), "--error-format", "json")  # JSON names the rule
    assert done.returncode != 0 and "ENUM_ZERO_VALUE_SUFFIX" in done.stdout


def test_breaking_catches_a_renumbered_field(buf, scratch):
    predict = scratch / "switchyard" / "v1" / "predict.proto"
    source = predict.read_text()
    assert "  string model = 1;\n  // Empty selects" in source
    predict.write_text(
        source.replace("  string model = 1;\n  // Empty selects", "  string model = 9;\n  // Empty selects")
    )
    done = run_buf(buf, "breaking", str(scratch), "--against", str(BASELINE))
    assert done.returncode != 0 and "PredictRequest" in done.stdout + done.stderr
