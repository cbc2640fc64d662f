"""Plans as native tool calls: a model turn's tool calls, read as they stream, become plan actions.

With `plan_format="tools"` the planner's turn is an ordinary model turn with the tools bound
(`bind_tools`): each tool call of the reply is one action of the plan, numbered in order
after the question's earlier tasks. A call is complete, and becomes an action at once, when
the stream moves on to the next call (or ends), so it can start while the model still writes
the rest. An argument may reference an earlier call's result: `"$N"` (or `"${N}"`) by the
call's position in this turn, counting from 1, or the earlier call's id (any turn of this
question). The tool schemas the model is given accept such a reference wherever a typed value
is expected (:func:`reference_tool_schemas`); the system prompt says so in a few lines
(:data:`REFERENCES_PROMPT`).

Example:
    >>> from langchain_core.messages import AIMessageChunk
    >>> calls = ToolCallStream(first_idx=1)
    >>> chunk = AIMessageChunk(content="", tool_call_chunks=[
    ...     {"name": "search", "args": '{"query": "Everest"}', "id": "call_a", "index": 0}])
    >>> calls.feed(chunk)  # not complete until the next call starts, or the turn ends
    []
    >>> more = AIMessageChunk(content="", tool_call_chunks=[
    ...     {"name": "math", "args": '{"expression": "$1 - 8611"}', "id": "call_b", "index": 1}])
    >>> [(c.idx, c.tool, dict(c.kwargs)) for c in calls.feed(more)]
    [(1, 'search', {'query': 'Everest'})]
    >>> [(c.idx, c.tool, dict(c.kwargs), c.dependencies) for c in calls.finish()]
    [(2, 'math', {'expression': '$1 - 8611'}, (1,))]
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, message_chunk_to_message
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.runnables import RunnableBinding
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from llmcompiler_graph.plan.parser import ParsedCall, PlanLineError
from llmcompiler_graph.plan.references import find_references, renumber_references

__all__ = [
    "REFERENCES_PROMPT",
    "ModelHandler",
    "ModelWrapper",
    "PlanFormat",
    "PlanFormatOption",
    "choose_plan_format",
    "ToolCallStream",
    "add_chunk",
    "as_message",
    "reference_tool_schemas",
]

PlanFormat = Literal["text", "tools"]
"""How the planner writes its plan: the paper's numbered text, or native tool calls."""
ModelHandler = Callable[[Any], Coroutine[Any, Any, Any]]
"""A model call in `create_agent`'s middleware: `ModelRequest -> ModelResponse`."""
ModelWrapper = Callable[[Any, ModelHandler], Coroutine[Any, Any, Any]]
"""An async `wrap_model_call` hook around a native turn: `(ModelRequest, handler) -> ModelResponse`."""
PlanFormatOption = Literal["text", "tools", "auto"]
"""What a caller may ask for: a format, or `"auto"` (see :func:`choose_plan_format`)."""


def choose_plan_format(
    model: object, requested: PlanFormatOption, tools: Sequence[BaseTool] = ()
) -> PlanFormat:
    """The plan format for `model`: as requested, or with `"auto"`, `"tools"` if it calls tools.

    A model says whether it calls tools in its LangChain profile (`profile["tool_calling"]`);
    a model with no word on it calls tools when binding `tools` works. Without tools there
    is no plan to write: the agent is the model's own turn (`"tools"`, nothing bound).

    Example:
        >>> from llmcompiler_graph.testing import ScriptedChatModel
        >>> def search(query: str) -> str:
        ...     '''Look a query up.'''
        ...     return query
        >>> from llmcompiler_graph.plan.tool_schemas import normalize_tools
        >>> tools = list(normalize_tools([search]).values())
        >>> choose_plan_format(ScriptedChatModel(responses=["1. search('x')"]), "auto", tools)
        'text'
    """
    if not tools:
        return "tools"
    if requested != "auto":
        return requested
    base = model
    while isinstance(base, RunnableBinding):
        base = base.bound
    profile = getattr(base, "profile", None) or {}
    if isinstance(profile, Mapping) and isinstance(profile.get("tool_calling"), bool):
        return "tools" if profile["tool_calling"] else "text"
    try:
        getattr(model, "bind_tools")(reference_tool_schemas(tools))  # noqa: B009 (no method: no tool calls)
    except (AttributeError, NotImplementedError, TypeError, ValueError):
        return "text"
    return "tools"


