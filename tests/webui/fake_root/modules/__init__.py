"""Fake ``modules`` package of AUTOMATIC1111 web UI 1.10 for ADetailer's tests.

In the real web UI every submodule has been imported by the time an extension runs, so
``import modules; modules.sd_models.checkpoint_tiles()`` works; importing this package does the
same and initializes ``shared`` with defaults (no config file). ``tests/webui/harness.py`` then
creates a fresh web UI state per test. Importing ``modules.paths`` (done here) replaces
``torch.load`` with ``modules.safe.load``, as A1111 does.
"""

from modules import paths_internal, errors, cmd_args, shared_cmd_options, util, options  # noqa: I001  (order matters)
from modules import shared, shared_items, script_callbacks, extensions, scripts, paths, safe
from modules import shared_options, shared_state, shared_total_tqdm, styles, devices, shared_init

shared_init.initialize()

from modules import upscaler  # noqa: E402

shared.sd_upscalers = upscaler.builtin_upscalers()

from modules import (  # noqa: E402
    extra_networks,
    face_restoration,
    images,
    infotext_utils,
    masking,
    processing,
    rng,
    script_loading,
    scripts_auto_postprocessing,
    scripts_postprocessing,
    sd_models,
    sd_samplers,
    sd_samplers_common,
    sd_samplers_fake,
    sd_schedulers,
    sd_vae,
    ui_components,
)
from modules.api import models as _api_models  # noqa: E402, F401

__all__ = [
    "cmd_args",
    "devices",
    "errors",
    "extensions",
    "extra_networks",
    "face_restoration",
    "images",
    "infotext_utils",
    "masking",
    "options",
    "paths",
    "paths_internal",
    "processing",
    "rng",
    "safe",
    "script_callbacks",
    "script_loading",
    "scripts",
    "scripts_auto_postprocessing",
    "scripts_postprocessing",
    "sd_models",
    "sd_samplers",
    "sd_samplers_common",
    "sd_samplers_fake",
    "sd_schedulers",
    "sd_vae",
    "shared",
    "shared_cmd_options",
    "shared_init",
    "shared_items",
    "shared_options",
    "shared_state",
    "shared_total_tqdm",
    "styles",
    "ui_components",
    "upscaler",
    "util",
]
