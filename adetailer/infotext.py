"""ADetailer's parameters in an image's infotext: written like the original, read back from any version.

Write: `to_infotext_params` gives the `extra_generation_params` entries for the tabs that run,
with the original's keys, its " 2nd", " 3rd" ... suffixes and its rule of leaving out values
that say nothing (defaults, and values whose "use separate ..." toggle is off).

Read: `from_infotext_params` takes the dict A1111's infotext parser returns (every value a
string) and gives back each tab's arguments, including keys written by older versions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from adetailer.__version__ import __version__
from adetailer.args import DEFAULTS, TOGGLED, TabArgs, from_percent, ordinal, parse_tab

# (argument, infotext key) in the original's order.
INFOTEXT_KEYS: tuple[tuple[str, str], ...] = (
    ("ad_model", "ADetailer model"),
    ("ad_model_classes", "ADetailer model classes"),
    ("ad_tab_enable", "ADetailer tab enable"),
    ("ad_prompt", "ADetailer prompt"),
    ("ad_negative_prompt", "ADetailer negative prompt"),
    ("ad_confidence", "ADetailer confidence"),
    ("ad_mask_filter_method", "ADetailer method to decide top k masks"),
    ("ad_mask_k", "ADetailer mask only top k"),
    ("ad_mask_min_ratio", "ADetailer mask min ratio"),
    ("ad_mask_max_ratio", "ADetailer mask max ratio"),
    ("ad_x_offset", "ADetailer x offset"),
    ("ad_y_offset", "ADetailer y offset"),
    ("ad_dilate_erode", "ADetailer dilate erode"),
    ("ad_mask_merge_invert", "ADetailer mask merge invert"),
    ("ad_mask_blur", "ADetailer mask blur"),
    ("ad_denoising_strength", "ADetailer denoising strength"),
    ("ad_inpaint_only_masked", "ADetailer inpaint only masked"),
    ("ad_inpaint_only_masked_padding", "ADetailer inpaint padding"),
    ("ad_use_inpaint_width_height", "ADetailer use inpaint width height"),
    ("ad_inpaint_width", "ADetailer inpaint width"),
    ("ad_inpaint_height", "ADetailer inpaint height"),
    ("ad_use_steps", "ADetailer use separate steps"),
    ("ad_steps", "ADetailer steps"),
    ("ad_use_cfg_scale", "ADetailer use separate CFG scale"),
    ("ad_cfg_scale", "ADetailer CFG scale"),
    ("ad_use_checkpoint", "ADetailer use separate checkpoint"),
    ("ad_checkpoint", "ADetailer checkpoint"),
    ("ad_use_vae", "ADetailer use separate VAE"),
    ("ad_vae", "ADetailer VAE"),
    ("ad_use_sampler", "ADetailer use separate sampler"),
    ("ad_sampler", "ADetailer sampler"),
    ("ad_scheduler", "ADetailer scheduler"),
    ("ad_use_noise_multiplier", "ADetailer use separate noise multiplier"),
    ("ad_noise_multiplier", "ADetailer noise multiplier"),
    ("ad_use_clip_skip", "ADetailer use separate CLIP skip"),
    ("ad_clip_skip", "ADetailer CLIP skip"),
    ("ad_restore_face", "ADetailer restore face"),
    ("ad_controlnet_model", "ADetailer ControlNet model"),
    ("ad_controlnet_module", "ADetailer ControlNet module"),
    ("ad_controlnet_weight", "ADetailer ControlNet weight"),
    ("ad_controlnet_guidance_start", "ADetailer ControlNet guidance start"),
    ("ad_controlnet_guidance_end", "ADetailer ControlNet guidance end"),
    ("ad_tiled_detection", "ADetailer tiled detection"),
    ("ad_hires_stage", "ADetailer hires stage"),
    ("ad_color_match", "ADetailer color match"),
)
KEY_OF: dict[str, str] = dict(INFOTEXT_KEYS)
VERSION_KEY = "ADetailer version"
# Keys this version writes besides the tabs' own (see the web UI side).
DETECTIONS_KEY = "ADetailer detections"
WARNINGS_KEY = "ADetailer warnings"

# Keys older versions of the original wrote for the same values.
OLD_KEYS: dict[str, str] = {
    "ADetailer conf": "ad_confidence",  # an integer percentage
    "ADetailer inpaint full": "ad_inpaint_only_masked",
    "ADetailer dilate/erode": "ad_dilate_erode",
    "ADetailer mask merge/invert": "ad_mask_merge_invert",
    "ADetailer use inpaint width/height": "ad_use_inpaint_width_height",
    "ADetailer mask only top k largest": "ad_mask_k",
}
ARG_OF: dict[str, str] = {key: arg for arg, key in INFOTEXT_KEYS} | OLD_KEYS

# A value is left out when its toggle (args.TOGGLED) is off; the toggle itself is left out too.
# The original keeps "inpaint only masked" itself even when it is off (only its padding goes).
_TOGGLES_KEPT_WHEN_OFF = frozenset({"ad_inpaint_only_masked"})
# Values that are left out when they equal their default.
_LEFT_OUT_AT_DEFAULT = (
    "ad_model_classes",
    "ad_prompt",
    "ad_negative_prompt",
    "ad_mask_min_ratio",
    "ad_mask_max_ratio",
    "ad_x_offset",
    "ad_y_offset",
    "ad_mask_merge_invert",
    "ad_scheduler",
    "ad_restore_face",
    "ad_controlnet_module",
    "ad_controlnet_weight",
    "ad_controlnet_guidance_start",
    "ad_controlnet_guidance_end",
    "ad_tiled_detection",
    "ad_hires_stage",
    "ad_color_match",
)


def infotext_suffix(index: int) -> str:
    """ "" for the first tab, " 2nd", " 3rd", " 4th" ... for later ones."""
    return "" if index == 0 else f" {ordinal(index + 1)}"


def relevant_values(args: TabArgs) -> dict[str, Any]:
    """The values an infotext keeps for a tab, by argument name, in the original's order.

    Two tabs with the same relevant values detail an image the same way, which is what the
    infotext round trip promises.
    """
    values = {arg: getattr(args, arg) for arg, _ in INFOTEXT_KEYS}
    del values["ad_tab_enable"]  # a written tab always ran
    for toggle, dependents in TOGGLED.items():
        if not values[toggle]:
            for arg in dependents:
                values.pop(arg, None)
            if toggle not in _TOGGLES_KEPT_WHEN_OFF:
                del values[toggle]
    if values["ad_mask_k"] == 0:
        del values["ad_mask_k"]
        del values["ad_mask_filter_method"]
    if values["ad_controlnet_model"] == "None":
        for arg in [a for a in values if a.startswith("ad_controlnet_")]:
            del values[arg]
    for arg in _LEFT_OUT_AT_DEFAULT:
        if arg in values and values[arg] == getattr(DEFAULTS, arg):
            del values[arg]
    return values


def to_infotext_params(tabs: Iterable[tuple[int, TabArgs]]) -> dict[str, Any]:
    """Infotext entries for the tabs that run, each named by its position."""
    params: dict[str, Any] = {}
    for index, args in tabs:
        if args.need_skip():
            continue
        suffix = infotext_suffix(index)
        for arg, value in relevant_values(args).items():
            if value is not None:  # A1111 leaves out None values; so does the standalone writer
                params[KEY_OF[arg] + suffix] = _survives_parsing(value)
    if params:
        params[VERSION_KEY] = __version__
    return params


def _survives_parsing(value: Any) -> Any:
    """Quote text A1111 would write bare but read back changed.

    A1111 quotes only values with a comma, colon or newline; its parser then drops leading
    spaces, unquotes any value wrapped in double quotes, and reads a value that starts with one
    up to the next double quote further on. Such text is written JSON-quoted.
    """
    if not isinstance(value, str) or any(c in value for c in ",:\n"):
        return value
    if value != value.lstrip() or value.startswith('"'):
        return json.dumps(value, ensure_ascii=False)
    return value


def normalized(args: TabArgs) -> TabArgs:
    """The tab an infotext gives back: every value it leaves out at its default."""
    return DEFAULTS.replace(**relevant_values(args))


_SUFFIX = re.compile(r"^(?P<base>.+?)(?: (?P<n>\d+)(?:st|nd|rd|th))?$")


def _split_key(key: str) -> tuple[str, int] | None:
    """ "ADetailer model 2nd" -> ("ADetailer model", 1); None for keys that are not ADetailer's."""
    match = _SUFFIX.match(key)
    if match is None or match.group("base") not in ARG_OF:
        return None
    number = match.group("n")
    if number is None:
        return match.group("base"), 0
    index = int(number) - 1
    return (match.group("base"), index) if index >= 1 else None


