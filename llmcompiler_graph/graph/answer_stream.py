"""Streaming the answer, and only the answer, on `stream_mode="messages"`.

The joiner's model writes protocol (`Thought: ... Action: Finish(answer)`). A chat UI that
prints `stream_mode="messages"` should see the answer alone, token by token, as one
message. The joiner therefore calls its model with LangGraph's `nostream` tag and relays
the answer's text, as it becomes certain, through :class:`AnswerRelay`: a chat model run of
its own whose tokens LangGraph streams like any model's (tagged `llmcompiler:answer`), and
whose message id the recorded answer reuses, so the answer is not streamed twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import merge_configs
from pydantic import PrivateAttr

from llmcompiler_graph.nodes import ModelCall, model_call_metadata

__all__ = ["ANSWER_TAG", "PLAN_TAG", "JOINER_TAG", "AnswerRelay", "AnswerStream"]

ANSWER_TAG = "llmcompiler:answer"
"""Tag of the answer's tokens on `stream_mode="messages"`."""
PLAN_TAG = "llmcompiler:plan"
"""Tag of the planner's model call (its tokens stream only with `stream_protocol=True`)."""
JOINER_TAG = "llmcompiler:joiner"
"""Tag of the joiner's model call (its tokens stream only with `stream_protocol=True`)."""


class AnswerRelay(BaseChatModel):
    """A chat model that says what it is fed: pieces put on its queue, until `None`."""

    _queue: asyncio.Queue[str | None] = PrivateAttr(default_factory=asyncio.Queue)

    @property
    def _llm_type(self) -> str:
        return "llmcompiler-answer"

    def feed(self, piece: str | None) -> None:
        """Add a piece of the answer; `None` ends it."""
        self._queue.put_nowait(piece)

    async def _pieces(self) -> AsyncIterator[str]:
        while (piece := await self._queue.get()) is not None:
            yield piece

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        msg = "AnswerRelay runs on the event loop only"
        raise NotImplementedError(msg)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        msg = "AnswerRelay runs on the event loop only"
        raise NotImplementedError(msg)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = "".join([piece async for piece in self._pieces()])
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        async for piece in self._pieces():
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager is not None:
                await run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk


class AnswerStream:
    """Relays one answer as it grows; started on the first piece, so a replan streams nothing."""

    def __init__(self, config: RunnableConfig) -> None:
        self._config = merge_configs(
            config,
            {"tags": [ANSWER_TAG], "metadata": model_call_metadata(ModelCall.ANSWER), "run_name": "answer"},
        )
        self._relay: AnswerRelay | None = None
        self._run: asyncio.Task[BaseMessage] | None = None
        self.sent = ""

    def offer(self, certain: str) -> None:
        """The answer's text known so far; what extends what was already sent is relayed."""
        if len(certain) <= len(self.sent) or not certain.startswith(self.sent):
            return
        if self._relay is None:
            self._relay = AnswerRelay()
            self._run = asyncio.ensure_future(self._relay.ainvoke([], self._config))
        self._relay.feed(certain[len(self.sent) :])
        self.sent = certain

    async def finish(self, answer: str) -> str | None:
        """Relay the rest of the final answer; the streamed message's id (`None` if none)."""
        if not answer.startswith(self.sent):
            answer = self.sent  # the final parse disagreed with what streamed; keep the stream whole
        self.offer(answer)
        if self._relay is None or self._run is None:
            return None
        self._relay.feed(None)
        message = await self._run
        return message.id

    def cancel(self) -> None:
        """Stop a relay that will not finish (the joiner failed)."""
        if self._run is not None:
            self._run.cancel()
