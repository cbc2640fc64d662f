"""Swapping `langchain.agents.create_agent` for `llmcompiler_graph.create_agent` keeps an app working.

Each "works" row of docs/api.md's compatibility table names one test here;
tests/test_docs.py checks that the table and the tests agree.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, NotRequired

import pytest
from langchain.agents import AgentState
from langchain.agents.middleware import AgentMiddleware
from langchain.tools import ToolRuntime
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import InjectedToolCallId, tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import InjectedState
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command
from pydantic import BaseModel

from llmcompiler_graph import ANSWER_TAG, create_agent, create_llmcompiler
from llmcompiler_graph.testing import ScriptedChatModel
from tests.conftest import FINISH, ToolLog, question, scripted

PLAN = '1. search("Everest")\n2. search("K2")\n3. join()<END_OF_PLAN>'
ANSWER = FINISH.format(answer="Everest is taller, by 238 m")
USAGE = {"input_tokens": 100, "output_tokens": 10, "total_tokens": 110}


class StructuringModel(ScriptedChatModel):
    """Structured output the way a JSON-mode model gives it: the next scripted reply, parsed."""

    def with_structured_output(self, schema: Any, **kwargs: Any) -> Any:
        return self | RunnableLambda(lambda message: schema(**json.loads(message.content)))


def answers(state: dict[str, Any]) -> list[str]:
    return [m.content for m in state["messages"] if m.type == "ai" and not m.tool_calls]


# --------------------------------------------------------------------------- the factory


async def test_create_agent_returns_a_compiled_graph(log: ToolLog) -> None:
    agent = create_agent(scripted(PLAN, ANSWER), [log.search_tool()])
    state = await agent.ainvoke(question())
    assert state["messages"][-1].content == "Everest is taller, by 238 m"
    assert agent.get_graph().nodes.keys() >= {"planner", "scheduler", "execute_task", "joiner"}
    assert sorted(a["query"] for a in log.args_of("search")) == ["Everest", "K2"]


async def test_system_prompt_reaches_planner_and_joiner(log: ToolLog) -> None:
    model = scripted(PLAN, ANSWER)
    await create_agent(model, [log.search_tool()], system_prompt="Answer like a pirate.").ainvoke(question())
    planner_system, joiner_system = (str(p[0].content) for p in model.prompts)
    assert "Answer like a pirate." in planner_system and "Answer like a pirate." in joiner_system
    assert "search(query: str)" in planner_system  # the planner's own instructions stay


async def test_name_is_set_on_the_messages_it_adds(log: ToolLog) -> None:
    state = await create_agent(scripted(PLAN, ANSWER), [log.search_tool()], name="mountains").ainvoke(
        question()
    )
    added = [m for m in state["messages"] if m.type == "ai"]
    assert [m.name for m in added] == ["mountains", "mountains"]


async def test_checkpointer_and_store(log: ToolLog) -> None:
    saver, store = InMemorySaver(), InMemoryStore()
    agent = create_agent(
        scripted(PLAN, ANSWER, PLAN, FINISH.format(answer="again")),
        [log.search_tool()],
        checkpointer=saver,
        store=store,
    )
    thread = {"configurable": {"thread_id": "t"}}
    await agent.ainvoke(question("first"), thread)
    state = await agent.ainvoke(question("second"), thread)
    assert answers(state) == ["Everest is taller, by 238 m", "again"]
    assert agent.store is store


@dataclass
class Context:
    user: str


async def test_context_schema_reaches_tools_through_tool_runtime() -> None:
    @tool
    def greet(greeting: str, runtime: ToolRuntime[Context]) -> str:
        """Greet the user."""
        return f"{greeting}, {runtime.context.user}"

    agent = create_agent(scripted('1. greet("hi")\n2. join()', ANSWER), [greet], context_schema=Context)
    state = await agent.ainvoke(question(), context=Context(user="ada"))
    assert state["tasks"][1]["result"] == "hi, ada"


class Heights(BaseModel):
    taller: str
    difference_m: int


async def test_response_format_gives_a_structured_response(log: ToolLog) -> None:
    model = StructuringModel(responses=[PLAN, ANSWER, '{"taller": "Everest", "difference_m": 238}'])
    state = await create_agent(model, [log.search_tool()], response_format=Heights).ainvoke(question())
    assert state["structured_response"] == Heights(taller="Everest", difference_m=238)
    assert "Everest is taller, by 238 m" in str(model.prompts[2][-1].content)


async def test_a_tool_strategy_retries_an_invalid_structure_with_the_error(log: ToolLog) -> None:
    from langchain.agents.structured_output import ToolStrategy

    bad, good = '{"taller": "Everest", "difference_m": "very"}', '{"taller": "Everest", "difference_m": 238}'
    model = StructuringModel(responses=[PLAN, ANSWER, bad, good])
    agent = create_agent(model, [log.search_tool()], response_format=ToolStrategy(Heights))
    state = await agent.ainvoke(question())
    assert state["structured_response"] == Heights(taller="Everest", difference_m=238)
    assert "That structure was not valid" in str(model.prompts[3][-1].content)  # the model saw why


async def test_a_plain_schema_or_handle_errors_false_raises_on_an_invalid_structure(log: ToolLog) -> None:
    from langchain.agents.structured_output import ToolStrategy
    from pydantic import ValidationError

    for response_format in (Heights, ToolStrategy(Heights, handle_errors=False)):
        model = StructuringModel(responses=[PLAN, ANSWER, '{"taller": "Everest", "difference_m": "very"}'])
        with pytest.raises(ValidationError):
            await create_agent(model, [log.search_tool()], response_format=response_format).ainvoke(
                question()
            )


def test_a_union_of_response_schemas_is_refused_at_build_time(log: ToolLog) -> None:
    from langchain.agents.structured_output import ToolStrategy

    class Other(BaseModel):
        note: str

    with pytest.raises(ValueError, match=r"union of schemas .* Pass one schema"):
        create_agent(
            StructuringModel(responses=[]), [log.search_tool()], response_format=ToolStrategy(Heights | Other)
        )


async def test_middleware_wrap_tool_call(log: ToolLog) -> None:
    calls: list[str] = []

    class Audit(AgentMiddleware):  # type: ignore[type-arg]
        def wrap_tool_call(self, request: Any, handler: Any) -> Any:
            calls.append(request.tool_call["args"]["query"])
            return handler(request)

    class Retry(AgentMiddleware):  # type: ignore[type-arg]
        async def awrap_tool_call(self, request: Any, handler: Any) -> Any:
            try:  # sees the tool's exception, as under create_agent
                return await handler(request)
            except RuntimeError:
                return await handler(request)

    attempts: list[int] = []

    @tool
    def flaky(query: str) -> str:
        """Fails the first time."""
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("busy")
        return f"ok {query}"

    agent = create_agent(scripted('1. flaky("x")\n2. join()', ANSWER), [flaky], middleware=[Audit(), Retry()])
    state = await agent.ainvoke(question())
    assert calls == ["x"]
    assert state["tasks"][1]["result"] == "ok x"


def test_model_loop_middleware_is_refused_at_build_time(log: ToolLog) -> None:
    class Trim(AgentMiddleware):  # type: ignore[type-arg]
        def before_model(self, state: Any, runtime: Any) -> None:
            return None

    with pytest.raises(ValueError, match="Trim uses before_model"):
        create_agent(scripted(PLAN, ANSWER), [log.search_tool()], middleware=[Trim()])


class TierState(AgentState):  # type: ignore[type-arg]
    """What a create_agent user already has: LangChain's AgentState with a key of their own."""

    user_tier: NotRequired[str]


