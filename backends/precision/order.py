"""Which precisions a model tries, in order, from what it asks for and what the probe found."""

from __future__ import annotations

from backends.probe.report import HardwareReport

INT8_CPU_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def precision_order(requested: str | None, report: HardwareReport) -> tuple[str, ...]:
    """The precisions to try in order, ending in fp32: int8 falls back to bf16/fp16, then fp32.

    auto: int8 where the CPU has VNNI/AMX-INT8 or an NVIDIA GPU has INT8 tensor cores (7.5+);
    bf16 where the CPU has AVX512_BF16/AMX; fp16 on GPUs; otherwise fp32.
    """
    if requested in (None, "fp32"):
        return ("fp32",)
    gpus = report.devices("gpu", "nvidia") + report.devices("gpu", "amd") + report.devices("gpu", "intel")
    half = ("bf16",) if report.cpu.supports_bf16 else ()
    if gpus:
        half = ("fp16",)
    if requested == "auto":
        int8 = report.cpu.has(*INT8_CPU_FLAGS) or any(
            g.usable and float(g.compute_capability or 0) >= 7.5 for g in report.devices("gpu", "nvidia")
        )
        return (("int8",) if int8 else ()) + half + ("fp32",)
    if requested == "int8":
        return ("int8", *half, "fp32")
    return (requested, "fp32")
