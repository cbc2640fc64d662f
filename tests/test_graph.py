"""The compiled graph end to end with scripted models: answers, tasks, order, APIs."""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from llmcompiler_graph import create_agent, create_llmcompiler
from llmcompiler_graph.execution.fetching_unit import Dispatches
from tests.conftest import FINISH, ToolLog, build, last_text, question, scripted

TWO_SEARCHES = '1. search("Everest")\n2. search("K2")\n3. join()<END_OF_PLAN>'


async def test_answer_is_appended_as_ai_message_after_the_input(log: ToolLog) -> None:
    model = scripted(TWO_SEARCHES, FINISH.format(answer="Everest is taller (by 238 m)"))
    state = await build(model, [log.search_tool()]).ainvoke(question("Which is taller?"))
    assert isinstance(state["messages"][0], HumanMessage)
    assert state["messages"][0].content == "Which is taller?"
    assert isinstance(state["messages"][-1], AIMessage)
    assert state["messages"][-1].content == "Everest is taller (by 238 m)"
    assert sorted(a["query"] for a in log.args_of("search")) == ["Everest", "K2"]


async def test_every_task_records_tool_resolved_args_result_and_times(log: ToolLog) -> None:
    plan = '1. search("Everest")\n2. math("double it", ["$1"])\n3. join()<END_OF_PLAN>'
    model = scripted(plan, FINISH.format(answer="x"))
    state = await build(model, [log.search_tool(), log.math_tool()]).ainvoke(question())
    first, second = state["tasks"][1], state["tasks"][2]
    assert first["tool"] == "search"
    assert first["resolved_args"] == {"query": "Everest"}
    assert first["result"] == "result for Everest"
    assert second["args"] == {"problem": "double it", "context": ["$1"]}
    assert second["resolved_args"] == {"problem": "double it", "context": ["result for Everest"]}
    assert second["dependencies"] == [1]
    assert first["status"] == second["status"] == "done"
    assert first["started_at"] <= first["finished_at"] <= second["started_at"] <= second["finished_at"]


async def test_joiner_sees_every_observation(log: ToolLog) -> None:
    model = scripted(TWO_SEARCHES, FINISH.format(answer="x"))
    await build(model, [log.search_tool()]).ainvoke(question())
    joiner_prompt = last_text(model, 1)
    assert "Observation: result for Everest" in joiner_prompt
    assert "Observation: result for K2" in joiner_prompt


async def test_dependent_task_starts_before_an_unrelated_slow_task_finishes(log: ToolLog) -> None:
    # 1 fast, 2 slow, 3 needs only 1: wave-by-wave scheduling would start 3 after 2 ended.
    plan = '1. search("fast")\n2. search("slow")\n3. search("after $1")\n4. join()<END_OF_PLAN>'
    model = scripted(plan, FINISH.format(answer="x"))
    slow = log.search_tool(latency=lambda q: 0.6 if q == "slow" else 0.05)
    state = await build(model, [slow]).ainvoke(question())
    tasks = state["tasks"]
    assert tasks[3]["resolved_args"] == {"query": "after result for fast"}
    assert tasks[1]["finished_at"] <= tasks[3]["started_at"]
    assert tasks[3]["finished_at"] < tasks[2]["finished_at"]


def test_sync_invoke_keeps_critical_path_order_and_answers(log: ToolLog) -> None:
    plan = '1. search("fast")\n2. search("slow")\n3. search("after $1")\n4. join()<END_OF_PLAN>'
    model = scripted(plan, FINISH.format(answer="sync answer"))
    slow = log.search_tool(latency=lambda q: 0.6 if q == "slow" else 0.05)
    state = build(model, [slow]).invoke(question())
    assert state["messages"][-1].content == "sync answer"
    assert state["tasks"][3]["finished_at"] < state["tasks"][2]["finished_at"]


async def test_exact_reference_passes_the_result_object_not_its_text() -> None:
    received: list[Any] = []

    @tool
    def numbers(n: int) -> list[int]:
        """Return the numbers 0..n-1."""
        return list(range(n))

    @tool
    def total(values: list[int]) -> int:
        """Add numbers up."""
        received.append(values)
        return sum(values)

    plan = "1. numbers(4)\n2. total($1)\n3. join()<END_OF_PLAN>"
    model = scripted(plan, FINISH.format(answer="6"))
    state = await build(model, [numbers, total]).ainvoke(question())
    assert received == [[0, 1, 2, 3]]
    assert state["tasks"][2]["result"] == 6  # the value; the model is shown its text
    shown = [m.content for m in state["messages"] if isinstance(m, ToolMessage) and m.name == "total"]
    assert shown == ["6"]


