"""``shared_init.initialize()``: create ``opts`` from the templates and ``config.json``, ``state``, ...

A1111 runs this once per process. The fake runs it again for every fresh web UI state; objects that
extensions may hold references to (``opts``, ``state``, ``total_tqdm``, ``prompt_styles``) are
reset in place instead of replaced.
"""

from __future__ import annotations

import torch

from modules import shared
from modules.shared_cmd_options import cmd_opts


def initialize() -> None:
    # A1111 also creates --hypernetwork-dir here; the fake has no hypernetworks.
    from modules import options, shared_options

    shared.options_templates = shared_options.options_templates
    if shared.opts is None:
        shared.opts = options.Options(
            shared_options.options_templates, shared_options.restricted_opts
        )
    else:
        shared.opts.data_labels = shared_options.options_templates
        shared.opts.data = {
            k: v.default for k, v in shared_options.options_templates.items() if not v.do_not_save
        }
        shared.opts.restricted_opts = shared_options.restricted_opts
    shared.restricted_opts = shared_options.restricted_opts
    shared.opts.load(shared.config_filename)

    from modules import devices

    use_cpu = [
        x
        for x in ("sd", "interrogate", "gfpgan", "esrgan", "codeformer")
        if any(y in cmd_opts.use_cpu for y in (x, "all"))
    ]
    (
        devices.device,
        devices.device_interrogate,
        devices.device_gfpgan,
        devices.device_esrgan,
        devices.device_codeformer,
    ) = (
        devices.cpu if x in use_cpu else devices.get_optimal_device()
        for x in ("sd", "interrogate", "gfpgan", "esrgan", "codeformer")
    )
    devices.dtype = torch.float32 if cmd_opts.no_half else torch.float16
    devices.dtype_vae = torch.float32 if cmd_opts.no_half or cmd_opts.no_half_vae else torch.float16
    devices.dtype_inference = torch.float32 if cmd_opts.precision == "full" else devices.dtype
    shared.device = devices.device
    shared.weight_load_location = None if cmd_opts.lowram else "cpu"

    from modules import shared_state

    if shared.state is None:
        shared.state = shared_state.State()
    else:
        vars(shared.state).clear()
        shared.state.__init__()

    from modules import styles

    if shared.prompt_styles is None:
        shared.prompt_styles = styles.StyleDatabase(shared.styles_filename)
    else:
        shared.prompt_styles.__init__(shared.styles_filename)

    from modules import shared_total_tqdm

    if shared.total_tqdm is None:
        shared.total_tqdm = shared_total_tqdm.TotalTQDM()
    else:
        shared.total_tqdm.__init__()
