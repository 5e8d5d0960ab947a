"""``modules.ui_components``: form helpers and ``InputAccordion`` (a hidden ``gr.Checkbox`` that owns
a ``gr.Accordion``; used as a context manager it returns itself, i.e. the checkbox)."""

from __future__ import annotations

import gradio as gr


class FormComponent:
    def get_expected_parent(self):
        return gr.components.Form


gr.Dropdown.get_expected_parent = FormComponent.get_expected_parent


class ToolButton(FormComponent, gr.Button):
    def __init__(self, *args, **kwargs) -> None:
        classes = kwargs.pop("elem_classes", [])
        super().__init__(*args, elem_classes=["tool", *classes], **kwargs)

    def get_block_name(self) -> str:
        return "button"


class ResizeHandleRow(gr.Row):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.elem_classes.append("resize-handle-row")

    def get_block_name(self) -> str:
        return "row"


class FormRow(FormComponent, gr.Row):
    def get_block_name(self) -> str:
        return "row"


class FormColumn(FormComponent, gr.Column):
    def get_block_name(self) -> str:
        return "column"


class FormGroup(FormComponent, gr.Group):
    def get_block_name(self) -> str:
        return "group"


class FormHTML(FormComponent, gr.HTML):
    def get_block_name(self) -> str:
        return "html"


class FormColorPicker(FormComponent, gr.ColorPicker):
    def get_block_name(self) -> str:
        return "colorpicker"


class DropdownMulti(FormComponent, gr.Dropdown):
    def __init__(self, **kwargs) -> None:
        super().__init__(multiselect=True, **kwargs)

    def get_block_name(self) -> str:
        return "dropdown"


class DropdownEditable(FormComponent, gr.Dropdown):
    def __init__(self, **kwargs) -> None:
        super().__init__(allow_custom_value=True, **kwargs)

    def get_block_name(self) -> str:
        return "dropdown"


class InputAccordion(gr.Checkbox):
    """The checkbox carries the value (open = True); ``.accordion`` holds the children."""

    global_index = 0

    def __init__(self, value: bool, **kwargs) -> None:
        self.accordion_id = kwargs.get("elem_id")
        if self.accordion_id is None:
            self.accordion_id = f"input-accordion-{InputAccordion.global_index}"
            InputAccordion.global_index += 1

        super().__init__(
            value, **{**kwargs, "elem_id": f"{self.accordion_id}-checkbox", "visible": False}
        )

        self.change(
            fn=None,
            _js=f'function(checked){{ inputAccordionChecked("{self.accordion_id}", checked); }}',
            inputs=[self],
        )

        self.accordion = gr.Accordion(
            **{
                **kwargs,
                "elem_id": self.accordion_id,
                "label": kwargs.get("label", "Accordion"),
                "elem_classes": ["input-accordion"],
                "open": value,
            }
        )

    def extra(self) -> gr.Column:
        return gr.Column(
            elem_id=self.accordion_id + "-extra", elem_classes="input-accordion-extra", min_width=0
        )

    def __enter__(self) -> InputAccordion:
        self.accordion.__enter__()
        return self

    def __exit__(self, exc_type, exc_val, exc_tb) -> None:
        self.accordion.__exit__(exc_type, exc_val, exc_tb)

    def get_block_name(self) -> str:
        return "checkbox"
