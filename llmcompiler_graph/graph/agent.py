"""`create_agent`: the drop-in for `langchain.agents.create_agent`, returning a compiled graph.

Swap `from langchain.agents import create_agent` for `from llmcompiler_graph import
create_agent`: the same positional arguments and the keywords that make sense for a
planner/joiner agent, a compiled graph back. What cannot work the same way fails here, at
build time, with a message that says what to do instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import LanguageModelLike
from langchain_core.messages import SystemMessage, ToolMessage
from langgraph.cache.base import BaseCache
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.store.base import BaseStore
from langgraph.types import Checkpointer, Command
from typing_extensions import Unpack

from llmcompiler_graph.execution.tool_call import ToolExecute, ToolWrapper
from llmcompiler_graph.graph.factory import create_llmcompiler
from llmcompiler_graph.graph.model_call import model_wrapper
from llmcompiler_graph.nodes import APPROVE_NODE, EXECUTE_TASK_NODE, JOINER_NODE, PLANNER_NODE, SCHEDULER_NODE
from llmcompiler_graph.options import AgentOptions
from llmcompiler_graph.plan.tool_schemas import ToolLike
from llmcompiler_graph.state import with_llmcompiler_keys

__all__ = ["UNSUPPORTED_MIDDLEWARE_HOOKS", "create_agent", "create_llmcompiler_agent", "tool_wrappers"]

UNSUPPORTED_MIDDLEWARE_HOOKS = (
    "before_agent",
    "abefore_agent",
    "before_model",
    "abefore_model",
    "after_model",
    "aafter_model",
    "after_agent",
    "aafter_agent",
)
"""Middleware hooks that belong to create_agent's single model loop; LLMCompiler has none."""


def _overrides(middleware: Any, hook: str) -> bool:
    from langchain.agents.middleware import AgentMiddleware

    mine = getattr(type(middleware), hook, None)
    return mine is not None and mine is not getattr(AgentMiddleware, hook, None)


def _wraps_model(middleware: Any) -> bool:
    return _is_middleware(middleware) and (
        _overrides(middleware, "awrap_model_call") or _overrides(middleware, "wrap_model_call")
    )


def _from_sync(wrap: Any) -> ToolWrapper:
    """An async wrapper around a sync `wrap_tool_call`, run off the event loop."""

    async def wrapper(request: ToolCallRequest, execute: ToolExecute) -> ToolMessage | Command[Any]:
        loop = asyncio.get_running_loop()

        def run(req: ToolCallRequest) -> ToolMessage | Command[Any]:
            async def call() -> ToolMessage | Command[Any]:
                return await execute(req)

            return asyncio.run_coroutine_threadsafe(call(), loop).result()

        result: ToolMessage | Command[Any] = await asyncio.to_thread(wrap, request, run)
        return result

    return wrapper


def tool_wrappers(middleware: Sequence[Any]) -> list[ToolWrapper]:
    """The tool-call hooks of `create_agent` middleware, outermost first.

    Raises:
        ValueError: A middleware uses a hook of create_agent's model loop (`before_model`,
            `wrap_model_call`, ...), which an LLMCompiler graph does not have.
    """
    wrappers: list[ToolWrapper] = []
    for item in middleware:
        _refuse_model_hooks(item)
        if _overrides(item, "awrap_tool_call"):
            wrappers.append(item.awrap_tool_call)
        elif _overrides(item, "wrap_tool_call"):
            wrappers.append(_from_sync(item.wrap_tool_call))
        elif _is_middleware(item):
            continue  # tools and state keys only (see middleware_tools, middleware_state_schemas)
        elif callable(item):
            wrappers.append(item)
        else:
            msg = f"middleware must be AgentMiddleware instances or async tool wrappers, got {item!r}"
            raise TypeError(msg)
    return wrappers


