"""Plans as native tool calls (`plan_format="tools"`): create_agent's turns, plus `$N` between calls."""

from __future__ import annotations

import asyncio
import time
import warnings
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, ToolCall, ToolMessage

from llmcompiler_graph import create_agent, create_llmcompiler
from llmcompiler_graph.plan.native import reference_tool_schemas
from llmcompiler_graph.testing import ScriptedChatModel
from tests.conftest import question

HEIGHTS = {"Everest": "8849", "K2": "8611"}


def calls(*specs: tuple[str, dict[str, Any], str]) -> AIMessage:
    """A model turn that calls tools: (name, args, id) each."""
    return AIMessage("", tool_calls=[ToolCall(name=n, args=a, id=i, type="tool_call") for n, a, i in specs])


def tools(started: dict[str, float] | None = None, latency: float = 0.0) -> list[Any]:
    async def search(query: str) -> str:
        """Look a mountain's height up, in metres."""
        if started is not None:
            started[query] = time.time()
        await asyncio.sleep(latency)
        return HEIGHTS[query]

    def subtract(a: int, b: int) -> int:
        """Subtract b from a."""
        return a - b

    return [search, subtract]


def transcript(messages: list[Any]) -> list[tuple[Any, ...]]:
    """What a conversation says, message by message (type, text, calls with ids, call id)."""
    return [
        (
            m.type,
            m.content,
            [(c["name"], c["args"], c["id"]) for c in getattr(m, "tool_calls", None) or []],
            getattr(m, "tool_call_id", None),
        )
        for m in messages
    ]


async def test_a_turn_of_tool_calls_is_a_plan_whose_references_get_results() -> None:
    turn = calls(
        ("search", {"query": "Everest"}, "call_e"),
        ("search", {"query": "K2"}, "call_k"),
        ("subtract", {"a": "$1", "b": "$2"}, "call_d"),
    )
    model = ScriptedChatModel(responses=[turn, "Everest is 238 m taller."])
    graph = create_llmcompiler(model, tools(), plan_format="tools").compile()
    state = await graph.ainvoke(question("How much taller is Everest than K2?"))
    assert model.calls == 2  # the planner's turn and the joiner's, as create_agent's two
    assert state["tasks"][3]["resolved_args"] == {"a": 8849, "b": 8611}
    assert transcript(state["messages"]) == [
        ("human", "How much taller is Everest than K2?", [], None),
        (
            "ai",
            "",
            [
                ("search", {"query": "Everest"}, "call_e"),
                ("search", {"query": "K2"}, "call_k"),
                ("subtract", {"a": "$1", "b": "$2"}, "call_d"),
            ],
            None,
        ),
        ("tool", "8849", [], "call_e"),
        ("tool", "8611", [], "call_k"),
        ("tool", "238", [], "call_d"),
        ("ai", "Everest is 238 m taller.", [], None),
    ]
    joiner_prompt = model.prompts[1]
    assert [m.type for m in joiner_prompt] == ["system", "human", "ai", "tool", "tool", "tool"]


async def test_a_call_starts_while_the_turn_still_streams() -> None:
    started: dict[str, float] = {}
    turn = calls(("search", {"query": "Everest"}, "call_e"), ("search", {"query": "K2"}, "call_k"))
    model = ScriptedChatModel(responses=[turn, "done"], token_delay=0.02)
    graph = create_llmcompiler(model, tools(started), plan_format="tools").compile()
    await graph.ainvoke(question())
    last_planner_chunk = max(t for call, t in model.token_times if call == 0)
    assert started["Everest"] < last_planner_chunk  # before the model finished writing the turn


