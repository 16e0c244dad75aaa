"""How far a run is: phases (a prepare scan, the main pass, a merge) with a total each.

The driver and runners report here; the CLI draws a progress bar on a terminal, the Python
API reports nowhere. Reporting is from the driver's thread only."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


class Progress:
    """Ignores everything: the default for the Python API, pipes and `--quiet`."""

    def phase(self, name: str, total: int, unit: str = "bytes") -> None:
        """A new phase of `total` units ("bytes" of input, or "tasks")."""

    def update(self, done: int, reads: int | None = None) -> None:
        """Units done so far in the current phase (and reads seen, where known)."""

    def detail(self, text: str) -> None:
        """A line on how the current phase goes (training: words/s and loss)."""

    def close(self) -> None:
        """The run is over (or failed): remove what was drawn."""


class ReportingMapper:
    """A task mapper that reports each finished task as progress of a phase."""

    def __init__(self, runner: Any, progress: Progress, label: str):
        self.runner, self.progress, self.label = runner, progress, label
        self.name = getattr(runner, "name", "")

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        if len(items) <= 1:
            return self.runner.map(fn, items)
        self.progress.phase(self.label, len(items), "tasks")
        return self.runner.map(fn, items, on_done=self.progress.update)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.runner, attr)
