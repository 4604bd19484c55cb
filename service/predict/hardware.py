"""The hardware report the server publishes (GetServerInfo), from the probe."""

from __future__ import annotations

from backends.probe import HardwareReport


def summary(report: HardwareReport) -> str:
    cpu = report.cpu
    flags = ", ".join(cpu.flags) or "no extended ISA flags"
    accelerators = (
        ", ".join(
            f"{a.vendor} {a.kind}:{a.index} {a.name}{'' if a.usable else ' (unusable)'}" for a in report.accelerators
        )
        or "none"
    )
    runtimes = ", ".join(f"{r.name} {r.version}" for r in report.runtimes if r.importable and r.version)
    return (
        f"CPU: {cpu.model or cpu.vendor}, {cpu.usable_cpus:g} usable cores ({flags}); "
        f"accelerators: {accelerators}; runtimes: {runtimes}"
    )


def hardware_info(report: HardwareReport) -> dict:
    """JSON-able: a one-line summary beside the full report."""
    return {"summary": summary(report), **report.to_dict()}
