"""Checks that the fake web UI behaves like A1111 1.10 where extensions can tell the difference.

Each test names the behaviour of the reference (tests/../a1111_api.md) it pins down; a fake that
drifts from the real host fails here before it hides a bug in the extension.
"""

from __future__ import annotations

import collections
import copy
import os
import sys
import types
from pathlib import Path

import gradio as gr
import harness
import numpy as np
import pytest
import torch
from fastapi import HTTPException
from modules import (
    devices,
    errors,
    extensions,
    images,
    infotext_utils,
    masking,
    processing,
    safe,
    script_callbacks,
    scripts,
    sd_models,
    sd_samplers,
    sd_samplers_fake,
    sd_schedulers,
    sd_vae,
    shared,
)
from modules.ui_components import InputAccordion
from PIL import Image, ImageDraw

TXT2IMG_HOOKS = [
    "setup",
    "before_process",
    "process",
    "before_process_batch",
    "after_extra_networks_activate",
    "process_batch",
    "process_before_every_sampling",
    "post_sample",
    "postprocess_batch",
    "postprocess_batch_list",
    "postprocess_image",
    "postprocess_maskoverlay",
    "postprocess_image_after_composite",
    "postprocess",
]


def sample_calls(name: str | None = None) -> list:
    calls = harness.FakeWebUI.loaded_module("sample.py").calls
    return [entry for hook, entry in calls if hook == name] if name else calls


def hook_names() -> list[str]:
    return [hook for hook, _ in sample_calls()]


def noise_image(width: int = 600, height: int = 400, seed: int = 0) -> Image.Image:
    return Image.fromarray(
        np.random.RandomState(seed).randint(0, 256, (height, width, 3), dtype=np.uint8)
    )


def rect_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    return mask


def bare_p(**kwargs) -> processing.StableDiffusionProcessingTxt2Img:
    """A p that went through the prompt/seed setup, enough for create_infotext."""
    p = processing.StableDiffusionProcessingTxt2Img(**kwargs)
    p.sampler_name, p.scheduler = "Euler a", "Automatic"
    p.setup_prompts()
    p.all_seeds = [100 + i for i in range(len(p.all_prompts))]
    p.all_subseeds = [200 + i for i in range(len(p.all_prompts))]
    return p


# --- loading ---------------------------------------------------------------------------------


def test_script_module_is_named_after_the_file_and_not_in_sys_modules(sample_webui):
    module = sample_webui.loaded_module("sample.py")
    extension_root = str(sample_webui.extensions_dir / "sample")

    assert module.__name__ == "sample.py"
    assert "sample.py" not in sys.modules
    assert module.SampleScript.__module__ == "sample.py"
    assert module.ROOT_ON_PATH_AT_IMPORT is True
    assert extension_root == module.EXTENSION_ROOT
    assert module.HELPER_VALUE == 42
    assert extension_root not in sys.path
    assert scripts.basedir() == str(harness.FAKE_ROOT)


def test_lazy_import_of_new_top_level_module_fails_after_loading(sample_webui):
    sample_webui.txt2img(prompt="x", seed=1)

    assert sample_calls("postprocess")[-1]["lazy_import"] == "failed"


def test_builtin_processing_scripts_load_after_extensions(sample_webui):
    files = [os.path.basename(entry.path) for entry in scripts.scripts_data]

    assert files == [
        "xyz_grid.py",
        "sample.py",
        "comments.py",
        "refiner.py",
        "sampler.py",
        "seed.py",
    ]
    assert [s.title() for s in scripts.scripts_txt2img.alwayson_scripts] == [
        "Sample",
        "Comments",
        "Refiner",
        "Sampler",
        "Seed",
    ]
    assert [s.title() for s in scripts.scripts_txt2img.ordered_scripts("setup")] == [
        "Sample",
        "Refiner",
        "Sampler",
        "Seed",
    ]


def test_every_script_subclass_in_the_module_namespace_is_registered(webui_factory, tmp_path):
    webui = webui_factory()
    ext = tmp_path / "ext_src"
    (ext / "scripts").mkdir(parents=True)
    (ext / "scripts" / "b.py").write_text("from modules.scripts import Script, ScriptBuiltinUI\n")
    (ext / "scripts" / "a.py").write_text(
        "from modules import scripts\n\nclass A(scripts.Script):\n    def title(self):\n        return 'A'\n"
    )
    (ext / "scripts" / "sub").mkdir()
    (ext / "scripts" / "sub" / "c.py").write_text(
        "raise RuntimeError('sub-folders are not scanned')\n"
    )
    webui.install_extension(ext, "imports")
    webui.run_preload()
    webui.initialize()

    registered = [(os.path.basename(e.path), e.script_class.__name__) for e in scripts.scripts_data]

    assert ("a.py", "A") in registered
    assert ("b.py", "Script") in registered
    assert ("b.py", "ScriptBuiltinUI") in registered
    assert not any(r.message.startswith("Error loading script: c.py") for r in errors.reports)


def test_script_loading_errors_are_reported_and_loading_continues(webui_factory, tmp_path):
    webui = webui_factory()
    ext = tmp_path / "ext_src"
    (ext / "scripts").mkdir(parents=True)
    (ext / "scripts" / "a_broken.py").write_text("import definitely_not_a_module_xyz\n")
    (ext / "scripts" / "b_ok.py").write_text(
        "from modules import scripts\n\nclass B(scripts.Script):\n    def title(self):\n        return 'B'\n"
    )
    webui.install_extension(ext, "broken")
    webui.run_preload()
    webui.initialize()

    assert any(r.message == "Error loading script: a_broken.py" for r in errors.reports)
    assert any(e.script_class.__name__ == "B" for e in scripts.scripts_data)


def test_preload_adds_flags_without_the_extension_root_on_sys_path(webui_factory):
    webui = webui_factory()
    webui.install_extension(harness.SAMPLE_EXTENSION, "sample")
    cmd_opts = webui.run_preload(["--sample-flag", "--use-cpu", "ALL", "AdEtailer"])

    assert cmd_opts is shared.cmd_opts
    assert cmd_opts.sample_flag is True
    assert cmd_opts.sample_root_on_path is False
    assert cmd_opts.use_cpu == ["all", "adetailer"]
    assert cmd_opts.disable_safe_unpickle is False
    assert cmd_opts.lowvram is cmd_opts.medvram is cmd_opts.medvram_sdxl is False


def test_disabled_extension_is_neither_preloaded_nor_loaded(webui_factory):
    webui = webui_factory(config={"disabled_extensions": ["sample"]})
    webui.install_extension(harness.SAMPLE_EXTENSION, "sample")
    cmd_opts = webui.run_preload([])
    webui.initialize()

    assert not hasattr(cmd_opts, "sample_flag")
    assert [e.name for e in extensions.extensions] == ["sample"]
    assert extensions.active() == []
    assert not any(e.path.endswith("sample.py") for e in scripts.scripts_data)


def test_callback_names_follow_the_owning_extension(sample_webui):
    names = [c.name for c in script_callbacks.callback_map["callbacks_ui_settings"]]

    assert names == ["sample/sample.py/ui_settings"]
    assert (
        extensions.find_extension(
            str(sample_webui.extensions_dir / "sample" / "scripts" / "sample.py")
        ).name
        == "sample"
    )


