"""Installs what ADetailer needs and the web UI lacks; A1111 runs this in its own process.

Nothing installed may move a package the web UI pinned: pip runs with constraints that hold
torch, numpy, pillow, protobuf and the web UI's other pins at their installed versions (for
example, ultralytics 8.4 would pull httpx >= 0.28 where A1111 1.10 pins 0.24.1, a new OpenCV
would pull numpy 2, and mediapipe 0.10.13 and later protobuf 4 where A1111 pins 3.20.0).
The same constraints bound what the requirements pull in (jax, OpenCV) so that pip resolves at
once instead of downloading release after release.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import tempfile

# (distribution, version range) this extension needs
REQUIREMENTS: tuple[tuple[str, str], ...] = (
    ("ultralytics", ">=8.3.0,<8.4"),
    ("rich", ">=13.0.0"),
    ("huggingface_hub", ""),
    ("pydantic", ">=1.10,<3"),
)
# mediapipe 0.10.x up to 0.10.21 ships its models; 0.10.13 and later need protobuf 4, which
# A1111 1.10 (protobuf==3.20.0, restored at every start) does not allow. Under protobuf 3 a
# release up to 0.10.12 already there is kept, and 0.10.9 is installed: the last that does not
# require jax (0.5 GB with jaxlib, never imported for the built-in models).
MEDIAPIPE_FOR_PROTOBUF_3 = ">=0.10.9,<0.10.13"
MEDIAPIPE_INSTALL_FOR_PROTOBUF_3 = "==0.10.9"
MEDIAPIPE_FOR_PROTOBUF_4 = ">=0.10.13,<0.10.30"
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
    "protobuf",
)
# What the requirements pull in and numpy 1 (A1111 1.10 pins 1.26) bounds: mediapipe from 0.10.10
# on needs jax and jaxlib at any version, and jax 0.7.2 and later need numpy 2. Without the bound
# pip downloads each newer jaxlib (~80 MB) only to find that out; constraints, so nothing extra
# is installed.
FOR_NUMPY_1 = ("jax<0.7.2", "jaxlib<0.7.2", "ml_dtypes<0.6")
# One cv2 package, installed by each of these (mediapipe needs the contrib build, ultralytics the
# plain one): a new one is held at the release already installed, else below 4.12 (numpy 2).
OPENCV = ("opencv-python", "opencv-contrib-python", "opencv-python-headless")
OPENCV_FOR_NUMPY_1 = "<4.12"


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


def mediapipe_range() -> tuple[str, str]:
    """The mediapipe releases that work with the protobuf the web UI has, and the one to install."""
    protobuf = installed_version("protobuf")
    if protobuf is not None and not satisfies(protobuf, ">=4"):
        return MEDIAPIPE_FOR_PROTOBUF_3, MEDIAPIPE_INSTALL_FOR_PROTOBUF_3
    return MEDIAPIPE_FOR_PROTOBUF_4, MEDIAPIPE_FOR_PROTOBUF_4


def missing() -> list[str]:
    """Requirements to install: absent, out of range, or (mediapipe) not fitting protobuf.

    A mediapipe that needs another protobuf than the installed one is replaced: A1111 puts its
    pinned protobuf back at every start, which breaks a mediapipe installed for protobuf 4.
    """
    needed = [f"{name}{spec}" for name, spec in REQUIREMENTS if not _fits(name, spec)]
    accepted, install = mediapipe_range()
    if not _fits("mediapipe", accepted):
        needed.append(f"mediapipe{install}")
    return needed


def _fits(name: str, spec: str) -> bool:
    version = installed_version(name)
    return version is not None and satisfies(version, spec)


def constraints() -> str:
    """The web UI's pins at their installed versions, and bounds that let pip resolve at once."""
    lines = []
    for name in HELD:
        version = installed_version(name)
        if version is not None:
            lines.append(f"{name}=={version}")
    numpy = installed_version("numpy")
    numpy_1 = numpy is not None and not satisfies(numpy, ">=2")
    if numpy_1:
        lines.extend(FOR_NUMPY_1)
    opencv = next(filter(None, map(installed_version, OPENCV)), None)
    for name in OPENCV:
        if opencv is not None:
            lines.append(f"{name}=={opencv}")
        elif numpy_1:
            lines.append(f"{name}{OPENCV_FOR_NUMPY_1}")
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