def _joined_sizes(params: Mapping[str, Any]) -> dict[str, Any]:
    """A1111 splits any "<a>x<b>" value into "<key>-1" and "<key>-2"; join them back."""
    joined = dict(params)
    for key in params:
        base = key[:-2]
        if key.endswith("-1") and base + "-2" in params and base not in params:
            joined[base] = f"{params[key]}x{params[base + '-2']}"
    return joined


def from_infotext_params(params: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    """Each tab's raw values by tab position, from a parsed infotext; tabs without keys are absent.

    Where an old key and the current one both appear, the current one wins.
    """
    found: list[tuple[bool, int, str, Any]] = []
    for key, value in _joined_sizes(params).items():
        split = _split_key(key) if isinstance(key, str) else None
        if split is None:
            continue
        base, index = split
        if base == "ADetailer conf":
            value = from_percent(value)
        found.append((base not in OLD_KEYS, index, ARG_OF[base], value))
    tabs: dict[int, dict[str, Any]] = {}
    for _current, index, arg, value in sorted(found, key=lambda item: item[0]):
        tabs.setdefault(index, {})[arg] = value
    return {i: tabs[i] for i in sorted(tabs)}


def tabs_from_infotext(params: Mapping[str, Any]) -> dict[int, TabArgs]:
    """Validated tabs from a parsed infotext; a tab whose values do not validate is left out."""
    return validated_tabs(from_infotext_params(params))


def validated_tabs(raw_tabs: Mapping[int, Mapping[str, Any]]) -> dict[int, TabArgs]:
    """`from_infotext_params`'s raw values validated, tab by tab."""
    tabs = {}
    for index, raw in raw_tabs.items():
        result = parse_tab({**raw, "ad_tab_enable": True}, index)
        if result.args is not None:
            tabs[index] = result.args
    return tabs