def test_symlinked_extension_is_not_found_by_its_resolved_path(webui_factory):
    webui = webui_factory()
    webui.install_extension(harness.SAMPLE_EXTENSION, "sample", symlink=True)
    webui.launch()

    assert [c.name for c in script_callbacks.callback_map["callbacks_ui_settings"]] == [
        "base/sample.py/ui_settings"
    ]


def test_install_py_runs_in_its_own_process_and_records_pip(webui_factory):
    webui = webui_factory()
    webui.install_extension(harness.SAMPLE_EXTENSION, "sample")

    result = webui.run_install_py("sample", missing=["sample_missing_pkg"])
    skipped = webui.run_install_py(
        "sample", missing=["sample_missing_pkg"], env={"COMMANDLINE_ARGS": "--skip-install"}
    )

    assert result.returncode == 0, result.stderr
    assert "sample install on v1.10.1" in result.stdout
    assert [c["command"] for c in result.pip_calls] == ["install sample_missing_pkg==1.0"]
    assert skipped.pip_calls == []


# --- UI and API startup ----------------------------------------------------------------------


def test_startup_order_webui_with_api(sample_webui):
    names = hook_names()

    assert names[:2] == ["on_before_ui", "on_ui_settings"]
    assert names.count("ui") == 2 + 4  # both tabs, then twice per tab for the API defaults
    assert names[-1] == "on_app_started"
    assert sample_calls("on_app_started")[0]["demo"] is shared.demo


def test_startup_order_nowebui_runs_before_ui_after_the_ui(webui_factory):
    webui = webui_factory()
    webui.install_extension(harness.SAMPLE_EXTENSION, "sample")
    webui.launch(nowebui=True)
    names = hook_names()

    assert names.index("on_before_ui") > names.index("ui")
    assert names[-2:] == ["on_before_ui", "on_app_started"]
    assert sample_calls("on_app_started")[0]["demo"] is None


def test_before_ui_callbacks_run_in_reverse_and_exceptions_are_swallowed():
    script_callbacks.clear_callbacks()
    order = []

    def first():
        order.append("first")

    def broken():
        raise ValueError("boom")

    def last():
        order.append("last")

    for callback in (first, broken, last):
        script_callbacks.on_before_ui(callback)
    script_callbacks.before_ui_callback()
    script_callbacks.clear_callbacks()

    assert order == ["last", "first"]
    assert errors.reports[-1].message.startswith("Error executing callback before_ui")


def test_script_ui_slots_names_and_api_info(sample_webui):
    runner = scripts.scripts_txt2img
    sample = sample_webui.find_script(runner, "sample")
    comments = sample_webui.find_script(runner, "Comments")

    assert (sample.args_from, sample.args_to) == (13, 17)
    assert runner.inputs[sample.args_from : sample.args_to] == list(sample.controls)
    assert sample.name == "sample"
    assert comments.name is None
    assert comments.args_from == comments.args_to
    assert sample.api_info.name == "sample"
    assert sample.api_info.is_alwayson is True
    assert [a.label for a in sample.api_info.args] == ["Sample", "Sample strength", "Raise in", ""]
    assert sample.controls[0].custom_script_source == "sample.py"
    assert isinstance(sample.group, gr.Group)
    assert sample.elem_id("x") == "script_txt2img_sample_x"
    assert sample_webui.find_script(runner, "Seed").elem_id("seed") == "txt2img_seed"


def test_script_infotext_fields_are_collected_right_after_ui(webui_factory):
    webui = webui_factory()
    webui.install_extension(harness.SAMPLE_EXTENSION, "sample")
    webui.launch()
    runner = scripts.scripts_txt2img
    sample = webui.find_script(runner, "Sample")

    assert all(field in runner.infotext_fields for field in sample.infotext_fields)
    assert "Sample strength" in runner.paste_field_names
    paste_fields = infotext_utils.paste_fields["txt2img"]["fields"]
    assert all(isinstance(f, infotext_utils.PasteField) for f in paste_fields)


def test_api_startup_reruns_ui_on_the_same_script_instances(sample_webui):
    runner = scripts.scripts_txt2img
    sample = sample_webui.find_script(runner, "Sample")

    # Api.__init__ calls ui() again: attributes set in ui() now point at throw-away components.
    assert sample.infotext_fields[0][0] not in runner.inputs
    assert sample.controls[0] in runner.inputs


def test_api_default_args_are_the_components_initial_values(sample_webui):
    defaults = sample_webui.api_default_args["txt2img"]
    sample = sample_webui.find_script(scripts.scripts_txt2img, "Sample")

    assert defaults[0] == 0
    assert defaults[1:4] == [20, "DPM++ 2M", "Automatic"]
    assert defaults[sample.args_from : sample.args_to] == [False, 0.5, "", {"mode": "default"}]


def test_settings_page_rejects_float_option_without_component(webui_factory, tmp_path):
    webui = webui_factory()
    ext = tmp_path / "ext_src"
    (ext / "scripts").mkdir(parents=True)
    (ext / "scripts" / "opt.py").write_text(
        "from modules import script_callbacks, shared\n\n"
        "def on_ui_settings():\n"
        "    shared.opts.add_option('float_opt', shared.OptionInfo(0.5, 'x', section=('s', 'S')))\n\n"
        "script_callbacks.on_ui_settings(on_ui_settings)\n"
    )
    webui.install_extension(ext, "opt")
    webui.run_preload()
    webui.initialize()

    with pytest.raises(Exception, match="bad options item type"):
        webui.create_ui()


def test_settings_page_rejects_option_without_section(webui_factory, tmp_path):
    webui = webui_factory()
    ext = tmp_path / "ext_src"
    (ext / "scripts").mkdir(parents=True)
    (ext / "scripts" / "opt.py").write_text(
        "from modules import script_callbacks, shared\n\n"
        "def on_ui_settings():\n"
        "    shared.opts.add_option('no_section', shared.OptionInfo(True, 'x'))\n\n"
        "script_callbacks.on_ui_settings(on_ui_settings)\n"
    )
    webui.install_extension(ext, "opt")
    webui.run_preload()
    webui.initialize()

    with pytest.raises(TypeError):
        webui.create_ui()


def test_component_callbacks_see_elem_ids_while_a_runner_is_current(webui_factory, tmp_path):
    webui = webui_factory()
    ext = tmp_path / "ext_src"
    (ext / "scripts").mkdir(parents=True)
    (ext / "scripts" / "comp.py").write_text(
        "from modules import scripts\n\n"
        "seen = []\n\n"
        "class C(scripts.Script):\n"
        "    def __init__(self):\n"
        "        self.on_after_component(lambda c: seen.append(c.component.elem_id), elem_id='txt2img_generate')\n"
        "        self.on_after_component(lambda c: seen.append(c.component.elem_id), elem_id='img2img_generate')\n"
        "    def title(self):\n"
        "        return 'C'\n"
        "    def show(self, is_img2img):\n"
        "        return scripts.AlwaysVisible\n"
        "    def after_component(self, component, **kwargs):\n"
        "        if kwargs.get('elem_id') == 'txt2img_width':\n"
        "            seen.append(('kwargs', kwargs['label']))\n"
    )
    webui.install_extension(ext, "comp")
    webui.launch()

    assert webui.loaded_module("comp.py").seen == [
        "txt2img_generate",
        ("kwargs", "Width"),
        "img2img_generate",
    ]


