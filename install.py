"""Installs what ADetailer needs and the web UI lacks; A1111 runs this in its own process.

Nothing installed may move a package the web UI pinned: pip runs with constraints that hold
torch, numpy, pillow and the web UI's other pins at their installed versions (for example,
ultralytics 8.4 would pull httpx >= 0.28 where A1111 1.10 pins 0.24.1, and a new OpenCV would
pull numpy 2).
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import tempfile

# (distribution, version range) this extension needs
REQUIREMENTS: tuple[tuple[str, str], ...] = (
    ("ultralytics", ">=8.3.0,<8.4"),
    ("mediapipe", ">=0.10.13,<0.10.30"),
    ("rich", ">=13.0.0"),
    ("huggingface_hub", ""),
    ("pydantic", ">=1.10,<3"),
)
# what the web UI installed and pins; never moved by this installer
HELD = (
    "torch",
    "torchvision",
    "numpy",
    "pillow",
    "httpx",
    "httpcore",
    "gradio",
    "fastapi",
    "pydantic",
    "transformers",
    "safetensors",
    "huggingface_hub",
)


def installed_version(name: str) -> str | None:
    import launch

    if not launch.is_installed(name):
        return None
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _release(version: str) -> tuple[int, ...]:
    numbers = re.findall(r"\d+", version.split("+")[0])
    return tuple(int(n) for n in numbers[:4])


def satisfies(version: str, spec: str) -> bool:
    """A small reading of ">=a,<b" ranges (packaging may be missing in the web UI's venv)."""
    for part in filter(None, (s.strip() for s in spec.split(","))):
        match = re.fullmatch(r"(>=|<=|==|<|>)\s*(\S+)", part)
        if not match:
            continue
        op, bound = match.groups()
        have, want = _release(version), _release(bound)
        size = max(len(have), len(want))
        have, want = have + (0,) * (size - len(have)), want + (0,) * (size - len(want))
        if not {
            ">=": have >= want,
            "<=": have <= want,
            "==": have == want,
            "<": have < want,
            ">": have > want,
        }[op]:
            return False
    return True


def missing() -> list[str]:
    needed = []
    for name, spec in REQUIREMENTS:
        version = installed_version(name)
        if version is None or not satisfies(version, spec):
            needed.append(f"{name}{spec}")
    return needed


def constraints() -> str:
    lines = []
    for name in HELD:
        version = installed_version(name)
        if version is not None:
            lines.append(f"{name}=={version}")
    return "\n".join(lines) + "\n"


def main() -> None:
    import launch

    if getattr(launch.args, "skip_install", False):
        return
    needed = missing()
    if not needed:
        return
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as file:
        file.write(constraints())
        path = file.name
    try:
        packages = " ".join(f'"{requirement}"' for requirement in needed)
        launch.run_pip(
            f'install -c "{path}" {packages}', desc=f"ADetailer requirements: {', '.join(needed)}"
        )
    finally:
        os.unlink(path)


if __name__ == "__main__":
    main()
