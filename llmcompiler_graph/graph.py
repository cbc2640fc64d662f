"""`create_llmcompiler`: wires planner, scheduler, task node and joiner into a StateGraph."""

from __future__ import annotations

from collections.abc import Callable, Collection, Coroutine, Sequence
from typing import Any, Literal, TypeVar

from langchain_core.language_models import LanguageModelLike
from langchain_core.messages import SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig, ensure_config
from langgraph.graph import END, START, StateGraph

from llmcompiler_graph.approval import (
    APPROVE_NODE,
    SIDE_EFFECTS_METADATA_KEY,
    ApprovalRequest,
    make_approval_node,
)
from llmcompiler_graph.execution import BatchRegistry, run_sync
from llmcompiler_graph.executor import TaskRunner, make_executor
from llmcompiler_graph.joiner import PLANNER_NODE, make_joiner
from llmcompiler_graph.planner import make_planner
from llmcompiler_graph.prompts import (
    JOINER_FINISH_ONLY_PROMPT,
    JOINER_SYSTEM_PROMPT,
    PLANNER_EXAMPLES,
    REPLAN_PROMPT,
    build_planner_prompt,
)
from llmcompiler_graph.scheduler import EXECUTE_TASK_NODE, JOINER_NODE, make_scheduler
from llmcompiler_graph.state import LLMCompilerState, TaskDispatch
from llmcompiler_graph.structured import make_structured_answer, with_instructions
from llmcompiler_graph.tool_calls import ToolWrapper, make_tool_node
from llmcompiler_graph.toolset import ToolLike, normalize_tools, tool_parameters

__all__ = [
    "APPROVE_NODE",
    "EXECUTE_TASK_NODE",
    "JOINER_NODE",
    "PLANNER_NODE",
    "SCHEDULER_NODE",
    "create_llmcompiler",
]

SCHEDULER_NODE = "scheduler"

S = TypeVar("S")
R = TypeVar("R")


def _resolve_model(model: LanguageModelLike | str, argument: str) -> LanguageModelLike:
    if isinstance(model, str):
        from langchain.chat_models import init_chat_model

        try:  # "openai:gpt-4o-mini", or "gpt-4o-mini" with the provider inferred, as create_agent does
            return init_chat_model(model)
        except Exception as exc:  # unknown provider, integration not installed, no API key
            msg = (
                f"{argument}={model!r} could not be built: {exc} Give a chat model, or a "
                "'provider:model' string such as 'openai:gpt-4o-mini' whose integration "
                "package and API key are set up."
            )
            raise ValueError(msg) from exc
    if not isinstance(model, Runnable):
        msg = (
            f"{argument} must be a LangChain chat model or a 'provider:model' string, "
            f"got {type(model).__name__}"
        )
        raise TypeError(msg)
    return model


class _Node(Runnable[S, R]):
    """A graph node with one async implementation, callable from sync and async graph APIs.

    LangGraph already traces every node run, so this wrapper adds no callback run of its
    own (a `RunnableLambda` would, at a measurable cost per task). Sync calls run the
    coroutine on a shared background loop (:func:`run_sync`).
    """

    def __init__(self, name: str, afunc: Callable[[S, RunnableConfig], Coroutine[Any, Any, R]]) -> None:
        self.name = name
        self._afunc = afunc

    def invoke(self, input: S, config: RunnableConfig | None = None, **kwargs: Any) -> R:
        return run_sync(self._afunc(input, ensure_config(config)))

    async def ainvoke(self, input: S, config: RunnableConfig | None = None, **kwargs: Any) -> R:
        return await self._afunc(input, ensure_config(config))


def _sync_node(name: str, func: Callable[[S, RunnableConfig], R]) -> _Node[S, R]:
    """A node whose work is synchronous and quick: run inline on either path."""

    async def afunc(state: S, config: RunnableConfig) -> R:
        return func(state, config)

    return _Node(name, afunc)


