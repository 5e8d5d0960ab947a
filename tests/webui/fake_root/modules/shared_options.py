"""Built-in settings (a subset of A1111 1.10's ``shared_options``, same keys, defaults and sections).

Output directory defaults depend on the data directory, so the harness reloads this module after
pointing ``paths_internal`` at a fresh web UI. Float and list options carry an explicit component,
because the Settings page cannot build one from the type (see ``harness``'s settings build).
"""

from __future__ import annotations

import os

import gradio as gr

from modules import ui_components, util
from modules.options import OptionHTML, OptionInfo, categories, options_section
from modules.paths_internal import data_path, default_output_dir
from modules.shared_cmd_options import cmd_opts

options_templates: dict[str, OptionInfo] = {}

restricted_opts = {
    "samples_filename_pattern",
    "directories_filename_pattern",
    "outdir_samples",
    "outdir_txt2img_samples",
    "outdir_img2img_samples",
    "outdir_extras_samples",
    "outdir_grids",
    "outdir_txt2img_grids",
    "outdir_save",
    "outdir_init_images",
    "temp_dir",
    "clean_temp_dir_at_start",
}

categories.register_category("saving", "Saving images")
categories.register_category("sd", "Stable Diffusion")
categories.register_category("ui", "User Interface")
categories.register_category("system", "System")
categories.register_category("postprocessing", "Postprocessing")
categories.register_category("training", "Training")


def _outdir(name: str) -> str:
    return util.truncate_path(os.path.join(default_output_dir, name))


def _slider(minimum: float, maximum: float, step: float) -> dict:
    return {"minimum": minimum, "maximum": maximum, "step": step}


options_templates.update(
    options_section(
        ("saving-images", "Saving images/grids", "saving"),
        {
            "samples_save": OptionInfo(True, "Always save all generated images"),
            "samples_format": OptionInfo("png", "File format for images"),
            "samples_filename_pattern": OptionInfo("", "Images filename pattern"),
            "save_images_add_number": OptionInfo(True, "Add number to filename when saving"),
            "save_images_replace_action": OptionInfo(
                "Replace",
                "Saving the image to an existing file",
                gr.Radio,
                {"choices": ["Replace", "Add number suffix"]},
            ),
            "grid_save": OptionInfo(True, "Always save all generated image grids"),
            "grid_format": OptionInfo("png", "File format for grids"),
            "grid_extended_filename": OptionInfo(
                False, "Add extended info (seed, prompt) to filename when saving grid"
            ),
            "grid_only_if_multiple": OptionInfo(
                True, "Do not save grids consisting of one picture"
            ),
            "grid_prevent_empty_spots": OptionInfo(
                False, "Prevent empty spots in grid (when set to autodetect)"
            ),
            "n_rows": OptionInfo(
                -1,
                "Grid row count; use -1 for autodetect and 0 for it to be same as batch size",
                gr.Slider,
                _slider(-1, 16, 1),
            ),
            "grid_background_color": OptionInfo(
                "#ffffff", "Background color for image grids", ui_components.FormColorPicker, {}
            ),
            "save_images_before_face_restoration": OptionInfo(
                False, "Save a copy of image before doing face restoration."
            ),
            "save_images_before_highres_fix": OptionInfo(
                False, "Save a copy of image before applying highres fix."
            ),
            "save_images_before_color_correction": OptionInfo(
                False, "Save a copy of image before applying color correction to img2img results"
            ),
            "save_mask": OptionInfo(False, "For inpainting, save a copy of the greyscale mask"),
            "save_mask_composite": OptionInfo(False, "For inpainting, save a masked composite"),
            "jpeg_quality": OptionInfo(
                80, "Quality for saved jpeg and avif images", gr.Slider, _slider(1, 100, 1)
            ),
            "webp_lossless": OptionInfo(False, "Use lossless compression for webp images"),
            "export_for_4chan": OptionInfo(True, "Save copy of large images as JPG").info(
                "if the file size is above the limit, or either width or height are above the limit"
            ),
            "img_downscale_threshold": OptionInfo(
                4.0, "File size limit for the above option, MB", gr.Number
            ),
            "target_side_length": OptionInfo(
                4000, "Width/height limit for the above option, in pixels", gr.Number
            ),
            "img_max_size_mp": OptionInfo(200, "Maximum grid size (in megapixels)", gr.Number),
            "use_original_name_batch": OptionInfo(
                True, "Use original name for output filename during batch process in extras tab"
            ),
            "save_selected_only": OptionInfo(
                True, "When using 'Save' button, only save a single selected image"
            ),
            "save_init_img": OptionInfo(False, "Save init images when using img2img"),
            "temp_dir": OptionInfo("", "Directory for temporary images; leave empty for default"),
            "clean_temp_dir_at_start": OptionInfo(
                False, "Cleanup non-default temporary directory when starting webui"
            ),
            "save_incomplete_images": OptionInfo(False, "Save incomplete images").info(
                "save images that has been interrupted in mid-generation; even if not saved, they will still show up in webui output."
            ),
        },
    )
)

