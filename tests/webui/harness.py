"""Drive the fake A1111 1.10 web UI the way the real one starts and serves requests.

Typical use::

    webui = FakeWebUI(tmp_path, checkpoints=["sd15.safetensors"])
    webui.install_extension(REPO_ROOT, "adetailer")
    webui.launch(api=True)                       # preload, settings, scripts, UI, API defaults
    processed = webui.txt2img(prompt="a cat", seed=1, script_values={"ADetailer": [True, {...}]})
    processed = webui.txt2img_api({"prompt": "a cat", "alwayson_scripts": {"adetailer": {"args": [...]}}})
    webui.close()

Only one web UI exists per process (``modules`` is global): a new ``FakeWebUI`` closes the previous
one and resets the shared state (the ``webui_factory`` fixture closes them at teardown).
While a web UI is open, ``torch.load`` is A1111's restricted loader; ``close()`` restores the original
so tests outside the web UI are unaffected.
"""

from __future__ import annotations

import argparse
import base64
import copy
import importlib
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FAKE_ROOT = Path(__file__).resolve().parent / "fake_root"
SAMPLE_EXTENSION = Path(__file__).resolve().parent / "sample_extension"

if str(FAKE_ROOT) not in sys.path:
    sys.path.insert(0, str(FAKE_ROOT))

import gradio as gr  # noqa: E402
import launch  # noqa: E402
import modules  # noqa: E402, F401
import torch  # noqa: E402
from fastapi import FastAPI, HTTPException  # noqa: E402
from modules import (  # noqa: E402
    cmd_args,
    errors,
    extensions,
    extra_networks,
    face_restoration,
    images,
    infotext_utils,
    paths,
    paths_internal,
    processing,
    safe,
    script_callbacks,
    script_loading,
    scripts,
    sd_models,
    sd_samplers,
    sd_samplers_fake,
    sd_vae,
    shared,
    shared_cmd_options,
    shared_init,
    shared_items,
    shared_options,
)
from modules.api import models as api_models  # noqa: E402
from modules.ui_components import FormGroup, FormRow, InputAccordion  # noqa: E402
from PIL import Image  # noqa: E402

# Importing ``modules`` patched torch.load (as A1111 does); only an open web UI keeps it patched.
torch.load = safe.unsafe_torch_load

DEFAULT_IGNORE = (
    ".git",
    ".venv*",
    "__pycache__",
    "*.egg-info",
    ".pytest_cache",
    ".ruff_cache",
    "runs",
    "benchmarks",
    "tests",
)

_open_webui: FakeWebUI | None = None


@dataclass
class InstallResult:
    """Outcome of running an extension's ``install.py`` in its own process, as A1111 does."""

    returncode: int
    stdout: str
    stderr: str
    pip_calls: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TabUI:
    """Components of one generation tab that tests may want to look at."""

    tabname: str
    blocks: gr.Blocks
    runner: scripts.ScriptRunner
    components: dict[str, gr.components.Component]
    paste_fields: list


def b64(image: Image.Image, fmt: str = "PNG") -> str:
    """Encode an image the way an API client would."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode()


def decode_base64_to_image(encoding: str) -> Image.Image:
    """What ``Api`` does with ``init_images`` / ``mask`` strings (data-URL prefix allowed)."""
    if encoding.startswith("data:image/"):
        encoding = encoding.split(";")[1].split(",")[1]
    try:
        image = images.read(io.BytesIO(base64.b64decode(encoding)))
    except Exception as e:
        raise HTTPException(status_code=500, detail="Invalid encoded image") from e
    return image


def browser_roundtrip(value: Any) -> Any:
    """A value sent to the browser and back: JSON numbers lose the float-ness of whole numbers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def set_webui_paths(data_path: Path, models_path: Path | None = None) -> None:
    """Point every copy of the path constants at a web UI living in ``data_path``."""
    data = str(data_path)
    models = str(models_path) if models_path is not None else os.path.join(data, "models")
    values = {
        "data_path": data,
        "models_path": models,
        "extensions_dir": os.path.join(data, "extensions"),
        # the fake root has no built-in extensions; a test may install some here (builtin=True)
        "extensions_builtin_dir": os.path.join(data, "extensions-builtin"),
        "default_output_dir": os.path.join(data, "outputs"),
    }
    for module in (paths_internal, paths, shared, shared_cmd_options, extensions, infotext_utils):
        for name, value in values.items():
            if hasattr(module, name):
                setattr(module, name, value)

    sd_models.model_path = os.path.abspath(os.path.join(models, sd_models.model_dir))
    sd_vae.vae_path = os.path.abspath(os.path.join(models, "VAE"))


def _reset_process_state() -> None:
    """What a fresh web UI process starts with."""
    sd_samplers_fake.reset()
    errors.reports.clear()
    errors.exception_records.clear()
    face_restoration.calls.clear()
    sd_models.model_loads.clear()
    sd_vae.vae_loads.clear()
    sd_models.checkpoints_list.clear()
    sd_models.checkpoint_aliases.clear()
    sd_models._sha256_cache.clear()
    sd_models.model_data.__init__()
    sd_models.SkipWritingToConfig.skip = False
    sd_vae.vae_dict.clear()
    sd_vae.loaded_vae_file = None
    sd_vae.delete_base_vae()
    launch.pip_calls.clear()
    script_callbacks.clear_callbacks()
    script_loading.loaded_scripts.clear()
    scripts.scripts_data.clear()
    scripts.postprocessing_scripts_data.clear()
    scripts.scripts_txt2img = None
    scripts.scripts_img2img = None
    scripts.scripts_postproc = None
    scripts.scripts_current = None
    scripts.current_basedir = paths.script_path
    extensions.extensions.clear()
    extensions.extension_paths.clear()
    extensions.loaded_extensions.clear()
    extra_networks.initialize()
    infotext_utils.reset()
    processing.StableDiffusionProcessing.cached_c = [None, None]
    processing.StableDiffusionProcessing.cached_uc = [None, None]
    processing.StableDiffusionProcessingTxt2Img.cached_hr_c = [None, None]
    processing.StableDiffusionProcessingTxt2Img.cached_hr_uc = [None, None]
    sd_samplers.get_sampler_and_scheduler.cache_clear()
    shared.demo = None
    shared.settings_components = None
    shared.face_restorers = []


