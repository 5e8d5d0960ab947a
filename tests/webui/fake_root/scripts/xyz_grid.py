"""Fake of the web UI's own ``scripts/xyz_grid.py`` ("X/Y/Z plot").

Loaded by ``scripts.load_scripts()`` like every web UI script, so its module is named
``"xyz_grid.py"`` and extensions find it through ``scripts.scripts_data``. It keeps the public
names extensions use (``AxisOption*``, ``axis_options``, ``apply_field``, ``apply_override``,
``boolean_choice``, ``format_*``) and the UI argument layout; ``run`` applies each cell's values to a
shallow copy of p and calls ``process_images``. Grids carry no legend text.
"""

import csv
import random
import re
from copy import copy
from io import StringIO
from itertools import chain, permutations

import gradio as gr
import modules.scripts as scripts
import modules.sd_models
import modules.sd_vae
import modules.shared as shared
import numpy as np
from modules import errors, images, processing, sd_samplers, sd_schedulers
from modules.processing import Processed, StableDiffusionProcessingTxt2Img, process_images
from modules.shared import opts, state
from modules.ui_components import ToolButton
from PIL import Image

fill_values_symbol = "\U0001f4d2"


def apply_field(field):
    def fun(p, x, xs):
        setattr(p, field, x)

    return fun


def apply_prompt(p, x, xs):
    if xs[0] not in p.prompt and xs[0] not in p.negative_prompt:
        raise RuntimeError(f"Prompt S/R did not find {xs[0]} in prompt or negative prompt.")

    p.prompt = p.prompt.replace(xs[0], x)
    p.negative_prompt = p.negative_prompt.replace(xs[0], x)


def apply_order(p, x, xs):
    token_order = sorted((p.prompt.find(token), token) for token in x)

    prompt_parts = []
    for _, token in token_order:
        n = p.prompt.find(token)
        prompt_parts.append(p.prompt[0:n])
        p.prompt = p.prompt[n + len(token) :]

    p.prompt = "".join(part + x[idx] for idx, part in enumerate(prompt_parts)) + p.prompt


def confirm_samplers(p, xs):
    for x in xs:
        if x.lower() not in sd_samplers.samplers_map:
            raise RuntimeError(f"Unknown sampler: {x}")


def apply_checkpoint(p, x, xs):
    info = modules.sd_models.get_closet_checkpoint_match(x)
    if info is None:
        raise RuntimeError(f"Unknown checkpoint: {x}")
    p.override_settings["sd_model_checkpoint"] = info.name


def confirm_checkpoints(p, xs):
    for x in xs:
        if modules.sd_models.get_closet_checkpoint_match(x) is None:
            raise RuntimeError(f"Unknown checkpoint: {x}")


def confirm_checkpoints_or_none(p, xs):
    for x in xs:
        if x in (None, "", "None", "none"):
            continue
        if modules.sd_models.get_closet_checkpoint_match(x) is None:
            raise RuntimeError(f"Unknown checkpoint: {x}")


def apply_size(p, x: str, xs) -> None:
    try:
        width, _, height = x.partition("x")
        p.width = int(width.strip())
        p.height = int(height.strip())
    except ValueError:
        print(f"Invalid size in XYZ plot: {x}")


def find_vae(name: str):
    name = name.strip().lower()
    if name in ("auto", "automatic"):
        return "Automatic"
    if name == "none":
        return "None"
    return next((k for k in modules.sd_vae.vae_dict if k.lower() == name), "Automatic")


def apply_vae(p, x, xs):
    p.override_settings["sd_vae"] = find_vae(x)


def apply_styles(p, x: str, _):
    p.styles.extend(x.split(","))


def apply_face_restore(p, opt, x):
    opt = opt.lower()
    if opt == "codeformer":
        is_active = True
        p.face_restoration_model = "CodeFormer"
    elif opt == "gfpgan":
        is_active = True
        p.face_restoration_model = "GFPGAN"
    else:
        is_active = opt in ("true", "yes", "y", "1")

    p.restore_faces = is_active


def apply_override(field, boolean: bool = False):
    def fun(p, x, xs):
        if boolean:
            x = x.lower() == "true"
        p.override_settings[field] = x

    return fun


