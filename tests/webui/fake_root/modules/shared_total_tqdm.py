"""``shared.total_tqdm``: the whole-job progress bar; the fake only keeps the counts."""

from __future__ import annotations

from modules import shared


class TotalTQDM:
    def __init__(self) -> None:
        self._tqdm: dict[str, int] | None = None
        self.cleared = 0
        """Test hook: how often ``clear()`` closed an open bar."""

    def reset(self) -> None:
        self._tqdm = {"total": shared.state.job_count * shared.state.sampling_steps, "n": 0}

    def update(self) -> None:
        if not shared.opts.multiple_tqdm or shared.cmd_opts.disable_console_progressbars:
            return
        if self._tqdm is None:
            self.reset()
        self._tqdm["n"] += 1

    def updateTotal(self, new_total: int) -> None:  # noqa: N802  (A1111's name)
        if not shared.opts.multiple_tqdm or shared.cmd_opts.disable_console_progressbars:
            return
        if self._tqdm is None:
            self.reset()
        self._tqdm["total"] = new_total

    def clear(self) -> None:
        if self._tqdm is not None:
            self._tqdm = None
            self.cleared += 1
