"""The options of :func:`~llmcompiler_graph.create_llmcompiler`, typed, documented and checked once.

:class:`LLMCompilerOptions` is what callers pass (every key optional, type-checked by mypy
and pyright through `Unpack`); :func:`resolve_options` checks them and fills in defaults,
returning :class:`Options`, what the graph is built from.

Example:
    >>> resolve_options({"max_replans": 1}).max_replans
    1
    >>> resolve_options({"max_replan": 1})
    Traceback (most recent call last):
    TypeError: create_llmcompiler() got an unexpected option 'max_replan' (did you mean 'max_replans'?)
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

from langchain_core.language_models import LanguageModelLike
from langchain_core.messages import SystemMessage
from typing_extensions import TypedDict

from llmcompiler_graph.durability.thread_locks import StoreLock
from llmcompiler_graph.execution.tool_call import ToolWrapper
from llmcompiler_graph.plan.native import ModelWrapper, PlanFormatOption
from llmcompiler_graph.plan.prompts import (
    JOINER_FINISH_ONLY_PROMPT,
    JOINER_SYSTEM_PROMPT,
    PLANNER_EXAMPLES,
    REPLAN_PROMPT,
)
from llmcompiler_graph.state import LLMCompilerState

__all__ = ["AgentOptions", "LLMCompilerOptions", "Options", "resolve_options"]


class AgentOptions(TypedDict, total=False):
    """The LLMCompiler options `create_agent` passes on (it has its own parameters for the rest)."""

    joiner_model: LanguageModelLike | str | None
    """Model for the joiner; the planner's model when omitted."""
    max_replans: int
    """How many times the joiner may send the question back to the planner (default 2)."""
    task_timeout: float | None
    """Seconds a tool call may take before it is abandoned and reported as an error
    (default 60); `None` waits forever."""
    max_concurrency: int | None
    """Most tool calls that run at once within one round of a run; `None` (default): no limit."""
    eager: bool | Literal["auto"]
    """Start each task the moment its plan line is parsed, while the planner still streams.
    `"auto"` (default) does so unless the run has a checkpointer, where tasks start once
    the plan is complete (so `interrupt_after=["planner"]` reviews a plan before anything
    runs). `True` always does; with a checkpointer in an async run the plan stream and
    every tool call are saved as they finish, so a resumed run repeats neither (a sync run
    with a checkpointer starts tasks once the plan is complete instead, each still saved
    as it finishes). `False` never does. Results are the same either way."""
    max_tasks_per_plan: int | None
    """Most actions one plan may run (default 200); later ones are dropped, and the planner
    stops streaming, reported to the joiner. `None`: no limit."""
    max_plan_tokens: int | None
    """Most streamed chunks (about one token each) read from one plan before it is cut
    (default 8192). `None`: no limit."""
    run_timeout: float | None
    """Seconds one question may spend planning and running tools. When they run out, the
    plan stream stops, running tools are abandoned, pending tasks are not started, and the
    joiner must answer with what it has within another `run_timeout` seconds (then the run
    ends saying it ran out of time). `None` (default): no limit."""
    side_effect_tools: Collection[str]
    """Names of tools whose calls need a human's approval (also: tools with
    `metadata[SIDE_EFFECTS_METADATA_KEY] = True`). Before the first such call runs, the
    graph pauses once with all of them (`interrupt`); other tasks run meanwhile. Needs a
    checkpointer. See :mod:`llmcompiler_graph.execution.approval`."""
    planner_prompt: str | None
    """The planner's whole system prompt. By default it is rendered from
    :data:`~llmcompiler_graph.plan.prompts.PLANNER_SYSTEM_PROMPT` with the tools' signatures and
    `planner_examples`."""
    planner_examples: str
    """Few-shot plans for the default planner prompt."""
    replan_prompt: str
    """Template of the message telling the planner what ran and why it must replan
    (`{scratchpad}`, `{feedback}`, `{next_idx}`)."""
    joiner_prompt: str
    """The joiner's system prompt while replanning is allowed."""
    joiner_finish_only_prompt: str
    """The joiner's system prompt once replans are spent."""
    message_history: Literal["full", "answer"]
    """`"full"` (default): each round's calls land in `messages` as an `AIMessage` with
    `tool_calls` and a `ToolMessage` per task, then the answer. `"answer"`: only the answer."""
    stream_protocol: bool
    """Also stream the planner's and joiner's raw tokens on `stream_mode="messages"` (tagged
    `llmcompiler:plan` / `llmcompiler:joiner`); by default only the answer streams there
    (tagged `llmcompiler:answer`)."""
    max_result_chars: int | None
    """Longest tool result kept (in state, checkpoints and the joiner's prompt), in
    characters of text (default 100,000); longer ones are cut, saying so. `None`: no limit."""
    max_argument_chars: int | None
    """Largest a call's arguments may be after substituting references, in characters of
    text (default 100,000); a larger call is not made and its task fails, saying why.
    `None`: no limit."""
    plan_format: PlanFormatOption
    """How the planner writes its plan. `"tools"`: a model turn of native tool calls (the model
    must support `bind_tools`); an argument may be `"$N"`, the result of the turn's N-th call,
    and the joiner is the model's next turn over the results, as in `create_agent` (text
    answers; tool calls are the next plan). `"text"`: the paper's numbered plan
    (`1. search("x")` ... `join()`), for any chat model. `"auto"` (default): `"tools"` for a
    model that calls tools (its profile says so, or `bind_tools` works), else `"text"`."""
    thread_lock: StoreLock | Literal[False] | None
    """How a run holds its thread against runs in other processes. `None` (default): in the
    checkpoint store, for the saver types registered in
    :data:`~llmcompiler_graph.durability.thread_locks.SAVER_KINDS` (SQLite files,
    PostgreSQL); in this process only for others. A
    :class:`~llmcompiler_graph.durability.thread_locks.StoreLock` (`hold(thread)` /
    `ahold(thread)`): that lock, for any checkpointer. `False`: in this process only."""


