"""The web UI's global argument parser (a subset of A1111 1.10's flags, same names and defaults).

Defaults that depend on the data directory are computed at import, as in A1111; the harness reloads
this module after pointing ``paths_internal`` at a fresh temporary web UI.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from modules.paths_internal import (
    data_path,
    models_path,
    script_path,
    sd_default_config,
    sd_model_file,
)


def normalized_filepath(filepath: str) -> str:
    return str(Path(filepath).absolute())


parser = argparse.ArgumentParser()

parser.add_argument("-f", action="store_true", help=argparse.SUPPRESS)
parser.add_argument("--update-all-extensions", action="store_true")
parser.add_argument("--skip-python-version-check", action="store_true")
parser.add_argument("--skip-torch-cuda-test", action="store_true")
parser.add_argument("--reinstall-xformers", action="store_true")
parser.add_argument("--reinstall-torch", action="store_true")
parser.add_argument("--update-check", action="store_true")
parser.add_argument("--test-server", action="store_true")
parser.add_argument("--log-startup", action="store_true")
parser.add_argument("--skip-prepare-environment", action="store_true")
parser.add_argument("--skip-install", action="store_true")
parser.add_argument("--dump-sysinfo", action="store_true")
parser.add_argument("--loglevel", type=str, default=None)
parser.add_argument("--do-not-download-clip", action="store_true")
parser.add_argument("--data-dir", type=normalized_filepath, default=data_path)
parser.add_argument("--models-dir", type=normalized_filepath, default=None)
parser.add_argument("--config", type=normalized_filepath, default=sd_default_config)
parser.add_argument("--ckpt", type=normalized_filepath, default=sd_model_file)
parser.add_argument("--ckpt-dir", type=normalized_filepath, default=None)
parser.add_argument("--vae-dir", type=normalized_filepath, default=None)
parser.add_argument("--gfpgan-dir", type=str, default=None)
parser.add_argument("--gfpgan-model", type=str, default=None)
parser.add_argument("--no-half", action="store_true")
parser.add_argument("--no-half-vae", action="store_true")
parser.add_argument("--no-progressbar-hiding", action="store_true")
parser.add_argument("--max-batch-count", type=int, default=16)
parser.add_argument(
    "--embeddings-dir", type=normalized_filepath, default=os.path.join(data_path, "embeddings")
)
parser.add_argument(
    "--textual-inversion-templates-dir",
    type=normalized_filepath,
    default=os.path.join(script_path, "textual_inversion_templates"),
)
parser.add_argument(
    "--hypernetwork-dir",
    type=normalized_filepath,
    default=os.path.join(models_path, "hypernetworks"),
)
parser.add_argument(
    "--localizations-dir",
    type=normalized_filepath,
    default=os.path.join(script_path, "localizations"),
)
parser.add_argument("--allow-code", action="store_true")
parser.add_argument("--medvram", action="store_true")
parser.add_argument("--medvram-sdxl", action="store_true")
parser.add_argument("--lowvram", action="store_true")
parser.add_argument("--lowram", action="store_true")
parser.add_argument("--always-batch-cond-uncond", action="store_true")
parser.add_argument("--unload-gfpgan", action="store_true")
parser.add_argument(
    "--precision", type=str, choices=["full", "half", "autocast"], default="autocast"
)
parser.add_argument("--upcast-sampling", action="store_true")
parser.add_argument("--share", action="store_true")
parser.add_argument("--ngrok", type=str, default=None)
parser.add_argument("--ngrok-region", type=str, default="")
parser.add_argument("--enable-insecure-extension-access", action="store_true")
parser.add_argument(
    "--codeformer-models-path",
    type=normalized_filepath,
    default=os.path.join(models_path, "Codeformer"),
)
parser.add_argument(
    "--gfpgan-models-path", type=normalized_filepath, default=os.path.join(models_path, "GFPGAN")
)
parser.add_argument(
    "--esrgan-models-path", type=normalized_filepath, default=os.path.join(models_path, "ESRGAN")
)
parser.add_argument(
    "--realesrgan-models-path",
    type=normalized_filepath,
    default=os.path.join(models_path, "RealESRGAN"),
)
parser.add_argument(
    "--dat-models-path", type=normalized_filepath, default=os.path.join(models_path, "DAT")
)
parser.add_argument("--clip-models-path", type=normalized_filepath, default=None)
parser.add_argument("--xformers", action="store_true")
parser.add_argument("--force-enable-xformers", action="store_true")
parser.add_argument("--xformers-flash-attention", action="store_true")
parser.add_argument("--deepdanbooru", action="store_true")
parser.add_argument("--opt-split-attention", action="store_true")
parser.add_argument("--opt-sdp-attention", action="store_true")
parser.add_argument("--opt-sdp-no-mem-attention", action="store_true")
parser.add_argument("--disable-opt-split-attention", action="store_true")
parser.add_argument("--disable-nan-check", action="store_true")
parser.add_argument("--use-cpu", nargs="+", default=[], type=str.lower)
parser.add_argument("--use-ipex", action="store_true")
parser.add_argument("--disable-model-loading-ram-optimization", action="store_true")
parser.add_argument("--listen", action="store_true")
parser.add_argument("--port", type=int, default=None)
parser.add_argument("--show-negative-prompt", action="store_true")
parser.add_argument("--ui-config-file", type=str, default=os.path.join(data_path, "ui-config.json"))
parser.add_argument("--hide-ui-dir-config", action="store_true")
parser.add_argument("--freeze-settings", action="store_true")
parser.add_argument("--freeze-settings-in-sections", type=str, default=None)
parser.add_argument("--freeze-specific-settings", type=str, default=None)
parser.add_argument("--ui-settings-file", type=str, default=os.path.join(data_path, "config.json"))
parser.add_argument("--gradio-debug", action="store_true")
parser.add_argument("--gradio-auth", type=str, default=None)
parser.add_argument("--gradio-auth-path", type=normalized_filepath, default=None)
parser.add_argument("--gradio-allowed-path", action="append", default=[])
parser.add_argument("--opt-channelslast", action="store_true")
parser.add_argument("--styles-file", type=str, action="append", default=[])
parser.add_argument("--autolaunch", action="store_true")
parser.add_argument("--theme", type=str, default=None)
parser.add_argument("--use-textbox-seed", action="store_true")
parser.add_argument("--disable-console-progressbars", action="store_true")
parser.add_argument("--enable-console-prompts", action="store_true")
parser.add_argument("--vae-path", type=normalized_filepath, default=None)
parser.add_argument("--disable-safe-unpickle", action="store_true")
parser.add_argument("--api", action="store_true")
parser.add_argument("--api-auth", type=str, default=None)
parser.add_argument("--api-log", action="store_true")
parser.add_argument("--nowebui", action="store_true")
parser.add_argument("--ui-debug-mode", action="store_true")
parser.add_argument("--device-id", type=str, default=None)
parser.add_argument("--administrator", action="store_true", default=False)
parser.add_argument("--cors-allow-origins", type=str, default=None)
parser.add_argument("--cors-allow-origins-regex", type=str, default=None)
parser.add_argument("--tls-keyfile", type=str)
parser.add_argument("--tls-certfile", type=str)
parser.add_argument("--disable-tls-verify", action="store_false")
parser.add_argument("--server-name", type=str, default=None)
parser.add_argument("--gradio-queue", action="store_true", default=True)
parser.add_argument("--no-gradio-queue", action="store_true")
parser.add_argument("--skip-version-check", action="store_true")
parser.add_argument("--no-hashing", action="store_true", default=False)
parser.add_argument("--no-download-sd-model", action="store_true", default=False)
parser.add_argument("--subpath", type=str)
parser.add_argument("--add-stop-route", action="store_true")
parser.add_argument("--api-server-stop", action="store_true")
parser.add_argument("--timeout-keep-alive", type=int, default=30)
parser.add_argument("--disable-all-extensions", action="store_true")
parser.add_argument("--disable-extra-extensions", action="store_true")
parser.add_argument("--skip-load-model-at-start", action="store_true")
parser.add_argument("--unix-filenames-sanitization", action="store_true")
parser.add_argument("--filenames-max-length", type=int, default=128)
parser.add_argument("--no-prompt-history", action="store_true")
