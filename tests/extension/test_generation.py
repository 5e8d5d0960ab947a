from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from adetailer.boxes import box_iou, box_to_mask
from tests.crafted import save_crafted_model
from tests.extension.conftest import ad_changes

FACE_TAB = {"ad_model": "mediapipe_face_full"}
# the test YOLO model scores every box alike: keep the two largest
YOLO_TAB = {"ad_model": "face_test.pt", "ad_confidence": 0.01, "ad_mask_k": 2}
SIZE = {"width": 768, "height": 512}


def txt2img(webui, **kwargs):
    kwargs = {"prompt": "a photo", "seed": 1, "steps": 20, **SIZE, **kwargs}
    return webui.txt2img(**kwargs)


def inner_calls(start: int) -> list:
    from modules import processing

    return [c for c in processing.sampler_calls[start:] if c.kind == "img2img"]


def processed_calls(start: int) -> list:
    from modules import processing

    return processing.sampler_calls[start:]


def calls_so_far() -> int:
    from modules import processing

    return len(processing.sampler_calls)


def near(faces, margin: float, size: tuple[int, int]) -> np.ndarray:
    allowed = np.zeros((size[1], size[0]), dtype=bool)
    for x1, y1, x2, y2 in faces:
        allowed |= box_to_mask((x1 - margin, y1 - margin, x2 + margin, y2 + margin), size)
    return allowed


def infotext_params(processed, index: int = 0) -> dict[str, str]:
    from modules import infotext_utils

    return infotext_utils.parse_generation_parameters(
        processed.infotexts[processed.index_of_first_image + index]
    )


def test_txt2img_details_each_face_only_inside_its_mask(webui, generates_faces):
    plain = txt2img(webui).images[0]
    start = calls_so_far()
    processed = txt2img(webui, script_values={"ADetailer": [True, False, FACE_TAB]})
    detailed = processed.images[0]
    inner = inner_calls(start)
    assert len(inner) == 2  # one pass per face
    for call in inner:
        assert call.inpaint_full_res is True
        assert call.inpainting_fill == 1
        assert (call.p_width, call.p_height) == (768, 512)  # the crop is redrawn at full size
        assert call.denoising_strength == pytest.approx(0.4)
        assert call.steps == 20
    changed = ad_changes(plain, detailed)
    assert not (changed & ~near(generates_faces, 40, plain.size)).any()
    for x1, y1, x2, y2 in generates_faces:
        assert changed[int(y1) : int(y2), int(x1) : int(x2)].mean() > 0.5
    params = infotext_params(processed)
    assert params["ADetailer model"] == "mediapipe_face_full"
    assert params["ADetailer confidence"] == "0.3"
    assert "ADetailer version" in params
    records = json.loads(params["ADetailer detections"])
    assert [r["tab"] for r in records] == [1, 1]
    assert [r["seed"] for r in records] == [1, 2]
    for record in records:
        assert record["label"] == "face"
        assert record["prompt"] == "a photo"
        assert max(box_iou(record["box"], f) for f in generates_faces) > 0.5


def test_nothing_happens_when_disabled_or_without_a_model(webui, generates_faces):
    plain = txt2img(webui).images[0]
    for values in ([False, False, FACE_TAB], [True, False, {"ad_model": "None"}]):
        start = calls_so_far()
        processed = txt2img(webui, script_values={"ADetailer": values})
        assert inner_calls(start) == []
        assert not ad_changes(plain, processed.images[0]).any()
        assert "ADetailer" not in processed.infotexts[0]
        assert not any(k.startswith("ADetailer") for k in processed.extra_generation_params)


def test_batch_of_two_with_two_tabs(webui, generates_faces):
    tabs = [
        # the fake's redraw garbles what it touches: tab 1 redraws below the faces, so that
        # tab 2 still finds them
        {"ad_model": "mediapipe_face_full", "ad_prompt": "smile [SEP] frown", "ad_y_offset": -250},
        {
            "ad_model": "mediapipe_face_short",
            "ad_negative_prompt": "ugly",
            "ad_denoising_strength": 0.3,
        },
    ]
    start = calls_so_far()
    processed = txt2img(
        webui,
        prompt="portrait",
        seed=100,
        batch_size=2,
        script_values={"ADetailer": [True, False, *tabs]},
    )
    inner = inner_calls(start)
    # 2 images x (2 faces with tab 1 + 2 faces with tab 2)
    assert len(inner) == 8
    first_image, second_image = inner[:4], inner[4:]
    assert [c.seeds[0] for c in first_image] == [100, 101, 100, 101]
    assert [c.seeds[0] for c in second_image] == [101, 102, 101, 102]
    assert [c.prompts[0] for c in first_image] == ["smile", "frown", "portrait", "portrait"]
    assert [c.negative_prompts[0] for c in first_image[2:]] == ["ugly", "ugly"]
    assert [c.denoising_strength for c in first_image] == pytest.approx([0.4, 0.4, 0.3, 0.3])
    params = [infotext_params(processed, i) for i in range(2)]
    assert params[0]["ADetailer model 2nd"] == "mediapipe_face_short"
    assert params[0]["Seed"] == "100"
    assert params[1]["Seed"] == "101"
    assert [r["seed"] for r in json.loads(params[1]["ADetailer detections"])] == [
        101,
        102,
        101,
        102,
    ]