class LLMCompilerOptions(AgentOptions, total=False):
    """Keyword options of `create_llmcompiler`: :class:`AgentOptions` and what `create_agent` names itself."""

    state_schema: type[Any]
    """:class:`~llmcompiler_graph.state.LLMCompilerState` (default) or a subclass."""
    tool_wrappers: Sequence[ToolWrapper]
    """Async `wrap_tool_call` hooks, outermost first, around every tool call (retries,
    caching, rewriting a request); tools run through LangGraph's `ToolNode` either way."""
    model_wrappers: Sequence[ModelWrapper]
    """Async `wrap_model_call` hooks (`(ModelRequest, handler) -> ModelResponse`), outermost
    first, around every model turn of native plans (`create_agent(middleware=...)` fills it)."""
    system_prompt: str | SystemMessage | None
    """Instructions or a persona, as `create_agent` takes them: given to both the planner
    and the joiner, ahead of their own prompts."""
    name: str | None
    """The graph's name, and the `name` of the messages it adds (as a subgraph of a
    supervisor, the answer says who wrote it)."""
    response_format: Any
    """A Pydantic model, TypedDict, JSON schema (or LangChain's `ToolStrategy` /
    `ProviderStrategy` around one): the answer is also put into that structure, in
    `state["structured_response"]`, by the joiner's model."""
    context_schema: type[Any] | None
    """The run context's schema (`graph.invoke(..., context=...)`), read by tools through
    `ToolRuntime.context`."""