def create_llmcompiler(
    model: LanguageModelLike | str,
    tools: Sequence[ToolLike],
    *,
    joiner_model: LanguageModelLike | str | None = None,
    max_replans: int = 2,
    task_timeout: float | None = 60.0,
    max_concurrency: int | None = None,
    eager: bool | Literal["auto"] = "auto",
    max_tasks_per_plan: int | None = 200,
    max_plan_tokens: int | None = 8192,
    run_timeout: float | None = None,
    side_effect_tools: Collection[str] = (),
    planner_prompt: str | None = None,
    planner_examples: str = PLANNER_EXAMPLES,
    replan_prompt: str = REPLAN_PROMPT,
    joiner_prompt: str = JOINER_SYSTEM_PROMPT,
    joiner_finish_only_prompt: str = JOINER_FINISH_ONLY_PROMPT,
    state_schema: type[Any] = LLMCompilerState,
    tool_wrappers: Sequence[ToolWrapper] = (),
    system_prompt: str | SystemMessage | None = None,
    name: str | None = None,
    response_format: Any = None,
    context_schema: type[Any] | None = None,
    message_history: Literal["full", "answer"] = "full",
    stream_protocol: bool = False,
    max_result_chars: int | None = 100_000,
    max_argument_chars: int | None = 100_000,
) -> StateGraph[Any]:
    r"""Build an LLMCompiler agent as an uncompiled LangGraph `StateGraph`.

    The planner streams a plan of numbered tool calls from `model`; each task is parsed
    as soon as its line is complete. The scheduler sends all tasks through `Send`, and
    each starts as soon as the tasks it references have finished. The joiner reads the
    observations and answers, or asks for a new plan (at most `max_replans` times).

    Args:
        model: Chat model for the planner (streamed), or a `"provider:model"` string
            for `init_chat_model`.
        tools: LangChain tools, or functions / coroutine functions with docstrings.
        joiner_model: Model for the joiner; `model` when omitted.
        max_replans: How many times the joiner may send the question back to the
            planner before it must answer.
        task_timeout: Seconds a tool call may take before it is abandoned and reported
            as an error; `None` waits forever.
        max_concurrency: Most tool calls that run at once within one run; `None` for
            no limit.
        eager: Start each task the moment its plan line is parsed, while the planner
            is still streaming. `"auto"` (the default) does so unless the run has a
            checkpointer, where tasks start once the plan is complete (so that
            `interrupt_after=["planner"]` reviews a plan before anything runs).
            `True` always dispatches eagerly; with a checkpointer in an async run
            (`ainvoke`/`astream`, the LangGraph server) the plan stream and every tool
            call are saved as they finish, so a resumed run repeats neither (a sync run
            with a checkpointer starts tasks once the plan is complete instead, so each
            is still saved as it finishes). `False` never does.
            Results are the same either way.
        max_tasks_per_plan: Most actions one plan may run; later actions are dropped
            (and the planner stops streaming), reported to the joiner. `None`: no limit.
        max_plan_tokens: Most streamed chunks (about one token each for most providers)
            read from one plan before it is cut. `None`: no limit.
        side_effect_tools: Names of tools whose calls need a human's approval (also:
            tools with `metadata[SIDE_EFFECTS_METADATA_KEY] = True`). Before the first
            such call runs, the graph pauses once with all of them (`interrupt`); other
            tasks run meanwhile. Needs a checkpointer. See :mod:`llmcompiler_graph.approval`.
        run_timeout: Seconds one question may spend planning and running tools. When
            they run out, the plan stream stops, running tools are abandoned, pending
            tasks are not started, and the joiner must answer with what it has, within
            another `run_timeout` seconds (then the run ends saying it ran out of time).
        planner_prompt: The planner's whole system prompt. By default it is rendered
            from :data:`~llmcompiler_graph.prompts.PLANNER_SYSTEM_PROMPT` with the tools'
            signatures and `planner_examples`.
        planner_examples: Few-shot plans for the default planner prompt.
        replan_prompt: Template of the message that tells the planner what ran and
            why it must replan (`{scratchpad}`, `{feedback}`, `{next_idx}`).
        joiner_prompt: The joiner's system prompt while replanning is allowed.
        joiner_finish_only_prompt: The joiner's system prompt once replans are spent.
        state_schema: :class:`~llmcompiler_graph.state.LLMCompilerState` or a subclass.
        tool_wrappers: Async `wrap_tool_call` hooks, outermost first, around every tool
            call (retries, caching, rewriting a request); tools run through LangGraph's
            `ToolNode` either way.
        system_prompt: Instructions or a persona for the agent, as `create_agent` takes
            them: given to both the planner and the joiner, ahead of their own prompts.
        name: The graph's name, and the `name` of the messages it adds (as a subgraph of
            a supervisor, the answer says who wrote it).
        response_format: A Pydantic model, TypedDict, JSON schema (or LangChain's
            `ToolStrategy` / `ProviderStrategy` around one): the answer is also put into
            that structure, in `state["structured_response"]`, by `joiner_model`.
        context_schema: The run context's schema (`graph.invoke(..., context=...)`),
            read by tools through `ToolRuntime.context`.
        message_history: `"full"` (default): each round's calls land in `messages` as an
            `AIMessage` with `tool_calls` and a `ToolMessage` per task, then the answer.
            `"answer"`: only the answer, as before.
        max_result_chars: Longest tool result kept (in state, checkpoints and the
            joiner's prompt), in characters of text; longer ones are cut, saying so.
            `None`: no limit.
        max_argument_chars: Largest a call's arguments may be after substituting
            references (in characters of text); a larger call is not made and its task
            fails, saying why. `None`: no limit.
        stream_protocol: Also stream the planner's and joiner's raw tokens on
            `stream_mode="messages"` (tagged `llmcompiler:plan` / `llmcompiler:joiner`);
            by default only the answer streams there (tagged `llmcompiler:answer`).

    Returns:
        The uncompiled graph; call `.compile()` with the checkpointer, store and
        interrupts you want.

    Raises:
        ValueError: Invalid or duplicate tool names, no tools, or out-of-range limits.
        TypeError: A model or tool of the wrong type.

    Example:
        >>> from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
        >>> from langchain_core.messages import AIMessage
        >>> def search(query: str) -> str:
        ...     '''Look a topic up.'''
        ...     return f"{query} is 8,849 m tall"
        >>> model = GenericFakeChatModel(messages=iter([
        ...     AIMessage('1. search("Everest")\n2. join()<END_OF_PLAN>'),
        ...     AIMessage("Thought: found it.\nAction: Finish(8,849 m)"),
        ... ]))
        >>> graph = create_llmcompiler(model, [search]).compile()
        >>> graph.invoke({"messages": [("user", "How tall is Everest?")]})["messages"][-1].content
        '8,849 m'
    """
    if isinstance(max_replans, bool) or not isinstance(max_replans, int) or max_replans < 0:
        msg = f"max_replans must be an integer >= 0, got {max_replans!r}"
        raise ValueError(msg)
    if task_timeout is not None and not task_timeout > 0:
        msg = f"task_timeout must be a positive number of seconds or None, got {task_timeout!r}"
        raise ValueError(msg)
    if max_concurrency is not None and (
        isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1
    ):
        msg = f"max_concurrency must be an integer >= 1 or None, got {max_concurrency!r}"
        raise ValueError(msg)
    limits = (
        ("max_tasks_per_plan", max_tasks_per_plan),
        ("max_plan_tokens", max_plan_tokens),
        ("max_result_chars", max_result_chars),
        ("max_argument_chars", max_argument_chars),
    )
    for option, limit in limits:
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            msg = f"{option} must be an integer >= 1 or None, got {limit!r}"
            raise ValueError(msg)
    if run_timeout is not None and not run_timeout > 0:
        msg = f"run_timeout must be a positive number of seconds or None, got {run_timeout!r}"
        raise ValueError(msg)
    if eager not in (True, False, "auto"):
        msg = f"eager must be True, False or 'auto', got {eager!r}"
        raise ValueError(msg)
    if message_history not in ("full", "answer"):
        msg = f"message_history must be 'full' or 'answer', got {message_history!r}"
        raise ValueError(msg)
    planner_model = _resolve_model(model, "model")
    joiner_llm = planner_model if joiner_model is None else _resolve_model(joiner_model, "joiner_model")
    tool_map = normalize_tools(tools)
    instructions = with_instructions(system_prompt)
    planner_system = instructions(
        planner_prompt or build_planner_prompt(list(tool_map.values()), examples=planner_examples)
    )

    unknown = sorted(set(side_effect_tools) - set(tool_map))
    if isinstance(side_effect_tools, str) or unknown:
        msg = f"side_effect_tools must be a list of tool names; unknown: {unknown or side_effect_tools!r}"
        raise ValueError(msg)
    needs_approval = frozenset(side_effect_tools) | {
        name for name, t in tool_map.items() if (t.metadata or {}).get(SIDE_EFFECTS_METADATA_KEY)
    }
    registry = BatchRegistry(max_concurrency)
    runner = TaskRunner(
        tool_map,
        task_timeout,
        make_tool_node(list(tool_map.values()), tool_wrappers),
        max_result_chars=max_result_chars,
        max_argument_chars=max_argument_chars,
        side_effect_tools=needs_approval,
    )
    planner = make_planner(
        planner_model,
        tool_map,
        planner_system,
        replan_prompt,
        runner=runner,
        registry=registry,
        eager=eager,
        max_tasks_per_plan=max_tasks_per_plan,
        max_plan_tokens=max_plan_tokens,
        run_timeout=run_timeout,
        needs_approval=needs_approval,
        stream_protocol=stream_protocol,
    )
    joiner = make_joiner(
        joiner_llm,
        max_replans,
        instructions(joiner_prompt),
        instructions(joiner_finish_only_prompt),
        name=name,
        message_history=message_history,
        stream_protocol=stream_protocol,
        return_direct={n for n, t in tool_map.items() if t.return_direct},
        structured_answer=make_structured_answer(joiner_llm, response_format),
        run_timeout=run_timeout,
    )
    builder: StateGraph[Any] = StateGraph(state_schema, context_schema=context_schema)
    builder.add_node(PLANNER_NODE, _Node(PLANNER_NODE, planner))
    builder.add_node(
        SCHEDULER_NODE,
        _sync_node(SCHEDULER_NODE, make_scheduler(registry, needs_approval, with_state=runner.needs_state)),
        destinations=(EXECUTE_TASK_NODE, APPROVE_NODE, JOINER_NODE),
    )
    builder.add_node(
        EXECUTE_TASK_NODE,
        _Node(EXECUTE_TASK_NODE, make_executor(runner, registry)),
        input_schema=TaskDispatch,
    )
    builder.add_node(
        JOINER_NODE,
        _Node(JOINER_NODE, joiner),
        destinations=(PLANNER_NODE, END),
    )
    builder.add_edge(START, PLANNER_NODE)
    builder.add_edge(PLANNER_NODE, SCHEDULER_NODE)
    builder.add_edge(EXECUTE_TASK_NODE, SCHEDULER_NODE)
    builder.add_node(
        APPROVE_NODE,
        _Node(APPROVE_NODE, make_approval_node({n: tool_parameters(t) for n, t in tool_map.items()})),
        input_schema=ApprovalRequest,
    )
    builder.add_edge(APPROVE_NODE, SCHEDULER_NODE)
    return builder