REFERENCES_PROMPT = """\
Call every tool the question needs in one turn when you can; the calls run in parallel.
When a call needs the result of another call of the same turn, write "$N" as that argument \
(N is the other call's position in this turn, counting from 1), e.g. search(query="K2") \
then compare(a="$1", b="8849"); the result is passed in when it is ready. \
An earlier turn's result can be passed by its call id in the same way."""
"""What the planner's system prompt adds, in native mode, about references between calls."""

_REFERENCE_OPTION = {
    "type": "string",
    "pattern": r"^\$\{?[0-9]+\}?$|^call_",
    "description": "the result of another call: $N (its position in this turn) or its call id",
}


def _accepts_reference(schema: Mapping[str, Any]) -> dict[str, Any]:
    """`schema` widened to also accept a reference, unless it already takes any string."""
    options = schema.get("anyOf") or [schema]
    if any(isinstance(o, Mapping) and o.get("type") == "string" and "enum" not in o for o in options):
        return dict(schema)
    kept = {k: v for k, v in schema.items() if k in ("title", "description", "default")}
    inner = {k: v for k, v in schema.items() if k not in ("title", "description", "default")}
    return {**kept, "anyOf": [*(schema.get("anyOf") or [inner]), _REFERENCE_OPTION]}


def reference_tool_schemas(tools: Sequence[BaseTool]) -> list[dict[str, Any]]:
    """OpenAI-format tool schemas in which every parameter also accepts a reference (`"$1"`).

    Example:
        >>> from langchain_core.tools import tool
        >>> @tool
        ... def double(x: int) -> int:
        ...     '''Double x.'''
        ...     return 2 * x
        >>> schema = reference_tool_schemas([double])[0]["function"]["parameters"]["properties"]["x"]
        >>> [option["type"] for option in schema["anyOf"]]
        ['integer', 'string']
    """
    schemas = []
    for tool in tools:
        schema = convert_to_openai_tool(tool)
        parameters = schema["function"].get("parameters") or {}
        properties = parameters.get("properties") or {}
        parameters["properties"] = {name: _accepts_reference(p) for name, p in properties.items()}
        schemas.append(schema)
    return schemas


def _as_chunk(message: AIMessage) -> AIMessageChunk:
    """A whole reply as one chunk (what `astream` yields for a model that does not stream)."""
    pieces: list[tuple[str | None, str | None, str | None]]
    pieces = [(c["name"], json.dumps(c["args"]), c.get("id")) for c in message.tool_calls]
    pieces += [(c.get("name"), c.get("args"), c.get("id")) for c in message.invalid_tool_calls]
    return AIMessageChunk(
        content=message.content,
        id=message.id,
        name=message.name,
        additional_kwargs=message.additional_kwargs,
        response_metadata=message.response_metadata,
        usage_metadata=message.usage_metadata,
        tool_call_chunks=[
            tool_call_chunk(name=name, args=args, id=call_id, index=index)
            for index, (name, args, call_id) in enumerate(pieces)
        ],
    )


def add_chunk(turn: AIMessageChunk | None, chunk: object) -> AIMessageChunk | None:
    """The streamed turn so far with `chunk` added (a plain text chunk counts as content)."""
    if isinstance(chunk, str):
        chunk = AIMessageChunk(content=chunk)
    elif isinstance(chunk, AIMessage) and not isinstance(chunk, AIMessageChunk):
        chunk = _as_chunk(chunk)
    if not isinstance(chunk, AIMessageChunk):
        return turn
    return chunk if turn is None else turn + chunk


