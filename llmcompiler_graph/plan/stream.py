"""Reading the planner model's stream to its end, and telling it where a plan ends.

A plan ends at `<END_OF_PLAN>` (or `join()`). The planner passes the marker as a `stop`
sequence so providers stop generating there, then reads the stream to its natural end so
the model run ends cleanly: callbacks get `on_llm_end`, and a provider that reports usage
in its last chunk has it counted. A model that ignores `stop` and keeps talking is read for
at most :data:`DRAIN_CHUNKS` chunks or :data:`DRAIN_SECONDS` more, then let go.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Literal

from langchain_core.language_models import BaseLanguageModel, LanguageModelLike
from langchain_core.messages import BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.runnables import RunnableBinding

__all__ = [
    "DRAIN_CHUNKS",
    "DRAIN_SECONDS",
    "ReadOutcome",
    "accepts_stop",
    "chunk_text",
    "chunk_usage",
    "read_plan_stream",
    "returned_nothing",
    "stop_kwargs",
]

ReadOutcome = Literal["more", "ended", "cut"]
"""After a chunk: read on (`more`); the plan ended, let the model end its stream
(`ended`); or stop reading now, the rest is not wanted (`cut`, e.g. a task limit)."""

#: Chunks read after the plan ended, waiting for the model to end its stream by itself.
DRAIN_CHUNKS = 512
#: Seconds spent waiting, after the plan ended, for the model to end its stream.
DRAIN_SECONDS = 2.0


def accepts_stop(model: LanguageModelLike) -> bool:
    """Whether `model.astream(..., stop=[...])` reaches a language model's `stop` parameter.

    True for chat models and LLMs, also behind `.bind(...)` / `.bind_tools(...)`; false
    for other runnables (a plain function would receive `stop` as an unexpected argument).
    """
    while isinstance(model, RunnableBinding):
        model = model.bound
    # `init_chat_model(configurable_fields=...)` returns a wrapper that passes call
    # keyword arguments on to the chat model it builds.
    return isinstance(model, BaseLanguageModel) or type(model).__name__ == "_ConfigurableModel"


def returned_nothing(error: Exception) -> bool:
    """Whether `error` is LangChain's complaint about a stream that yielded no chunks at all."""
    return isinstance(error, ValueError) and "no generation chunks" in str(error).lower()


def stop_kwargs(stop: list[str] | None) -> Mapping[str, Any]:
    """The keyword arguments that pass `stop` to a model call (none when `stop` is None)."""
    return {"stop": stop} if stop else {}


def chunk_usage(chunk: Any) -> UsageMetadata | None:
    """The token usage a streamed chunk reports (most providers: only the last one)."""
    return getattr(chunk, "usage_metadata", None) if isinstance(chunk, BaseMessage) else None


def chunk_text(chunk: Any) -> str:
    """The text of a streamed chunk: a string, or a message whose content may be blocks."""
    if isinstance(chunk, str):
        return chunk
    if isinstance(chunk, BaseMessage):
        return chunk.text
    return str(chunk)


async def read_plan_stream(
    stream: AsyncIterator[Any],
    on_text: Callable[[str], ReadOutcome],
    on_chunk: Callable[[Any], None] = lambda chunk: None,
) -> bool:
    """Feed each chunk's text to `on_text` until the plan ends, then drain the stream.

    After `on_text` says `ended`, the stream is read, unparsed, until the model ends it,
    within :data:`DRAIN_CHUNKS` / :data:`DRAIN_SECONDS`; a stream still going then, or
    one `on_text` `cut`, is closed. `on_chunk` sees every chunk read, drained ones too
    (usage often comes in the last). Returns whether the stream ended by itself.
    """
    iterator = aiter(stream)
    try:
        async for chunk in iterator:
            on_chunk(chunk)
            outcome = on_text(chunk_text(chunk))
            if outcome == "ended":
                return await _drain(iterator, on_chunk)
            if outcome == "cut":
                return False
        return True
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()


async def _drain(iterator: AsyncIterator[Any], on_chunk: Callable[[Any], None]) -> bool:
    """Read what the model still says after the plan ended; whether the stream ended by itself."""
    give_up = time.monotonic() + DRAIN_SECONDS
    for _ in range(DRAIN_CHUNKS):
        remaining = give_up - time.monotonic()
        if remaining <= 0:
            return False
        try:
            on_chunk(await asyncio.wait_for(anext(iterator), remaining))
        except StopAsyncIteration:
            return True
        except TimeoutError:
            return False
    return False
