"""What ``rtad replay`` shows a person: a progress bar on a terminal, a summary at the end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from rtad.common import readers
from rtad.generator.replay import ReplaySummary


@contextmanager
def progress_bar(path: Path) -> Iterator[Callable[[readers.Progress], None]]:
    """A callback that moves a rich progress bar (silent when stderr is not a terminal)."""
    console = Console(stderr=True)
    bar = Progress(
        TextColumn("[bold]replay[/] {task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
    )
    task = bar.add_task(path.name, total=None)

    def update(progress: readers.Progress) -> None:
        bar.update(task, total=progress.total, completed=progress.done)

    with bar:
        yield update


def print_replay_summary(path: Path, summary: ReplaySummary, stopped: bool = False) -> None:
    """The table of what was sent and dead-lettered, and how fast."""
    table = Table(title=f"replay of {path.name}" + (" (stopped)" if stopped else ""))
    table.add_column("sent", justify="right")
    table.add_column("dead-lettered", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("records/s", justify="right")
    table.add_row(
        f"{summary.sent:,}",
        f"{summary.deadlettered:,}",
        f"{summary.seconds:.2f}",
        f"{summary.per_second:,.0f}",
    )
    console = Console()
    console.print(table)
    for code, count in sorted(summary.reasons.items()):
        console.print(f"  dead-letter reason {code}: {count:,}")
