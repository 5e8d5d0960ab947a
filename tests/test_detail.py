"""The standalone detailer on tiny random-weight SD 1.x and SDXL models, offline, on the CPU.

The models are built from configs (tests/tiny_diffusion.py), saved as A1111 single files and as
diffusers folders, and loaded by the real loading code. Their pictures are noise, so the tests
check geometry, determinism and bookkeeping, never how a face looks.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("diffusers")
import torch

from adetailer.cli import main
from adetailer.crops import prepare_crop
from adetailer.pnginfo import format_infotext, parse_infotext, png_info
from tests.group_photo import compose
from tests.tiny_diffusion import save_single_file, tiny_pipeline

FACE = {"ad_model": "mediapipe_face_full"}
FAST = {"steps": 5}
SOURCE_INFOTEXT = format_infotext(
    "a photo of an astronaut",
    "blurry",
    {"Steps": 5, "Sampler": "Euler a", "CFG scale": 7, "Seed": 1234, "Size": "256x256"},
)


@pytest.fixture(autouse=True)
def one_thread():
    """The tiny models are far faster on one thread on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, object]:
    """The tiny pipelines and their files: A1111 single files, a .ckpt and diffusers folders."""
    root = tmp_path_factory.mktemp("checkpoints")
    sd1, sdxl = tiny_pipeline("sd1"), tiny_pipeline("sdxl")
    sd1_inpaint = tiny_pipeline("sd1", inpainting=True, seed=1)
    sd1.save_pretrained(root / "sd1-diffusers")
    sdxl.save_pretrained(root / "sdxl-diffusers")
    return {
        "sd1": sd1,
        "sdxl": sdxl,
        "sd1_inpaint": sd1_inpaint,
        "sd1.safetensors": save_single_file(sd1, root / "sd1.safetensors"),
        "sd1.ckpt": save_single_file(sd1, root / "sd1.ckpt"),
        "sdxl.safetensors": save_single_file(sdxl, root / "sdxl.safetensors"),
        "sd1-inpainting.safetensors": save_single_file(
            sd1_inpaint, root / "sd1-inpainting.safetensors"
        ),
        "sd1-diffusers": root / "sd1-diffusers",
        "sdxl-diffusers": root / "sdxl-diffusers",
    }


@pytest.fixture(scope="module")
def sd1_detailer(models, tmp_path_factory):
    from adetailer import Detailer
    from adetailer.registry import ModelRegistry

    registry = ModelRegistry(tmp_path_factory.mktemp("detectors"), allow_download=False)
    return Detailer.from_checkpoint(models["sd1.safetensors"], "cpu", registry=registry)


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut()).resize((256, 256), Image.LANCZOS)


@pytest.fixture(scope="module")
def three_faces() -> Image.Image:
    image, _ = compose((640, 256), (56, 56, 56), seed=1)
    return image


def _same_weights(a, b) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    keys = [k for k in sa if "position_ids" not in k]
    assert keys
    for key in keys:
        assert torch.equal(sa[key], sb[key]), key


# --- loading ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "original"),
    [
        ("sd1.safetensors", "sd1"),
        ("sd1.ckpt", "sd1"),
        ("sd1-diffusers", "sd1"),
        ("sdxl.safetensors", "sdxl"),
        ("sdxl-diffusers", "sdxl"),
        ("sd1-inpainting.safetensors", "sd1_inpaint"),
    ],
)
def test_checkpoints_load_offline_with_their_own_weights(models, name, original, no_network):
    from adetailer.diffusers_backend.checkpoints import load_checkpoint

    loaded = load_checkpoint(models[name], "cpu")
    source = models[original]
    assert loaded.family == ("SDXL" if original == "sdxl" else "SD 1.x")
    assert loaded.inpainting == (original == "sd1_inpaint")
    for part in ("unet", "vae", "text_encoder", "text_encoder_2"):
        if getattr(source, part, None) is not None:
            _same_weights(getattr(source, part), getattr(loaded.pipe, part))


def test_an_sd2_checkpoint_loads_with_its_penultimate_text_layer(tmp_path):
    from adetailer.diffusers_backend.checkpoints import load_checkpoint

    source = tiny_pipeline("sd2")
    loaded = load_checkpoint(save_single_file(source, tmp_path / "sd2.safetensors"), "cpu")
    assert loaded.family == "SD 2.x"
    assert loaded.pipe.tokenizer.pad_token_id == 0  # OpenCLIP pads with "!"
    assert loaded.pipe.unet.config.upcast_attention
    for part in ("unet", "vae", "text_encoder"):
        _same_weights(getattr(source, part), getattr(loaded.pipe, part))


