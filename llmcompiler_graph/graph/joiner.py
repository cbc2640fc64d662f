"""The joiner node: reads the observations, then answers or asks for a new plan."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Coroutine, Sequence
from typing import Any

from langchain_core.language_models import LanguageModelLike
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import merge_configs
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
from llmcompiler_graph.graph.structured import StructuredAnswer
from llmcompiler_graph.nodes import PLANNER_NODE, ModelCall, model_call_metadata
from llmcompiler_graph.plan.joiner_output import JoinerDecision, parse_joiner_output, streaming_answer
from llmcompiler_graph.plan.prompts import build_joiner_prompt
from llmcompiler_graph.plan.stream import chunk_text, chunk_usage, returned_nothing
from llmcompiler_graph.state import LLMCompilerState, Task

__all__ = ["make_joiner"]

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
        async with asyncio.timeout(None if give_up is None else max(0.0, give_up - time.time())):
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
    """
    tags = [JOINER_TAG] if stream_protocol else [JOINER_TAG, TAG_NOSTREAM]

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
        prompt = _joiner_prompt(state, system_prompt if can_replan else finish_only_prompt)
        answer = AnswerStream(config)
        try:
            # The answer may take one more run_timeout after the deadline, never longer.
            give_up = deadline + run_timeout if deadline is not None and run_timeout is not None else None
            part = model_call_metadata(ModelCall.JOINER, can_replan=can_replan)
            decision, usage = await _decide(
                model, prompt, merge_configs(config, {"tags": tags, "metadata": part}), answer, give_up
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
            feedback = decision.content or decision.thought or "the results were not sufficient"
            update: dict[str, Any] = {
                "replans": replans + 1,
                "replan_feedback": feedback,
                "usage": usage,
                **notes,
            }
            return Command(goto=PLANNER_NODE, update=update)
        text = _final_answer(decision, replans, deadline)
        message_id = await answer.finish(text)
        final = answer_message(text, name=name, usage=usage, message_id=message_id)
        update = {"messages": [final], "replan_feedback": None, "usage": usage, **notes}
        if structured_answer is not None:
            question = current_question(state["messages"])[1]
            update["structured_response"] = await structured_answer(
                question.text if question is not None else "", text, config
            )
        return Command(goto=END, update=update)

    return joiner
