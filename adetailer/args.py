"""The arguments of one ADetailer tab, and the parsing of the whole script-argument list.

Keys and defaults are exactly the original extension's, so existing API clients and infotexts
keep working. Unlike the original, a tab is not dropped silently: unknown keys are ignored with a
warning, keys of older versions are accepted as aliases, and a bad value gives one line that names
the tab, the key, the value and what is allowed.
"""

from __future__ import annotations

import json
import math
import typing
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

try:  # pydantic 2 (Forge) ships the 1.x API under pydantic.v1
    from pydantic.v1 import BaseModel, Field, ValidationError, validator
    from pydantic.v1.fields import ModelField
except ImportError:  # pydantic 1.10 (A1111 1.10)
    from pydantic import BaseModel, Field, ValidationError, validator  # type: ignore[no-redef]
    from pydantic.fields import ModelField  # type: ignore[no-redef]

from adetailer.prompts import malformed_token, parse_box

SAME_SAMPLER = "Use same sampler"
SAME_SCHEDULER = "Use same scheduler"
SAME_CHECKPOINT = "Use same checkpoint"
SAME_VAE = "Use same VAE"
CONTROLNET_PASSTHROUGH = "Passthrough"
HIRES_AFTER = "After hires fix"
HIRES_BEFORE = "Before hires fix"


class TabArgs(BaseModel):
    """One tab: which model finds what, how its masks are shaped, and how the redraw runs."""

    ad_model: str = Field("None", description='"None" or a model name from the registry')
    ad_model_classes: str = Field("", description="comma-separated class names (YOLO-World)")
    ad_tab_enable: bool = True
    ad_prompt: str = ""
    ad_negative_prompt: str = ""
    ad_confidence: float = Field(0.3, ge=0.0, le=1.0)
    ad_mask_filter_method: Literal["Area", "Confidence"] = "Area"
    ad_mask_k: int = Field(0, ge=0, description="keep the top k masks; 0 keeps all")
    ad_mask_min_ratio: float = Field(0.0, ge=0.0, le=1.0)
    ad_mask_max_ratio: float = Field(1.0, ge=0.0, le=1.0)
    ad_dilate_erode: int = Field(4, description="pixels; negative erodes")
    ad_x_offset: int = 0
    ad_y_offset: int = Field(0, description="pixels; positive moves the mask up")
    ad_mask_merge_invert: Literal["None", "Merge", "Merge and Invert"] = "None"
    ad_mask_blur: int = Field(4, ge=0)
    ad_denoising_strength: float = Field(0.4, ge=0.0, le=1.0)
    ad_inpaint_only_masked: bool = True
    ad_inpaint_only_masked_padding: int = Field(32, ge=0)
    ad_use_inpaint_width_height: bool = False
    ad_inpaint_width: int = Field(512, gt=0)
    ad_inpaint_height: int = Field(512, gt=0)
    ad_use_steps: bool = False
    ad_steps: int = Field(28, gt=0)
    ad_use_cfg_scale: bool = False
    ad_cfg_scale: float = Field(7.0, ge=0.0)
    ad_use_checkpoint: bool = False
    ad_checkpoint: str | None = None
    ad_use_vae: bool = False
    ad_vae: str | None = None
    ad_use_sampler: bool = False
    ad_sampler: str = "DPM++ 2M Karras"
    ad_scheduler: str = SAME_SCHEDULER
    ad_use_noise_multiplier: bool = False
    ad_noise_multiplier: float = Field(1.0, ge=0.5, le=1.5)
    ad_use_clip_skip: bool = False
    ad_clip_skip: int = Field(1, ge=1, le=12)
    ad_restore_face: bool = False
    ad_controlnet_model: str = Field("None", description='"None", "Passthrough" or a model name')
    ad_controlnet_module: str = "None"
    ad_controlnet_weight: float = Field(1.0, ge=0.0, le=1.0)
    ad_controlnet_guidance_start: float = Field(0.0, ge=0.0, le=1.0)
    ad_controlnet_guidance_end: float = Field(1.0, ge=0.0, le=1.0)
    # New in this version; the defaults keep the original behaviour.
    ad_tiled_detection: bool = Field(
        False, description="also detect on overlapping tiles to find small faces"
    )
    ad_hires_stage: Literal["After hires fix", "Before hires fix"] = Field(
        HIRES_AFTER,
        description="txt2img with hires fix: detail the final image, or each first-pass image"
        " (the hires pass then starts from the detailed image)",
    )
    ad_color_match: Literal["None", "Border"] = Field(
        "None",
        description="match the redraw's colours to the original's along the mask's edge before"
        " the paste",
    )

    class Config:
        allow_mutation = False
        extra = "forbid"
        title = "ADetailer tab"

    @validator("*", pre=True)
    def _strict_types(cls, value: Any, field: ModelField) -> Any:  # noqa: N805
        return _convert(value, field)

    def need_skip(self) -> bool:
        """A tab without a model, or switched off, does nothing."""
        return self.ad_model == "None" or not self.ad_tab_enable

    def class_names(self) -> list[str]:
        return [name.strip() for name in self.ad_model_classes.split(",") if name.strip()]

    def replace(self, **changes: Any) -> TabArgs:
        """A validated copy with some values changed (e.g. by an X/Y/Z plot axis)."""
        return TabArgs(**{**self.dict(), **changes})


