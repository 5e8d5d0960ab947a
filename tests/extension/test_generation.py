from __future__ import annotations

import numpy as np

from adetailer.boxes import box_to_mask
from tests.extension.conftest import ad_changes

FACE_TAB = {"ad_model": "mediapipe_face_full"}


def txt2img_plain(webui, **kwargs):
    return webui.txt2img(prompt="a photo", seed=1, steps=20, width=768, height=512, **kwargs)


def test_txt2img_details_each_face_only_inside_its_mask(webui, generates_faces):
    from modules import processing

    plain = txt2img_plain(webui).images[0]
    before = len(processing.sampler_calls)
    processed = txt2img_plain(webui, script_values={"ADetailer": [True, False, FACE_TAB]})
    detailed = processed.images[0]
    inner = processing.sampler_calls[before + 1 :]
    assert [c.kind for c in inner] == ["img2img", "img2img"]  # one pass per face
    changed = ad_changes(plain, detailed)
    assert changed.any()
    allowed = np.zeros_like(changed)
    for face in generates_faces:
        x1, y1, x2, y2 = face
        grown = (x1 - 40, y1 - 40, x2 + 40, y2 + 40)  # dilation 4, blur 4, detector margin
        allowed |= box_to_mask(grown, plain.size)
        assert changed[int(y1) : int(y2), int(x1) : int(x2)].mean() > 0.5
    assert not (changed & ~allowed).any()
    info = processed.infotexts[0]
    assert "ADetailer model: mediapipe_face_full" in info
    assert "ADetailer version" in info