async def test_an_agent_state_subclass_as_state_schema_keeps_its_keys_and_the_tool_results() -> None:
    seen: list[str] = []

    @tool
    def charge(amount: int, state: Annotated[dict[str, Any], InjectedState]) -> str:
        """Charge the card."""
        seen.append(state.get("user_tier", "?"))
        return f"charged {amount}, receipt R-1"

    model = scripted("1. charge(5)\n2. join()<END_OF_PLAN>", FINISH.format(answer="done"))
    agent = create_agent(model, [charge], state_schema=TierState)
    state = await agent.ainvoke({"messages": [("user", "charge 5")], "user_tier": "gold"})
    assert state["messages"][-1].content == "done" and state["user_tier"] == "gold"
    assert seen == ["gold"]  # the tool ran once and saw the user's key
    assert "charged 5, receipt R-1" in str(model.prompts[-1])  # the joiner saw the result
    assert [m.content for m in state["messages"] if m.type == "tool"] == ["charged 5, receipt R-1"]


def test_middleware_tools_and_state_schema_join_the_agent() -> None:
    @tool
    def lookup(key: str) -> str:
        """Look a key up."""
        return f"value of {key}"

    class AuditState(AgentState):  # type: ignore[type-arg]
        audit_log: NotRequired[list[str]]

    class Lookups(AgentMiddleware):  # type: ignore[type-arg]
        def __init__(self) -> None:
            super().__init__()
            self.state_schema = AuditState  # type: ignore[assignment]
            self.tools = [lookup]

    model = scripted('1. lookup("a")\n2. join()<END_OF_PLAN>', FINISH.format(answer="found"))
    agent = create_agent(model, [], middleware=[Lookups()])
    state = agent.invoke({"messages": [("user", "find a")], "audit_log": ["started"]})
    assert "lookup(" in str(model.prompts[0])  # the planner is told about the middleware's tool
    assert state["tasks"][1]["result"] == "value of a" and state["audit_log"] == ["started"]


