"""Sample extension script for the fake web UI's own tests: records every hook call in ``calls``.

Arguments (UI order): enable (InputAccordion), strength (Slider), raise_in (Textbox naming a hook
that should raise), options (gr.State dict).
"""

import sys

import gradio as gr
import sample_ext_lib
from modules import script_callbacks, scripts, shared
from modules.ui_components import InputAccordion

calls = []
"""(hook name, details dict) in call order, across both tabs."""

EXTENSION_ROOT = scripts.basedir()
ROOT_ON_PATH_AT_IMPORT = EXTENSION_ROOT in sys.path
HELPER_VALUE = sample_ext_lib.VALUE


def record(name, p=None, args=(), **details):
    entry = {"args": args, **details}
    if p is not None:
        entry.update(
            p=p,
            width=p.width,
            height=p.height,
            has_batch_index=hasattr(p, "batch_index"),
            is_api=p.is_api,
            job_count=shared.state.job_count,
            job_no=shared.state.job_no,
        )
    calls.append((name, entry))


def maybe_raise(hook, raise_in):
    if raise_in == hook:
        raise RuntimeError(f"sample raises in {hook}")


class SampleScript(scripts.Script):
    def title(self):
        return "Sample"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def ui(self, is_img2img):
        record("ui", is_img2img=is_img2img)
        with InputAccordion(False, label="Sample", elem_id=self.elem_id("enable")) as enable:
            strength = gr.Slider(
                label="Sample strength",
                minimum=0,
                maximum=1,
                step=0.05,
                value=0.5,
                elem_id=self.elem_id("strength"),
            )
            raise_in = gr.Textbox(label="Raise in", value="", elem_id=self.elem_id("raise_in"))
            options = gr.State({"mode": "default"})

        self.infotext_fields = [
            (enable, "Sample enable"),
            (strength, "Sample strength"),
            (raise_in, lambda params: params.get("Sample raise")),
        ]
        self.paste_field_names = ["Sample strength"]
        return [enable, strength, raise_in, options]

    def setup(self, p, *args):
        record("setup", p, args)
        maybe_raise("setup", args[2])

    def before_process(self, p, *args):
        record("before_process", p, args)
        maybe_raise("before_process", args[2])

    def process(self, p, *args):
        record("process", p, args, all_prompts=list(p.all_prompts), all_seeds=list(p.all_seeds))
        maybe_raise("process", args[2])
        if args[0]:
            p.extra_generation_params["Sample enable"] = True
            p.extra_generation_params["Sample strength"] = args[1]

    def before_process_batch(self, p, *args, **kwargs):
        record("before_process_batch", p, args, kwargs=kwargs)
        maybe_raise("before_process_batch", args[2])

    def after_extra_networks_activate(self, p, *args, **kwargs):
        record("after_extra_networks_activate", p, args, kwargs=kwargs)

    def process_batch(self, p, *args, **kwargs):
        record("process_batch", p, args, kwargs=kwargs)
        maybe_raise("process_batch", args[2])

    def process_before_every_sampling(self, p, *args, **kwargs):
        record("process_before_every_sampling", p, args, is_hr_pass=p.is_hr_pass, kwargs=kwargs)

    def before_hr(self, p, *args):
        record("before_hr", p, args)

    def on_mask_blend(self, p, mba, *args):
        record("on_mask_blend", p, args, is_final_blend=mba.is_final_blend)

    def post_sample(self, p, ps, *args):
        record("post_sample", p, args, shape=tuple(ps.samples.shape))

    def postprocess_batch(self, p, *args, **kwargs):
        record("postprocess_batch", p, args, kwargs=kwargs)

    def postprocess_batch_list(self, p, pp, *args, **kwargs):
        record("postprocess_batch_list", p, args, n_images=len(pp.images), kwargs=kwargs)

    def postprocess_image(self, p, pp, *args):
        record(
            "postprocess_image",
            p,
            args,
            size=pp.image.size,
            batch_index=p.batch_index,
            is_hr_pass=p.is_hr_pass,
        )
        maybe_raise("postprocess_image", args[2])

    def postprocess_maskoverlay(self, p, ppmo, *args):
        record("postprocess_maskoverlay", p, args, index=ppmo.index)

    def postprocess_image_after_composite(self, p, pp, *args):
        record("postprocess_image_after_composite", p, args, size=pp.image.size)

    def postprocess(self, p, processed, *args):
        try:
            import sample_ext_lazy  # noqa: F401

            lazy_import = "ok"
        except ImportError:
            lazy_import = "failed"
        record("postprocess", p, args, n_images=len(processed.images), lazy_import=lazy_import)
        maybe_raise("postprocess", args[2])


def on_ui_settings():
    record("on_ui_settings")
    section = ("sample", "Sample")
    shared.opts.add_option(
        "sample_option",
        shared.OptionInfo(3, "Sample option", section=section).info("an int option"),
    )


def on_before_ui():
    record("on_before_ui")


def on_app_started(demo, app):
    record("on_app_started", demo=demo, app=app)


script_callbacks.on_ui_settings(on_ui_settings)
script_callbacks.on_before_ui(on_before_ui)
script_callbacks.on_app_started(on_app_started)
