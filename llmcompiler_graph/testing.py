"""A scripted streaming chat model for tests, demos and offline benchmarks."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Annotated, Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, ModelProfile
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

__all__ = ["ScriptExhaustedError", "ScriptedChatModel"]

Responder = Callable[[Sequence[BaseMessage]], "str | AIMessage"]
Reply = str | AIMessage
_TOKEN = re.compile(r"\s+|[^\s]+")


class ScriptExhaustedError(RuntimeError):
    """The scripted model was called more often than it has responses."""


class ScriptedChatModel(BaseChatModel):
    """A chat model that answers from a script and streams with a configurable pace.

    Each call takes the next entry of `responses`: a string, an `AIMessage` (with
    `tool_calls`, as a tool-calling model answers: streamed, each call's arguments
    arrive in several `tool_call_chunks`), or a function of the prompt messages
    returning either (useful when concurrent runs must each get their own answer). A
    reply is cut before the first of the call's `stop` sequences, as providers do
    (:attr:`stops` keeps them; `honour_stop=False` plays a model that ignores them).
    With `usage`, every reply reports that token usage, streamed ones in a last, empty
    chunk (as `ChatOpenAI(stream_usage=True)` does). With `content_blocks=True` replies
    and chunks carry a list of text blocks (`[{"type": "text", "text": ...}]`, as
    Anthropic's models answer) instead of a string. Streaming yields whitespace-
    separated tokens, waiting `first_token_delay` before the first and `token_delay`
    before each other one (on the async path; the sync path does not sleep). Every
    prompt is kept in :attr:`prompts` and every streamed token's time in
    :attr:`token_times`, so a test can check what the model saw and when it spoke.

    Example:
        >>> model = ScriptedChatModel(responses=["Hello there"])
        >>> model.invoke("hi").content
        'Hello there'
        >>> len(model.prompts)
        1
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    responses: list[Annotated[str | Responder | AIMessage, Field(union_mode="left_to_right")]] = Field(
        default_factory=list
    )
    token_delay: float = 0.0
    first_token_delay: float = 0.0
    honour_stop: bool = True
    usage: UsageMetadata | None = None
    content_blocks: bool = False
    tool_calling: bool | None = None
    """Whether the model calls tools (its profile says so); by default, whether its script
    has an `AIMessage` reply."""
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _next: int = PrivateAttr(default=0)
    _prompts: list[list[BaseMessage]] = PrivateAttr(default_factory=list)
    _token_times: list[tuple[int, float]] = PrivateAttr(default_factory=list)
    _stops: list[list[str] | None] = PrivateAttr(default_factory=list)

    def _resolve_model_profile(self) -> ModelProfile | None:
        calls = self.tool_calling
        if calls is None:
            calls = any(isinstance(reply, AIMessage) for reply in self.responses)
        return {"tool_calling": calls}

    @property
    def _llm_type(self) -> str:
        return "scripted-chat-model"

    @property
    def prompts(self) -> list[list[BaseMessage]]:
        """The messages of every call so far, in call order."""
        return list(self._prompts)

    @property
    def token_times(self) -> list[tuple[int, float]]:
        """`(call number, epoch seconds)` of every streamed token."""
        return list(self._token_times)

    @property
    def stops(self) -> list[list[str] | None]:
        """The `stop` sequences each call was given, in call order."""
        return list(self._stops)

    @property
    def calls(self) -> int:
        """How many times the model has been called."""
        return len(self._prompts)

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:
        """Accept tool binding (the script decides what is said); returns the model itself."""
        return self

    def _take(self, messages: list[BaseMessage], stop: list[str] | None = None) -> tuple[int, Reply]:
        """The next scripted reply, cut before the first `stop` sequence as providers do."""
        with self._lock:
            call = self._next
            if call >= len(self.responses):
                msg = (
                    f"ScriptedChatModel has {len(self.responses)} scripted responses and was "
                    f"called a {call + 1}th time; last prompt ended with: "
                    f"{str(messages[-1].content)[-300:]!r}"
                )
                raise ScriptExhaustedError(msg)
            self._next += 1
            self._prompts.append(list(messages))
            self._stops.append(list(stop) if stop is not None else None)
            entry = self.responses[call]
        text = entry(messages) if callable(entry) else entry
        if isinstance(text, AIMessage) or not self.honour_stop:
            return call, text
        cuts = [text.find(sequence) for sequence in stop or () if sequence and sequence in text]
        return call, text[: min(cuts)] if cuts else text

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        _, reply = self._take(messages, stop)
        return self._result(reply)

    def _content(self, text: str) -> str | list[str | dict[str, Any]]:
        """A reply's or chunk's content: the text, or one text block (`index` merges the chunks')."""
        return [{"type": "text", "text": text, "index": 0}] if self.content_blocks else text

    def _result(self, reply: Reply) -> ChatResult:
        if isinstance(reply, AIMessage):
            message = reply.model_copy(update={"usage_metadata": reply.usage_metadata or self.usage})
        else:
            message = AIMessage(content=self._content(reply), usage_metadata=self.usage)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _pieces(self, reply: Reply) -> list[tuple[str, AIMessageChunk]]:
        """A reply as streamed: its text token by token, then each tool call in a few chunks."""
        text = reply if isinstance(reply, str) else str(reply.content)
        pieces = [(token, AIMessageChunk(content=self._content(token))) for token in _TOKEN.findall(text)]
        for index, call in enumerate(reply.tool_calls if isinstance(reply, AIMessage) else []):
            arguments = json.dumps(call["args"])
            head = {"name": call["name"], "id": call.get("id"), "args": "", "index": index}
            pieces.append(("", AIMessageChunk(content="", tool_call_chunks=[head])))  # type: ignore[list-item]
            for start in range(0, len(arguments), 8):
                part = {"name": None, "id": None, "args": arguments[start : start + 8], "index": index}
                pieces.append(("", AIMessageChunk(content="", tool_call_chunks=[part])))  # type: ignore[list-item]
        return pieces or [("", AIMessageChunk(content=self._content("")))]

    def _usage_chunk(self) -> list[ChatGenerationChunk]:
        """The last, empty chunk that carries the usage (none without `usage`)."""
        if self.usage is None:
            return []
        return [ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=self.usage))]

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        _, reply = self._take(messages, stop)
        pieces = self._pieces(reply)
        if any(token for token, _ in pieces):
            await asyncio.sleep(self.first_token_delay + self.token_delay * (len(pieces) - 1))
        return self._result(reply)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        call, reply = self._take(messages, stop)
        for token, piece in self._pieces(reply):
            self._token_times.append((call, time.time()))
            chunk = ChatGenerationChunk(message=piece)
            if run_manager is not None:
                run_manager.on_llm_new_token(token, chunk=chunk)
            yield chunk
        yield from self._usage_chunk()

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        call, reply = self._take(messages, stop)
        for position, (token, piece) in enumerate(self._pieces(reply)):
            delay = self.first_token_delay if position == 0 else self.token_delay
            if delay:
                await asyncio.sleep(delay)
            self._token_times.append((call, time.time()))
            chunk = ChatGenerationChunk(message=piece)
            if run_manager is not None:
                await run_manager.on_llm_new_token(token, chunk=chunk)
            yield chunk
        for usage_chunk in self._usage_chunk():
            yield usage_chunk