def test_input_accordion_is_a_checkbox_context_manager():
    with gr.Blocks(), InputAccordion(True, label="Acc", elem_id="acc") as acc:
        inner = gr.Slider()

    assert isinstance(acc, gr.Checkbox)
    assert isinstance(acc.accordion, gr.Accordion)
    assert acc.value is True
    assert acc.elem_id == "acc-checkbox"
    assert acc.accordion.elem_id == "acc"
    ancestors = []
    block = inner.parent
    while block is not None:
        ancestors.append(block)
        block = block.parent
    assert acc.accordion in ancestors


# --- processing objects ----------------------------------------------------------------------


def test_fresh_p_has_dict_script_args_and_slicing_it_fails(sample_webui):
    p = processing.StableDiffusionProcessingTxt2Img(prompt="x")

    assert p.script_args == {}
    with pytest.raises(TypeError):
        p.script_args[0:2]

    p.scripts_value = scripts.scripts_txt2img
    scripts.scripts_txt2img.process(p)
    assert errors.reports[-1].message.startswith("Error running process:")
    assert isinstance(errors.reports[-1].exception, TypeError)


def test_processing_fields_defaults_and_properties():
    p = processing.StableDiffusionProcessingTxt2Img(sd_model="ignored")
    with pytest.raises(TypeError):
        processing.StableDiffusionProcessingTxt2Img(script_args=(1,))

    assert p.sd_model is shared.sd_model
    assert (p.steps, p.seed, p.cfg_scale, p.width, p.height, p.styles) == (
        50,
        -1,
        7.0,
        512,
        512,
        [],
    )
    assert (p.denoising_strength, p.hr_scale, p.enable_hr) == (0.75, 2.0, False)
    assert p.extra_generation_params == {}
    assert p.override_settings == {}
    assert p.comments == {}
    assert p.iteration == 0
    assert not hasattr(p, "batch_index")
    assert p.is_api is False
    assert p.scripts is None


def test_img2img_moves_mask_to_image_mask_and_reads_noise_multiplier(webui_factory):
    webui = webui_factory(config={"initial_noise_multiplier": 0.9})
    webui.run_preload()
    webui.initialize()
    mask = Image.new("L", (8, 8), 255)
    p = processing.StableDiffusionProcessingImg2Img(mask=mask)

    assert p.image_mask is mask
    assert p.mask is None
    assert p.initial_noise_multiplier == 0.9
    assert p.inpaint_full_res is True
    assert p.inpainting_fill == 0


def test_mask_blur_setter_ignores_floats_and_none():
    p = processing.StableDiffusionProcessingImg2Img(mask_blur=8.0)
    assert (p.mask_blur_x, p.mask_blur_y, p.mask_blur) == (4, 4, 4)

    p.mask_blur = 6
    assert (p.mask_blur_x, p.mask_blur_y) == (6, 6)
    p.mask_blur = None
    p.mask_blur = 2.0
    assert p.mask_blur == 6

    p.mask_blur_x = 3
    assert p.mask_blur is None


def test_cond_caches_are_class_level_lists_shared_by_instances(sample_webui):
    p1 = processing.StableDiffusionProcessingTxt2Img()
    p2 = processing.StableDiffusionProcessingImg2Img()

    assert p1.cached_c is p2.cached_c is processing.StableDiffusionProcessing.cached_c
    assert p1.cached_uc is p2.cached_uc
    assert p1.cached_hr_c is processing.StableDiffusionProcessingTxt2Img.cached_hr_c

    sample_webui.txt2img(prompt="first", seed=1)
    sample_webui.txt2img(prompt="second", seed=1)
    sample_webui.txt2img(prompt="second", seed=1)

    assert processing.StableDiffusionProcessing.cached_c[1] == ["second"]
    assert sd_samplers_fake.cond_calls == [[""], ["first"], ["second"]]


def test_setup_runs_once_when_both_scripts_and_args_are_set(sample_webui):
    runner = scripts.scripts_txt2img
    args = sample_webui.ui_script_args(
        "txt2img", {"Sampler": [33, "Euler", "Karras"], "Seed": [1234]}
    )
    setups = len(sample_calls("setup"))

    p = processing.StableDiffusionProcessingImg2Img(steps=5, sampler_name="DDIM", seed=7)
    p.scripts = runner
    assert len(sample_calls("setup")) == setups
    p.script_args = args

    assert len(sample_calls("setup")) == setups + 1
    assert (p.steps, p.sampler_name, p.scheduler, p.seed) == (33, "Euler", "Karras", 1234)

    p_copy = copy.copy(p)
    p_copy.scripts, p_copy.script_args = runner, args
    assert len(sample_calls("setup")) == setups + 1

    p_api = processing.StableDiffusionProcessingImg2Img(steps=5, sampler_name="DDIM", seed=7)
    p_api.is_api = True
    p_api.scripts, p_api.script_args = runner, args
    assert (p_api.steps, p_api.sampler_name, p_api.seed) == (5, "DDIM", 7)
    assert sample_calls("setup")[-1]["is_api"] is True


def test_processed_needs_a_complete_p(sample_webui):
    incomplete = types.SimpleNamespace(
        prompt="x", negative_prompt="", subseed_strength=0, comments={}
    )
    with pytest.raises(AttributeError):
        processing.Processed(incomplete, [], -1, "")

    p = processing.StableDiffusionProcessingTxt2Img(prompt="x", seed=3)
    processed = processing.Processed(p, [], p.seed, "")
    assert processed.images == []
    assert processed.seed == 3
    assert processed.all_prompts == ["x"]
    assert processed.extra_generation_params is p.extra_generation_params
    assert processed.version == "v1.10.1"


def test_get_fixed_seed_and_fix_seed():
    assert processing.get_fixed_seed(5) == 5
    assert processing.get_fixed_seed("12") == 12
    for value in (-1, "", None, "abc"):
        assert 0 <= processing.get_fixed_seed(value) < 4294967294

    p = processing.StableDiffusionProcessingTxt2Img(seed=-1, subseed=9)
    processing.fix_seed(p)
    assert p.seed != -1
    assert p.subseed == 9


# --- infotext --------------------------------------------------------------------------------


def test_create_infotext_order_override_lists_callables_and_quoting(webui_factory):
    webui_factory()
    p = bare_p(prompt="a cat", negative_prompt="ugly", batch_size=2)
    p.extra_generation_params.update(
        {
            "Steps": 99,
            "Per image": ["first", "second"],
            "Callable": lambda p, index, prompt_text, **kwargs: f"{prompt_text}#{index}",
            "Gone": None,
            "Flag": "Flag",
            "Quoted": "a, b: c",
            "Bool": True,
        }
    )

    text = processing.create_infotext(
        p, p.all_prompts, p.all_seeds, p.all_subseeds, position_in_batch=1
    )
    prompt_line, negative_line, params = text.split("\n")

    assert prompt_line == "a cat"
    assert negative_line == "Negative prompt: ugly"
    assert params.startswith(
        "Steps: 99, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7.0, Seed: 101, Size: 512x512"
    )
    assert "Per image: second" in params
    assert "Callable: a cat#1" in params
    assert "Gone" not in params
    assert ", Flag," in params
    assert 'Quoted: "a, b: c"' in params
    assert "Bool: True" in params
    assert params.endswith("Version: v1.10.1")


