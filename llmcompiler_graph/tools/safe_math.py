"""A safe arithmetic evaluator: an AST whitelist, never `eval`.

Example:
    >>> evaluate("abs(8849 - 8611) / 2")
    119.0
    >>> evaluate("round(max(3, 2 ** 10) / 3, 2)")
    341.33
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from typing import Any

__all__ = ["MathError", "evaluate", "extract_expression"]

MAX_EXPRESSION_CHARS = 2_000
MAX_EXPONENT = 10_000
MAX_MAGNITUDE = 1e300


class MathError(ValueError):
    """The expression is not allowed or cannot be computed."""


_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "min": min,
    "max": max,
    "round": round,
    "sqrt": math.sqrt,
    "log": math.log,
    "log10": math.log10,
    "exp": math.exp,
    "floor": math.floor,
    "ceil": math.ceil,
    "sum": lambda *xs: sum(xs),
    "avg": lambda *xs: sum(xs) / len(xs),
    "mean": lambda *xs: sum(xs) / len(xs),
}
_CONSTANTS = {"pi": math.pi, "e": math.e}


def _number(value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"not a number: {value!r}"
        raise MathError(msg)
    if isinstance(value, float) and (math.isnan(value) or abs(value) > MAX_MAGNITUDE):
        msg = "result is not a finite number"
        raise MathError(msg)
    return value


def _eval(node: ast.AST) -> Any:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant):
        return _number(node.value)
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _number(_UNARY[type(node.op)](_eval(node.operand)))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            msg = f"exponent {right} is too large"
            raise MathError(msg)
        try:
            return _number(_BINARY[type(node.op)](left, right))
        except ZeroDivisionError as exc:
            raise MathError("division by zero") from exc
        except OverflowError as exc:
            raise MathError("result is too large") from exc
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS:
        if node.keywords:
            msg = f"{node.func.id}() takes no keyword arguments"
            raise MathError(msg)
        args = [_eval(arg) for arg in node.args]
        try:
            return _number(_FUNCTIONS[node.func.id](*args))
        except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
            msg = f"{node.func.id}{tuple(args)}: {exc}"
            raise MathError(msg) from exc
    if isinstance(node, ast.Tuple | ast.List):
        msg = "a list is not a number; use min(), max(), sum() or avg() over its items"
        raise MathError(msg)
    name = getattr(node, "id", None) or type(node).__name__
    msg = f"{name!r} is not allowed in a math expression"
    raise MathError(msg)


def evaluate(expression: str) -> float | int:
    """Compute an arithmetic expression without `eval`.

    Allowed: numbers, + - * / // % **, parentheses, pi, e, and abs, min, max, round,
    sqrt, log, log10, exp, floor, ceil, sum, avg/mean.

    `^` means power. Anything else is a :class:`MathError`.
    """
    text = expression.strip()
    if not text:
        raise MathError("empty expression")
    if len(text) > MAX_EXPRESSION_CHARS:
        msg = f"expression longer than {MAX_EXPRESSION_CHARS} characters"
        raise MathError(msg)
    text = text.replace("^", "**")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        msg = f"not an arithmetic expression: {expression[:120]!r}"
        raise MathError(msg) from exc
    try:
        return _number(_eval(tree))
    except RecursionError as exc:
        raise MathError("expression is nested too deeply") from exc


_FENCED = re.compile(r"```(?:\w+)?\s*(.+?)\s*```", re.DOTALL)
_LABELLED = re.compile(r"(?:expression|answer)\s*[:=]\s*(.+)", re.IGNORECASE)


def extract_expression(text: str) -> str:
    r"""The expression in a model's reply: a fenced block, an `Expression:` line, or the last line.

    Example:
        >>> extract_expression("Thought: subtract.\nExpression: 8849 - 8611")
        '8849 - 8611'
    """
    fenced = _FENCED.search(text)
    if fenced:
        return fenced.group(1).strip().splitlines()[-1].strip()
    labelled = _LABELLED.findall(text)
    if labelled:
        return str(labelled[-1]).strip().strip("`")
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip("`") if lines else ""
