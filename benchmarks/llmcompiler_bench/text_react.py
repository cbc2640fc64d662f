"""ReAct in its original text form, for models without native tool calling (base models).

Each turn the model writes `Thought: ...` and `Action: tool(args)`; the tool runs and its
result is appended as `Observation: ...`, until the model writes `Action: Finish(answer)`.
This is the baseline the local model is compared against: the same model, tools, argument
parser and tool timeout as the LLMCompiler graph, one tool call per model turn.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from langchain_core.language_models import LanguageModelLike
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool

from llmcompiler_graph.nodes import ModelCall, model_call_metadata
from llmcompiler_graph.plan.parser import (
    ParsedCall,
    parse_joiner_output,
    parse_plan_line,
    to_text,
)
from llmcompiler_graph.plan.tool_schemas import bind_arguments, describe_tool

__all__ = ["TEXT_REACT_PROMPT", "TextReactResult", "run_text_react"]

TEXT_REACT_PROMPT = """\
Answer the question with the help of these tools:
{tool_descriptions}

Work step by step in this format:
Thought: <what you need next>
Action: <one tool call, such as search("..."), or Finish(<the final answer>)>
Observation: <the tool's result>
Repeat Thought, Action and Observation until you can answer, then write Action: Finish(<the answer>).

Example:
Question: Which mountain is higher, Mont Blanc or Ben Nevis?
Thought: I need the height of Mont Blanc.
Action: search("Mont Blanc")
Observation: Mont Blanc is 4,806 m high.
Thought: Now I need the height of Ben Nevis.
Action: search("Ben Nevis")
Observation: Ben Nevis is 1,345 m high.
Thought: Mont Blanc is 4,806 m high and Ben Nevis 1,345 m, so Mont Blanc is higher.
Action: Finish(Mont Blanc)
"""

_ACTION = re.compile(r"(?m)^\s*Action:\s*(.*)$")


@dataclass
class TextReactResult:
    """What the text ReAct agent did for one question."""

    answer: str
    llm_calls: int = 0
    tool_calls: list[str] = field(default_factory=list)
    finished: bool = False


def _parse_action(reply: str) -> ParsedCall | str | None:
    """The tool call of a reply, `Finish`'s answer as a string, or None when unreadable."""
    match = _ACTION.search(reply)
    if match is None:
        return None
    action = match.group(1).strip()
    if action.startswith("Finish"):
        return parse_joiner_output(f"Action: {action}").content
    parsed = parse_plan_line(f"1. {action}")
    return parsed if isinstance(parsed, ParsedCall) else None


async def _observe(call: ParsedCall, tools: dict[str, BaseTool], tool_timeout: float) -> str:
    tool = tools.get(call.tool)
    if tool is None:
        return f"ERROR: there is no tool named {call.tool!r}; use one of {', '.join(tools)}"
    try:
        arguments = bind_arguments(tool, call.args, call.kwargs)
        result = await asyncio.wait_for(tool.ainvoke(arguments), tool_timeout)
    except Exception as error:  # every failure is an observation, as in the graph
        return f"ERROR: {type(error).__name__}: {error}"
    return to_text(result)


async def run_text_react(
    model: LanguageModelLike,
    tools: Sequence[BaseTool],
    question: str,
    *,
    max_steps: int = 6,
    tool_timeout: float = 60.0,
) -> TextReactResult:
    r"""Answer `question` with one tool call per model turn.

    After `max_steps` tool calls without `Finish`, the model gets one last turn in which
    only `Finish` counts; whatever it writes is the answer.

    Example:
        >>> import asyncio
        >>> from llmcompiler_graph.testing import ScriptedChatModel
        >>> from llmcompiler_graph.tools import make_math_tool
        >>> model = ScriptedChatModel(responses=[
        ...     'Thought: compute.\nAction: math("2 + 2")', "Thought: done.\nAction: Finish(4)"])
        >>> asyncio.run(run_text_react(model, [make_math_tool()], "What is 2 + 2?")).answer
        '4'
    """
    by_name = {tool.name: tool for tool in tools}
    system = TEXT_REACT_PROMPT.replace(
        "{tool_descriptions}", "\n".join(describe_tool(tool, number) for number, tool in enumerate(tools, 1))
    )
    result = TextReactResult(answer="")
    react_config: RunnableConfig = {"metadata": model_call_metadata(ModelCall.REACT)}  # which call this is
    scratchpad: list[str] = []
    for step in range(max_steps + 1):
        prompt = "\n".join([f"Question: {question}", *scratchpad])
        reply = await model.ainvoke([SystemMessage(system), HumanMessage(prompt)], react_config)
        result.llm_calls += 1
        text = reply if isinstance(reply, str) else reply.text
        action = _parse_action(text)
        if isinstance(action, str) or step == max_steps:
            result.answer = action if isinstance(action, str) else parse_joiner_output(text).content
            result.finished = isinstance(action, str)
            return result
        scratchpad.append(text.strip())
        if action is None:
            scratchpad.append("Observation: ERROR: no Action line; write Action: tool(...) or Finish(...)")
            continue
        result.tool_calls.append(action.tool)
        scratchpad.append(f"Observation: {await _observe(action, by_name, tool_timeout)}")
    return result
