"""``modules.scripts_postprocessing``: Extras-tab scripts (registered by ``load_scripts`` when found)."""

from __future__ import annotations

import dataclasses
import os

import gradio as gr

from modules import errors, shared


@dataclasses.dataclass
class PostprocessedImageSharedInfo:
    target_width: int | None = None
    target_height: int | None = None


class PostprocessedImage:
    def __init__(self, image) -> None:
        self.image = image
        self.info: dict = {}
        self.shared = PostprocessedImageSharedInfo()
        self.extra_images: list = []
        self.nametags: list[str] = []
        self.disable_processing = False
        self.caption = None

    def get_suffix(self, used_suffixes: dict | None = None) -> str:
        used_suffixes = {} if used_suffixes is None else used_suffixes
        suffix = "-".join(self.nametags)
        if suffix:
            suffix = "-" + suffix

        if suffix not in used_suffixes:
            used_suffixes[suffix] = 1
            return suffix

        for i in range(1, 100):
            proposed = f"{suffix}-{i}"
            if proposed not in used_suffixes:
                used_suffixes[proposed] = 1
                return proposed

        return suffix

    def create_copy(
        self, new_image, *, nametags: list[str] | None = None, disable_processing: bool = False
    ) -> PostprocessedImage:
        pp = PostprocessedImage(new_image)
        pp.shared = self.shared
        pp.nametags = self.nametags.copy()
        pp.info = self.info.copy()
        pp.disable_processing = disable_processing
        if nametags is not None:
            pp.nametags += nametags
        return pp


class ScriptPostprocessing:
    filename = None
    controls = None
    args_from = None
    args_to = None
    order = 1000
    name = None
    group = None

    def ui(self):
        pass

    def process(self, pp: PostprocessedImage, **args):
        pass

    def process_firstpass(self, pp: PostprocessedImage, **args):
        pass

    def image_changed(self):
        pass


def wrap_call(func, filename, funcname, *args, default=None, **kwargs):
    try:
        return func(*args, **kwargs)
    except Exception as e:
        errors.display(e, f"calling {filename}/{funcname}")

    return default


class ScriptPostprocessingRunner:
    def __init__(self) -> None:
        self.scripts: list[ScriptPostprocessing] | None = None
        self.ui_created = False

    def initialize_scripts(self, scripts_data) -> None:
        self.scripts = []

        for script_data in scripts_data:
            script: ScriptPostprocessing = script_data.script_class()
            script.filename = script_data.path

            if script.name == "Simple Upscale":
                continue

            self.scripts.append(script)

    def create_script_ui(self, script: ScriptPostprocessing, inputs: list) -> None:
        script.args_from = len(inputs)
        script.args_to = len(inputs)

        script.controls = wrap_call(script.ui, script.filename, "ui")

        for control in script.controls.values():
            control.custom_script_source = os.path.basename(script.filename)

        inputs += list(script.controls.values())
        script.args_to = len(inputs)

    def scripts_in_preferred_order(self) -> list[ScriptPostprocessing]:
        if self.scripts is None:
            import modules.scripts

            self.initialize_scripts(modules.scripts.postprocessing_scripts_data)

        scripts_order = shared.opts.postprocessing_operation_order
        scripts_filter_out = set(shared.opts.postprocessing_disable_in_extras)

        def script_score(name):
            return next(
                (i for i, match in enumerate(scripts_order) if match == name), len(self.scripts)
            )

        filtered = [script for script in self.scripts if script.name not in scripts_filter_out]
        scores = {
            script.name: (script_score(script.name), script.order, script.name, i)
            for i, script in enumerate(filtered)
        }

        return sorted(filtered, key=lambda x: scores[x.name])

    def setup_ui(self) -> list:
        inputs: list = []

        for script in self.scripts_in_preferred_order():
            with gr.Row() as group:
                self.create_script_ui(script, inputs)

            script.group = group

        self.ui_created = True
        return inputs

    def run(self, pp: PostprocessedImage, args) -> None:
        scripts = []
        for script in self.scripts_in_preferred_order():
            script_args = args[script.args_from : script.args_to]
            process_args = {
                name: value
                for (name, _component), value in zip(
                    script.controls.items(), script_args, strict=False
                )
            }
            scripts.append((script, process_args))

        for script, process_args in scripts:
            script.process_firstpass(pp, **process_args)

        all_images = [pp]

        for script, process_args in scripts:
            if shared.state.skipped:
                break

            shared.state.job = script.name

            for single_image in all_images.copy():
                if not single_image.disable_processing:
                    script.process(single_image, **process_args)

                for extra_image in single_image.extra_images:
                    if not isinstance(extra_image, PostprocessedImage):
                        extra_image = single_image.create_copy(extra_image)
                    all_images.append(extra_image)

                single_image.extra_images.clear()

        pp.extra_images = all_images[1:]

    def image_changed(self) -> None:
        for script in self.scripts_in_preferred_order():
            script.image_changed()
