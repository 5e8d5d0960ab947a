"""``modules.infotext_utils`` (alias ``modules.generation_parameters_copypaste``): infotext parsing,
quoting, ``PasteField`` and the paste conversion of ``connect_paste``.

``parse_generation_parameters`` returns strings for every parsed value (``WxH`` values split into
``<key>-1``/``<key>-2``) and then inserts A1111's defaults.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any

import gradio as gr

from modules import errors, processing, script_callbacks, shared
from modules.paths import data_path  # noqa: F401  (A1111 binds it at import; see _params_txt_path)

sys.modules["modules.generation_parameters_copypaste"] = sys.modules[__name__]

re_param_code = r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)'
re_param = re.compile(re_param_code)
re_imagesize = re.compile(r"^(\d+)x(\d+)$")
re_hypernet_hash = re.compile(r"\(([0-9a-f]+)\)$")
type_of_gr_update = type(gr.update())


class ParamBinding:
    def __init__(
        self,
        paste_button,
        tabname,
        source_text_component=None,
        source_image_component=None,
        source_tabname=None,
        override_settings_component=None,
        paste_field_names=None,
    ) -> None:
        self.paste_button = paste_button
        self.tabname = tabname
        self.source_text_component = source_text_component
        self.source_image_component = source_image_component
        self.source_tabname = source_tabname
        self.override_settings_component = override_settings_component
        self.paste_field_names = paste_field_names or []


class PasteField(tuple):
    def __new__(cls, component, target, *, api=None):
        return super().__new__(cls, (component, target))

    def __init__(self, component, target, *, api: str | None = None) -> None:
        super().__init__()

        self.api = api
        self.component = component
        self.label = target if isinstance(target, str) else None
        self.function = target if callable(target) else None


paste_fields: dict[str, dict] = {}
registered_param_bindings: list[ParamBinding] = []


def reset() -> None:
    paste_fields.clear()
    registered_param_bindings.clear()


def quote(text: Any) -> Any:
    if "," not in str(text) and "\n" not in str(text) and ":" not in str(text):
        return text

    return json.dumps(text, ensure_ascii=False)


def unquote(text: str) -> str:
    if len(text) == 0 or text[0] != '"' or text[-1] != '"':
        return text

    try:
        return json.loads(text)
    except Exception:
        return text


def add_paste_fields(
    tabname: str, init_img, fields: list | None, override_settings_component=None
) -> None:
    if fields:
        for i in range(len(fields)):
            if not isinstance(fields[i], PasteField):
                fields[i] = PasteField(*fields[i])

    paste_fields[tabname] = {
        "init_img": init_img,
        "fields": fields,
        "override_settings_component": override_settings_component,
    }


def restore_old_hires_fix_params(res: dict) -> None:
    firstpass_width = res.get("First pass size-1")
    firstpass_height = res.get("First pass size-2")

    if shared.opts.use_old_hires_fix_width_height:
        hires_width = int(res.get("Hires resize-1", 0))
        hires_height = int(res.get("Hires resize-2", 0))

        if hires_width and hires_height:
            res["Size-1"] = hires_width
            res["Size-2"] = hires_height
            return

    if firstpass_width is None or firstpass_height is None:
        return

    firstpass_width, firstpass_height = int(firstpass_width), int(firstpass_height)
    width = int(res.get("Size-1", 512))
    height = int(res.get("Size-2", 512))

    if firstpass_width == 0 or firstpass_height == 0:
        firstpass_width, firstpass_height = processing.old_hires_fix_first_pass_dimensions(
            width, height
        )

    res["Size-1"] = firstpass_width
    res["Size-2"] = firstpass_height
    res["Hires resize-1"] = width
    res["Hires resize-2"] = height


_re_attention = re.compile(
    r"""
\\\(|\\\)|\\\[|\\]|\\\\|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|]|[^\\()\[\]:]+|:
""",
    re.X,
)
_re_break = re.compile(r"\s*\bBREAK\b\s*", re.S)


def _attention_weights(text: str) -> list[tuple[str, float]]:
    """Weights A1111's prompt parser gives the parts of ``text`` (1.1 per ``(``, 1/1.1 per ``[``, ``(x:w)``)."""
    res: list[list] = []
    round_brackets: list[int] = []
    square_brackets: list[int] = []

    def multiply_range(start: int, multiplier: float) -> None:
        for p in range(start, len(res)):
            res[p][1] *= multiplier

    for m in _re_attention.finditer(text):
        token, weight = m.group(0), m.group(1)
        if token.startswith("\\"):
            res.append([token[1:], 1.0])
        elif token == "(":
            round_brackets.append(len(res))
        elif token == "[":
            square_brackets.append(len(res))
        elif weight is not None and round_brackets:
            multiply_range(round_brackets.pop(), float(weight))
        elif token == ")" and round_brackets:
            multiply_range(round_brackets.pop(), 1.1)
        elif token == "]" and square_brackets:
            multiply_range(square_brackets.pop(), 1 / 1.1)
        else:
            for i, part in enumerate(re.split(_re_break, token)):
                if i > 0:
                    res.append(["BREAK", -1])
                res.append([part, 1.0])

    for pos in round_brackets:
        multiply_range(pos, 1.1)
    for pos in square_brackets:
        multiply_range(pos, 1 / 1.1)

    return [(t, w) for t, w in res] or [("", 1.0)]