def test_each_detection_uses_the_same_seed_when_the_setting_says_so(tmp_path, generates_faces):
    from tests.extension.conftest import launch

    with launch(tmp_path, config={"ad_same_seed_for_each_tab": True}) as webui:
        start = calls_so_far()
        txt2img(webui, seed=7, script_values={"ADetailer": [True, False, FACE_TAB]})
        assert [c.seeds[0] for c in inner_calls(start)] == [7, 7]


def test_hires_fix_details_the_final_image(yolo_webui):
    # the fake's hires pass garbles the faces; the test YOLO model finds boxes on anything
    start = calls_so_far()
    processed = txt2img(
        yolo_webui,
        enable_hr=True,
        hr_scale=2,
        hr_upscaler="Lanczos",
        script_values={"ADetailer": [True, False, YOLO_TAB]},
    )
    image = processed.images[0]
    assert image.size == (1536, 1024)
    hires, *inner = [c for c in processed_calls(start) if c.kind != "txt2img"]
    assert hires.kind == "hires"
    assert len(inner) == 2
    for call in inner:
        # "only masked" redraws each box at the first-pass size; the crop is pasted back
        assert (call.p_width, call.p_height) == (768, 512)
        assert call.p.init_images[0].size == (1536, 1024)


def test_skip_img2img(webui, faces_photo):
    init, faces = faces_photo
    start = calls_so_far()
    processed = webui.img2img(
        init,
        prompt="portrait",
        seed=3,
        steps=30,
        sampler_name="Euler a",
        width=768,
        height=512,
        script_values={"ADetailer": [True, True, FACE_TAB]},
    )
    main, *inner = processed_calls(start)
    assert (main.steps, main.sampler_name, main.width, main.height) == (1, "Euler", 128, 128)
    assert len(inner) == 2
    for call in inner:
        assert call.steps == 30
        assert call.sampler_name == "Euler a"
        assert (call.p_width, call.p_height) == (768, 512)
    image = processed.images[0]
    assert image.size == init.size
    changed = ad_changes(init, image)
    assert changed.any()
    assert not (changed & ~near(faces, 40, init.size)).any()  # the rest is the init image
    params = infotext_params(processed)
    assert params["Steps"] == "30"
    assert params["Sampler"] == "Euler a"
    assert (params["Size-1"], params["Size-2"]) == ("768", "512")
    assert params["ADetailer skip img2img"] == "True"


def test_inpaint_whole_picture_redraws_only_faces_under_the_user_mask(webui, faces_photo):
    init, faces = faces_photo
    # a strip over the second face's chin: the main pass changes only that, so the face is still
    # found, and it is the only detection that touches the user's mask
    user_mask = Image.new("L", init.size, 0)
    x1, _, x2, y2 = faces[1]
    user_mask.paste(255, (int(x1) + 10, int(y2) - 14, int(x2) - 10, int(y2) - 4))
    start = calls_so_far()
    webui.img2img(
        init,
        user_mask,
        prompt="portrait",
        seed=3,
        width=768,
        height=512,
        inpaint_full_res=0,
        script_values={"ADetailer": [True, False, FACE_TAB]},
    )
    main, *inner = inner_calls(start)
    assert main.inpaint_full_res == 0
    assert len(inner) == 1
    bbox = inner[0].p.image_mask.getbbox()
    assert box_iou(bbox, faces[1]) > 0.4


def test_inpaint_with_an_empty_mask_turns_adetailer_off(webui, faces_photo, capsys):
    init, _ = faces_photo
    start = calls_so_far()
    webui.img2img(
        init,
        Image.new("L", init.size, 0),
        width=768,
        height=512,
        script_values={"ADetailer": [True, False, FACE_TAB]},
    )
    assert len(inner_calls(start)) == 1  # only the main pass
    assert "empty mask" in capsys.readouterr().out


