"""Tools: normalising what the user passes, mapping plan arguments onto a tool's schema."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.tools import BaseTool
from langchain_core.tools import tool as as_tool

from llmcompiler_graph.plan.parser import JOIN_TOOL_NAME
from llmcompiler_graph.plan.references import to_text

__all__ = [
    "ToolLike",
    "bind_arguments",
    "coerce_arguments",
    "describe_tool",
    "normalize_tools",
    "tool_parameters",
    "visible_parameters",
]

ToolLike = BaseTool | Callable[..., Any]
"""A LangChain tool, or a plain function / coroutine function turned into one."""

# Letters, digits, `_`, `-` and `.` (what OpenAI and Anthropic allow in tool names), not
# starting with a digit, `-` or `.`: the plan line `3. web-search("x")` stays readable.
_VALID_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_WHOLE_REFERENCE = re.compile(r"\$\{\d{1,9}\}|\$\d{1,9}")
_JSON_KINDS: dict[str, tuple[type, ...]] = {
    "array": (list,),
    "object": (dict,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}
_JSON_TYPES = {
    "string": "str",
    "integer": "int",
    "number": "float",
    "boolean": "bool",
    "array": "list",
    "object": "dict",
    "null": "None",
}


def normalize_tools(tools: Sequence[ToolLike]) -> dict[str, BaseTool]:
    """Turn the user's tools into LangChain tools keyed by name.

    No tools is no error: the agent then answers with the model's own turn.

    Raises:
        ValueError: A name the plan syntax cannot call, the reserved name
            `join`, or two tools with the same name.
        TypeError: Something that is neither a tool nor a callable.

    Example:
        >>> def add(a: int, b: int) -> int:
        ...     '''Add two integers.'''
        ...     return a + b
        >>> list(normalize_tools([add]))
        ['add']
    """
    if isinstance(tools, BaseTool | str) or callable(tools):
        msg = "tools must be a list of tools, not a single tool"
        raise TypeError(msg)
    by_name: dict[str, BaseTool] = {}
    for item in tools:
        if isinstance(item, BaseTool):
            converted = item
        elif callable(item):
            if not (getattr(item, "__doc__", None) or "").strip():
                name = getattr(item, "__name__", repr(item))
                msg = f"function {name!r} needs a docstring: the planner reads it to use the tool"
                raise ValueError(msg)
            converted = as_tool(item)
        else:
            raise TypeError(_not_a_tool(item))
        name = converted.name
        if not _VALID_NAME.match(name):
            msg = (
                f"tool name {name!r} cannot be called from a plan: use letters, digits, '_', '-' "
                "and '.', starting with a letter or '_' (rename it with tool.name = ...)"
            )
            raise ValueError(msg)
        if name == JOIN_TOOL_NAME:
            msg = f"tool name {JOIN_TOOL_NAME!r} is reserved for the plan's final action"
            raise ValueError(msg)
        if name in by_name:
            msg = f"two tools are named {name!r}; tool names must be unique"
            raise ValueError(msg)
        by_name[name] = converted
    return by_name


def visible_parameters(tool: BaseTool) -> dict[str, dict[str, Any]]:
    """The parameters the planner fills, with their JSON schemas, in declaration order.

    Arguments LangGraph injects (`InjectedState`, `InjectedStore`, `ToolRuntime`,
    `InjectedToolCallId`) are left out, as `create_agent` leaves them out of a model's
    tool schema.
    """
    schema: Any = tool.tool_call_schema
    if isinstance(schema, Mapping):
        raw = schema
    elif hasattr(schema, "model_json_schema"):
        raw = schema.model_json_schema()
    else:  # a pydantic v1 model
        raw = schema.schema()
    properties = raw.get("properties", {})
    return dict(properties) if isinstance(properties, Mapping) else {}


def tool_parameters(tool: BaseTool) -> list[str]:
    """The tool's parameter names in declaration order (the order positional arguments map to)."""
    return list(visible_parameters(tool))


def _is_type(schema: Mapping[str, Any], kind: str) -> bool:
    options = schema.get("anyOf") or [schema]
    return any(isinstance(o, Mapping) and o.get("type") == kind for o in options)


