"""``modules.script_callbacks``: registration (``on_*``) and invokers (``*_callback``).

Callbacks are named ``"<ext>/<file>/<category>[/<name>]"`` from the registering file, ordered by
``metadata.ini`` and the ``prioritized_callbacks_<category>`` setting, and every exception raised
by a callback is reported and swallowed. ``before_ui`` and ``script_unloaded`` run in reverse.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Callable
from typing import Any

from modules import errors, extensions, shared, util


def report_exception(c: ScriptCallback, job: str) -> None:
    errors.report(f"Error executing callback {job} for {c.script}", exc_info=True)


class ImageSaveParams:
    def __init__(self, image, p, filename: str, pnginfo: dict) -> None:
        self.image = image
        self.p = p
        self.filename = filename
        self.pnginfo = pnginfo


class ExtraNoiseParams:
    def __init__(self, noise, x, xi) -> None:
        self.noise = noise
        self.x = x
        self.xi = xi


class CFGDenoiserParams:
    def __init__(
        self,
        x,
        image_cond,
        sigma,
        sampling_step,
        total_sampling_steps,
        text_cond,
        text_uncond,
        denoiser=None,
    ) -> None:
        self.x = x
        self.image_cond = image_cond
        self.sigma = sigma
        self.sampling_step = sampling_step
        self.total_sampling_steps = total_sampling_steps
        self.text_cond = text_cond
        self.text_uncond = text_uncond
        self.denoiser = denoiser


class CFGDenoisedParams:
    def __init__(self, x, sampling_step, total_sampling_steps, inner_model) -> None:
        self.x = x
        self.sampling_step = sampling_step
        self.total_sampling_steps = total_sampling_steps
        self.inner_model = inner_model


class AfterCFGCallbackParams:
    def __init__(self, x, sampling_step, total_sampling_steps) -> None:
        self.x = x
        self.sampling_step = sampling_step
        self.total_sampling_steps = total_sampling_steps


class UiTrainTabParams:
    def __init__(self, txt2img_preview_params) -> None:
        self.txt2img_preview_params = txt2img_preview_params


class ImageGridLoopParams:
    def __init__(self, imgs, cols: int, rows: int) -> None:
        self.imgs = imgs
        self.cols = cols
        self.rows = rows


@dataclasses.dataclass
class BeforeTokenCounterParams:
    prompt: str
    steps: int
    styles: list
    is_positive: bool = True


@dataclasses.dataclass
class ScriptCallback:
    script: str
    callback: Any
    name: str = "unnamed"


def add_callback(
    callbacks: list[ScriptCallback],
    fun: Callable,
    *,
    name: str | None = None,
    category: str = "unknown",
    filename: str | None = None,
) -> None:
    if filename is None:
        stack = [x for x in inspect.stack() if x.filename != __file__]
        filename = stack[0].filename if stack else "unknown file"

    extension = extensions.find_extension(filename)
    extension_name = extension.canonical_name if extension else "base"

    callback_name = f"{extension_name}/{os.path.basename(filename)}/{category}"
    if name is not None:
        callback_name += f"/{name}"

    unique_callback_name = callback_name
    for index in range(1000):
        if not any(x.name == unique_callback_name for x in callbacks):
            break
        unique_callback_name = f"{callback_name}-{index + 1}"

    callbacks.append(ScriptCallback(filename, fun, unique_callback_name))


def sort_callbacks(
    category: str, unordered_callbacks: list[ScriptCallback], *, enable_user_sort: bool = True
) -> list[ScriptCallback]:
    callbacks = unordered_callbacks.copy()
    callback_lookup = {x.name: x for x in callbacks}

    order_instructions: dict[str, list] = {}
    for extension in extensions.extensions:
        for instruction in extension.metadata.list_callback_order_instructions():
            if instruction.name in callback_lookup:
                order_instructions.setdefault(instruction.name, []).append(instruction)

    if order_instructions:
        dependencies: dict[str, list[str]] = {callback.name: [] for callback in callbacks}
        for callback in callbacks:
            for instruction in order_instructions.get(callback.name, []):
                dependencies[callback.name].extend(
                    x for x in instruction.after if x in callback_lookup
                )
                for before in instruction.before:
                    if before in callback_lookup:
                        dependencies[before].append(callback.name)

        callbacks = [callback_lookup[x] for x in util.topological_sort(dependencies)]

    if enable_user_sort:
        for name in reversed(getattr(shared.opts, "prioritized_callbacks_" + category, [])):
            index = next((i for i, callback in enumerate(callbacks) if callback.name == name), None)
            if index is not None:
                callbacks.insert(0, callbacks.pop(index))

    return callbacks


def ordered_callbacks(
    category: str,
    unordered_callbacks: list[ScriptCallback] | None = None,
    *,
    enable_user_sort: bool = True,
) -> list[ScriptCallback]:
    if unordered_callbacks is None:
        unordered_callbacks = callback_map.get("callbacks_" + category, [])

    if not enable_user_sort:
        return sort_callbacks(category, unordered_callbacks, enable_user_sort=False)

    callbacks = ordered_callbacks_map.get(category)
    if callbacks is not None and len(callbacks) == len(unordered_callbacks):
        return callbacks

    callbacks = sort_callbacks(category, unordered_callbacks)
    ordered_callbacks_map[category] = callbacks
    return callbacks


def enumerate_callbacks():
    for category, callbacks in callback_map.items():
        if category.startswith("callbacks_"):
            category = category[10:]
        yield category, callbacks


callback_map: dict[str, list[ScriptCallback]] = {
    "callbacks_app_started": [],
    "callbacks_model_loaded": [],
    "callbacks_ui_tabs": [],
    "callbacks_ui_train_tabs": [],
    "callbacks_ui_settings": [],
    "callbacks_before_image_saved": [],
    "callbacks_image_saved": [],
    "callbacks_extra_noise": [],
    "callbacks_cfg_denoiser": [],
    "callbacks_cfg_denoised": [],
    "callbacks_cfg_after_cfg": [],
    "callbacks_before_component": [],
    "callbacks_after_component": [],
    "callbacks_image_grid": [],
    "callbacks_infotext_pasted": [],
    "callbacks_script_unloaded": [],
    "callbacks_before_ui": [],
    "callbacks_on_reload": [],
    "callbacks_list_optimizers": [],
    "callbacks_list_unets": [],
    "callbacks_before_token_counter": [],
}

ordered_callbacks_map: dict[str, list[ScriptCallback]] = {}


def clear_callbacks() -> None:
    for callback_list in callback_map.values():
        callback_list.clear()

    ordered_callbacks_map.clear()


def _run(category: str, job: str, *args, reverse: bool = False) -> None:
    callbacks = ordered_callbacks(category)
    for c in reversed(callbacks) if reverse else callbacks:
        try:
            c.callback(*args)
        except Exception:
            report_exception(c, job)


def app_started_callback(demo, app) -> None:
    _run("app_started", "app_started_callback", demo, app)


def app_reload_callback() -> None:
    _run("on_reload", "callbacks_on_reload")


def model_loaded_callback(sd_model) -> None:
    _run("model_loaded", "model_loaded_callback", sd_model)


def ui_tabs_callback() -> list:
    res: list = []
    for c in ordered_callbacks("ui_tabs"):
        try:
            res += c.callback() or []
        except Exception:
            report_exception(c, "ui_tabs_callback")
    return res


def ui_train_tabs_callback(params: UiTrainTabParams) -> None:
    _run("ui_train_tabs", "callbacks_ui_train_tabs", params)


def ui_settings_callback() -> None:
    _run("ui_settings", "ui_settings_callback")


def before_image_saved_callback(params: ImageSaveParams) -> None:
    _run("before_image_saved", "before_image_saved_callback", params)


def image_saved_callback(params: ImageSaveParams) -> None:
    _run("image_saved", "image_saved_callback", params)


def extra_noise_callback(params: ExtraNoiseParams) -> None:
    _run("extra_noise", "callbacks_extra_noise", params)


def cfg_denoiser_callback(params: CFGDenoiserParams) -> None:
    _run("cfg_denoiser", "cfg_denoiser_callback", params)


def cfg_denoised_callback(params: CFGDenoisedParams) -> None:
    _run("cfg_denoised", "cfg_denoised_callback", params)


def cfg_after_cfg_callback(params: AfterCFGCallbackParams) -> None:
    _run("cfg_after_cfg", "cfg_after_cfg_callback", params)


def before_component_callback(component, **kwargs) -> None:
    for c in ordered_callbacks("before_component"):
        try:
            c.callback(component, **kwargs)
        except Exception:
            report_exception(c, "before_component_callback")


def after_component_callback(component, **kwargs) -> None:
    for c in ordered_callbacks("after_component"):
        try:
            c.callback(component, **kwargs)
        except Exception:
            report_exception(c, "after_component_callback")


def image_grid_callback(params: ImageGridLoopParams) -> None:
    _run("image_grid", "image_grid", params)


def infotext_pasted_callback(infotext: str, params: dict[str, Any]) -> None:
    _run("infotext_pasted", "infotext_pasted", infotext, params)


def script_unloaded_callback() -> None:
    _run("script_unloaded", "script_unloaded", reverse=True)


def before_ui_callback() -> None:
    _run("before_ui", "before_ui", reverse=True)


def list_optimizers_callback() -> list:
    res: list = []
    _run("list_optimizers", "list_optimizers", res)
    return res


def list_unets_callback() -> list:
    res: list = []
    _run("list_unets", "list_unets", res)
    return res


def before_token_counter_callback(params: BeforeTokenCounterParams) -> None:
    _run("before_token_counter", "before_token_counter", params)


def remove_current_script_callbacks() -> None:
    stack = [x for x in inspect.stack() if x.filename != __file__]
    filename = stack[0].filename if stack else "unknown file"
    if filename == "unknown file":
        return
    for callback_list in callback_map.values():
        for callback_to_remove in [cb for cb in callback_list if cb.script == filename]:
            callback_list.remove(callback_to_remove)
    for ordered_list in ordered_callbacks_map.values():
        for callback_to_remove in [cb for cb in ordered_list if cb.script == filename]:
            ordered_list.remove(callback_to_remove)


def remove_callbacks_for_function(callback_func: Callable) -> None:
    for callback_list in callback_map.values():
        for callback_to_remove in [cb for cb in callback_list if cb.callback == callback_func]:
            callback_list.remove(callback_to_remove)
    for ordered_list in ordered_callbacks_map.values():
        for callback_to_remove in [cb for cb in ordered_list if cb.callback == callback_func]:
            ordered_list.remove(callback_to_remove)


def _register(
    category: str, callback: Callable, name: str | None, *, key: str | None = None
) -> None:
    add_callback(
        callback_map[f"callbacks_{key or category}"], callback, name=name, category=category
    )


def on_app_started(callback: Callable, *, name: str | None = None) -> None:
    _register("app_started", callback, name)


def on_before_reload(callback: Callable, *, name: str | None = None) -> None:
    _register("on_reload", callback, name)


def on_model_loaded(callback: Callable, *, name: str | None = None) -> None:
    _register("model_loaded", callback, name)


def on_ui_tabs(callback: Callable, *, name: str | None = None) -> None:
    _register("ui_tabs", callback, name)


def on_ui_train_tabs(callback: Callable, *, name: str | None = None) -> None:
    _register("ui_train_tabs", callback, name)


def on_ui_settings(callback: Callable, *, name: str | None = None) -> None:
    _register("ui_settings", callback, name)


def on_before_image_saved(callback: Callable, *, name: str | None = None) -> None:
    _register("before_image_saved", callback, name)


def on_image_saved(callback: Callable, *, name: str | None = None) -> None:
    _register("image_saved", callback, name)


def on_extra_noise(callback: Callable, *, name: str | None = None) -> None:
    _register("extra_noise", callback, name)


def on_cfg_denoiser(callback: Callable, *, name: str | None = None) -> None:
    _register("cfg_denoiser", callback, name)


def on_cfg_denoised(callback: Callable, *, name: str | None = None) -> None:
    _register("cfg_denoised", callback, name)


def on_cfg_after_cfg(callback: Callable, *, name: str | None = None) -> None:
    _register("cfg_after_cfg", callback, name)


def on_before_component(callback: Callable, *, name: str | None = None) -> None:
    _register("before_component", callback, name)


def on_after_component(callback: Callable, *, name: str | None = None) -> None:
    _register("after_component", callback, name)


def on_image_grid(callback: Callable, *, name: str | None = None) -> None:
    _register("image_grid", callback, name)


def on_infotext_pasted(callback: Callable, *, name: str | None = None) -> None:
    _register("infotext_pasted", callback, name)


def on_script_unloaded(callback: Callable, *, name: str | None = None) -> None:
    _register("script_unloaded", callback, name)


def on_before_ui(callback: Callable, *, name: str | None = None) -> None:
    _register("before_ui", callback, name)


def on_list_optimizers(callback: Callable, *, name: str | None = None) -> None:
    _register("list_optimizers", callback, name)


def on_list_unets(callback: Callable, *, name: str | None = None) -> None:
    _register("list_unets", callback, name)


def on_before_token_counter(callback: Callable, *, name: str | None = None) -> None:
    _register("before_token_counter", callback, name)
