"""LLM calls and tokens of a run, from the model's usage metadata or counted with tiktoken."""

from __future__ import annotations

import threading
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from llmcompiler_graph.graph.answer_stream import ANSWER_TAG

__all__ = ["UsageTracker"]


class UsageTracker(BaseCallbackHandler):
    """Counts chat-model calls and their input/output tokens, for the runs it is attached to.

    Tokens come from each reply's `usage_metadata` when the model reports it; otherwise
    they are counted with tiktoken's `cl100k_base` (prompt messages and reply text), and
    `estimated` says so.

    Example:
        >>> from llmcompiler_graph.testing import ScriptedChatModel
        >>> tracker = UsageTracker()
        >>> _ = ScriptedChatModel(responses=["Hello there"]).invoke("Hi", {"callbacks": [tracker]})
        >>> tracker.calls, tracker.output_tokens, tracker.estimated
        (1, 2, True)
    """

    run_inline = True

    def __init__(self) -> None:
        self.calls = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.estimated = False
        self._prompt_tokens: dict[UUID, int] = {}
        self._relays: set[UUID] = set()
        self._lock = threading.Lock()

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """Count the call and remember the prompt's estimated size."""
        from llmcompiler_bench.replay_model import count_message_tokens

        if ANSWER_TAG in (tags or ()):  # the answer relayed for streaming: no model call
            with self._lock:
                self._relays.add(run_id)
            return

        estimate = sum(count_message_tokens(prompt) for prompt in messages)
        with self._lock:
            self.calls += 1
            self._prompt_tokens[run_id] = estimate

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """Add the reply's tokens: reported usage, or the estimate."""
        from llmcompiler_bench.replay_model import count_tokens

        usage = None
        texts: list[str] = []
        for generations in response.generations:
            for generation in generations:
                texts.append(generation.text)
                if isinstance(generation, ChatGeneration):
                    usage = getattr(generation.message, "usage_metadata", None) or usage
        with self._lock:
            if run_id in self._relays:
                self._relays.discard(run_id)
                return
            estimate = self._prompt_tokens.pop(run_id, 0)
            if usage and usage.get("input_tokens") is not None:
                self.input_tokens += int(usage["input_tokens"])
                self.output_tokens += int(usage.get("output_tokens", 0))
            else:
                self.estimated = True
                self.input_tokens += estimate
                self.output_tokens += sum(count_tokens(text) for text in texts)