def test_quote_and_unquote():
    assert infotext_utils.quote("plain") == "plain"
    assert infotext_utils.quote("a, b") == '"a, b"'
    assert infotext_utils.quote('say "hi": ok') == '"say \\"hi\\": ok"'
    assert infotext_utils.quote(0.5) == 0.5
    assert infotext_utils.unquote('"a, b"') == "a, b"
    assert infotext_utils.unquote("no quotes") == "no quotes"


def test_parse_generation_parameters_all_strings_split_sizes_and_defaults():
    text = 'a dog\nwith hat\nNegative prompt: bad\nSteps: 20, Seed: -1, Size: 512x768, Hires resize: 1024x1536, My key: "x, y", Steps: 30, Mask blur: 4'
    params = infotext_utils.parse_generation_parameters(text)

    assert params["Prompt"] == "a dog\nwith hat"
    assert params["Negative prompt"] == "bad"
    assert params["Steps"] == "30"
    assert params["Seed"] == "-1"
    assert (params["Size-1"], params["Size-2"]) == ("512", "768")
    assert (params["Hires resize-1"], params["Hires resize-2"]) == ("1024", "1536")
    assert params["My key"] == "x, y"
    assert params["Mask blur"] == "4"
    assert params["Clip skip"] == "1"
    assert params["Schedule type"] == "Automatic"
    assert params["Masked area padding"] == 32
    assert params["RNG"] == "GPU"


def test_parameter_line_needs_three_pairs():
    params = infotext_utils.parse_generation_parameters("a cat\nSteps: 20, Seed: 1")

    assert params["Prompt"] == "a cat\nSteps: 20, Seed: 1"
    assert "Steps" not in params


def test_infotext_round_trip_through_parse(sample_webui):
    processed = sample_webui.txt2img(
        prompt="a, cat",
        negative_prompt="bad",
        seed=5,
        steps=12,
        sampler_name="Euler a",
        script_values={"Sample": [True, 0.25]},
    )
    params = infotext_utils.parse_generation_parameters(processed.infotexts[0])

    assert params["Prompt"] == "a, cat"
    assert params["Steps"] == "12"
    assert params["Sampler"] == "Euler a"
    assert params["Sample strength"] == "0.25"
    assert params["Sample enable"] == "True"


def test_paste_conversion_rules(sample_webui):
    values = sample_webui.paste_infotext(
        "x\nSteps: 30, Seed: 7, Sample enable: false, Sample strength: 0.3, Sample raise: process"
    )
    tab = sample_webui.tabs["txt2img"]
    sample = sample_webui.find_script(tab.runner, "Sample")
    steps, seed = tab.runner.inputs[1], tab.runner.inputs[7]
    enable, strength, raise_in = sample.controls[:3]

    assert values[enable] is True  # bool("false")
    assert (
        sample_webui.paste_infotext("x\nSteps: 30, Seed: 7, Sample enable: False")[enable] is False
    )
    assert values[steps] == 30.0
    assert isinstance(values[steps], float)
    assert values[seed] == 7.0
    assert isinstance(values[seed], float)
    assert values[strength] == 0.3
    assert values[raise_in] == "process"
    assert tab.components["prompt"] in values

    sample_webui.txt2img(prompt="x", component_values={steps: values[steps], seed: values[seed]})
    assert processing.sampler_calls[-1].steps == 30
    assert processing.sampler_calls[-1].seeds == [7]


def test_paste_keeps_components_unchanged_on_none_and_bad_values(sample_webui):
    tab = sample_webui.tabs["txt2img"]
    steps = tab.runner.inputs[1]
    updates = infotext_utils.paste_updates(
        "x\nSteps: many, Seed: 7, CFG scale: 5", tab.paste_fields
    )
    by_component = {
        field[0]: update for field, update in zip(tab.paste_fields, updates, strict=True)
    }

    assert by_component[steps] == gr.update()
    assert by_component[tab.components["cfg_scale"]] == gr.update(value=5.0)


def test_generation_parameters_copypaste_alias():
    assert sys.modules["modules.generation_parameters_copypaste"] is infotext_utils


# --- options and state -----------------------------------------------------------------------


def test_opts_data_is_only_the_config_file(webui_factory):
    webui = webui_factory(config={"samples_format": "jpg"}, checkpoints=["sd15.safetensors"])
    webui.install_extension(harness.SAMPLE_EXTENSION, "sample")
    webui.run_preload(["--skip-load-model-at-start"])
    webui.initialize()

    assert shared.opts.data == {"samples_format": "jpg"}
    assert shared.opts.samples_format == "jpg"
    assert shared.opts.jpeg_quality == 80
    with pytest.raises(AttributeError):
        _ = shared.opts.no_such_option

    webui.start()
    assert shared.opts.data["sample_option"] == 3
    assert "sd_model_checkpoint" not in shared.opts.data
    _ = shared.sd_model
    assert shared.opts.data["sd_model_checkpoint"] == sd_models.checkpoint_tiles()[0]


def test_option_info_chaining_and_sections():
    info = shared.OptionInfo(1, "label").info("more").needs_reload_ui().link("docs", "https://x")

    assert (
        info.comment_after
        == "<span class='info'>(more)</span> <span class='info'>(requires Reload UI)</span>"
    )
    assert info.comment_before == "[<a href='https://x' target='_blank'>docs</a>]"
    section = shared.options_section(("ad", "ADetailer", "sd"), {"k": info})
    assert section["k"].section == ("ad", "ADetailer")
    assert info.category_id == "sd"


def test_opts_set_add_option_and_restricted(webui_factory):
    webui_factory().run_preload()
    shared_init = sys.modules["modules.shared_init"]
    shared_init.initialize()

    shared.opts.add_option("my_opt", shared.OptionInfo(5, "x", section=("s", "S")))
    shared.opts.add_option(
        "hidden_opt",
        shared.OptionInfo(1, "x", component_args={"visible": False}, section=("s", "S")),
    )

    assert shared.opts.data["my_opt"] == 5
    assert shared.opts.set("my_opt", 6) is True
    assert shared.opts.set("my_opt", 6) is False
    assert shared.opts.set("hidden_opt", 2) is False
    assert shared.opts.hidden_opt == 1
    shared.opts.data["my_opt"] = 7
    shared.opts.add_option("my_opt", shared.OptionInfo(5, "x", section=("s", "S")))
    assert shared.opts.my_opt == 7


def test_override_settings_restore_only_keys_already_in_opts_data(webui_factory):
    webui = webui_factory(config={"eta_noise_seed_delta": 0})
    webui.launch(api=True)

    webui.txt2img(prompt="x", seed=1, override_settings_texts=["Clip skip: 2", "ENSD: 31337"])

    assert processing.sampler_calls[-1].clip_skip == 2
    assert processing.sampler_calls[-1].opts_in_effect == {
        "CLIP_stop_at_last_layers": 2,
        "eta_noise_seed_delta": 31337,
    }
    assert shared.opts.data["eta_noise_seed_delta"] == 0
    assert shared.opts.data["CLIP_stop_at_last_layers"] == 2


