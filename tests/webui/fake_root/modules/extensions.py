"""``modules.extensions``: discovery of ``extensions-builtin/`` and ``extensions/`` plus ``metadata.ini``.

Git information (remote, commit, ...) is not read; those attributes keep their empty defaults.
"""

from __future__ import annotations

import configparser
import dataclasses
import os
import re

from modules import errors, scripts, shared
from modules.paths_internal import extensions_builtin_dir, extensions_dir, script_path  # noqa: F401

extensions: list[Extension] = []
extension_paths: dict[str, Extension] = {}
loaded_extensions: dict[str, Extension] = {}


def active() -> list[Extension]:
    if shared.cmd_opts.disable_all_extensions or shared.opts.disable_all_extensions == "all":
        return []
    if shared.cmd_opts.disable_extra_extensions or shared.opts.disable_all_extensions == "extra":
        return [x for x in extensions if x.enabled and x.is_builtin]
    return [x for x in extensions if x.enabled]


@dataclasses.dataclass
class CallbackOrderInfo:
    name: str
    before: list
    after: list


class ExtensionMetadata:
    filename = "metadata.ini"
    config: configparser.ConfigParser
    canonical_name: str
    requires: list | None

    def __init__(self, path: str, canonical_name: str) -> None:
        self.config = configparser.ConfigParser()

        try:
            self.config.read(os.path.join(path, self.filename))
        except Exception:
            errors.report(
                f"Error reading {self.filename} for extension {canonical_name}.", exc_info=True
            )

        # 1.10 reads [Extension] Name and then overwrites it with the directory name.
        self.canonical_name = self.config.get("Extension", "Name", fallback=canonical_name)
        self.canonical_name = canonical_name.lower().strip()

        self.requires = None

    def get_script_requirements(
        self, field: str, section: str, extra_section: str | None = None
    ) -> list[str]:
        x = self.config.get(section, field, fallback="")

        if extra_section:
            x = x + ", " + self.config.get(extra_section, field, fallback="")

        res = []
        for requirement in self.parse_list(x.lower()):
            loaded = (r for r in requirement.split("|") if r in loaded_extensions)
            res.append(next(loaded, requirement))

        return res

    def parse_list(self, text: str) -> list[str]:
        if not text:
            return []

        return [x for x in re.split(r"[,\s]+", text.strip()) if x]

    def list_callback_order_instructions(self):
        for section in self.config.sections():
            if not section.startswith("callbacks/"):
                continue

            callback_name = section[10:]

            if not callback_name.startswith(self.canonical_name):
                errors.report(
                    f"Callback order section for extension {self.canonical_name} is referencing the wrong extension: {section}"
                )
                continue

            before = self.parse_list(self.config.get(section, "Before", fallback=""))
            after = self.parse_list(self.config.get(section, "After", fallback=""))

            yield CallbackOrderInfo(callback_name, before, after)


class Extension:
    cached_fields = ["remote", "commit_date", "branch", "commit_hash", "version"]  # noqa: RUF012  (A1111 class attribute)
    metadata: ExtensionMetadata

    def __init__(
        self,
        name: str,
        path: str,
        enabled: bool = True,
        is_builtin: bool = False,
        metadata: ExtensionMetadata | None = None,
    ) -> None:
        self.name = name
        self.path = path
        self.enabled = enabled
        self.status = ""
        self.can_update = False
        self.is_builtin = is_builtin
        self.commit_hash = ""
        self.commit_date = None
        self.version = ""
        self.branch = None
        self.remote = None
        self.have_info_from_repo = False
        self.metadata = metadata if metadata else ExtensionMetadata(self.path, name.lower())
        # A1111 reads the argument, so Extension(name, path) without metadata fails the same way.
        self.canonical_name = metadata.canonical_name

    def to_dict(self) -> dict:
        return {x: getattr(self, x) for x in self.cached_fields}

    def from_dict(self, d: dict) -> None:
        for field in self.cached_fields:
            setattr(self, field, d[field])

    def read_info_from_repo(self) -> None:
        self.have_info_from_repo = True
        self.status = "unknown" if self.status == "" else self.status

    def list_files(self, subdir: str, extension: str) -> list[scripts.ScriptFile]:
        dirpath = os.path.join(self.path, subdir)
        if not os.path.isdir(dirpath):
            return []

        res = [
            scripts.ScriptFile(self.path, filename, os.path.join(dirpath, filename))
            for filename in sorted(os.listdir(dirpath))
        ]
        return [
            x
            for x in res
            if os.path.splitext(x.path)[1].lower() == extension and os.path.isfile(x.path)
        ]


def list_extensions() -> None:
    extensions.clear()
    extension_paths.clear()
    loaded_extensions.clear()

    if shared.cmd_opts.disable_all_extensions:
        print('*** "--disable-all-extensions" arg was used, will not load any extensions ***')
    elif shared.opts.disable_all_extensions == "all":
        print('*** "Disable all extensions" option was set, will not load any extensions ***')
    elif shared.cmd_opts.disable_extra_extensions:
        print(
            '*** "--disable-extra-extensions" arg was used, will only load built-in extensions ***'
        )
    elif shared.opts.disable_all_extensions == "extra":
        print('*** "Disable all extensions" option was set, will only load built-in extensions ***')

    for dirname in [extensions_builtin_dir, extensions_dir]:
        if not os.path.isdir(dirname):
            continue

        for extension_dirname in sorted(os.listdir(dirname)):
            path = os.path.join(dirname, extension_dirname)
            if not os.path.isdir(path):
                continue

            metadata = ExtensionMetadata(path, extension_dirname)

            already_loaded = loaded_extensions.get(metadata.canonical_name)
            if already_loaded is not None:
                errors.report(
                    f'Duplicate canonical name "{extension_dirname}" found in extensions "{extension_dirname}" and "{already_loaded.name}". Former will be discarded.',
                    exc_info=False,
                )
                continue

            is_builtin = dirname == extensions_builtin_dir
            extension = Extension(
                name=extension_dirname,
                path=path,
                enabled=extension_dirname not in shared.opts.disabled_extensions,
                is_builtin=is_builtin,
                metadata=metadata,
            )
            extensions.append(extension)
            extension_paths[extension.path] = extension
            loaded_extensions[metadata.canonical_name] = extension

    for extension in extensions:
        extension.metadata.requires = extension.metadata.get_script_requirements(
            "Requires", "Extension"
        )

    for extension in extensions:
        if not extension.enabled:
            continue

        for req in extension.metadata.requires:
            required_extension = loaded_extensions.get(req)
            if required_extension is None:
                errors.report(
                    f'Extension "{extension.name}" requires "{req}" which is not installed.',
                    exc_info=False,
                )
                continue

            if not required_extension.enabled:
                errors.report(
                    f'Extension "{extension.name}" requires "{required_extension.name}" which is disabled.',
                    exc_info=False,
                )


def find_extension(filename: str) -> Extension | None:
    """Walk up from ``realpath(filename)``; ``extension_paths`` holds unresolved paths (A1111 quirk)."""
    parentdir = os.path.dirname(os.path.realpath(filename))

    while parentdir != filename:
        extension = extension_paths.get(parentdir)
        if extension is not None:
            return extension

        filename = parentdir
        parentdir = os.path.dirname(filename)

    return None