async def test_tool_calls_in_the_joiners_turn_are_the_next_plan_without_another_model_call() -> None:
    first = calls(("search", {"query": "Everest"}, "call_e"))
    second = calls(("search", {"query": "K2"}, "call_k"), ("subtract", {"a": "call_e", "b": "$1"}, "call_d"))
    model = ScriptedChatModel(responses=[first, second, "238 m"])
    graph = create_llmcompiler(model, tools(), plan_format="tools", max_replans=1).compile()
    state = await graph.ainvoke(question())
    assert model.calls == 3  # plan, next turn (its calls are the replan), answer
    assert state["tasks"][3]["resolved_args"] == {"a": 8849, "b": 8611}  # by id across turns, $1 in turn
    assert [m.type for m in state["messages"]] == ["human", "ai", "tool", "ai", "tool", "tool", "ai"]
    assert state["messages"][-1].content == "238 m"


async def test_a_turn_without_tool_calls_is_the_answer() -> None:
    model = ScriptedChatModel(responses=["Hello! How can I help?"])
    graph = create_llmcompiler(model, tools(), plan_format="tools").compile()
    state = await graph.ainvoke(question("hi"))
    assert model.calls == 1
    assert state["messages"][-1].content == "Hello! How can I help?"
    assert state["tasks"] == {} and state["plan_issues"] == []


async def test_without_references_the_turns_and_messages_are_create_agents() -> None:
    from langchain.agents import create_agent as langchain_create_agent

    def script() -> ScriptedChatModel:
        turn = calls(("search", {"query": "Everest"}, "call_e"), ("search", {"query": "K2"}, "call_k"))
        return ScriptedChatModel(responses=[turn, "Everest: 8849 m, K2: 8611 m."])

    ours, theirs = script(), script()
    mine = await create_agent(ours, tools(), plan_format="tools").ainvoke(question("Heights?"))
    reference = await langchain_create_agent(theirs, tools()).ainvoke(question("Heights?"))
    assert transcript(mine["messages"]) == transcript(reference["messages"])
    assert ours.calls == theirs.calls == 2
    assert [[m.type for m in p] for p in ours.prompts][1][1:] == [m.type for m in theirs.prompts[1]]


async def test_spent_replans_end_with_an_answer() -> None:
    first = calls(("search", {"query": "Everest"}, "call_e"))
    again = calls(("search", {"query": "K2"}, "call_k"))
    model = ScriptedChatModel(responses=[first, again])
    graph = create_llmcompiler(model, tools(), plan_format="tools", max_replans=0).compile()
    state = await graph.ainvoke(question())
    assert model.calls == 2 and len(state["tasks"]) == 1
    assert state["messages"][-1].content.startswith("I could not find a complete answer after 0 replans")


async def test_a_call_of_an_unknown_tool_or_bad_arguments_is_an_observation() -> None:
    turn = calls(("lookup", {"query": "Everest"}, "call_x"), ("subtract", {"a": "many", "b": 1}, "call_y"))
    model = ScriptedChatModel(responses=[turn, "I could not compute it."])
    state = await create_llmcompiler(model, tools(), plan_format="tools").compile().ainvoke(question())
    results = {m.tool_call_id: m for m in state["messages"] if isinstance(m, ToolMessage)}
    assert results["call_x"].status == "error" and "unknown tool 'lookup'" in str(results["call_x"].content)
    assert results["call_y"].status == "error" and "invalid arguments for subtract" in str(
        results["call_y"].content
    )
    assert state["messages"][-1].content == "I could not compute it."


def test_every_typed_parameter_of_a_bound_tool_also_accepts_a_reference() -> None:
    search, subtract = tools()
    from llmcompiler_graph.plan.tool_schemas import normalize_tools

    schemas = {
        s["function"]["name"]: s["function"]["parameters"]
        for s in reference_tool_schemas(list(normalize_tools([search, subtract]).values()))
    }
    assert schemas["search"]["properties"]["query"]["type"] == "string"  # a string takes "$1" as it is
    a = schemas["subtract"]["properties"]["a"]
    assert [o["type"] for o in a["anyOf"]] == ["integer", "string"]
    assert schemas["subtract"]["required"] == ["a", "b"]


def test_a_model_that_cannot_call_tools_is_refused_at_build_time() -> None:
    model = GenericFakeChatModel(messages=iter([AIMessage("x")]))
    with pytest.raises(ValueError, match="plan_format='text'"):
        create_llmcompiler(model, tools(), plan_format="tools")


