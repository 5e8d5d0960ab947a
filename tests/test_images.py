from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from adetailer.images import BACKGROUND, ensure_rgb


def pixel(image: Image.Image, xy: tuple[int, int] = (0, 0)) -> tuple[int, int, int]:
    rgb = ensure_rgb(image)
    assert rgb.mode == "RGB"
    assert rgb.size == image.size
    return tuple(int(v) for v in np.asarray(rgb)[xy[1], xy[0]])


def test_rgb_image_is_returned_as_is() -> None:
    image = Image.new("RGB", (3, 2), (10, 20, 30))
    assert ensure_rgb(image) is image


def test_rejects_what_is_not_an_image() -> None:
    with pytest.raises(TypeError, match="expected a PIL image, got ndarray"):
        ensure_rgb(np.zeros((2, 2, 3), dtype=np.uint8))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mode", "color", "expected"),
    [
        ("RGBA", (200, 10, 10, 255), (200, 10, 10)),
        ("RGBA", (200, 10, 10, 0), BACKGROUND),
        ("RGBA", (0, 0, 0, 128), (127, 127, 127)),
        ("LA", (40, 255), (40, 40, 40)),
        ("LA", (40, 0), BACKGROUND),
        ("RGBa", (100, 0, 0, 255), (100, 0, 0)),
        ("RGBa", (0, 0, 0, 0), BACKGROUND),
        ("La", (20, 40), (235, 235, 235)),  # straight 20*255/40 = 128, 40/255 of it over white
        ("La", (0, 0), BACKGROUND),
        ("RGBX", (1, 2, 3, 0), (1, 2, 3)),
        ("L", 77, (77, 77, 77)),
        ("1", 1, (255, 255, 255)),
        ("1", 0, (0, 0, 0)),
        ("CMYK", (0, 0, 0, 0), (255, 255, 255)),
        ("CMYK", (0, 0, 0, 255), (0, 0, 0)),
        ("YCbCr", (128, 128, 128), (128, 128, 128)),
        ("LAB", (128, 128, 128), (119, 119, 119)),  # a mid grey, as ImageCms computes it
        ("HSV", (0, 255, 255), (255, 0, 0)),
    ],
)
def test_colour_modes(mode: str, color: object, expected: tuple[int, int, int]) -> None:
    result = pixel(Image.new(mode, (2, 2), color))
    assert np.allclose(result, expected, atol=2), result


def test_palette_without_transparency() -> None:
    image = Image.new("P", (2, 1))
    image.putpalette([0, 0, 0, 250, 20, 30] + [0] * 762)
    image.putpixel((1, 0), 1)
    assert pixel(image, (1, 0)) == (250, 20, 30)
    assert pixel(image, (0, 0)) == (0, 0, 0)


def test_palette_transparency_becomes_background() -> None:
    image = Image.new("P", (2, 1))
    image.putpalette([0, 0, 0, 250, 20, 30] + [0] * 762)
    image.putpixel((1, 0), 1)
    image.info["transparency"] = 0
    assert pixel(image, (0, 0)) == BACKGROUND
    assert pixel(image, (1, 0)) == (250, 20, 30)


def test_palette_with_alpha_mode() -> None:
    image = Image.new("PA", (1, 1))
    image.putpalette([9, 99, 199] + [0] * 765)
    image.putpixel((0, 0), (0, 0))
    assert pixel(image) == BACKGROUND


def test_rgb_colour_key_transparency() -> None:
    image = Image.new("RGB", (2, 1), (5, 5, 5))
    image.putpixel((1, 0), (1, 2, 3))
    image.info["transparency"] = (5, 5, 5)
    assert pixel(image, (0, 0)) == BACKGROUND
    assert pixel(image, (1, 0)) == (1, 2, 3)


@pytest.mark.parametrize("mode", ["I;16", "I;16L", "I;16B"])
@pytest.mark.parametrize(("value", "expected"), [(0, 0), (257, 1), (32896, 128), (65535, 255)])
def test_16_bit_is_scaled_not_clipped(mode: str, value: int, expected: int) -> None:
    image = Image.new(mode, (1, 1))
    image.putpixel((0, 0), value)
    assert pixel(image) == (expected,) * 3


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0, 128, 255], [0, 128, 255]),  # already 8-bit
        ([0, 32896, 65535], [0, 128, 255]),  # 16-bit data in a 32-bit image
        ([-1000, 0, 1000], [0, 128, 255]),  # anything else is stretched
    ],
)
def test_32_bit_integer(values: list[int], expected: list[int]) -> None:
    image = Image.fromarray(np.array([values], dtype=np.int32), mode="I")
    assert np.asarray(ensure_rgb(image))[0, :, 0].tolist() == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0.0, 0.5, 1.0], [0, 128, 255]),
        ([0.0, 100.0, 255.0], [0, 100, 255]),
        ([float("nan"), 0.5, 1.0], [0, 128, 255]),
        ([-2.0, 0.0, 2.0], [0, 128, 255]),
    ],
)
def test_float(values: list[float], expected: list[int]) -> None:
    image = Image.fromarray(np.array([values], dtype=np.float32), mode="F")
    assert np.asarray(ensure_rgb(image))[0, :, 0].tolist() == expected


# Pillow 9.5 can only make blank BGR;* images (no decoder fills them), so for those modes this
# checks that conversion does not fail.
ALL_MODES = [
    "1", "L", "P", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV", "I", "F", "LA", "PA",
    "RGBX", "RGBa", "La", "I;16", "I;16L", "I;16B", "BGR;15", "BGR;16", "BGR;24",
]  # fmt: skip


@pytest.mark.parametrize("mode", ALL_MODES)
@pytest.mark.parametrize("size", [(1, 1), (4000, 1), (1, 3000), (7, 5)])
def test_every_mode_and_shape_becomes_rgb(mode: str, size: tuple[int, int]) -> None:
    result = ensure_rgb(Image.new(mode, size))
    assert result.mode == "RGB"
    assert result.size == size
    assert np.asarray(result).dtype == np.uint8


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.uint16, hnp.array_shapes(min_dims=2, max_dims=2, max_side=24)))
def test_16_bit_keeps_order(values: np.ndarray) -> None:
    image = Image.fromarray(values.astype(np.uint16), mode="I;16")
    gray = np.asarray(ensure_rgb(image))[..., 0].astype(int)
    order = np.argsort(values, axis=None, kind="stable")
    assert np.all(np.diff(gray.ravel()[order]) >= 0)
    assert np.abs(gray - values.astype(float) / 257).max() <= 0.5 + 1e-9


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(np.uint8, st.tuples(st.integers(1, 16), st.integers(1, 16), st.just(4))),
)
def test_rgba_is_alpha_blended_over_white(values: np.ndarray) -> None:
    result = np.asarray(ensure_rgb(Image.fromarray(values, mode="RGBA"))).astype(float)
    alpha = values[..., 3:4].astype(float) / 255
    expected = values[..., :3] * alpha + 255 * (1 - alpha)
    assert np.abs(result - expected).max() <= 1.0


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=2, max_dims=2, max_side=16),
        elements=st.floats(allow_nan=True, allow_infinity=True, width=32),
    )
)
def test_any_float_image_converts(values: np.ndarray) -> None:
    result = ensure_rgb(Image.fromarray(values, mode="F"))
    assert result.mode == "RGB"
    assert result.size == (values.shape[1], values.shape[0])
