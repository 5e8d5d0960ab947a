"""The standalone detailer's infotext, read by A1111's own parser (the test double's copy).

`python -m adetailer detail` writes its PNG `parameters` with `pnginfo.detailed_infotext`
(tests/test_detail.py checks that the written text is exactly that); here A1111's
`parse_generation_parameters` reads such a text back into the same prompts, values and tabs.
"""

from __future__ import annotations

import json

from adetailer.args import TabArgs
from adetailer.infotext import DETECTIONS_KEY, WARNINGS_KEY, normalized, tabs_from_infotext
from adetailer.pnginfo import detailed_infotext, format_infotext, parse_infotext

SOURCE = format_infotext(
    "a photo, (smile:1.2)",
    "blurry, lowres",
    {"Steps": 30, "Sampler": "DPM++ 2M", "Schedule type": "Karras", "Seed": 99, "Size": "512x768"},
)


def test_a1111_reads_a_detailed_images_infotext():
    from modules import infotext_utils

    tabs = [
        (0, TabArgs(ad_model="face_yolov8n.pt", ad_prompt="(Emma Watson:0.8), Ana de Armas")),
        (1, TabArgs(ad_model="hand_yolov8n.pt", ad_confidence=0.5, ad_mask_blur=8)),
    ]
    records = [{"tab": 1, "box": [1.0, 2.0, 30.5, 40.0], "seed": 99, "prompt": "a, b"}]
    text = detailed_infotext(
        parse_infotext(SOURCE),
        "a photo, (smile:1.2)",
        "blurry, lowres",
        {"Steps": 20, "Sampler": "Euler a", "Seed": 7},
        tabs,
        records,
        ["ADetailer 2nd tab: face restoration is not available; ignored"],
    )
    params = infotext_utils.parse_generation_parameters(text)
    assert params["Prompt"] == "a photo, (smile:1.2)"
    assert params["Negative prompt"] == "blurry, lowres"
    assert (params["Size-1"], params["Size-2"]) == ("512", "768")  # the source's, kept
    assert params["Steps"] == "20"  # this run's values replace the source's
    assert params["Sampler"] == "Euler a"
    assert params["Seed"] == "7"
    assert params["ADetailer prompt"] == "(Emma Watson:0.8), Ana de Armas"
    assert json.loads(params[DETECTIONS_KEY]) == records
    assert params[WARNINGS_KEY].startswith("ADetailer 2nd tab")
    back = tabs_from_infotext(params)
    assert {i: normalized(a) for i, a in back.items()} == {i: normalized(a) for i, a in tabs}
