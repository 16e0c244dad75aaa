"""The progress bar of long commands: on a terminal only, and not with `--quiet`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichBar
from rich.text import Text

from ..pipeline.progress import Progress
from .common import console


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


class _Amount(ProgressColumn):
    """`12.3/40.0 MB 85.0 MB/s · 120,000 reads`, or `3/16 tasks` for a merge."""

    def render(self, task: Task) -> Text:
        done, total = task.completed, task.total or 0
        detail = task.fields.get("detail")
        if task.fields.get("unit") in ("tasks", "words"):
            text = f"{done:,.0f}/{total:,.0f} {task.fields['unit']}"
            return Text(f"{text} · {detail}" if detail else text)
        text = f"{human_bytes(done)}/{human_bytes(total)}"
        if task.speed:
            text += f" {human_bytes(task.speed)}/s"
        reads = task.fields.get("reads")
        if reads:
            text += f" · {reads:,} reads"
        return Text(text)


class BarProgress(Progress):
    """Draws each phase of a run as a rich progress bar (transient: gone when done)."""

    def __init__(self, out: Console):
        self.bar = RichBar(
            TextColumn("{task.description}"),
            BarColumn(),
            _Amount(),
            TimeRemainingColumn(),
            console=out,
            transient=True,
        )
        self.task: TaskID | None = None
        self.bar.start()

    def phase(self, name: str, total: int, unit: str = "bytes") -> None:
        if self.task is not None:
            self.bar.remove_task(self.task)
        self.task = self.bar.add_task(name, total=max(total, 1), unit=unit, reads=None, detail=None)

    def update(self, done: int, reads: int | None = None) -> None:
        if self.task is not None:
            self.bar.update(self.task, completed=done, reads=reads)

    def detail(self, text: str) -> None:
        if self.task is not None:
            self.bar.update(self.task, detail=text)

    def close(self) -> None:
        self.bar.stop()


@contextmanager
def progress_for(quiet: bool, out: Console = console) -> Iterator[Progress]:
    """A bar on a terminal unless `quiet`; elsewhere a Progress that reports nowhere."""
    if quiet or not out.is_terminal:
        yield Progress()
        return
    bar = BarProgress(out)
    try:
        yield bar
    finally:
        bar.close()
