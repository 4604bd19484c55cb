"""AMD GPUs: amdsmi when present; else the KFD topology (/dev/kfd, /sys/class/kfd) and DRM.

ROCm reaches a GPU only through /dev/kfd, so a card seen in DRM without /dev/kfd is
reported as not usable (a container started without --device=/dev/kfd).
"""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

from backends.probe.report import AcceleratorInfo, Findings
from backends.probe.sysroot import SysRoot, parse_key_values

AMD_VENDOR = "0x1002"


def load_amdsmi() -> ModuleType | None:
    try:
        import amdsmi
    except ImportError:
        return None
    return amdsmi


def gfx_name(target_version: int) -> str:
    """KFD's gfx_target_version (90402, 90010, 110000) -> LLVM target (gfx942, gfx90a, gfx1100)."""
    major, minor, step = target_version // 10000, target_version // 100 % 100, target_version % 100
    return f"gfx{major}{minor:x}{step:x}"


def read_amd(sys: SysRoot, amdsmi: ModuleType | Any | None = None) -> Findings:
    found = Findings()
    drm = _drm_cards(sys)
    has_kfd = sys.exists("dev/kfd")
    if amdsmi is not None and (has_kfd or drm):
        _read_amdsmi(amdsmi, found)
        if found.accelerators:
            return found
    if has_kfd:
        _read_kfd(sys, drm, found)
    if not found.accelerators and drm:
        found.sources.append("drm")
        for index, (bdf, card) in enumerate(drm.items()):
            found.accelerators.append(
                AcceleratorInfo(
                    vendor="amd",
                    kind="gpu",
                    index=index,
                    name=card.get("name", "AMD GPU"),
                    source="drm",
                    memory_bytes=card.get("memory"),
                    pci_id=bdf,
                    device_id=card.get("device_id"),
                    usable=has_kfd,
                    note="" if has_kfd else "no /dev/kfd: ROCm cannot reach this GPU",
                )
            )
    return found


def _drm_cards(sys: SysRoot) -> dict[str, dict[str, Any]]:
    """AMD DRM cards keyed by PCI bus id (or card name when uevent is missing)."""
    cards: dict[str, dict[str, Any]] = {}
    for card in sys.glob("sys/class/drm/card*"):
        if not re.fullmatch(r"card\d+", card.rsplit("/", 1)[-1]):
            continue
        if (sys.read(f"{card}/device/vendor") or "").lower() != AMD_VENDOR:
            continue
        uevent = parse_key_values(sys.read(f"{card}/device/uevent"), sep="=")
        bdf = uevent.get("PCI_SLOT_NAME", card.rsplit("/", 1)[-1]).lower()
        cards[bdf] = {
            "name": sys.read(f"{card}/device/product_name") or None,
            "memory": sys.read_int(f"{card}/device/mem_info_vram_total"),
            "device_id": sys.read(f"{card}/device/device"),
        }
        cards[bdf] = {k: v for k, v in cards[bdf].items() if v is not None}
    return cards


def _read_kfd(sys: SysRoot, drm: dict[str, dict[str, Any]], found: Findings) -> None:
    found.sources.append("kfd")
    index = 0
    for node in sys.glob("sys/class/kfd/kfd/topology/nodes/*"):
        props = parse_key_values(sys.read(f"{node}/properties"), sep=None)
        if int(props.get("simd_count", "0") or 0) == 0:
            continue  # a CPU node
        target = int(props.get("gfx_target_version", "0") or 0)
        gfx = (sys.read(f"{node}/name") or "") or (gfx_name(target) if target else None)
        location = int(props.get("location_id", "0") or 0)
        domain = int(props.get("domain", "0") or 0)
        bdf = f"{domain:04x}:{location >> 8 & 0xFF:02x}:{location >> 3 & 0x1F:02x}.{location & 7}"
        card = drm.get(bdf, {})
        memory = sum(
            int(parse_key_values(sys.read(bank + "/properties"), sep=None).get("size_in_bytes", 0))
            for bank in sys.glob(f"{node}/mem_banks/*")
        ) or card.get("memory")
        device_id = props.get("device_id")
        found.accelerators.append(
            AcceleratorInfo(
                vendor="amd",
                kind="gpu",
                index=index,
                name=card.get("name") or f"AMD {gfx or 'GPU'}",
                source="kfd",
                memory_bytes=memory,
                gfx_target=gfx,
                pci_id=bdf,
                device_id=f"0x{int(device_id):04x}" if device_id and device_id.isdigit() else None,
            )
        )
        index += 1


def _read_amdsmi(amdsmi: Any, found: Findings) -> None:
    found.sources.append("amdsmi")
    try:
        amdsmi.amdsmi_init()
    except Exception as exc:
        found.issue("amdsmi", exc)
        return
    try:
        handles = found.call("amdsmi", amdsmi.amdsmi_get_processor_handles, default=[])
        for index, handle in enumerate(handles):
            asic = found.call("amdsmi", amdsmi.amdsmi_get_gpu_asic_info, handle, default={}) or {}
            vram = found.call(
                "amdsmi", lambda h=handle: amdsmi.amdsmi_get_gpu_memory_total(h, amdsmi.AmdSmiMemoryType.VRAM)
            )
            bdf = found.call("amdsmi", amdsmi.amdsmi_get_gpu_device_bdf, handle)
            driver = found.call("amdsmi", amdsmi.amdsmi_get_gpu_driver_info, handle, default={}) or {}
            found.accelerators.append(
                AcceleratorInfo(
                    vendor="amd",
                    kind="gpu",
                    index=index,
                    name=str(asic.get("market_name") or "AMD GPU"),
                    source="amdsmi",
                    memory_bytes=int(vram) if vram else None,
                    gfx_target=asic.get("target_graphics_version"),
                    driver_version=driver.get("driver_version"),
                    pci_id=str(bdf).lower() if bdf else None,
                    device_id=str(asic.get("device_id")) if asic.get("device_id") else None,
                )
            )
    finally:
        found.call("amdsmi", amdsmi.amdsmi_shut_down)
