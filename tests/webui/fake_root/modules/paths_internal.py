"""Paths of the fake web UI.

A1111 derives these once from ``--data-dir``/``--models-dir`` at import time and other modules copy
them with ``from modules.paths_internal import ...``. The harness re-points every copy when it
creates a fresh web UI state in a temporary directory (``harness.set_webui_paths``).
"""

from __future__ import annotations

import os

cwd = os.getcwd()
modules_path = os.path.dirname(os.path.realpath(__file__))
script_path = os.path.dirname(modules_path)

sd_configs_path = os.path.join(script_path, "configs")
sd_default_config = os.path.join(sd_configs_path, "v1-inference.yaml")
sd_model_file = os.path.join(script_path, "model.ckpt")
default_sd_model_file = sd_model_file

data_path = script_path
models_path = os.path.join(data_path, "models")
extensions_dir = os.path.join(data_path, "extensions")
extensions_builtin_dir = os.path.join(script_path, "extensions-builtin")
config_states_dir = os.path.join(script_path, "config_states")
default_output_dir = os.path.join(data_path, "outputs")
