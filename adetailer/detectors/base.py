"""The one interface every detector offers, whatever runs underneath."""

from __future__ import annotations

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
