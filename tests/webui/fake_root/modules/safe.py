"""``modules.safe``: A1111 replaces ``torch.load`` globally with a restricted unpickler at import.

The check runs only when ``cmd_opts.disable_safe_unpickle`` is False *at call time*; a rejected
file is reported and ``None`` is returned instead of raising. Same allow-list as A1111 1.10.
"""

from __future__ import annotations

import _codecs
import collections
import pickle
import re
import zipfile
from collections.abc import Callable
from typing import Any

import numpy
import torch

from modules import errors

TypedStorage = (
    torch.storage.TypedStorage
    if hasattr(torch.storage, "TypedStorage")
    else torch.storage._TypedStorage
)

ExtraHandler = Callable[[str, str], Any]


def encode(*args):
    return _codecs.encode(*args)


_ALLOWED: dict[str, set[str]] = {
    "collections": {"OrderedDict"},
    "torch._utils": {
        "_rebuild_tensor_v2",
        "_rebuild_parameter",
        "_rebuild_device_tensor_from_numpy",
    },
    "torch": {
        "FloatStorage",
        "HalfStorage",
        "IntStorage",
        "LongStorage",
        "DoubleStorage",
        "ByteStorage",
        "float32",
        "BFloat16Storage",
    },
    "torch.nn.modules.container": {"ParameterDict"},
    "numpy.core.multiarray": {"scalar", "_reconstruct"},
    "numpy": {"dtype", "ndarray"},
}


class RestrictedUnpickler(pickle.Unpickler):
    extra_handler: ExtraHandler | None = None

    def persistent_load(self, saved_id):
        assert saved_id[0] == "storage"
        try:
            return TypedStorage(_internal=True)
        except TypeError:
            return TypedStorage()

    def find_class(self, module: str, name: str):
        if self.extra_handler is not None:
            res = self.extra_handler(module, name)
            if res is not None:
                return res

        if name in _ALLOWED.get(module, ()):
            if module == "collections":
                return getattr(collections, name)
            if module == "torch._utils":
                return getattr(torch._utils, name)
            if module == "torch":
                return getattr(torch, name)
            if module == "torch.nn.modules.container":
                return getattr(torch.nn.modules.container, name)
            if module == "numpy.core.multiarray":
                return getattr(numpy.core.multiarray, name)
            return getattr(numpy, name)
        if module == "_codecs" and name == "encode":
            return encode
        if module == "__builtin__" and name == "set":
            return set

        raise Exception(f"global '{module}/{name}' is forbidden")


allowed_zip_names_re = re.compile(
    r"^([^/]+)/((data/\d+)|version|byteorder|.data/serialization_id|(data\.pkl))$"
)
data_pkl_re = re.compile(r"^([^/]+)/data\.pkl$")


def check_zip_filenames(filename: str, names: list[str]) -> None:
    for name in names:
        if not allowed_zip_names_re.match(name):
            raise Exception(f"bad file inside {filename}: {name}")


def check_pt(filename: str, extra_handler: ExtraHandler | None) -> None:
    try:
        with zipfile.ZipFile(filename) as z:
            check_zip_filenames(filename, z.namelist())

            data_pkl_filenames = [f for f in z.namelist() if data_pkl_re.match(f)]
            if len(data_pkl_filenames) == 0:
                raise Exception(f"data.pkl not found in {filename}")
            if len(data_pkl_filenames) > 1:
                raise Exception(f"Multiple data.pkl found in {filename}")
            with z.open(data_pkl_filenames[0]) as file:
                unpickler = RestrictedUnpickler(file)
                unpickler.extra_handler = extra_handler
                unpickler.load()

    except zipfile.BadZipfile:
        with open(filename, "rb") as file:
            unpickler = RestrictedUnpickler(file)
            unpickler.extra_handler = extra_handler
            for _ in range(5):
                unpickler.load()


def load(filename, *args, **kwargs):
    return load_with_extra(filename, *args, extra_handler=global_extra_handler, **kwargs)


def load_with_extra(filename, extra_handler: ExtraHandler | None = None, *args, **kwargs):
    from modules import shared

    try:
        if not shared.cmd_opts.disable_safe_unpickle:
            check_pt(filename, extra_handler)

    except pickle.UnpicklingError:
        errors.report(
            f"Error verifying pickled file from {filename}\n"
            "-----> !!!! The file is most likely corrupted !!!! <-----\n"
            "You can skip this check with --disable-safe-unpickle commandline argument, but that is not going to help you.\n\n",
            exc_info=True,
        )
        return None
    except Exception:
        errors.report(
            f"Error verifying pickled file from {filename}\n"
            f"The file may be malicious, so the program is not going to read it.\n"
            f"You can skip this check with --disable-safe-unpickle commandline argument.\n\n",
            exc_info=True,
        )
        return None

    return unsafe_torch_load(filename, *args, **kwargs)


class Extra:
    """Temporarily set the handler used by the patched ``torch.load``."""

    def __init__(self, handler: ExtraHandler) -> None:
        self.handler = handler

    def __enter__(self) -> None:
        global global_extra_handler

        assert global_extra_handler is None, "already inside an Extra() block"
        global_extra_handler = self.handler

    def __exit__(self, exc_type, exc_val, exc_tb) -> None:
        global global_extra_handler

        global_extra_handler = None


unsafe_torch_load = torch.load
torch.load = load
global_extra_handler: ExtraHandler | None = None
