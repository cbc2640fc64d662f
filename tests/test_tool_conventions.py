"""Tools run exactly as LangChain runs them (through LangGraph's ToolNode), as under create_agent."""

from __future__ import annotations

from typing import Annotated, Any, NotRequired

from langchain.tools import ToolRuntime
from langchain_core.messages import ToolMessage
from langchain_core.tools import InjectedToolCallId, StructuredTool, ToolException, tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.prebuilt import InjectedState, InjectedStore
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command

from llmcompiler_graph import LLMCompilerState, create_llmcompiler
from tests.conftest import FINISH, last_text, question, scripted

DONE = FINISH.format(answer="done")


class State(LLMCompilerState):
    user_name: NotRequired[str]


async def test_injected_state_store_and_tool_call_id_reach_the_tool() -> None:
    seen: dict[str, Any] = {}

    @tool
    def remember(
        fact: str,
        state: Annotated[dict[str, Any], InjectedState],
        store: Annotated[Any, InjectedStore()],
        call_id: Annotated[str, InjectedToolCallId],
    ) -> str:
        """Remember a fact."""
        seen.update(question=state["messages"][0].content, call_id=call_id)
        store.put(("facts",), "last", {"fact": fact})
        return f"remembered {fact}"

    store = InMemoryStore()
    graph = create_llmcompiler(scripted('1. remember("sky is blue")\n2. join()', DONE), [remember]).compile(
        store=store
    )
    state = await graph.ainvoke(question("What colour is the sky?"))
    assert state["tasks"][1]["status"] == "done"
    assert state["tasks"][1]["result"] == "remembered sky is blue"
    assert seen["question"] == "What colour is the sky?"
    assert seen["call_id"] == state["tasks"][1]["tool_call_id"]
    assert store.get(("facts",), "last").value == {"fact": "sky is blue"}  # type: ignore[union-attr]


async def test_tool_runtime_gets_context_state_and_call_id() -> None:
    seen: dict[str, Any] = {}

    @tool
    def whoami(greeting: str, runtime: ToolRuntime) -> str:
        """Greet the current user."""
        last = runtime.state["messages"][-1]  # as under create_agent: the message making the call
        seen.update(user=runtime.context["user"], call_id=runtime.tool_call_id, calls=last.tool_calls)
        return f"{greeting}, {runtime.context['user']}"

    graph = create_llmcompiler(scripted('1. whoami("hello")\n2. join()', DONE), [whoami]).compile()
    state = await graph.ainvoke(question(), context={"user": "ada"})
    assert state["tasks"][1]["result"] == "hello, ada"
    call_id = state["tasks"][1]["tool_call_id"]
    assert seen["user"] == "ada" and seen["call_id"] == call_id
    assert [(c["name"], c["args"], c["id"]) for c in seen["calls"]] == [
        ("whoami", {"greeting": "hello"}, call_id)
    ]
    assert [m.type for m in state["messages"]] == ["human", "ai", "tool", "ai"]  # nothing extra recorded


async def test_injected_arguments_are_hidden_from_the_planner() -> None:
    @tool
    def lookup(query: str, state: Annotated[dict[str, Any], InjectedState], runtime: ToolRuntime) -> str:
        """Look something up."""
        return query

    model = scripted('1. lookup("x")\n2. join()', DONE)
    await create_llmcompiler(model, [lookup]).compile().ainvoke(question())
    planner_system = str(model.prompts[0][0].content)
    assert "lookup(query: str)" in planner_system
    assert "state" not in planner_system.split("lookup(", 1)[1].split(")", 1)[0]


async def test_a_command_result_updates_state_and_its_message_is_the_observation() -> None:
    @tool
    def set_name(name: str, call_id: Annotated[str, InjectedToolCallId]) -> Command[Any]:
        """Record the user's name."""
        return Command(
            update={"user_name": name, "messages": [ToolMessage(f"name set to {name}", tool_call_id=call_id)]}
        )

    model = scripted('1. set_name("Ada")\n2. join()', DONE)
    state = await create_llmcompiler(model, [set_name], state_schema=State).compile().ainvoke(question())
    assert state["user_name"] == "Ada"
    assert state["tasks"][1]["result"] == "name set to Ada"
    assert "state_update" not in state["tasks"][1]
    assert "Observation: name set to Ada" in last_text(model, 1)


