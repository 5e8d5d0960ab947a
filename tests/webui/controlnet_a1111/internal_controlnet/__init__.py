"""The fake sd-webui-controlnet's library package (see ../README.md)."""