def test_checkpoint_override_is_dropped_unless_it_is_an_alias(sample_webui):
    loads = len(sd_models.model_loads)

    sample_webui.txt2img_api(
        {
            "prompt": "x",
            "seed": 1,
            "override_settings": {"sd_model_checkpoint": "missing.safetensors"},
        }
    )
    assert len(sd_models.model_loads) == loads
    assert processing.sampler_calls[-1].sd_model_checkpoint.startswith("sd15.safetensors")
    assert processing.sampler_calls[-1].override_settings == {}

    sample_webui.txt2img_api(
        {"prompt": "x", "seed": 1, "override_settings": {"sd_model_checkpoint": "sdxl_base"}}
    )
    assert len(sd_models.model_loads) == loads + 1
    assert processing.sampler_calls[-1].sd_model_is_sdxl is True
    assert shared.opts.data["sd_model_checkpoint"].startswith("sd15.safetensors")
    assert shared.sd_model.is_sdxl is True

    sample_webui.txt2img(prompt="x", seed=1)
    assert len(sd_models.model_loads) == loads + 2
    assert processing.sampler_calls[-1].sd_model_is_sdxl is False


def test_vae_override_loads_and_restores(webui_factory):
    webui = webui_factory(config={"sd_vae": "Automatic"}, vaes=["good.vae.safetensors"])
    webui.launch()

    webui.txt2img(prompt="x", seed=1, override_settings_texts=["VAE: good.vae.safetensors"])

    assert processing.sampler_calls[-1].sd_vae == "good.vae.safetensors"
    assert sd_vae.vae_loads[-2:] == [str(webui.models_path / "VAE" / "good.vae.safetensors"), None]
    assert sd_vae.loaded_vae_file is None


def test_state_job_counting_and_interrupt_flags(sample_webui):
    sample_webui.txt2img(prompt="x", seed=1, n_iter=2)
    post = sample_calls("postprocess")[-1]
    assert (post["job_count"], post["job_no"]) == (2, 2)
    assert sample_calls("process")[-1]["job_count"] == -1

    sample_webui.txt2img(prompt="x", seed=1, enable_hr=True)
    post = sample_calls("postprocess")[-1]
    assert (post["job_count"], post["job_no"]) == (2, 2)
    assert shared.state.job_count == 0

    shared.state.begin()
    shared.state.interrupt()
    shared.state.skip()
    assert shared.state.interrupted
    assert shared.state.skipped
    shared.state.begin()
    assert not shared.state.interrupted
    assert not shared.state.skipped
    assert shared.state.job_count == -1


def test_assign_current_image_converts_for_jpeg_previews(webui_factory):
    webui_factory(config={"live_previews_image_format": "jpeg"}).run_preload()
    sys.modules["modules.shared_init"].initialize()
    shared.state.assign_current_image(Image.new("RGBA", (4, 4)))

    assert shared.state.current_image.mode == "RGB"
    assert shared.state.id_live_preview == 1


# --- generation ------------------------------------------------------------------------------


def test_txt2img_hook_order_and_args_slices(sample_webui):
    processed = sample_webui.txt2img(
        prompt="a cat", seed=5, steps=10, script_values={"Sample": [True, 0.7]}
    )
    names = hook_names()
    start = names.index("setup")

    assert names[start:] == TXT2IMG_HOOKS
    assert all(
        entry["args"] == (True, 0.7, "", {"mode": "default"}) for _, entry in sample_calls()[start:]
    )
    assert sample_calls("process")[-1]["has_batch_index"] is False
    assert sample_calls("postprocess_image")[-1]["batch_index"] == 0
    kwargs = sample_calls("before_process_batch")[-1]["kwargs"]
    assert (sorted(kwargs), kwargs["batch_number"], kwargs["prompts"], kwargs["seeds"]) == (
        ["batch_number", "prompts", "seeds", "subseeds"],
        0,
        ["a cat"],
        [5],
    )
    assert processed.images[0].size == (512, 512)
    assert "Sample strength: 0.7" in processed.info


def test_txt2img_image_is_deterministic_and_depends_on_seed_and_prompt(sample_webui):
    a = np.array(sample_webui.txt2img(prompt="a", seed=1, width=256, height=192).images[0])
    b = np.array(sample_webui.txt2img(prompt="a", seed=1, width=256, height=192).images[0])
    c = np.array(sample_webui.txt2img(prompt="a", seed=2, width=256, height=192).images[0])
    d = np.array(sample_webui.txt2img(prompt="b", seed=1, width=256, height=192).images[0])

    assert a.shape == (192, 256, 3)
    assert (a == b).all()
    assert (a != c).any()
    assert (a != d).any()
    assert a.std() > 5


def test_hook_exceptions_are_swallowed_and_generation_continues(sample_webui):
    processed = sample_webui.txt2img(
        prompt="x", seed=1, script_values={"Sample": [True, 0.5, "process"]}
    )

    assert len(processed.images) == 1
    assert "postprocess" in hook_names()
    report = next(r for r in errors.reports if r.message.startswith("Error running process:"))
    assert report.message.endswith("sample.py")
    assert isinstance(report.exception, RuntimeError)


def test_only_scripts_overriding_a_hook_are_called(sample_webui):
    assert [s.title() for s in scripts.scripts_txt2img.ordered_scripts("process")] == [
        "Sample",
        "Comments",
    ]
    assert [s.title() for s in scripts.scripts_txt2img.ordered_scripts("postprocess_image")] == [
        "Sample"
    ]


def test_comments_script_strips_prompt_comments(sample_webui):
    sample_webui.txt2img(prompt="a cat # not this\nand a dog", seed=1)

    assert processing.sampler_calls[-1].prompts == ["a cat \nand a dog"]


def test_extra_network_tags_are_removed_before_sampling(sample_webui):
    sample_webui.txt2img(prompt="a cat <lora:thing:0.5>", seed=1)

    assert processing.sampler_calls[-1].prompts == ["a cat "]
    data = sample_calls("after_extra_networks_activate")[-1]["kwargs"]["extra_network_data"]
    assert data["lora"][0].items == ["thing", "0.5"]


def test_params_txt_is_written_for_the_first_batch(sample_webui):
    # Euler sets no schedule type while sampling; DPM++ 2M would differ from params.txt (written earlier).
    processed = sample_webui.txt2img(prompt="params", seed=11, sampler_name="Euler")

    assert (sample_webui.data_path / "params.txt").read_text(encoding="utf8") == processed.info


def test_no_prompt_history_skips_params_txt(webui_factory):
    webui = webui_factory(argv=["--no-prompt-history"])
    webui.launch()
    webui.txt2img(prompt="x", seed=1)

    assert not (webui.data_path / "params.txt").exists()


def test_batch_produces_grid_and_per_image_infotexts(sample_webui):
    processed = sample_webui.txt2img(prompt="x", seed=10, batch_size=2, width=128, height=128)

    assert processed.index_of_first_image == 1
    assert len(processed.images) == 3
    assert processed.images[0].size == (256, 128)
    assert processed.all_seeds == [10, 11]
    assert "Seed: 11" in processed.infotexts[2]
    assert [e["batch_index"] for e in sample_calls("postprocess_image")[-2:]] == [0, 1]


def test_samples_are_saved_with_infotext(sample_webui):
    processed = sample_webui.txt2img(prompt="save me", seed=42, width=64, height=64)
    saved = sorted(Path(shared.opts.outdir_txt2img_samples).rglob("*.png"))

    assert [p.name for p in saved] == ["00000-42.png"]
    geninfo, _ = images.read_info_from_image(Image.open(saved[0]))
    assert geninfo == processed.info