@pytest.mark.parametrize(
    ("middleware", "instead"),
    [
        ("HumanInTheLoopMiddleware", "side_effect_tools="),
        ("ToolCallLimitMiddleware", "max_tasks_per_plan="),
        ("ModelCallLimitMiddleware", "max_replans="),
    ],
)
def test_middleware_with_an_llmcompiler_option_names_the_option(
    log: ToolLog, middleware: str, instead: str
) -> None:
    import langchain.agents.middleware as lc_middleware

    arguments: dict[str, Any] = {
        "HumanInTheLoopMiddleware": {"interrupt_on": {"search": True}},
        "ToolCallLimitMiddleware": {"run_limit": 3},
        "ModelCallLimitMiddleware": {"run_limit": 3},
    }[middleware]
    with pytest.raises(ValueError, match=f"{middleware} uses .*{re.escape(instead)}"):
        create_agent(
            scripted(PLAN, ANSWER),
            [log.search_tool()],
            middleware=[getattr(lc_middleware, middleware)(**arguments)],
        )


def test_stream_transformers_are_registered_as_create_agent_registers_them(log: ToolLog) -> None:
    def factory(scope: tuple[str, ...]) -> Any:
        return None

    agent = create_agent(scripted(PLAN, ANSWER), [log.search_tool()], transformers=[factory])
    assert factory in agent.stream_transformers


@pytest.mark.parametrize(
    "given",
    [
        {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}},
        {"type": "web_search"},
    ],
    ids=["openai-schema", "provider-built-in"],
)
def test_a_tool_given_as_a_dict_is_refused_saying_what_to_pass(log: ToolLog, given: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match=r"a tool given as a dict .* Pass the function .*\.create_agent"):
        create_agent(scripted(PLAN, ANSWER), [log.search_tool(), given])


def test_interrupt_nodes_of_create_agent_are_refused_with_the_node_to_use(log: ToolLog) -> None:
    with pytest.raises(ValueError, match="create_agent's 'tools' is 'execute_task' here"):
        create_agent(scripted(PLAN, ANSWER), [log.search_tool()], interrupt_before=["tools"])


async def test_interrupt_after_planner_reviews_the_plan(log: ToolLog) -> None:
    agent = create_agent(
        scripted(PLAN, ANSWER), [log.search_tool()], checkpointer=InMemorySaver(), interrupt_after=["planner"]
    )
    thread = {"configurable": {"thread_id": "review"}}
    await agent.ainvoke(question(), thread)
    assert log.calls == []
    assert sorted(agent.get_state(thread).values["tasks"]) == [1, 2]
    state = await agent.ainvoke(None, thread)
    assert answers(state) == ["Everest is taller, by 238 m"]