INSTEAD_OF_MIDDLEWARE = {
    "HumanInTheLoopMiddleware": (
        "pass side_effect_tools=[...] instead: the graph pauses once per plan with every such call "
        "(resume with 'approve', 'reject' or an edit)"
    ),
    "ToolCallLimitMiddleware": "pass max_tasks_per_plan= and max_replans= instead (they bound tool calls)",
    "ModelCallLimitMiddleware": "pass max_replans= instead: each round is one planner and one joiner call",
}
"""What to use instead of the create_agent middleware that has an LLMCompiler option of its own."""


def _refuse_model_hooks(item: Any) -> None:
    unsupported = [hook for hook in UNSUPPORTED_MIDDLEWARE_HOOKS if _overrides(item, hook)]
    if not unsupported:
        return
    name = type(item).__name__
    instead = INSTEAD_OF_MIDDLEWARE.get(name) or (
        "tool hooks (wrap_tool_call / awrap_tool_call) work; for model behaviour pass "
        "system_prompt=, planner_prompt= or joiner_prompt=, or wrap the model itself"
    )
    msg = (
        f"middleware {name} uses {', '.join(unsupported)}: LLMCompiler has no single model loop "
        f"for these hooks (its model calls are the planner and the joiner); {instead}."
    )
    raise ValueError(msg)


def _is_middleware(item: Any) -> bool:
    try:
        from langchain.agents.middleware import AgentMiddleware
    except ImportError:  # pragma: no cover - langchain is a dependency
        return False
    return isinstance(item, AgentMiddleware)


def middleware_tools(middleware: Sequence[Any]) -> list[Any]:
    """The tools middleware contributes (`AgentMiddleware.tools`), as create_agent adds them."""
    return [
        tool for item in middleware if _is_middleware(item) for tool in (getattr(item, "tools", None) or ())
    ]


def middleware_state_schemas(middleware: Sequence[Any]) -> list[type[Any]]:
    """The state schemas middleware declares (`AgentMiddleware.state_schema`), in order."""
    return [
        item.state_schema
        for item in middleware
        if _is_middleware(item) and getattr(item, "state_schema", None)
    ]


