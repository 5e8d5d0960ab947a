"""ADetailer core: detect, mask and plan the redraw of faces, hands and people.

Importable without the web UI: nothing here imports A1111's `modules`, and nothing is loaded
or downloaded at import time.
"""

from adetailer.__version__ import __version__

__all__ = ["__version__"]