def test_save_image_filename_rules_and_jpeg_infotext(webui_factory, tmp_path):
    webui_factory(config={"save_to_dirs": False}).launch()
    image = Image.new("RGB", (16, 16), "red")

    first, _ = images.save_image(image, str(tmp_path / "out"), "", 7, "a cat", "png", info="text")
    second, _ = images.save_image(
        image, str(tmp_path / "out"), "", 7, "a cat", "png", info="text", suffix="-mask"
    )
    jpg, _ = images.save_image(image, str(tmp_path / "out"), "", 8, "dog", "jpg", info="jpeg info")

    assert os.path.basename(first) == "00000-7-a cat.png"
    assert os.path.basename(second) == "00001-7-a cat-mask.png"
    assert images.read_info_from_image(Image.open(jpg))[0] == "jpeg info"
    assert image.already_saved_as == jpg


def test_hires_fix_postprocess_image_gets_upscaled_image_with_first_pass_size(sample_webui):
    processed = sample_webui.txt2img(
        prompt="x",
        seed=3,
        width=256,
        height=128,
        enable_hr=True,
        hr_scale=2.0,
        hr_prompt="detailed, sharp",
        script_values={"Sample": [True]},
    )
    post = sample_calls("postprocess_image")[-1]

    assert post["size"] == (512, 256)
    assert (post["width"], post["height"]) == (256, 128)
    assert post["is_hr_pass"] is False
    assert [c.kind for c in processing.sampler_calls] == ["txt2img", "hires"]
    assert processing.sampler_calls[1].prompts == ["detailed, sharp"]
    assert [e["is_hr_pass"] for e in sample_calls("process_before_every_sampling")[-2:]] == [
        False,
        True,
    ]
    assert len(sample_calls("before_hr")) == 1
    assert processed.images[0].size == (512, 256)
    assert callable(processed.extra_generation_params["Hires prompt"])
    assert 'Hires prompt: "detailed, sharp"' in processed.info
    assert "Hires upscale: 2.0" in processed.info
    assert "Denoising strength: 0.7" in processed.info


def test_hires_fix_with_resize_and_named_upscaler(sample_webui):
    processed = sample_webui.txt2img(
        prompt="x",
        seed=3,
        width=256,
        height=256,
        enable_hr=True,
        hr_upscaler="Lanczos",
        hr_resize_x=512,
        hr_resize_y=384,
    )

    assert processed.images[0].size == (512, 384)
    assert "Hires resize: 512x384" in processed.info
    with pytest.raises(Exception, match="could not find upscaler named nope"):
        sample_webui.txt2img(prompt="x", seed=3, enable_hr=True, hr_upscaler="nope")


def test_face_restoration_marker(sample_webui):
    processed = sample_webui.txt2img_api(
        {"prompt": "x", "seed": 1, "restore_faces": True, "width": 64, "height": 64}
    )

    assert np.array(processed.images[0])[0, 0].tolist() == [255, 0, 255]
    assert "Face restoration: CodeFormer" in processed.info


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")
def test_nans_exception_hook(sample_webui):
    sd_samplers_fake.nan_calls.add(0)
    with pytest.raises(devices.NansException, match="Unet"):
        sample_webui.txt2img(prompt="x", seed=1)

    sd_samplers_fake.nan_calls.add(1)
    shared.cmd_opts.disable_nan_check = True
    try:
        sample_webui.txt2img(prompt="x", seed=1)
    finally:
        shared.cmd_opts.disable_nan_check = False
    assert processing.sampler_calls[1].nan is True


def test_interrupt_hook_stops_after_the_current_batch(sample_webui):
    sd_samplers_fake.interrupt_calls.add(1)
    processed = sample_webui.txt2img(prompt="x", seed=1, n_iter=3, width=64, height=64)

    assert len(processing.sampler_calls) == 2
    assert processing.sampler_calls[1].interrupted is True
    assert processed.index_of_first_image == 1
    assert len(processed.images) == 3


def test_skip_hook_only_skips_the_current_batch(sample_webui):
    sd_samplers_fake.skip_calls.add(0)
    processed = sample_webui.txt2img(prompt="x", seed=1, n_iter=2, width=64, height=64)

    assert [c.interrupted for c in processing.sampler_calls] == [True, False]
    assert len(processed.images) == 3


# --- img2img and masks -----------------------------------------------------------------------


@pytest.mark.parametrize("inpaint_full_res", [0, 1])
def test_inpaint_changes_only_pixels_inside_the_blurred_mask(sample_webui, inpaint_full_res):
    init = noise_image()
    mask = rect_mask(init.size, (100, 100, 199, 179))
    size = {"width": 600, "height": 400} if not inpaint_full_res else {"width": 512, "height": 512}

    processed = sample_webui.img2img(
        init, mask, inpaint_full_res=inpaint_full_res, inpaint_full_res_padding=32, seed=3, **size
    )
    out, orig = np.array(processed.images[0]).astype(int), np.array(init).astype(int)
    changed = np.abs(out - orig).sum(-1) > 0
    outside = np.ones(changed.shape, bool)
    outside[80:200, 80:220] = False

    assert processed.images[0].size == init.size
    assert not changed[outside].any()
    assert changed[110:170, 110:190].all()
    call = processing.sampler_calls[-1]
    assert (call.width, call.height) == (size["width"], size["height"])
    if inpaint_full_res:
        assert call.paste_to == (58, 48, 184, 184)
        assert sample_calls("postprocess_image")[-1]["size"] == (512, 512)
        assert "Inpaint area: Only masked, Masked area padding: 32" in processed.info
    else:
        assert call.paste_to is None
        assert call.mask_bbox == (100, 100, 200, 180)


def test_inpaint_only_masked_with_black_mask_falls_back_to_whole_image(sample_webui):
    init = noise_image(256, 256)
    processed = sample_webui.img2img(
        init, Image.new("L", init.size, 0), inpaint_full_res=1, width=256, height=256, seed=1
    )
    p = sample_webui.last_p

    assert p.inpaint_full_res is False
    assert p.image_mask is not None
    assert p.mask is None
    assert processing.sampler_calls[-1].mask_bbox is None
    assert 'Unable to perform "Inpaint Only mask"' in processed.comments
    assert (np.array(processed.images[0]) != np.array(init)).all(axis=-1).mean() > 0.99


def test_img2img_mask_blend_hooks_run_per_step_and_once_final(sample_webui):
    init = noise_image(128, 128)
    sample_webui.img2img(
        init,
        rect_mask(init.size, (10, 10, 60, 60)),
        width=128,
        height=128,
        steps=10,
        denoising_strength=0.5,
        seed=1,
    )
    blends = sample_calls("on_mask_blend")

    assert [b["is_final_blend"] for b in blends] == [False] * 6 + [True]
    assert processing.sampler_calls[-1].denoise_steps == 6


def test_img2img_steps_follow_denoising_strength(sample_webui):
    init = noise_image(64, 64)
    sample_webui.img2img(init, width=64, height=64, steps=28, denoising_strength=0.4, seed=1)
    assert (processing.sampler_calls[-1].steps, processing.sampler_calls[-1].denoise_steps) == (
        28,
        12,
    )

    shared.opts.data["img2img_fix_steps"] = True
    sample_webui.img2img(init, width=64, height=64, steps=28, denoising_strength=0.4, seed=1)
    assert (processing.sampler_calls[-1].steps, processing.sampler_calls[-1].denoise_steps) == (
        70,
        28,
    )