def boolean_choice(reverse: bool = False):
    def choice():
        return ["False", "True"] if reverse else ["True", "False"]

    return choice


def format_value_add_label(p, opt, x):
    if type(x) is float:
        x = round(x, 8)

    return f"{opt.label}: {x}"


def format_value(p, opt, x):
    if type(x) is float:
        x = round(x, 8)
    return x


def format_value_join_list(p, opt, x):
    return ", ".join(x)


def do_nothing(p, x, xs):
    pass


def format_nothing(p, opt, x):
    return ""


def format_remove_path(p, opt, x):
    import os

    return os.path.basename(x)


def str_permutations(x):
    return x


def list_to_csv_string(data_list):
    with StringIO() as o:
        csv.writer(o).writerow(data_list)
        return o.getvalue().strip()


def csv_string_to_list_strip(data_str):
    return list(
        map(str.strip, chain.from_iterable(csv.reader(StringIO(data_str), skipinitialspace=True)))
    )


class AxisOption:
    def __init__(
        self,
        label,
        type,
        apply,
        format_value=format_value_add_label,
        confirm=None,
        cost=0.0,
        choices=None,
        prepare=None,
    ):
        self.label = label
        self.type = type
        self.apply = apply
        self.format_value = format_value
        self.confirm = confirm
        self.cost = cost
        self.prepare = prepare
        self.choices = choices


class AxisOptionImg2Img(AxisOption):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.is_img2img = True


class AxisOptionTxt2Img(AxisOption):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.is_img2img = False


axis_options = [
    AxisOption("Nothing", str, do_nothing, format_value=format_nothing),
    AxisOption("Seed", int, apply_field("seed")),
    AxisOption("Var. seed", int, apply_field("subseed")),
    AxisOption("Var. strength", float, apply_field("subseed_strength")),
    AxisOption("Steps", int, apply_field("steps")),
    AxisOptionTxt2Img("Hires steps", int, apply_field("hr_second_pass_steps")),
    AxisOption("CFG Scale", float, apply_field("cfg_scale")),
    AxisOptionImg2Img("Image CFG Scale", float, apply_field("image_cfg_scale")),
    AxisOption("Prompt S/R", str, apply_prompt, format_value=format_value),
    AxisOption("Prompt order", str_permutations, apply_order, format_value=format_value_join_list),
    AxisOptionTxt2Img(
        "Sampler",
        str,
        apply_field("sampler_name"),
        format_value=format_value,
        confirm=confirm_samplers,
        choices=lambda: [x.name for x in sd_samplers.samplers if x.name not in opts.hide_samplers],
    ),
    AxisOptionTxt2Img(
        "Hires sampler",
        str,
        apply_field("hr_sampler_name"),
        confirm=confirm_samplers,
        choices=lambda: [
            x.name for x in sd_samplers.samplers_for_img2img if x.name not in opts.hide_samplers
        ],
    ),
    AxisOptionImg2Img(
        "Sampler",
        str,
        apply_field("sampler_name"),
        format_value=format_value,
        confirm=confirm_samplers,
        choices=lambda: [
            x.name for x in sd_samplers.samplers_for_img2img if x.name not in opts.hide_samplers
        ],
    ),
    AxisOption(
        "Checkpoint name",
        str,
        apply_checkpoint,
        format_value=format_remove_path,
        confirm=confirm_checkpoints,
        cost=1.0,
        choices=lambda: sorted(modules.sd_models.checkpoints_list, key=str.casefold),
    ),
    AxisOption(
        "Schedule type",
        str,
        apply_field("scheduler"),
        choices=lambda: [x.label for x in sd_schedulers.schedulers],
    ),
    AxisOption("Eta", float, apply_field("eta")),
    AxisOption("Clip skip", int, apply_override("CLIP_stop_at_last_layers")),
    AxisOption("Denoising", float, apply_field("denoising_strength")),
    AxisOption("Initial noise multiplier", float, apply_field("initial_noise_multiplier")),
    AxisOption("Extra noise", float, apply_override("img2img_extra_noise")),
    AxisOptionTxt2Img(
        "Hires upscaler",
        str,
        apply_field("hr_upscaler"),
        choices=lambda: [*shared.latent_upscale_modes, *[x.name for x in shared.sd_upscalers]],
    ),
    AxisOption(
        "VAE",
        str,
        apply_vae,
        cost=0.7,
        choices=lambda: ["Automatic", "None", *list(modules.sd_vae.vae_dict)],
    ),
    AxisOption("Styles", str, apply_styles, choices=lambda: list(shared.prompt_styles.styles)),
    AxisOption("Face restore", str, apply_face_restore, format_value=format_value),
    AxisOption("Token merging ratio", float, apply_override("token_merging_ratio")),
    AxisOption(
        "Always discard next-to-last sigma",
        str,
        apply_override("always_discard_next_to_last_sigma", boolean=True),
        choices=boolean_choice(reverse=True),
    ),
    AxisOption(
        "SGM noise multiplier",
        str,
        apply_override("sgm_noise_multiplier", boolean=True),
        choices=boolean_choice(reverse=True),
    ),
    AxisOption(
        "Refiner checkpoint",
        str,
        apply_field("refiner_checkpoint"),
        format_value=format_remove_path,
        confirm=confirm_checkpoints_or_none,
        cost=1.0,
        choices=lambda: ["None", *sorted(modules.sd_models.checkpoints_list, key=str.casefold)],
    ),
    AxisOption("Refiner switch at", float, apply_field("refiner_switch_at")),
    AxisOption(
        "RNG source", str, apply_override("randn_source"), choices=lambda: ["GPU", "CPU", "NV"]
    ),
    AxisOption("Size", str, apply_size),
]


