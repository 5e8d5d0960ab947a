"""ControlNet in the detail pass, with test doubles of sd-webui-controlnet and Forge's ControlNet.

The doubles (tests/webui/controlnet_a1111, tests/webui/controlnet_forge) record, for every
`process` call of their "ControlNet" script, the p, the enabled units it saw and the control
input each unit resolved to; the detail passes are the calls whose p is ADetailer's inner p.
Both follow what the real ones did in a real A1111 1.10.1 + sd-webui-controlnet 1.1.455 and a
real Forge 2.0.1 (issue #13): both cut their input to the "only masked" crop; preprocessors that
need annotator weights fail offline.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.extension.conftest import REPO_ROOT, harness
from tests.extension.test_generation import calls_so_far, infotext_params, inner_calls, txt2img

CONTROLNET_A1111 = REPO_ROOT / "tests" / "webui" / "controlnet_a1111"
CONTROLNET_FORGE = REPO_ROOT / "tests" / "webui" / "controlnet_forge"
SAMPLE = REPO_ROOT / "tests" / "webui" / "sample_extension"
MODEL_FILES = (
    "control_v11p_sd15_openpose.pth",
    "control_v11p_sd15_inpaint.pth",
    "control_v11f1e_sd15_tile.pth",
    "control_v11p_sd15_lineart.pth",
    "controlnet_union_sdxl.safetensors",
    "control_v11p_sd15_canny.pth",  # a family ADetailer does not drive
)
FACE_TAB = {"ad_model": "mediapipe_face_full"}
WIDTH, HEIGHT = 512, 344  # smaller than the other tests' images: MediaPipe still finds both faces
VARIANTS = ("a1111", "forge", "reforge")


# --- web UIs -----------------------------------------------------------------------------------


def launch(
    tmp_path: Path,
    variant: str | None,
    monkeypatch: pytest.MonkeyPatch,
    *,
    config: dict[str, Any] | None = None,
    sample_as: str | None = None,
    checkpoint: str = "sd15.safetensors",
    annotators: bool = True,
) -> harness.FakeWebUI:
    """A web UI with ADetailer, the ControlNet of `variant` (None: none) and its model files.

    `annotators`: the preprocessors' weights are there (as after a first online run); without
    them, openpose, lineart, ... fail as they do offline.
    """
    monkeypatch.setenv("FAKE_FORGE_CONTROLNET", "reforge" if variant == "reforge" else "forge")
    webui = harness.FakeWebUI(
        tmp_path,
        checkpoints=[checkpoint],
        config={"samples_save": False, **(config or {})},  # PNG encoding is half the time
        forge=variant in ("forge", "reforge"),
    )
    for name in MODEL_FILES:
        webui.add_model_file(tmp_path / "models" / "ControlNet" / name)
    webui.install_extension(REPO_ROOT, "adetailer", symlink=True)
    if variant == "a1111":
        folder = webui.install_extension(CONTROLNET_A1111, "sd-webui-controlnet")
        weights = folder / "annotator" / "downloads"
    elif variant is not None:
        webui.install_extension(CONTROLNET_FORGE, "sd_forge_controlnet", builtin=True)
        weights = tmp_path / "models" / "ControlNetPreprocessor"
    if variant is not None and annotators:
        for folder_name, filename in ANNOTATOR_WEIGHTS:
            webui.add_model_file(weights / folder_name / filename)
    if sample_as:
        webui.install_extension(SAMPLE, sample_as)
    return webui.launch(api=True)


ANNOTATOR_WEIGHTS = (  # what the doubles' openpose and lineart preprocessors load
    ("openpose", "body_pose_model.pth"),
    ("openpose", "dw-ll_ucoco_384.onnx"),
    ("lineart", "sk_model.pth"),
    ("lineart", "sk_model2.pth"),
)


@pytest.fixture(params=VARIANTS)
def variant(request) -> str:
    return request.param


@pytest.fixture
def cn_webui(variant, tmp_path, monkeypatch, generates_faces) -> Iterator[harness.FakeWebUI]:
    with launch(tmp_path, variant, monkeypatch) as webui:
        yield webui


def model(stem: str) -> str:
    """A model's name as ControlNet lists it ("<stem> [<hash>]")."""
    import controlnet_ext

    return next(n for n in controlnet_ext.controlnet_model_names() if n.startswith(stem + " ["))