def test_the_shipped_tokenizer_is_clips():
    from adetailer.diffusers_backend.checkpoints import clip_tokenizer

    tokenizer = clip_tokenizer()
    assert len(tokenizer) == 49408
    assert tokenizer("a photo of a cat")["input_ids"] == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert clip_tokenizer("!").pad_token_id == 0


class _RunsCode:
    def __reduce__(self):
        return (Path.touch, (Path(sys.prefix) / "never-created",))


def test_a_ckpt_that_would_run_code_is_refused(tmp_path):
    from adetailer.diffusers_backend.checkpoints import CheckpointError, load_checkpoint

    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": _RunsCode()}, path)
    with pytest.raises(CheckpointError, match="refused to load") as info:
        load_checkpoint(path, "cpu")
    assert "\n" not in str(info.value)
    assert not (Path(sys.prefix) / "never-created").exists()


def test_bad_checkpoints_exit_2_with_one_line(tmp_path, astronaut, capsys):
    from safetensors.torch import save_file

    image = tmp_path / "a.png"
    astronaut.save(image)
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    save_file({"down_blocks.0.weight": torch.zeros(2)}, str(tmp_path / "unet.safetensors"))
    for checkpoint, expected in [
        ("junk.safetensors", "not a readable safetensors file"),
        ("unet.safetensors", "not a Stable Diffusion checkpoint"),
        ("missing.safetensors", "no such file"),
        ("a.png", "expected .safetensors, .ckpt or a diffusers folder"),
    ]:
        code = main(["detail", str(image), "--checkpoint", str(tmp_path / checkpoint)])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2
        assert len(err) == 1
        assert expected in err[0]


def test_a_bad_sampler_or_option_exits_2_naming_the_allowed_values(
    models, astronaut, tmp_path, capsys
):
    image = tmp_path / "a.png"
    astronaut.save(image)
    ckpt = str(models["sd1.safetensors"])
    assert main(["detail", str(image), "--checkpoint", ckpt, "--sampler", "Eulr"]) == 2
    err = capsys.readouterr().err
    assert "sampler 'Eulr' is not allowed" in err
    assert '"Euler a"' in err
    assert main(["detail", str(image), "--checkpoint", ckpt, "--ad-confidence", "7"]) == 2
    assert "ad_confidence" in capsys.readouterr().err
    assert main(["detail", str(image), "--checkpoint", ckpt, "--tab", '{"ad_model": "nope"}']) == 2
    assert 'ad_model="nope" is not allowed' in capsys.readouterr().err


# --- prompts ----------------------------------------------------------------------------------


def test_attention_weights_change_the_embedding_and_long_prompts_are_chunked(sd1_detailer):
    from adetailer.diffusers_backend.conditioning import PromptEncoder

    encoder = PromptEncoder(sd1_detailer.model.pipe, is_sdxl=False)
    plain = encoder.encode("Emma Watson, Ana de Armas").embeds
    assert torch.equal(encoder.encode("(Emma Watson:1.0), Ana de Armas").embeds, plain)
    weighted = encoder.encode("(Emma Watson:0.8), Ana de Armas").embeds
    assert weighted.shape == plain.shape == (1, 77, 64)
    assert not torch.allclose(weighted, plain)
    long = encoder.encode(", ".join(["a red hat"] * 30))  # 120 tokens: two chunks
    assert long.embeds.shape == (1, 154, 64)
    assert encoder.encode("", chunks=2).embeds.shape == (1, 154, 64)


# --- the redraw -------------------------------------------------------------------------------


def test_only_the_padded_crop_changes(sd1_detailer, astronaut):
    out = sd1_detailer(astronaut, [FACE], prompt="a face", seed=3, **FAST)
    assert out.found == out.redrawn == 1
    job = out.tabs[0].done[0]
    crop = prepare_crop(job.detection.mask, blur=4, size=astronaut.size, padding=32)
    x1, y1, x2, y2 = crop.box
    before, after = np.asarray(astronaut), np.asarray(out.image)
    changed = (before != after).any(axis=2)
    assert changed[y1:y2, x1:x2].any()
    changed[y1:y2, x1:x2] = False
    assert not changed.any()
    inside = np.zeros_like(changed)
    inside[y1:y2, x1:x2] = True
    untouched = inside & (crop.overlay == 0)
    assert (before[untouched] == after[untouched]).all()


