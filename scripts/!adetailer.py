"""ADetailer for the AUTOMATIC1111 web UI: the always-on script and its callbacks.

Thin glue: the work happens in `adetailer` (the web-UI-free core) and `adetailer_webui`
(everything that talks to A1111). Both are imported here, while A1111 has the extension's
folder on sys.path.
"""

from __future__ import annotations

from typing import Any

from modules import script_callbacks, scripts

import controlnet_ext  # noqa: F401 - imported now, while the extension folder is on sys.path
from adetailer.__version__ import __version__
from adetailer_webui import api, detail, settings, ui, xyz


class AfterDetailerScript(scripts.Script):
    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(version={__version__})"

    def title(self) -> str:
        return "ADetailer"

    def show(self, is_img2img: bool) -> Any:
        return scripts.AlwaysVisible

    def ui(self, is_img2img: bool) -> list[Any]:
        controls, fields = ui.build(is_img2img, self.elem_id)
        self.infotext_fields = fields
        return controls

    def process(self, p: Any, *args: Any) -> None:
        detail.process(p, args)

    def postprocess_image(self, p: Any, pp: Any, *args: Any) -> None:
        detail.postprocess_image(p, pp)


xyz.add_axes()
script_callbacks.on_ui_settings(settings.register)
script_callbacks.on_after_component(ui.on_after_component)
script_callbacks.on_before_ui(xyz.add_axes)
script_callbacks.on_app_started(api.add_routes)