options_templates.update(
    options_section(
        ("saving-paths", "Paths for saving", "saving"),
        {
            "outdir_samples": OptionInfo(
                "", "Output directory for images; if empty, defaults to three directories below"
            ),
            "outdir_txt2img_samples": OptionInfo(
                _outdir("txt2img-images"), "Output directory for txt2img images"
            ),
            "outdir_img2img_samples": OptionInfo(
                _outdir("img2img-images"), "Output directory for img2img images"
            ),
            "outdir_extras_samples": OptionInfo(
                _outdir("extras-images"), "Output directory for images from extras tab"
            ),
            "outdir_grids": OptionInfo(
                "", "Output directory for grids; if empty, defaults to two directories below"
            ),
            "outdir_txt2img_grids": OptionInfo(
                _outdir("txt2img-grids"), "Output directory for txt2img grids"
            ),
            "outdir_img2img_grids": OptionInfo(
                _outdir("img2img-grids"), "Output directory for img2img grids"
            ),
            "outdir_save": OptionInfo(
                util.truncate_path(os.path.join(data_path, "log", "images")),
                "Directory for saving images using the Save button",
            ),
            "outdir_init_images": OptionInfo(
                _outdir("init-images"), "Directory for saving init images when using img2img"
            ),
        },
    )
)

options_templates.update(
    options_section(
        ("saving-to-dirs", "Saving to a directory", "saving"),
        {
            "save_to_dirs": OptionInfo(True, "Save images to a subdirectory"),
            "grid_save_to_dirs": OptionInfo(True, "Save grids to a subdirectory"),
            "use_save_to_dirs_for_ui": OptionInfo(
                False, 'When using "Save" button, save images to a subdirectory'
            ),
            "directories_filename_pattern": OptionInfo("[date]", "Directory name pattern"),
            "directories_max_prompt_words": OptionInfo(
                8, "Max prompt words for [prompt_words] pattern", gr.Slider, _slider(1, 20, 1)
            ),
        },
    )
)

options_templates.update(
    options_section(
        ("upscaling", "Upscaling", "postprocessing"),
        {
            "upscaler_for_img2img": OptionInfo(
                None,
                "Upscaler for img2img",
                gr.Dropdown,
                lambda: {"choices": [x.name for x in _sd_upscalers()]},
            ),
        },
    )
)

options_templates.update(
    options_section(
        ("face-restoration", "Face restoration", "postprocessing"),
        {
            "face_restoration": OptionInfo(
                False, "Restore faces", infotext="Face restoration"
            ).info("will use a third-party model on generation result to reconstruct faces"),
            "face_restoration_model": OptionInfo(
                "CodeFormer",
                "Face restoration model",
                gr.Radio,
                lambda: {"choices": ["CodeFormer", "GFPGAN"]},
            ),
            "code_former_weight": OptionInfo(
                0.5, "CodeFormer weight", gr.Slider, _slider(0, 1, 0.01)
            ).info("0 = maximum effect; 1 = minimum effect"),
            "face_restoration_unload": OptionInfo(
                False, "Move face restoration model from VRAM into RAM after processing"
            ),
        },
    )
)

options_templates.update(
    options_section(
        ("system", "System", "system"),
        {
            "enable_console_prompts": OptionInfo(
                cmd_opts.enable_console_prompts,
                "Print prompts to console when generating with txt2img and img2img.",
            ),
            "samples_log_stdout": OptionInfo(
                False, "Always print all generation info to standard output"
            ),
            "multiple_tqdm": OptionInfo(
                True,
                "Add a second progress bar to the console that shows progress for an entire job.",
            ),
            "list_hidden_files": OptionInfo(True, "Load models/files in hidden directories").info(
                'directory is hidden if its name starts with "."'
            ),
        },
    )
)

