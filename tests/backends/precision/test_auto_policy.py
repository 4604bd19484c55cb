from __future__ import annotations

import dataclasses

import pytest

from backends.precision.order import precision_order
from tests.backends.test_selection import machine


@pytest.mark.parametrize(
    ("name", "requested", "expected"),
    [
        ("cpu-container-quota", "auto", ("fp32",)),  # no VNNI, no BF16
        ("intel-igpu-npu", "auto", ("int8", "fp16", "fp32")),  # AVX-VNNI CPU, Intel GPU
        ("nvidia-1x", "auto", ("int8", "fp16", "fp32")),  # AMX CPU and an NVIDIA GPU
        ("cpu-container-quota", "int8", ("int8", "fp32")),
        ("cpu-container-quota", None, ("fp32",)),
        ("cpu-container-quota", "fp16", ("fp16", "fp32")),
    ],
)
def test_precision_order_from_the_probe(name: str, requested: str | None, expected: tuple[str, ...]) -> None:
    assert precision_order(requested, machine(name)) == expected


def test_bf16_cpu_without_vnni_picks_bf16() -> None:
    report = machine("cpu-container-quota")
    bf16_cpu = dataclasses.replace(report, cpu=dataclasses.replace(report.cpu, flags=("avx512_bf16",)))
    assert precision_order("auto", bf16_cpu) == ("bf16", "fp32")
    assert precision_order("int8", bf16_cpu) == ("int8", "bf16", "fp32")
