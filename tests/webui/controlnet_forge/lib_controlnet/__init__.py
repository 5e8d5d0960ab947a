"""The fake Forge ControlNet's library package (see ../README.md)."""