@pytest.mark.parametrize("covered", ["nothing", "faces", "everything"])
def test_the_empty_mask_check_follows_inpaint_not_masked(webui, faces_photo, capsys, covered):
    """With "Inpaint not masked" the user's mask is inverted before anything is inpainted, so
    the check for an empty mask must invert it too: an empty mask means the whole image."""
    init, faces = faces_photo
    user_mask = Image.new("L", init.size, 255 if covered == "everything" else 0)
    if covered == "faces":  # all of each face but its edge, which the detections overlap
        for x1, y1, x2, y2 in faces:
            user_mask.paste(255, (int(x1) + 4, int(y1) + 4, int(x2) - 4, int(y2) - 4))
    start = calls_so_far()
    processed = webui.img2img(
        init,
        user_mask,
        width=768,
        height=512,
        inpaint_full_res=0,
        inpainting_mask_invert=1,
        script_values={"ADetailer": [True, False, FACE_TAB]},
    )
    out = capsys.readouterr().out
    ran = infotext_params(processed).get("ADetailer model") == "mediapipe_face_full"
    if covered == "everything":  # inverted: nothing is inpainted, so ADetailer is off
        assert len(inner_calls(start)) == 1
        assert "empty mask" in out
        assert not ran
    elif covered == "faces":  # inverted: all but the faces, whose edges the detections reach
        assert len(inner_calls(start)) == 3
    else:  # inverted: the whole image, so ADetailer runs (on what the fake model recoloured)
        assert "empty mask" not in out
        assert ran


def test_interrupt_stops_at_once_and_keeps_what_was_done(webui, generates_faces):
    from modules import sd_samplers_fake

    plain = txt2img(webui).images[0]
    start = calls_so_far()
    sd_samplers_fake.interrupt_calls.add(start + 2)  # main pass, first face, [second face]
    processed = txt2img(webui, script_values={"ADetailer": [True, False, FACE_TAB, FACE_TAB]})
    assert len(inner_calls(start)) == 2  # the interrupted call and nothing after it
    changed = ad_changes(plain, processed.images[0])
    touched = [
        changed[int(y1) : int(y2), int(x1) : int(x2)].any() for x1, y1, x2, y2 in generates_faces
    ]
    assert sorted(touched) == [False, True]  # the first detection's redraw is kept


def test_a_nan_in_one_detection_skips_only_that_one(webui, generates_faces, capsys):
    from modules import sd_samplers_fake

    plain = txt2img(webui).images[0]
    start = calls_so_far()
    sd_samplers_fake.nan_calls.add(start + 1)  # the first face's pass
    processed = txt2img(webui, script_values={"ADetailer": [True, False, FACE_TAB]})
    assert len(inner_calls(start)) == 2
    changed = ad_changes(plain, processed.images[0])
    second = generates_faces[1]
    assert changed[int(second[1]) : int(second[3]), int(second[0]) : int(second[2])].any()
    assert "skipped" in capsys.readouterr().err
    records = json.loads(infotext_params(processed)["ADetailer detections"])
    assert len(records) == 1


def test_an_error_while_detailing_keeps_the_generated_image(webui, generates_faces, monkeypatch):
    from adetailer_webui import detail

    plain = txt2img(webui).images[0]

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(detail, "detect_and_mask", broken)
    processed = txt2img(webui, script_values={"ADetailer": [True, False, FACE_TAB]})
    assert not ad_changes(plain, processed.images[0]).any()
    from modules import errors

    assert any("detailing failed" in r.message for r in errors.reports)


def test_inner_passes_are_not_detailed_again_and_builtins_keep_out(webui, generates_faces):
    start = calls_so_far()
    txt2img(webui, sampler_name="DPM++ 2M", script_values={"ADetailer": [True, False, FACE_TAB]})
    inner = inner_calls(start)
    assert len(inner) == 2  # no nested ADetailer run inside the passes
    for call in inner:
        titles = call.alwayson_scripts or []
        assert "ADetailer" not in titles
        assert not {"Sampler", "Seed", "Refiner", "Comments"} & set(titles)
        assert call.sampler_name == "DPM++ 2M"


def test_inner_passes_get_their_own_cond_cache(webui, generates_faces):
    from modules import processing

    tab = {"ad_model": "mediapipe_face_full", "ad_prompt": "detailed face"}
    start = calls_so_far()
    txt2img(webui, script_values={"ADetailer": [True, False, tab]})
    inner = inner_calls(start)
    shared_cache = processing.StableDiffusionProcessing.cached_c
    for call in inner:
        assert call.p.cached_c is not shared_cache
        assert call.p.cached_uc is not processing.StableDiffusionProcessing.cached_uc