@dataclass(frozen=True)
class Options:
    """Checked options with their defaults filled in (see :class:`LLMCompilerOptions`)."""

    joiner_model: LanguageModelLike | str | None = None
    max_replans: int = 2
    task_timeout: float | None = 60.0
    max_concurrency: int | None = None
    eager: bool | Literal["auto"] = "auto"
    max_tasks_per_plan: int | None = 200
    max_plan_tokens: int | None = 8192
    run_timeout: float | None = None
    side_effect_tools: Collection[str] = ()
    planner_prompt: str | None = None
    planner_examples: str = PLANNER_EXAMPLES
    replan_prompt: str = REPLAN_PROMPT
    joiner_prompt: str = JOINER_SYSTEM_PROMPT
    joiner_finish_only_prompt: str = JOINER_FINISH_ONLY_PROMPT
    state_schema: type[Any] = LLMCompilerState
    tool_wrappers: Sequence[ToolWrapper] = ()
    model_wrappers: Sequence[ModelWrapper] = ()
    system_prompt: str | SystemMessage | None = None
    name: str | None = None
    response_format: Any = None
    context_schema: type[Any] | None = None
    message_history: Literal["full", "answer"] = "full"
    stream_protocol: bool = False
    max_result_chars: int | None = 100_000
    max_argument_chars: int | None = 100_000
    plan_format: PlanFormatOption = "auto"
    thread_lock: StoreLock | Literal[False] | None = None


_NAMES = tuple(f.name for f in fields(Options))
_COMPILE_ARGUMENTS = frozenset(
    {"checkpointer", "store", "interrupt_before", "interrupt_after", "debug", "cache"}
)


def _unknown(options: Mapping[str, Any]) -> None:
    for key in options:
        if key not in _NAMES:
            close = difflib.get_close_matches(key, _NAMES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            if key in _COMPILE_ARGUMENTS:
                hint = f": pass {key} to .compile(), or use create_agent, which takes it"
            msg = f"create_llmcompiler() got an unexpected option {key!r}{hint}"
            raise TypeError(msg)


def _positive_seconds(options: Options) -> None:
    for option in ("task_timeout", "run_timeout"):
        value = getattr(options, option)
        if value is not None and not value > 0:
            msg = f"{option} must be a positive number of seconds or None, got {value!r}"
            raise ValueError(msg)


def _integers(options: Options) -> None:
    def integer(value: Any, least: int) -> bool:
        return not isinstance(value, bool) and isinstance(value, int) and value >= least

    if not integer(options.max_replans, 0):
        msg = f"max_replans must be an integer >= 0, got {options.max_replans!r}"
        raise ValueError(msg)
    limits = ("max_concurrency", "max_tasks_per_plan", "max_plan_tokens")
    for option in (*limits, "max_result_chars", "max_argument_chars"):
        value = getattr(options, option)
        if value is not None and not integer(value, 1):
            msg = f"{option} must be an integer >= 1 or None, got {value!r}"
            raise ValueError(msg)


def _choices(options: Options) -> None:
    if options.eager not in (True, False, "auto"):
        msg = f"eager must be True, False or 'auto', got {options.eager!r}"
        raise ValueError(msg)
    if options.message_history not in ("full", "answer"):
        msg = f"message_history must be 'full' or 'answer', got {options.message_history!r}"
        raise ValueError(msg)
    if options.plan_format not in ("text", "tools", "auto"):
        msg = f"plan_format must be 'text', 'tools' or 'auto', got {options.plan_format!r}"
        raise ValueError(msg)
    lock = options.thread_lock
    if (
        lock is not None
        and lock is not False
        and not (callable(getattr(lock, "hold", None)) and callable(getattr(lock, "ahold", None)))
    ):
        msg = (
            f"thread_lock must be None (chosen from the checkpointer), False (this process only) or a "
            f"StoreLock with hold(thread) and ahold(thread) methods, got {lock!r}"
        )
        raise TypeError(msg)


def resolve_options(options: Mapping[str, Any]) -> Options:
    """Check `options` and fill in defaults.

    Raises:
        TypeError: An option that does not exist (with the closest name), or a `thread_lock` that is no lock.
        ValueError: A value out of range or not among the choices.
    """
    _unknown(options)
    resolved = Options(**options)
    _integers(resolved)
    _positive_seconds(resolved)
    _choices(resolved)
    return resolved
