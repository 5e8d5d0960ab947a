"""Global parser and parsed command line of the fake web UI.

A1111 runs every extension's ``preload.py`` and then parses ``sys.argv`` right here at import time.
In the test process ``sys.argv`` belongs to pytest, so the import only parses an empty command line
(no extensions are installed yet); the harness does the real sequence per web UI
(``harness.FakeWebUI.run_preload``) and copies the result into this same ``cmd_opts`` object.
"""

from __future__ import annotations

import argparse

from modules import cmd_args
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

parser: argparse.ArgumentParser = cmd_args.parser

cmd_opts: argparse.Namespace = parser.parse_args([])
cmd_opts.webui_is_non_local = any(
    [cmd_opts.share, cmd_opts.listen, cmd_opts.ngrok, cmd_opts.server_name]
)
cmd_opts.disable_extension_access = (
    cmd_opts.webui_is_non_local and not cmd_opts.enable_insecure_extension_access
)