DEFAULTS = TabArgs()
FIELD_NAMES: tuple[str, ...] = tuple(TabArgs.__fields__)
# The choices of the two mask options, as the model spells them.
MASK_FILTER_METHODS: tuple[str, ...] = typing.get_args(
    TabArgs.__fields__["ad_mask_filter_method"].outer_type_
)
MASK_MERGE_INVERT: tuple[str, ...] = typing.get_args(
    TabArgs.__fields__["ad_mask_merge_invert"].outer_type_
)
HIRES_STAGES: tuple[str, ...] = typing.get_args(TabArgs.__fields__["ad_hires_stage"].outer_type_)
COLOR_MATCH_MODES: tuple[str, ...] = typing.get_args(
    TabArgs.__fields__["ad_color_match"].outer_type_
)

# Each "use separate ..." toggle and the values it switches on; they mean nothing while it is off.
TOGGLED: dict[str, tuple[str, ...]] = {
    "ad_inpaint_only_masked": ("ad_inpaint_only_masked_padding",),
    "ad_use_inpaint_width_height": ("ad_inpaint_width", "ad_inpaint_height"),
    "ad_use_steps": ("ad_steps",),
    "ad_use_cfg_scale": ("ad_cfg_scale",),
    "ad_use_checkpoint": ("ad_checkpoint",),
    "ad_use_vae": ("ad_vae",),
    "ad_use_sampler": ("ad_sampler", "ad_scheduler"),
    "ad_use_noise_multiplier": ("ad_noise_multiplier",),
    "ad_use_clip_skip": ("ad_clip_skip",),
}

# Keys that older versions of the original extension used for the same values.
ALIASES: dict[str, str] = {
    "ad_conf": "ad_confidence",
    "ad_mask_k_largest": "ad_mask_k",
    "ad_inpaint_full_res": "ad_inpaint_only_masked",
    "ad_inpaint_full_res_padding": "ad_inpaint_only_masked_padding",
    "ad_tap_enable": "ad_tab_enable",
}
# Keys clients send that carry nothing for a tab; accepted without a warning.
IGNORED_KEYS = frozenset({"is_api", "ad_enable"})


def ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def tab_label(index: int) -> str:
    """How messages name a tab: index 0 is the "1st tab"."""
    return f"ADetailer {ordinal(index + 1)} tab"


# --- value conversion -------------------------------------------------------------------------

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _is(kind: Any, base: type) -> bool:
    """Pydantic 1 turns `int` with bounds into a constrained subclass of int."""
    if base is not bool and _is(kind, bool):
        return False
    return isinstance(kind, type) and issubclass(kind, base)


def _convert(value: Any, model_field: ModelField) -> Any:
    """Accept what API clients and infotexts really send, refuse what would be guessed.

    Pydantic 1 would turn 3.7 into 3 and 2 into True; a user who sent that made a mistake.
    """
    kind = model_field.outer_type_
    if value is None:
        if model_field.allow_none:
            return None
        raise ValueError("null")
    if typing.get_origin(kind) is Literal:
        return _to_choice(value, typing.get_args(kind))
    if _is(kind, bool):
        return _to_bool(value)
    if _is(kind, int):
        return _to_int(value)
    if _is(kind, float):
        return _to_float(value)
    if isinstance(value, str):
        return value
    raise ValueError("not text")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("not a boolean")


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, int):
        return value
    number = _to_float(value)
    if not number.is_integer():
        raise ValueError("not an integer")
    return int(number)


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError("not a number") from None
    else:
        raise ValueError("not a number")
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    return number


