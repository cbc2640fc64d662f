"""The joiner node: reads the observations, then answers or asks for a new plan."""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import Any

from langchain_core.language_models import LanguageModelLike
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END
from langgraph.types import Command

from llmcompiler_graph.events import emit
from llmcompiler_graph.joiner_output import parse_joiner_output
from llmcompiler_graph.planner import current_question, message_text
from llmcompiler_graph.prompts import build_joiner_prompt
from llmcompiler_graph.state import LLMCompilerState

__all__ = ["PLANNER_NODE", "make_joiner"]

PLANNER_NODE = "planner"

JoinerNode = Callable[[LLMCompilerState, RunnableConfig], Coroutine[Any, Any, Command[Any]]]


def make_joiner(
    model: LanguageModelLike,
    max_replans: int,
    system_prompt: str,
    finish_only_prompt: str,
) -> JoinerNode:
    """Build the joiner node.

    While replans remain, the joiner may answer `Replan(feedback)` and control goes back
    to the planner. Once `max_replans` replans have happened it is prompted with
    `finish_only_prompt`, and whatever it says ends the run with an answer.
    """

    async def joiner(state: LLMCompilerState, config: RunnableConfig) -> Command[Any]:
        messages = state["messages"]
        position, question = current_question(messages)
        replans = state.get("replans", 0)
        deadline = state.get("deadline")
        can_replan = replans < max_replans and (deadline is None or time.time() < deadline)
        prompt: list[BaseMessage] = [
            SystemMessage(system_prompt if can_replan else finish_only_prompt),
            *messages[:position],
            HumanMessage(
                build_joiner_prompt(
                    message_text(question) if question is not None else "",
                    state.get("tasks", {}),
                    state.get("plan_issues", []),
                )
            ),
        ]
        response = await model.ainvoke(prompt, config)
        text = response if isinstance(response, str) else message_text(response)
        decision = parse_joiner_output(text)
        replan = decision.action == "replan" and can_replan
        forced = decision.action == "replan" and not can_replan
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
        if replan:
            feedback = decision.content or decision.thought or "the results were not sufficient"
            return Command(goto=PLANNER_NODE, update={"replans": replans + 1, "replan_feedback": feedback})
        answer = decision.content
        if forced:
            answer = f"I could not find a complete answer after {replans} replans. {decision.content}".strip()
            if deadline is not None and time.time() >= deadline:
                answer = (
                    f"I ran out of time (run_timeout) before finding a complete answer. {decision.content}"
                )
        return Command(
            goto=END,
            update={"messages": [AIMessage(content=answer)], "replan_feedback": None},
        )

    return joiner
