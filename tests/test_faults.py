"""Faults a tool or model can raise: observations or a clean error, never a hang or a lost run."""

from __future__ import annotations

import asyncio
import os
import pathlib
import re
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.tools import tool

from llmcompiler_graph import create_llmcompiler
from llmcompiler_graph.plan.parser import PlanLineError, parse_plan
from llmcompiler_graph.testing import ScriptedChatModel
from tests.conftest import FINISH, ToolLog, build, question, scripted

DONE = FINISH.format(answer="done")


class SilentFirstCall(ScriptedChatModel):
    """The first streamed call yields no chunk at all (a provider that sent nothing)."""

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        if self.calls == 0:
            self._take(messages, stop)
            return
        async for chunk in super()._astream(messages, stop, run_manager, **kwargs):
            yield chunk


class HangingJoiner(ScriptedChatModel):
    """Plans normally; the joiner's call never returns."""

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        if self.calls >= 1:
            await asyncio.sleep(3600)
        async for chunk in super()._astream(messages, stop, run_manager, **kwargs):
            yield chunk


class Fatal(BaseException):
    """A library's own BaseException subclass."""


@pytest.mark.parametrize(
    "error", [SystemExit(3), KeyboardInterrupt()], ids=["SystemExit", "KeyboardInterrupt"]
)
def test_sync_invoke_reraises_exit_and_interrupt_and_the_next_run_still_works(
    log: ToolLog, error: BaseException
) -> None:
    @tool
    def stop_everything(reason: str) -> str:
        """Stops."""
        raise error

    graph = build(scripted('1. stop_everything("now")\n2. join()', DONE), [stop_everything])
    with pytest.raises(type(error)):
        graph.invoke(question())
    again = build(scripted('1. search("x")\n2. join()', DONE), [log.search_tool()])
    assert again.invoke(question())["messages"][-1].content == "done"


@pytest.mark.parametrize(
    "error",
    [asyncio.CancelledError("inner timeout"), Fatal("library gave up")],
    ids=["CancelledError", "custom"],
)
async def test_a_tool_raising_a_base_exception_becomes_an_observation(error: BaseException) -> None:
    @tool
    async def fragile(query: str) -> str:
        """Fails oddly."""
        raise error

    state = await build(scripted('1. fragile("x")\n2. join()', DONE), [fragile]).ainvoke(question())
    assert state["messages"][-1].content == "done"
    assert state["tasks"][1]["status"] == "error"
    assert f"fragile raised {type(error).__name__}" in (state["tasks"][1]["error"] or "")


async def test_a_planner_stream_with_no_chunks_is_an_empty_plan() -> None:
    model = SilentFirstCall(responses=["", DONE])
    state = await build(model, [_echo]).ainvoke(question())
    assert state["messages"][-1].content == "done"
    assert any("returned no text" in issue for issue in state["plan_issues"])


@tool
def _echo(query: str) -> str:
    """Echo."""
    return query


async def test_run_timeout_bounds_a_joiner_call_that_never_returns(log: ToolLog) -> None:
    model = HangingJoiner(responses=['1. search("x")\n2. join()', DONE])
    graph = create_llmcompiler(model, [log.search_tool()], run_timeout=1.0).compile()
    started = time.monotonic()
    state = await asyncio.wait_for(graph.ainvoke(question()), 30)
    assert time.monotonic() - started < 10
    assert state["messages"][-1].content.startswith("I ran out of time (run_timeout)")


async def test_task_timeout_bounds_a_tool_that_swallows_cancellation() -> None:
    finished: list[bool] = []

    @tool
    async def stubborn(query: str) -> str:
        """Ignores cancellation for a while."""
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                continue
        finished.append(True)
        return "late"

    graph = create_llmcompiler(scripted('1. stubborn("x")\n2. join()', DONE), [stubborn], task_timeout=0.3)
    started = time.monotonic()
    state = await graph.compile().ainvoke(question())
    assert time.monotonic() - started < 2.5
    assert state["tasks"][1]["status"] == "error"
    assert "abandoned" in (state["tasks"][1]["error"] or "")
    assert finished == []


def test_an_id_with_too_many_digits_is_reported_not_dropped() -> None:
    items = parse_plan('1234567890. search("x")\n2. join()')
    assert isinstance(items[0], PlanLineError)
    assert "more than 9 digits" in items[0].message