async def test_content_and_artifact_keeps_the_artifact() -> None:
    @tool(response_format="content_and_artifact")
    def fetch(url: str) -> tuple[str, dict[str, Any]]:
        """Fetch a page."""
        return f"page {url}", {"bytes": 1234}

    state = (
        await create_llmcompiler(scripted('1. fetch("a")\n2. join()', DONE), [fetch])
        .compile()
        .ainvoke(question())
    )
    assert state["tasks"][1]["result"] == "page a"
    assert state["tasks"][1]["artifact"] == {"bytes": 1234}


async def test_a_tools_own_handle_tool_error_shapes_the_observation() -> None:
    def flaky(query: str) -> str:
        """Sometimes fails."""
        raise ToolException("service busy")

    flaky_tool = StructuredTool.from_function(flaky, handle_tool_error=lambda e: f"try later ({e})")
    model = scripted('1. flaky("x")\n2. join()', DONE)
    state = await create_llmcompiler(model, [flaky_tool]).compile().ainvoke(question())
    assert state["tasks"][1]["status"] == "error"
    assert state["tasks"][1]["error"] == "try later (service busy)"
    assert "ERROR: try later (service busy)" in last_text(model, 1)


async def test_a_whole_numeric_reference_into_a_str_parameter_is_its_text() -> None:
    received: list[Any] = []

    @tool
    def count(n: int) -> int:
        """Count to n."""
        return n

    @tool
    def say(text: str) -> str:
        """Say text."""
        received.append(text)
        return text

    model = scripted('1. count(5)\n2. say("$1")\n3. join()', DONE)
    state = await create_llmcompiler(model, [count, say]).compile().ainvoke(question())
    assert state["tasks"][2]["status"] == "done"
    assert received == ["5"]


async def test_a_tool_whose_name_is_not_an_identifier_can_be_called() -> None:
    def web_search(query: str) -> str:
        """Search the web."""
        return f"hits for {query}"

    web = StructuredTool.from_function(web_search, name="web-search")
    model = scripted('1. web-search("cats")\n2. join()', DONE)
    state = await create_llmcompiler(model, [web]).compile().ainvoke(question())
    assert state["tasks"][1]["result"] == "hits for cats"
    assert "web-search(query: str)" in str(model.prompts[0][0].content)


async def test_wrap_tool_call_hooks_see_and_can_change_each_call() -> None:
    seen: list[str] = []

    async def shout(request: Any, execute: Any) -> Any:
        seen.append(request.tool_call["name"])
        request = request.override(tool_call={**request.tool_call, "args": {"query": "LOUD"}})
        return await execute(request)

    def search(query: str) -> str:
        """Search."""
        return f"result for {query}"

    model = scripted('1. search("quiet")\n2. join()', DONE)
    graph = create_llmcompiler(model, [search], tool_wrappers=[shout]).compile(checkpointer=InMemorySaver())
    state = await graph.ainvoke(question(), {"configurable": {"thread_id": "w"}})
    assert seen == ["search"]
    assert state["tasks"][1]["result"] == "result for LOUD"


async def test_tool_middleware_sees_the_graph_state_though_no_tool_injects_it() -> None:
    from langchain.agents.middleware import wrap_tool_call

    from llmcompiler_graph import create_agent

    seen: list[Any] = []

    @wrap_tool_call  # type: ignore[arg-type]
    async def look(request: Any, handler: Any) -> Any:
        seen.append([m.type for m in request.state["messages"]])
        return await handler(request)

    def search(query: str) -> str:
        """Look a query up."""
        return query

    model = scripted('1. search("a")\n2. join()<END_OF_PLAN>', FINISH.format(answer="a"))
    await create_agent(model, [search], middleware=[look]).ainvoke(question("q"))
    assert seen and "human" in seen[0]