def test_inpainting_fill_and_mask_mode_infotext(sample_webui):
    init = noise_image(128, 128)
    processed = sample_webui.img2img(
        init,
        rect_mask(init.size, (0, 0, 60, 60)),
        inpainting_fill=0,
        inpainting_mask_invert=1,
        width=128,
        height=128,
        seed=1,
    )

    assert "Mask mode: Inpaint not masked" in processed.info
    assert "Masked content: fill" in processed.info
    assert processing.sampler_calls[-1].mask_bbox == (0, 0, 128, 128)


def test_img2img_api_uses_constructor_defaults(sample_webui):
    init = noise_image(128, 128)
    mask = rect_mask(init.size, (30, 30, 60, 60))
    processed = sample_webui.img2img_api(
        {
            "init_images": [harness.b64(init)],
            "mask": harness.b64(mask),
            "width": 128,
            "height": 128,
            "seed": 2,
            "mask_blur": 0,
        }
    )
    call = processing.sampler_calls[-1]

    assert call.inpaint_full_res is True
    assert call.paste_to is not None
    assert call.sampler_name == "Euler"
    assert call.steps == 50
    assert "Mask blur" not in processed.info


def test_create_binary_mask_rules():
    rgba = Image.new("RGBA", (4, 1), (0, 0, 0, 0))
    rgba.putpixel((1, 0), (0, 0, 0, 100))
    rgba.putpixel((2, 0), (0, 0, 0, 200))
    gray = Image.new("L", (2, 1), 100)
    opaque = Image.new("RGBA", (1, 1), (10, 20, 30, 255))

    assert list(processing.create_binary_mask(rgba).getdata()) == [0, 0, 255, 0]
    assert list(processing.create_binary_mask(rgba, round=False).getdata()) == [0, 100, 200, 0]
    assert list(processing.create_binary_mask(gray).getdata()) == [100, 100]
    assert processing.create_binary_mask(opaque).getpixel((0, 0)) == Image.new(
        "RGB", (1, 1), (10, 20, 30)
    ).convert("L").getpixel((0, 0))


def test_crop_regions():
    mask = rect_mask((100, 80), (10, 20, 29, 39))

    assert masking.get_crop_region_v2(mask) == (10, 20, 30, 40)
    assert masking.get_crop_region_v2(mask, 15) == (0, 5, 45, 55)
    assert masking.get_crop_region_v2(Image.new("L", (10, 10))) is None
    assert masking.get_crop_region(Image.new("L", (10, 10)), 2) == (8, 8, 2, 2)
    assert masking.expand_crop_region((10, 20, 30, 40), 512, 256, 100, 80) == (0, 20, 40, 40)
    assert masking.expand_crop_region((70, 10, 100, 20), 1, 1, 100, 80) == (70, 0, 100, 30)


def test_resize_image_modes():
    gray = Image.new("L", (40, 20), 128)

    assert images.resize_image(0, gray, 10, 10).mode == "L"
    assert images.resize_image(1, gray, 10, 10).mode == "RGB"
    assert images.resize_image(2, gray, 30, 30).mode == "RGB"
    filled = np.array(images.resize_image(2, Image.new("RGB", (40, 20), (200, 0, 0)), 40, 40))
    assert (filled[:, :, 0] > 150).all()


def test_apply_overlay_uncrops_to_the_overlay_size():
    overlay = Image.new("RGBA", (100, 80), (0, 0, 255, 255))
    ImageDraw.Draw(overlay).rectangle((20, 20, 39, 39), fill=(0, 0, 0, 0))
    composed, denoised = processing.apply_overlay(
        Image.new("RGB", (64, 64), "red"), (20, 20, 20, 20), overlay
    )

    assert composed.size == (100, 80)
    assert composed.getpixel((30, 30)) == (255, 0, 0)
    assert composed.getpixel((5, 5)) == (0, 0, 255)
    assert denoised.mode == "RGBA"
    plain = Image.new("RGB", (4, 4))
    same, copied = processing.apply_overlay(plain, None, None)
    assert same is plain
    assert copied is not plain


# --- API -------------------------------------------------------------------------------------


def test_api_alwayson_args_lookup_and_defaults(sample_webui):
    sample_webui.txt2img_api(
        {"prompt": "x", "seed": 1, "alwayson_scripts": {"SAMPLE": {"args": [True]}}}
    )
    process = sample_calls("process")[-1]

    assert process["args"] == (True, 0.5, "", {"mode": "default"})
    assert process["is_api"] is True
    assert isinstance(process["p"].script_args, tuple)
    assert processing.sampler_calls[-1].sampler_name == "Euler"
    assert processing.sampler_calls[-1].steps == 50

    sample_webui.txt2img_api(
        {
            "prompt": "x",
            "seed": 1,
            "alwayson_scripts": {"sample": {"args": [{"enable": True}, 0.1, "", {}, "dropped"]}},
        }
    )
    assert sample_calls("process")[-1]["args"] == ({"enable": True}, 0.1, "", {})

    sample_webui.txt2img_api({"prompt": "x", "seed": 1, "alwayson_scripts": {"sample": {}}})
    assert sample_calls("process")[-1]["args"] == (False, 0.5, "", {"mode": "default"})


def test_api_rejects_unknown_and_selectable_alwayson_scripts(sample_webui):
    with pytest.raises(HTTPException) as unknown:
        sample_webui.txt2img_api({"prompt": "x", "alwayson_scripts": {"nope": {"args": []}}})
    with pytest.raises(HTTPException) as selectable:
        sample_webui.txt2img_api({"prompt": "x", "alwayson_scripts": {"x/y/z plot": {"args": []}}})

    assert (unknown.value.status_code, unknown.value.detail) == (422, "Script 'nope' not found")
    assert selectable.value.status_code == 422


def test_api_unknown_sampler_falls_back_to_the_default_sampler(sample_webui):
    sample_webui.txt2img_api({"prompt": "x", "seed": 1, "steps": 2, "sampler_name": "Nope"})

    assert processing.sampler_calls[-1].sampler_name == "DPM++ 2M"


def test_api_legacy_sampler_name_is_split(sample_webui):
    sample_webui.txt2img_api(
        {"prompt": "x", "seed": 1, "sampler_name": "DPM++ 2M Karras", "steps": 5}
    )

    assert processing.sampler_calls[-1].sampler_name == "DPM++ 2M"
    assert processing.sampler_calls[-1].scheduler == "Automatic"


def test_api_selectable_script_gets_list_args(sample_webui):
    xyz = sample_webui.find_script(scripts.scripts_txt2img, "X/Y/Z plot")
    args = list(sample_webui.api_default_args["txt2img"][xyz.args_from : xyz.args_to])
    # API defaults hold the dropdowns' labels, not indexes; a client must send indexes.
    args[0], args[1], args[3], args[6] = 4, "3, 6", 0, 0  # 4 = "Steps" in the txt2img axis list
    processed = sample_webui.txt2img_api(
        {"prompt": "x", "seed": 1, "script_name": "x/y/z plot", "script_args": args}
    )

    assert [c.steps for c in processing.sampler_calls] == [3, 6]
    assert isinstance(sample_calls("process")[-1]["p"].script_args, list)
    assert len(processed.images) == 1


