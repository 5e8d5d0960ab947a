"""ad_hires_stage: "Before hires fix" tabs detail each first-pass image, and the hires pass starts
from the detailed image (the seam: `adetailer_webui.hires`)."""

from __future__ import annotations

import json

import pytest

from adetailer.boxes import box_iou
from tests.extension.conftest import ad_changes
from tests.extension.test_generation import (
    FACE_TAB,
    YOLO_TAB,
    calls_so_far,
    infotext_params,
    near,
    processed_calls,
    txt2img,
)

BEFORE = {**FACE_TAB, "ad_hires_stage": "Before hires fix"}
HIRES = {"enable_hr": True, "hr_scale": 1.5}  # 768x512 -> 1152x768


def kinds(start: int) -> list[str]:
    return [c.kind for c in processed_calls(start)]


def records(processed, index: int = 0) -> list[dict]:
    return json.loads(infotext_params(processed, index)["ADetailer detections"])


@pytest.mark.parametrize("upscaler", ["Latent", "Lanczos"])
def test_before_hires_details_the_first_pass_image(webui, generates_faces, upscaler):
    start = calls_so_far()
    processed = txt2img(
        webui, hr_upscaler=upscaler, **HIRES, script_values={"ADetailer": [True, False, BEFORE]}
    )
    # the two faces are redrawn between the first pass and the hires pass, at first-pass size
    assert kinds(start) == ["txt2img", "img2img", "img2img", "hires"]
    _, *inner, hires = processed_calls(start)
    for call in inner:
        assert call.p.init_images[0].size == (768, 512)
        assert (call.p_width, call.p_height) == (768, 512)
    assert hires.width == 1152
    found = records(processed)
    assert [r["stage"] for r in found] == ["Before hires fix"] * 2
    for record in found:  # boxes in first-pass pixels
        assert max(box_iou(record["box"], face) for face in generates_faces) > 0.5
    params = infotext_params(processed)
    assert params["ADetailer hires stage"] == "Before hires fix"

    # the same generation with the tab after hires fix: the hires pass started from another image
    start = calls_so_far()
    plain = txt2img(webui, hr_upscaler=upscaler, **HIRES)
    image, reference = processed.images[0], plain.images[0]
    assert image.size == reference.size == (1152, 768)
    changed = ad_changes(reference, image)
    assert changed.any()
    faces_hires = [tuple(v * 1.5 for v in face) for face in generates_faces]
    # the redraw, its mask blur and the latent it changes: within 100 px of the faces
    assert not (changed & ~near(faces_hires, 100, image.size)).any()


@pytest.mark.parametrize("upscaler", ["Latent", "Lanczos"])
def test_batches_detail_each_image_at_its_own_first_pass_seed(webui, generates_faces, upscaler):
    start = calls_so_far()
    processed = txt2img(
        webui,
        seed=100,
        batch_size=2,
        n_iter=2,
        hr_upscaler=upscaler,
        **HIRES,
        script_values={"ADetailer": [True, False, BEFORE]},
    )
    assert kinds(start) == ["txt2img", *["img2img"] * 4, "hires"] * 2
    inner = [c for c in processed_calls(start) if c.kind == "img2img"]
    assert [c.seeds[0] for c in inner] == [100, 101, 101, 102, 102, 103, 103, 104]
    for index in range(4):
        found = records(processed, index)
        assert [r["seed"] for r in found] == [100 + index, 101 + index]
        assert {r["stage"] for r in found} == {"Before hires fix"}
    assert len(processed.images) == 5  # grid + 4


def test_both_stages_in_one_generation_in_tab_order_within_each(yolo_webui, generates_faces):
    tabs = [
        {**YOLO_TAB, "ad_prompt": "after one"},
        # the fake's redraw garbles what it touches: tab 2 redraws below the faces, so that tab 4
        # still finds them
        {**BEFORE, "ad_prompt": "before two", "ad_y_offset": -250},
        {**YOLO_TAB, "ad_prompt": "after three"},
        {**BEFORE, "ad_prompt": "before four"},
    ]
    start = calls_so_far()
    processed = txt2img(
        yolo_webui,
        hr_upscaler="Lanczos",
        **HIRES,
        script_values={"ADetailer": [True, False, *tabs]},
    )
    calls = processed_calls(start)
    assert [c.kind for c in calls] == ["txt2img", *["img2img"] * 4, "hires", *["img2img"] * 4]
    assert [c.prompts[0] for c in calls if c.kind == "img2img"] == [
        *["before two"] * 2,
        *["before four"] * 2,
        *["after one"] * 2,
        *["after three"] * 2,
    ]
    found = records(processed)
    assert [(r["tab"], r["stage"]) for r in found] == [
        (2, "Before hires fix"),
        (2, "Before hires fix"),
        (4, "Before hires fix"),
        (4, "Before hires fix"),
        (1, "After hires fix"),
        (1, "After hires fix"),
        (3, "After hires fix"),
        (3, "After hires fix"),
    ]
    params = infotext_params(processed)
    assert "ADetailer hires stage" not in params  # the 1st tab is at the default
    assert params["ADetailer hires stage 2nd"] == "Before hires fix"


