"""The images every configuration is timed on: the tests' photos and a composed group photo.

The photos are fitted (cropped to the aspect, then resized) to each benchmark size, so each model
sees the same people at the sizes a generation produces. The group photo is composed once at the
large size and scaled down, so both sizes show the same seven faces (40-260 px wide at 1024x1536).
"""

from __future__ import annotations

from PIL import Image, ImageOps

from tests.group_photo import compose, photo

# (width, height), as A1111 names generation sizes; portrait, like most generated people.
SIZES: dict[str, tuple[int, int]] = {"512x768": (512, 768), "1024x1536": (1024, 1536)}
PHOTOS = ("astronaut", "camera", "grace_hopper")
IMAGE_NAMES = (*PHOTOS, "group")


def benchmark_images(
    size: tuple[int, int], names: tuple[str, ...] = IMAGE_NAMES
) -> dict[str, Image.Image]:
    """`names` at `size`, all RGB (the form both our path and the bare detector are handed)."""
    images: dict[str, Image.Image] = {}
    for name in names:
        if name == "group":
            group, _ = compose(SIZES["1024x1536"])
            images[name] = group if group.size == size else group.resize(size, Image.LANCZOS)
        elif name in PHOTOS:
            images[name] = ImageOps.fit(photo(name), size, Image.LANCZOS)
        else:
            msg = f"unknown benchmark image {name!r}; available: {', '.join(IMAGE_NAMES)}"
            raise ValueError(msg)
    return images