def recorder(webui) -> Any:
    """The double's script module (its `calls`)."""
    return webui.loaded_module("controlnet.py")


def unit_class(variant: str) -> type:
    import controlnet_ext

    if variant == "a1111":
        return controlnet_ext.a1111_external_code().ControlNetUnit
    return controlnet_ext.forge_modules()[0].ControlNetUnit


def user_unit(
    variant: str, stem: str = "control_v11p_sd15_openpose", module="openpose_full"
) -> Any:
    """The unit a user set up: openpose with their own pose image."""
    pose = np.full((64, 64, 3), 200, dtype=np.uint8)
    image: Any = {"image": pose, "mask": np.zeros_like(pose)} if variant == "reforge" else pose
    return unit_class(variant)(
        enabled=True, model=model(stem), module=module, weight=0.7, image=image
    )


def fields(unit: Any) -> dict[str, Any]:
    keys = ("enabled", "model", "module", "weight", "guidance_start", "guidance_end")
    return {key: getattr(unit, key) for key in keys}


def ranges(runner) -> list[tuple[str, int, int]]:
    return [(s.title(), s.args_from, s.args_to) for s in runner.alwayson_scripts]


def generate(webui, tab: dict[str, Any], controlnet: list[Any]) -> Any:
    return txt2img(
        webui,
        width=WIDTH,
        height=HEIGHT,
        script_values={"ADetailer": [True, False, {**FACE_TAB, **tab}], "ControlNet": controlnet},
    )


# --- what the detail pass receives -------------------------------------------------------------


MODES = {
    "none": ({"ad_controlnet_model": "None"}, None),
    "passthrough": ({"ad_controlnet_model": "Passthrough"}, None),
    "model, auto module": (
        {"ad_controlnet_model": "control_v11p_sd15_inpaint", "ad_controlnet_weight": 0.6},
        "inpaint_global_harmonious",
    ),
    "model and module": (
        {
            "ad_controlnet_model": "control_v11p_sd15_openpose",
            "ad_controlnet_module": "dw_openpose_full",
            "ad_controlnet_guidance_start": 0.1,
            "ad_controlnet_guidance_end": 0.8,
        },
        "dw_openpose_full",
    ),
    "tile": ({"ad_controlnet_model": "control_v11f1e_sd15_tile"}, "tile_resample"),
}


@pytest.mark.parametrize("mode", MODES)
def test_units_of_the_detail_pass_and_the_users_units_afterwards(cn_webui, variant, mode):
    webui = cn_webui
    tab, module = copy.deepcopy(MODES[mode])
    if tab["ad_controlnet_model"] not in ("None", "Passthrough"):
        tab["ad_controlnet_model"] = model(tab["ad_controlnet_model"])
    runner = webui.runner("txt2img")
    before = ranges(runner)
    mine = user_unit(variant)
    mine_before = fields(mine)
    seen = recorder(webui).calls
    start, start_samples = len(seen), calls_so_far()

    generate(webui, tab, [mine])

    passes = [c for c in seen[start:] if c.inner]
    inner_ps = [c.p for c in inner_calls(start_samples)]
    assert len(inner_ps) == 2  # one per face
    outer = [c for c in seen[start:] if not c.inner]
    assert outer
    assert [fields(u) for u in outer[0].units] == [mine_before]  # the generation had the user's
    if mode == "none":
        # the allow-list drops ControlNet (its units would be off otherwise, see below)
        assert passes == []
    elif mode == "passthrough":
        assert [c.p for c in passes] == inner_ps
        for call in passes:
            assert [fields(u) for u in call.units] == [mine_before]
    else:
        assert [c.p for c in passes] == inner_ps
        for call in passes:
            assert len(call.units) == 1
            unit = call.units[0]
            assert unit.enabled is True
            assert unit.model == tab["ad_controlnet_model"]
            assert unit.module == module
            assert unit.weight == pytest.approx(tab.get("ad_controlnet_weight", 1.0))
            assert unit.guidance_start == pytest.approx(tab.get("ad_controlnet_guidance_start", 0))
            assert unit.guidance_end == pytest.approx(tab.get("ad_controlnet_guidance_end", 1))
            assert unit.pixel_perfect is True
            assert unit.control_mode.value == "Balanced"
            check_input(variant, call, inpaint="inpaint" in module)

    if variant == "a1111":  # ControlNet's batch hijack is bypassed in the detail pass
        hijacked = recorder(webui).hijack_calls
        assert hijacked
        assert not any(getattr(p, "_ad_inner", False) for p in hijacked)
    else:  # Forge returns the user's detected map once, as without ADetailer
        assert len(outer[0].p.extra_result_images) == 1
    # the user's unit and the runner are as they were, and the next generation sees them
    assert fields(mine) == mine_before
    assert ranges(runner) == before
    start = len(seen)
    txt2img(webui, width=WIDTH, height=HEIGHT, script_values={"ControlNet": [mine]})
    assert [[fields(u) for u in c.units] for c in seen[start:]] == [[mine_before]]
    assert_no_controlnet_errors()


