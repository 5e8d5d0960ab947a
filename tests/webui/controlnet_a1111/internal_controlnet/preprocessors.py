"""The preprocessor registry: names, labels and tags of the preprocessors the tests touch."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Preprocessor:
    name: str
    label: str
    tags: tuple[str, ...] = field(default=())


_ALL = [
    Preprocessor("none", "none"),
    Preprocessor("inpaint", "inpaint_global_harmonious", ("Inpaint",)),
    Preprocessor("inpaint_only", "inpaint_only", ("Inpaint",)),
    Preprocessor("inpaint_only+lama", "inpaint_only+lama", ("Inpaint",)),
    Preprocessor("lineart_coarse", "lineart_coarse", ("Lineart",)),
    Preprocessor("lineart_realistic", "lineart_realistic", ("Lineart",)),
    Preprocessor("lineart_anime", "lineart_anime", ("Lineart",)),
    Preprocessor("lineart_anime_denoise", "lineart_anime_denoise", ("Lineart",)),
    Preprocessor("openpose_full", "openpose_full", ("OpenPose",)),
    Preprocessor("dw_openpose_full", "dw_openpose_full", ("OpenPose",)),
    Preprocessor("openpose", "openpose", ("OpenPose",)),
    Preprocessor("tile_resample", "tile_resample", ("Tile",)),
    Preprocessor("tile_colorfix", "tile_colorfix", ("Tile",)),
    Preprocessor("tile_colorfix+sharp", "tile_colorfix+sharp", ("Tile",)),
    Preprocessor("t2ia_sketch_pidi", "t2ia_sketch_pidi", ("Scribble",)),
    Preprocessor("depth_midas", "depth_midas", ("Depth",)),
    Preprocessor("depth_hand_refiner", "depth_hand_refiner", ("Depth",)),
    Preprocessor("canny", "canny", ("Canny",)),
]
BY_LABEL = {p.label: p for p in _ALL}
BY_NAME = {p.name: p for p in _ALL}


def get_preprocessor(name: str) -> Preprocessor | None:
    """By label first, then by internal name (both are accepted as a unit's module)."""
    return BY_LABEL.get(name, BY_NAME.get(name))


def sorted_preprocessors() -> list[Preprocessor]:
    return list(_ALL)
