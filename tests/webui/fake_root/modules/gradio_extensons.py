"""A1111's gradio patches (``modules/gradio_extensons.py``, sic): every component and layout block
created while a runner is ``scripts.scripts_current`` is announced to that runner's scripts
(``before_component``/``after_component``, ``on_before/after_component`` by elem_id) and to the
``on_before/after_component`` callbacks, and the webui-only ``tooltip`` kwarg is accepted.

Importing this module installs the patches for the rest of the process, like the web UI does.
"""

from __future__ import annotations

import gradio as gr

from modules import scripts


def add_classes_to_gradio_component(comp) -> None:
    comp.elem_classes = [f"gradio-{comp.get_block_name()}", *(comp.elem_classes or [])]

    if getattr(comp, "multiselect", False):
        comp.elem_classes.append("multiselect")


def _announce_around(original_init):
    def init(self, *args, **kwargs):
        if original_init is original_iocomponent_init:
            self.webui_tooltip = kwargs.pop("tooltip", None)

        if scripts.scripts_current is not None:
            scripts.scripts_current.before_component(self, **kwargs)

        scripts.script_callbacks.before_component_callback(self, **kwargs)

        res = original_init(self, *args, **kwargs)

        add_classes_to_gradio_component(self)

        scripts.script_callbacks.after_component_callback(self, **kwargs)

        if scripts.scripts_current is not None:
            scripts.scripts_current.after_component(self, **kwargs)

        return res

    init.__webui_patched__ = True
    return init


original_iocomponent_init = getattr(
    gr.components.IOComponent.__init__, "__webui_original__", gr.components.IOComponent.__init__
)
original_blockcontext_init = getattr(
    gr.blocks.BlockContext.__init__, "__webui_original__", gr.blocks.BlockContext.__init__
)

if not getattr(gr.components.IOComponent.__init__, "__webui_patched__", False):
    patched = _announce_around(original_iocomponent_init)
    patched.__webui_original__ = original_iocomponent_init
    gr.components.IOComponent.__init__ = patched

if not getattr(gr.blocks.BlockContext.__init__, "__webui_patched__", False):
    patched = _announce_around(original_blockcontext_init)
    patched.__webui_original__ = original_blockcontext_init
    gr.blocks.BlockContext.__init__ = patched