def check_input(variant: str, call: Any, *, inpaint: bool) -> None:
    """The control input is the detail pass's own crop, never the whole picture (the original's
    #36). A1111: no image (ControlNet takes the pass's own); Forge: the pass's whole image in the
    format that Forge reads. Both ControlNets cut it to the crop (a crop handed in would be cut
    again)."""
    unit, p = call.units[0], call.p
    whole = np.asarray(p.init_images[0].convert("RGB"))
    if variant == "a1111":
        assert unit.image is None
    elif variant == "forge":
        np.testing.assert_array_equal(unit.image, whole)
    else:
        np.testing.assert_array_equal(unit.image["image"], whole)
    control = call.images[0]
    crop = pass_crop(p)
    assert control.shape[:2] == crop.shape[:2] == (p.height, p.width)
    assert np.abs(control[:, :, :3].astype(int) - crop.astype(int)).max() <= 1
    mask = control[:, :, 3] if variant == "a1111" and inpaint else None
    if variant != "a1111":
        mask = call.masks[0][:, :, 0] if call.masks[0] is not None else None
    if not inpaint:
        assert mask is None
        return
    # the detection's mask, cut the same way: what the inpaint preprocessor redraws
    x, y, w, h = p.paste_to
    expected = np.asarray(
        p.image_mask.convert("L").crop((x, y, x + w, y + h)).resize((p.width, p.height))
    )
    assert mask is not None
    assert ((mask > 127) != (expected > 127)).mean() < 0.03


def pass_crop(p: Any) -> np.ndarray:
    """What the detail pass redraws: the fake's latents are its cropped, resized init image."""
    latent = p.init_latent[0].permute(1, 2, 0).numpy()
    return ((latent + 1) * 127.5).round().clip(0, 255).astype(np.uint8)


def assert_no_controlnet_errors() -> None:
    from modules import errors

    assert [r.message for r in errors.reports] == []


@pytest.mark.parametrize("variant", ["a1111", "forge"])
def test_none_turns_the_users_units_off_when_controlnet_stays_in_the_pass(
    tmp_path, monkeypatch, generates_faces, variant
):
    with launch(
        tmp_path, variant, monkeypatch, config={"ad_only_selected_scripts": False}
    ) as webui:
        mine = user_unit(variant)
        seen = recorder(webui).calls
        generate(webui, {"ad_controlnet_model": "None"}, [mine])
        passes = [c for c in seen if c.inner]
        assert len(passes) == 2
        assert all(c.units == [] for c in passes)
        assert mine.enabled is True  # a disabled copy went to the pass, not the user's unit
        assert_no_controlnet_errors()