options_templates.update(
    options_section(
        ("sd", "Stable Diffusion", "sd"),
        {
            "sd_model_checkpoint": OptionInfo(
                None,
                "Stable Diffusion checkpoint",
                gr.Dropdown,
                lambda: {"choices": _checkpoint_tiles()},
                refresh=None,
                infotext="Model hash",
            ),
            "sd_checkpoints_limit": OptionInfo(
                1,
                "Maximum number of checkpoints loaded at the same time",
                gr.Slider,
                _slider(1, 10, 1),
            ),
            "sd_checkpoints_keep_in_cpu": OptionInfo(True, "Only keep one model on device").info(
                "will keep models other than the currently used one in RAM rather than VRAM"
            ),
            "sd_checkpoint_cache": OptionInfo(
                0, "Checkpoints to cache in RAM", gr.Slider, _slider(0, 10, 1)
            ).info("obsolete; set to 0 and use the two settings above instead"),
            "sd_unet": OptionInfo(
                "Automatic", "SD Unet", gr.Dropdown, lambda: {"choices": ["Automatic", "None"]}
            ).info(
                "choose Unet model: Automatic = use one with same filename as checkpoint; None = use Unet from checkpoint"
            ),
            "enable_quantization": OptionInfo(
                False,
                "Enable quantization in K samplers for sharper and cleaner results. This may change existing seeds",
            ).needs_reload_ui(),
            "emphasis": OptionInfo(
                "Original",
                "Emphasis mode",
                gr.Radio,
                lambda: {"choices": ["None", "Ignore", "Original", "No norm"]},
                infotext="Emphasis",
            ),
            "enable_batch_seeds": OptionInfo(
                True,
                "Make K-diffusion samplers produce same images in a batch as when making a single image",
            ),
            "comma_padding_backtrack": OptionInfo(
                20, "Prompt word wrap length limit", gr.Slider, _slider(0, 74, 1)
            ),
            "sdxl_clip_l_skip": OptionInfo(False, "Clip skip SDXL", gr.Checkbox).info(
                "Enable Clip skip for the secondary clip model in sdxl. Has no effect on SD 1.5 or SD 2.0/2.1."
            ),
            "CLIP_stop_at_last_layers": OptionInfo(
                1, "Clip skip", gr.Slider, _slider(1, 12, 1), infotext="Clip skip"
            ),
            "upcast_attn": OptionInfo(False, "Upcast cross attention layer to float32"),
            "randn_source": OptionInfo(
                "GPU",
                "Random number generator source.",
                gr.Radio,
                {"choices": ["GPU", "CPU", "NV"]},
                infotext="RNG",
            ),
            "tiling": OptionInfo(False, "Tiling", infotext="Tiling").info(
                "produce a tileable picture"
            ),
            "hires_fix_refiner_pass": OptionInfo(
                "second pass",
                "Hires fix: which pass to enable refiner for",
                gr.Radio,
                {"choices": ["first pass", "second pass", "both passes"]},
                infotext="Hires refiner",
            ),
        },
    )
)

options_templates.update(
    options_section(
        ("sdxl", "Stable Diffusion XL", "sd"),
        {
            "sdxl_crop_top": OptionInfo(0, "crop top coordinate"),
            "sdxl_crop_left": OptionInfo(0, "crop left coordinate"),
            "sdxl_refiner_low_aesthetic_score": OptionInfo(
                2.5, "SDXL low aesthetic score", gr.Number
            ).info("used for refiner model negative prompt"),
            "sdxl_refiner_high_aesthetic_score": OptionInfo(
                6.0, "SDXL high aesthetic score", gr.Number
            ).info("used for refiner model prompt"),
        },
    )
)

options_templates.update(
    options_section(
        ("vae", "VAE", "sd"),
        {
            "sd_vae_checkpoint_cache": OptionInfo(
                0, "VAE Checkpoints to cache in RAM", gr.Slider, _slider(0, 10, 1)
            ),
            "sd_vae": OptionInfo(
                "Automatic",
                "SD VAE",
                gr.Dropdown,
                lambda: {"choices": _sd_vae_items()},
                infotext="VAE",
            ),
            "sd_vae_overrides_per_model_preferences": OptionInfo(
                True, "Selected VAE overrides per-model preferences"
            ),
            "auto_vae_precision_bfloat16": OptionInfo(
                False, "Automatically convert VAE to bfloat16"
            ),
            "auto_vae_precision": OptionInfo(True, "Automatically revert VAE to 32-bit floats"),
            "sd_vae_encode_method": OptionInfo(
                "Full",
                "VAE type for encode",
                gr.Radio,
                {"choices": ["Full", "TAESD"]},
                infotext="VAE Encoder",
            ),
            "sd_vae_decode_method": OptionInfo(
                "Full",
                "VAE type for decode",
                gr.Radio,
                {"choices": ["Full", "TAESD"]},
                infotext="VAE Decoder",
            ),
        },
    )
)

