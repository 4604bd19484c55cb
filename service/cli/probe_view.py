"""`switchyard probe`, and readable rendering of the hardware report and of a decision trail (rich).

`switchyard probe [--sysroot DIR] [--json]` prints render_report(report) (or report.to_json()).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from backends.probe import HardwareReport
from service.cli.options import Json

if TYPE_CHECKING:
    from backends.loading import DecisionTrail


def probe(
    sysroot: Annotated[Path, typer.Option(help="read the system under this root (for tests and fixtures)")] = Path("/"),
    as_json: Json = False,
) -> None:
    """Report the CPU, accelerators and runtimes this machine offers, and the backend order."""
    from backends.probe import probe as run_probe

    report = run_probe(sysroot)
    if as_json:
        print(report.to_json())
        return
    Console().print(render_report(report))


def _bytes(value: int | None) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)


def render_report(report: HardwareReport) -> RenderableType:
    cpu = report.cpu
    cpu_table = Table(title=f"CPU (sysroot {report.sysroot})", show_header=False, title_justify="left")
    cpu_table.add_column(style="bold")
    cpu_table.add_column()
    cores = f"{cpu.usable_cpus:g} usable of {cpu.logical_cpus}"
    if cpu.cgroup_quota_cpus is not None:
        cores += f" (cgroup quota {cpu.cgroup_quota_cpus:g})"
    if len(cpu.affinity) < cpu.logical_cpus:
        cores += f" (affinity {len(cpu.affinity)})"
    memory = _bytes(cpu.usable_memory_bytes)
    if cpu.cgroup_memory_limit_bytes is not None:
        memory += f" (cgroup limit; host {_bytes(cpu.memory_bytes)})"
    for key, value in (
        ("model", f"{cpu.model} ({cpu.vendor})"),
        ("cores", cores),
        ("memory", memory),
        ("ISA", " ".join(cpu.flags) or "-"),
    ):
        cpu_table.add_row(key, value)

    accel = Table(title="Accelerators", title_justify="left")
    for column in ("vendor", "device", "name", "memory", "arch", "driver / CUDA", "PCI", "source", "usable"):
        accel.add_column(column)
    for a in report.accelerators:
        arch = a.compute_capability and f"sm {a.compute_capability}" or a.gfx_target or a.device_id or "-"
        driver = " / ".join(x for x in (a.driver_version, a.cuda_version) if x) or "-"
        usable = Text("yes", style="green") if a.usable else Text(f"no: {a.note}", style="red")
        accel.add_row(
            a.vendor,
            a.openvino_name or f"{a.kind}:{a.index}",
            a.name,
            _bytes(a.memory_bytes),
            arch,
            driver,
            a.pci_id or "-",
            a.source,
            usable,
        )
    if not report.accelerators:
        accel.add_row("-", "-", "none found", "", "", "", "", ", ".join(report.sources), "")

    runtimes = Table(title="Runtimes", title_justify="left")
    for column in ("runtime", "version", "offers"):
        runtimes.add_column(column)
    for r in report.runtimes:
        if not r.importable:
            runtimes.add_row(
                r.name,
                Text("not importable" if r.error else "not installed", style="dim"),
                Text(r.error or "", style="red"),
            )
            continue
        offers = ", ".join(p.removesuffix("ExecutionProvider") for p in r.providers) or ", ".join(r.devices)
        name = f"{r.name} ({r.flavour})" if r.flavour and r.flavour != r.name else r.name
        runtimes.add_row(
            name, r.version or "?", Text(offers or "", style="") if not r.error else Text(r.error, style="red")
        )

    parts: list[RenderableType] = [cpu_table, accel, runtimes]
    if report.issues:
        issues = Table(title="Issues (sources that were present but failed)", title_justify="left")
        issues.add_column("source")
        issues.add_column("message", style="yellow")
        for issue in report.issues:
            issues.add_row(issue.source, issue.message)
        parts.append(issues)
    return Group(*parts)


def render_trail(trail: DecisionTrail, title: str = "Backend selection") -> RenderableType:
    # Imported here: backends.loading needs the server extra, `switchyard probe` (a client command) must not.
    from backends.loading import Outcome

    outcome_style = {Outcome.CHOSEN: "bold green", Outcome.FAILED: "red", Outcome.SKIPPED: "dim", Outcome.TIMED: "cyan"}
    mode = ("strict" if trail.strict else "fallback") + f", {trail.selection}"
    table = Table(title=f"{title} ({mode}): {trail.chosen_label}", title_justify="left")
    for column in ("candidate", "outcome", "load", "infer", "reason"):
        table.add_column(column)
    for e in trail.entries:
        table.add_row(
            e.label,
            Text(e.outcome.value, style=outcome_style[e.outcome]),
            f"{e.load_seconds:.3f}s" if e.load_seconds is not None else "",
            f"{e.infer_seconds * 1e3:.3f}ms" if e.infer_seconds is not None else "",
            e.reason,
        )
    return table
