"""`create_llmcompiler`: wires planner, scheduler, task node and joiner into a StateGraph."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from langchain_core.language_models import LanguageModelLike
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langgraph.graph import END, START
from typing_extensions import Unpack

from llmcompiler_graph.durability.thread_runs import LLMCompilerGraph
from llmcompiler_graph.execution.approval import (
    SIDE_EFFECTS_METADATA_KEY,
    ApprovalRequest,
    make_approval_node,
)
from llmcompiler_graph.execution.fetching_unit import Dispatches, Gate
from llmcompiler_graph.execution.runner import TaskRunner
from llmcompiler_graph.execution.tool_call import make_tool_node
from llmcompiler_graph.graph.joiner import JoinerNode, NativeJoin, make_joiner
from llmcompiler_graph.graph.planner import PlannerNode, PlannerSettings, make_planner
from llmcompiler_graph.graph.scheduler import make_scheduler
from llmcompiler_graph.graph.structured import make_structured_answer, with_instructions
from llmcompiler_graph.graph.sync_bridge import AsyncNode, sync_node
from llmcompiler_graph.graph.task_node import make_task_node
from llmcompiler_graph.nodes import APPROVE_NODE, EXECUTE_TASK_NODE, JOINER_NODE, PLANNER_NODE, SCHEDULER_NODE
from llmcompiler_graph.options import LLMCompilerOptions, Options, resolve_options
from llmcompiler_graph.plan.native import REFERENCES_PROMPT, choose_plan_format, reference_tool_schemas
from llmcompiler_graph.plan.prompts import build_planner_prompt
from llmcompiler_graph.plan.tool_schemas import ToolLike, normalize_tools, tool_parameters
from llmcompiler_graph.state import TaskDispatch, with_llmcompiler_keys

__all__ = [
    "APPROVE_NODE",
    "EXECUTE_TASK_NODE",
    "JOINER_NODE",
    "PLANNER_NODE",
    "SCHEDULER_NODE",
    "LLMCompilerOptions",
    "create_llmcompiler",
]


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
        kind = type(model).__name__
        msg = f"{argument} must be a LangChain chat model or a 'provider:model' string, got {kind}"
        raise TypeError(msg)
    return model


def _needs_approval(tools: dict[str, BaseTool], side_effect_tools: Any) -> frozenset[str]:
    """Tools whose calls wait for a human: those named, and those whose metadata says so."""
    unknown = sorted(set(side_effect_tools) - set(tools))
    if isinstance(side_effect_tools, str) or unknown:
        msg = f"side_effect_tools must be a list of tool names; unknown: {unknown or side_effect_tools!r}"
        raise ValueError(msg)
    flagged = {name for name, tool in tools.items() if (tool.metadata or {}).get(SIDE_EFFECTS_METADATA_KEY)}
    return frozenset(side_effect_tools) | flagged


def _build_planner(
    model: LanguageModelLike, tools: dict[str, BaseTool], runner: TaskRunner, options: Options
) -> PlannerNode:
    instructions, base_model = with_instructions(options.system_prompt), model
    if options.plan_format == "tools":
        references = REFERENCES_PROMPT if tools else ""
        model, prompt = _with_tools(model, tools), options.planner_prompt or references
    else:
        prompt = options.planner_prompt or build_planner_prompt(
            list(tools.values()), examples=options.planner_examples
        )
    settings = PlannerSettings(
        model,
        tools,
        instructions(prompt),
        options.replan_prompt,
        runner,
        options.eager,
        max_tasks_per_plan=options.max_tasks_per_plan,
        max_plan_tokens=options.max_plan_tokens,
        run_timeout=options.run_timeout,
        needs_approval=runner.side_effect_tools,
        max_concurrency=options.max_concurrency,
        stream_protocol=options.stream_protocol,
        plan_format="tools" if options.plan_format == "tools" else "text",
        base_model=base_model,
        model_wrappers=options.model_wrappers,
    )
    return make_planner(settings)


def _with_tools(model: LanguageModelLike, tools: dict[str, BaseTool]) -> LanguageModelLike:
    """`model` with the tools bound for native plans (each typed argument also takes `"$N"`)."""
    if not tools:  # the agent is the model's own turn: nothing to bind
        return model
    bind = getattr(model, "bind_tools", None)
    try:
        if bind is None:
            raise NotImplementedError
        bound: LanguageModelLike = bind(reference_tool_schemas(list(tools.values())))
    except NotImplementedError:
        msg = (
            f"plan_format='tools' needs a model that calls tools (bind_tools), and "
            f"{type(model).__name__} does not: use plan_format='text' (the default)"
        )
        raise ValueError(msg) from None
    return bound


def _build_joiner(model: LanguageModelLike, tools: dict[str, BaseTool], options: Options) -> JoinerNode:
    instructions = with_instructions(options.system_prompt)
    native = options.plan_format == "tools"
    return make_joiner(
        model,
        options.max_replans,
        instructions((REFERENCES_PROMPT if tools else "") if native else options.joiner_prompt),
        instructions(options.joiner_finish_only_prompt),
        name=options.name,
        stream_protocol=options.stream_protocol,
        return_direct={name for name, tool in tools.items() if tool.return_direct},
        structured_answer=make_structured_answer(model, options.response_format),
        run_timeout=options.run_timeout,
        native=NativeJoin(_with_tools(model, tools), list(tools.values()), options.model_wrappers)
        if native
        else None,
    )


def _build_runner(tools: dict[str, BaseTool], options: Options) -> TaskRunner:
    return TaskRunner(
        tools,
        options.task_timeout,
        make_tool_node(list(tools.values()), options.tool_wrappers),
        max_result_chars=options.max_result_chars,
        max_argument_chars=options.max_argument_chars,
        side_effect_tools=_needs_approval(tools, options.side_effect_tools),
        wrapped=bool(options.tool_wrappers),
    )


def _build_scheduler(dispatches: Dispatches, runner: TaskRunner, settings: Options) -> Any:
    return make_scheduler(
        dispatches,
        Gate(runner.side_effect_tools),
        with_state=runner.needs_state,
        record_rounds=settings.message_history == "full",
        name=settings.name,
    )


def _settled(options: Options, model: LanguageModelLike, tools: dict[str, BaseTool]) -> Options:
    """The options with `plan_format="auto"` settled for this model and these tools.

    Raises:
        ValueError: Model middleware (`model_wrappers`) with text plans, which it cannot wrap.
    """
    settled = replace(
        options, plan_format=choose_plan_format(model, options.plan_format, list(tools.values()))
    )
    if settled.model_wrappers and settled.plan_format == "text":
        msg = (
            "model middleware (wrap_model_call, dynamic_prompt) wraps model turns of native plans, "
            "and this agent plans in text (a model without tool calling, or plan_format='text'): "
            "use a model that calls tools, or pass planner_prompt=/joiner_prompt= instead"
        )
        raise ValueError(msg)
    return settled


def create_llmcompiler(
    model: LanguageModelLike | str, tools: Sequence[ToolLike], **options: Unpack[LLMCompilerOptions]
) -> LLMCompilerGraph:
    r"""Build an LLMCompiler agent as an uncompiled LangGraph `StateGraph`.

    The planner streams a plan of numbered tool calls from `model`; each task is parsed
    as soon as its line is complete and starts as soon as the tasks it references have
    finished. The joiner reads the observations and answers, or asks for a new plan (at
    most `max_replans` times). Graph: planner → scheduler → `execute_task` (one `Send`
    per task) → scheduler → joiner → planner or end; plus `approve` for side effects.

    Args:
        model: Chat model for the planner (streamed), or a `"provider:model"` string
            for `init_chat_model`.
        tools: LangChain tools, or functions / coroutine functions with docstrings.
        **options: Any of :class:`~llmcompiler_graph.options.LLMCompilerOptions`:
            `max_replans`, `task_timeout`, `run_timeout`, `eager`, `joiner_model`,
            `side_effect_tools`, `system_prompt`, `response_format`, ... (each documented
            there and in the options table of docs/api.md).

    Returns:
        The uncompiled graph (a `StateGraph`); call `.compile()` with the checkpointer,
        store and interrupts you want. Compiled, it refuses a second run on a thread
        that already has one in progress (:class:`~llmcompiler_graph.durability.thread_runs.ThreadBusyError`).

    Raises:
        ValueError: Invalid or duplicate tool names, no tools, or out-of-range limits.
        TypeError: A model or tool of the wrong type, or an option that does not exist.

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
        >>> graph = create_llmcompiler(model, [search], max_replans=1).compile()
        >>> graph.invoke({"messages": [("user", "How tall is Everest?")]})["messages"][-1].content
        '8,849 m'
    """
    planner_model = _resolve_model(model, "model")
    tool_map = normalize_tools(tools)
    settings = _settled(resolve_options(options), planner_model, tool_map)
    joiner_model = settings.joiner_model
    joiner_llm = planner_model if joiner_model is None else _resolve_model(joiner_model, "joiner_model")
    runner = _build_runner(tool_map, settings)
    dispatches = Dispatches(runner, settings.max_concurrency)
    scheduler = _build_scheduler(dispatches, runner, settings)
    approve = make_approval_node({name: tool_parameters(tool) for name, tool in tool_map.items()})

    state = with_llmcompiler_keys(settings.state_schema)
    builder = LLMCompilerGraph(
        state, context_schema=settings.context_schema, thread_lock=settings.thread_lock
    )
    builder.add_node(
        PLANNER_NODE, AsyncNode(PLANNER_NODE, _build_planner(planner_model, tool_map, runner, settings))
    )
    builder.add_node(
        SCHEDULER_NODE,
        sync_node(SCHEDULER_NODE, scheduler),
        destinations=(EXECUTE_TASK_NODE, APPROVE_NODE, JOINER_NODE),
    )
    builder.add_node(
        EXECUTE_TASK_NODE, AsyncNode(EXECUTE_TASK_NODE, make_task_node(dispatches)), input_schema=TaskDispatch
    )
    builder.add_node(APPROVE_NODE, AsyncNode(APPROVE_NODE, approve), input_schema=ApprovalRequest)
    builder.add_node(
        JOINER_NODE,
        AsyncNode(JOINER_NODE, _build_joiner(joiner_llm, tool_map, settings)),
        destinations=(PLANNER_NODE, END),
    )
    builder.add_edge(START, PLANNER_NODE)
    builder.add_edge(PLANNER_NODE, SCHEDULER_NODE)
    builder.add_edge(EXECUTE_TASK_NODE, SCHEDULER_NODE)
    builder.add_edge(APPROVE_NODE, SCHEDULER_NODE)
    return builder
