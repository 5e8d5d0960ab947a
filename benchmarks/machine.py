"""The machine a run was made on, so that figures from two machines are not compared blindly.

Read from /proc and package metadata only: nothing here imports torch or the detectors.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

PACKAGES: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "ultralytics": ("ultralytics",),
    "mediapipe": ("mediapipe",),
    "numpy": ("numpy",),
    "opencv": ("opencv-python", "opencv-python-headless", "opencv-contrib-python"),
    "pillow": ("pillow",),
}


def describe_machine() -> dict[str, str]:
    """CPU, cores, memory, OS, Python and the versions of the libraries that do the work."""
    description = {
        "CPU": _cpu_model(),
        "Cores": _cores(),
        "RAM": _memory(),
        "OS": platform.platform(),
        "Python": f"{platform.python_version()} ({platform.python_implementation()})",
    }
    for label, distributions in PACKAGES.items():
        description[label] = _version(distributions)
    return description


def load_average() -> str:
    """1-minute load average against the core count: other work on the machine slows every
    figure, and a run on a busy machine should say so."""
    try:
        one, _, _ = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} on {os.cpu_count()} cores"


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    model = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), "")
    flags = next((ln.split(":", 1)[1].split() for ln in lines if ln.startswith("flags")), [])
    virtual = " (virtual machine: cores may be shared)" if "hypervisor" in flags else ""
    return f"{model or platform.machine()}{virtual}"


def _cores() -> str:
    logical = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else logical
    return f"{logical} logical, {usable} usable by this process"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _version(distributions: tuple[str, ...]) -> str:
    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"
