"""The joiner node: reads the observations, then answers or asks for a new plan."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import LanguageModelLike
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import merge_configs
from langchain_core.tools import BaseTool
from langgraph.constants import TAG_NOSTREAM
from langgraph.graph import END
from langgraph.types import Command

from llmcompiler_graph.events import emit
from llmcompiler_graph.graph.answer_stream import JOINER_TAG, AnswerStream
from llmcompiler_graph.graph.conversation import (
    answer_message,
    current_question,
    prompt_history,
    round_tasks,
    total_usage,
)
from llmcompiler_graph.graph.model_call import ModelTurn, ModelWrapper, take_turn
from llmcompiler_graph.graph.structured import StructuredAnswer
from llmcompiler_graph.nodes import PLANNER_NODE, ModelCall, model_call_metadata
from llmcompiler_graph.plan.joiner_output import JoinerDecision, parse_joiner_output, streaming_answer
from llmcompiler_graph.plan.native import add_chunk, as_message
from llmcompiler_graph.plan.prompts import build_joiner_prompt
from llmcompiler_graph.plan.stream import chunk_text, chunk_usage, returned_nothing
from llmcompiler_graph.state import LLMCompilerState, Task

__all__ = ["NativeJoin", "make_joiner"]

JoinerNode = Callable[[LLMCompilerState, RunnableConfig], Coroutine[Any, Any, Command[Any]]]


def _joiner_prompt(state: LLMCompilerState, system_prompt: str) -> list[BaseMessage]:
    messages = state["messages"]
    position, question = current_question(messages)
    return [
        SystemMessage(system_prompt),
        *prompt_history(messages[:position]),
        HumanMessage(
            build_joiner_prompt(
                question.text if question is not None else "",
                state.get("tasks", {}),
                state.get("plan_issues", []),
            )
        ),
    ]


NO_REPLY = "I could not find an answer: the model returned no text."
OUT_OF_TIME = "I ran out of time (run_timeout) before finding a complete answer."


def _seconds_left(give_up: float | None) -> float | None:
    """Seconds until `give_up` (epoch seconds), never negative; `None` without a bound."""
    return None if give_up is None else max(0.0, give_up - time.time())


async def _decide(
    model: LanguageModelLike,
    prompt: list[BaseMessage],
    config: RunnableConfig,
    answer: AnswerStream,
    give_up: float | None,
) -> tuple[JoinerDecision, UsageMetadata | None]:
    """Stream the joiner's reply, relaying the answer as it becomes certain; parse it.

    The call is bounded by `give_up` (epoch seconds): then the answer is what has
    streamed so far, said to be cut short.
    """
    text, usage = "", None
    try:
        async with asyncio.timeout(_seconds_left(give_up)):
            async for chunk in model.astream(prompt, config):
                text += chunk_text(chunk)
                usage = total_usage(usage, chunk_usage(chunk))
                answer.offer(streaming_answer(text))
    except TimeoutError:
        so_far = streaming_answer(text)
        return JoinerDecision("finish", None, f"{OUT_OF_TIME} {so_far}".strip(), well_formed=False), usage
    except ValueError as exc:
        if text or not returned_nothing(exc):
            raise
    if not text.strip():
        return JoinerDecision("finish", None, NO_REPLY, well_formed=False), usage
    return parse_joiner_output(text), usage


async def _native_decide(
    model: LanguageModelLike,
    prompt: list[BaseMessage],
    config: RunnableConfig,
    answer: AnswerStream,
    give_up: float | None,
) -> tuple[JoinerDecision, UsageMetadata | None, AIMessage | None]:
    """The model's next turn over the round's calls and results: text answers, tool calls replan.

    The turn streams as the model's own run (`stream_mode="messages"`), as under create_agent.
    """
    turn: AIMessageChunk | None = None
    text, usage, calling = "", None, False
    try:
        async with asyncio.timeout(_seconds_left(give_up)):
            async for chunk in model.astream(prompt, config):
                turn = add_chunk(turn, chunk)
                usage = total_usage(usage, chunk_usage(chunk))
                calling = calling or bool(getattr(chunk, "tool_call_chunks", None))
                text += chunk_text(chunk)
    except TimeoutError:
        return JoinerDecision("finish", None, f"{OUT_OF_TIME} {text}".strip(), well_formed=False), usage, None
    reply = as_message(turn)
    if reply is not None and reply.tool_calls:
        return JoinerDecision("replan", None, text.strip()), usage, reply
    if not text.strip():
        return JoinerDecision("finish", None, NO_REPLY, well_formed=False), usage, reply
    return JoinerDecision("finish", None, text), usage, reply


@dataclass(frozen=True)
class _Call:
    """How the joiner's model call is made: its config, where the answer streams, when to give up."""

    config: RunnableConfig
    answer: AnswerStream
    give_up: float | None
    can_replan: bool


