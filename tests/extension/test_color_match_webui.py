"""ad_color_match in the web UI: the redraw comes back unpasted, is matched and pasted by the core."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.extension.conftest import ad_changes
from tests.extension.test_generation import (
    FACE_TAB,
    calls_so_far,
    infotext_params,
    inner_calls,
    txt2img,
)


def _lab(image) -> np.ndarray:
    return cv2.cvtColor(np.asarray(image.convert("RGB"), np.float32) / 255, cv2.COLOR_RGB2LAB)


@pytest.mark.parametrize("only_masked", [True, False])
def test_border_pastes_only_inside_the_mask_and_lowers_the_seam(
    webui, generates_faces, only_masked, monkeypatch
):
    from modules import sd_samplers_fake, shared

    # the fake redraw moves every channel by a large amount (mod 256): here a color drift
    # instead, +12 in red and +6 in green, as a VAE round trip may give; the generated picture is
    # kept below 230 so that the drift never wraps around
    drift = np.array([12, 6, 0], dtype=np.int32)
    monkeypatch.setattr(sd_samplers_fake, "img2img_offsets", lambda prompt, seed: drift)
    draw = sd_samplers_fake.pattern_image
    monkeypatch.setattr(
        sd_samplers_fake,
        "pattern_image",
        lambda *args: (draw(*args).astype(np.float32) * 0.9).astype(np.uint8),
    )

    plain = txt2img(webui).images[0]
    results = {}
    for mode in ("None", "Border"):
        tab = {**FACE_TAB, "ad_color_match": mode, "ad_inpaint_only_masked": only_masked}
        start = calls_so_far()
        processed = txt2img(webui, script_values={"ADetailer": [True, False, tab]})
        results[mode] = processed.images[0]
        calls = inner_calls(start)
        assert len(calls) == 2
    for mode, image in results.items():
        changed = ad_changes(plain, image)
        outside = np.ones(changed.shape, bool)
        for call in calls:  # the last run's passes (Border): the same boxes and masks
            if only_masked:
                x, y, w, h = call.paste_to
                outside[y : y + h, x : x + w] = False
            else:
                outside &= np.asarray(call.p.mask_for_overlay) == 0
        assert not (changed & outside).any(), mode  # bit-identical outside
        assert changed.any()
    assert infotext_params(processed)["ADetailer color match"] == "Border"
    assert "overlay_inpaint" not in shared.opts.data  # the host's option is as it was

    # Border takes the drift out at the mask's edge
    ring = np.zeros(changed.shape, bool)
    for x1, y1, x2, y2 in generates_faces:
        box = np.zeros(changed.shape, np.uint8)
        box[int(y1) - 8 : int(y2) + 8, int(x1) - 8 : int(x2) + 8] = 1
        inner = np.zeros_like(box)
        inner[int(y1) + 4 : int(y2) - 4, int(x1) + 4 : int(x2) - 4] = 1
        ring |= (box - inner) > 0
    # the color shift across the ring (the crop's resampling adds zero-mean noise to both)
    seam = {
        mode: float(np.linalg.norm((_lab(image) - _lab(plain))[ring].mean(axis=0)))
        for mode, image in results.items()
    }
    assert seam["Border"] < 0.25 * seam["None"]