def _parse_version(text: str | None):
    from packaging import version

    if text is None:
        return None
    m = re.match(r"([^-]+-[^-]+)-.*", text)
    if m:
        text = m.group(1)
    try:
        return version.parse(text)
    except Exception:
        return None


def _backcompat(d: dict) -> None:
    """Settings implied by an older ``Version`` in the infotext (A1111's ``infotext_versions.backcompat``)."""
    from packaging import version

    if not shared.opts.auto_backcompat:
        return

    ver = _parse_version(d.get("Version"))
    if ver is None:
        return

    if ver < version.parse("1.6.0") and "[" in d.get("Prompt", ""):
        d["Old prompt editing timelines"] = True
    if ver < version.parse("1.6.0") and d.get("Sampler", "") in ("DDIM", "PLMS"):
        d["Pad conds v0"] = True
    if ver < version.parse("v1.7.0-225"):
        d["Downcast alphas_cumprod"] = True
    if ver < version.parse("1.8.0") and d.get("Refiner"):
        d["Refiner switch by sampling steps"] = True


def parse_generation_parameters(x: str, skip_fields: list[str] | None = None) -> dict[str, Any]:
    if skip_fields is None:
        skip_fields = shared.opts.infotext_skip_pasting

    res: dict[str, Any] = {}

    prompt = ""
    negative_prompt = ""
    done_with_prompt = False

    *lines, lastline = x.strip().split("\n")
    if len(re_param.findall(lastline)) < 3:
        lines.append(lastline)
        lastline = ""

    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            done_with_prompt = True
            line = line[16:].strip()
        if done_with_prompt:
            negative_prompt += ("" if negative_prompt == "" else "\n") + line
        else:
            prompt += ("" if prompt == "" else "\n") + line

    for k, v in re_param.findall(lastline):
        try:
            if v[0] == '"' and v[-1] == '"':
                v = unquote(v)

            m = re_imagesize.match(v)
            if m is not None:
                res[f"{k}-1"] = m.group(1)
                res[f"{k}-2"] = m.group(2)
            else:
                res[k] = v
        except Exception:
            print(f'Error parsing "{k}: {v}"')

    if shared.opts.infotext_styles != "Ignore":
        found_styles, prompt_no_styles, negative_prompt_no_styles = (
            shared.prompt_styles.extract_styles_from_prompt(prompt, negative_prompt)
        )

        same_hr_styles = True
        infotext_ver = _parse_version(res.get("Version"))
        hr_styles_apply = infotext_ver > _parse_version("1.8.0-139") if infotext_ver else True
        if ("Hires prompt" in res or "Hires negative prompt" in res) and hr_styles_apply:
            hr_prompt, hr_negative_prompt = (
                res.get("Hires prompt", prompt),
                res.get("Hires negative prompt", negative_prompt),
            )
            hr_found_styles, hr_prompt_no_styles, hr_negative_prompt_no_styles = (
                shared.prompt_styles.extract_styles_from_prompt(hr_prompt, hr_negative_prompt)
            )
            same_hr_styles = found_styles == hr_found_styles
            if same_hr_styles:
                res["Hires prompt"] = (
                    "" if hr_prompt_no_styles == prompt_no_styles else hr_prompt_no_styles
                )
                res["Hires negative prompt"] = (
                    ""
                    if hr_negative_prompt_no_styles == negative_prompt_no_styles
                    else hr_negative_prompt_no_styles
                )

        if same_hr_styles:
            prompt, negative_prompt = prompt_no_styles, negative_prompt_no_styles
            if (
                shared.opts.infotext_styles == "Apply if any" and found_styles
            ) or shared.opts.infotext_styles == "Apply":
                res["Styles array"] = found_styles

    res["Prompt"] = prompt
    res["Negative prompt"] = negative_prompt

    res.setdefault("Clip skip", "1")

    hypernet = res.get("Hypernet")
    if hypernet is not None:
        res["Prompt"] += f"""<hypernet:{hypernet}:{res.get("Hypernet strength", "1.0")}>"""

    if "Hires resize-1" not in res:
        res["Hires resize-1"] = 0
        res["Hires resize-2"] = 0

    for key, value in [
        ("Hires sampler", "Use same sampler"),
        ("Hires schedule type", "Use same scheduler"),
        ("Hires checkpoint", "Use same checkpoint"),
        ("Hires prompt", ""),
        ("Hires negative prompt", ""),
        ("Mask mode", "Inpaint masked"),
        ("Masked content", "original"),
        ("Inpaint area", "Whole picture"),
        ("Masked area padding", 32),
    ]:
        res.setdefault(key, value)

    restore_old_hires_fix_params(res)

    for key, value in [
        ("RNG", "GPU"),
        ("Schedule type", "Automatic"),
        ("Schedule max sigma", 0),
        ("Schedule min sigma", 0),
        ("Schedule rho", 0),
        ("VAE Encoder", "Full"),
        ("VAE Decoder", "Full"),
        ("FP8 weight", "Disable"),
    ]:
        res.setdefault(key, value)

    if "Cache FP16 weight for LoRA" not in res and res["FP8 weight"] != "Disable":
        res["Cache FP16 weight for LoRA"] = False

    prompt_attention = _attention_weights(prompt) + _attention_weights(negative_prompt)
    prompt_uses_emphasis = len(prompt_attention) != len(
        [p for p in prompt_attention if p[1] == 1.0 or p[0] == "BREAK"]
    )
    if "Emphasis" not in res and prompt_uses_emphasis:
        res["Emphasis"] = "Original"

    res.setdefault("Refiner switch by sampling steps", False)

    _backcompat(res)

    for key in skip_fields:
        res.pop(key, None)

    return res


