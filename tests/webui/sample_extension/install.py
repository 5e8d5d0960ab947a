"""Installer of the sample extension: runs in its own process with the web UI root on PYTHONPATH."""

import launch

print(f"sample install on {launch.git_tag()}")

if not launch.is_installed("sample_missing_pkg"):
    launch.run_pip("install sample_missing_pkg==1.0", "sample_missing_pkg for the sample extension")

if not launch.is_installed("numpy"):
    launch.run_pip("install numpy", "numpy")
