"""sd-webui-controlnet v1.1.455's scripts/external_code.py: a re-export of
internal_controlnet.external_code, as the real one is."""

from internal_controlnet.external_code import *  # noqa: F403