options_templates.update(
    options_section(
        ("img2img", "img2img", "sd"),
        {
            "inpainting_mask_weight": OptionInfo(
                1.0,
                "Inpainting conditioning mask strength",
                gr.Slider,
                _slider(0.0, 1.0, 0.01),
                infotext="Conditional mask weight",
            ),
            "initial_noise_multiplier": OptionInfo(
                1.0,
                "Noise multiplier for img2img",
                gr.Slider,
                _slider(0.0, 1.5, 0.001),
                infotext="Noise multiplier",
            ),
            "img2img_extra_noise": OptionInfo(
                0.0,
                "Extra noise multiplier for img2img and hires fix",
                gr.Slider,
                _slider(0.0, 1.0, 0.01),
                infotext="Extra noise",
            ),
            "img2img_color_correction": OptionInfo(
                False, "Apply color correction to img2img results to match original colors."
            ),
            "img2img_fix_steps": OptionInfo(
                False, "With img2img, do exactly the amount of steps the slider specifies."
            ).info("normally you'd do less with less denoising"),
            "img2img_background_color": OptionInfo(
                "#ffffff",
                "With img2img, fill transparent parts of the input image with this color.",
                ui_components.FormColorPicker,
                {},
            ),
            "return_mask": OptionInfo(
                False, "For inpainting, include the greyscale mask in results for web"
            ),
            "return_mask_composite": OptionInfo(
                False, "For inpainting, include masked composite in results for web"
            ),
            "img2img_batch_show_results_limit": OptionInfo(
                32, "Show the first N batch img2img results in UI", gr.Slider, _slider(-1, 1000, 1)
            ),
            "overlay_inpaint": OptionInfo(True, "Overlay original for inpaint").info(
                "when inpainting, overlay the original image over the areas that weren't inpainted."
            ),
        },
    )
)

options_templates.update(
    options_section(
        ("optimizations", "Optimizations", "sd"),
        {
            "s_min_uncond": OptionInfo(
                0.0,
                "Negative Guidance minimum sigma",
                gr.Slider,
                _slider(0.0, 15.0, 0.01),
                infotext="NGMS",
            ),
            "s_min_uncond_all": OptionInfo(
                False, "Negative Guidance minimum sigma all steps", infotext="NGMS all steps"
            ),
            "token_merging_ratio": OptionInfo(
                0.0,
                "Token merging ratio",
                gr.Slider,
                _slider(0.0, 0.9, 0.1),
                infotext="Token merging ratio",
            ),
            "token_merging_ratio_img2img": OptionInfo(
                0.0, "Token merging ratio for img2img", gr.Slider, _slider(0.0, 0.9, 0.1)
            ),
            "token_merging_ratio_hr": OptionInfo(
                0.0,
                "Token merging ratio for high-res pass",
                gr.Slider,
                _slider(0.0, 0.9, 0.1),
                infotext="Token merging ratio hr",
            ),
            "pad_cond_uncond": OptionInfo(
                False, "Pad prompt/negative prompt", infotext="Pad conds"
            ),
            "pad_cond_uncond_v0": OptionInfo(
                False, "Pad prompt/negative prompt (v0)", infotext="Pad conds v0"
            ),
            "persistent_cond_cache": OptionInfo(True, "Persistent cond cache").info(
                "do not recalculate conds from prompts if prompts have not changed since previous calculation"
            ),
            "batch_cond_uncond": OptionInfo(True, "Batch cond/uncond"),
            "fp8_storage": OptionInfo(
                "Disable",
                "FP8 weight",
                gr.Radio,
                {"choices": ["Disable", "Enable for SDXL", "Enable"]},
            ),
            "cache_fp16_weight": OptionInfo(False, "Cache FP16 weight for LoRA"),
        },
    )
)

