"""The one interface every detector offers, whatever runs underneath."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Sequence
from typing import Protocol

from PIL import Image

from adetailer.detections import Detections


class Detector(Protocol):
    """Finds things on an image. Loaded once, then called for many images."""

    name: str

    def detect(
        self, image: Image.Image, *, confidence: float, classes: Sequence[str] = ()
    ) -> Detections:
        """Every detection at or above `confidence`; `classes` narrows open-vocabulary models."""
        ...


class DetectorError(RuntimeError):
    """A detector could not be loaded or run; the message says which model and what to do."""


def check_confidence(confidence: float) -> None:
    if not 0.0 <= confidence <= 1.0:
        msg = f"confidence must be between 0 and 1, got {confidence}"
        raise ValueError(msg)


def first_line(error: BaseException) -> str:
    """The first line of an error's message, for a one-line report."""
    text = str(error).strip()
    return text.splitlines()[0] if text else "no details"


# How to get the package each kind of model runs on. In A1111 the extension's install.py
# installs both (picking the mediapipe release that fits the web UI's protobuf).
MEDIAPIPE_INSTALL = (
    'pip install "mediapipe>=0.10.9,<0.10.30" (in the web UI: restart it, install.py does it)'
)
YOLO_INSTALL = 'pip install "adetailer[yolo]" (in the web UI: restart it, install.py does it)'
_BACKENDS = {
    "mediapipe": ("mediapipe", "MediaPipe", MEDIAPIPE_INSTALL),
    "yolo": ("ultralytics", "YOLO", YOLO_INSTALL),
    "yolo-world": ("ultralytics", "YOLO-World", YOLO_INSTALL),
}


class MissingPackageError(DetectorError):
    """The package a model runs on is not installed; the message says how to install it."""


def missing_package(kind: str) -> str | None:
    """Why models of `kind` cannot run here (their package is not installed), or None.

    Only looks the package up: nothing is imported, so asking costs no import of torch.
    """
    package, _, install = _BACKENDS.get(kind, (None, "", ""))
    if package is None or importlib.util.find_spec(package) is not None:
        return None
    return f"needs {package}, which is not installed: {install}"


def check_package(name: str, kind: str) -> None:
    """Fail before anything is downloaded or loaded when the model's package is missing."""
    reason = missing_package(kind)
    if reason is not None:
        family = _BACKENDS[kind][1]
        raise MissingPackageError(f"{name} is a {family} model and {reason}")


# Devices as torch names them, written without importing torch: "cuda", "cuda:1", "1", ...
_DEVICE = re.compile(r"(cpu|cuda|mps)(:\d+)?|\d+")


def unknown_device(device: str) -> str:
    return f"unknown device {device!r}: use '' (automatic), 'cpu', 'cuda', 'cuda:0' or 'mps'"


def check_device(device: str) -> str:
    """`device` lower-cased, or DetectorError for one torch would not know ("banana").

    For models that do not run on torch (MediaPipe) but take the same device option.
    """
    text = device.strip().lower()
    if text not in ("", "auto") and _DEVICE.fullmatch(text) is None:
        raise DetectorError(unknown_device(device))
    return text


def is_gpu_device(device: str) -> bool:
    """Whether `device` asks for a GPU ("" and "auto" choose for themselves)."""
    text = check_device(device)
    return text not in ("", "auto") and not text.startswith("cpu")