def _to_choice(value: Any, choices: tuple[str, ...]) -> str:
    if isinstance(value, str):
        for choice in choices:
            if value.strip().lower() == choice.lower():
                return choice
    raise ValueError("not a choice")


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def allowed_values(key: str) -> str:
    """What a key accepts, in words, for error messages and the README."""
    model_field = TabArgs.__fields__[key]
    kind = model_field.outer_type_
    if typing.get_origin(kind) is Literal:
        return "one of " + ", ".join(json.dumps(c) for c in typing.get_args(kind))
    if _is(kind, bool):
        return "true or false"
    if _is(kind, str):
        return "text or null" if model_field.allow_none else "text"
    info = model_field.field_info
    noun = "an integer" if _is(kind, int) else "a number"
    low = info.ge if info.ge is not None else info.gt
    high = info.le
    if low is not None and high is not None:
        return f"{noun} from {_number_text(low)} to {_number_text(high)}"
    if info.gt is not None:
        return f"{noun} > {_number_text(info.gt)}"
    if low is not None:
        return f"{noun} >= {_number_text(low)}"
    return noun


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."


# --- one tab ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choices:
    """Names the host knows. `None` means "not known here": the name is not checked."""

    models: Collection[str] | None = None
    samplers: Collection[str] | None = None
    schedulers: Collection[str] | None = None
    checkpoints: Collection[str] | None = None
    vaes: Collection[str] | None = None
    controlnet_models: Collection[str] | None = None
    controlnet_modules: Collection[str] | None = None


@dataclass(frozen=True)
class TabResult:
    """One tab's outcome: valid `args`, or the one-line `error` that made it skip."""

    index: int
    args: TabArgs | None
    error: str | None = None
    warnings: tuple[str, ...] = ()


