"""`plot_task_timeline`: one bar per task and one arrow per dependency, from the state or the events."""

from __future__ import annotations

import io
from typing import Any

from langchain_core.tools import StructuredTool
from matplotlib.colors import to_rgba
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.text import Annotation

from llmcompiler_graph.visualize import STATUS_COLORS, plot_task_timeline, timeline_tasks
from tests.conftest import FINISH, ToolLog, build, question, scripted

PLAN = (
    '1. search("Everest")\n'
    '2. search("K2")\n'
    '3. math("abs($1 - $2)", ["$1", "$2"])\n'
    '4. fail("boom")\n'
    '5. search("after $4")\n'
    '6. fly("nowhere")\n'
    "7. join()<END_OF_PLAN>"
)
"""Two parallel searches, a math task on both, a failing tool, a task skipped because of it,
and an unknown tool (an error found while parsing): every status and three dependency edges."""

STATUSES = {1: "done", 2: "done", 3: "done", 4: "error", 5: "skipped", 6: "error"}


def failing_tool() -> StructuredTool:
    async def fail(reason: str) -> str:
        raise RuntimeError(reason)

    return StructuredTool.from_function(coroutine=fail, name="fail", description="Always raises.")


async def run(log: ToolLog) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run PLAN on a scripted model; the final state and the custom events."""
    model = scripted(PLAN, FINISH.format(answer="238 m"))
    graph = build(model, [log.search_tool(latency=0.05), log.math_tool(latency=0.02), failing_tool()])
    state: dict[str, Any] = {}
    events: list[dict[str, Any]] = []
    async for mode, chunk in graph.astream(question(), stream_mode=["custom", "values"]):
        if mode == "custom":
            events.append(chunk)
        else:
            state = chunk
    assert {idx: task["status"] for idx, task in state["tasks"].items()} == STATUSES
    return state, events


def bars(figure: Figure) -> list[Rectangle]:
    (ax,) = figure.axes
    return [patch for c in ax.containers if isinstance(c, BarContainer) for patch in c.patches]


def arrows(figure: Figure) -> list[Annotation]:
    (ax,) = figure.axes
    return [t for t in ax.texts if isinstance(t, Annotation) and t.arrow_patch is not None]


def renders(figure: Figure) -> bool:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue().startswith(b"\x89PNG")


async def test_the_state_gives_one_bar_per_task_coloured_by_status_and_one_arrow_per_dependency(
    log: ToolLog,
) -> None:
    state, _ = await run(log)
    figure = plot_task_timeline(state)
    drawn = bars(figure)
    assert len(drawn) == len(state["tasks"]) == 6
    for bar, idx in zip(drawn, sorted(state["tasks"]), strict=True):
        assert bar.get_facecolor() == to_rgba(STATUS_COLORS[STATUSES[idx]])
    assert len(arrows(figure)) == 3  # 1 -> 3, 2 -> 3, 4 -> 5
    labels = [label.get_text() for label in figure.axes[0].get_yticklabels()]
    assert labels == ["$1 search", "$2 search", "$3 math", "$4 fail", "$5 search", "$6 fly"]
    assert renders(figure)


async def test_bars_span_the_tool_calls_measured_from_the_origin(log: ToolLog) -> None:
    state, _ = await run(log)
    origin = min(t["started_at"] for t in state["tasks"].values() if t["started_at"] is not None) - 1.0
    figure = plot_task_timeline(state, origin=origin)
    for bar, task in zip(bars(figure), (state["tasks"][i] for i in sorted(state["tasks"])), strict=True):
        if task["idx"] in (1, 2):  # the searches took 0.05 s: long enough not to be widened
            assert abs(bar.get_x() - (task["started_at"] - origin)) < 1e-9
            assert abs(bar.get_width() - (task["finished_at"] - task["started_at"])) < 1e-9
            assert bar.get_width() >= 0.05
    assert figure.axes[0].get_xlabel() == "seconds since the run started"


async def test_the_events_give_the_same_bars_and_arrows_plus_plan_and_joiner_markers(log: ToolLog) -> None:
    state, events = await run(log)
    from_state, from_events = plot_task_timeline(state), plot_task_timeline(events)
    assert len(bars(from_events)) == len(bars(from_state)) == 6
    assert [b.get_facecolor() for b in bars(from_events)] == [b.get_facecolor() for b in bars(from_state)]
    assert len(arrows(from_events)) == 3
    texts = {t.get_text() for t in from_events.axes[0].texts}
    assert {"plan 1 done", "joiner: finish"} <= texts
    assert (
        [t.idx for t in timeline_tasks(events)]
        == [t.idx for t in timeline_tasks(state)]
        == [1, 2, 3, 4, 5, 6]
    )
    assert renders(from_events)


async def test_every_source_form_and_an_existing_axes_are_accepted(log: ToolLog) -> None:
    state, _ = await run(log)
    tasks = state["tasks"]
    expected = [(t.idx, t.tool, t.status, t.dependencies) for t in timeline_tasks(state)]
    for source in (tasks, list(tasks.values())):
        assert [(t.idx, t.tool, t.status, t.dependencies) for t in timeline_tasks(source)] == expected
    figure = Figure()
    ax = figure.add_subplot()
    assert plot_task_timeline(tasks, ax=ax, title=None) is figure
    assert len(bars(figure)) == 6
    assert ax.get_title() == ""


def test_a_state_without_tasks_draws_an_empty_timeline() -> None:
    figure = plot_task_timeline({"messages": []})
    assert bars(figure) == []
    assert renders(figure)