class SharedSettingsStackHelper:
    def __enter__(self):
        pass

    def __exit__(self, exc_type, exc_value, tb):
        modules.sd_models.reload_model_weights()
        modules.sd_vae.reload_vae_weights()


re_range = re.compile(r"\s*([+-]?\s*\d+)\s*-\s*([+-]?\s*\d+)(?:\s*\(([+-]\d+)\s*\))?\s*")
re_range_float = re.compile(
    r"\s*([+-]?\s*\d+(?:.\d*)?)\s*-\s*([+-]?\s*\d+(?:.\d*)?)(?:\s*\(([+-]\d+(?:.\d*)?)\s*\))?\s*"
)
re_range_count = re.compile(r"\s*([+-]?\s*\d+)\s*-\s*([+-]?\s*\d+)(?:\s*\[(\d+)\s*])?\s*")
re_range_count_float = re.compile(
    r"\s*([+-]?\s*\d+(?:.\d*)?)\s*-\s*([+-]?\s*\d+(?:.\d*)?)(?:\s*\[(\d+(?:.\d*)?)\s*])?\s*"
)


def _expand_ranges(valslist, opt_type):
    """ "1-3" -> 1, 2, 3; "1-10 (+3)" -> 1, 4, 7, 10; "1-10 [4]" -> 4 evenly spaced values."""
    if opt_type not in (int, float):
        return valslist

    out = []
    for val in valslist:
        if val.strip() == "":
            continue
        step_match = (re_range if opt_type is int else re_range_float).fullmatch(val)
        count_match = (re_range_count if opt_type is int else re_range_count_float).fullmatch(val)
        if step_match is not None:
            start, end = opt_type(step_match.group(1)), opt_type(step_match.group(2))
            step = opt_type(step_match.group(3)) if step_match.group(3) is not None else 1
            out += (
                list(range(start, end + 1, step))
                if opt_type is int
                else np.arange(start, end + step, step).tolist()
            )
        elif count_match is not None:
            start, end = opt_type(count_match.group(1)), opt_type(count_match.group(2))
            num = int(count_match.group(3)) if count_match.group(3) is not None else 1
            values = np.linspace(start=start, stop=end, num=num).tolist()
            out += [int(x) for x in values] if opt_type is int else values
        else:
            out.append(val)
    return out