def test_api_units_are_dicts_and_stay_untouched(tmp_path, monkeypatch, generates_faces):
    from PIL import Image

    with launch(
        tmp_path, "a1111", monkeypatch, config={"ad_only_selected_scripts": False}
    ) as webui:
        sent = {
            "enabled": True,
            "model": model("control_v11p_sd15_openpose"),
            "module": "openpose_full",
            "image": harness.b64(Image.new("RGB", (64, 64), "gray")),
        }
        seen = recorder(webui).calls
        webui.txt2img_api(
            {
                "prompt": "a photo",
                "width": WIDTH,
                "height": HEIGHT,
                "alwayson_scripts": {
                    "ADetailer": {"args": [{**FACE_TAB, "ad_controlnet_model": "None"}]},
                    "ControlNet": {"args": [copy.deepcopy(sent)]},
                },
            }
        )
        passes = [c for c in seen if c.inner]
        assert len(passes) == 2
        assert all(c.units == [] for c in passes)
        # the generation, and its re-arming after the detail passes, had the unit
        assert [[u.enabled for u in c.units] for c in seen if not c.inner] == [[True], [True]]
        cn = webui.find_script(webui.runner("txt2img"), "ControlNet")
        assert webui.last_p.script_args[cn.args_from] == sent  # still the caller's dict, enabled


def test_a_changed_unit_count_moves_only_the_detail_passs_script_copies(
    tmp_path, monkeypatch, generates_faces
):
    """sd-webui-controlnet resizes its slot to `control_net_unit_count` and shifts later scripts."""
    from modules import shared

    config = {"ad_script_names": "sample"}
    with launch(tmp_path, "a1111", monkeypatch, config=config, sample_as="zz-sample") as webui:
        runner = webui.runner("txt2img")
        before = ranges(runner)
        shared.opts.data["control_net_unit_count"] = 2  # the UI was built with 3 slots
        sample = webui.loaded_module("sample.py")
        seen = recorder(webui).calls
        generate(
            webui,
            {"ad_controlnet_model": model("control_v11f1e_sd15_tile")},
            [user_unit("a1111")],
        )
        passes = [c for c in seen if c.inner]
        assert len(passes) == 2
        assert [[u.module for u in c.units] for c in passes] == [["tile_resample"]] * 2
        inner_sample = [
            e
            for name, e in sample.calls
            if name == "process" and getattr(e["p"], "_ad_inner", False)
        ]
        assert len(inner_sample) == 2
        for entry in inner_sample:  # the sample script still gets its own arguments
            assert entry["args"][1:3] == (0.5, "")
        assert ranges(runner) == before
        assert_no_controlnet_errors()


def test_forge_keeps_the_other_allowed_scripts_in_the_detail_pass(
    tmp_path, monkeypatch, generates_faces
):
    config = {"ad_script_names": "sample"}
    with launch(tmp_path, "forge", monkeypatch, config=config, sample_as="sample") as webui:
        start = calls_so_far()
        generate(webui, {"ad_controlnet_model": model("control_v11p_sd15_openpose")}, [])
        inner = inner_calls(start)
        assert len(inner) == 2
        for call in inner:
            assert {"ControlNet", "Sample"} <= set(call.alwayson_scripts or [])
        passes = [c for c in recorder(webui).calls if c.inner]
        assert [[u.module for u in c.units] for c in passes] == [["openpose_full"]] * 2
        assert_no_controlnet_errors()


def test_a_union_model_needs_a_module(tmp_path, monkeypatch, generates_faces, capsys):
    with launch(tmp_path, "a1111", monkeypatch, checkpoint="sdxl.safetensors") as webui:
        union = model("controlnet_union_sdxl")
        seen = recorder(webui).calls
        generate(webui, {"ad_controlnet_model": union}, [])
        assert all(c.units == [] for c in seen if c.inner)
        assert capsys.readouterr().err.count("needs a module") == 1  # once, not per face
        start = len(seen)
        generate(webui, {"ad_controlnet_model": union, "ad_controlnet_module": "canny"}, [])
        passes = [c for c in seen[start:] if c.inner]
        assert [[(u.model, u.module) for u in c.units] for c in passes] == [[(union, "canny")]] * 2
        start = len(seen)
        generate(webui, {"ad_controlnet_model": union, "ad_controlnet_module": "nope"}, [])
        assert [c for c in seen[start:] if c.inner] == []  # a wrong value skips the tab
        assert 'ad_controlnet_module="nope" is not allowed' in capsys.readouterr().err