options_templates.update(
    options_section(
        ("compatibility", "Compatibility", "sd"),
        {
            "auto_backcompat": OptionInfo(True, "Automatic backward compatibility"),
            "use_old_emphasis_implementation": OptionInfo(
                False, "Use old emphasis implementation. Can be useful to reproduce old seeds."
            ),
            "use_old_karras_scheduler_sigmas": OptionInfo(
                False, "Use old karras scheduler sigmas (0.1 to 10)."
            ),
            "no_dpmpp_sde_batch_determinism": OptionInfo(
                False, "Do not make DPM++ SDE deterministic across different batch sizes."
            ),
            "use_old_hires_fix_width_height": OptionInfo(
                False,
                "For hires fix, use width/height sliders to set final resolution rather than first pass (disables Upscale by, Resize width/height to).",
            ),
            "hires_fix_use_firstpass_conds": OptionInfo(
                False,
                "For hires fix, calculate conds of second pass using extra networks of first pass.",
            ),
            "use_old_scheduling": OptionInfo(
                False, "Use old prompt editing timelines.", infotext="Old prompt editing timelines"
            ),
            "use_downcasted_alpha_bar": OptionInfo(
                False,
                "Downcast model alphas_cumprod to fp16 before sampling. For reproducing old seeds.",
                infotext="Downcast alphas_cumprod",
            ),
            "refiner_switch_by_sample_steps": OptionInfo(
                False,
                "Switch to refiner by sampling steps instead of model timesteps. Old behavior for refiner.",
                infotext="Refiner switch by sampling steps",
            ),
        },
    )
)

options_templates.update(
    options_section(
        ("extra_networks", "Extra Networks", "sd"),
        {
            "extra_networks_default_multiplier": OptionInfo(
                1.0, "Default multiplier for extra networks", gr.Slider, _slider(0.0, 2.0, 0.01)
            ),
            "extra_networks_add_text_separator": OptionInfo(" ", "Extra networks separator").info(
                "extra text to add before <...> when adding extra network to prompt"
            ),
        },
    )
)

options_templates.update(
    options_section(
        ("ui_gallery", "Gallery", "ui"),
        {
            "return_grid": OptionInfo(True, "Show grid in gallery"),
            "do_not_show_images": OptionInfo(False, "Do not show any images in gallery"),
            "js_modal_lightbox": OptionInfo(True, "Full page image viewer: enable"),
            "gallery_height": OptionInfo("", "Gallery height")
            .info("can be any valid CSS value, for example 768px or 20em")
            .needs_reload_ui(),
        },
    )
)

options_templates.update(
    options_section(
        ("ui_alternatives", "UI alternatives", "ui"),
        {
            "compact_prompt_box": OptionInfo(False, "Compact prompt layout").needs_reload_ui(),
            "samplers_in_dropdown": OptionInfo(
                True, "Use dropdown for sampler selection instead of radio group"
            ).needs_reload_ui(),
            "dimensions_and_batch_together": OptionInfo(
                True, "Show Width/Height and Batch sliders in same row"
            ).needs_reload_ui(),
            "sd_checkpoint_dropdown_use_short": OptionInfo(
                False, "Checkpoint dropdown: use filenames without paths"
            ).info(
                "models in subdirectories like photo/sd15.ckpt will be listed as just sd15.ckpt"
            ),
            "hires_fix_show_sampler": OptionInfo(
                False, "Hires fix: show hires checkpoint and sampler selection"
            ).needs_reload_ui(),
            "hires_fix_show_prompts": OptionInfo(
                False, "Hires fix: show hires prompt and negative prompt"
            ).needs_reload_ui(),
            "txt2img_settings_accordion": OptionInfo(
                False, "Settings in txt2img hidden under Accordion"
            ).needs_reload_ui(),
            "img2img_settings_accordion": OptionInfo(
                False, "Settings in img2img hidden under Accordion"
            ).needs_reload_ui(),
        },
    )
)

