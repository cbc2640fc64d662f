"""What `create_agent`'s `system_prompt` and `response_format` become in an LLMCompiler graph."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from langchain_core.language_models import LanguageModelLike
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import merge_configs
from langgraph.constants import TAG_NOSTREAM

__all__ = [
    "STRUCTURE_PROMPT",
    "StructuredAnswer",
    "make_structured_answer",
    "response_schema",
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
        quiet = merge_configs(config, {"tags": ["llmcompiler:structured", TAG_NOSTREAM]})
        return await structured.ainvoke(prompt, quiet)

    return structured_answer