# --- samplers, models, safe ------------------------------------------------------------------


def test_sampler_and_scheduler_lists():
    assert [s.name for s in sd_samplers.all_samplers] == [
        "DPM++ 2M", "DPM++ SDE", "DPM++ 2M SDE", "DPM++ 2M SDE Heun", "DPM++ 2S a", "DPM++ 3M SDE",
        "Euler a", "Euler", "LMS", "Heun", "DPM2", "DPM2 a", "DPM fast", "DPM adaptive", "Restart",
        "DDIM", "DDIM CFG++", "PLMS", "UniPC", "LCM",
    ]  # fmt: skip
    assert [s.label for s in sd_schedulers.schedulers][:3] == ["Automatic", "Uniform", "Karras"]
    assert len(sd_schedulers.schedulers) == 12
    assert (
        sd_schedulers.schedulers_map["SGM Uniform"] is sd_schedulers.schedulers_map["sgm_uniform"]
    )
    assert "DPM++ 2M Karras" not in sd_samplers.all_samplers_map
    assert sd_samplers.samplers_map["k_euler_a"] == "Euler a"


def test_get_sampler_and_scheduler_splits_legacy_names():
    assert sd_samplers.get_sampler_and_scheduler("DPM++ 2M Karras", None) == (
        "DPM++ 2M",
        "Automatic",
    )
    assert sd_samplers.get_sampler_and_scheduler(
        "DPM++ 2M Karras", None, convert_automatic=False
    ) == ("DPM++ 2M", "Karras")
    assert sd_samplers.get_sampler_and_scheduler("Euler a", "Exponential") == (
        "Euler a",
        "Exponential",
    )
    assert sd_samplers.get_sampler_and_scheduler("Nope", None) == ("DPM++ 2M", "Automatic")

    p = processing.StableDiffusionProcessingTxt2Img(
        sampler_name="Euler SGMUniform", scheduler="Karras"
    )
    sd_samplers.fix_p_invalid_sampler_and_scheduler(p)
    assert (p.sampler_name, p.scheduler) == ("Euler", "SGM Uniform")


def test_checkpoint_listing_hashes_and_aliases(sample_webui):
    tiles = sd_models.checkpoint_tiles()
    info = sd_models.checkpoint_aliases["sd15"]

    assert tiles[0].startswith("sd15.safetensors [")
    assert tiles[1] == "sdxl_base.safetensors"
    assert sd_models.checkpoint_tiles(use_short=True)[1] == "sdxl_base"
    assert info.hash == sd_models.model_hash(info.filename)
    assert len(info.hash) == 8
    assert sd_models.model_hash(str(sample_webui.data_path / "missing")) == "NOFILE"
    assert sd_models.checkpoint_aliases[info.hash] is info
    assert shared.list_checkpoint_tiles() == tiles
    assert shared.sd_model.is_sdxl is False
    assert shared.sd_model.sd_checkpoint_info is info


def test_vae_items():
    import modules

    assert modules.shared_items.sd_vae_items() == ["Automatic", "None", *sd_vae.vae_dict]


def test_torch_load_is_restricted_while_the_webui_is_open(sample_webui, tmp_path):
    ok, bad, new_format = tmp_path / "ok.pt", tmp_path / "bad.pt", tmp_path / "new.pt"
    torch.save({"w": torch.ones(2)}, ok, _use_new_zipfile_serialization=False)
    torch.save({"c": collections.Counter(a=1)}, bad, _use_new_zipfile_serialization=False)
    torch.save({"w": torch.ones(2)}, new_format)

    assert torch.load is safe.load
    assert torch.equal(torch.load(ok)["w"], torch.ones(2))
    assert torch.load(bad, weights_only=False) is None
    assert errors.reports[-1].message.startswith(f"Error verifying pickled file from {bad}")
    # A1111 1.10's zip allow-list predates ".format_version"; files from a newer torch are refused.
    assert torch.load(new_format) is None

    shared.cmd_opts.disable_safe_unpickle = True
    try:
        assert torch.load(bad, weights_only=False)["c"]["a"] == 1
    finally:
        shared.cmd_opts.disable_safe_unpickle = False

    sample_webui.close()
    assert torch.load is safe.unsafe_torch_load


# --- X/Y/Z plot ------------------------------------------------------------------------------


def test_xyz_grid_module_is_found_by_its_file_name(sample_webui):
    entry = next(e for e in scripts.scripts_data if e.script_class.__module__ == "xyz_grid.py")
    xyz = entry.module

    assert entry.script_class().title() == "X/Y/Z plot"
    assert entry.basedir == str(harness.FAKE_ROOT)
    for name in (
        "AxisOption",
        "AxisOptionImg2Img",
        "AxisOptionTxt2Img",
        "axis_options",
        "format_value_add_label",
        "format_value",
        "format_nothing",
        "format_remove_path",
        "apply_field",
        "apply_override",
        "boolean_choice",
    ):
        assert hasattr(xyz, name), name
    option = xyz.AxisOption(
        "[ADetailer] thing",
        str,
        xyz.apply_field("ad_thing"),
        choices=xyz.boolean_choice(reverse=True),
    )
    assert option.choices() == ["False", "True"]
    assert option.format_value is xyz.format_value_add_label
    assert not hasattr(option, "is_img2img")


def test_xyz_plot_runs_each_cell_through_the_full_pipeline(sample_webui):
    xyz = sample_webui.find_script(scripts.scripts_txt2img, "X/Y/Z plot")
    labels = [o.label for o in xyz.current_axis_options]
    processed = sample_webui.txt2img(
        prompt="x",
        seed=4,
        width=64,
        height=64,
        selected_script="X/Y/Z plot",
        script_values={
            "Sample": [True],
            "X/Y/Z plot": {
                0: labels.index("Steps"),
                1: "2-4 (+2)",
                3: labels.index("CFG Scale"),
                4: "5, 9",
            },
        },
    )

    assert [(c.steps, c.cfg_scale) for c in processing.sampler_calls] == [
        (2, 5.0),
        (4, 5.0),
        (2, 9.0),
        (4, 9.0),
    ]
    assert len(sample_calls("process")) == 4
    assert len(processed.images) == 1
    assert processed.images[0].size == (128, 128)
    assert (
        'X Type: Steps, X Values: 2-4 (+2), Y Type: CFG Scale, Y Values: "5, 9"'
        in processed.infotexts[0]
    )


def test_xyz_override_axis_is_applied_per_cell(sample_webui):
    xyz = sample_webui.find_script(scripts.scripts_txt2img, "X/Y/Z plot")
    labels = [o.label for o in xyz.current_axis_options]
    sample_webui.txt2img(
        prompt="x",
        seed=4,
        width=64,
        height=64,
        selected_script="X/Y/Z plot",
        script_values={"X/Y/Z plot": {0: labels.index("Clip skip"), 1: "1, 2"}},
    )

    assert [c.clip_skip for c in processing.sampler_calls] == [1, 2]
    # The first cell's value stays in opts.data (key absent before); later cells restore to it.
    assert shared.opts.data["CLIP_stop_at_last_layers"] == 1
