"""The web UI's state that detailing changes for a while and puts back.

Checkpoint, VAE and CLIP skip of the detail passes; the console's total progress bar; other
scripts' hooks on the model; params.txt (which every nested generation overwrites).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from adetailer.args import SAME_CHECKPOINT, SAME_VAE, TabArgs
from adetailer_webui import host, log


def overrides_for(args: TabArgs) -> dict[str, Any]:
    wanted: dict[str, Any] = {}
    if args.ad_use_checkpoint and args.ad_checkpoint not in (None, "", "None", SAME_CHECKPOINT):
        wanted["sd_model_checkpoint"] = args.ad_checkpoint
    if args.ad_use_vae and args.ad_vae not in (None, "", SAME_VAE):
        wanted["sd_vae"] = args.ad_vae
    if args.ad_use_clip_skip:
        wanted["CLIP_stop_at_last_layers"] = args.ad_clip_skip
    return wanted


class Overrides:
    """Checkpoint, VAE and CLIP skip of the detail pass, switched only when they change.

    A1111 would load a separate checkpoint or VAE for every detection and switch back after
    each; here each is loaded once per image and the user's settings come back at the end.
    """

    KEYS = ("sd_model_checkpoint", "sd_vae", "CLIP_stop_at_last_layers")

    def __init__(self) -> None:
        from modules import shared

        opts = shared.opts
        self.saved = {key: getattr(opts, key, None) for key in self.KEYS}
        self.present = {key: key in opts.data for key in self.KEYS}
        self.current = dict(self.saved)

    def use(self, wanted: Mapping[str, Any]) -> None:
        for key in self.KEYS:
            target = wanted.get(key, self.saved[key])
            if target != self.current[key]:
                self._set(key, target)

    def restore(self) -> None:
        from modules import shared

        self.use({})
        for key in self.KEYS:
            if not self.present[key]:
                shared.opts.data.pop(key, None)

    def _set(self, key: str, value: Any) -> None:
        self.current[key] = value
        if host.is_forge():
            self._set_in_forge(key, value)
            return
        from modules import sd_models, sd_vae, shared

        shared.opts.set(key, value, is_api=True, run_callbacks=False)
        if key == "sd_model_checkpoint":
            sd_models.reload_model_weights()
        elif key == "sd_vae":
            sd_vae.reload_vae_weights()

    def _set_in_forge(self, key: str, value: Any) -> None:
        """Forge switches checkpoints through `sysinfo.set_config` and loads the model at the next
        `process_images` (the detail pass; the generation's next batch reloads the user's own).
        Its VAE comes from its own "VAE / Text Encoder" setting, not from `sd_vae`."""
        if key == "sd_vae":
            if value is not None:
                log.info(
                    "Forge chooses the VAE in its own setting; the tab's separate VAE is not used."
                )
            return
        from modules import sysinfo

        sysinfo.set_config({key: value}, is_api=True, run_callbacks=False, save_config=False)


@contextlib.contextmanager
def model_overrides() -> Iterator[Overrides]:
    overrides = Overrides()
    try:
        yield overrides
    finally:
        overrides.restore()


@contextlib.contextmanager
def option_for_a_while(key: str, value: Any) -> Iterator[None]:
    """A web UI option with another value, and back as it was (absent from `opts.data` too).

    Not `override_settings`: A1111 leaves an override of a key missing from `opts.data` in place
    after the generation."""
    from modules import shared

    data = shared.opts.data
    had, before = key in data, data.get(key)
    data[key] = value
    try:
        yield
    finally:
        if had:
            data[key] = before
        else:
            data.pop(key, None)


def quiet_total_progress() -> contextlib.AbstractContextManager[None]:
    """The console's total progress bar would count the detail passes as extra main steps."""
    return option_for_a_while("multiple_tqdm", False)


@contextlib.contextmanager
def same_prompts(p: Any) -> Iterator[None]:
    saved = (p.all_prompts, p.all_negative_prompts)
    try:
        yield
    finally:
        p.all_prompts, p.all_negative_prompts = saved


def other_scripts_postprocess(p: Any) -> None:
    """Let other scripts (ControlNet) undo their hooks on the model before the detail passes."""
    if p.scripts is None:
        return
    from modules.processing import Processed

    with same_prompts(p):
        p.scripts.postprocess(copy.copy(p), Processed(p, [], p.seed, ""))


def other_scripts_process(p: Any) -> None:
    """And re-arm them for what follows (the next batch, or the hires pass)."""
    if p.scripts is None:
        return
    with same_prompts(p):
        copied = copy.copy(p)
        if isinstance(getattr(p, "extra_result_images", None), list):
            # Forge's ControlNet adds its detected maps to this list, which the output shows:
            # the generation already has them from its own process
            copied.extra_result_images = []
        p.scripts.before_process(copied)
        p.scripts.process(copied)


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf8")
    except OSError:
        return None


def write_text(path: Path, content: str | None) -> None:
    if content is None:
        return
    with contextlib.suppress(OSError):
        path.write_text(content, encoding="utf8")