class FakeWebUI:
    """One web UI installation in a temporary directory (``--data-dir``), plus request helpers."""

    def __init__(
        self,
        root: Path,
        *,
        argv: Sequence[str] = (),
        config: Mapping[str, Any] | None = None,
        checkpoints: Iterable[str] = ("sd15.safetensors",),
        vaes: Iterable[str] = (),
        forge: bool = False,
    ) -> None:
        """``forge``: load scripts the way Forge does (see ``initialize``)."""
        global _open_webui

        if _open_webui is not None:
            # The state is process-wide: a web UI a failed test left open is closed, not reused.
            _open_webui.close()
        _open_webui = self

        self.data_path = Path(root)
        self.models_path = self.data_path / "models"
        self.extensions_dir = self.data_path / "extensions"
        self.extensions_builtin_dir = self.data_path / "extensions-builtin"
        self.argv = list(argv)
        self.forge = forge
        self._forge_paths: list[str] = []  # extension folders Forge mode put on sys.path
        self._modules_before: set[str] = set()
        self.app: FastAPI | None = None
        self.tabs: dict[str, TabUI] = {}
        self.api_default_args: dict[str, list] = {}
        self.last_p: processing.StableDiffusionProcessing | None = None
        self.closed = False

        for directory in (
            self.data_path,
            self.extensions_dir,
            self.models_path / "Stable-diffusion",
            self.models_path / "VAE",
        ):
            directory.mkdir(parents=True, exist_ok=True)

        if config is not None:
            (self.data_path / "config.json").write_text(
                json.dumps(dict(config), indent=4), encoding="utf8"
            )

        for name in checkpoints:
            self.add_model_file(self.models_path / "Stable-diffusion" / name)
        for name in vaes:
            self.add_model_file(self.models_path / "VAE" / name)

        _reset_process_state()
        set_webui_paths(self.data_path, self.models_path)
        launch.args.data_dir = str(self.data_path)
        launch.args.ui_settings_file = str(self.data_path / "config.json")
        launch.args.skip_install = False
        torch.load = safe.load

    # --- installation --------------------------------------------------------------------------

    @staticmethod
    def add_model_file(path: Path) -> Path:
        """A sparse file whose legacy hash (64 KiB at 1 MiB) differs per file name."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as file:
            file.seek(0x100000)
            file.write(path.name.encode().ljust(64, b"\0"))
        return path

    def install_extension(
        self,
        source: Path | str,
        name: str | None = None,
        *,
        symlink: bool = False,
        ignore: Sequence[str] = DEFAULT_IGNORE,
        builtin: bool = False,
    ) -> Path:
        """Copy (or symlink) an extension into ``extensions/<name>`` (``builtin``: ``extensions-builtin/``).

        A1111 resolves the script path before matching it to an extension, so with ``symlink=True``
        ``extensions.find_extension`` returns None for its files (callbacks are named "base/...").
        """
        source = Path(source).resolve()
        folder = self.extensions_builtin_dir if builtin else self.extensions_dir
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / (name or source.name)
        if symlink:
            target.symlink_to(source, target_is_directory=True)
        else:
            shutil.copytree(source, target, ignore=shutil.ignore_patterns(*ignore))
        return target

    def run_install_py(
        self, name: str, *, env: Mapping[str, str] | None = None, missing: Iterable[str] = ()
    ) -> InstallResult:
        """Run ``extensions/<name>/install.py`` like ``launch_utils.run_extension_installer``.

        ``missing``: package names ``launch.is_installed`` reports as absent.
        """
        path_installer = self.extensions_dir / name / "install.py"
        record_file = self.data_path / f".pip-calls-{name}.jsonl"
        record_file.unlink(missing_ok=True)

        run_env = {**os.environ, **(env or {})}
        run_env["PYTHONPATH"] = f"{FAKE_ROOT}{os.pathsep}{run_env.get('PYTHONPATH', '')}"
        run_env["FAKE_LAUNCH_RECORD"] = str(record_file)
        run_env["FAKE_LAUNCH_MISSING"] = ",".join(missing)

        result = subprocess.run(
            f'"{sys.executable}" "{path_installer}"',
            shell=True,
            env=run_env,
            cwd=FAKE_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )

        pip_calls = []
        if record_file.exists():
            pip_calls = [
                json.loads(line)
                for line in record_file.read_text(encoding="utf8").splitlines()
                if line.strip()
            ]
        return InstallResult(result.returncode, result.stdout, result.stderr, pip_calls)

    # --- startup -------------------------------------------------------------------------------

    def run_preload(self, argv: Sequence[str] | None = None) -> argparse.Namespace:
        """Build the global parser, run every ``preload.py`` with it, then parse the command line."""
        importlib.reload(cmd_args)
        parser = cmd_args.parser
        extension_list = launch.list_extensions(launch.args.ui_settings_file)
        script_loading.preload_extensions(
            paths_internal.extensions_dir, parser, extension_list=extension_list
        )
        script_loading.preload_extensions(paths_internal.extensions_builtin_dir, parser)

        parsed = parser.parse_args(list(self.argv if argv is None else argv))
        parsed.webui_is_non_local = any(
            [parsed.share, parsed.listen, parsed.ngrok, parsed.server_name]
        )
        parsed.disable_extension_access = (
            parsed.webui_is_non_local and not parsed.enable_insecure_extension_access
        )

        cmd_opts = shared_cmd_options.cmd_opts
        vars(cmd_opts).clear()
        vars(cmd_opts).update(vars(parsed))
        if not cmd_opts.styles_file:
            cmd_opts.styles_file = [os.path.join(paths_internal.data_path, "styles.csv")]

        shared_cmd_options.parser = parser
        shared.parser = parser
        shared.config_filename = cmd_opts.ui_settings_file
        shared.styles_filename = cmd_opts.styles_file
        shared.hide_dirs = {"visible": not cmd_opts.hide_ui_dir_config}
        return cmd_opts

    def initialize(self) -> None:
        """``shared_init.initialize()`` + ``initialize_rest()``: settings, extensions, models, scripts, model load."""
        importlib.reload(shared_options)
        shared_init.initialize()

        sd_samplers.set_samplers()
        sd_samplers.get_sampler_and_scheduler.cache_clear()
        extensions.list_extensions()
        sd_models.setup_model()
        sd_models.list_models()
        if self.forge:
            self._forge_sys_path()
        scripts.load_scripts()
        sd_vae.refresh_vae_list()
        extra_networks.initialize()

        if not shared.cmd_opts.skip_load_model_at_start:
            _ = shared.sd_model

    def _forge_sys_path(self) -> None:
        """Forge puts every script's extension folder on ``sys.path`` before loading, for good.

        So packages of built-in extensions (``lib_controlnet``) import from anywhere, and so do an
        extension's modules imported lazily. ``close()`` takes the folders off again and forgets
        the modules first imported from them, so a later A1111-mode web UI in the same process
        cannot import what only Forge can.
        """
        self._modules_before = set(sys.modules)
        for script in scripts.list_scripts("scripts", ".py"):
            if script.basedir not in sys.path:
                sys.path.insert(0, script.basedir)
                self._forge_paths.append(script.basedir)

    def _forget_forge_paths(self) -> None:
        # modules imported through these sys.path entries have file names below them (a
        # symlinked extension's real folder is left alone: its packages may be imported directly)
        folders = tuple(path + os.sep for path in self._forge_paths)
        for path in self._forge_paths:
            while path in sys.path:
                sys.path.remove(path)
        self._forge_paths.clear()
        for name in set(sys.modules) - self._modules_before:
            file = getattr(sys.modules[name], "__file__", None) or ""
            if file.startswith(folders):
                del sys.modules[name]

    def start(self) -> None:
        """Build the UI/API in A1111's order, then fire ``on_app_started``."""
        self.app = FastAPI()
        if shared.cmd_opts.nowebui:
            self.init_api()
            script_callbacks.before_ui_callback()
            script_callbacks.app_started_callback(None, self.app)
            return

        script_callbacks.before_ui_callback()
        self.create_ui()
        if shared.cmd_opts.api:
            self.init_api()
        script_callbacks.app_started_callback(shared.demo, self.app)

    def launch(self, *, api: bool = False, nowebui: bool = False) -> FakeWebUI:
        argv = list(self.argv)
        if api and "--api" not in argv:
            argv.append("--api")
        if nowebui and "--nowebui" not in argv:
            argv.append("--nowebui")
        self.argv = argv
        self.run_preload()
        self.initialize()
        self.start()
        return self

    def close(self) -> None:
        global _open_webui

        if self.closed:
            return
        self.closed = True
        scripts.scripts_current = None
        # as before A1111 reloads scripts: extensions undo what they patched (ControlNet's hijack)
        script_callbacks.script_unloaded_callback()
        script_callbacks.clear_callbacks()
        if self.forge:
            self._forget_forge_paths()
        torch.load = safe.unsafe_torch_load
        if _open_webui is self:
            _open_webui = None

    def __enter__(self) -> FakeWebUI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- UI ------------------------------------------------------------------------------------

    def create_ui(self) -> None:
        """``ui.create_ui()``: settings callbacks, both generation tabs with every script's ``ui()``,
        then the Settings page (which rejects options it cannot build a component for)."""
        from modules import gradio_extensons  # noqa: F401  (installs the component hooks)

        infotext_utils.reset()
        script_callbacks.ui_settings_callback()

        for is_img2img in (False, True):
            self.tabs["img2img" if is_img2img else "txt2img"] = self._create_tab(is_img2img)

        self._create_settings()

        with gr.Blocks(analytics_enabled=False) as demo:
            pass
        shared.demo = demo

    def _ordered_ui_categories(self) -> list[str]:
        user_order = {x.strip(): i * 2 + 1 for i, x in enumerate(shared.opts.ui_reorder_list)}
        categories = list(enumerate(shared_items.ui_reorder_categories()))
        return [
            category
            for _, category in sorted(categories, key=lambda x: user_order.get(x[1], x[0] * 2))
        ]

    def _create_tab(self, is_img2img: bool) -> TabUI:
        tab = "img2img" if is_img2img else "txt2img"
        runner = scripts.scripts_img2img if is_img2img else scripts.scripts_txt2img
        c: dict[str, Any] = {}

        scripts.scripts_current = runner
        runner.initialize_scripts(is_img2img=is_img2img)

        with gr.Blocks(analytics_enabled=False) as blocks:
            c["prompt"] = gr.Textbox(label="Prompt", elem_id=f"{tab}_prompt", lines=3)
            c["negative_prompt"] = gr.Textbox(
                label="Negative prompt", elem_id=f"{tab}_neg_prompt", lines=3
            )
            c["styles"] = gr.Dropdown(
                label="Styles",
                elem_id=f"{tab}_styles",
                choices=list(shared.prompt_styles.styles),
                value=[],
                multiselect=True,
            )
            c["generate"] = gr.Button("Generate", elem_id=f"{tab}_generate", variant="primary")

            runner.prepare_ui()

            for category in self._ordered_ui_categories():
                if category == "image" and is_img2img:
                    c["init_img"] = gr.Image(
                        label="Image for img2img",
                        elem_id="img2img_image",
                        type="pil",
                        image_mode="RGBA",
                    )
                elif category == "inpaint" and is_img2img:
                    with FormGroup(elem_id="inpaint_controls", visible=False):
                        c["mask_blur"] = gr.Slider(
                            label="Mask blur",
                            minimum=0,
                            maximum=64,
                            step=1,
                            value=4,
                            elem_id="img2img_mask_blur",
                        )
                        c["inpainting_mask_invert"] = gr.Radio(
                            label="Mask mode",
                            choices=["Inpaint masked", "Inpaint not masked"],
                            value="Inpaint masked",
                            type="index",
                            elem_id="img2img_mask_mode",
                        )
                        c["inpainting_fill"] = gr.Radio(
                            label="Masked content",
                            choices=["fill", "original", "latent noise", "latent nothing"],
                            value="original",
                            type="index",
                            elem_id="img2img_inpainting_fill",
                        )
                        c["inpaint_full_res"] = gr.Radio(
                            label="Inpaint area",
                            choices=["Whole picture", "Only masked"],
                            type="index",
                            value="Whole picture",
                            elem_id="img2img_inpaint_full_res",
                        )
                        c["inpaint_full_res_padding"] = gr.Slider(
                            label="Only masked padding, pixels",
                            minimum=0,
                            maximum=256,
                            step=4,
                            value=32,
                            elem_id="img2img_inpaint_full_res_padding",
                        )
                elif category == "dimensions":
                    with FormRow():
                        c["width"] = gr.Slider(
                            minimum=64,
                            maximum=2048,
                            step=8,
                            label="Width",
                            value=512,
                            elem_id=f"{tab}_width",
                        )
                        c["height"] = gr.Slider(
                            minimum=64,
                            maximum=2048,
                            step=8,
                            label="Height",
                            value=512,
                            elem_id=f"{tab}_height",
                        )
                        if shared.opts.dimensions_and_batch_together:
                            c["batch_count"] = gr.Slider(
                                minimum=1,
                                step=1,
                                label="Batch count",
                                value=1,
                                elem_id=f"{tab}_batch_count",
                            )
                            c["batch_size"] = gr.Slider(
                                minimum=1,
                                maximum=8,
                                step=1,
                                label="Batch size",
                                value=1,
                                elem_id=f"{tab}_batch_size",
                            )
                elif category == "cfg":
                    c["cfg_scale"] = gr.Slider(
                        minimum=1.0,
                        maximum=30.0,
                        step=0.5,
                        label="CFG Scale",
                        value=7.0,
                        elem_id=f"{tab}_cfg_scale",
                    )
                elif category == "denoising" and is_img2img:
                    c["denoising_strength"] = gr.Slider(
                        minimum=0.0,
                        maximum=1.0,
                        step=0.01,
                        label="Denoising strength",
                        value=0.75,
                        elem_id="img2img_denoising_strength",
                    )
                elif category == "accordions":
                    with gr.Row(elem_id=f"{tab}_accordions", elem_classes="accordions"):
                        if not is_img2img:
                            with InputAccordion(
                                False, label="Hires. fix", elem_id="txt2img_hr"
                            ) as enable_hr:
                                c["enable_hr"] = enable_hr
                                c["hr_upscaler"] = gr.Dropdown(
                                    label="Upscaler",
                                    elem_id="txt2img_hr_upscaler",
                                    choices=[
                                        *shared.latent_upscale_modes,
                                        *[x.name for x in shared.sd_upscalers],
                                    ],
                                    value=shared.latent_upscale_default_mode,
                                )
                                c["hr_second_pass_steps"] = gr.Slider(
                                    minimum=0,
                                    maximum=150,
                                    step=1,
                                    label="Hires steps",
                                    value=0,
                                    elem_id="txt2img_hires_steps",
                                )
                                c["denoising_strength"] = gr.Slider(
                                    minimum=0.0,
                                    maximum=1.0,
                                    step=0.01,
                                    label="Denoising strength",
                                    value=0.7,
                                    elem_id="txt2img_denoising_strength",
                                )
                                c["hr_scale"] = gr.Slider(
                                    minimum=1.0,
                                    maximum=4.0,
                                    step=0.05,
                                    label="Upscale by",
                                    value=2.0,
                                    elem_id="txt2img_hr_scale",
                                )
                                c["hr_resize_x"] = gr.Slider(
                                    minimum=0,
                                    maximum=2048,
                                    step=8,
                                    label="Resize width to",
                                    value=0,
                                    elem_id="txt2img_hr_resize_x",
                                )
                                c["hr_resize_y"] = gr.Slider(
                                    minimum=0,
                                    maximum=2048,
                                    step=8,
                                    label="Resize height to",
                                    value=0,
                                    elem_id="txt2img_hr_resize_y",
                                )
                        runner.setup_ui_for_section(category)
                elif category == "batch" and not shared.opts.dimensions_and_batch_together:
                    c["batch_count"] = gr.Slider(
                        minimum=1,
                        step=1,
                        label="Batch count",
                        value=1,
                        elem_id=f"{tab}_batch_count",
                    )
                    c["batch_size"] = gr.Slider(
                        minimum=1,
                        maximum=8,
                        step=1,
                        label="Batch size",
                        value=1,
                        elem_id=f"{tab}_batch_size",
                    )
                elif category == "override_settings":
                    c["override_settings"] = gr.Dropdown(
                        [],
                        label="Override settings",
                        visible=False,
                        elem_id=f"{tab}_override_settings",
                        multiselect=True,
                    )
                elif category == "scripts":
                    with FormGroup(elem_id=f"{tab}_script_container"):
                        runner.setup_ui()

                if category != "accordions":
                    runner.setup_ui_for_section(category)

            c["generation_info"] = gr.Textbox(visible=False, elem_id=f"generation_info_{tab}")

            fields = [
                infotext_utils.PasteField(c["prompt"], "Prompt", api="prompt"),
                infotext_utils.PasteField(
                    c["negative_prompt"], "Negative prompt", api="negative_prompt"
                ),
                infotext_utils.PasteField(c["cfg_scale"], "CFG scale", api="cfg_scale"),
                infotext_utils.PasteField(c["width"], "Size-1", api="width"),
                infotext_utils.PasteField(c["height"], "Size-2", api="height"),
                infotext_utils.PasteField(c["batch_size"], "Batch size", api="batch_size"),
                infotext_utils.PasteField(
                    c["denoising_strength"], "Denoising strength", api="denoising_strength"
                ),
            ]
            if not is_img2img:
                fields += [
                    infotext_utils.PasteField(
                        c["enable_hr"],
                        lambda d: (
                            "Denoising strength" in d
                            and (
                                "Hires upscale" in d
                                or "Hires upscaler" in d
                                or "Hires resize-1" in d
                            )
                        ),
                        api="enable_hr",
                    ),
                    infotext_utils.PasteField(c["hr_scale"], "Hires upscale", api="hr_scale"),
                    infotext_utils.PasteField(
                        c["hr_upscaler"], "Hires upscaler", api="hr_upscaler"
                    ),
                    infotext_utils.PasteField(
                        c["hr_second_pass_steps"], "Hires steps", api="hr_second_pass_steps"
                    ),
                    infotext_utils.PasteField(
                        c["hr_resize_x"], "Hires resize-1", api="hr_resize_x"
                    ),
                    infotext_utils.PasteField(
                        c["hr_resize_y"], "Hires resize-2", api="hr_resize_y"
                    ),
                ]
            else:
                fields += [
                    infotext_utils.PasteField(c["mask_blur"], "Mask blur", api="mask_blur"),
                    infotext_utils.PasteField(
                        c["inpainting_mask_invert"], "Mask mode", api="inpainting_mask_invert"
                    ),
                    infotext_utils.PasteField(
                        c["inpainting_fill"], "Masked content", api="inpainting_fill"
                    ),
                    infotext_utils.PasteField(
                        c["inpaint_full_res"], "Inpaint area", api="inpaint_full_res"
                    ),
                    infotext_utils.PasteField(
                        c["inpaint_full_res_padding"],
                        "Masked area padding",
                        api="inpaint_full_res_padding",
                    ),
                ]
            fields += runner.infotext_fields
            infotext_utils.add_paste_fields(tab, c.get("init_img"), fields, c["override_settings"])

        scripts.scripts_current = None
        return TabUI(tab, blocks, runner, c, fields)

    def _create_settings(self) -> None:
        """The Settings page: every option in a section gets a component built from its type."""
        shared.opts.reorder()
        shared.settings_components = {}
        with gr.Blocks(analytics_enabled=False):
            for key, info in shared.opts.data_labels.items():
                if info.section[0] is None:
                    continue
                shared.settings_components[key] = self._create_setting_component(key, info)

    @staticmethod
    def _create_setting_component(key: str, info) -> gr.components.Component:
        t = type(info.default)
        args = info.component_args() if callable(info.component_args) else info.component_args

        if info.component is not None:
            comp = info.component
        elif t is str:
            comp = gr.Textbox
        elif t is int:
            comp = gr.Number
        elif t is bool:
            comp = gr.Checkbox
        else:
            raise Exception(f"bad options item type: {t} for key {key}")

        value = shared.opts.data.get(key, info.default)
        return comp(label=info.label, value=value, elem_id=f"setting_{key}", **(args or {}))

    # --- API startup -----------------------------------------------------------------------------

    def init_api(self) -> None:
        """``Api.__init__``: build the UI if nothing did yet, then read every script's UI defaults."""
        runners = {"txt2img": scripts.scripts_txt2img, "img2img": scripts.scripts_img2img}
        if not runners["txt2img"].scripts or not runners["img2img"].scripts:
            self.create_ui()

        for tab, runner in runners.items():
            if not runner.scripts:
                runner.initialize_scripts(tab == "img2img")
            self.api_default_args[tab] = self._init_default_script_args(runner)

    @staticmethod
    def _init_default_script_args(runner: scripts.ScriptRunner) -> list:
        last_arg_index = 1
        for script in runner.scripts:
            last_arg_index = max(last_arg_index, script.args_to)
        script_args: list = [None] * last_arg_index
        script_args[0] = 0

        with gr.Blocks():
            for script in runner.scripts:
                if script.ui(script.is_img2img):
                    script_args[script.args_from : script.args_to] = [
                        elem.value for elem in script.ui(script.is_img2img)
                    ]
        return script_args

    @staticmethod
    def loaded_module(filename: str):
        """The module ``load_scripts`` made from the script file named ``filename`` (not in sys.modules)."""
        for path, module in script_loading.loaded_scripts.items():
            if os.path.basename(path) == filename:
                return module
        raise KeyError(f"no loaded script file named {filename!r}")

    # --- script arguments ------------------------------------------------------------------------

    def runner(self, tab: str) -> scripts.ScriptRunner:
        return scripts.scripts_img2img if tab == "img2img" else scripts.scripts_txt2img

    @staticmethod
    def find_script(runner: scripts.ScriptRunner, title: str) -> scripts.Script:
        for script in runner.scripts:
            if script.title().lower() == title.lower():
                return script
        raise KeyError(f"no script titled {title!r} in this runner")

    @staticmethod
    def _ui_value(component) -> Any:
        """What the request handler receives for a component left at its UI value."""
        if component is None:
            return None
        if isinstance(component, gr.State):
            return copy.deepcopy(component.value)
        try:
            return component.preprocess(component.value)
        except Exception:
            return component.value

    def ui_script_args(
        self,
        tab: str,
        scripts_values: Mapping[str, Sequence[Any] | Mapping[int, Any]] | None = None,
        *,
        selected: str | None = None,
        component_values: Mapping[Any, Any] | None = None,
    ) -> tuple:
        """The ``*args`` of a UI request: every input's value, with overrides.

        ``scripts_values``: per script title (case-insensitive), values from its first slot on, or
        ``{index: value}``. ``component_values``: raw UI values per component (e.g. from
        ``paste_infotext``), run through the component's preprocessing. ``selected``: a selectable
        script's title for the "Script" dropdown.
        """
        runner = self.runner(tab)
        values = [self._ui_value(component) for component in runner.inputs]

        for component, value in (component_values or {}).items():
            if component in runner.inputs:
                index = runner.inputs.index(component)
                try:
                    values[index] = component.preprocess(browser_roundtrip(value))
                except Exception:
                    values[index] = value

        for title, script_values in (scripts_values or {}).items():
            script = self.find_script(runner, title)
            width = script.args_to - script.args_from
            items = (
                script_values.items()
                if isinstance(script_values, Mapping)
                else enumerate(script_values)
            )
            for index, value in items:
                if not 0 <= index < width:
                    raise IndexError(f"{title!r} has {width} argument slots, got index {index}")
                values[script.args_from + index] = value

        if selected is not None:
            values[0] = runner.selectable_scripts.index(self.find_script(runner, selected)) + 1

        return tuple(values)

    def _builtin_overrides(self, steps, sampler_name, scheduler, seed) -> dict[str, dict[int, Any]]:
        overrides: dict[str, dict[int, Any]] = {}
        for title, index, value in (
            ("Sampler", 0, steps),
            ("Sampler", 1, sampler_name),
            ("Sampler", 2, scheduler),
            ("Seed", 0, seed),
        ):
            if value is not None:
                overrides.setdefault(title, {})[index] = value
        return overrides

    def api_script_args(
        self,
        tab: str,
        alwayson_scripts: Mapping[str, Any] | None = None,
        *,
        script_name: str | None = None,
        script_args: Sequence[Any] = (),
    ) -> list:
        """``Api.init_script_args``: UI defaults, then the selectable script, then ``alwayson_scripts``."""
        runner = self.runner(tab)
        result = list(self.api_default_args[tab])

        if script_name:
            index = self._script_index(script_name, runner.selectable_scripts)
            selectable = runner.selectable_scripts[index]
            result[selectable.args_from : selectable.args_to] = script_args
            result[0] = index + 1

        for name, value in (alwayson_scripts or {}).items():
            script = runner.scripts[self._script_index(name, runner.scripts)]
            if script.alwayson is False:
                raise HTTPException(
                    status_code=422,
                    detail="Cannot have a selectable script in the always on scripts params",
                )
            if "args" in value:
                for idx in range(min(script.args_to - script.args_from, len(value["args"]))):
                    result[script.args_from + idx] = value["args"][idx]

        return result

    @staticmethod
    def _script_index(name: str, script_list: list[scripts.Script]) -> int:
        try:
            return [script.title().lower() for script in script_list].index(name.lower())
        except Exception as e:
            raise HTTPException(status_code=422, detail=f"Script '{name}' not found") from e

    # --- requests --------------------------------------------------------------------------------

    def txt2img(
        self,
        prompt: str = "",
        negative_prompt: str = "",
        styles: Sequence[str] = (),
        n_iter: int = 1,
        batch_size: int = 1,
        cfg_scale: float = 7.0,
        height: int = 512,
        width: int = 512,
        enable_hr: bool = False,
        denoising_strength: float = 0.7,
        hr_scale: float = 2.0,
        hr_upscaler: str = "Latent",
        hr_second_pass_steps: int = 0,
        hr_resize_x: int = 0,
        hr_resize_y: int = 0,
        hr_checkpoint_name: str = "Use same checkpoint",
        hr_sampler_name: str = "Use same sampler",
        hr_scheduler: str = "Use same scheduler",
        hr_prompt: str = "",
        hr_negative_prompt: str = "",
        override_settings_texts: Sequence[str] = (),
        *,
        script_args: Sequence[Any] | None = None,
        script_values: Mapping[str, Any] | None = None,
        selected_script: str | None = None,
        component_values: Mapping[Any, Any] | None = None,
        steps: int | None = None,
        sampler_name: str | None = None,
        scheduler: str | None = None,
        seed: int | None = None,
        username: str | None = None,
        upscale: tuple[Image.Image, str] | None = None,
    ) -> processing.Processed:
        """The txt2img tab's Generate button (``modules/txt2img.py`` under ``wrap_gradio_gpu_call``).

        ``steps``/``sampler_name``/``scheduler``/``seed`` go into the built-in Sampler/Seed script
        slots, as in the UI; their ``setup()`` copies them onto p.

        ``upscale=(image, infotext)`` is the "✨ Hires. fix" gallery button (``txt2img_upscale``)
        on that image: hires fix forced on, one image, ``p.firstpass_image`` set, the seeds read
        from the image's infotext, no save before hires fix.
        """
        if script_args is None:
            overrides = {**self._builtin_overrides(steps, sampler_name, scheduler, seed)}
            for title, values in (script_values or {}).items():
                overrides[title] = values
            script_args = self.ui_script_args(
                "txt2img", overrides, selected=selected_script, component_values=component_values
            )

        shared.state.begin(job="txt2img")
        try:
            p = processing.StableDiffusionProcessingTxt2Img(
                sd_model=shared.sd_model,
                outpath_samples=shared.opts.outdir_samples or shared.opts.outdir_txt2img_samples,
                outpath_grids=shared.opts.outdir_grids or shared.opts.outdir_txt2img_grids,
                prompt=prompt,
                styles=list(styles),
                negative_prompt=negative_prompt,
                batch_size=batch_size,
                n_iter=n_iter,
                cfg_scale=cfg_scale,
                width=width,
                height=height,
                enable_hr=enable_hr,
                denoising_strength=denoising_strength,
                hr_scale=hr_scale,
                hr_upscaler=hr_upscaler,
                hr_second_pass_steps=hr_second_pass_steps,
                hr_resize_x=hr_resize_x,
                hr_resize_y=hr_resize_y,
                hr_checkpoint_name=None
                if hr_checkpoint_name == "Use same checkpoint"
                else hr_checkpoint_name,
                hr_sampler_name=None if hr_sampler_name == "Use same sampler" else hr_sampler_name,
                hr_scheduler=None if hr_scheduler == "Use same scheduler" else hr_scheduler,
                hr_prompt=hr_prompt,
                hr_negative_prompt=hr_negative_prompt,
                override_settings=infotext_utils.create_override_settings_dict(
                    list(override_settings_texts)
                ),
            )
            p.scripts = scripts.scripts_txt2img
            p.script_args = tuple(script_args)
            p.user = username

            if upscale is not None:
                image, infotext = upscale
                p.enable_hr = True
                p.batch_size = 1
                p.n_iter = 1
                p.txt2img_upscale = True
                p.firstpass_image = image
                parameters = infotext_utils.parse_generation_parameters(infotext, [])
                p.seed = parameters.get("Seed", -1)
                p.subseed = parameters.get("Variation seed", -1)
                p.override_settings["save_images_before_highres_fix"] = False

            with closing(p):
                processed = scripts.scripts_txt2img.run(p, *p.script_args)
                if processed is None:
                    processed = processing.process_images(p)

            shared.total_tqdm.clear()
        finally:
            shared.state.end()

        self.last_p = p
        return processed

    def img2img(
        self,
        init_image: Image.Image,
        mask: Image.Image | None = None,
        *,
        mode: int | None = None,
        prompt: str = "",
        negative_prompt: str = "",
        styles: Sequence[str] = (),
        mask_blur: int = 4,
        inpainting_fill: int = 1,
        n_iter: int = 1,
        batch_size: int = 1,
        cfg_scale: float = 7.0,
        image_cfg_scale: float = 1.5,
        denoising_strength: float = 0.75,
        height: int = 512,
        width: int = 512,
        scale_by: float | None = None,
        resize_mode: int = 0,
        inpaint_full_res: int = 0,
        inpaint_full_res_padding: int = 32,
        inpainting_mask_invert: int = 0,
        override_settings_texts: Sequence[str] = (),
        script_args: Sequence[Any] | None = None,
        script_values: Mapping[str, Any] | None = None,
        selected_script: str | None = None,
        component_values: Mapping[Any, Any] | None = None,
        steps: int | None = None,
        sampler_name: str | None = None,
        scheduler: str | None = None,
        seed: int | None = None,
        username: str | None = None,
    ) -> processing.Processed:
        """The img2img tab (``modules/img2img.py``). ``mode``: 0 img2img, 2 inpaint (the sketch mask
        is binarized with ``create_binary_mask``), 4 inpaint upload (mask used as is); default 4 with a
        mask, else 0. UI defaults differ from the constructor's: ``inpaint_full_res`` is 0 ("Whole
        picture") and ``inpainting_fill`` 1 ("original")."""
        if mode is None:
            mode = 4 if mask is not None else 0
        if mode == 0:
            image, mask = init_image, None
        elif mode == 2:
            image, mask = init_image, processing.create_binary_mask(mask)
        elif mode == 4:
            image = init_image
        else:
            raise ValueError(f"img2img mode {mode} is not supported by the fake (0, 2 and 4 are)")

        image = images.fix_image(image)
        mask = images.fix_image(mask)

        if scale_by is not None:
            width, height = int(image.width * scale_by), int(image.height * scale_by)

        assert 0.0 <= denoising_strength <= 1.0, "can only work with strength in [0.0, 1.0]"

        if script_args is None:
            overrides = {**self._builtin_overrides(steps, sampler_name, scheduler, seed)}
            for title, values in (script_values or {}).items():
                overrides[title] = values
            script_args = self.ui_script_args(
                "img2img", overrides, selected=selected_script, component_values=component_values
            )

        shared.state.begin(job="img2img")
        try:
            p = processing.StableDiffusionProcessingImg2Img(
                sd_model=shared.sd_model,
                outpath_samples=shared.opts.outdir_samples or shared.opts.outdir_img2img_samples,
                outpath_grids=shared.opts.outdir_grids or shared.opts.outdir_img2img_grids,
                prompt=prompt,
                negative_prompt=negative_prompt,
                styles=list(styles),
                batch_size=batch_size,
                n_iter=n_iter,
                cfg_scale=cfg_scale,
                width=width,
                height=height,
                init_images=[image],
                mask=mask,
                mask_blur=mask_blur,
                inpainting_fill=inpainting_fill,
                resize_mode=resize_mode,
                denoising_strength=denoising_strength,
                image_cfg_scale=image_cfg_scale,
                inpaint_full_res=inpaint_full_res,
                inpaint_full_res_padding=inpaint_full_res_padding,
                inpainting_mask_invert=inpainting_mask_invert,
                override_settings=infotext_utils.create_override_settings_dict(
                    list(override_settings_texts)
                ),
            )
            p.scripts = scripts.scripts_img2img
            p.script_args = tuple(script_args)
            p.user = username

            with closing(p):
                processed = scripts.scripts_img2img.run(p, *script_args)
                if processed is None:
                    processed = processing.process_images(p)

            shared.total_tqdm.clear()
        finally:
            shared.state.end()

        self.last_p = p
        return processed

    def txt2img_api(self, payload: Mapping[str, Any]) -> processing.Processed:
        """``POST /sdapi/v1/txt2img`` minus HTTP: returns the ``Processed`` (raises ``HTTPException``)."""
        request = api_models.StableDiffusionTxt2ImgProcessingAPI(**payload)
        return self._run_api("txt2img", request, processing.StableDiffusionProcessingTxt2Img)

    def img2img_api(self, payload: Mapping[str, Any]) -> processing.Processed:
        """``POST /sdapi/v1/img2img`` minus HTTP; ``init_images``/``mask`` are base64 strings (see ``b64``)."""
        request = api_models.StableDiffusionImg2ImgProcessingAPI(**payload)
        if request.init_images is None:
            raise HTTPException(status_code=404, detail="Init image not found")
        return self._run_api("img2img", request, processing.StableDiffusionProcessingImg2Img)

    def _run_api(self, tab: str, request, processing_class) -> processing.Processed:
        if request.infotext:
            raise NotImplementedError("the fake API does not apply the 'infotext' request field")
        if tab not in self.api_default_args:
            raise RuntimeError(
                "the API is not initialized; launch(api=True) or launch(nowebui=True)"
            )

        runner = self.runner(tab)
        sampler, scheduler = sd_samplers.get_sampler_and_scheduler(
            request.sampler_name or request.sampler_index, request.scheduler
        )
        if sd_samplers.all_samplers_map.get(sampler) is None:
            raise HTTPException(status_code=400, detail="Sampler not found")

        update: dict[str, Any] = {
            "sampler_name": sampler,
            "do_not_save_samples": not request.save_images,
            "do_not_save_grid": not request.save_images,
        }
        init_images = None
        if tab == "img2img":
            update["mask"] = decode_base64_to_image(request.mask) if request.mask else None
            init_images = request.init_images
        populate = request.copy(update=update)
        if populate.sampler_name:
            populate.sampler_index = None
        if not populate.scheduler and scheduler != "Automatic":
            populate.scheduler = scheduler

        args = dict(vars(populate))
        for key in (
            "script_name",
            "script_args",
            "alwayson_scripts",
            "infotext",
            "include_init_images",
            "send_images",
            "save_images",
        ):
            args.pop(key, None)

        script_args = self.api_script_args(
            tab,
            request.alwayson_scripts,
            script_name=request.script_name,
            script_args=request.script_args,
        )

        with closing(processing_class(sd_model=shared.sd_model, **args)) as p:
            if init_images is not None:
                p.init_images = [decode_base64_to_image(x) for x in init_images]
            p.is_api = True
            p.scripts = runner
            p.outpath_grids = (
                shared.opts.outdir_txt2img_grids
                if tab == "txt2img"
                else shared.opts.outdir_img2img_grids
            )
            p.outpath_samples = (
                shared.opts.outdir_txt2img_samples
                if tab == "txt2img"
                else shared.opts.outdir_img2img_samples
            )

            try:
                shared.state.begin(job=f"scripts_{tab}")
                if request.script_name:
                    p.script_args = script_args
                    processed = runner.run(p, *p.script_args)
                else:
                    p.script_args = tuple(script_args)
                    processed = processing.process_images(p)
            finally:
                shared.state.end()
                shared.total_tqdm.clear()

        self.last_p = p
        return processed

    # --- infotext paste ------------------------------------------------------------------------

    def paste_infotext(self, infotext: str, tab: str = "txt2img") -> dict[Any, Any]:
        """Press the paste button with ``infotext``: returns ``{component: new value}`` for every paste
        field whose update carries a value (converted like ``connect_paste``)."""
        fields = infotext_utils.paste_fields[tab]["fields"]
        updates = infotext_utils.paste_updates(infotext, fields)
        return {
            field[0]: update["value"]
            for field, update in zip(fields, updates, strict=True)
            if "value" in update
        }
