"""``modules.scripts``: the ``Script`` API, script discovery/loading and ``ScriptRunner``.

Behaviour kept from A1111 1.10 because extensions depend on it:
- a script file is executed as a module named after the file (``"sample.py"``), not put into
  ``sys.modules``, with its extension root on ``sys.path`` only while it executes;
- every ``Script`` subclass in the module namespace is registered, imported ones included;
- runner hooks slice ``p.script_args[args_from:args_to]``, only reach scripts whose class overrides
  the hook, and report-and-swallow exceptions;
- built-in processing scripts (Sampler, Seed, ...) load after all extensions.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
from collections import namedtuple
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from modules import (
    errors,
    extensions,
    paths,
    script_callbacks,
    script_loading,
    scripts_postprocessing,
    shared,
    util,
)

topological_sort = util.topological_sort

AlwaysVisible = object()


class MaskBlendArgs:
    def __init__(
        self, current_latent, nmask, init_latent, mask, blended_latent, denoiser=None, sigma=None
    ) -> None:
        self.current_latent = current_latent
        self.nmask = nmask
        self.init_latent = init_latent
        self.mask = mask
        self.blended_latent = blended_latent
        self.denoiser = denoiser
        self.is_final_blend = denoiser is None
        self.sigma = sigma


class PostSampleArgs:
    def __init__(self, samples) -> None:
        self.samples = samples


class PostprocessImageArgs:
    def __init__(self, image) -> None:
        self.image = image


class PostProcessMaskOverlayArgs:
    def __init__(self, index: int, mask_for_overlay, overlay_image) -> None:
        self.index = index
        self.mask_for_overlay = mask_for_overlay
        self.overlay_image = overlay_image


class PostprocessBatchListArgs:
    def __init__(self, images: list) -> None:
        self.images = images


@dataclass
class OnComponent:
    component: gr.blocks.Block


class Script:
    name = None
    section = None
    filename = None
    args_from = None
    args_to = None
    alwayson = False
    is_txt2img = False
    is_img2img = False
    tabname = None
    group = None
    create_group = True
    infotext_fields = None
    paste_field_names = None
    api_info = None
    on_before_component_elem_id = None
    on_after_component_elem_id = None
    setup_for_ui_only = False
    controls = None

    def title(self):
        raise NotImplementedError()

    def ui(self, is_img2img):
        pass

    def show(self, is_img2img):
        return True

    def run(self, p, *args):
        pass

    def setup(self, p, *args):
        pass

    def before_process(self, p, *args):
        pass

    def process(self, p, *args):
        pass

    def before_process_batch(self, p, *args, **kwargs):
        pass

    def after_extra_networks_activate(self, p, *args, **kwargs):
        pass

    def process_before_every_sampling(self, p, *args, **kwargs):
        pass

    def process_batch(self, p, *args, **kwargs):
        pass

    def postprocess_batch(self, p, *args, **kwargs):
        pass

    def postprocess_batch_list(self, p, pp: PostprocessBatchListArgs, *args, **kwargs):
        pass

    def on_mask_blend(self, p, mba: MaskBlendArgs, *args):
        pass

    def post_sample(self, p, ps: PostSampleArgs, *args):
        pass

    def postprocess_image(self, p, pp: PostprocessImageArgs, *args):
        pass

    def postprocess_maskoverlay(self, p, ppmo: PostProcessMaskOverlayArgs, *args):
        pass

    def postprocess_image_after_composite(self, p, pp: PostprocessImageArgs, *args):
        pass

    def postprocess(self, p, processed, *args):
        pass

    def before_component(self, component, **kwargs):
        pass

    def after_component(self, component, **kwargs):
        pass

    def on_before_component(self, callback, *, elem_id):
        if self.on_before_component_elem_id is None:
            self.on_before_component_elem_id = []

        self.on_before_component_elem_id.append((elem_id, callback))

    def on_after_component(self, callback, *, elem_id):
        if self.on_after_component_elem_id is None:
            self.on_after_component_elem_id = []

        self.on_after_component_elem_id.append((elem_id, callback))

    def describe(self):
        return ""

    def elem_id(self, item_id):
        need_tabname = self.show(True) == self.show(False)
        tabkind = "img2img" if self.is_img2img else "txt2img"
        tabname = f"{tabkind}_" if need_tabname else ""
        title = re.sub(r"[^a-z_0-9]", "", re.sub(r"\s", "_", self.title().lower()))

        return f"script_{tabname}{title}_{item_id}"

    def before_hr(self, p, *args):
        pass


class ScriptBuiltinUI(Script):
    setup_for_ui_only = True

    def elem_id(self, item_id):
        need_tabname = self.show(True) == self.show(False)
        tabname = ("img2img" if self.is_img2img else "txt2img") + "_" if need_tabname else ""

        return f"{tabname}{item_id}"

    def show(self, is_img2img):
        return AlwaysVisible


current_basedir = paths.script_path


def basedir() -> str:
    """The extension root while its scripts are being loaded, the web UI root otherwise."""
    return current_basedir


ScriptFile = namedtuple("ScriptFile", ["basedir", "filename", "path"])

scripts_data: list[ScriptClassData] = []
postprocessing_scripts_data: list[ScriptClassData] = []
ScriptClassData = namedtuple("ScriptClassData", ["script_class", "path", "basedir", "module"])


@dataclass
class ScriptWithDependencies:
    script_canonical_name: str
    file: ScriptFile
    requires: list
    load_before: list
    load_after: list


def list_scripts(
    scriptdirname: str, extension: str, *, include_extensions: bool = True
) -> list[ScriptFile]:
    scripts: dict[str, ScriptWithDependencies] = {}

    loaded_extensions = {ext.canonical_name: ext for ext in extensions.active()}
    loaded_extensions_scripts: dict[str, list[ScriptWithDependencies]] = {
        ext.canonical_name: [] for ext in extensions.active()
    }

    root_script_basedir = os.path.join(paths.script_path, scriptdirname)
    if os.path.exists(root_script_basedir):
        for filename in sorted(os.listdir(root_script_basedir)):
            if not os.path.isfile(os.path.join(root_script_basedir, filename)):
                continue
            if os.path.splitext(filename)[1].lower() != extension:
                continue

            script_file = ScriptFile(
                paths.script_path, filename, os.path.join(root_script_basedir, filename)
            )
            scripts[filename] = ScriptWithDependencies(filename, script_file, [], [], [])

    if include_extensions:
        for ext in extensions.active():
            for extension_script in ext.list_files(scriptdirname, extension):
                if not os.path.isfile(extension_script.path):
                    continue

                canonical = (
                    ("builtin/" if ext.is_builtin else "")
                    + ext.canonical_name
                    + "/"
                    + extension_script.filename
                )
                relative_path = scriptdirname + "/" + extension_script.filename

                script = ScriptWithDependencies(
                    script_canonical_name=canonical,
                    file=extension_script,
                    requires=ext.metadata.get_script_requirements(
                        "Requires", relative_path, scriptdirname
                    ),
                    load_before=ext.metadata.get_script_requirements(
                        "Before", relative_path, scriptdirname
                    ),
                    load_after=ext.metadata.get_script_requirements(
                        "After", relative_path, scriptdirname
                    ),
                )

                scripts[canonical] = script
                loaded_extensions_scripts[ext.canonical_name].append(script)

    for canonical, script in scripts.items():
        # "Before X" is stored as "After" on X (or on every script of extension X).
        for load_before in script.load_before:
            other_script = scripts.get(load_before)
            if other_script:
                other_script.load_after.append(canonical)

            for other in loaded_extensions_scripts.get(load_before) or []:
                other.load_after.append(canonical)

        # "After <extension>" means after each of its scripts.
        for load_after in list(script.load_after):
            if load_after not in scripts and load_after in loaded_extensions_scripts:
                script.load_after.remove(load_after)
                script.load_after.extend(
                    other.script_canonical_name
                    for other in loaded_extensions_scripts.get(load_after, [])
                )

    dependencies: dict[str, list[str]] = {}
    for canonical, script in scripts.items():
        for required_script in script.requires:
            if required_script not in scripts and required_script not in loaded_extensions:
                errors.report(
                    f'Script "{canonical}" requires "{required_script}" to be loaded, but it is not.',
                    exc_info=False,
                )

        dependencies[canonical] = script.load_after

    return [scripts[name].file for name in topological_sort(dependencies)]


def list_files_with_name(filename: str) -> list[str]:
    res = []
    for dirpath in [paths.script_path] + [ext.path for ext in extensions.active()]:
        path = os.path.join(dirpath, filename)
        if os.path.isdir(dirpath) and os.path.isfile(path):
            res.append(path)
    return res


def load_scripts() -> None:
    global current_basedir, scripts_txt2img, scripts_img2img, scripts_postproc

    scripts_data.clear()
    postprocessing_scripts_data.clear()
    script_callbacks.clear_callbacks()

    scripts_list = list_scripts("scripts", ".py") + list_scripts(
        "modules/processing_scripts", ".py", include_extensions=False
    )

    syspath = sys.path

    def register_scripts_from_module(module, scriptfile: ScriptFile) -> None:
        for script_class in module.__dict__.values():
            if not inspect.isclass(script_class):
                continue

            if issubclass(script_class, Script):
                scripts_data.append(
                    ScriptClassData(script_class, scriptfile.path, scriptfile.basedir, module)
                )
            elif issubclass(script_class, scripts_postprocessing.ScriptPostprocessing):
                postprocessing_scripts_data.append(
                    ScriptClassData(script_class, scriptfile.path, scriptfile.basedir, module)
                )

    for scriptfile in scripts_list:
        try:
            if scriptfile.basedir != paths.script_path:
                sys.path = [scriptfile.basedir, *sys.path]
            current_basedir = scriptfile.basedir

            script_module = script_loading.load_module(scriptfile.path)
            register_scripts_from_module(script_module, scriptfile)

        except Exception:
            errors.report(f"Error loading script: {scriptfile.filename}", exc_info=True)

        finally:
            sys.path = syspath
            current_basedir = paths.script_path

    scripts_txt2img = ScriptRunner()
    scripts_img2img = ScriptRunner()
    scripts_postproc = scripts_postprocessing.ScriptPostprocessingRunner()


def wrap_call(
    func: Callable, filename: str, funcname: str, *args, default: Any = None, **kwargs
) -> Any:
    try:
        return func(*args, **kwargs)
    except Exception:
        errors.report(f"Error calling: {filename}/{funcname}", exc_info=True)

    return default


class ScriptRunner:
    def __init__(self) -> None:
        self.scripts: list[Script] = []
        self.selectable_scripts: list[Script] = []
        self.alwayson_scripts: list[Script] = []
        self.titles: list[str] = []
        self.title_map: dict[str, Script] = {}
        self.infotext_fields: list = []
        self.paste_field_names: list[str] = []
        self.inputs: list = [None]

        self.callback_map: dict[str, tuple[int, list]] = {}
        self.callback_names = [
            "before_process",
            "process",
            "before_process_batch",
            "after_extra_networks_activate",
            "process_batch",
            "postprocess",
            "postprocess_batch",
            "postprocess_batch_list",
            "post_sample",
            "on_mask_blend",
            "postprocess_image",
            "postprocess_maskoverlay",
            "postprocess_image_after_composite",
            "before_component",
            "after_component",
        ]

        self.on_before_component_elem_id: dict[str, list] = {}
        self.on_after_component_elem_id: dict[str, list] = {}

    def initialize_scripts(self, is_img2img: bool) -> None:
        from modules import scripts_auto_postprocessing

        self.scripts.clear()
        self.alwayson_scripts.clear()
        self.selectable_scripts.clear()

        auto_processing_scripts = (
            scripts_auto_postprocessing.create_auto_preprocessing_script_data()
        )

        for script_data in auto_processing_scripts + scripts_data:
            try:
                script = script_data.script_class()
            except Exception:
                errors.report(
                    f"Error # failed to initialize Script {script_data.module}: ", exc_info=True
                )
                continue

            script.filename = script_data.path
            script.is_txt2img = not is_img2img
            script.is_img2img = is_img2img
            script.tabname = "img2img" if is_img2img else "txt2img"

            visibility = script.show(script.is_img2img)

            if visibility == AlwaysVisible:
                self.scripts.append(script)
                self.alwayson_scripts.append(script)
                script.alwayson = True
            elif visibility:
                self.scripts.append(script)
                self.selectable_scripts.append(script)

        self.callback_map.clear()
        self.apply_on_before_component_callbacks()

    def apply_on_before_component_callbacks(self) -> None:
        for script in self.scripts:
            on_before = script.on_before_component_elem_id or []
            on_after = script.on_after_component_elem_id or []

            for elem_id, callback in on_before:
                self.on_before_component_elem_id.setdefault(elem_id, []).append((callback, script))

            for elem_id, callback in on_after:
                self.on_after_component_elem_id.setdefault(elem_id, []).append((callback, script))

            on_before.clear()
            on_after.clear()

    def create_script_ui(self, script: Script) -> None:
        script.args_from = len(self.inputs)
        script.args_to = len(self.inputs)

        try:
            self.create_script_ui_inner(script)
        except Exception:
            errors.report(f"Error creating UI for {script.name}: ", exc_info=True)

    def create_script_ui_inner(self, script: Script) -> None:
        import modules.api.models as api_models

        controls = wrap_call(script.ui, script.filename, "ui", script.is_img2img)
        script.controls = controls

        if controls is None:
            return

        script.name = wrap_call(
            script.title, script.filename, "title", default=script.filename
        ).lower()

        api_args = []
        for control in controls:
            control.custom_script_source = os.path.basename(script.filename)

            arg_info = api_models.ScriptArg(label=control.label or "")
            for field in ("value", "minimum", "maximum", "step"):
                v = getattr(control, field, None)
                if v is not None:
                    setattr(arg_info, field, v)

            choices = getattr(control, "choices", None)
            if choices is not None:
                arg_info.choices = [x[0] if isinstance(x, tuple) else x for x in choices]

            api_args.append(arg_info)

        script.api_info = api_models.ScriptInfo(
            name=script.name,
            is_img2img=script.is_img2img,
            is_alwayson=script.alwayson,
            args=api_args,
        )

        if script.infotext_fields is not None:
            self.infotext_fields += script.infotext_fields

        if script.paste_field_names is not None:
            self.paste_field_names += script.paste_field_names

        self.inputs += controls
        script.args_to = len(self.inputs)

    def setup_ui_for_section(
        self, section: str | None, scriptlist: list[Script] | None = None
    ) -> None:
        if scriptlist is None:
            scriptlist = self.alwayson_scripts

        for script in scriptlist:
            if script.alwayson and script.section != section:
                continue

            if script.create_group:
                with gr.Group(visible=script.alwayson) as group:
                    self.create_script_ui(script)

                script.group = group
            else:
                self.create_script_ui(script)

    def prepare_ui(self) -> None:
        self.inputs = [None]

    def setup_ui(self) -> list:
        all_titles = [
            wrap_call(script.title, script.filename, "title") or script.filename
            for script in self.scripts
        ]
        self.title_map = {
            title.lower(): script for title, script in zip(all_titles, self.scripts, strict=True)
        }
        self.titles = [
            wrap_call(script.title, script.filename, "title") or f"{script.filename} [error]"
            for script in self.selectable_scripts
        ]

        self.setup_ui_for_section(None)

        dropdown = gr.Dropdown(
            label="Script",
            elem_id="script_list",
            choices=["None", *self.titles],
            value="None",
            type="index",
        )
        self.inputs[0] = dropdown

        self.setup_ui_for_section(None, self.selectable_scripts)

        def select_script(script_index):
            if script_index is None:
                script_index = 0
            selected_script = (
                self.selectable_scripts[script_index - 1] if script_index > 0 else None
            )
            return [gr.update(visible=selected_script == s) for s in self.selectable_scripts]

        dropdown.change(
            fn=select_script,
            inputs=[dropdown],
            outputs=[script.group for script in self.selectable_scripts],
        )

        def init_field(title):
            if title == "None":
                return
            self.selectable_scripts[self.titles.index(title)].group.visible = True

        dropdown.init_field = init_field

        self.script_load_ctr = 0

        def onload_script_visibility(params):
            # One call per selectable script, in order; only the pasted script's group becomes visible.
            title = params.get("Script", None)
            if not title:
                return gr.update(visible=False)
            try:
                title_index = self.titles.index(title)
            except ValueError:
                params["Script"] = None
                print(f'Cannot find Script: "{title}"')
                return gr.update(visible=False)
            visibility = title_index == self.script_load_ctr
            self.script_load_ctr = (self.script_load_ctr + 1) % len(self.titles)
            return gr.update(visible=visibility)

        self.infotext_fields.append((dropdown, lambda x: gr.update(value=x.get("Script", "None"))))
        self.infotext_fields.extend(
            [(script.group, onload_script_visibility) for script in self.selectable_scripts]
        )

        self.apply_on_before_component_callbacks()

        return self.inputs

    def run(self, p, *args):
        script_index = args[0]

        if script_index == 0 or script_index is None:
            return None

        script = self.selectable_scripts[script_index - 1]

        if script is None:
            return None

        script_args = args[script.args_from : script.args_to]
        processed = script.run(p, *script_args)

        shared.total_tqdm.clear()

        return processed

    def list_scripts_for_method(self, method_name: str) -> list[Script]:
        if method_name in ("before_component", "after_component"):
            return self.scripts
        return self.alwayson_scripts

    def create_ordered_callbacks_list(
        self, method_name: str, *, enable_user_sort: bool = True
    ) -> list:
        script_list = self.list_scripts_for_method(method_name)
        category = f"script_{method_name}"
        callbacks: list = []

        for script in script_list:
            if getattr(script.__class__, method_name, None) == getattr(Script, method_name, None):
                continue

            script_callbacks.add_callback(
                callbacks,
                script,
                category=category,
                name=script.__class__.__name__,
                filename=script.filename,
            )

        return script_callbacks.sort_callbacks(
            category, callbacks, enable_user_sort=enable_user_sort
        )

    def ordered_callbacks(self, method_name: str, *, enable_user_sort: bool = True) -> list:
        script_list = self.list_scripts_for_method(method_name)
        category = f"script_{method_name}"

        scripts_len, callbacks = self.callback_map.get(category, (-1, None))

        if callbacks is None or scripts_len != len(script_list):
            callbacks = self.create_ordered_callbacks_list(
                method_name, enable_user_sort=enable_user_sort
            )
            self.callback_map[category] = len(script_list), callbacks

        return callbacks

    def ordered_scripts(self, method_name: str) -> list[Script]:
        return [x.callback for x in self.ordered_callbacks(method_name)]

    def before_process(self, p) -> None:
        for script in self.ordered_scripts("before_process"):
            try:
                script_args = p.script_args[script.args_from : script.args_to]
                script.before_process(p, *script_args)
            except Exception:
                errors.report(f"Error running before_process: {script.filename}", exc_info=True)

    def process(self, p) -> None:
        for script in self.ordered_scripts("process"):
            try:
                script_args = p.script_args[script.args_from : script.args_to]
                script.process(p, *script_args)
            except Exception:
                errors.report(f"Error running process: {script.filename}", exc_info=True)

    def process_before_every_sampling(self, p, **kwargs) -> None:
        for script in self.ordered_scripts("process_before_every_sampling"):
            try:
                script_args = p.script_args[script.args_from : script.args_to]
                script.process_before_every_sampling(p, *script_args, **kwargs)
            except Exception:
                errors.report(
                    f"Error running process_before_every_sampling: {script.filename}", exc_info=True
                )

    def before_process_batch(self, p, **kwargs) -> None:
        for script in self.ordered_scripts("before_process_batch"):
            try:
                script_args = p.script_args[script.args_from : script.args_to]
                script.before_process_batch(p, *script_args, **kwargs)
            except Exception:
                errors.report(
                    f"Error running before_process_batch: {script.filename}", exc_info=True
                )

    def after_extra_networks_activate(self, p, **kwargs) -> None:
        for script in self.ordered_scripts("after_extra_networks_activate"):
            try:
                script_args = p.script_args[script.args_from : script.args_to]
                script.after_extra_networks_activate(p, *script_args, **kwargs)
            except Exception:
                errors.report(
                    f"Error running after_extra_networks_activate: {script.filename}", exc_info=True
                )

    def process_batch(self, p, **kwargs) -> None:
        for script in self.ordered_scripts("process_batch"):
            try:
                script_args = p.script_args[script.args_from : script.args_to]
                script.process_batch(p, *script_args, **kwargs)
            except Exception:
                errors.report(f"Error running process_batch: {script.filename}", exc_info=True)

    def postprocess(self, p, processed) -> None:
        for script in self.ordered_scripts("postprocess"):
            try:
                script_args = p.script_args[script.args_from : script.args_to]
                script.postprocess(p, processed, *script_args)
            except Exception:
                errors.report(f"Error running postprocess: {script.filename}", exc_info=True)

    def postprocess_batch(self, p, images, **kwargs) -> None:
        for script in self.ordered_scripts("postprocess_batch"):
            try:
                script_args = p.script_args[script.args_from : script.args_to]
                script.postprocess_batch(p, *script_args, images=images, **kwargs)
            except Exception:
                errors.report(f"Error running postprocess_batch: {script.filename}", exc_info=True)

    def postprocess_batch_list(self, p, pp: PostprocessBatchListArgs, **kwargs) -> None:
        for script in self.ordered_scripts("postprocess_batch_list"):
            try:
                script_args = p.script_args[script.args_from : script.args_to]
                script.postprocess_batch_list(p, pp, *script_args, **kwargs)
            except Exception:
                errors.report(
                    f"Error running postprocess_batch_list: {script.filename}", exc_info=True
                )

    def post_sample(self, p, ps: PostSampleArgs) -> None:
        for script in self.ordered_scripts("post_sample"):
            try:
                script_args = p.script_args[script.args_from : script.args_to]
                script.post_sample(p, ps, *script_args)
            except Exception:
                errors.report(f"Error running post_sample: {script.filename}", exc_info=True)

    def on_mask_blend(self, p, mba: MaskBlendArgs) -> None:
        for script in self.ordered_scripts("on_mask_blend"):
            try:
                script_args = p.script_args[script.args_from : script.args_to]
                script.on_mask_blend(p, mba, *script_args)
            except Exception:
                errors.report(f"Error running post_sample: {script.filename}", exc_info=True)

    def postprocess_image(self, p, pp: PostprocessImageArgs) -> None:
        for script in self.ordered_scripts("postprocess_image"):
            try:
                script_args = p.script_args[script.args_from : script.args_to]
                script.postprocess_image(p, pp, *script_args)
            except Exception:
                errors.report(f"Error running postprocess_image: {script.filename}", exc_info=True)

    def postprocess_maskoverlay(self, p, ppmo: PostProcessMaskOverlayArgs) -> None:
        for script in self.ordered_scripts("postprocess_maskoverlay"):
            try:
                script_args = p.script_args[script.args_from : script.args_to]
                script.postprocess_maskoverlay(p, ppmo, *script_args)
            except Exception:
                errors.report(f"Error running postprocess_image: {script.filename}", exc_info=True)

    def postprocess_image_after_composite(self, p, pp: PostprocessImageArgs) -> None:
        for script in self.ordered_scripts("postprocess_image_after_composite"):
            try:
                script_args = p.script_args[script.args_from : script.args_to]
                script.postprocess_image_after_composite(p, pp, *script_args)
            except Exception:
                errors.report(
                    f"Error running postprocess_image_after_composite: {script.filename}",
                    exc_info=True,
                )

    def before_component(self, component, **kwargs) -> None:
        for callback, script in self.on_before_component_elem_id.get(kwargs.get("elem_id"), []):
            try:
                callback(OnComponent(component=component))
            except Exception:
                errors.report(
                    f"Error running on_before_component: {script.filename}", exc_info=True
                )

        for script in self.ordered_scripts("before_component"):
            try:
                script.before_component(component, **kwargs)
            except Exception:
                errors.report(f"Error running before_component: {script.filename}", exc_info=True)

    def after_component(self, component, **kwargs) -> None:
        for callback, script in self.on_after_component_elem_id.get(component.elem_id, []):
            try:
                callback(OnComponent(component=component))
            except Exception:
                errors.report(f"Error running on_after_component: {script.filename}", exc_info=True)

        for script in self.ordered_scripts("after_component"):
            try:
                script.after_component(component, **kwargs)
            except Exception:
                errors.report(f"Error running after_component: {script.filename}", exc_info=True)

    def script(self, title: str) -> Script | None:
        return self.title_map.get(title.lower())

    def reload_sources(self, cache: dict) -> None:
        for si, script in list(enumerate(self.scripts)):
            args_from, args_to, filename = script.args_from, script.args_to, script.filename

            module = cache.get(filename)
            if module is None:
                module = script_loading.load_module(script.filename)
                cache[filename] = module

            for script_class in module.__dict__.values():
                if type(script_class) is type and issubclass(script_class, Script):
                    self.scripts[si] = script_class()
                    self.scripts[si].filename = filename
                    self.scripts[si].args_from = args_from
                    self.scripts[si].args_to = args_to

    def before_hr(self, p) -> None:
        for script in self.ordered_scripts("before_hr"):
            try:
                script_args = p.script_args[script.args_from : script.args_to]
                script.before_hr(p, *script_args)
            except Exception:
                errors.report(f"Error running before_hr: {script.filename}", exc_info=True)

    def setup_scrips(self, p, *, is_ui: bool = True) -> None:
        for script in self.ordered_scripts("setup"):
            if not is_ui and script.setup_for_ui_only:
                continue

            try:
                script_args = p.script_args[script.args_from : script.args_to]
                script.setup(p, *script_args)
            except Exception:
                errors.report(f"Error running setup: {script.filename}", exc_info=True)

    def set_named_arg(self, args, script_name: str, arg_elem_id: str, value, fuzzy: bool = False):
        script = next((x for x in self.scripts if x.name == script_name), None)
        if script is None:
            raise RuntimeError(f"script {script_name} not found")

        for i, control in enumerate(script.controls):
            if (arg_elem_id in control.elem_id) if fuzzy else (arg_elem_id == control.elem_id):
                index = script.args_from + i

                if isinstance(args, tuple):
                    return (*args[:index], value, *args[index + 1 :])
                if isinstance(args, list):
                    args[index] = value
                    return args
                raise RuntimeError(f"args is not a list or tuple, but {type(args)}")
        raise RuntimeError(f"arg_elem_id {arg_elem_id} not found in script {script_name}")


scripts_txt2img: ScriptRunner = None  # type: ignore[assignment]
scripts_img2img: ScriptRunner = None  # type: ignore[assignment]
scripts_postproc: scripts_postprocessing.ScriptPostprocessingRunner = None  # type: ignore[assignment]
scripts_current: ScriptRunner | None = None


def reload_script_body_only() -> None:
    cache: dict = {}
    scripts_txt2img.reload_sources(cache)
    scripts_img2img.reload_sources(cache)


reload_scripts = load_scripts
