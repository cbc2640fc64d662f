"""What `create_agent`'s `system_prompt` and `response_format` become in an LLMCompiler graph."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from types import UnionType
from typing import Any, Union, get_origin

from langchain_core.language_models import LanguageModelLike
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import merge_configs
from langgraph.constants import TAG_NOSTREAM

from llmcompiler_graph.nodes import ModelCall, model_call_metadata

__all__ = [
    "STRUCTURE_PROMPT",
    "StructuredAnswer",
    "make_structured_answer",
    "response_schema",
    "retry_feedback",
    "with_instructions",
]

STRUCTURE_PROMPT = (
    "Put the final answer to the user's question into the requested structure. "
    "Use only what the answer says; leave out what it does not say."
)

StructuredAnswer = Callable[[str, str, RunnableConfig], Coroutine[Any, Any, Any]]
"""Makes the structured response from the question and the answer (`response_format`)."""


def with_instructions(system_prompt: str | SystemMessage | None) -> Callable[[str], str]:
    """Prefix a node's own system prompt with the application's instructions (if any).

    Example:
        >>> print(with_instructions("Answer like a pirate.")("Plan the calls."))
        Instructions from the application (follow them when planning and answering):
        Answer like a pirate.
        <BLANKLINE>
        Plan the calls.
    """
    if system_prompt is None:
        return lambda prompt: prompt
    text = system_prompt.text if isinstance(system_prompt, SystemMessage) else str(system_prompt)
    if not text.strip():
        return lambda prompt: prompt
    header = (
        f"Instructions from the application (follow them when planning and answering):\n{text.strip()}\n\n"
    )
    return lambda prompt: header + prompt


def response_schema(response_format: Any) -> Any:
    """The schema inside `response_format`: itself, or the `.schema` of a LangChain strategy."""
    schema = getattr(response_format, "schema", None)
    if schema is not None and not isinstance(response_format, type) and not isinstance(response_format, dict):
        return schema
    return response_format


def make_structured_answer(model: LanguageModelLike, response_format: Any) -> StructuredAnswer | None:
    """A call that fits the final answer into `response_format` (None without one).

    Raises:
        ValueError: The model cannot produce structured output.
    """
    if response_format is None:
        return None
    schema = response_schema(response_format)
    _refuse_unions(schema)
    with_structure = getattr(model, "with_structured_output", None)
    if with_structure is None:
        msg = (
            f"response_format needs a chat model with with_structured_output(); "
            f"{type(model).__name__} has none: pass joiner_model= a chat model that does"
        )
        raise ValueError(msg)
    structured = with_structure(schema)

    async def structured_answer(question: str, answer: str, config: RunnableConfig) -> Any:
        prompt = [
            SystemMessage(STRUCTURE_PROMPT),
            HumanMessage(f"Question: {question}\n\nFinal answer: {answer}"),
        ]
        quiet = merge_configs(
            config,
            {
                "tags": ["llmcompiler:structured", TAG_NOSTREAM],
                "metadata": model_call_metadata(ModelCall.STRUCTURED),
            },
        )
        for attempt in range(STRUCTURE_ATTEMPTS):
            try:
                return await structured.ainvoke(prompt, quiet)
            except Exception as error:
                feedback = retry_feedback(response_format, error)
                if feedback is None or attempt == STRUCTURE_ATTEMPTS - 1:
                    raise
                prompt = [*prompt, HumanMessage(feedback)]
        raise AssertionError("unreachable")  # pragma: no cover

    return structured_answer


STRUCTURE_ATTEMPTS = 3
"""Calls to fill the schema when `ToolStrategy(handle_errors=...)` asks for retries."""


def retry_feedback(response_format: Any, error: Exception) -> str | None:
    """What to tell the model after `error`, as `ToolStrategy.handle_errors` says; `None`: raise.

    A plain schema (or `ProviderStrategy`) raises at once. `ToolStrategy` retries by default
    (`handle_errors=True`), with the error shown to the model; a string is shown instead; an
    exception type (or tuple) retries only those; a callable makes the message.

    Example:
        >>> from langchain.agents.structured_output import ToolStrategy
        >>> schema = {"title": "Height", "type": "object", "properties": {"m": {"type": "integer"}}}
        >>> retry_feedback(ToolStrategy(schema, handle_errors="Try again."), ValueError("bad"))
        'Try again.'
        >>> retry_feedback(schema, ValueError("bad")) is None
        True
    """
    handle = getattr(response_format, "handle_errors", None)
    if handle is None or handle is False or type(response_format).__name__ != "ToolStrategy":
        return None
    if handle is True:
        return f"That structure was not valid: {error}. Fill it again, correctly."
    if isinstance(handle, str):
        return handle
    if isinstance(handle, type | tuple):
        if isinstance(error, handle):
            return f"That structure was not valid: {error}. Fill it again, correctly."
        return None
    return str(handle(error)) if callable(handle) else None


def _refuse_unions(schema: Any) -> None:
    if get_origin(schema) in (Union, UnionType):
        msg = (
            f"response_format with a union of schemas ({schema}) is not supported here: the joiner "
            "fills one schema with with_structured_output(). Pass one schema, for example a model "
            "with one optional field per case."
        )
        raise ValueError(msg)