async def test_auto_chooses_native_plans_for_a_model_that_calls_tools_and_text_for_one_that_does_not() -> (
    None
):
    from llmcompiler_graph.plan.native import choose_plan_format

    turn = calls(("search", {"query": "K2"}, "call_k"))
    native = ScriptedChatModel(responses=[turn, "8611 m"])
    state = await create_llmcompiler(native, tools()).compile().ainvoke(question())  # plan_format="auto"
    assert [m.type for m in state["messages"]] == ["human", "ai", "tool", "ai"]
    assert native.prompts[0][0].content.startswith("Call every tool the question needs")
    from llmcompiler_graph.plan.tool_schemas import normalize_tools

    bound = list(normalize_tools(tools()).values())
    assert choose_plan_format(GenericFakeChatModel(messages=iter([])), "auto", bound) == "text"
    assert choose_plan_format(ScriptedChatModel(responses=["x"], tool_calling=True), "auto", bound) == "tools"
    assert choose_plan_format(ScriptedChatModel(responses=["1. search('x')"]), "auto", bound) == "text"


async def test_the_messages_stream_is_create_agents_token_for_token() -> None:
    from langchain.agents import create_agent as langchain_create_agent

    def script() -> ScriptedChatModel:
        turn = calls(("search", {"query": "Everest"}, "call_e"), ("search", {"query": "K2"}, "call_k"))
        return ScriptedChatModel(responses=[turn, "Everest 8849, K2 8611."])

    async def streamed(agent: Any) -> list[tuple[Any, ...]]:
        seen = []
        async for message, _ in agent.astream(question("Heights?"), stream_mode="messages"):
            names = [c.get("name") for c in getattr(message, "tool_call_chunks", None) or []]
            seen.append((message.type, message.content, names))
        return seen

    mine = await streamed(create_agent(script(), tools()))
    reference = await streamed(langchain_create_agent(script(), tools()))
    assert mine == reference
    assert (
        "".join(str(content) for kind, content, _ in mine if kind == "AIMessageChunk")
        == "Everest 8849, K2 8611."
    )


async def test_each_turn_and_the_tool_results_arrive_as_message_updates() -> None:
    turn = calls(("search", {"query": "Everest"}, "call_e"), ("search", {"query": "K2"}, "call_k"))
    agent = create_agent(ScriptedChatModel(responses=[turn, "done"]), tools())
    updates = [
        (node, [m.type for m in update.get("messages", [])])
        async for chunk in agent.astream(question(), stream_mode="updates")
        for node, update in chunk.items()
    ]
    assert updates == [("planner", ["ai"]), ("scheduler", ["tool", "tool"]), ("joiner", ["ai"])]


@pytest.mark.parametrize("no_tools", [[], None])
async def test_an_agent_without_tools_answers_with_the_models_turn(no_tools: Any) -> None:
    model = ScriptedChatModel(responses=["Paris."])
    agent = create_agent(model, no_tools, system_prompt="Be brief.")
    state = await agent.ainvoke(question("Capital of France?"))
    assert [m.type for m in state["messages"]] == ["human", "ai"] and state["messages"][
        -1
    ].content == "Paris."
    assert [m.type for m in model.prompts[0]] == ["system", "human"] and model.calls == 1


async def test_a_model_that_does_not_stream_plans_natively_too() -> None:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.outputs import ChatGeneration, ChatResult

    replies = iter([calls(("search", {"query": "K2"}, "call_k")), AIMessage("8611 m")])

    class Whole(BaseChatModel):
        """Answers in one piece (no _stream), and calls tools."""

        @property
        def _llm_type(self) -> str:
            return "whole"

        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
            return self

        def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
            return ChatResult(generations=[ChatGeneration(message=next(replies))])

    state = await create_agent(Whole(), tools()).ainvoke(question())
    assert [m.type for m in state["messages"]] == ["human", "ai", "tool", "ai"]
    assert state["messages"][2].content == "8611" and state["messages"][-1].content == "8611 m"