@pytest.mark.filterwarnings("ignore:A test tried to use socket")
def test_a_model_name_without_provider_is_inferred(log: ToolLog, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")
    agent = create_agent("gpt-4o-mini", [log.search_tool()])
    assert agent.get_graph().nodes.keys() >= {"planner", "joiner"}


async def test_no_tools_is_a_plain_chat_agent() -> None:
    state = await create_agent(scripted("Hello!"), []).ainvoke(question("hi"))
    assert [m.type for m in state["messages"]] == ["human", "ai"]
    assert state["messages"][-1].content == "Hello!"


# --------------------------------------------------------------------------- messages


async def test_each_round_lands_in_messages_with_matching_ids(log: ToolLog) -> None:
    state = await create_agent(scripted(PLAN, ANSWER), [log.search_tool()]).ainvoke(question())
    kinds = [m.type for m in state["messages"]]
    assert kinds == ["human", "ai", "tool", "tool", "ai"]
    calls = state["messages"][1].tool_calls
    assert [(c["name"], c["args"]) for c in calls] == [
        ("search", {"query": "Everest"}),
        ("search", {"query": "K2"}),
    ]
    results = state["messages"][2:4]
    assert [m.tool_call_id for m in results] == [c["id"] for c in calls]
    assert [m.content for m in results] == ["result for Everest", "result for K2"]


async def test_follow_up_turns_see_earlier_tool_results(log: ToolLog) -> None:
    model = scripted(PLAN, ANSWER, '1. search("Lhotse")\n2. join()', FINISH.format(answer="8,516 m"))
    agent = create_agent(model, [log.search_tool()], checkpointer=InMemorySaver())
    thread = {"configurable": {"thread_id": "f"}}
    await agent.ainvoke(question("Everest or K2?"), thread)
    await agent.ainvoke(question("And Lhotse?"), thread)
    second_plan = "\n".join(str(m.content) for m in model.prompts[2])
    assert "result for Everest" in second_plan and "result for K2" in second_plan


async def test_usage_is_aggregated_on_the_answer(log: ToolLog) -> None:
    model = ScriptedChatModel(responses=[PLAN, ANSWER], usage=USAGE)
    state = await create_agent(model, [log.search_tool()]).ainvoke(question())
    usage = state["messages"][-1].usage_metadata
    assert (usage["input_tokens"], usage["output_tokens"]) == (200, 20)


async def test_message_history_answer_only(log: ToolLog) -> None:
    agent = create_agent(scripted(PLAN, ANSWER), [log.search_tool()], message_history="answer")
    state = await agent.ainvoke(question())
    assert [m.type for m in state["messages"]] == ["human", "ai"]


async def test_return_direct_ends_with_the_tool_result(log: ToolLog) -> None:
    @tool(return_direct=True)
    def lookup(query: str) -> str:
        """Look it up and answer with it."""
        return f"direct: {query}"

    model = scripted('1. lookup("x")\n2. join()')
    state = await create_agent(model, [lookup]).ainvoke(question())
    assert model.calls == 1  # the joiner was not asked
    assert state["messages"][-1].type == "tool"
    assert state["messages"][-1].content == "direct: x"


async def test_subgraph_in_a_parent_graph(log: ToolLog) -> None:
    agent = create_agent(scripted(PLAN, ANSWER), [log.search_tool()], name="researcher")
    parent = StateGraph(MessagesState)
    parent.add_node("researcher", agent)
    parent.add_edge(START, "researcher")
    parent.add_edge("researcher", END)
    state = await parent.compile().ainvoke(question())
    kinds = [m.type for m in state["messages"]]
    assert kinds == ["human", "ai", "tool", "tool", "ai"]
    assert state["messages"][-1].name == "researcher"


async def test_a_handoff_tool_routes_the_parent_graph_once_its_round_is_done(log: ToolLog) -> None:
    """A tool returning `Command(goto=..., graph=Command.PARENT)` hands over, as in create_agent."""

    @tool
    def transfer_to_billing(reason: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> Command:  # type: ignore[type-arg]
        """Hand the conversation to the billing agent."""
        note = ToolMessage(f"transferred: {reason}", tool_call_id=tool_call_id)
        return Command(goto="billing", graph=Command.PARENT, update={"messages": [note]})

    def billing(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage("billing here", name="billing")]}

    plan = '1. search("invoice 7")\n2. transfer_to_billing("refund for $1")\n3. join()<END_OF_PLAN>'
    model = scripted(plan)  # no joiner reply scripted: the joiner must not call the model
    front = create_agent(model, [log.search_tool(), transfer_to_billing], name="front")
    parent = StateGraph(MessagesState)
    parent.add_node("front", front, destinations=("billing",))
    parent.add_node("billing", billing)
    parent.add_edge(START, "front")
    parent.add_edge("billing", END)
    state = await parent.compile().ainvoke(question())
    assert state["messages"][-1].content == "billing here"
    assert "transferred: refund for result for invoice 7" in [m.content for m in state["messages"]]
    assert log.args_of("search") == [{"query": "invoice 7"}]  # the round's other task ran first
    assert len(model.prompts) == 1  # the planner only


# --------------------------------------------------------------------------- streaming


async def test_stream_messages_shows_only_the_answer_as_one_streamed_message(log: ToolLog) -> None:
    agent = create_agent(scripted(PLAN, ANSWER, token_delay=0.001), [log.search_tool()])
    chunks: list[tuple[BaseMessage, dict[str, Any]]] = [
        (chunk, meta) async for chunk, meta in agent.astream(question(), stream_mode="messages")
    ]
    streamed = [c for c, _ in chunks if c.type == "AIMessageChunk"]
    text = "".join(str(c.content) for c in streamed)
    assert text == "Everest is taller, by 238 m"
    assert len(streamed) > 3 and len({c.id for c in streamed}) == 1
    assert all(ANSWER_TAG in meta["tags"] for c, meta in chunks if c.type == "AIMessageChunk")
    for protocol in ("join()", "Thought:", "Action:", "search(", "<END_OF_PLAN>"):
        assert protocol not in text


async def test_stream_messages_gives_the_tool_results_before_the_answer(log: ToolLog) -> None:
    """As under create_agent: the calls and their results, then the answer's tokens."""
    agent = create_agent(scripted(PLAN, ANSWER, token_delay=0.001), [log.search_tool()])
    kinds = [chunk.type async for chunk, _ in agent.astream(question(), stream_mode="messages")]
    first_token = kinds.index("AIMessageChunk")
    assert kinds[:first_token] == ["ai", "tool", "tool"]
    assert set(kinds[first_token:]) == {"AIMessageChunk"}


async def test_stream_protocol_adds_tagged_plan_tokens(log: ToolLog) -> None:
    builder = create_llmcompiler(scripted(PLAN, ANSWER), [log.search_tool()], stream_protocol=True)
    by_part: dict[str, str] = {}
    async for chunk, meta in builder.compile().astream(question(), stream_mode="messages"):
        part = meta.get("llmcompiler_part")
        if part:
            by_part[part] = by_part.get(part, "") + str(chunk.content)
    assert by_part["plan"].startswith('1. search("Everest")')
    assert "Action: Finish(" in by_part["joiner"]
    assert by_part["answer"] == "Everest is taller, by 238 m"


async def test_astream_events_start_and_end_pair_up(log: ToolLog) -> None:
    agent = create_agent(scripted(PLAN, ANSWER), [log.search_tool()])
    starts: list[str] = []
    ends: list[str] = []
    async for event in agent.astream_events(question(), version="v2"):
        if event["event"] == "on_chat_model_start":
            starts.append(event["run_id"])
        elif event["event"] == "on_chat_model_end":
            ends.append(event["run_id"])
    assert len(starts) == 3  # planner, joiner, the relayed answer
    assert sorted(starts) == sorted(ends)