def as_message(turn: BaseMessage | None) -> AIMessage | None:
    """A streamed turn (the sum of its chunks) as the `AIMessage` it adds up to."""
    if isinstance(turn, AIMessageChunk):
        turn = message_chunk_to_message(turn)
    return turn if isinstance(turn, AIMessage) else None


@dataclass
class _Pending:
    """One tool call of the turn, as its chunks arrive."""

    name: str = ""
    args: str = ""
    id: str | None = None


@dataclass
class ToolCallStream:
    """Reads one streamed model turn's tool calls; returns each as a plan action once complete.

    Attributes:
        first_idx: The task id the turn's first call takes (after the question's earlier tasks).
        known_ids: Ids of earlier calls of the question, by call id (for references by id).
    """

    first_idx: int
    known_ids: dict[str, int] = field(default_factory=dict)
    _pending: dict[int, _Pending] = field(default_factory=dict)
    _done: set[int] = field(default_factory=set)
    _order: list[int] = field(default_factory=list)

    def feed(self, chunk: object) -> list[ParsedCall | PlanLineError]:
        """Take one chunk; the calls it completed (those before the call it continues)."""
        for piece in getattr(chunk, "tool_call_chunks", None) or []:
            index = piece.get("index")
            key = index if isinstance(index, int) else (self._order[-1] if self._order else 0)
            if key not in self._pending:
                self._pending[key] = _Pending()
                self._order.append(key)
            call = self._pending[key]
            call.name += piece.get("name") or ""
            call.args += piece.get("args") or ""
            call.id = call.id or piece.get("id")
        return self._complete(upto=self._order[-1] if self._order else None)

    def finish(self, message: AIMessage | None = None) -> list[ParsedCall | PlanLineError]:
        """The turn ended: every call not yet returned (taken from `message` when nothing streamed)."""
        if message is not None and not self._order:  # nothing streamed: the whole reply at once
            return [*self.feed(_as_chunk(message)), *self._complete(upto=None)]
        return self._complete(upto=None)

    def _complete(self, upto: int | None) -> list[ParsedCall | PlanLineError]:
        ready = []
        for key in self._order:
            if key == upto:
                break
            if key not in self._done:
                self._done.add(key)
                ready.append(self._action(self._order.index(key), self._pending[key]))
        return ready

    def _action(self, position: int, call: _Pending) -> ParsedCall | PlanLineError:
        idx = self.first_idx + position
        line = f"{call.name}({call.args})"
        if call.id:
            self.known_ids[call.id] = idx
        try:
            args = json.loads(call.args) if call.args.strip() else {}
        except ValueError as error:
            return PlanLineError(idx=idx, line=line, message=f"the call's arguments are not JSON: {error}")
        if not isinstance(args, dict):
            return PlanLineError(idx=idx, line=line, message="the call's arguments are not an object")
        resolved = self._references(args)
        return ParsedCall(
            idx=idx,
            tool=call.name,
            args=(),
            kwargs=resolved,
            dependencies=tuple(sorted(find_references(resolved))),
            line=line,
            arguments=call.args,
            call_id=call.id,
        )

    def _references(self, args: dict[str, Any]) -> dict[str, Any]:
        """`$N` (the N-th call of this turn) renumbered to task ids; a call id becomes `$id`."""
        turn = {n: self.first_idx + n - 1 for n in find_references(args) if n >= 1}
        by_id: dict[str, Any] = self._by_id(renumber_references(args, turn))
        return by_id

    def _by_id(self, value: Any) -> Any:
        if isinstance(value, str):
            return f"${self.known_ids[value.strip()]}" if value.strip() in self.known_ids else value
        if isinstance(value, Mapping):
            return {k: self._by_id(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._by_id(v) for v in value]
        return value
