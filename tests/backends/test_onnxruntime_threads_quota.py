"""ONNX Runtime's intra-op threads follow the container's CPU limit (the cgroup quota)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backends.onnxruntime_options import intra_op_threads_for
from backends.probe.sysroot import SysRoot


def sysroot_with_quota(tmp_path: Path, cpu_max: str) -> SysRoot:
    (tmp_path / "proc" / "self").mkdir(parents=True)
    (tmp_path / "proc" / "self" / "cgroup").write_text("0::/\n")
    (tmp_path / "sys" / "fs" / "cgroup").mkdir(parents=True)
    (tmp_path / "sys" / "fs" / "cgroup" / "cpu.max").write_text(cpu_max)
    return SysRoot(tmp_path)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 cores to see a quota below them")
def test_a_cpu_limit_caps_the_threads(tmp_path):
    one_core = sysroot_with_quota(tmp_path, "150000 100000\n")  # limits.cpu: 1500m
    assert intra_op_threads_for(1, one_core) == 1


def test_no_quota_uses_the_affinity_mask(tmp_path):
    unlimited = sysroot_with_quota(tmp_path, "max 100000\n")
    assert intra_op_threads_for(1, unlimited) == len(os.sched_getaffinity(0))