class Script(scripts.Script):
    def title(self):
        return "X/Y/Z plot"

    def ui(self, is_img2img):
        self.current_axis_options = [
            x for x in axis_options if type(x) is AxisOption or x.is_img2img == is_img2img
        ]
        labels = [x.label for x in self.current_axis_options]

        with gr.Row(), gr.Column(scale=19):
            with gr.Row():
                x_type = gr.Dropdown(
                    label="X type",
                    choices=labels,
                    value=labels[1],
                    type="index",
                    elem_id=self.elem_id("x_type"),
                )
                x_values = gr.Textbox(label="X values", lines=1, elem_id=self.elem_id("x_values"))
                x_values_dropdown = gr.Dropdown(
                    label="X values", visible=False, multiselect=True, interactive=True
                )
                ToolButton(
                    value=fill_values_symbol, elem_id="xyz_grid_fill_x_tool_button", visible=False
                )

            with gr.Row():
                y_type = gr.Dropdown(
                    label="Y type",
                    choices=labels,
                    value=labels[0],
                    type="index",
                    elem_id=self.elem_id("y_type"),
                )
                y_values = gr.Textbox(label="Y values", lines=1, elem_id=self.elem_id("y_values"))
                y_values_dropdown = gr.Dropdown(
                    label="Y values", visible=False, multiselect=True, interactive=True
                )
                ToolButton(
                    value=fill_values_symbol, elem_id="xyz_grid_fill_y_tool_button", visible=False
                )

            with gr.Row():
                z_type = gr.Dropdown(
                    label="Z type",
                    choices=labels,
                    value=labels[0],
                    type="index",
                    elem_id=self.elem_id("z_type"),
                )
                z_values = gr.Textbox(label="Z values", lines=1, elem_id=self.elem_id("z_values"))
                z_values_dropdown = gr.Dropdown(
                    label="Z values", visible=False, multiselect=True, interactive=True
                )
                ToolButton(
                    value=fill_values_symbol, elem_id="xyz_grid_fill_z_tool_button", visible=False
                )

        with gr.Row(variant="compact", elem_id="axis_options"):
            with gr.Column():
                draw_legend = gr.Checkbox(
                    label="Draw legend", value=True, elem_id=self.elem_id("draw_legend")
                )
                no_fixed_seeds = gr.Checkbox(
                    label="Keep -1 for seeds", value=False, elem_id=self.elem_id("no_fixed_seeds")
                )
                with gr.Row():
                    vary_seeds_x = gr.Checkbox(
                        label="Vary seeds for X",
                        value=False,
                        min_width=80,
                        elem_id=self.elem_id("vary_seeds_x"),
                    )
                    vary_seeds_y = gr.Checkbox(
                        label="Vary seeds for Y",
                        value=False,
                        min_width=80,
                        elem_id=self.elem_id("vary_seeds_y"),
                    )
                    vary_seeds_z = gr.Checkbox(
                        label="Vary seeds for Z",
                        value=False,
                        min_width=80,
                        elem_id=self.elem_id("vary_seeds_z"),
                    )
            with gr.Column():
                include_lone_images = gr.Checkbox(
                    label="Include Sub Images",
                    value=False,
                    elem_id=self.elem_id("include_lone_images"),
                )
                include_sub_grids = gr.Checkbox(
                    label="Include Sub Grids",
                    value=False,
                    elem_id=self.elem_id("include_sub_grids"),
                )
                csv_mode = gr.Checkbox(
                    label="Use text inputs instead of dropdowns",
                    value=False,
                    elem_id=self.elem_id("csv_mode"),
                )
            with gr.Column():
                margin_size = gr.Slider(
                    label="Grid margins (px)",
                    minimum=0,
                    maximum=500,
                    value=0,
                    step=2,
                    elem_id=self.elem_id("margin_size"),
                )

        def get_dropdown_update_from_params(axis, params):
            return gr.update(value=csv_string_to_list_strip(params.get(f"{axis} Values", "")))

        self.infotext_fields = (
            (x_type, "X Type"),
            (x_values, "X Values"),
            (x_values_dropdown, lambda params: get_dropdown_update_from_params("X", params)),
            (y_type, "Y Type"),
            (y_values, "Y Values"),
            (y_values_dropdown, lambda params: get_dropdown_update_from_params("Y", params)),
            (z_type, "Z Type"),
            (z_values, "Z Values"),
            (z_values_dropdown, lambda params: get_dropdown_update_from_params("Z", params)),
        )

        return [
            x_type,
            x_values,
            x_values_dropdown,
            y_type,
            y_values,
            y_values_dropdown,
            z_type,
            z_values,
            z_values_dropdown,
            draw_legend,
            include_lone_images,
            include_sub_grids,
            no_fixed_seeds,
            vary_seeds_x,
            vary_seeds_y,
            vary_seeds_z,
            margin_size,
            csv_mode,
        ]

    def run(
        self,
        p,
        x_type,
        x_values,
        x_values_dropdown,
        y_type,
        y_values,
        y_values_dropdown,
        z_type,
        z_values,
        z_values_dropdown,
        draw_legend,
        include_lone_images,
        include_sub_grids,
        no_fixed_seeds,
        vary_seeds_x,
        vary_seeds_y,
        vary_seeds_z,
        margin_size,
        csv_mode,
    ):
        x_type, y_type, z_type = x_type or 0, y_type or 0, z_type or 0

        if not no_fixed_seeds:
            processing.fix_seed(p)

        if not opts.return_grid:
            p.batch_size = 1

        def process_axis(opt, vals, vals_dropdown):
            if opt.label == "Nothing":
                return [0]

            if opt.choices is not None and not csv_mode:
                valslist = vals_dropdown
            elif opt.prepare is not None:
                valslist = opt.prepare(vals)
            else:
                valslist = csv_string_to_list_strip(vals)

            if opt.type == str_permutations:
                valslist = list(permutations(valslist))
            else:
                valslist = _expand_ranges(valslist, opt.type)

            valslist = [opt.type(x) for x in valslist]

            if opt.confirm:
                opt.confirm(p, valslist)

            return valslist

        axes = []
        for opt_index, values, values_dropdown in (
            (x_type, x_values, x_values_dropdown),
            (y_type, y_values, y_values_dropdown),
            (z_type, z_values, z_values_dropdown),
        ):
            opt = self.current_axis_options[opt_index]
            if opt.choices is not None and not csv_mode:
                values = list_to_csv_string(values_dropdown)
            axes.append((opt, values, process_axis(opt, values, values_dropdown)))
        (x_opt, x_values, xs), (y_opt, y_values, ys), (z_opt, z_values, zs) = axes

        def fix_axis_seeds(axis_opt, axis_list):
            if axis_opt.label in ["Seed", "Var. seed"]:
                return [
                    int(random.randrange(4294967294))
                    if val is None or val == "" or val == -1
                    else val
                    for val in axis_list
                ]
            return axis_list

        if not no_fixed_seeds:
            xs, ys, zs = (
                fix_axis_seeds(x_opt, xs),
                fix_axis_seeds(y_opt, ys),
                fix_axis_seeds(z_opt, zs),
            )

        total_steps = p.steps * len(xs) * len(ys) * len(zs)
        if isinstance(p, StableDiffusionProcessingTxt2Img) and p.enable_hr:
            total_steps += (p.hr_second_pass_steps or p.steps) * len(xs) * len(ys) * len(zs)
        shared.total_tqdm.updateTotal(total_steps * p.n_iter)

        grid_infotext = [None] * (1 + len(zs))
        list_size = len(xs) * len(ys) * len(zs)
        state.job_count = list_size * p.n_iter

        def cell(x, y, z, ix, iy, iz):
            if shared.state.interrupted or state.stopping_generation:
                return Processed(p, [], p.seed, "")

            pc = copy(p)
            pc.styles = pc.styles[:]
            x_opt.apply(pc, x, xs)
            y_opt.apply(pc, y, ys)
            z_opt.apply(pc, z, zs)

            xdim = len(xs) if vary_seeds_x else 1
            ydim = len(ys) if vary_seeds_y else 1
            if vary_seeds_x:
                pc.seed += ix
            if vary_seeds_y:
                pc.seed += iy * xdim
            if vary_seeds_z:
                pc.seed += iz * xdim * ydim

            try:
                res = process_images(pc)
            except Exception as e:
                errors.display(e, "generating image for xyz plot")
                res = Processed(p, [], p.seed, "")

            subgrid_index = 1 + iz
            if grid_infotext[subgrid_index] is None and ix == 0 and iy == 0:
                pc.extra_generation_params = copy(pc.extra_generation_params)
                pc.extra_generation_params["Script"] = self.title()
                for axis, opt, values in (("X", x_opt, x_values), ("Y", y_opt, y_values)):
                    if opt.label != "Nothing":
                        pc.extra_generation_params[f"{axis} Type"] = opt.label
                        pc.extra_generation_params[f"{axis} Values"] = values
                grid_infotext[subgrid_index] = processing.create_infotext(
                    pc, pc.all_prompts, pc.all_seeds, pc.all_subseeds
                )

            if grid_infotext[0] is None and ix == 0 and iy == 0 and iz == 0:
                pc.extra_generation_params = copy(pc.extra_generation_params)
                if z_opt.label != "Nothing":
                    pc.extra_generation_params["Z Type"] = z_opt.label
                    pc.extra_generation_params["Z Values"] = z_values
                grid_infotext[0] = processing.create_infotext(
                    pc, pc.all_prompts, pc.all_seeds, pc.all_subseeds
                )

            return res

        # The most expensive axis (e.g. checkpoints) changes in the outermost loop.
        costs = {"x": x_opt.cost, "y": y_opt.cost, "z": z_opt.cost}
        first, second = "z", "y"
        for axis in "xyz":
            a, b = (o for o in "xyz" if o != axis)
            if costs[axis] > costs[a] and costs[axis] > costs[b]:
                first, second = axis, (a if costs[a] > costs[b] else b)
        third = next(o for o in "xyz" if o not in (first, second))
        order = ["xyz".index(first), "xyz".index(second), "xyz".index(third)]
        cells = [
            (ix, iy, iz) for ix in range(len(xs)) for iy in range(len(ys)) for iz in range(len(zs))
        ]
        cells.sort(key=lambda c: tuple(c[i] for i in order))

        with SharedSettingsStackHelper():
            result = None
            for ix, iy, iz in cells:
                idx = ix + iy * len(xs) + iz * len(xs) * len(ys)
                state.job = f"{idx + 1} out of {list_size}"
                processed = cell(xs[ix], ys[iy], zs[iz], ix, iy, iz)
                if result is None:
                    result = copy(processed)
                    result.images = [None] * list_size
                    result.all_prompts = [None] * list_size
                    result.all_seeds = [None] * list_size
                    result.infotexts = [None] * list_size
                    result.index_of_first_image = 1
                if processed.images:
                    result.images[idx] = processed.images[0]
                    result.all_prompts[idx] = processed.prompt
                    result.all_seeds[idx] = processed.seed
                    result.infotexts[idx] = processed.infotexts[0]

            if result is None or not any(result.images):
                return Processed(p, [])

            # Failed cells become blank images of the successful cells' size.
            template = next(x for x in result.images if x is not None)
            result.images = [
                x if x is not None else Image.new(template.mode, template.size)
                for x in result.images
            ]

            z_count = len(zs)
            for i in range(z_count):
                start_index = (i * len(xs) * len(ys)) + i
                end_index = start_index + len(xs) * len(ys)
                grid = images.image_grid(result.images[start_index:end_index], rows=len(ys))
                result.images.insert(i, grid)
                result.all_prompts.insert(i, result.all_prompts[start_index])
                result.all_seeds.insert(i, result.all_seeds[start_index])
                result.infotexts.insert(i, result.infotexts[start_index])

            result.images.insert(0, images.image_grid(result.images[:z_count], rows=1))
            result.infotexts.insert(0, result.infotexts[0])

        result.infotexts[: 1 + z_count] = grid_infotext[: 1 + z_count]

        if not include_lone_images:
            result.images = result.images[: z_count + 1]

        if not include_sub_grids:
            for _ in range(z_count):
                del result.images[1]
                del result.all_prompts[1]
                del result.all_seeds[1]
                del result.infotexts[1]

        return result