async def test_the_end_marker_inside_a_string_does_not_end_the_plan(log: ToolLog) -> None:
    plan = '1. search("what does <END_OF_PLAN> mean")\n2. search("b")\n3. join()'
    model = ScriptedChatModel(responses=[plan, DONE], honour_stop=False)  # a provider would stop there
    await build(model, [log.search_tool()]).ainvoke(question())
    assert sorted(a["query"] for a in log.args_of("search")) == ["b", "what does <END_OF_PLAN> mean"]


async def test_a_huge_result_is_cut_in_state_and_prompt_saying_so() -> None:
    @tool
    def dump(query: str) -> str:
        """Returns a lot."""
        return "x" * 50_000

    model = scripted('1. dump("all")\n2. join()', DONE)
    graph = create_llmcompiler(model, [dump], max_result_chars=1_000).compile()
    state = await graph.ainvoke(question())
    result = state["tasks"][1]["result"]
    assert len(result) < 1_100 and result.endswith("[truncated: kept 1000 of 50000 characters]")
    assert len(str(model.prompts[1][-1].content)) < 5_000


async def test_a_reference_expanded_past_the_limit_is_not_called(log: ToolLog) -> None:
    big = log.search_tool(answer=lambda q: "y" * 10_000 if q == "big" else f"result for {q}")
    plan = '1. search("big")\n2. search("' + "$1 " * 50 + '")\n3. join()'
    state = await build(scripted(plan, DONE), [big], max_argument_chars=100_000).ainvoke(question())
    assert state["tasks"][2]["status"] == "error"
    assert "over max_argument_chars=100000" in (state["tasks"][2]["error"] or "")
    assert [a["query"] for a in log.args_of("search")] == ["big"]


async def test_a_sync_call_abandoned_at_its_timeout_is_joined_not_repeated_after_a_replan() -> None:
    ledger: list[int] = []

    @tool
    def transfer(amount: int) -> str:
        """Moves money (slowly)."""
        time.sleep(0.5)  # past the first wait (0.4 s), well within the joined second one
        ledger.append(amount)
        return f"moved {amount}"

    model = scripted(
        "1. transfer(100)\n2. join()",
        "Thought: it failed.\nAction: Replan(try the transfer again)",
        "3. transfer(100)\n4. join()",
        DONE,
    )
    graph = create_llmcompiler(model, [transfer], task_timeout=0.4).compile()
    state = await graph.ainvoke(question())
    assert "may still be running" in (state["tasks"][1]["error"] or "")
    assert state["tasks"][3]["status"] == "done" and state["tasks"][3]["result"] == "moved 100"
    await asyncio.sleep(0.5)  # anything still running would have landed by now
    assert ledger == [100]


class Receipt:
    """An SDK object msgpack cannot save."""

    def __repr__(self) -> str:
        return "Receipt(id=7)"


async def test_results_and_artifacts_no_checkpointer_can_save_do_not_break_the_run(tmp_path: Any) -> None:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    charges: list[int] = []

    @tool
    def charge(amount: int) -> Receipt:
        """Charge a card."""
        charges.append(amount)
        return Receipt()

    @tool(response_format="content_and_artifact")
    def charge_with_receipt(amount: int) -> tuple[str, Receipt]:
        """Charge a card, keeping the receipt."""
        charges.append(amount)
        return f"charged {amount}", Receipt()

    model = scripted("1. charge(5)\n2. charge_with_receipt(6)\n3. join()", DONE)
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "c.db")) as saver:
        graph = create_llmcompiler(model, [charge, charge_with_receipt]).compile(checkpointer=saver)
        state = await graph.ainvoke(question(), {"configurable": {"thread_id": "r"}})
    assert state["messages"][-1].content == "done"
    assert state["tasks"][1]["result"] == "Receipt(id=7)"
    assert state["tasks"][2]["artifact"] == "[not checkpointable, kept as text] Receipt(id=7)"
    assert sorted(charges) == [5, 6]