async def test_exact_reference_gives_an_untyped_parameter_the_value_itself() -> None:
    def three() -> int:
        """Three."""
        return 3

    async def four():  # type: ignore[no-untyped-def]
        """Four."""
        return 4

    def add(a, b):  # type: ignore[no-untyped-def]
        """Add two things."""
        return a + b

    @tool
    def label(text: str) -> str:
        """Label a text."""
        return f"<{text}>"

    plan = "1. three()\n2. four()\n3. add($1, $2)\n4. label($3)\n5. join()<END_OF_PLAN>"
    model = scripted(plan, FINISH.format(answer="7"))
    state = await build(model, [three, four, add, label]).ainvoke(question())
    assert state["tasks"][3]["resolved_args"] == {"a": 3, "b": 4}
    assert state["tasks"][3]["result"] == 7  # not '34'
    assert state["tasks"][4]["result"] == "<7>"  # a str parameter still gets the text


async def test_a_value_rewritten_by_tool_middleware_is_passed_as_rewritten() -> None:
    from langchain.agents.middleware import wrap_tool_call

    @wrap_tool_call  # type: ignore[arg-type]
    async def redact(request: Any, handler: Any) -> Any:
        message = await handler(request)
        if request.tool_call["name"] == "secret":
            message.content = "redacted"
        return message

    def secret() -> int:
        """A secret number."""
        return 42

    def echo(value):  # type: ignore[no-untyped-def]
        """Echo a value."""
        return value

    plan = "1. secret()\n2. echo($1)\n3. join()<END_OF_PLAN>"
    model = scripted(plan, FINISH.format(answer="x"))
    agent = create_agent(model, [secret, echo], middleware=[redact])
    state = await agent.ainvoke(question())
    tasks = [m for m in state["messages"] if isinstance(m, ToolMessage)]
    assert [m.content for m in tasks] == ["redacted", "redacted"]


async def test_positional_arguments_map_onto_schema_order_and_keywords_by_name() -> None:
    seen: list[tuple[str, int, bool]] = []

    @tool
    def lookup(topic: str, limit: int = 3, exact: bool = False) -> str:
        """Look a topic up."""
        seen.append((topic, limit, exact))
        return topic

    plan = '1. lookup("a", 5)\n2. lookup(topic="b", exact=true)\n3. join()<END_OF_PLAN>'
    model = scripted(plan, FINISH.format(answer="x"))
    await build(model, [lookup]).ainvoke(question())
    assert sorted(seen) == [("a", 5, False), ("b", 3, True)]


async def test_plain_functions_and_coroutines_work_as_tools() -> None:
    def shout(text: str) -> str:
        """Upper-case the text."""
        return text.upper()

    async def whisper(text: str) -> str:
        """Lower-case the text."""
        return text.lower()

    plan = '1. shout("Hi")\n2. whisper("$1 THERE")\n3. join()<END_OF_PLAN>'
    model = scripted(plan, FINISH.format(answer="x"))
    state = await build(model, [shout, whisper]).ainvoke(question())
    assert state["tasks"][2]["result"] == "hi there"


async def test_sync_tool_does_not_block_the_event_loop(log: ToolLog) -> None:
    @tool
    def blocking(seconds: float) -> str:
        """Sleep in a thread."""
        time.sleep(seconds)
        return "woke"

    plan = '1. blocking(0.5)\n2. search("quick")\n3. join()<END_OF_PLAN>'
    model = scripted(plan, FINISH.format(answer="x"))
    state = await build(model, [blocking, log.search_tool(latency=0.05)]).ainvoke(question())
    assert state["tasks"][2]["finished_at"] < state["tasks"][1]["finished_at"]