def test_params_txt_keeps_the_main_generation(webui, generates_faces):
    from modules import paths

    txt2img(
        webui,
        prompt="main prompt",
        script_values={"ADetailer": [True, False, {**FACE_TAB, "ad_prompt": "face only"}]},
    )
    text = (Path(paths.data_path) / "params.txt").read_text(encoding="utf8")
    assert text.startswith("main prompt")
    assert "face only" not in text.splitlines()[0]


def test_separate_checkpoint_and_vae_load_once_per_image_and_are_restored(
    tmp_path, generates_faces
):
    from modules import sd_models, sd_vae, shared

    from tests.extension.conftest import launch

    with launch(tmp_path) as webui:
        checkpoint = next(t for t in sd_models.checkpoint_tiles(use_short=True) if "sdxl" in t)
        user_checkpoint = shared.opts.sd_model_checkpoint
        loads_before = len(sd_models.model_loads)
        tab = {
            **FACE_TAB,
            "ad_use_checkpoint": True,
            "ad_checkpoint": checkpoint,
            "ad_use_clip_skip": True,
            "ad_clip_skip": 2,
        }
        start = calls_so_far()
        txt2img(webui, batch_size=2, script_values={"ADetailer": [True, False, tab]})
        inner = inner_calls(start)
        assert len(inner) == 4
        assert all("sdxl" in str(c.sd_model_checkpoint) for c in inner)
        assert all(c.clip_skip == 2 for c in inner)
        # image 1: load the tab's checkpoint, then the user's; the same for image 2
        assert len(sd_models.model_loads) - loads_before == 4
        assert shared.opts.sd_model_checkpoint == user_checkpoint
        assert "sdxl" not in str(shared.sd_model.sd_checkpoint_info.title)
        assert shared.opts.CLIP_stop_at_last_layers == 1
        del sd_vae


def test_job_count_includes_the_detail_passes(webui, generates_faces, monkeypatch):
    from modules import shared

    seen = []
    original = shared.state.nextjob

    def spy() -> None:
        seen.append(shared.state.job_count)
        original()

    monkeypatch.setattr(shared.state, "nextjob", spy)
    txt2img(webui, script_values={"ADetailer": [True, False, FACE_TAB]})
    assert max(seen) == 3  # the main image and two faces


def test_prompt_placeholders(webui, generates_faces):
    tab = {**FACE_TAB, "ad_prompt": "[SKIP] [SEP] [PROMPT], sharp"}
    start = calls_so_far()
    processed = txt2img(webui, prompt="woman", script_values={"ADetailer": [True, False, tab]})
    inner = inner_calls(start)
    assert [c.prompts[0] for c in inner] == ["woman, sharp"]
    assert re.search(
        r"ADetailer prompt: \"\[SKIP\] \[SEP\] \[PROMPT\], sharp\"", processed.infotexts[0]
    )


def test_a_model_that_cannot_be_had_skips_only_its_tab(webui, generates_faces, capsys):
    start = calls_so_far()
    tabs = [{"ad_model": "face_yolov8n.pt"}, FACE_TAB]
    processed = txt2img(webui, script_values={"ADetailer": [True, False, *tabs]})
    assert len(inner_calls(start)) == 2  # the second tab ran
    err = capsys.readouterr().err
    line = next(line for line in err.splitlines() if "1st tab skipped" in line)
    assert "face_yolov8n.pt" in line
    assert "models" in line  # says where to put the file
    assert "face_yolov8n.pt" in infotext_params(processed)["ADetailer warnings"]


def test_previews_and_before_images_are_saved_with_the_original_suffixes(tmp_path, generates_faces):
    from tests.extension.conftest import launch

    out = tmp_path / "ad-out"
    config = {
        "ad_save_previews": True,
        "ad_save_images_before": True,
        "ad_save_images_dir": str(out),
    }
    with launch(tmp_path / "webui", config=config) as webui:
        tabs = [{**FACE_TAB, "ad_y_offset": -250}, {"ad_model": "mediapipe_face_short"}]
        processed = txt2img(
            webui, seed=5, batch_size=2, script_values={"ADetailer": [True, False, *tabs]}
        )
    files = {p.name: p for p in out.rglob("*.png")}  # A1111 may add a dated folder
    names = sorted(files)
    assert len([n for n in names if n.endswith("-ad-preview.png")]) == 2  # one per image
    assert len([n for n in names if n.endswith("-ad-preview-2nd.png")]) == 2
    assert len([n for n in names if n.endswith("-ad-before.png")]) == 2
    second_before = Image.open(
        next(files[n] for n in names if n.endswith("-ad-before.png") and "-6-" in n)
    )
    # each saved file carries its own image's infotext (seed 6 is the second image)
    assert "Seed: 6" in second_before.info["parameters"]
    assert second_before.size == (768, 512)
    assert processed.images


