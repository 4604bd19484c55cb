"""Intel GPUs and NPUs: OpenVINO's device list when it runs here; else DRM (vendor 0x8086) and /dev/accel."""

from __future__ import annotations

import re
from typing import Any

from backends.probe.report import AcceleratorInfo, Findings
from backends.probe.sysroot import SysRoot

INTEL_VENDOR = "0x8086"


def read_intel(sys: SysRoot, ov_core: Any | None = None) -> Findings:
    """ov_core is an openvino.Core on the live machine; None reads the file system only."""
    found = Findings()
    if ov_core is not None:
        _read_openvino(ov_core, found)
        if found.accelerators:
            return found
    _read_drm(sys, found)
    _read_accel(sys, found)
    return found


def _read_openvino(core: Any, found: Findings) -> None:
    found.sources.append("openvino")
    devices = found.call("openvino", lambda: list(core.available_devices), default=[])
    counters = {"gpu": 0, "npu": 0}
    for device in devices:
        kind = device.split(".")[0].lower()
        if kind not in counters:
            continue  # CPU is described by the CPU reader
        name = found.call("openvino", core.get_property, device, "FULL_DEVICE_NAME")
        memory = None
        if kind == "gpu":
            memory = found.call("openvino", lambda d=device: int(core.get_property(d, "GPU_DEVICE_TOTAL_MEM_SIZE")))
        found.accelerators.append(
            AcceleratorInfo(
                vendor="intel",
                kind=kind,
                index=counters[kind],
                name=str(name or device),
                source="openvino",
                memory_bytes=memory,
                openvino_name=device,
            )
        )
        counters[kind] += 1


def _read_drm(sys: SysRoot, found: Findings) -> None:
    cards = [
        c
        for c in sys.glob("sys/class/drm/card*")
        if re.fullmatch(r"card\d+", c.rsplit("/", 1)[-1])
        and (sys.read(f"{c}/device/vendor") or "").lower() == INTEL_VENDOR
    ]
    if not cards:
        return
    found.sources.append("drm")
    render_nodes = bool(sys.glob("dev/dri/renderD*"))
    for index, card in enumerate(cards):
        device_id = (sys.read(f"{card}/device/device") or "").lower() or None
        found.accelerators.append(
            AcceleratorInfo(
                vendor="intel",
                kind="gpu",
                index=index,
                name=sys.read(f"{card}/device/product_name") or f"Intel GPU {device_id or ''}".strip(),
                source="drm",
                device_id=device_id,
                openvino_name="GPU" if len(cards) == 1 else f"GPU.{index}",
                memory_bytes=sys.read_int(f"{card}/device/lmem_total_bytes"),
                usable=render_nodes,
                note="" if render_nodes else "no /dev/dri/renderD*: not passed into this container",
            )
        )


def _read_accel(sys: SysRoot, found: Findings) -> None:
    nodes = [n for n in sys.glob("dev/accel/accel*") if n.rsplit("accel", 1)[-1].isdigit()]
    index = 0
    for node in nodes:
        name = node.rsplit("/", 1)[-1]
        vendor = (sys.read(f"sys/class/accel/{name}/device/vendor") or INTEL_VENDOR).lower()
        if vendor != INTEL_VENDOR:
            continue
        if "accel" not in found.sources:
            found.sources.append("accel")
        device_id = (sys.read(f"sys/class/accel/{name}/device/device") or "").lower() or None
        found.accelerators.append(
            AcceleratorInfo(
                vendor="intel",
                kind="npu",
                index=index,
                name=f"Intel NPU {device_id or ''}".strip(),
                source="accel",
                device_id=device_id,
                openvino_name="NPU",
            )
        )
        index += 1
