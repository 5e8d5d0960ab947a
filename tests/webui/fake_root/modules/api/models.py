"""The parts of ``modules.api.models`` a script runner and an API request need.

The request models are generated from the processing dataclasses' ``__init__`` signatures the way
A1111 does it: every init field becomes an optional JSON field (property defaults become None),
minus ``API_NOT_ALLOWED``, plus the request-only fields.
"""

from __future__ import annotations

import inspect
from typing import Any

from modules.processing import StableDiffusionProcessingImg2Img, StableDiffusionProcessingTxt2Img
from pydantic import BaseModel, Field, create_model

API_NOT_ALLOWED = [
    "self",
    "kwargs",
    "sd_model",
    "outpath_samples",
    "outpath_grids",
    "sampler_index",
    "extra_generation_params",
    "overlay_images",
    "do_not_reload_embeddings",
    "seed_enable_extras",
    "prompt_for_display",
    "sampler_noise_scheduler_override",
    "ddim_discretize",
]

# processing.py uses ``from __future__ import annotations``; its annotations are strings.
_ANNOTATION_NAMES: dict[str, Any] = {
    "Any": Any,
    "Image": str,
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list": list,
    "dict": dict,
    "tuple": tuple,
}


def _field_type(annotation: Any) -> Any:
    if isinstance(annotation, str):
        annotation = eval(annotation, {}, _ANNOTATION_NAMES)
    return annotation | None


def _generate_model(
    model_name: str, cls: type, additional_fields: list[dict[str, Any]]
) -> type[BaseModel]:
    parameters: dict[str, inspect.Parameter] = {}
    for klass in [c for c in inspect.getmro(cls) if c is not object]:
        parameters = {**parameters, **inspect.signature(klass.__init__).parameters}

    fields: dict[str, tuple[Any, Any]] = {}
    for name, param in parameters.items():
        if name in API_NOT_ALLOWED:
            continue
        default = None if isinstance(param.default, property) else param.default
        fields[name] = (_field_type(param.annotation), Field(default=default, alias=name))

    for extra in additional_fields:
        fields[extra["key"]] = (
            extra["type"],
            Field(
                default=extra["default"], alias=extra["key"], exclude=extra.get("exclude", False)
            ),
        )

    model = create_model(model_name, **fields)
    model.__config__.allow_population_by_field_name = True
    model.__config__.allow_mutation = True
    return model


StableDiffusionTxt2ImgProcessingAPI = _generate_model(
    "StableDiffusionProcessingTxt2Img",
    StableDiffusionProcessingTxt2Img,
    [
        {"key": "sampler_index", "type": str, "default": "Euler"},
        {"key": "script_name", "type": str, "default": None},
        {"key": "script_args", "type": list, "default": []},
        {"key": "send_images", "type": bool, "default": True},
        {"key": "save_images", "type": bool, "default": False},
        {"key": "alwayson_scripts", "type": dict, "default": {}},
        {"key": "force_task_id", "type": str, "default": None},
        {"key": "infotext", "type": str, "default": None},
    ],
)

StableDiffusionImg2ImgProcessingAPI = _generate_model(
    "StableDiffusionProcessingImg2Img",
    StableDiffusionProcessingImg2Img,
    [
        {"key": "sampler_index", "type": str, "default": "Euler"},
        {"key": "init_images", "type": list, "default": None},
        {"key": "denoising_strength", "type": float, "default": 0.75},
        {"key": "mask", "type": str, "default": None},
        {"key": "include_init_images", "type": bool, "default": False, "exclude": True},
        {"key": "script_name", "type": str, "default": None},
        {"key": "script_args", "type": list, "default": []},
        {"key": "send_images", "type": bool, "default": True},
        {"key": "save_images", "type": bool, "default": False},
        {"key": "alwayson_scripts", "type": dict, "default": {}},
        {"key": "force_task_id", "type": str, "default": None},
        {"key": "infotext", "type": str, "default": None},
    ],
)


class ScriptArg(BaseModel):
    label: str = Field(default=None, title="Label", description="Name of the argument in UI")
    value: Any | None = Field(
        default=None, title="Value", description="Default value of the argument"
    )
    minimum: Any | None = Field(
        default=None, title="Minimum", description="Minimum allowed value for the argumentin UI"
    )
    maximum: Any | None = Field(
        default=None, title="Minimum", description="Maximum allowed value for the argumentin UI"
    )
    step: Any | None = Field(
        default=None, title="Minimum", description="Step for changing value of the argumentin UI"
    )
    choices: list[str] | None = Field(
        default=None, title="Choices", description="Possible values for the argument"
    )


class ScriptInfo(BaseModel):
    name: str = Field(default=None, title="Name", description="Script name")
    is_alwayson: bool = Field(
        default=None,
        title="IsAlwayson",
        description="Flag specifying whether this script is an alwayson script",
    )
    is_img2img: bool = Field(
        default=None,
        title="IsImg2img",
        description="Flag specifying whether this script is an img2img script",
    )
    args: list[ScriptArg] = Field(title="Arguments", description="List of script's arguments")


class ScriptsList(BaseModel):
    txt2img: list = Field(default=None, title="Txt2img", description="Titles of scripts (txt2img)")
    img2img: list = Field(default=None, title="Img2img", description="Titles of scripts (img2img)")
