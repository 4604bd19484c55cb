"""The hardware report the server publishes (GetServerInfo)."""

from __future__ import annotations

import os
import platform

from backends.registry import installed_backends


def hardware_report() -> dict:
    cores = len(os.sched_getaffinity(0))
    return {
        "summary": f"CPU: {platform.machine()}, {cores} usable cores; backends: {', '.join(installed_backends())}",
        "cpu": {"machine": platform.machine(), "usable_cores": cores},
    }