# --- a ControlNet that fails in the detail pass -------------------------------------------------


@pytest.mark.parametrize("variant", ["a1111", "forge"])
def test_a_preprocessor_without_its_weights_leaves_the_tab_without_controlnet(
    tmp_path, monkeypatch, generates_faces, capsys, variant
):
    """Offline, openpose cannot fetch its annotator: one line, faces still redrawn, no traceback,
    and ControlNet works in the next generation."""
    with launch(tmp_path, variant, monkeypatch, annotators=False) as webui:
        seen = recorder(webui).calls
        start = calls_so_far()
        processed = generate(
            webui, {"ad_controlnet_model": model("control_v11p_sd15_openpose")}, []
        )
        assert len(inner_calls(start)) == 2  # both faces redrawn
        passes = [c for c in seen if c.inner]
        assert [c.units for c in passes] == [[], []]  # the 1st failed, the 2nd had no unit
        error = {  # how each host's annotator download failed offline
            "a1111": "URLError: <urlopen error [Errno -2] Name or service not known>",
            "forge": "ConnectionError: HTTPSConnectionPool(host='huggingface.co', port=443)",
        }[variant]
        line = f"ADetailer 1st tab: ControlNet preprocessor 'openpose_full' could not run ({error}"
        err = capsys.readouterr().err
        assert err.count(line) == 1  # once, not per face
        assert err.count("; the detail passes run without ControlNet.") == 1
        # Forge's error runs past 200 characters (as in a real Forge 2.0.1): cut at a word
        assert (" …); the detail passes" in err) == (variant == "forge")
        warnings = infotext_params(processed)["ADetailer warnings"]
        assert line.removeprefix("ADetailer 1st tab: ") in warnings
        assert_no_controlnet_errors()  # no traceback: not ours, not the web UI's

        start = len(seen)
        tile = model("control_v11f1e_sd15_tile")
        generate(webui, {"ad_controlnet_model": tile}, [])
        passes = [c for c in seen[start:] if c.inner]
        assert [[(u.model, u.module) for u in c.units] for c in passes] == [
            [(tile, "tile_resample")]
        ] * 2
        assert "could not run" not in capsys.readouterr().err
        assert_no_controlnet_errors()


def test_a_controlnet_failure_elsewhere_names_model_and_preprocessor(
    tmp_path, monkeypatch, generates_faces, capsys
):
    """sd-webui-controlnet refuses an SDXL model on an SD1 checkpoint (by the model's name)."""
    with launch(tmp_path, "a1111", monkeypatch) as webui:
        union = model("controlnet_union_sdxl")
        start = calls_so_far()
        generate(webui, {"ad_controlnet_model": union, "ad_controlnet_module": "canny"}, [])
        assert len(inner_calls(start)) == 2
        err = capsys.readouterr().err
        assert err.count("ADetailer 1st tab: ControlNet failed (Exception: ControlNet model") == 1
        assert f"model '{union}', preprocessor 'canny'); the detail passes run without" in err
        assert_no_controlnet_errors()


def test_a_users_failing_unit_in_passthrough_is_reported_once(
    tmp_path, monkeypatch, generates_faces, capsys
):
    with launch(tmp_path, "forge", monkeypatch, annotators=False) as webui:
        inside = reports_inside_detail_passes(monkeypatch)
        mine = user_unit("forge", "control_v11p_sd15_lineart", "lineart_realistic")
        generate(webui, {"ad_controlnet_model": "Passthrough"}, [mine])
        err = capsys.readouterr().err
        assert err.count("ControlNet preprocessor 'lineart_realistic' could not run") == 1
        # the generation's own pass fails in the web UI's hands, as it would without ADetailer;
        # the detail passes add no traceback to that
        assert inside == []
        assert mine.enabled is True