options_templates.update(
    options_section(
        ("ui", "User interface", "ui"),
        {
            "localization": OptionInfo(
                "None", "Localization", gr.Dropdown, lambda: {"choices": ["None"]}
            ).needs_reload_ui(),
            "quicksettings_list": OptionInfo(
                ["sd_model_checkpoint"],
                "Quicksettings list",
                ui_components.DropdownMulti,
                lambda: {"choices": []},
            )
            .info("setting entries that appear at the top of page rather than in settings tab")
            .needs_reload_ui(),
            "ui_tab_order": OptionInfo(
                [], "UI tab order", ui_components.DropdownMulti, lambda: {"choices": []}
            ).needs_reload_ui(),
            "hidden_tabs": OptionInfo(
                [], "Hidden UI tabs", ui_components.DropdownMulti, lambda: {"choices": []}
            ).needs_reload_ui(),
            "ui_reorder_list": OptionInfo(
                [],
                "UI item order for txt2img/img2img tabs",
                ui_components.DropdownMulti,
                lambda: {"choices": []},
            )
            .info("selected items appear first")
            .needs_reload_ui(),
            "gradio_theme": OptionInfo(
                "Default",
                "Gradio theme",
                ui_components.DropdownEditable,
                lambda: {"choices": ["Default"]},
            ).needs_reload_ui(),
            "show_progress_in_title": OptionInfo(True, "Show generation progress in window title."),
            "send_seed": OptionInfo(
                True, "Send seed when sending prompt or image to other interface"
            ),
            "send_size": OptionInfo(
                True, "Send size when sending prompt or image to another interface"
            ),
            "enable_reloading_ui_scripts": OptionInfo(
                False, "Reload UI scripts when using Reload UI option"
            ).info(
                "useful for developing: if you make changes to UI scripts code, it is applied when the UI is reloded."
            ),
        },
    )
)

options_templates.update(
    options_section(
        ("infotext", "Infotext", "ui"),
        {
            "infotext_explanation": OptionHTML(
                "Infotext is what this software calls the text that contains generation parameters and can be used to generate the same picture again."
            ),
            "enable_pnginfo": OptionInfo(True, "Write infotext to metadata of the generated image"),
            "save_txt": OptionInfo(
                False, "Create a text file with infotext next to every generated image"
            ),
            "add_model_name_to_info": OptionInfo(True, "Add model name to infotext"),
            "add_model_hash_to_info": OptionInfo(True, "Add model hash to infotext"),
            "add_vae_name_to_info": OptionInfo(True, "Add VAE name to infotext"),
            "add_vae_hash_to_info": OptionInfo(True, "Add VAE hash to infotext"),
            "add_user_name_to_info": OptionInfo(
                False, "Add user name to infotext when authenticated"
            ),
            "add_version_to_infotext": OptionInfo(True, "Add program version to infotext"),
            "disable_weights_auto_swap": OptionInfo(
                True, "Disregard checkpoint information from pasted infotext"
            ).info("when reading generation parameters from text into UI"),
            "infotext_skip_pasting": OptionInfo(
                [],
                "Disregard fields from pasted infotext",
                ui_components.DropdownMulti,
                lambda: {"choices": []},
            ),
            "infotext_styles": OptionInfo(
                "Apply if any",
                "Infer styles from prompts of pasted infotext",
                gr.Radio,
                {"choices": ["Ignore", "Apply", "Discard", "Apply if any"]},
            ),
        },
    )
)

options_templates.update(
    options_section(
        ("ui", "Live previews", "ui"),
        {
            "show_progressbar": OptionInfo(True, "Show progressbar"),
            "live_previews_enable": OptionInfo(True, "Show live previews of the created image"),
            "live_previews_image_format": OptionInfo(
                "png", "Live preview file format", gr.Radio, {"choices": ["jpeg", "png", "webp"]}
            ),
            "show_progress_grid": OptionInfo(
                True, "Show previews of all images generated in a batch as a grid"
            ),
            "show_progress_every_n_steps": OptionInfo(
                10, "Live preview display period", gr.Slider, _slider(-1, 32, 1)
            ).info(
                "in sampling steps - show new live preview image every N sampling steps; -1 = only show after completion of batch"
            ),
            "show_progress_type": OptionInfo(
                "Approx NN",
                "Live preview method",
                gr.Radio,
                {"choices": ["Full", "Approx NN", "Approx cheap", "TAESD"]},
            ),
            "live_preview_fast_interrupt": OptionInfo(
                False, "Return image with chosen live preview method on interrupt"
            ).info("makes interrupts faster"),
        },
    )
)

