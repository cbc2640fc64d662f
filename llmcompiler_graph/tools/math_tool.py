"""The paper's `math` tool, without `eval`: a model writes an expression, a whitelist computes it."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.language_models import LanguageModelLike
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.tools import BaseTool, StructuredTool

from llmcompiler_graph.nodes import ModelCall, model_call_metadata
from llmcompiler_graph.plan.parser import to_text
from llmcompiler_graph.tools.safe_math import MathError, evaluate, extract_expression

__all__ = ["MATH_DESCRIPTION", "MATH_SYSTEM_PROMPT", "format_number", "make_math_tool"]

MATH_DESCRIPTION = """\
math(problem, context) computes one arithmetic result.
problem: a math expression ("8849 - 8611") or a short word problem ("how much taller is $1 than $2").
context: the results of earlier actions the problem needs, e.g. ["$1", "$2"]; numbers may carry units.
One result per call: use several math actions for several results; never compute inside search."""

MATH_SYSTEM_PROMPT = """\
Translate a math problem into ONE arithmetic expression.
Use only numbers, + - * / // % ** and parentheses, and the functions abs, min, max, round, sqrt, \
log, log10, exp, floor, ceil, sum, avg. Take the numbers from the context; convert units so \
they match (for example km to m) and drop thousands separators (8,849 -> 8849).
Answer with one line: Expression: <expression>

Example:
Problem: how much higher is $1 than $2
Context:
- Mont Blanc is 4,806 m high.
- Ben Nevis is 1,345 m high.
Expression: 4806 - 1345"""


def format_number(value: float | int) -> str:
    """A result as text: integers without `.0`, others to 6 significant decimals.

    Example:
        >>> format_number(238.0), format_number(1/3)
        ('238', '0.333333')
    """
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def make_math_tool(model: LanguageModelLike | None = None, *, name: str = "math") -> BaseTool:
    """Build the `math` tool.

    A problem that already is an arithmetic expression is computed directly. Otherwise
    `model` translates problem and context into an expression, which the safe evaluator
    computes; bad expressions become error observations. Nothing is passed to `eval`.

    Example:
        >>> import asyncio
        >>> asyncio.run(make_math_tool().ainvoke({"problem": "abs(8849 - 8611)"}))
        '238'
    """

    async def math(problem: str, context: Sequence[str] | str | None = None) -> str:
        try:
            return format_number(evaluate(problem))
        except MathError:
            pass
        if model is None:
            msg = f"{problem!r} is not an arithmetic expression, and no model was given to translate it"
            raise MathError(msg)
        items = [context] if isinstance(context, str) else list(context or [])
        lines = "\n".join(f"- {to_text(item)}" for item in items) or "(none)"
        reply = await model.ainvoke(
            [SystemMessage(MATH_SYSTEM_PROMPT), HumanMessage(f"Problem: {problem}\nContext:\n{lines}")],
            {"metadata": model_call_metadata(ModelCall.MATH)},
        )
        text = reply if isinstance(reply, str) else reply.text
        expression = extract_expression(text)
        try:
            return format_number(evaluate(expression))
        except MathError as exc:
            msg = f"could not compute {expression!r} (from the problem {problem!r}): {exc}"
            raise MathError(msg) from exc

    return StructuredTool.from_function(coroutine=math, name=name, description=MATH_DESCRIPTION)