def reports_inside_detail_passes(monkeypatch) -> list[str]:
    """The web UI's error reports made while a detail pass runs (filled as they happen)."""
    from modules import errors

    inside: list[str] = []
    report = errors.report

    def recording(message: str, *, exc_info: bool = False) -> None:
        if any(frame.function == "run_inner_pass" for frame in inspect.stack()):
            inside.append(message)
        report(message, exc_info=exc_info)

    monkeypatch.setattr(errors, "report", recording)
    return inside


def test_the_controlnet_model_is_loaded_once_per_generation(tmp_path, monkeypatch, generates_faces):
    """sd-webui-controlnet empties its model cache whenever its script object's model hash is not
    the checkpoint's; each detail pass runs a copy of a script object that never ran a unit."""
    with launch(tmp_path, "a1111", monkeypatch) as webui:
        loads = recorder(webui).model_loads
        tile = model("control_v11f1e_sd15_tile")
        generate(webui, {"ad_controlnet_model": tile}, [])
        assert loads == [tile]  # two faces, one load
        script = webui.find_script(webui.runner("txt2img"), "ControlNet")
        assert script.latest_model_hash == ""  # the user's script object: untouched


# --- names, choices, UI ------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["a1111", "forge"])
def test_model_and_module_choices(tmp_path, monkeypatch, variant):
    from modules import processing, shared

    import controlnet_ext
    from adetailer_webui import host, ui

    with launch(tmp_path, variant, monkeypatch) as webui:
        if variant == "a1111":
            assert hasattr(processing, "__controlnet_original_process_images_inner")
        expected = [
            model(stem)
            for stem in (
                "control_v11f1e_sd15_tile",
                "control_v11p_sd15_inpaint",
                "control_v11p_sd15_lineart",
                "control_v11p_sd15_openpose",
                "controlnet_union_sdxl",
            )
        ]
        assert controlnet_ext.controlnet_model_names() == expected  # canny is left out
        axis = next(
            o
            for o in webui.loaded_module("xyz_grid.py").axis_options
            if o.label == "[ADetailer] ControlNet model 1st"
        )
        assert axis.choices() == ["None", "Passthrough", *expected]
        dropdown = ui_components(webui)["script_txt2img_adetailer_ad_controlnet_model"]
        assert ui._dropdown_choices(dropdown) == ["None", "Passthrough", *expected]
        assert dropdown.interactive is not False
        assert "script_txt2img_adetailer_ad_controlnet_missing" not in ui_components(webui)
        inpaint = controlnet_ext.module_choices(model("control_v11p_sd15_inpaint"))
        assert inpaint[0] == "inpaint_global_harmonious"  # Forge would list inpaint_only+lama first
        assert set(inpaint) == {"inpaint_global_harmonious", "inpaint_only", "inpaint_only+lama"}
        assert controlnet_ext.default_module(model("controlnet_union_sdxl")) is None
        choices = host.choices()
        stems = [name.rsplit(" [", 1)[0] for name in expected]
        assert list(choices.controlnet_models) == [*expected, *stems]  # a stem names a model too
        assert "openpose_full" in choices.controlnet_modules
        assert shared.opts.data.get("control_net_unit_count", 3) == 3
    if variant == "a1111":  # closing the web UI unloaded the scripts: the hijack is undone
        assert not hasattr(processing, "__controlnet_original_process_images_inner")


def ui_components(webui) -> dict[str, Any]:
    return {
        block.elem_id: block
        for block in webui.tabs["txt2img"].blocks.blocks.values()
        if getattr(block, "elem_id", None)
    }


