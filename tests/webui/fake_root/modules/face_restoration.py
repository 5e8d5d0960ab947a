"""``modules.face_restoration`` with a visible, deterministic "restoration".

``restore_faces`` paints a 4x4 magenta block into the top-left corner (``MARKER_COLOR``) and records
the call in ``calls``, so tests can tell whether and when face restoration ran.
"""

from __future__ import annotations

import numpy as np

from modules import shared

MARKER_COLOR = (255, 0, 255)
MARKER_SIZE = 4

calls: list[tuple[int, int]] = []
"""Test hook: (width, height) of every image passed to ``restore_faces``."""


class FaceRestoration:
    def name(self) -> str:
        return "None"

    def restore(self, np_image: np.ndarray) -> np.ndarray:
        return np_image


def restore_faces(np_image: np.ndarray) -> np.ndarray:
    calls.append((np_image.shape[1], np_image.shape[0]))

    face_restorers = [
        x
        for x in shared.face_restorers
        if x.name() == shared.opts.face_restoration_model
        or shared.opts.face_restoration_model is None
    ]
    if len(face_restorers) > 0:
        return face_restorers[0].restore(np_image)

    restored = np_image.copy()
    restored[:MARKER_SIZE, :MARKER_SIZE] = MARKER_COLOR
    return restored
