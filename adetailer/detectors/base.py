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
