"""``modules.shared``: the process-wide state extensions read (``opts``, ``cmd_opts``, ``state``, ...).

``sd_model`` is a property (installed by ``shared_items``) that loads the model on first access,
as in A1111 1.10. ``opts``/``state``/``cmd_opts`` are created once and then reset in place by the
harness, so references an extension captured at import time stay valid across web UI states.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from modules import options, shared_cmd_options, shared_items, util
from modules.paths_internal import (  # noqa: F401
    data_path,
    default_sd_model_file,
    extensions_builtin_dir,
    extensions_dir,
    models_path,
    script_path,
    sd_configs_path,
    sd_default_config,
    sd_model_file,
)

if TYPE_CHECKING:
    import argparse

    import gradio as gr

    from modules import shared_state, shared_total_tqdm, styles

cmd_opts: argparse.Namespace = shared_cmd_options.cmd_opts
parser = shared_cmd_options.parser

batch_cond_uncond = True
parallel_processing_allowed = True
styles_filename = cmd_opts.styles_file = (
    cmd_opts.styles_file
    if len(cmd_opts.styles_file) > 0
    else [os.path.join(data_path, "styles.csv")]
)
config_filename: str = cmd_opts.ui_settings_file
hide_dirs = {"visible": not cmd_opts.hide_ui_dir_config}

demo: gr.Blocks | None = None
device: Any = None
weight_load_location: str | None = None
xformers_available = False
hypernetworks: dict = {}
loaded_hypernetworks: list = []

state: shared_state.State = None  # type: ignore[assignment]
prompt_styles: styles.StyleDatabase = None  # type: ignore[assignment]
interrogator = None
face_restorers: list = []

options_templates: dict = None  # type: ignore[assignment]
opts: options.Options = None  # type: ignore[assignment]
restricted_opts: set[str] = None  # type: ignore[assignment]

settings_components: dict | None = None
tab_names: list[str] = []

latent_upscale_default_mode = "Latent"
latent_upscale_modes = {
    "Latent": {"mode": "bilinear", "antialias": False},
    "Latent (antialiased)": {"mode": "bilinear", "antialias": True},
    "Latent (bicubic)": {"mode": "bicubic", "antialias": False},
    "Latent (bicubic antialiased)": {"mode": "bicubic", "antialias": True},
    "Latent (nearest)": {"mode": "nearest", "antialias": False},
    "Latent (nearest-exact)": {"mode": "nearest-exact", "antialias": False},
}

sd_upscalers: list = []
clip_model = None
progress_print_out = sys.stdout

total_tqdm: shared_total_tqdm.TotalTQDM = None  # type: ignore[assignment]
mem_mon = None

options_section = options.options_section
OptionInfo = options.OptionInfo
OptionHTML = options.OptionHTML

natural_sort_key = util.natural_sort_key
listfiles = util.listfiles
html_path = util.html_path
html = util.html
walk_files = util.walk_files
ldm_print = util.ldm_print

list_checkpoint_tiles = shared_items.list_checkpoint_tiles
refresh_checkpoints = shared_items.refresh_checkpoints
list_samplers = shared_items.list_samplers
reload_hypernetworks = shared_items.reload_hypernetworks

hf_endpoint = os.getenv("HF_ENDPOINT", "https://huggingface.co")