def test_stream_and_batch_sync_apis(log: ToolLog) -> None:
    def answer_for(messages: Any) -> str:
        text = str(messages[-1].content)
        return FINISH.format(answer="A" if "alpha" in text else "B")

    responses: list[Any] = []
    for _ in range(2):
        responses += ['1. search("q")\n2. join()<END_OF_PLAN>', answer_for]
    graph = build(scripted(*responses), [log.search_tool()])
    outputs = graph.batch([question("alpha?"), question("beta?")], {"max_concurrency": 1})
    assert [o["messages"][-1].content for o in outputs] == ["A", "B"]

    model = scripted(TWO_SEARCHES, FINISH.format(answer="streamed"))
    updates = list(build(model, [log.search_tool()], eager=False).stream(question(), stream_mode="updates"))
    nodes = [next(iter(update)) for update in updates]
    assert nodes[0] == "planner"
    assert nodes.count("execute_task") == 2
    assert updates[-1]["joiner"]["messages"][-1].content == "streamed"

    # Eager: the planner started both tasks while streaming, so its own update records them.
    model = scripted(TWO_SEARCHES, FINISH.format(answer="streamed"))
    updates = list(build(model, [log.search_tool()], eager=True).stream(question(), stream_mode="updates"))
    planned = updates[0]["planner"]["tasks"].value  # Overwrite: a new question starts fresh tasks
    assert sorted(t["status"] for t in planned.values()) == ["done", "done"]
    assert "execute_task" not in [next(iter(update)) for update in updates]
    assert updates[-1]["joiner"]["messages"][-1].content == "streamed"


async def test_second_question_on_a_thread_sees_the_first_and_starts_fresh_tasks(log: ToolLog) -> None:
    model = scripted(
        '1. search("Everest")\n2. join()<END_OF_PLAN>',
        FINISH.format(answer="8849 m"),
        '1. search("K2")\n2. join()<END_OF_PLAN>',
        FINISH.format(answer="8611 m"),
    )
    graph = create_llmcompiler(model, [log.search_tool()]).compile(checkpointer=InMemorySaver())
    thread = {"configurable": {"thread_id": "t1"}}
    await graph.ainvoke(question("How tall is Everest?"), thread)
    state = await graph.ainvoke(question("And K2?"), thread)
    second_plan_prompt = last_text(model, 2)
    assert "How tall is Everest?" in second_plan_prompt
    assert "8849 m" in second_plan_prompt
    assert (
        "search" in second_plan_prompt and "result for Everest" in second_plan_prompt
    )  # earlier tool results
    said = [
        m.content for m in state["messages"] if m.type == "human" or (m.type == "ai" and not m.tool_calls)
    ]
    assert said == ["How tall is Everest?", "8849 m", "And K2?", "8611 m"]
    assert [m.type for m in state["messages"]] == ["human", "ai", "tool", "ai"] * 2
    assert [t["resolved_args"] for t in state["tasks"].values()] == [{"query": "K2"}]
    assert log.names() == ["search", "search"]


async def test_concurrent_runs_of_one_graph_never_see_each_others_tasks(log: ToolLog) -> None:
    runs = 20

    def plan_for(messages: Any) -> str:
        n = str(messages[-1].content).split()[-1]
        return f'1. search("{n}-a")\n2. search("{n}-b")\n3. search("$1 $2")\n4. join()<END_OF_PLAN>'

    def join_for(messages: Any) -> str:
        text = str(messages[-1].content)
        n = text.split("Question: run ")[1].split()[0]
        combined = [line for line in text.splitlines() if line.startswith("Observation: result for result")]
        return FINISH.format(answer=f"{n}|{combined[0]}")

    def respond(messages: Any) -> str:
        is_planner = str(messages[0].content).startswith("Given a user query")
        return plan_for(messages) if is_planner else join_for(messages)

    responses: list[Any] = [respond] * (2 * runs)
    latency = log.search_tool(latency=lambda q: (hash(q) % 7) / 100)
    graph = build(scripted(*responses), [latency])
    states = await asyncio.gather(*(graph.ainvoke(question(f"run {n}")) for n in range(runs)))
    for n, state in enumerate(states):
        expected = f"{n}|Observation: result for result for {n}-a result for {n}-b"
        assert state["messages"][-1].content == expected
        assert {t["resolved_args"]["query"] for t in state["tasks"].values()} == {
            f"{n}-a",
            f"{n}-b",
            f"result for {n}-a result for {n}-b",
        }


async def test_max_concurrency_limits_simultaneous_tool_calls(log: ToolLog) -> None:
    plan = "\n".join(f'{i}. search("q{i}")' for i in range(1, 7)) + "\n7. join()<END_OF_PLAN>"
    model = scripted(plan, FINISH.format(answer="x"))
    state = await build(model, [log.search_tool(latency=0.05)], max_concurrency=2).ainvoke(question())
    assert log.max_running == 2
    assert all(t["status"] == "done" for t in state["tasks"].values())


