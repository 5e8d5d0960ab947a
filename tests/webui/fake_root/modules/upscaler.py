"""Minimal ``modules.upscaler``: named upscalers that resize with PIL (no models)."""

from __future__ import annotations

from PIL import Image

LANCZOS = Image.Resampling.LANCZOS if hasattr(Image, "Resampling") else Image.LANCZOS
NEAREST = Image.Resampling.NEAREST if hasattr(Image, "Resampling") else Image.NEAREST


class Upscaler:
    name: str = "None"
    scalers: list[UpscalerData] = []  # noqa: RUF012  (A1111 class attribute)

    def __init__(self, resample=LANCZOS) -> None:
        self.resample = resample

    def upscale(
        self, img: Image.Image, scale: float, selected_model: str | None = None
    ) -> Image.Image:
        if scale == 1.0 or self.resample is None:
            return img
        return img.resize((int(img.width * scale), int(img.height * scale)), resample=self.resample)


class UpscalerData:
    def __init__(
        self, name: str, path: str | None, upscaler: Upscaler, scale: int = 4, model=None
    ) -> None:
        self.name = name
        self.data_path = path
        self.local_data_path = path
        self.scaler = upscaler
        self.scale = scale
        self.model = model


def builtin_upscalers() -> list[UpscalerData]:
    """The model-free upscalers A1111 always has, plus one named like a model upscaler."""
    return [
        UpscalerData("None", None, Upscaler(resample=None)),
        UpscalerData("Lanczos", None, Upscaler(LANCZOS)),
        UpscalerData("Nearest", None, Upscaler(NEAREST)),
        UpscalerData("R-ESRGAN 4x+", None, Upscaler(LANCZOS)),
    ]