def test_the_infotext_parses_back_into_the_same_tabs(sd1_detailer, astronaut):
    from adetailer.args import TabArgs
    from adetailer.infotext import normalized, tabs_from_infotext

    tabs = [
        {**FACE, "ad_prompt": "(Emma Watson:0.8), Ana de Armas", "ad_denoising_strength": 0.5},
        {**FACE, "ad_confidence": 0.9, "ad_mask_blur": 2},
    ]
    out = sd1_detailer(astronaut, tabs, infotext=SOURCE_INFOTEXT, **FAST)
    buffer = io.BytesIO()
    out.image.save(buffer, "PNG", pnginfo=out.pnginfo())
    text = Image.open(io.BytesIO(buffer.getvalue())).info["parameters"]
    assert text == out.infotext  # pnginfo.detailed_infotext (A1111 reads it: tests/extension)
    info = parse_infotext(text)
    assert info.prompt == "a photo of an astronaut"
    assert info.negative_prompt == "blurry"
    assert info.params["Seed"] == "1234"  # the source's seed is the default
    assert info.params["Sampler"] == "Euler a"
    back = tabs_from_infotext(info.params)
    assert [normalized(back[i]) for i in sorted(back)] == [normalized(TabArgs(**t)) for t in tabs]


def test_an_images_sampler_without_a_diffusers_twin_falls_back_with_a_warning(
    sd1_detailer, astronaut
):
    text = SOURCE_INFOTEXT.replace("Sampler: Euler a", "Sampler: Restart")
    out = sd1_detailer(astronaut, [_small_tab()], infotext=text, **FAST)
    assert out.redrawn == 1
    assert any("'Restart' is not available here" in line for line in out.warnings)
    assert parse_infotext(out.infotext).params["Sampler"] == "DPM++ 2M"


def test_sep_and_skip_apply_per_detection(sd1_detailer, three_faces):
    tab = {**FACE, "ad_prompt": "left face [SEP] [SKIP] [SEP] right face"}
    out = sd1_detailer(
        three_faces,
        [
            {
                **tab,
                "ad_use_inpaint_width_height": True,
                "ad_inpaint_width": 64,
                "ad_inpaint_height": 64,
            }
        ],
        seed=5,
        sort_by="Position (left to right)",
        **FAST,
    )
    tab_out = out.tabs[0]
    assert len(tab_out.found) == 3
    assert [job.index for job in tab_out.done] == [0, 2]
    assert [job.prompt for job in tab_out.done] == ["left face", "right face"]
    middle = tab_out.masks[1]
    x1, y1, x2, y2 = (int(v) for v in middle.box)
    assert (np.asarray(three_faces)[y1:y2, x1:x2] == np.asarray(out.image)[y1:y2, x1:x2]).all()


def _small_tab(**changes):
    return {
        **FACE,
        "ad_use_inpaint_width_height": True,
        "ad_inpaint_width": 64,
        "ad_inpaint_height": 64,
        **changes,
    }


def test_batched_crops_draw_what_one_by_one_draws(sd1_detailer, three_faces):
    timings = sd1_detailer.timings
    calls = timings.calls
    batched = sd1_detailer(three_faces, [_small_tab()], seed=9, batch_size=4, **FAST)
    assert timings.calls - calls == 1  # three crops, one pipeline call
    calls = timings.calls
    single = sd1_detailer(three_faces, [_small_tab()], seed=9, batch_size=1, **FAST)
    assert timings.calls - calls == 3
    assert batched.redrawn == single.redrawn == 3
    difference = np.abs(
        np.asarray(batched.image, dtype=np.int16) - np.asarray(single.image, dtype=np.int16)
    )
    assert difference.max() <= 2  # float rounding of a batched matmul, nothing more


def test_overlapping_crops_run_in_order_each_on_the_last_result(sd1_detailer, astronaut):
    from adetailer.args import TabArgs
    from adetailer.detections import Detection, Detections
    from adetailer.diffusers_backend.redraw import RedrawSettings, TabRedraw
    from adetailer.inpaint import JobSettings, plan_jobs

    def square(x1, y1, x2, y2):
        mask = np.zeros((256, 256), dtype=bool)
        mask[y1:y2, x1:x2] = True
        return Detection((x1, y1, x2, y2), mask, 0.9, "face")

    args = TabArgs(**_small_tab(ad_inpaint_only_masked_padding=8))
    settings = RedrawSettings(steps=5, cfg_scale=7.0, sampler="Euler", schedule=None)
    detections = Detections(
        astronaut, (square(40, 40, 80, 80), square(70, 70, 110, 110), square(180, 180, 220, 220))
    )
    jobs = plan_jobs(detections, args, JobSettings("", "", 1, 1, 256, 256))

    def redraw():
        return TabRedraw(sd1_detailer.model, args, settings, sd1_detailer.loras)

    tab = redraw()
    tab.prepare(jobs)
    assert [[j.index for j in batch] for batch in tab.batches(jobs, 4)] == [[0], [1, 2]]
    together = tab.run(astronaut, jobs, 4).image
    step = astronaut
    for job in jobs:  # one at a time, each on the previous result
        one = redraw()
        step = one.run(step, [job], 1).image
    difference = np.abs(np.asarray(together, np.int16) - np.asarray(step, np.int16))
    assert difference.max() <= 2