def test_separate_hires_checkpoint_sampler_and_prompt(webui, generates_faces):
    start = calls_so_far()
    txt2img(
        webui,
        **HIRES,
        hr_checkpoint_name="sdxl_base.safetensors",
        hr_sampler_name="Euler a",
        hr_prompt="sharp",
        script_values={"ADetailer": [True, False, BEFORE]},
    )
    first, *inner, hires = processed_calls(start)
    assert [c.kind for c in inner] == ["img2img", "img2img"]
    # the detail passes use the first pass's model; the hires pass gets its own back
    assert {c.sd_model_checkpoint for c in inner} == {first.sd_model_checkpoint}
    assert "sd15" in first.sd_model_checkpoint
    assert "sdxl_base" in hires.sd_model_checkpoint
    assert hires.sampler_name == "Euler a"
    assert hires.prompts == ["sharp"]
    assert {c.prompts[0] for c in inner} == {"a photo"}


@pytest.mark.parametrize("stop", ["interrupt", "skip"])
def test_interrupt_or_skip_before_hires_returns_the_image_as_far_as_it_got(
    webui, generates_faces, stop
):
    from modules import sd_samplers_fake

    done = txt2img(webui, hr_upscaler="Lanczos", **HIRES)  # for the first-pass seeds
    start = calls_so_far()
    calls = sd_samplers_fake.interrupt_calls if stop == "interrupt" else sd_samplers_fake.skip_calls
    calls.add(start + 2)  # first pass, first face, [second face]
    processed = txt2img(
        webui, hr_upscaler="Lanczos", **HIRES, script_values={"ADetailer": [True, False, BEFORE]}
    )
    assert kinds(start) == ["txt2img", "img2img", "img2img"]  # no hires pass
    image = processed.images[0]
    assert image.size == (768, 512)  # the first pass, with the first face redrawn
    assert [r["stage"] for r in records(processed)] == ["Before hires fix"]
    assert done.images[0].size == (1152, 768)


@pytest.mark.parametrize("upscaler", ["Latent", "Lanczos"])
def test_the_hires_fix_button_details_the_chosen_image_first(webui, generates_faces, upscaler):
    chosen = txt2img(webui, seed=5)  # no hires fix: the gallery image
    start = calls_so_far()
    processed = webui.txt2img(
        prompt="a photo",
        width=768,
        height=512,
        hr_scale=1.5,
        hr_upscaler=upscaler,
        upscale=(chosen.images[0], chosen.infotexts[0]),
        script_values={"ADetailer": [True, False, BEFORE]},
    )
    # the button skips the first pass: the chosen image is detailed, then upscaled
    assert kinds(start) == ["img2img", "img2img", "hires"]
    inner = processed_calls(start)[:2]
    assert [c.seeds[0] for c in inner] == [5, 6]
    assert inner[0].p.init_images[0].size == (768, 512)
    assert processed.images[0].size == (1152, 768)
    assert [r["stage"] for r in records(processed)] == ["Before hires fix"] * 2


def test_without_hires_fix_or_in_img2img_the_stage_changes_nothing(
    webui, generates_faces, faces_photo
):
    start = calls_so_far()
    processed = txt2img(webui, script_values={"ADetailer": [True, False, BEFORE]})
    assert kinds(start) == ["txt2img", "img2img", "img2img"]
    assert all("stage" not in r for r in records(processed))
    # img2img (here with Skip img2img, which the stage leaves alone): the tab runs as always
    start = calls_so_far()
    again = webui.img2img(
        faces_photo[0], prompt="a photo", seed=1, width=768, height=512,
        script_values={"ADetailer": [True, True, BEFORE]},
    )  # fmt: skip
    main, *inner = processed_calls(start)
    assert (main.steps, main.width) == (1, 128)  # Skip img2img's placeholder pass
    assert len(inner) == 2
    assert all("stage" not in r for r in records(again))
    assert infotext_params(again)["ADetailer skip img2img"] == "True"