@dataclass(frozen=True)
class NativeJoin:
    """What the joiner needs for native plans: the model with and without tools, and the hooks.

    Attributes:
        tools_model: The model with the tools bound (a turn that may replan).
        tools: The tools, for `wrap_model_call` hooks' requests.
        model_wrappers: `create_agent`'s `wrap_model_call` hooks, outermost first.
    """

    tools_model: LanguageModelLike
    tools: Sequence[BaseTool] = ()
    model_wrappers: Sequence[ModelWrapper] = ()


async def _next_turn(
    model: LanguageModelLike,
    native: NativeJoin,
    system_prompt: str,
    state: LLMCompilerState,
    this_round: Sequence[Task],
    call: _Call,
) -> tuple[JoinerDecision, UsageMetadata | None, AIMessage | None]:
    """The model's next turn (native plans): with the tools while it may replan, through the hooks.

    When the planner's turn already answered (it called no tool), that turn is the answer.
    """
    answered = _planner_answered(state, this_round)
    if answered is not None:  # it streamed as the planner's turn
        return JoinerDecision("finish", None, chunk_text(answered)), None, answered
    if not native.model_wrappers:
        turn_model = native.tools_model if call.can_replan else model
        prompt: list[BaseMessage] = [SystemMessage(system_prompt), *state["messages"]]
        return await _native_decide(turn_model, prompt, call.config, call.answer, call.give_up)
    usage: list[UsageMetadata | None] = [None]

    def count(chunk: Any) -> None:
        usage[0] = total_usage(usage[0], chunk_usage(chunk))

    tools = native.tools if call.can_replan else ()
    ask = ModelTurn(model, system_prompt, state["messages"], tools, state, call.config)
    try:
        async with asyncio.timeout(_seconds_left(call.give_up)):
            reply = await take_turn(ask, native.model_wrappers, count)
    except TimeoutError:
        return JoinerDecision("finish", None, OUT_OF_TIME, well_formed=False), usage[0], None
    text = chunk_text(reply)
    if reply.tool_calls:
        return JoinerDecision("replan", None, text.strip()), usage[0], reply
    return JoinerDecision("finish", None, text or NO_REPLY, well_formed=bool(text)), usage[0], reply


def _planner_answered(state: LLMCompilerState, this_round: Sequence[Task]) -> AIMessage | None:
    """The planner's turn, when it answered without calling a tool (native plans)."""
    turn = state.get("model_turn")
    if isinstance(turn, AIMessage) and not turn.tool_calls and not this_round:
        return turn
    return None


def _final_answer(decision: JoinerDecision, replans: int, deadline: float | None) -> str:
    """The answer to record; when replanning was still wanted but is spent, says so."""
    if decision.action != "replan":
        return decision.content
    if deadline is not None and time.time() >= deadline:
        return f"{OUT_OF_TIME} {decision.content}"
    return f"I could not find a complete answer after {replans} replans. {decision.content}".strip()


def _with_notes(state: LLMCompilerState, decision: JoinerDecision) -> dict[str, list[str]]:
    """The state update adding the joiner's notes (what it read liberally) to `plan_notes`."""
    if not decision.notes:
        return {}
    return {"plan_notes": [*state.get("plan_notes", []), *(f"joiner: {note}" for note in decision.notes)]}


def _returns_directly(tasks: Sequence[Task], return_direct: Collection[str]) -> bool:
    """Whether a tool with `return_direct=True` succeeded this round: its result ends the run."""
    return any(t["status"] == "done" and t["tool"] in return_direct for t in tasks)


def _handoff(tasks: Sequence[Task]) -> dict[str, Any] | None:
    """The first handoff a tool of this round returned (`Command(graph=Command.PARENT)`), if any."""
    return next((t["handoff"] for t in sorted(tasks, key=lambda t: t["idx"]) if t.get("handoff")), None)


def _announce(decision: JoinerDecision, replan: bool, replans: int, *, forced: bool) -> None:
    """Emit the `joiner_decision` event."""
    emit(
        {
            "type": "joiner_decision",
            "action": "replan" if replan else "finish",
            "thought": decision.thought,
            "content": decision.content,
            "replans": replans + 1 if replan else replans,
            "forced": forced,
            "time": time.time(),
        }
    )