def test_inpainting_and_sdxl_checkpoints_redraw(models, astronaut, tmp_path_factory):
    from adetailer import Detailer
    from adetailer.registry import ModelRegistry

    registry = ModelRegistry(tmp_path_factory.mktemp("detectors2"), allow_download=False)
    for name in ("sd1-inpainting.safetensors", "sdxl.safetensors"):
        detailer = Detailer.from_checkpoint(models[name], "cpu", registry=registry)
        out = detailer(astronaut, [_small_tab()], prompt="(a face:1.2)", seed=2, **FAST)
        assert out.redrawn == 1
        assert out.image.size == astronaut.size
        assert (np.asarray(out.image) != np.asarray(astronaut)).any()


def test_a_users_pipeline_is_reused_without_copying_its_weights(models):
    from diffusers import StableDiffusionPipeline

    from adetailer import Detailer

    source = models["sd1"]
    text2image = StableDiffusionPipeline(**source.components)
    detailer = Detailer(text2image)
    assert detailer.model.pipe.unet is source.unet
    assert detailer.model.pipe.text_encoder is source.text_encoder


def test_lora_tags_load_from_the_lora_folder_at_their_weight(models, astronaut, tmp_path):
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from adetailer import Detailer
    from adetailer.diffusers_backend.loras import LoraError
    from adetailer.registry import ModelRegistry

    trained = tiny_pipeline("sd1")  # the same weights as the checkpoint, plus a random LoRA
    trained.unet.add_adapter(
        LoraConfig(r=4, lora_alpha=4, init_lora_weights=False, target_modules=["to_q", "to_v"])
    )
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(trained.unet))
    StableDiffusionPipeline.save_lora_weights(
        tmp_path / "loras", unet_lora_layers=layers, weight_name="sharp.safetensors"
    )
    registry = ModelRegistry(tmp_path / "detectors", allow_download=False)
    detailer = Detailer.from_checkpoint(
        models["sd1.safetensors"], "cpu", registry=registry, lora_dir=tmp_path / "loras"
    )

    def run(prompt: str) -> np.ndarray:
        out = detailer(astronaut, [_small_tab(ad_prompt=prompt)], seed=4, **FAST)
        return np.asarray(out.image, dtype=np.int16)

    plain = run("a face")
    assert np.abs(run("a face <lora:sharp:1>") - plain).max() > 0
    assert np.abs(run("a face <lora:sharp:0>") - plain).max() <= 1
    assert np.abs(run("a face") - plain).max() == 0  # switched off again
    with pytest.raises(LoraError, match=r"no missing.safetensors in .*found: sharp"):
        run("a face <lora:missing:1>")


# --- the command ------------------------------------------------------------------------------


