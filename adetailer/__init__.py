"""ADetailer core: detect, mask and plan the redraw of faces, hands and people.

Importable without the web UI: nothing here imports A1111's `modules`, and nothing is loaded
or downloaded at import time. `Detailer` (the standalone redraw on diffusers, the `[detail]`
extra) is imported on first use, so `import adetailer` never imports torch or diffusers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from adetailer.__version__ import __version__

if TYPE_CHECKING:
    from adetailer.diffusers_backend.detailer import Detailer, DetailOutput

__all__ = ["DetailOutput", "Detailer", "__version__"]
_LAZY = {"Detailer", "DetailOutput"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        try:
            from adetailer.diffusers_backend import detailer
        except ImportError as exc:
            msg = f"adetailer.{name} needs the [detail] extra: pip install 'adetailer[detail]' ({exc})"
            raise ImportError(msg) from exc
        return getattr(detailer, name)
    msg = f"module 'adetailer' has no attribute {name!r}"
    raise AttributeError(msg)
