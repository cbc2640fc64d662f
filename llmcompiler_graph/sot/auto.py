"""One agent that picks, per question, a direct answer, Skeleton-of-Thought, or the LLMCompiler agent."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from langchain_core.language_models import LanguageModelLike
from langchain_core.messages import AIMessage, AnyMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import merge_configs
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Command
from typing_extensions import TypedDict

from llmcompiler_graph.events import emit
from llmcompiler_graph.graph.conversation import current_question
from llmcompiler_graph.graph.factory import create_llmcompiler
from llmcompiler_graph.graph.sync_bridge import AsyncNode
from llmcompiler_graph.nodes import (
    DIRECT_ANSWER_NODE,
    LLMCOMPILER_NODE,
    ROUTE_NODE,
    SKELETON_OF_THOUGHT_NODE,
    ModelCall,
    model_call_metadata,
)
from llmcompiler_graph.plan.tool_schemas import ToolLike
from llmcompiler_graph.sot.graph import create_skeleton_of_thought
from llmcompiler_graph.sot.prompts import DIRECT_ANSWER_PROMPT
from llmcompiler_graph.sot.router import Mode, prompted_route, trained_route

__all__ = ["AutoAgentState", "ROUTE_NODE", "create_auto_agent"]

MODE_NODES: dict[Mode, str] = {
    "direct": DIRECT_ANSWER_NODE,
    "skeleton": SKELETON_OF_THOUGHT_NODE,
    "tools": LLMCOMPILER_NODE,
}


class AutoAgentState(TypedDict, total=False):
    """State of the auto agent: the conversation and how the latest question was answered."""

    messages: Annotated[list[AnyMessage], add_messages]
    mode: Literal["direct", "skeleton", "tools"]
    """The router's choice (`direct` also when Skeleton-of-Thought fell back to a direct answer)."""


def create_auto_agent(
    model: LanguageModelLike,
    tools: Sequence[ToolLike] = (),
    *,
    router: Literal["trained", "prompted"] = "trained",
    llmcompiler_options: dict[str, Any] | None = None,
    skeleton_options: dict[str, Any] | None = None,
) -> StateGraph[Any]:
    r"""Build an agent that routes each question to the mode that suits it (uncompiled).

    - `tools` (the LLMCompiler agent) for questions that need facts or calculations;
    - `skeleton` (Skeleton-of-Thought) for answers made of independent points;
    - `direct` for everything else.

    The chosen mode is in the state (`mode`) and on the custom stream (`route_chosen`);
    the Skeleton-of-Thought and LLMCompiler graphs run as subgraphs, so their own nodes
    and events show in Studio and in `astream(..., subgraphs=True)`.

    Args:
        model: Chat model for every mode (and the prompted router).
        tools: Tools for the LLMCompiler agent; with none, `tools` is never chosen.
        router: `"trained"` (offline classifiers, no model call:
            :func:`~llmcompiler_graph.sot.router.suitable_for_skeleton` and
            :func:`~llmcompiler_graph.sot.router.needs_tools`) or `"prompted"` (the model picks).
        llmcompiler_options: Keyword arguments for :func:`create_llmcompiler`.
        skeleton_options: Keyword arguments for :func:`create_skeleton_of_thought`.

    Raises:
        ValueError: An unknown router.

    Example:
        >>> from llmcompiler_graph.testing import ScriptedChatModel
        >>> model = ScriptedChatModel(responses=["1. Exercise\n2. Sleep", "Move daily.", "Rest well."])
        >>> agent = create_auto_agent(model).compile()
        >>> state = agent.invoke({"messages": [("user", "What are the best ways to stay healthy?")]})
        >>> state["mode"], state["messages"][-1].content
        ('skeleton', '1. Exercise: Move daily.\n2. Sleep: Rest well.')
    """
    if router not in ("trained", "prompted"):
        msg = f"router must be 'trained' or 'prompted', got {router!r}"
        raise ValueError(msg)
    has_tools = bool(tools)

    async def route(state: AutoAgentState, config: RunnableConfig) -> Command[Any]:
        _, question_message = current_question(state.get("messages", []))
        question = question_message.text if question_message is not None else ""
        if router == "trained":
            mode = trained_route(question, tools_available=has_tools)
        else:
            mode = await prompted_route(model, question, tools_available=has_tools, config=config)
        emit({"type": "route_chosen", "mode": mode, "router": router, "time": time.time()})
        return Command(goto=MODE_NODES[mode], update={"mode": mode})

    async def direct_answer(state: AutoAgentState, config: RunnableConfig) -> dict[str, Any]:
        config = merge_configs(config, {"metadata": model_call_metadata(ModelCall.DIRECT)})
        reply = await model.ainvoke([SystemMessage(DIRECT_ANSWER_PROMPT), *state.get("messages", [])], config)
        text = reply if isinstance(reply, str) else reply.text
        return {"messages": [AIMessage(content=text)]}

    destinations = tuple(MODE_NODES[mode] for mode in MODE_NODES if has_tools or mode != "tools")
    builder: StateGraph[Any] = StateGraph(AutoAgentState)
    builder.add_node(ROUTE_NODE, AsyncNode(ROUTE_NODE, route), destinations=destinations)
    builder.add_node(MODE_NODES["direct"], AsyncNode(MODE_NODES["direct"], direct_answer))
    builder.add_node(
        MODE_NODES["skeleton"], create_skeleton_of_thought(model, **(skeleton_options or {})).compile()
    )
    if has_tools:
        builder.add_node(
            MODE_NODES["tools"], create_llmcompiler(model, tools, **(llmcompiler_options or {})).compile()
        )
    builder.add_edge(START, ROUTE_NODE)
    for node in destinations:
        builder.add_edge(node, END)
    return builder