infotext_to_setting_name_mapping: list[tuple[str, str]] = []


def create_override_settings_dict(text_pairs: list[str]) -> dict[str, Any]:
    """``["Clip skip: 2", ...]`` (the UI's override dropdown) -> ``{"CLIP_stop_at_last_layers": 2}``."""
    res: dict[str, Any] = {}

    params = {}
    for pair in text_pairs:
        k, v = pair.split(":", maxsplit=1)
        params[k] = v.strip()

    mapping = [(info.infotext, k) for k, info in shared.opts.data_labels.items() if info.infotext]
    for param_name, setting_name in mapping + infotext_to_setting_name_mapping:
        value = params.get(param_name)
        if value is None:
            continue

        res[setting_name] = shared.opts.cast_value(setting_name, value)

    return res


def get_override_settings(params: dict, *, skip_fields=None) -> list[tuple[str, str, Any]]:
    res = []

    mapping = [(info.infotext, k) for k, info in shared.opts.data_labels.items() if info.infotext]
    for param_name, setting_name in mapping + infotext_to_setting_name_mapping:
        if param_name in (skip_fields or {}):
            continue

        v = params.get(param_name)
        if v is None:
            continue

        if setting_name == "sd_model_checkpoint" and shared.opts.disable_weights_auto_swap:
            continue

        v = shared.opts.cast_value(setting_name, v)
        current_value = getattr(shared.opts, setting_name, None)

        if v == current_value:
            continue

        res.append((param_name, setting_name, v))

    return res


def _params_txt_path() -> str:
    from modules import paths

    return os.path.join(paths.data_path, "params.txt")


def paste_updates(prompt: str, fields: list) -> list[dict]:
    """What ``connect_paste``'s click handler returns: one ``gr.update`` per ``(component, key)`` field.

    Empty text reads the last ``params.txt``. Values are converted by the type of the component's
    current ``value``: bool with "False" -> False, other bool -> ``bool(v)``, int -> ``float(v)``,
    else ``type(value)(v)``; a failed conversion leaves the component unchanged.
    """
    if (
        not prompt
        and not shared.cmd_opts.hide_ui_dir_config
        and not shared.cmd_opts.no_prompt_history
    ):
        try:
            with open(_params_txt_path(), encoding="utf8") as file:
                prompt = file.read()
        except OSError:
            pass

    params = parse_generation_parameters(prompt)
    script_callbacks.infotext_pasted_callback(prompt, params)
    res = []

    for output, key in fields:
        if callable(key):
            try:
                v = key(params)
            except Exception:
                errors.report(f"Error executing {key}", exc_info=True)
                v = None
        else:
            v = params.get(key, None)

        if v is None:
            res.append(gr.update())
        elif isinstance(v, type_of_gr_update):
            res.append(v)
        else:
            try:
                valtype = type(output.value)

                if valtype is bool and v == "False":
                    val = False
                elif valtype is int:
                    val = float(v)
                else:
                    val = valtype(v)

                res.append(gr.update(value=val))
            except Exception:
                res.append(gr.update())

    return res


def connect_paste(
    button, paste_fields: list, input_comp, override_settings_component, tabname: str
) -> None:
    def paste_func(prompt: str) -> list[dict]:
        return paste_updates(prompt, paste_fields)

    if override_settings_component is not None:
        already_handled_fields = {key: 1 for _, key in paste_fields}

        def paste_settings(params: dict) -> dict:
            vals = get_override_settings(params, skip_fields=already_handled_fields)
            vals_pairs = [
                f"{infotext_text}: {value}" for infotext_text, setting_name, value in vals
            ]
            return gr.Dropdown.update(
                value=vals_pairs, choices=vals_pairs, visible=bool(vals_pairs)
            )

        paste_fields = [*paste_fields, (override_settings_component, paste_settings)]

    button.click(
        fn=paste_func,
        inputs=[input_comp],
        outputs=[x[0] for x in paste_fields],
        show_progress=False,
    )
    button.click(
        fn=None, _js=f"recalculate_prompts_{tabname}", inputs=[], outputs=[], show_progress=False
    )