def create_agent(
    model: LanguageModelLike | str,
    tools: Sequence[ToolLike] | None = None,
    *,
    system_prompt: str | SystemMessage | None = None,
    middleware: Sequence[Any] = (),
    response_format: Any = None,
    state_schema: type[Any] | None = None,
    context_schema: type[Any] | None = None,
    checkpointer: Checkpointer = None,
    store: BaseStore | None = None,
    interrupt_before: list[str] | None = None,
    interrupt_after: list[str] | None = None,
    debug: bool = False,
    name: str | None = None,
    cache: BaseCache[Any] | None = None,
    transformers: Sequence[Any] | None = None,
    **llmcompiler_options: Unpack[AgentOptions],
) -> CompiledStateGraph[Any, Any, Any, Any]:
    r"""An LLMCompiler agent with `langchain.agents.create_agent`'s signature, compiled.

    Args:
        model: A chat model, or a model string (`"openai:gpt-4o-mini"`, `"gpt-4o-mini"`).
        tools: LangChain tools or functions with docstrings; without any, the model answers.
        system_prompt: Instructions or persona, given to the planner and the joiner.
        middleware: `AgentMiddleware`: tool and model-call hooks wrap each call; `tools` join.
        response_format: A schema (or strategy): the answer as `state["structured_response"]`.
        state_schema: Extra state keys (an `AgentState` or `LLMCompilerState` subclass), merged.
        context_schema: Schema of the run context tools read through `ToolRuntime`.
        checkpointer: As for any compiled graph (durable runs, threads, approvals).
        store: Long-term store, injected into tools with `InjectedStore` / `ToolRuntime`.
        interrupt_before: Nodes to pause before (`"planner"`, `"execute_task"`, `"joiner"`, ...).
        interrupt_after: Node names to pause after (`["planner"]` reviews each plan).
        debug: LangGraph's debug output.
        name: The graph's name and the `name` of its messages.
        cache: LangGraph node cache.
        transformers: Stream transformer factories, after middleware's (as in create_agent).
        **llmcompiler_options: Any :class:`~llmcompiler_graph.options.AgentOptions` (`max_replans`, ...).

    Returns:
        The compiled graph: `invoke`, `stream`, `ainvoke`, `astream`, `batch`.

    Raises:
        ValueError: Unknown interrupt nodes, unsupported middleware, or any
            invalid option of :func:`~llmcompiler_graph.create_llmcompiler`.

    Example:
        >>> from llmcompiler_graph.testing import ScriptedChatModel
        >>> def search(query: str) -> str:
        ...     '''Look a mountain up.'''
        ...     return "8,849 m"
        >>> model = ScriptedChatModel(responses=['1. search("Everest")\n2. join()',
        ...                                      "Action: Finish(8,849 m)"])
        >>> agent = create_agent(model, [search], name="mountains")
        >>> agent.invoke({"messages": [("user", "How tall is Everest?")]})["messages"][-1].name
        'mountains'
    """
    builder = create_llmcompiler(
        model,
        _checked_tools([*(tools or ()), *middleware_tools(middleware)], interrupt_before, interrupt_after),
        system_prompt=system_prompt,
        name=name,
        response_format=response_format,
        context_schema=context_schema,
        state_schema=with_llmcompiler_keys(state_schema, *middleware_state_schemas(middleware)),
        tool_wrappers=tool_wrappers(middleware),
        model_wrappers=[model_wrapper(m) for m in middleware if _wraps_model(m)],
        **llmcompiler_options,
    )
    compiled = builder.compile(
        checkpointer=checkpointer,
        store=store,
        interrupt_before=interrupt_before,
        interrupt_after=interrupt_after,
        debug=debug,
        name=name or "LLMCompiler",
        cache=cache,
        transformers=stream_transformers_of(middleware, transformers),
    )
    return _with_agent_name(compiled, name)


def _with_agent_name(
    compiled: CompiledStateGraph[Any, Any, Any, Any], name: str | None
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """As create_agent: the agent's name in every run's metadata (`lc_agent_name`, for stream consumers)."""
    return compiled.with_config({"metadata": {"lc_agent_name": name}}) if name else compiled


def stream_transformers_of(middleware: Sequence[Any], transformers: Sequence[Any] | None) -> list[Any]:
    """The stream transformers, once each, in create_agent's order.

    LangGraph's `ToolCallTransformer` (the `tool_calls` projection of `stream_events(version="v3")`),
    then middleware's transformer factories, then the given ones.
    """
    from langgraph.prebuilt import ToolCallTransformer

    found = [ToolCallTransformer, *(t for m in middleware for t in getattr(m, "transformers", None) or ())]
    return list(dict.fromkeys([*found, *(transformers or ())]))


create_llmcompiler_agent = create_agent
"""The same factory under a name that cannot be confused with LangChain's."""


def _checked_tools(
    tools: Sequence[ToolLike] | None, interrupt_before: list[str] | None, interrupt_after: list[str] | None
) -> Sequence[ToolLike]:
    """The tools, once what cannot work as with LangChain's create_agent is refused (at build time)."""
    _check_interrupts(interrupt_before, interrupt_after)
    return tools or []


def _check_interrupts(*node_lists: list[str] | None) -> None:
    nodes = {PLANNER_NODE, SCHEDULER_NODE, EXECUTE_TASK_NODE, JOINER_NODE, APPROVE_NODE}
    renamed = {"model": "planner (or joiner)", "tools": "execute_task"}
    for names in node_lists:
        for node in names or ():
            if node == "*":
                continue
            if node not in nodes:
                hint = f"; create_agent's {node!r} is {renamed[node]!r} here" if node in renamed else ""
                msg = f"cannot interrupt at {node!r}: the nodes are {sorted(nodes)}{hint}"
                raise ValueError(msg)
