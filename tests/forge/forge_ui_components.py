"""Forge's `modules.ui_components`, as the reference describes it (§3.10, §6).

InputAccordion is a factory (not a class, as in A1111) returning a hidden checkbox that builds
its accordion and enters it as a context manager. (gradio 4 writes a .pyi stub next to a module
that defines components; .gitignore keeps it out.)
"""

from __future__ import annotations

from typing import Any

import gradio as gr


class InputAccordionImpl(gr.Checkbox):
    def __init__(self, value: Any = None, setup: bool = False, **kwargs: Any) -> None:
        if not setup:
            super().__init__(value=value, **kwargs)
            return
        self.accordion_id = kwargs.get("elem_id") or "input-accordion-0"
        checkbox = {**kwargs, "elem_id": f"{self.accordion_id}-checkbox", "visible": False}
        super().__init__(value=value, **checkbox)
        accordion = {**kwargs, "elem_id": self.accordion_id, "elem_classes": ["input-accordion"]}
        self.accordion = gr.Accordion(**accordion, open=value)

    def __enter__(self) -> InputAccordionImpl:
        self.accordion.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.accordion.__exit__(*exc)


def InputAccordion(value: Any = None, **kwargs: Any) -> InputAccordionImpl:  # noqa: N802 - Forge's name
    return InputAccordionImpl(value=value, setup=True, **kwargs)


class ToolButton(gr.Button):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{"elem_classes": ["tool"], **kwargs})
