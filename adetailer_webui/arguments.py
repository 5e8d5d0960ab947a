"""The script's arguments as A1111 delivers them, turned into the core's `ScriptArgs`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from adetailer.args import SAME_SAMPLER, SAME_SCHEDULER, ScriptArgs, parse_script_args
from adetailer_webui import host


class _UIStart:
    """Marks a tab dict as the UI's starting value: a value JSON cannot produce.

    A1111's API fills the argument slots a request leaves out with the UI's starting values;
    the marker tells those apart, so they add no passes. It is an object rather than a dict
    subclass because gradio 4 (Forge) rebuilds a State's dict as a plain dict.
    """

    def __repr__(self) -> str:
        return "<ADetailer: the UI's starting value>"

    def __deepcopy__(self, memo: dict[int, Any]) -> _UIStart:
        return self


UI_START = _UIStart()
UI_START_KEY = "is_api"  # a key the original used for the same purpose; tabs ignore it


def ui_start(values: Mapping[str, Any]) -> dict[str, Any]:
    """A tab's starting value in the UI."""
    return {**values, UI_START_KEY: UI_START}


def is_ui_start(item: Any) -> bool:
    return isinstance(item, Mapping) and isinstance(item.get(UI_START_KEY), _UIStart)


def client_args(args: Sequence[Any], is_api: bool) -> list[Any]:
    """The arguments a caller really sent: without the UI's starting values in API requests."""
    items = list(args)
    if not is_api:
        return items
    items = [item for item in items if not is_ui_start(item)]
    # `[{tab}, ...]`: the tab took the enable slot, so the skip slot's starting value follows it
    if len(items) >= 2 and isinstance(items[0], Mapping) and isinstance(items[1], bool):
        del items[1]
    return items


def with_xyz_values(items: list[Any], values: Mapping[str, Any] | None) -> list[Any]:
    """X/Y/Z axis values replace the first tab's.

    An axis that turns on the tab's own sampler (the sampler or scheduler axis) keeps the other
    of the two as the image has it, unless the tab already used its own.
    """
    if not values:
        return items
    for position, item in enumerate(items):
        if isinstance(item, Mapping):
            merged = {**item, **values}
            if values.get("ad_use_sampler") and str(item.get("ad_use_sampler")).lower() != "true":
                if "ad_sampler" not in values:
                    merged["ad_sampler"] = SAME_SAMPLER
                if "ad_scheduler" not in values:
                    merged["ad_scheduler"] = SAME_SCHEDULER
            items[position] = merged
            break
    return items


def parse_for_generation(p: Any, args: Sequence[Any]) -> ScriptArgs:
    items = client_args(args, bool(getattr(p, "is_api", False)))
    items = with_xyz_values(items, getattr(p, "_ad_xyz", None))
    return parse_script_args(items, host.choices())