def test_a_script_that_replaced_the_sampling_gets_the_tab_after_hires(
    yolo_webui, generates_faces, monkeypatch, capsys
):
    from modules import processing

    cls = processing.StableDiffusionProcessingTxt2Img
    host_sample = cls.sample

    def replaced(self, *args, **kwargs):  # calls the class's hires pass, not p's
        instance_method = vars(self).pop("sample_hr_pass", None)
        try:
            return host_sample(self, *args, **kwargs)
        finally:
            if instance_method is not None:
                self.sample_hr_pass = instance_method

    monkeypatch.setattr(cls, "sample", replaced)
    start = calls_so_far()
    processed = txt2img(
        yolo_webui,
        batch_size=2,
        hr_upscaler="Lanczos",
        **HIRES,
        script_values={"ADetailer": [True, False, {**BEFORE, **YOLO_TAB}]},
    )
    err = capsys.readouterr().err
    line = (
        "[-] ADetailer: the 1st tab (Before hires fix) runs after hires fix: the hires pass did not"
        " go through sample_hr_pass (another script replaced the sampling)."
    )
    assert err.count(line) == 1
    assert kinds(start)[:2] == ["txt2img", "hires"]
    assert processed.images[1].size == (1152, 768)


def test_on_an_unknown_forge_build_the_tab_runs_after_hires(yolo_webui, generates_faces, capsys):
    from adetailer_webui import host

    original = host.is_forge
    host.is_forge = lambda: True  # a "Forge" without modules_forge.main_entry
    try:
        start = calls_so_far()
        processed = txt2img(
            yolo_webui,
            hr_upscaler="Lanczos",
            **HIRES,
            script_values={"ADetailer": [True, False, {**BEFORE, **YOLO_TAB}]},
        )
    finally:
        host.is_forge = original
    assert "runs after hires fix: this Forge build has no modules_forge.main_entry" in (
        capsys.readouterr().err
    )
    assert kinds(start)[:2] == ["txt2img", "hires"]
    assert processed.images[0].size == (1152, 768)


def test_the_xyz_axis_sets_the_stage_of_the_first_tab(webui, generates_faces):
    from copy import copy

    from modules import processing

    from tests.extension.test_ui import apply_axis

    base = processing.StableDiffusionProcessingTxt2Img(
        prompt="a photo",
        width=768,
        height=512,
        enable_hr=True,
        hr_scale=1.5,
        hr_upscaler="Lanczos",
        do_not_save_samples=True,
        do_not_save_grid=True,
    )
    seen = []
    for stage in ("Before hires fix", "After hires fix"):
        cell = copy(base)
        apply_axis(webui, "[ADetailer] Hires fix stage 1st", stage, [stage], cell)
        start = calls_so_far()
        cell.scripts = webui.runner("txt2img")
        cell.script_args = webui.ui_script_args("txt2img", {"ADetailer": [True, False, FACE_TAB]})
        processing.process_images(cell)
        seen.append(kinds(start)[:2])
    assert seen == [["txt2img", "img2img"], ["txt2img", "hires"]]


def test_a_script_that_wraps_the_seam_still_gets_the_tab_before_hires(
    webui, generates_faces, monkeypatch, capsys
):
    """Another extension may wrap p.sample_hr_pass after ours (seen with a real A1111 1.10.1):
    the seam still runs inside it, and the tab must not run a second time after hires fix."""
    from modules import processing

    cls = processing.StableDiffusionProcessingTxt2Img
    host_sample = cls.sample

    def wrapping(self, *args, **kwargs):
        inner = self.sample_hr_pass
        self.sample_hr_pass = lambda *a: inner(*a)
        return host_sample(self, *args, **kwargs)

    monkeypatch.setattr(cls, "sample", wrapping)
    start = calls_so_far()
    processed = txt2img(
        webui, hr_upscaler="Lanczos", **HIRES, script_values={"ADetailer": [True, False, BEFORE]}
    )
    assert "runs after hires fix" not in capsys.readouterr().err
    assert kinds(start) == ["txt2img", "img2img", "img2img", "hires"]
    assert [r["stage"] for r in records(processed)] == ["Before hires fix"] * 2


def test_the_seam_leaves_no_trace_on_other_generations(webui, generates_faces):
    from adetailer_webui import hires

    txt2img(webui, **HIRES, script_values={"ADetailer": [True, False, BEFORE]})
    p = webui.last_p
    seam = vars(p)["sample_hr_pass"]
    assert isinstance(seam, hires.HiresSeam)
    hires.uninstall(p)
    assert "sample_hr_pass" not in vars(p)
    assert hires.seam_of(p) is None
    assert not seam.active  # inert where another extension's wrapper still holds it
    assert p.sample_hr_pass.__func__ is type(p).sample_hr_pass  # the class's own, untouched
