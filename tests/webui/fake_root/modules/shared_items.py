"""``modules.shared_items``: lists for dropdowns, UI section order, and the ``shared.sd_model`` property."""

from __future__ import annotations

import sys
from collections.abc import Iterator

from modules import script_callbacks, scripts  # noqa: F401  (A1111 imports them here too)


def postprocessing_scripts() -> list:
    import modules.scripts

    return modules.scripts.scripts_postproc.scripts


def sd_vae_items() -> list[str]:
    import modules.sd_vae

    return ["Automatic", "None", *modules.sd_vae.vae_dict]


def refresh_vae_list() -> None:
    import modules.sd_vae

    modules.sd_vae.refresh_vae_list()


def list_checkpoint_tiles(use_short: bool = False) -> list[str]:
    import modules.sd_models

    return modules.sd_models.checkpoint_tiles(use_short)


def refresh_checkpoints() -> None:
    import modules.sd_models

    modules.sd_models.list_models()


def list_samplers() -> list:
    import modules.sd_samplers

    return modules.sd_samplers.all_samplers


def reload_hypernetworks() -> None:
    """The fake has no hypernetworks; A1111 rescans ``--hypernetwork-dir`` here."""
    from modules import shared

    shared.hypernetworks = {}


def get_infotext_names() -> list[str]:
    from modules import infotext_utils, shared

    res: dict[str, int] = {}
    for info in shared.opts.data_labels.values():
        if info.infotext:
            res[info.infotext] = 1

    for tab_data in infotext_utils.paste_fields.values():
        for _, name in tab_data.get("fields") or []:
            if isinstance(name, str):
                res[name] = 1

    return list(res)


ui_reorder_categories_builtin_items = [
    "prompt",
    "image",
    "inpaint",
    "sampler",
    "accordions",
    "checkboxes",
    "dimensions",
    "cfg",
    "denoising",
    "seed",
    "batch",
    "override_settings",
]


def ui_reorder_categories() -> Iterator[str]:

    yield from ui_reorder_categories_builtin_items

    sections: dict[str, int] = {}
    for script in scripts.scripts_txt2img.scripts + scripts.scripts_img2img.scripts:
        if (
            isinstance(script.section, str)
            and script.section not in ui_reorder_categories_builtin_items
        ):
            sections[script.section] = 1

    yield from sections
    yield "scripts"


class Shared(sys.modules["modules.shared"].__class__):
    """Makes ``shared.sd_model`` load the checkpoint on first access, like A1111."""

    sd_model_val = None

    @property
    def sd_model(self):
        import modules.sd_models

        return modules.sd_models.model_data.get_sd_model()

    @sd_model.setter
    def sd_model(self, value) -> None:
        import modules.sd_models

        modules.sd_models.model_data.set_sd_model(value)


sys.modules["modules.shared"].__class__ = Shared