async def test_without_a_limit_independent_tasks_all_run_at_once(log: ToolLog) -> None:
    plan = "\n".join(f'{i}. search("q{i}")' for i in range(1, 7)) + "\n7. join()<END_OF_PLAN>"
    model = scripted(plan, FINISH.format(answer="x"))
    await build(model, [log.search_tool(latency=0.05)]).ainvoke(question())
    assert log.max_running == 6


def test_graph_topology_is_planner_scheduler_task_joiner() -> None:
    model = scripted()

    def search(query: str) -> str:
        """Search."""
        return query

    mermaid = create_llmcompiler(model, [search]).compile().get_graph().draw_mermaid()
    edges = sorted(line.strip() for line in mermaid.splitlines() if "-->" in line or "-.->" in line)
    assert edges == [  # the whole drawn graph: a snapshot that catches any change of topology
        "__start__ --> planner;",
        "approve --> scheduler;",
        "execute_task --> scheduler;",
        "joiner -.-> __end__;",
        "joiner -.-> planner;",
        "planner --> scheduler;",
        "scheduler -.-> approve;",
        "scheduler -.-> execute_task;",
        "scheduler -.-> joiner;",
    ]


async def test_sync_invoke_works_from_inside_a_running_event_loop_as_in_jupyter(log: ToolLog) -> None:
    model = scripted(TWO_SEARCHES, FINISH.format(answer="from a notebook cell"))
    state = build(model, [log.search_tool(latency=0.01)]).invoke(question())
    assert state["messages"][-1].content == "from a notebook cell"


async def test_planner_stops_reading_the_stream_at_end_of_plan(log: ToolLog) -> None:
    rambling = TWO_SEARCHES + "\n" + " ".join(["and", "then", "more"] * 50)
    model = scripted(rambling, FINISH.format(answer="x"))
    await build(model, [log.search_tool()]).ainvoke(question())
    plan_tokens = [t for call, t in model.token_times if call == 0]
    assert len(plan_tokens) < 20


async def test_large_batch_is_split_into_bounded_sends_and_every_task_runs_once(log: ToolLog) -> None:
    from llmcompiler_graph.graph.scheduler import MAX_SENDS_PER_BATCH

    count = 3 * MAX_SENDS_PER_BATCH + 5
    lines = [
        f'{i}. search("q{i}")' if i <= 10 else f'{i}. search("q{i} after ${i - 10}")'
        for i in range(1, count + 1)
    ]
    model = scripted("\n".join(lines) + f"\n{count + 1}. join()", FINISH.format(answer="x"))
    graph = build(model, [log.search_tool()], eager=False)  # the scheduler sends them all
    task_node_runs = 0
    final: dict[str, Any] = {}
    async for mode, chunk in graph.astream(question(), stream_mode=["updates", "values"]):
        if mode == "updates":
            task_node_runs += "execute_task" in chunk
        else:
            final = chunk
    assert task_node_runs == MAX_SENDS_PER_BATCH
    assert len(log.calls) == count
    assert all(t["status"] == "done" for t in final["tasks"].values())
    assert final["tasks"][count]["resolved_args"]["query"].startswith(
        f"q{count} after result for q{count - 10}"
    )


@pytest.mark.parametrize("eager", [True, False])
@pytest.mark.parametrize("size", [3, 200])
async def test_no_batch_outlives_its_run(log: ToolLog, eager: bool, size: int) -> None:
    plan = "\n".join(f'{i}. search("q{i}")' for i in range(1, size + 1)) + f"\n{size + 1}. join()"
    graph = build(scripted(plan, FINISH.format(answer="x")), [log.search_tool()], eager=eager)
    registries = [o for o in gc.get_objects() if isinstance(o, Dispatches)]
    await graph.ainvoke(question())
    assert registries
    assert all(len(registry) == 0 for registry in registries)


def test_sync_call_from_inside_an_async_tool_fails_clearly_instead_of_deadlocking(log: ToolLog) -> None:
    inner = build(scripted(TWO_SEARCHES, FINISH.format(answer="inner")), [log.search_tool()])

    async def ask_inner(question_text: str) -> str:
        """Ask another agent synchronously (a mistake inside async code)."""
        return str(inner.invoke(question(question_text))["messages"][-1].content)

    model = scripted('1. ask_inner("q")\n2. join()', FINISH.format(answer="outer"))
    state = build(model, [ask_inner], task_timeout=5).invoke(question())
    assert state["messages"][-1].content == "outer"
    assert "use ainvoke/astream there" in (state["tasks"][1]["error"] or "")
