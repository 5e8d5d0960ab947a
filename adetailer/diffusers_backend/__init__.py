"""The standalone redraw backend on diffusers (the `[detail]` extra); imported only when used.

`checkpoints` loads A1111 checkpoints offline, `samplers` maps A1111's sampler names,
`conditioning` encodes prompts as A1111 does, `loras` serves `<lora:...>` tags, `redraw` draws
a tab's inpaint jobs (in batches), and `detailer` is the `Detailer` API the command uses.
"""
