"""``shared.state``: job bookkeeping and the interrupt/skip flags an extension checks."""

from __future__ import annotations

import datetime
import logging
import time
from typing import Any

from modules import devices, errors, shared

log = logging.getLogger(__name__)


class State:
    skipped = False
    interrupted = False
    stopping_generation = False
    job = ""
    job_no = 0
    job_count = 0
    processing_has_refined_job_count = False
    job_timestamp = "0"
    sampling_step = 0
    sampling_steps = 0
    current_latent = None
    current_image = None
    current_image_sampling_step = 0
    id_live_preview = 0
    textinfo = None
    time_start = None
    server_start = None
    _server_command: str | None = None

    def __init__(self) -> None:
        self.server_start = time.time()

    @property
    def need_restart(self) -> bool:
        return self.server_command == "restart"

    @need_restart.setter
    def need_restart(self, value: bool) -> None:
        if value:
            self.server_command = "restart"

    @property
    def server_command(self) -> str | None:
        return self._server_command

    @server_command.setter
    def server_command(self, value: str | None) -> None:
        self._server_command = value

    def request_restart(self) -> None:
        self.interrupt()
        self.server_command = "restart"

    def skip(self) -> None:
        self.skipped = True
        log.info("Received skip request")

    def interrupt(self) -> None:
        self.interrupted = True
        log.info("Received interrupt request")

    def stop_generating(self) -> None:
        self.stopping_generation = True
        log.info("Received stop generating request")

    def nextjob(self) -> None:
        if shared.opts.live_previews_enable and shared.opts.show_progress_every_n_steps == -1:
            self.do_set_current_image()

        self.job_no += 1
        self.sampling_step = 0
        self.current_image_sampling_step = 0

    def dict(self) -> dict[str, Any]:
        return {
            "skipped": self.skipped,
            "interrupted": self.interrupted,
            "stopping_generation": self.stopping_generation,
            "job": self.job,
            "job_count": self.job_count,
            "job_timestamp": self.job_timestamp,
            "job_no": self.job_no,
            "sampling_step": self.sampling_step,
            "sampling_steps": self.sampling_steps,
        }

    def begin(self, job: str = "(unknown)") -> None:
        self.sampling_step = 0
        self.time_start = time.time()
        self.job_count = -1
        self.processing_has_refined_job_count = False
        self.job_no = 0
        self.job_timestamp = datetime.datetime.now().strftime("%Y%m%d%H%M%S")
        self.current_latent = None
        self.current_image = None
        self.current_image_sampling_step = 0
        self.id_live_preview = 0
        self.skipped = False
        self.interrupted = False
        self.stopping_generation = False
        self.textinfo = None
        self.job = job
        devices.torch_gc()
        log.info("Starting job %s", job)

    def end(self) -> None:
        self.job = ""
        self.job_count = 0
        devices.torch_gc()

    def set_current_image(self) -> None:
        if not shared.parallel_processing_allowed:
            return

        if (
            self.sampling_step - self.current_image_sampling_step
            >= shared.opts.show_progress_every_n_steps
            and shared.opts.live_previews_enable
            and shared.opts.show_progress_every_n_steps != -1
        ):
            self.do_set_current_image()

    def do_set_current_image(self) -> None:
        if self.current_latent is None:
            return

        from modules import sd_samplers_common

        try:
            self.assign_current_image(sd_samplers_common.sample_to_image(self.current_latent))
            self.current_image_sampling_step = self.sampling_step
        except Exception:
            errors.record_exception()

    def assign_current_image(self, image) -> None:
        if shared.opts.live_previews_image_format == "jpeg" and image.mode in ("RGBA", "P"):
            image = image.convert("RGB")
        self.current_image = image
        self.id_live_preview += 1
