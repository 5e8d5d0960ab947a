"""Forge 2.0.1's lib_controlnet/enums.py: the input modes and hires-fix options a unit carries."""

from __future__ import annotations

from enum import Enum


class InputMode(Enum):
    SIMPLE = "simple"
    BATCH = "batch"
    MERGE = "merge"


class HiResFixOption(Enum):
    BOTH = "Both"
    LOW_RES_ONLY = "Low res only"
    HIGH_RES_ONLY = "High res only"