async def test_with_a_checkpointer_every_task_of_a_big_plan_is_saved_as_it_finishes(log: ToolLog) -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    plan = "\n".join(f'{i}. search("q{i}")' for i in range(1, 71)) + "\n71. join()"
    graph = create_llmcompiler(scripted(plan, DONE), [log.search_tool()]).compile(
        checkpointer=InMemorySaver()
    )
    writes = 0
    async for update in graph.astream(
        question(), {"configurable": {"thread_id": "big"}}, stream_mode="updates"
    ):
        if "execute_task" in update:
            writes += 1
            assert len(update["execute_task"]["tasks"]) == 1  # one task per write, none waits for another
    assert writes == 70


async def test_hung_sync_tools_do_not_starve_later_runs_of_threads() -> None:
    release = threading.Event()

    @tool
    def hang(n: int) -> str:
        """Never returns in time."""
        release.wait(10)
        return "late"

    @tool
    def quick(n: int) -> str:
        """Returns at once."""
        return f"quick {n}"

    try:
        plan = "\n".join(f"{i}. hang({i})" for i in range(1, 11)) + "\n11. join()"
        hung = create_llmcompiler(scripted(plan, DONE), [hang], task_timeout=0.2).compile()
        state = await hung.ainvoke(question())
        assert all("abandoned" in (t["error"] or "") for t in state["tasks"].values())
        later = create_llmcompiler(
            scripted("1. quick(1)\n2. join()", DONE), [quick], task_timeout=2
        ).compile()
        state = await later.ainvoke(question())
        assert state["tasks"][1]["result"] == "quick 1"
    finally:
        release.set()


HUNG_TOOL_SCRIPT = '''
import asyncio, sys, time
from langchain_core.tools import tool
from llmcompiler_graph import create_llmcompiler
from llmcompiler_graph.testing import ScriptedChatModel

@tool
def hang(n: int) -> str:
    """Blocks far longer than its timeout, then leaves a mark that it returned."""
    time.sleep(60)
    open(sys.argv[2], "w").close()
    return "late"

model = ScriptedChatModel(responses=["1. hang(1)\\n2. join()", "Action: Finish(gave up)"])
graph = create_llmcompiler(model, [hang], task_timeout=0.3).compile()
question = {"messages": [("user", "go")]}
state = asyncio.run(graph.ainvoke(question)) if sys.argv[1] == "async" else graph.invoke(question)
print(state["messages"][-1].content, flush=True)
'''


