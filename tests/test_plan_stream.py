"""The planner's model run ends the way the model ends it: `stop`, `on_llm_end`, usage counted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk, LLMResult

from llmcompiler_bench.datasets import load_dataset
from llmcompiler_bench.runner import BenchSettings, make_system, run_benchmark
from llmcompiler_bench.usage import UsageTracker
from llmcompiler_graph.graph.answer_stream import ANSWER_TAG
from llmcompiler_graph.plan.parser import END_OF_PLAN
from llmcompiler_graph.testing import ScriptedChatModel
from llmcompiler_graph.tools import LocalSearchIndex, make_math_tool
from tests.conftest import FINISH, ToolLog, build, question

PLAN = '1. search("Everest")\n2. search("K2")\n3. join()<END_OF_PLAN>'
PLANNER_USAGE = {"input_tokens": 1000, "output_tokens": 20, "total_tokens": 1020}


def usage_at_the_end(responses: list[str], **options: Any) -> ScriptedChatModel:
    """A model that reports usage like OpenAI with `stream_usage=True`: in a last, empty chunk."""
    return ScriptedChatModel(responses=responses, usage=PLANNER_USAGE, **options)


class StopRefusingModel(ScriptedChatModel):
    """A provider that rejects the `stop` parameter (as some reasoning models do)."""

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        if stop:
            msg = "Unsupported parameter: 'stop' is not supported with this model."
            raise ValueError(msg)
        async for chunk in super()._astream(messages, stop, run_manager, **kwargs):
            yield chunk


class RunLog(BaseCallbackHandler):
    """Which model runs ended, which failed, and the usage each reported."""

    def __init__(self) -> None:
        self.ended: list[UUID] = []
        self.errors: list[BaseException] = []
        self.usage: list[Any] = []
        self.relays: set[UUID] = set()

    def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: UUID, **kwargs: Any) -> None:
        if ANSWER_TAG in (kwargs.get("tags") or []):
            self.relays.add(run_id)  # the answer relayed for stream_mode="messages", not a model call

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        if run_id in self.relays:
            return
        self.ended.append(run_id)
        message = getattr(response.generations[0][0], "message", None)
        self.usage.append(getattr(message, "usage_metadata", None))

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self.errors.append(error)


async def test_the_planner_passes_its_end_marker_as_a_stop_sequence(log: ToolLog) -> None:
    model = ScriptedChatModel(responses=[PLAN, FINISH.format(answer="done")])
    state = await build(model, [log.search_tool()]).ainvoke(question())
    assert state["messages"][-1].content == "done"
    assert model.stops[0] == [END_OF_PLAN]
    assert [a["query"] for a in log.args_of("search")] == ["Everest", "K2"]


async def test_a_planner_run_ends_cleanly_and_its_last_chunk_usage_is_counted(log: ToolLog) -> None:
    model = usage_at_the_end([PLAN, FINISH.format(answer="done")])
    runs, tracker = RunLog(), UsageTracker()
    state = await build(model, [log.search_tool()]).ainvoke(question(), {"callbacks": [runs, tracker]})
    assert state["messages"][-1].content == "done"
    assert runs.errors == []
    assert len(runs.ended) == 2  # planner and joiner
    assert runs.usage[0]["input_tokens"] == PLANNER_USAGE["input_tokens"]
    assert (tracker.calls, tracker.input_tokens, tracker.estimated) == (2, 2000, False)


async def test_a_model_that_ignores_stop_is_read_to_its_end_without_an_error(log: ToolLog) -> None:
    rambling = PLAN + "\nThought: and now another plan\n1. search(nonsense)\n2. join()<END_OF_PLAN>"
    model = usage_at_the_end([rambling, FINISH.format(answer="done")], honour_stop=False)
    runs = RunLog()
    state = await build(model, [log.search_tool()]).ainvoke(question(), {"callbacks": [runs]})
    assert state["messages"][-1].content == "done"
    assert [a["query"] for a in log.args_of("search")] == ["Everest", "K2"]
    assert runs.errors == [] and len(runs.ended) == 2
    assert runs.usage[0]["output_tokens"] == PLANNER_USAGE["output_tokens"]


async def test_a_provider_that_refuses_stop_plans_without_it(log: ToolLog) -> None:
    model = StopRefusingModel(
        responses=[PLAN, FINISH.format(answer="done"), PLAN, FINISH.format(answer="again")]
    )
    graph = build(model, [log.search_tool()])
    assert (await graph.ainvoke(question()))["messages"][-1].content == "done"
    assert (await graph.ainvoke(question()))["messages"][-1].content == "again"
    assert [a["query"] for a in log.args_of("search")] == ["Everest", "K2"] * 2
    assert model.stops[0] is None  # the refused call never reached the script


async def test_bench_counts_the_planner_tokens_a_provider_reports_at_the_end(tmp_path: Path) -> None:
    model = usage_at_the_end(
        [
            '1. search("Mount Everest")\n2. search("K2")\n'
            '3. math("$1 - $2", ["$1", "$2"])\n4. join()<END_OF_PLAN>',
            "Expression: 8849 - 8611",
            "Thought: known.\nAction: Finish(238 m)",
        ]
    )
    tools = [LocalSearchIndex.demo().as_tool(sentences=1), make_math_tool(model)]
    run = make_system("llmcompiler", "demo", model, tools)
    settings = BenchSettings(dataset="demo", system="llmcompiler", model="m", output=tmp_path / "r.jsonl")
    row = (await run_benchmark(settings, run, questions=load_dataset("demo", 1)))[0]
    assert (row["llm_calls"], row["tokens_estimated"]) == (3, False)
    assert (row["input_tokens"], row["output_tokens"]) == (3000, 60)


def test_stop_is_passed_only_to_what_forwards_it_to_a_model() -> None:
    from langchain.chat_models import init_chat_model
    from langchain_core.runnables import RunnableLambda

    from llmcompiler_graph.plan.stream import accepts_stop

    assert accepts_stop(ScriptedChatModel().bind_tools([]))
    assert accepts_stop(ScriptedChatModel().bind(temperature=0))
    assert accepts_stop(init_chat_model(configurable_fields="any"))
    assert not accepts_stop(RunnableLambda(lambda messages: "1. join()"))