def coerce_arguments(tool: BaseTool, planned: Mapping[str, Any], resolved: dict[str, Any]) -> dict[str, Any]:
    """Fit results passed whole (`"$1"`) to the parameter's type, as a model's call would be.

    A result into a `str` parameter becomes its text; a JSON text into a list, dict,
    number or boolean parameter becomes that value. Everything else is left to the
    tool's own validation.

    Example:
        >>> from langchain_core.tools import tool
        >>> @tool
        ... def note(text: str, ids: list[int]) -> str:
        ...     '''Note.'''
        ...     return text
        >>> coerce_arguments(note, {"text": "$1", "ids": "$2"}, {"text": 6, "ids": "[1, 2]"})
        {'text': '6', 'ids': [1, 2]}
    """
    parameters = visible_parameters(tool)
    coerced = dict(resolved)
    for name, value in resolved.items():
        schema = parameters.get(name)
        if schema is None or not _whole_reference(planned.get(name)):
            continue
        if _is_type(schema, "string"):
            if not isinstance(value, str):
                coerced[name] = to_text(value)
        elif isinstance(value, str):
            coerced[name] = _json_value(value, schema)
    return coerced


def _whole_reference(value: Any) -> bool:
    return isinstance(value, str) and bool(_WHOLE_REFERENCE.fullmatch(value.strip()))


def _json_value(text: str, schema: Mapping[str, Any]) -> Any:
    """`text` parsed as JSON when that gives a value of the parameter's type, else `text`."""
    wanted = tuple(t for kind, types in _JSON_KINDS.items() if _is_type(schema, kind) for t in types)
    if not wanted:
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, wanted) else text


def bind_arguments(tool: BaseTool, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Map a plan call's positional and keyword arguments onto the tool's parameter names.

    Raises:
        ValueError: Too many positional arguments, an unknown keyword, or a parameter
            given twice. The message is written for the joiner.

    Example:
        >>> from langchain_core.tools import tool
        >>> @tool
        ... def search(query: str, limit: int = 3) -> str:
        ...     '''Search.'''
        ...     return query
        >>> bind_arguments(search, ["cats"], {"limit": 5})
        {'query': 'cats', 'limit': 5}
    """
    names = tool_parameters(tool)
    signature = f"{tool.name}({', '.join(names)})"
    if len(args) > len(names):
        msg = f"{signature} takes {len(names)} argument(s) but {len(args)} were given"
        raise ValueError(msg)
    bound = dict(zip(names, args, strict=False))
    for key, value in kwargs.items():
        if key not in names:
            msg = f"{signature} has no parameter {key!r}"
            raise ValueError(msg)
        if key in bound:
            msg = f"{signature} got {key!r} both by position and by name"
            raise ValueError(msg)
        bound[key] = value
    return bound


def _type_name(schema: Mapping[str, Any]) -> str:
    if "anyOf" in schema:
        return " | ".join(_type_name(option) for option in schema["anyOf"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(_JSON_TYPES.get(k, str(k)) for k in kind)
    if kind == "array" and isinstance(schema.get("items"), Mapping):
        return f"list[{_type_name(schema['items'])}]"
    return _JSON_TYPES.get(str(kind), "Any") if kind else "Any"


def describe_tool(tool: BaseTool, number: int) -> str:
    """Render one tool for the planner prompt: a numbered signature, then its description.

    Example:
        >>> from langchain_core.tools import tool
        >>> @tool
        ... def search(query: str) -> str:
        ...     '''Look up a topic in an encyclopedia.'''
        ...     return query
        >>> print(describe_tool(search, 1))
        1. search(query: str)
         - Look up a topic in an encyclopedia.
    """
    params = []
    for name, schema in visible_parameters(tool).items():
        text = f"{name}: {_type_name(schema)}"
        if "default" in schema:
            text += f" = {schema['default']!r}"
        params.append(text)
    lines = [f"{number}. {tool.name}({', '.join(params)})"]
    for line in (tool.description or "").strip().splitlines():
        line = line.strip()
        if line:
            lines.append(f" - {line.lstrip('- ')}")
    return "\n".join(lines)


def _not_a_tool(item: Any) -> str:
    """Why `item` cannot be a tool here, and what to pass instead."""
    if isinstance(item, dict):
        return (
            f"a tool given as a dict ({str(item)[:80]}) has no function for LLMCompiler to call: "
            "it runs the tools of a plan itself. Pass the function (with a docstring) or a LangChain "
            "tool (@tool, StructuredTool.from_function); a provider's built-in tool (such as "
            "web_search) runs inside the model, so use langchain.agents.create_agent for it"
        )
    return f"expected a LangChain tool or a function, got {type(item).__name__}: {item!r}"
