"""What a detector found on one image.

One `Detections` per image carries every detection with its own box, mask, score and label,
so no later step can let them drift apart (filters and sorts return a new `Detections`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from adetailer.boxes import Box, box_area

_PALETTE = (
    (255, 56, 56),
    (72, 249, 10),
    (0, 194, 255),
    (255, 157, 151),
    (255, 178, 29),
    (146, 204, 23),
    (61, 219, 134),
    (132, 56, 255),
)


@dataclass(frozen=True, eq=False)
class Detection:
    """One thing found: its box (x1, y1, x2, y2 in image pixels) and a boolean mask of the image's size."""

    box: Box
    mask: np.ndarray
    confidence: float
    label: str

    @property
    def area(self) -> float:
        return box_area(self.box)

    def mask_image(self) -> Image.Image:
        """The mask as A1111 wants it: mode 'L', 255 inside, 0 outside."""
        return Image.fromarray(self.mask.astype(np.uint8) * 255, mode="L")

    def replace(self, **changes: Any) -> Detection:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "box": [round(float(v), 2) for v in self.box],
            "confidence": round(float(self.confidence), 4),
            "label": self.label,
        }


@dataclass(frozen=True, eq=False)
class Detections:
    """Every detection on `image`, in the order later steps will inpaint them."""

    image: Image.Image
    items: tuple[Detection, ...] = ()
    model: str = ""

    def __post_init__(self) -> None:
        width, height = self.image.size
        for item in self.items:
            if item.mask.shape != (height, width):
                msg = (
                    f"mask of shape {item.mask.shape} does not match the image ({height}, {width})"
                )
                raise ValueError(msg)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Detection]:
        return iter(self.items)

    def __getitem__(self, index: int) -> Detection:
        return self.items[index]

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size

    @property
    def boxes(self) -> np.ndarray:
        return np.array([d.box for d in self.items], dtype=float).reshape(-1, 4)

    @property
    def confidences(self) -> list[float]:
        return [d.confidence for d in self.items]

    @property
    def labels(self) -> list[str]:
        return [d.label for d in self.items]

    @property
    def masks(self) -> list[np.ndarray]:
        return [d.mask for d in self.items]

    def with_items(self, items: Sequence[Detection]) -> Detections:
        return dataclasses.replace(self, items=tuple(items))

    def preview(self) -> Image.Image:
        """The image with each mask tinted and each box, label and score drawn on it."""
        canvas = np.asarray(self.image.convert("RGB"), dtype=np.float32).copy()
        for index, item in enumerate(self.items):
            color = np.array(_PALETTE[index % len(_PALETTE)], dtype=np.float32)
            canvas[item.mask] = canvas[item.mask] * 0.6 + color * 0.4
        preview = Image.fromarray(canvas.astype(np.uint8), mode="RGB")
        draw = ImageDraw.Draw(preview)
        font = ImageFont.load_default()
        line = max(1, round(max(self.size) / 400))
        for index, item in enumerate(self.items):
            color = _PALETTE[index % len(_PALETTE)]
            x1, y1, x2, y2 = item.box
            draw.rectangle((x1, y1, max(x1, x2 - 1), max(y1, y2 - 1)), outline=color, width=line)
            text = f"{item.label} {item.confidence:.2f}"
            left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
            text_y = y1 - (bottom - top) - 2 if y1 >= (bottom - top) + 2 else y1
            draw.rectangle(
                (x1, text_y, x1 + right - left + 2, text_y + bottom - top + 2), fill=color
            )
            draw.text((x1 + 1, text_y), text, fill=(255, 255, 255), font=font)
        return preview

    def to_dict(self) -> dict[str, Any]:
        width, height = self.size
        return {
            "model": self.model,
            "width": width,
            "height": height,
            "detections": [d.to_dict() for d in self.items],
        }
