"""Worker: start-up cost and network attempts, in a fresh process with the network refused.

Two measurements, each in its own process (`python -m benchmarks.startup core|webui ...`):

- core: `import adetailer` and `ModelRegistry(folder).names()`, timed from before the import,
  with downloads allowed (listing must not need to be told to stay offline).
- webui: the extension loaded by the test double of A1111 1.10 (`tests/webui/harness.py`):
  A1111's own start-up (gradio, torch, its `modules`) runs untimed, as it precedes any
  extension; then our `preload.py` and our `scripts/!adetailer.py` are timed inside
  `script_loading.load_module`, which A1111's `load_scripts()` calls for every script, and
  the model list the UI shows is read (`adetailer_webui.host.registry().names()`).

The guard is installed before anything else is imported, so every attempt in the process is
counted; attempts made while our code ran are counted separately.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.network import NetworkGuard

REPO_ROOT = Path(__file__).resolve().parents[1]
HEAVY_MODULES = ("torch", "ultralytics", "mediapipe", "cv2", "huggingface_hub")
OUR_SCRIPT = "!adetailer.py"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("core", "webui"))
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    options = parser.parse_args(argv)

    guard = NetworkGuard().install()
    measure = measure_core if options.mode == "core" else measure_webui
    result = measure(options.models_dir, guard)
    result["network_attempts_in_process"] = guard.since(0)
    options.out.write_text(json.dumps(result, indent=1), encoding="utf8")
    return 0


def measure_core(models_dir: Path, guard: NetworkGuard) -> dict[str, Any]:
    for name in ("ADETAILER_OFFLINE", "HF_HUB_OFFLINE"):
        os.environ.pop(name, None)
    before = set(sys.modules)
    start = time.perf_counter()
    import adetailer  # noqa: F401
    from adetailer.registry import ModelRegistry

    names = ModelRegistry(models_dir).names()
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "models": len(names),
        "network_attempts": guard.since(0),
        "heavy_imported": [m for m in HEAVY_MODULES if m in sys.modules and m not in before],
    }


def measure_webui(models_dir: Path, guard: NetworkGuard) -> dict[str, Any]:
    # A1111 sets this before it imports gradio (launch_utils.py, initialize.py).
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    sys.path.insert(0, str(REPO_ROOT / "tests" / "webui"))
    host_start = time.perf_counter()
    import harness
    from modules import script_loading

    host_seconds = time.perf_counter() - host_start
    host_attempts = guard.count()

    loads: dict[str, float] = {}
    ours_attempts: list[str] = []
    load_module: Callable[[str], Any] = script_loading.load_module

    def timed_load_module(path: str) -> Any:
        counted = guard.count()
        start = time.perf_counter()
        try:
            return load_module(path)
        finally:
            loads[path] = time.perf_counter() - start
            if "/extensions/adetailer/" in Path(path).as_posix():
                ours_attempts.extend(guard.since(counted))

    script_loading.load_module = timed_load_module
    with tempfile.TemporaryDirectory(prefix="adetailer-bench-webui-") as tmp:
        webui = harness.FakeWebUI(Path(tmp))
        try:
            # The benchmark's model files, where A1111 keeps ADetailer's (models/adetailer).
            (webui.models_path / "adetailer").symlink_to(models_dir, target_is_directory=True)
            webui.install_extension(REPO_ROOT, "adetailer", symlink=True)
            webui.run_preload()
            webui.initialize()  # settings, extensions, load_scripts(), model load
            from adetailer_webui import host

            counted = guard.count()
            start = time.perf_counter()
            names = host.registry().names()
            list_seconds = time.perf_counter() - start
            ours_attempts.extend(guard.since(counted))
        finally:
            webui.close()

    script = _only(loads, OUR_SCRIPT)
    preload = _only(loads, "adetailer/preload.py")
    return {
        "host_import_seconds": host_seconds,
        "host_import_attempts": host_attempts,
        "preload_seconds": preload,
        "script_seconds": script,
        "list_seconds": list_seconds,
        "seconds": preload + script + list_seconds,
        "models": len(names),
        "network_attempts": ours_attempts,
    }


def _only(loads: dict[str, float], suffix: str) -> float:
    found = [seconds for path, seconds in loads.items() if path.endswith(suffix)]
    if len(found) != 1:
        msg = f"expected A1111 to load one {suffix}, it loaded: {sorted(loads)}"
        raise RuntimeError(msg)
    return found[0]


if __name__ == "__main__":
    sys.exit(main())