@pytest.mark.integration
@pytest.mark.parametrize("api", ["async", "sync"])
def test_a_hung_sync_tool_does_not_keep_the_process_alive_after_the_answer(api: str, tmp_path: Any) -> None:
    script = tmp_path / "hung.py"
    script.write_text(HUNG_TOOL_SCRIPT)
    returned = tmp_path / "the hung call returned"
    root = str(pathlib.Path(__file__).resolve().parent.parent)
    done = subprocess.run(
        [sys.executable, str(script), api, str(returned)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": root},
    )
    assert done.stdout.strip() == "gave up", done.stderr[-2000:]
    # Had exit waited for the hung thread, the call would have returned (after 60 s) first.
    assert not returned.exists(), "the process stayed alive until the hung tool call returned"


QUESTION_WORDS = ("first", "second", "third", "a", "b", "c", "x", "y", "z", "w")


def _answers_its_question(messages: Any) -> str:
    """Answers with the word of the latest question the prompt shows (`first?` -> `first`)."""
    text = "\n".join(str(m.content) for m in messages)

    def last_asked(word: str) -> int:
        return max((m.start() for m in re.finditer(rf"\b{word}\?", text)), default=-1)

    return FINISH.format(answer=max(QUESTION_WORDS, key=last_asked))


def _agents_model(runs: int) -> tuple[ScriptedChatModel, ScriptedChatModel]:
    """A planner and a joiner for `runs` concurrent runs: each answers its own question."""
    return scripted(*['1. search("q")\n2. join()'] * runs), scripted(*[_answers_its_question] * runs)


def _slow_agent(log: ToolLog, runs: int, latency: float = 0.3, checkpointed: bool = True) -> Any:
    from langgraph.checkpoint.memory import InMemorySaver

    planner, joiner = _agents_model(runs)
    builder = create_llmcompiler(planner, [log.search_tool(latency=latency)], joiner_model=joiner)
    return builder.compile(checkpointer=InMemorySaver() if checkpointed else None)


async def test_a_second_run_on_a_busy_thread_is_refused_and_the_first_is_kept(log: ToolLog) -> None:
    from llmcompiler_graph import ThreadBusyError

    graph = _slow_agent(log, 2)
    thread = {"configurable": {"thread_id": "busy"}}
    first = asyncio.ensure_future(graph.ainvoke(question("first?"), thread))
    await asyncio.sleep(0.05)
    with pytest.raises(ThreadBusyError, match="thread 'busy' already has a run in progress"):
        await graph.ainvoke(question("second?"), thread)
    assert (await first)["messages"][-1].content == "first"
    other = await graph.ainvoke(question("third?"), thread)  # the thread is free again
    asked = [m.content for m in other["messages"] if m.type == "human"]
    assert asked == ["first?", "third?"]  # nothing lost, nothing overwritten
    assert other["messages"][-1].content == "third"


def test_a_second_sync_run_on_a_busy_thread_is_refused_but_other_threads_run(log: ToolLog) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from llmcompiler_graph import ThreadBusyError

    graph = _slow_agent(log, 2)
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(graph.invoke, question("a?"), {"configurable": {"thread_id": "t1"}})
        time.sleep(0.05)
        second = pool.submit(graph.invoke, question("b?"), {"configurable": {"thread_id": "t1"}})
        other = pool.submit(graph.invoke, question("c?"), {"configurable": {"thread_id": "t2"}})
        with pytest.raises(ThreadBusyError):
            second.result(10)
        answers = {first.result(10)["messages"][-1].content, other.result(10)["messages"][-1].content}
    assert answers == {"a", "c"}


async def test_runs_without_a_thread_or_nested_in_a_parent_run_are_not_refused(log: ToolLog) -> None:
    from langgraph.graph import START, StateGraph
    from typing_extensions import TypedDict

    plain = _slow_agent(log, 2, latency=0.1, checkpointed=False)  # no checkpointer: no thread
    both = await asyncio.gather(plain.ainvoke(question("x?")), plain.ainvoke(question("y?")))
    assert sorted(s["messages"][-1].content for s in both) == ["x", "y"]

    graph = _slow_agent(log, 2, latency=0.1)

    class Parent(TypedDict):
        answers: list[str]

    async def ask_twice(state: Parent) -> dict[str, Any]:
        results = await asyncio.gather(graph.ainvoke(question("z?")), graph.ainvoke(question("w?")))
        return {"answers": sorted(r["messages"][-1].content for r in results)}

    from langgraph.checkpoint.memory import InMemorySaver

    parent = StateGraph(Parent)
    parent.add_node("ask_twice", ask_twice)
    parent.add_edge(START, "ask_twice")
    compiled = parent.compile(checkpointer=InMemorySaver())
    done = await compiled.ainvoke({"answers": []}, {"configurable": {"thread_id": "parent"}})
    assert done["answers"] == ["w", "z"]


def test_a_sync_run_saves_a_finished_call_while_more_task_nodes_wait_than_threads() -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    slow_returned = threading.Event()
    fast_saved_first: list[bool] = []

    @tool
    def lookup(query: str) -> str:
        """Quick for 'fast', a second otherwise."""
        time.sleep(0.01 if query == "fast" else 1.0)
        if query != "fast":
            slow_returned.set()
        return f"found {query}"

    class Watching(InMemorySaver):
        def put_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
            if not fast_saved_first and any("found fast" in str(value) for _, value in writes):
                fast_saved_first.append(not slow_returned.is_set())
            super().put_writes(config, writes, task_id, task_path)

    plan = (
        '1. lookup("fast")\n' + "\n".join(f'{i}. lookup("slow {i}")' for i in range(2, 15)) + "\n15. join()"
    )
    graph = create_llmcompiler(scripted(plan, DONE), [lookup], eager=False).compile(checkpointer=Watching())
    state = graph.invoke(question(), {"configurable": {"thread_id": "many"}})
    assert all(task["status"] == "done" for task in state["tasks"].values())
    # 14 task nodes on a 2-core machine's 6 default threads: the fast result used to be
    # saved only once slow nodes had returned and freed threads.
    assert fast_saved_first == [True]
