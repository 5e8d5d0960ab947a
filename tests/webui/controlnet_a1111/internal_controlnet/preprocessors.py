"""The preprocessor registry: names, labels and tags of the preprocessors the tests touch, and which
annotator weights each needs."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from internal_controlnet import annotator


@dataclass(frozen=True)
class Preprocessor:
    name: str
    label: str
    tags: tuple[str, ...] = field(default=())
    weights: tuple[str, str] | None = None  # annotator (folder, file) it downloads on first use

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """The detected map; here the input itself, once the annotator's weights are there."""
        if self.weights is not None:
            annotator.load_model(*self.weights)
        return image


OPENPOSE = ("openpose", "body_pose_model.pth")
LINEART = ("lineart", "sk_model.pth")
_ALL = [
    Preprocessor("none", "none"),
    Preprocessor("inpaint", "inpaint_global_harmonious", ("Inpaint",)),
    Preprocessor("inpaint_only", "inpaint_only", ("Inpaint",)),
    Preprocessor(
        "inpaint_only+lama", "inpaint_only+lama", ("Inpaint",), ("lama", "ControlNetLama.pth")
    ),
    Preprocessor("lineart_coarse", "lineart_coarse", ("Lineart",), ("lineart", "sk_model2.pth")),
    Preprocessor("lineart_realistic", "lineart_realistic", ("Lineart",), LINEART),
    Preprocessor("lineart_anime", "lineart_anime", ("Lineart",), ("lineart_anime", "netG.pth")),
    Preprocessor(
        "lineart_anime_denoise", "lineart_anime_denoise", ("Lineart",), ("manga_line", "erika.pth")
    ),
    Preprocessor("openpose_full", "openpose_full", ("OpenPose",), OPENPOSE),
    Preprocessor("dw_openpose_full", "dw_openpose_full", ("OpenPose",), OPENPOSE),
    Preprocessor("openpose", "openpose", ("OpenPose",), OPENPOSE),
    Preprocessor("tile_resample", "tile_resample", ("Tile",)),
    Preprocessor("tile_colorfix", "tile_colorfix", ("Tile",)),
    Preprocessor("tile_colorfix+sharp", "tile_colorfix+sharp", ("Tile",)),
    Preprocessor(
        "t2ia_sketch_pidi", "t2ia_sketch_pidi", ("Scribble",), ("pidinet", "table5_pidinet.pth")
    ),
    Preprocessor(
        "depth_midas", "depth_midas", ("Depth",), ("midas", "dpt_hybrid-midas-501f0c75.pt")
    ),
    Preprocessor(
        "depth_hand_refiner", "depth_hand_refiner", ("Depth",), ("hand_refiner", "hr16.pth")
    ),
    Preprocessor("canny", "canny", ("Canny",)),
]
BY_LABEL = {p.label: p for p in _ALL}
BY_NAME = {p.name: p for p in _ALL}


def get_preprocessor(name: str) -> Preprocessor | None:
    """By label first, then by internal name (both are accepted as a unit's module)."""
    return BY_LABEL.get(name, BY_NAME.get(name))


def sorted_preprocessors() -> list[Preprocessor]:
    return list(_ALL)