def _rename_aliases(raw: Mapping[str, Any], label: str) -> tuple[dict[str, Any], list[str]]:
    values: dict[str, Any] = {}
    warnings: list[str] = []
    unknown: list[Any] = []
    for key, value in raw.items():
        if not isinstance(key, str):
            unknown.append(key)
        elif key in TabArgs.__fields__:
            values[key] = value
        elif key in ALIASES:
            target = ALIASES[key]
            if target in raw:
                warnings.append(f"{label}: old key {key!r} ignored, {target!r} is also given")
                continue
            values[target] = from_percent(value) if key == "ad_conf" else value
        elif key not in IGNORED_KEYS:
            unknown.append(key)
    if unknown:
        shown = ", ".join(_shown(k) for k in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        warnings.insert(0, f"{label}: unknown keys ignored: {shown}{more}")
    return values, warnings


def from_percent(value: Any) -> Any:
    """Early versions sent the confidence as an integer percentage ("ad_conf": 30)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value / 100
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip()) / 100
    return value


def _first_error(exc: ValidationError, values: Mapping[str, Any], label: str) -> str:
    errors = exc.errors()
    for error in errors:
        key = str(error["loc"][0]) if error["loc"] else ""
        if key in TabArgs.__fields__:
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            return (
                f"{label}: {key}={_shown(values.get(key))} is not allowed; "
                f"expected {allowed_values(key)}{more}"
            )
    return f"{label}: {errors[0]['msg']}"


def _name_errors(args: TabArgs, choices: Choices, label: str) -> list[str]:
    checks: list[tuple[str, bool, Collection[str] | None, tuple[str, ...]]] = [
        ("ad_model", True, choices.models, ("None",)),
        ("ad_sampler", args.ad_use_sampler, choices.samplers, (SAME_SAMPLER,)),
        ("ad_scheduler", args.ad_use_sampler, choices.schedulers, (SAME_SCHEDULER,)),
        ("ad_checkpoint", args.ad_use_checkpoint, choices.checkpoints, (SAME_CHECKPOINT, "None")),
        ("ad_vae", args.ad_use_vae, choices.vaes, (SAME_VAE, "None")),
        (
            "ad_controlnet_model",
            True,
            choices.controlnet_models,
            ("None", CONTROLNET_PASSTHROUGH),
        ),
        (
            "ad_controlnet_module",
            args.ad_controlnet_model not in ("None", CONTROLNET_PASSTHROUGH),
            choices.controlnet_modules,
            ("None",),
        ),
    ]
    errors = []
    for key, relevant, known, always in checks:
        value = getattr(args, key)
        if not relevant or known is None or value is None or value in always or value in known:
            continue
        names = list(dict.fromkeys([*always, *known]))
        listed = ", ".join(json.dumps(n) for n in names[:12])
        more = f" (and {len(names) - 12} more)" if len(names) > 12 else ""
        errors.append(
            f"{label}: {key}={_shown(value)} is not allowed; expected one of {listed}{more}"
        )
    if args.ad_controlnet_guidance_start > args.ad_controlnet_guidance_end:
        errors.append(
            f"{label}: ad_controlnet_guidance_start={args.ad_controlnet_guidance_start} is not allowed;"
            f" expected a number no greater than ad_controlnet_guidance_end={args.ad_controlnet_guidance_end}"
        )
    return errors


def parse_tab(raw: Any, index: int = 0, choices: Choices | None = None) -> TabResult:
    """Validate one tab's dict. Never raises: a bad tab comes back with its error line."""
    label = tab_label(index)
    if not isinstance(raw, Mapping):
        error = f"{label}: expected an object of ad_* keys, got {type(raw).__name__} {_shown(raw)}"
        return TabResult(index, None, error)
    values, warnings = _rename_aliases(raw, label)
    try:
        args = TabArgs(**values)
    except ValidationError as exc:
        return TabResult(index, None, _first_error(exc, values, label), tuple(warnings))
    errors = _name_errors(args, choices or Choices(), label) + _token_errors(args, label)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return TabResult(index, None, errors[0] + more, tuple(warnings))
    if parse_box(args.ad_negative_prompt).has_seeds:
        warnings.append(
            f"{label}: the seeds in ad_negative_prompt are not used; each detection takes its"
            " seed from ad_prompt"
        )
    return TabResult(index, args, None, tuple(warnings))


def _token_errors(args: TabArgs, label: str) -> list[str]:
    """Malformed seed tokens (`[SEP:abc]`) in the prompts: the tab would redraw with a guess."""
    errors = []
    for key in ("ad_prompt", "ad_negative_prompt"):
        error = malformed_token(getattr(args, key))
        if error is not None:
            errors.append(f"{label}: {key}: {error}")
    return errors


# --- the whole argument list -----------------------------------------------------------------


@dataclass(frozen=True)
class ScriptArgs:
    """The script's arguments: `[enable?, skip_img2img?, {tab}, {tab}, ...]` understood."""

    enabled: bool
    skip_img2img: bool
    tabs: tuple[TabResult, ...] = ()
    problems: tuple[str, ...] = field(default=())

    @property
    def valid_tabs(self) -> list[tuple[int, TabArgs]]:
        return [(t.index, t.args) for t in self.tabs if t.args is not None]

    @property
    def active_tabs(self) -> list[tuple[int, TabArgs]]:
        """The tabs that will run, with their position (which names them in infotexts)."""
        return [(i, a) for i, a in self.valid_tabs if not a.need_skip()]

    @property
    def will_run(self) -> bool:
        return self.enabled and bool(self.active_tabs)

    @property
    def errors(self) -> list[str]:
        return list(self.problems) + [t.error for t in self.tabs if t.error]

    @property
    def warnings(self) -> list[str]:
        return [w for t in self.tabs for w in t.warnings]


def parse_script_args(args: Sequence[Any], choices: Choices | None = None) -> ScriptArgs:
    """Leading booleans are optional: a list of tab dicts alone means enabled, no skip.

    Items that are neither a leading boolean nor a dict are reported and skipped; they never
    shift the other tabs' positions, because a tab's position names it in the infotext.
    """
    items = list(args) if isinstance(args, (list, tuple)) else [args]
    flags: list[bool] = []
    while items and isinstance(items[0], bool) and len(flags) < 2:
        flags.append(items.pop(0))
    enabled = flags[0] if flags else True
    skip_img2img = flags[1] if len(flags) > 1 else False
    tabs = tuple(parse_tab(raw, index, choices) for index, raw in enumerate(items))
    problems = ("ADetailer: enabled, but no tab arguments given",) if enabled and not tabs else ()
    return ScriptArgs(enabled, skip_img2img, tabs, problems)


def tab_json_schema() -> dict[str, Any]:
    """The JSON schema of one tab, for API clients (`GET /adetailer/v1/schema`)."""
    return TabArgs.schema()