def test_each_image_of_several_batches_carries_its_own_detections(webui, generates_faces):
    processed = txt2img(
        webui, seed=10, batch_size=2, n_iter=2, script_values={"ADetailer": [True, False, FACE_TAB]}
    )
    for index in range(4):
        params = infotext_params(processed, index)
        seed = int(params["Seed"])
        assert seed == 10 + index
        records = json.loads(params["ADetailer detections"])
        assert [r["seed"] for r in records] == [seed, seed + 1]


def test_a_grid_cell_without_adetailer_carries_no_adetailer_values(webui, generates_faces):
    """X/Y/Z plot cells are shallow copies of one p: they share extra_generation_params."""
    from copy import copy

    from modules import processing

    base = processing.StableDiffusionProcessingTxt2Img(
        prompt="a", width=768, height=512, do_not_save_samples=True, do_not_save_grid=True
    )
    runner = webui.runner("txt2img")
    skip = {**FACE_TAB, "ad_confidence": 7}  # a bad tab: its warning must not outlive the cell
    for args, expected in (
        ([True, False, skip], True),
        ([True, False, FACE_TAB], True),
        ([False], False),
    ):
        cell = copy(base)
        cell.scripts = runner
        cell.script_args = webui.ui_script_args("txt2img", {"ADetailer": args})
        info = processing.process_images(cell).infotexts[0]
        assert ("ADetailer" in info) == expected, info
    assert "ADetailer warnings" not in info
    assert "ADetailer detections" not in info


def test_forge_switches_checkpoints_through_its_set_config(
    webui, generates_faces, monkeypatch, capsys
):
    """Forge's `sd_models.reload_model_weights` does nothing; `sysinfo.set_config` switches."""
    import sys
    import types

    from modules import sd_models, shared

    from adetailer_webui import host

    calls: list[dict] = []

    def set_config(req, is_api=False, run_callbacks=True, save_config=True):
        calls.append(dict(req))
        for key, value in req.items():
            shared.opts.data[key] = value

    sysinfo = types.ModuleType("modules.sysinfo")
    sysinfo.set_config = set_config
    monkeypatch.setitem(sys.modules, "modules.sysinfo", sysinfo)
    monkeypatch.setattr(sys.modules["modules"], "sysinfo", sysinfo, raising=False)
    monkeypatch.setattr(host, "is_forge", lambda: True)
    checkpoint = next(t for t in sd_models.checkpoint_tiles(use_short=True) if "sdxl" in t)
    user = shared.opts.sd_model_checkpoint
    tab = {
        **FACE_TAB,
        "ad_use_checkpoint": True,
        "ad_checkpoint": checkpoint,
        "ad_use_vae": True,
        "ad_vae": "None",
    }
    txt2img(webui, script_values={"ADetailer": [True, False, tab]})
    assert calls == [{"sd_model_checkpoint": checkpoint}, {"sd_model_checkpoint": user}]
    assert "separate VAE is not used" in capsys.readouterr().out


def test_a_failure_with_skip_img2img_keeps_the_init_image(webui, faces_photo, monkeypatch):
    from adetailer_webui import detail

    init, _ = faces_photo

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(detail, "detect_and_mask", broken)
    processed = webui.img2img(
        init, width=768, height=512, script_values={"ADetailer": [True, True, FACE_TAB]}
    )
    assert not ad_changes(init, processed.images[0]).any()


def test_a_crafted_model_file_is_refused_in_one_line(webui, generates_faces, tmp_path, capsys):
    """The refusal names the file and the global, with no traceback; the other tab still runs."""
    target = tmp_path / "pwned"
    crafted = save_crafted_model(webui.models_path / "adetailer" / "crafted.pt", target)
    start = calls_so_far()
    tabs = [{"ad_model": "crafted.pt"}, FACE_TAB]
    processed = txt2img(webui, script_values={"ADetailer": [True, False, *tabs]})
    assert len(inner_calls(start)) == 2  # the second tab ran (two faces)
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if "crafted.pt" in line]
    assert "1st tab skipped" in line
    assert f"refused to load {crafted}: it names posix.system, which is not allowed" in line
    assert "Traceback" not in err
    assert not target.exists()
    assert "crafted.pt" in infotext_params(processed)["ADetailer warnings"]
