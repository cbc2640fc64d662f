"""Draw a run's task DAG as a timeline: one bar per task, arrows for dependencies.

Needs matplotlib (not a dependency of the package: `pip install matplotlib`). It is
imported when :func:`plot_task_timeline` is called, so importing this module costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.container import BarContainer
    from matplotlib.figure import Figure

__all__ = ["STATUS_COLORS", "TimelineTask", "plot_task_timeline", "timeline_tasks"]

STATUS_COLORS: dict[str, str] = {
    "done": "#4c9f70",
    "error": "#d1495b",
    "skipped": "#9e9e9e",
    "pending": "#d9d9d9",
}
"""Bar colour per task status."""

_MIN_BAR_FRACTION = 0.006
"""Shortest bar drawn, as a fraction of the time axis, so millisecond tool calls stay visible."""


@dataclass
class TimelineTask:
    """What the timeline needs to know about one task (times in epoch seconds)."""

    idx: int
    tool: str
    status: str = "pending"
    dependencies: list[int] = field(default_factory=list)
    parsed_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None


@dataclass
class _Timeline:
    tasks: list[TimelineTask]
    markers: list[tuple[float, str]]
    """`(epoch seconds, label)` of plan and joiner events, drawn as vertical lines."""


def _from_tasks(records: Iterable[Mapping[str, Any]]) -> _Timeline:
    tasks = [
        TimelineTask(
            idx=int(record["idx"]),
            tool=str(record.get("tool", "?")),
            status=str(record.get("status", "pending")),
            dependencies=[int(d) for d in record.get("dependencies", [])],
            started_at=record.get("started_at"),
            finished_at=record.get("finished_at"),
        )
        for record in records
    ]
    return _Timeline(sorted(tasks, key=lambda t: t.idx), [])


def _from_events(events: Iterable[Mapping[str, Any]]) -> _Timeline:
    tasks: dict[int, TimelineTask] = {}
    markers: list[tuple[float, str]] = []

    def task(event: Mapping[str, Any]) -> TimelineTask:
        return tasks.setdefault(int(event["idx"]), TimelineTask(int(event["idx"]), str(event["tool"])))

    for event in events:
        kind = event.get("type")
        if kind == "task_parsed":
            record = task(event)
            record.dependencies = [int(d) for d in event.get("dependencies", [])]
            record.parsed_at = event["time"]
            if event.get("error"):
                record.status, record.finished_at = "error", event["time"]
        elif kind == "task_started":
            task(event).started_at = event["time"]
        elif kind == "task_finished":
            record = task(event)
            record.status = str(event["status"])
            duration = event.get("duration")
            if record.started_at is not None and duration is not None:
                record.finished_at = record.started_at + duration
            else:
                record.finished_at = event["time"]
        elif kind == "plan_finished":
            markers.append((event["time"], f"plan {event['plan_round'] + 1} done"))
        elif kind == "joiner_decision":
            markers.append((event["time"], f"joiner: {event['action']}"))
    return _Timeline(sorted(tasks.values(), key=lambda t: t.idx), markers)


def _duration(seconds: float) -> str:
    """`4 ms`, `2.20 s`: short tool calls stay readable."""
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def timeline_tasks(source: Any) -> list[TimelineTask]:
    """The tasks of a run, from any of the sources :func:`plot_task_timeline` accepts.

    Example:
        >>> timeline_tasks({"tasks": {1: {"idx": 1, "tool": "search", "status": "done"}}})[0].tool
        'search'
    """
    return _timeline(source).tasks


def _timeline(source: Any) -> _Timeline:
    if isinstance(source, Mapping):
        if "tasks" in source or "messages" in source:  # a graph state, not a tasks mapping
            source = source.get("tasks") or {}
        return _from_tasks(source.values())
    items = list(source)
    if any("type" in item for item in items):
        return _from_events(items)
    return _from_tasks(items)


def plot_task_timeline(
    source: Mapping[str, Any] | Mapping[int, Any] | Iterable[Mapping[str, Any]],
    *,
    origin: float | None = None,
    title: str | None = "Tasks over time",
    ax: Axes | None = None,
) -> Figure:
    """Draw the tasks of a run as a timeline (a Gantt chart of the task DAG).

    Each task is one horizontal bar from the start to the end of its tool call, coloured
    by status (:data:`STATUS_COLORS`) and labelled with its duration; an arrow goes from
    each dependency's end to the start of the task that uses its result. Tasks that never
    ran (skipped, or a plan line that failed to parse) get a hatched sliver at the time
    they were given up. Bars shorter than a fraction of the axis are widened to stay
    visible (the label keeps the real duration). Given the `stream_mode="custom"` events,
    the time each plan line was parsed is marked with a dot (tasks start as soon as their
    line is parsed, while the plan still streams) and the end of each plan and the
    joiner's decisions are drawn as dashed vertical lines.

    Args:
        source: The final state of a run (a mapping with a `"tasks"` key), its
            `state["tasks"]` mapping, a list of `Task` records, or the list of events
            collected from `stream_mode="custom"`.
        origin: Epoch seconds shown as 0 (for example `time.time()` taken just before
            the run, so the planner's time shows too); by default the earliest time known.
        title: Title of the axes; `None` for none.
        ax: Axes to draw on; by default a new figure is made (without pyplot, so no
            global figure state is kept: show it by returning it from a notebook cell
            or with `fig.savefig(...)`).

    Returns:
        The figure drawn on.

    Raises:
        ImportError: matplotlib is not installed.

    Example:
        >>> state = {"tasks": {
        ...     1: {"idx": 1, "tool": "search", "status": "done", "dependencies": [],
        ...         "started_at": 10.0, "finished_at": 10.5},
        ...     2: {"idx": 2, "tool": "search", "status": "done", "dependencies": [],
        ...         "started_at": 10.1, "finished_at": 10.4},
        ...     3: {"idx": 3, "tool": "math", "status": "done", "dependencies": [1, 2],
        ...         "started_at": 10.5, "finished_at": 10.6},
        ... }}
        >>> fig = plot_task_timeline(state)
        >>> len(fig.axes[0].patches)  # one bar per task
        3
        >>> fig.savefig("timeline.png")  # doctest: +SKIP
    """
    timeline = _timeline(source)
    tasks = timeline.tasks
    figure, ax = _figure_and_axes(ax, len(tasks))
    zero, span = _time_span(timeline, origin)
    lefts, widths = _bar_extents(tasks, zero, min_width=span * _MIN_BAR_FRACTION)
    bars = _draw_tasks(ax, tasks, lefts, widths, zero)
    _draw_dependencies(ax, tasks, bars, lefts)
    _draw_markers(ax, timeline.markers, zero)
    ax.set_yticks(list(range(len(tasks))), [f"${task.idx} {task.tool}" for task in tasks])
    ax.invert_yaxis()  # task 1 on top
    ax.set_xlim(min(0.0, *lefts) if lefts else 0.0, span * 1.12)
    ax.set_xlabel("seconds" + (" since the run started" if origin is not None else ""))
    if title:
        ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return figure


def _figure_and_axes(ax: Axes | None, rows: int) -> tuple[Figure, Axes]:
    """The given axes and their root figure, or a new figure (without pyplot) sized for `rows` tasks."""
    from matplotlib.figure import Figure

    if ax is None:
        figure = Figure(figsize=(9.0, 1.2 + 0.45 * max(rows, 1)), layout="constrained")
        return figure, figure.add_subplot()
    parent = ax.figure
    return (parent if isinstance(parent, Figure) else parent.figure), ax  # the root of a SubFigure


def _time_span(timeline: _Timeline, origin: float | None) -> tuple[float, float]:
    """The time shown as 0 (`origin`, else the earliest time known) and the seconds from it to the last."""
    tasks = timeline.tasks
    times = [
        t for task in tasks for t in (task.parsed_at, task.started_at, task.finished_at) if t is not None
    ] + [t for t, _ in timeline.markers]
    zero = origin if origin is not None else min(times, default=0.0)
    end = max([*times, zero + 1e-3])
    return zero, end - zero


def _bar_extents(
    tasks: list[TimelineTask], zero: float, *, min_width: float
) -> tuple[list[float], list[float]]:
    """Each task's bar: its start and width, at least `min_width`."""
    lefts: list[float] = []
    widths: list[float] = []
    for task in tasks:
        if task.started_at is not None:
            finished = task.finished_at if task.finished_at is not None else task.started_at
            lefts.append(task.started_at - zero)
            widths.append(max(finished - task.started_at, min_width))
        else:  # never ran: a sliver where it was given up (or at 0 if unknown)
            at = task.finished_at if task.finished_at is not None else zero
            lefts.append(at - zero)
            widths.append(min_width)
    return lefts, widths


def _draw_tasks(
    ax: Axes, tasks: list[TimelineTask], lefts: list[float], widths: list[float], zero: float
) -> BarContainer:
    """One bar per task, coloured by status and labelled with its duration; a dot when its line was parsed."""
    bars = ax.barh(
        list(range(len(tasks))),
        widths,
        left=lefts,
        height=0.5,
        color=[STATUS_COLORS.get(task.status, STATUS_COLORS["pending"]) for task in tasks],
        edgecolor="#333333",
        linewidth=0.6,
    )
    for bar, task in zip(bars, tasks, strict=True):
        if task.started_at is None:
            bar.set_hatch("///")
        if task.started_at is not None and task.finished_at is not None:
            label = _duration(task.finished_at - task.started_at)
        else:
            label = task.status
        ax.annotate(
            label,
            (bar.get_x() + bar.get_width(), bar.get_y() + bar.get_height() / 2),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
        if task.parsed_at is not None:
            ax.plot(task.parsed_at - zero, bar.get_y() + bar.get_height() / 2, "o", ms=3, color="#555555")
    return bars


def _draw_dependencies(ax: Axes, tasks: list[TimelineTask], bars: BarContainer, lefts: list[float]) -> None:
    """An arrow from the end of each dependency's bar to the start of the task that uses it."""
    row_of = {task.idx: row for row, task in enumerate(tasks)}
    for row, task in enumerate(tasks):
        for dependency in task.dependencies:
            if dependency not in row_of:
                continue
            source_bar = bars[row_of[dependency]]
            ax.annotate(
                "",
                xy=(lefts[row], row),
                xytext=(source_bar.get_x() + source_bar.get_width(), row_of[dependency]),
                arrowprops={"arrowstyle": "->", "color": "#1f4e79", "lw": 1.0, "shrinkA": 0, "shrinkB": 0},
            )


def _draw_markers(ax: Axes, markers: list[tuple[float, str]], zero: float) -> None:
    """A dashed vertical line, labelled, at the end of each plan and at each joiner decision."""
    for at, label in markers:
        ax.axvline(at - zero, color="#7a7a7a", linestyle="--", linewidth=0.8)
        ax.annotate(
            label,
            (at - zero, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, -2),
            textcoords="offset points",
            rotation=90,
            va="top",
            fontsize=7,
            color="#555555",
        )