def test_the_xyz_axis_sets_the_first_tabs_model(tmp_path, monkeypatch, generates_faces):
    from modules import processing

    with launch(tmp_path, "a1111", monkeypatch) as webui:
        option = next(
            o
            for o in webui.loaded_module("xyz_grid.py").axis_options
            if o.label == "[ADetailer] ControlNet model 1st"
        )
        tile = model("control_v11f1e_sd15_tile")
        cell = processing.StableDiffusionProcessingTxt2Img(
            prompt="a photo",
            width=WIDTH,
            height=HEIGHT,
            do_not_save_samples=True,
            do_not_save_grid=True,
        )
        option.apply(cell, option.type(tile), option.choices())
        cell.scripts = webui.runner("txt2img")
        cell.script_args = webui.ui_script_args("txt2img", {"ADetailer": [True, False, FACE_TAB]})
        processing.process_images(cell)
        passes = [c for c in recorder(webui).calls if c.inner]
        assert [[(u.model, u.module) for u in c.units] for c in passes] == [
            [(tile, "tile_resample")]
        ] * 2


@pytest.mark.parametrize("variant", ["a1111", "forge"])
def test_a_model_named_by_its_file_stem(tmp_path, monkeypatch, generates_faces, variant):
    """API clients write "control_v11f1e_sd15_tile"; sd-webui-controlnet accepts it, Forge would
    not find it: the unit gets the name ControlNet lists."""
    with launch(tmp_path, variant, monkeypatch) as webui:
        seen = recorder(webui).calls
        processed = webui.txt2img_api(
            {
                "prompt": "a photo",
                "width": WIDTH,
                "height": HEIGHT,
                "alwayson_scripts": {
                    "ADetailer": {
                        "args": [{**FACE_TAB, "ad_controlnet_model": "control_v11f1e_sd15_tile"}]
                    }
                },
            }
        )
        passes = [c for c in seen if c.inner]
        tile = model("control_v11f1e_sd15_tile")
        assert [[(u.model, u.module) for u in c.units] for c in passes] == [
            [(tile, "tile_resample")]
        ] * 2
        params = infotext_params(processed)
        assert params["ADetailer ControlNet model"] == "control_v11f1e_sd15_tile"
        assert "ADetailer warnings" not in params
        assert_no_controlnet_errors()


def test_an_unknown_controlnet_model_is_the_tabs_error(tmp_path, monkeypatch, generates_faces):
    with launch(tmp_path, "forge", monkeypatch) as webui:
        start = calls_so_far()
        bad = {**FACE_TAB, "ad_controlnet_model": "control_v11p_sd15_canny [deadbeef]"}
        processed = txt2img(
            webui,
            width=WIDTH,
            height=HEIGHT,
            script_values={"ADetailer": [True, False, bad, FACE_TAB]},
        )
        assert len(inner_calls(start)) == 2  # the second tab ran, the first was skipped
        warnings = infotext_params(processed)["ADetailer warnings"]
        assert 'ad_controlnet_model="control_v11p_sd15_canny [deadbeef]" is not allowed' in warnings


def test_without_controlnet_the_ui_says_so_and_a_controlnet_tab_still_runs(
    webui, generates_faces, capsys
):
    from adetailer_webui import host, ui

    ids = ui_components(webui)
    assert "script_txt2img_adetailer_ad_controlnet_missing" in ids
    assert ids["script_txt2img_adetailer_ad_controlnet_model"].interactive is False
    assert ui._dropdown_choices(ids["script_txt2img_adetailer_ad_controlnet_model"]) == [
        "None",
        "Passthrough",
    ]
    assert host.choices().controlnet_models is None  # nothing to check names against
    start = calls_so_far()
    tab = {**FACE_TAB, "ad_controlnet_model": "control_v11p_sd15_openpose [12345678]"}
    processed = webui.txt2img_api(
        {
            "prompt": "a photo",
            "width": WIDTH,
            "height": HEIGHT,
            "alwayson_scripts": {"ADetailer": {"args": [tab]}},
        }
    )
    assert len(inner_calls(start)) == 2
    assert capsys.readouterr().err.count("ControlNet is not installed") == 1
    params = infotext_params(processed)
    assert params["ADetailer ControlNet model"] == "control_v11p_sd15_openpose [12345678]"
    assert "ADetailer warnings" not in params