options_templates.update(
    options_section(
        ("sampler-params", "Sampler parameters", "sd"),
        {
            "hide_samplers": OptionInfo(
                [], "Hide samplers in user interface", gr.CheckboxGroup, lambda: {"choices": []}
            ).needs_reload_ui(),
            "eta_ddim": OptionInfo(
                0.0, "Eta for DDIM", gr.Slider, _slider(0.0, 1.0, 0.01), infotext="Eta DDIM"
            ),
            "eta_ancestral": OptionInfo(
                1.0,
                "Eta for k-diffusion samplers",
                gr.Slider,
                _slider(0.0, 1.0, 0.01),
                infotext="Eta",
            ),
            "ddim_discretize": OptionInfo(
                "uniform", "img2img DDIM discretize", gr.Radio, {"choices": ["uniform", "quad"]}
            ),
            "s_churn": OptionInfo(
                0.0, "sigma churn", gr.Slider, _slider(0.0, 100.0, 0.01), infotext="Sigma churn"
            ),
            "s_tmin": OptionInfo(
                0.0, "sigma tmin", gr.Slider, _slider(0.0, 10.0, 0.01), infotext="Sigma tmin"
            ),
            "s_tmax": OptionInfo(
                0.0, "sigma tmax", gr.Slider, _slider(0.0, 999.0, 0.01), infotext="Sigma tmax"
            ),
            "s_noise": OptionInfo(
                1.0, "sigma noise", gr.Slider, _slider(0.0, 1.1, 0.001), infotext="Sigma noise"
            ),
            "sigma_min": OptionInfo(0.0, "sigma min", gr.Number, infotext="Schedule min sigma"),
            "sigma_max": OptionInfo(0.0, "sigma max", gr.Number, infotext="Schedule max sigma"),
            "rho": OptionInfo(0.0, "rho", gr.Number, infotext="Schedule rho"),
            "eta_noise_seed_delta": OptionInfo(
                0, "Eta noise seed delta", gr.Number, {"precision": 0}, infotext="ENSD"
            ),
            "always_discard_next_to_last_sigma": OptionInfo(
                False, "Always discard next-to-last sigma", infotext="Discard penultimate sigma"
            ),
            "sgm_noise_multiplier": OptionInfo(
                False, "SGM noise multiplier", infotext="SGM noise multiplier"
            ),
            "uni_pc_order": OptionInfo(
                3, "UniPC order", gr.Slider, _slider(1, 50, 1), infotext="UniPC order"
            ),
            "beta_dist_alpha": OptionInfo(
                0.6,
                "Beta scheduler - alpha",
                gr.Slider,
                _slider(0.01, 1.0, 0.01),
                infotext="Beta scheduler alpha",
            ),
            "beta_dist_beta": OptionInfo(
                0.6,
                "Beta scheduler - beta",
                gr.Slider,
                _slider(0.01, 1.0, 0.01),
                infotext="Beta scheduler beta",
            ),
        },
    )
)

options_templates.update(
    options_section(
        ("postprocessing", "Postprocessing", "postprocessing"),
        {
            "postprocessing_enable_in_main_ui": OptionInfo(
                [],
                "Enable postprocessing operations in txt2img and img2img tabs",
                ui_components.DropdownMulti,
                lambda: {"choices": []},
            ),
            "postprocessing_disable_in_extras": OptionInfo(
                [],
                "Disable postprocessing operations in extras tab",
                ui_components.DropdownMulti,
                lambda: {"choices": []},
            ),
            "postprocessing_operation_order": OptionInfo(
                [],
                "Postprocessing operation order",
                ui_components.DropdownMulti,
                lambda: {"choices": []},
            ),
        },
    )
)

options_templates.update(
    options_section(
        (None, "Hidden options"),
        {
            "disabled_extensions": OptionInfo([], "Disable these extensions"),
            "disable_all_extensions": OptionInfo(
                "none",
                "Disable all extensions (preserves the list of disabled extensions)",
                gr.Radio,
                {"choices": ["none", "extra", "all"]},
            ),
            "restore_config_state_file": OptionInfo(
                "", "Config state file to restore from, under 'config-states/' folder"
            ),
            "sd_checkpoint_hash": OptionInfo("", "SHA256 hash of the current checkpoint"),
        },
    )
)


def _sd_upscalers() -> list:
    from modules import shared

    return shared.sd_upscalers


def _checkpoint_tiles() -> list[str]:
    from modules import shared_items

    return shared_items.list_checkpoint_tiles(False)


def _sd_vae_items() -> list[str]:
    from modules import shared_items

    return shared_items.sd_vae_items()