def _replan(decision: JoinerDecision, replans: int, reply: AIMessage | None) -> dict[str, Any]:
    """What a replan leaves for the planner: the feedback, or (native plans) the model's next calls."""
    feedback = decision.content or decision.thought or "the results were not sufficient"
    update: dict[str, Any] = {"replans": replans + 1, "replan_feedback": feedback, "model_turn": reply}
    if reply is not None:  # the model's message making the next calls, as create_agent records it
        update["messages"] = [reply]
    return update


async def _structured(
    structured_answer: StructuredAnswer, state: LLMCompilerState, text: str, config: RunnableConfig
) -> Any:
    """The answer put into the structure `response_format` asks for."""
    question = current_question(state["messages"])[1]
    return await structured_answer(question.text if question is not None else "", text, config)


def make_joiner(
    model: LanguageModelLike,
    max_replans: int,
    system_prompt: str,
    finish_only_prompt: str,
    *,
    name: str | None = None,
    stream_protocol: bool = False,
    return_direct: Collection[str] = frozenset(),
    structured_answer: StructuredAnswer | None = None,
    run_timeout: float | None = None,
    native: NativeJoin | None = None,
) -> JoinerNode:
    """Build the joiner node.

    While replans remain, the joiner may answer `Replan(feedback)` and control goes back
    to the planner. Once `max_replans` replans have happened it is prompted with
    `finish_only_prompt`, and whatever it says ends the run with an answer: an `AIMessage`
    named `name` with the question's token usage (each round's calls are already in
    `messages`, recorded by the scheduler). The answer alone streams on
    `stream_mode="messages"`; the joiner's protocol text only with `stream_protocol=True`.
    With `run_timeout`, the joiner's model call ends at most `run_timeout` seconds after
    the run's deadline.

    With `native` (native plans: `model` with the tools bound, and the hooks) the joiner is the
    model's next turn over the messages, as in `create_agent`: text is the answer, tool
    calls are the next plan, which the planner runs without asking the model again. Once
    replans are spent the turn is asked of `model`, without tools.
    """
    # A native turn streams as create_agent's model does (its text is the answer, as it is).
    tags = [JOINER_TAG] if stream_protocol or native is not None else [JOINER_TAG, TAG_NOSTREAM]

    async def joiner(state: LLMCompilerState, config: RunnableConfig) -> Command[Any]:
        replans = state.get("replans", 0)
        deadline = state.get("deadline")
        this_round = round_tasks(state.get("tasks", {}))
        handoff = _handoff(this_round)
        if handoff is not None:  # as create_agent's ToolNode does: the parent graph routes
            return Command(graph=Command.PARENT, goto=handoff["goto"], update=handoff["update"])
        if _returns_directly(this_round, return_direct):
            return Command(goto=END, update={"replan_feedback": None})
        can_replan = replans < max_replans and (deadline is None or time.time() < deadline)
        answer = AnswerStream(config)
        try:
            # The answer may take one more run_timeout after the deadline, never longer.
            give_up = deadline + run_timeout if deadline is not None and run_timeout is not None else None
            part = model_call_metadata(ModelCall.JOINER, can_replan=can_replan)
            call = _Call(merge_configs(config, {"tags": tags, "metadata": part}), answer, give_up, can_replan)
            if native is None:
                prompt = _joiner_prompt(state, system_prompt if can_replan else finish_only_prompt)
                decision, usage = await _decide(model, prompt, call.config, answer, give_up)
                reply = None
            else:
                decision, usage, reply = await _next_turn(
                    model, native, system_prompt, state, this_round, call
                )
        except BaseException:
            answer.cancel()
            raise
        usage = total_usage(state.get("usage"), usage)
        replan = decision.action == "replan" and can_replan
        _announce(decision, replan, replans, forced=decision.action == "replan" and not can_replan)
        notes = _with_notes(state, decision)
        if replan:
            answer.cancel()
            return Command(
                goto=PLANNER_NODE, update={**_replan(decision, replans, reply), "usage": usage, **notes}
            )
        text = _final_answer(decision, replans, deadline)
        if native is not None and reply is not None and text == decision.content:  # the model's own message
            final = reply if name is None else reply.model_copy(update={"name": name})
        else:
            final = answer_message(text, name=name, usage=usage, message_id=await answer.finish(text))
        update = {"messages": [final], "replan_feedback": None, "usage": usage, "model_turn": None, **notes}
        if structured_answer is not None:
            update["structured_response"] = await _structured(structured_answer, state, text, config)
        return Command(goto=END, update=update)

    return joiner