async def test_model_middleware_wraps_every_turn_of_a_native_plan() -> None:
    from langchain.agents.middleware import dynamic_prompt, wrap_model_call

    seen: list[int] = []

    @dynamic_prompt
    def persona(request: Any) -> str:
        seen.append(len(request.messages))
        return "You are a terse geographer."

    @wrap_model_call
    async def emulate_first(request: Any, handler: Any) -> Any:
        if len(request.messages) == 1:  # the first turn: answered here, the model is not asked
            return calls(("search", {"query": "K2"}, "call_k"))
        return await handler(request)

    model = ScriptedChatModel(responses=["K2 is 8611 m."], tool_calling=True)
    agent = create_agent(model, tools(), middleware=[persona, emulate_first])
    state = await agent.ainvoke(question())
    assert [m.type for m in state["messages"]] == ["human", "ai", "tool", "ai"]
    assert state["messages"][2].content == "8611"
    assert model.calls == 1 and model.prompts[0][0].content == "You are a terse geographer."
    assert seen == [1, 3]  # both turns went through the hooks


def test_model_middleware_with_text_plans_is_refused_at_build_time() -> None:
    from langchain.agents.middleware import dynamic_prompt

    @dynamic_prompt
    def persona(request: Any) -> str:
        return "terse"

    with pytest.raises(ValueError, match="wraps model turns of native plans"):
        create_agent(ScriptedChatModel(responses=["1. search('x')"]), tools(), middleware=[persona])


async def test_calls_a_limit_drops_leave_the_conversation_so_every_call_has_its_result() -> None:
    first = calls(("search", {"query": "Everest"}, "call_e"), ("search", {"query": "K2"}, "call_k"))
    again = calls(("search", {"query": "K2"}, "call_k2"), ("search", {"query": "Everest"}, "call_e2"))
    model = ScriptedChatModel(responses=[first, again, "done"])
    graph = create_llmcompiler(model, tools(), max_tasks_per_plan=1, max_replans=1).compile()
    state = await graph.ainvoke(question())
    made = [c["id"] for m in state["messages"] if isinstance(m, AIMessage) for c in m.tool_calls]
    answered = [m.tool_call_id for m in state["messages"] if isinstance(m, ToolMessage)]
    assert made == answered == ["call_e", "call_k2"]
    assert any("max_tasks_per_plan=1" in issue for issue in state["plan_issues"])


def test_tool_call_projection_and_agent_name_as_create_agent_gives_them() -> None:
    turn = calls(("search", {"query": "Everest"}, "call_e"), ("search", {"query": "K2"}, "call_k"))
    agent = create_agent(ScriptedChatModel(responses=[turn, "done", turn, "done"]), tools(), name="mountains")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LangGraph's v3 stream is experimental and says so
        run = agent.stream_events(question(), version="v3")
        projected = [(call.tool_name, call.tool_call_id, call.input) for call in run.tool_calls]
    assert projected == [("search", "call_e", {"query": "Everest"}), ("search", "call_k", {"query": "K2"})]
    names = {meta.get("lc_agent_name") for _, meta in agent.stream(question(), stream_mode="messages")}
    assert names == {"mountains"}


async def test_a_joiner_turn_through_model_middleware_is_bounded_by_run_timeout() -> None:
    from langchain.agents.middleware import wrap_model_call

    @wrap_model_call
    async def slow_second_turn(request: Any, handler: Any) -> Any:
        if len(request.messages) > 1:  # the joiner's turn: hangs far past the deadline
            await asyncio.sleep(30)
        return await handler(request)

    turn = calls(("search", {"query": "K2"}, "call_k"))
    model = ScriptedChatModel(responses=[turn, "never"], tool_calling=True)
    agent = create_agent(model, tools(), middleware=[slow_second_turn], run_timeout=0.2)
    state = await agent.ainvoke(question())  # unbounded, it would wait out the hook and say "never"
    assert state["messages"][-1].content.startswith("I ran out of time (run_timeout)")
