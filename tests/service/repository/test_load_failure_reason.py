"""A load failure's reason: the runtime's own words first, repository-relative paths, skipped candidates last."""

from __future__ import annotations

import re

from service.repository.repository import ModelState

ORT_CAUSE = (
    "[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load model from corrupt/1/model.onnx failed:Protobuf parsing failed."
)


async def test_corrupt_artifact_reason_leads_with_the_runtime_cause(make_repository, repo):
    repository = make_repository(repo)
    entry = await repository.load("corrupt")
    version = entry.versions[1]
    assert version.state is ModelState.UNAVAILABLE
    assert version.reason.startswith(ORT_CAUSE + " (onnxruntime[CPU]@cpu"), version.reason
    # OpenVINO's failure follows, in its words, without its C++ source-location frames.
    assert 'also failed: openvino@cpu: Unable to read the model: "corrupt/1/model.onnx"' in version.reason
    assert "Exception from src/" not in version.reason and "\n" not in version.reason


async def test_reason_shows_no_absolute_server_path(make_repository, repo):
    repository = make_repository(repo)
    reason = (await repository.load("corrupt")).versions[1].reason
    assert str(repo) not in reason and str(repo.resolve()) not in reason
    # Nothing that looks like an absolute path at all ("/tmp/...", "/home/...").
    assert not re.search(r"(?<![\w.:/-])/\w", reason), reason


async def test_skipped_gpu_candidates_come_after_the_cause_grouped_by_reason(make_repository, repo):
    repository = make_repository(repo)
    reason = (await repository.load("corrupt")).versions[1].reason
    cause_at = reason.index("INVALID_PROTOBUF")
    skipped_at = reason.index(" | skipped: ")
    assert cause_at < skipped_at
    skipped = reason[skipped_at:]
    assert "tensorrt@nvidia:gpu:0 (tensorrt is not installed)" in skipped
    assert "onnxruntime[CUDA]@nvidia:gpu:0 (" in skipped and "no CUDAExecutionProvider" in skipped
    # Two routes skipped for the same reason are named once together.
    assert "onnxruntime[MIGraphX]@amd:gpu, onnxruntime[ROCM]@amd:gpu (no AMD GPU found)" in skipped


async def test_broken_config_reason_names_the_file_relative_to_the_repository(make_repository, repo):
    (repo / "tiny_cnn" / "config.yaml").write_text("batching: yes\n")
    entry = await make_repository(repo).load("tiny_cnn")
    assert entry.state is ModelState.UNAVAILABLE
    assert entry.reason.startswith("tiny_cnn/config.yaml: field 'batching'"), entry.reason
    assert str(repo) not in entry.reason


async def test_missing_version_folder_reason_has_no_server_path(make_repository, repo):
    (repo / "empty").mkdir()
    (repo / "empty" / "config.yaml").write_text("")
    entry = await make_repository(repo).load("empty")
    assert entry.reason == "no version folders (e.g. empty/1/model.onnx)"