def test_detail_command_writes_images_and_reports_broken_files(models, astronaut, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    astronaut.save(folder / "astronaut.png", pnginfo=png_info(SOURCE_INFOTEXT))
    (folder / "broken.png").write_bytes(b"not a picture")
    out = tmp_path / "out"
    code = main(
        [
            "detail",
            str(folder),
            "--checkpoint",
            str(models["sd1.safetensors"]),
            "--out",
            str(out),
            "--ad-prompt",
            "a face",
            "--seed",
            "7",
            "--save-masks",
            "--previews",
            "--models-dir",
            str(tmp_path / "detectors"),
            "--offline",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1  # one image failed, the other was still detailed
    assert "broken.png: not a readable image" in err
    assert "astronaut.png: found 1, redrawn 1" in err
    assert sorted(p.name for p in out.iterdir()) == [
        "astronaut-mask-0.png",
        "astronaut-preview.png",
        "astronaut.png",
    ]
    info = parse_infotext(Image.open(out / "astronaut.png").info["parameters"])
    assert info.params["Seed"] == "7"
    assert info.params["ADetailer prompt"] == "a face"


def test_from_infotext_reproduces_a_run_bit_for_bit(models, astronaut, tmp_path, capsys):
    common = ["--checkpoint", str(models["sd1.safetensors"]), "--models-dir", str(tmp_path / "m")]
    source = tmp_path / "source.png"
    astronaut.save(source, pnginfo=png_info(SOURCE_INFOTEXT))
    first = tmp_path / "first"
    assert (
        main(
            [
                "detail",
                str(source),
                *common,
                "--out",
                str(first),
                "--ad-prompt",
                "a smiling face",
                "--ad-denoising-strength",
                "0.6",
                "--sampler",
                "DPM++ 2M Karras",
            ]
        )
        == 0
    )
    detailed = Image.open(first / "source.png")
    again = tmp_path / "again.png"
    astronaut.save(again, pnginfo=png_info(detailed.info["parameters"]))
    second = tmp_path / "second"
    assert main(["detail", str(again), *common, "--out", str(second), "--from-infotext"]) == 0
    capsys.readouterr()
    assert (np.asarray(Image.open(second / "again.png")) == np.asarray(detailed)).all()


def test_without_the_extra_detail_says_how_to_install_it(monkeypatch, astronaut, tmp_path, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "diffusers" else real(name, *a),
    )
    image = tmp_path / "a.png"
    astronaut.save(image)
    assert main(["detail", str(image), "--checkpoint", "x.safetensors"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "adetailer: error: the detail command needs the [detail] extra: "
        "pip install 'adetailer[detail]' (missing: diffusers)"
    ]


def test_import_adetailer_stays_free_of_torch_and_diffusers():
    code = (
        "import sys, adetailer, adetailer.cli; "
        "print(any(m in sys.modules for m in ('torch', 'diffusers', 'transformers')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "False"


def test_border_color_match_reaches_the_standalone_paste(sd1_detailer, astronaut):
    """ad_color_match "Border" moves the redraw's colours toward the original's at the mask's
    edge, and still leaves everything outside the crop as it was."""
    plain = sd1_detailer(astronaut, [FACE], prompt="a face", seed=3, **FAST)
    matched = sd1_detailer(
        astronaut, [{**FACE, "ad_color_match": "Border"}], prompt="a face", seed=3, **FAST
    )
    assert matched.redrawn == plain.redrawn == 1
    assert parse_infotext(matched.infotext).params["ADetailer color match"] == "Border"
    job = matched.tabs[0].done[0]
    crop = prepare_crop(job.detection.mask, blur=4, size=astronaut.size, padding=32)
    x1, y1, x2, y2 = crop.box
    before = np.asarray(astronaut).astype(np.int16)
    outside = np.ones(before.shape[:2], bool)
    outside[y1:y2, x1:x2] = False
    edge = (crop.overlay > 0) & (crop.overlay < 255)  # the blurred seam

    def drift(out) -> float:
        after = np.asarray(out.image).astype(np.int16)
        assert (after[outside] == before[outside]).all()
        return float(np.abs(after[edge].mean(axis=0) - before[edge].mean(axis=0)).sum())

    assert drift(matched) < drift(plain)  # 17.1 against 21.8 (sum over RGB of the mean's shift)


def test_tabs_from_a_file_and_from_repeated_tab_flags_are_the_same_tabs(
    models, astronaut, tmp_path, capsys
):
    tabs = [
        {**FACE, "ad_prompt": "a face", "ad_denoising_strength": 0.5},
        {**FACE, "ad_prompt": "a smile", "ad_mask_blur": 2},
    ]
    source = tmp_path / "source.png"
    astronaut.save(source, pnginfo=png_info(SOURCE_INFOTEXT))
    tabs_file = tmp_path / "tabs.json"
    tabs_file.write_text(json.dumps({"ADetailer": {"args": [True, False, *tabs]}}))
    common = [
        "detail",
        str(source),
        "--checkpoint",
        str(models["sd1.safetensors"]),
        "--models-dir",
        str(tmp_path / "m"),
        "--steps",
        "3",
    ]
    assert main([*common, "--out", str(tmp_path / "a"), "--tabs-file", str(tabs_file)]) == 0
    flags = [arg for tab in tabs for arg in ("--tab", json.dumps(tab))]
    assert main([*common, "--out", str(tmp_path / "b"), *flags]) == 0
    capsys.readouterr()
    from_file = Image.open(tmp_path / "a" / "source.png")
    from_flags = Image.open(tmp_path / "b" / "source.png")
    assert (np.asarray(from_file) == np.asarray(from_flags)).all()
    params = parse_infotext(from_file.info["parameters"]).params
    assert params["ADetailer prompt"] == "a face"
    assert params["ADetailer prompt 2nd"] == "a smile"
    assert from_file.info["parameters"] == from_flags.info["parameters"]
