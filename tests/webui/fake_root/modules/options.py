"""``modules.options``: ``OptionInfo``, ``options_section`` and ``Options`` with A1111 1.10 semantics.

The traps are kept on purpose: ``Options.data`` is whatever ``load()`` read (no defaults merged),
attribute reads fall back to the registered default, and ``add_option`` only fills ``data`` for
keys that are absent.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

import gradio as gr

from modules import errors
from modules.shared_cmd_options import cmd_opts


class OptionInfo:
    def __init__(
        self,
        default: Any = None,
        label: str = "",
        component: Any = None,
        component_args: Any = None,
        onchange: Any = None,
        section: tuple | None = None,
        refresh: Any = None,
        comment_before: str = "",
        comment_after: str = "",
        infotext: str | None = None,
        restrict_api: bool = False,
        category_id: str | None = None,
    ) -> None:
        self.default = default
        self.label = label
        self.component = component
        self.component_args = component_args
        self.onchange = onchange
        self.section = section
        self.category_id = category_id
        self.refresh = refresh
        self.do_not_save = False
        self.comment_before = comment_before
        self.comment_after = comment_after
        self.infotext = infotext
        self.restrict_api = restrict_api

    def link(self, label: str, url: str) -> OptionInfo:
        self.comment_before += f"[<a href='{url}' target='_blank'>{label}</a>]"
        return self

    def js(self, label: str, js_func: str) -> OptionInfo:
        self.comment_before += f"[<a onclick='{js_func}(); return false'>{label}</a>]"
        return self

    def info(self, info: str) -> OptionInfo:
        self.comment_after += f"<span class='info'>({info})</span>"
        return self

    def html(self, html: str) -> OptionInfo:
        self.comment_after += html
        return self

    def needs_restart(self) -> OptionInfo:
        self.comment_after += " <span class='info'>(requires restart)</span>"
        return self

    def needs_reload_ui(self) -> OptionInfo:
        self.comment_after += " <span class='info'>(requires Reload UI)</span>"
        return self


class OptionHTML(OptionInfo):
    def __init__(self, text: str) -> None:
        super().__init__(
            str(text).strip(),
            label="",
            component=lambda **kwargs: gr.HTML(elem_classes="settings-info", **kwargs),
        )
        self.do_not_save = True


def options_section(
    section_identifier: tuple, options_dict: dict[str, OptionInfo]
) -> dict[str, OptionInfo]:
    for info in options_dict.values():
        if len(section_identifier) == 2:
            info.section = section_identifier
        elif len(section_identifier) == 3:
            info.section = section_identifier[0:2]
            info.category_id = section_identifier[2]

    return options_dict


options_builtin_fields = {"data_labels", "data", "restricted_opts", "typemap"}


class Options:
    typemap = {int: float}  # noqa: RUF012  (A1111 class attribute)

    def __init__(self, data_labels: dict[str, OptionInfo], restricted_opts: set[str]) -> None:
        self.data_labels = data_labels
        self.data = {k: v.default for k, v in self.data_labels.items() if not v.do_not_save}
        self.restricted_opts = restricted_opts

    def __setattr__(self, key: str, value: Any) -> None:
        if key in options_builtin_fields:
            super().__setattr__(key, value)
            return

        if self.data is not None and (key in self.data or key in self.data_labels):
            assert not cmd_opts.freeze_settings, "changing settings is disabled"

            # A key present in data but never registered has no info; A1111 fails on it the same way.
            info = self.data_labels.get(key, None)
            if info.do_not_save:
                return

            comp_args = info.component_args if info else None
            if isinstance(comp_args, dict) and comp_args.get("visible", True) is False:
                raise RuntimeError(f"not possible to set '{key}' because it is restricted")

            if cmd_opts.freeze_settings_in_sections is not None:
                frozen_sections = [
                    x.strip() for x in cmd_opts.freeze_settings_in_sections.split(",")
                ]
                assert info.section[0] not in frozen_sections, (
                    f"not possible to set '{key}' because settings in section '{info.section[1]}' ({info.section[0]}) are frozen with --freeze-settings-in-sections"
                )

            if cmd_opts.freeze_specific_settings is not None:
                frozen_keys = [x.strip() for x in cmd_opts.freeze_specific_settings.split(",")]
                assert key not in frozen_keys, (
                    f"not possible to set '{key}' because this setting is frozen with --freeze-specific-settings"
                )

            if cmd_opts.hide_ui_dir_config and key in self.restricted_opts:
                raise RuntimeError(
                    f"not possible to set '{key}' because it is restricted with --hide_ui_dir_config"
                )

            self.data[key] = value
            return

        super().__setattr__(key, value)

    def __getattr__(self, item: str) -> Any:
        if item in options_builtin_fields:
            return super().__getattribute__(item)

        if self.data is not None and item in self.data:
            return self.data[item]

        if item in self.data_labels:
            return self.data_labels[item].default

        return super().__getattribute__(item)

    def set(self, key: str, value: Any, is_api: bool = False, run_callbacks: bool = True) -> bool:
        oldval = self.data.get(key, None)
        if oldval == value:
            return False

        option = self.data_labels[key]
        if option.do_not_save:
            return False

        if is_api and option.restrict_api:
            return False

        try:
            setattr(self, key, value)
        except RuntimeError:
            return False

        if run_callbacks and option.onchange is not None:
            try:
                option.onchange()
            except Exception as e:
                errors.display(e, f"changing setting {key} to {value}")
                setattr(self, key, oldval)
                return False

        return True

    def get_default(self, key: str) -> Any:
        data_label = self.data_labels.get(key)
        if data_label is None:
            return None
        return data_label.default

    def save(self, filename: str) -> None:
        assert not cmd_opts.freeze_settings, "saving settings is disabled"

        with open(filename, "w", encoding="utf8") as file:
            json.dump(self.data, file, indent=4, ensure_ascii=False)

    def same_type(self, x: Any, y: Any) -> bool:
        if x is None or y is None:
            return True

        type_x = self.typemap.get(type(x), type(x))
        type_y = self.typemap.get(type(y), type(y))
        return type_x == type_y

    def load(self, filename: str) -> None:
        try:
            with open(filename, encoding="utf8") as file:
                self.data = json.load(file)
        except FileNotFoundError:
            self.data = {}
        except Exception:
            errors.report(
                f'\nCould not load settings\nThe config file "{filename}" is likely corrupted\n',
                exc_info=True,
            )
            self.data = {}

        bad_settings = 0
        for k, v in self.data.items():
            info = self.data_labels.get(k, None)
            if info is not None and not self.same_type(info.default, v):
                print(
                    f"Warning: bad setting value: {k}: {v} ({type(v).__name__}; expected {type(info.default).__name__})",
                    file=sys.stderr,
                )
                bad_settings += 1

        if bad_settings > 0:
            print(
                f"The program is likely to not work with bad settings.\nSettings file: {filename}\nEither fix the file, or delete it and restart.",
                file=sys.stderr,
            )

    def onchange(self, key: str, func, call: bool = True) -> None:
        item = self.data_labels.get(key)
        item.onchange = func

        if call:
            func()

    def dumpjson(self) -> str:
        d = {k: self.data.get(k, v.default) for k, v in self.data_labels.items()}
        d["_comments_before"] = {
            k: v.comment_before for k, v in self.data_labels.items() if v.comment_before is not None
        }
        d["_comments_after"] = {
            k: v.comment_after for k, v in self.data_labels.items() if v.comment_after is not None
        }

        item_categories: dict[str, str] = {}
        for item in self.data_labels.values():
            if item.section[0] is None:
                continue

            category = categories.mapping.get(item.category_id)
            label = "Uncategorized" if category is None else category.label
            if label not in item_categories:
                item_categories[label] = item.section[1]

        d["_categories"] = [[v, k] for k, v in item_categories.items()] + [["Defaults", "Other"]]
        return json.dumps(d, default=lambda o: None)

    def add_option(self, key: str, info: OptionInfo) -> None:
        self.data_labels[key] = info
        if key not in self.data and not info.do_not_save:
            self.data[key] = info.default

    def reorder(self) -> None:
        """Group settings by category, then section label; an option whose ``section`` is None breaks this, as in A1111."""
        section_categories: dict[Any, str | None] = {}
        settings_items = self.data_labels.items()
        for _, item in settings_items:
            if item.section not in section_categories:
                section_categories[item.section] = item.category_id

        for _, item in settings_items:
            item.category_id = section_categories.get(item.section)

        category_ids = {category_id: i for i, category_id in enumerate(categories.mapping)}

        def sort_key(x: tuple[str, OptionInfo]) -> tuple[int, str]:
            item = x[1]
            return category_ids.get(item.category_id, len(category_ids)), item.section[1]

        self.data_labels = dict(sorted(settings_items, key=sort_key))

    def cast_value(self, key: str, value: Any) -> Any:
        if value is None:
            return None

        default_value = self.data_labels[key].default
        if default_value is None:
            default_value = getattr(self, key, None)
        if default_value is None:
            return None

        expected_type = type(default_value)
        if expected_type is bool and value == "False":
            return False
        return expected_type(value)


@dataclass
class OptionsCategory:
    id: str
    label: str


class OptionsCategories:
    def __init__(self) -> None:
        self.mapping: dict[str, OptionsCategory] = {}

    def register_category(self, category_id: str, label: str) -> str:
        if category_id not in self.mapping:
            self.mapping[category_id] = OptionsCategory(category_id, label)
        return category_id


categories = OptionsCategories()
