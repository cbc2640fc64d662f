"""LangGraph Studio / `langgraph dev` entry point: the agent on the default model with the offline tools.

`langgraph.json` at the top of the checkout names :func:`make_graph`, so

    pip install -e ".[local]" "langgraph-cli[inmem]" && langgraph dev

serves the agent as the graph `llmcompiler`, for LangGraph Studio or any `langgraph-sdk`
client. Nothing is built when this module is imported: the server calls :func:`make_graph`
whenever it needs the graph (for every run, and to draw or describe it). The model and
the tools are made once per process and reused; each call compiles a fresh graph around
them, without a checkpointer (the server supplies persistence).

The model: `LLMCOMPILER_MODEL` (`provider:model` for `init_chat_model`, or `local` for the
embedded Gemma 3 270M); otherwise `openai:gpt-4o-mini` when `OPENAI_API_KEY` is set, else
the embedded local model (see :func:`llmcompiler_graph.chat_models.resolve_model`). The tools
are the command line's: `search` over the offline demo corpus, and `math`.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any, Literal

from langchain_core.language_models import LanguageModelLike
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.graph.state import CompiledStateGraph

from llmcompiler_graph.chat_models import resolve_model
from llmcompiler_graph.graph.factory import create_llmcompiler
from llmcompiler_graph.sot.auto import create_auto_agent
from llmcompiler_graph.sot.graph import create_skeleton_of_thought
from llmcompiler_graph.tools import build_tools

__all__ = [
    "GRAPH_NAME",
    "MODEL_ENV_VAR",
    "build_graph",
    "make_auto_graph",
    "make_graph",
    "make_skeleton_graph",
    "model_and_tools",
]

GRAPH_NAME = "llmcompiler"
MODEL_ENV_VAR = "LLMCOMPILER_MODEL"

_cache_lock = threading.Lock()
_cache: dict[str | None, tuple[LanguageModelLike, list[BaseTool]]] = {}


def model_and_tools(name: str | None = None) -> tuple[LanguageModelLike, list[BaseTool]]:
    """The chat model and the tools for `name`, made on first use and reused afterwards.

    Loading the local model takes about a second, so it is done once per process. Both
    are safe to share between concurrent runs: they keep no per-run state.

    Args:
        name: `provider:model`, `"local"`, or `None` for the default choice of
            :func:`~llmcompiler_graph.chat_models.resolve_model`.

    Returns:
        The model and the `search` (offline demo corpus) and `math` tools.

    Raises:
        NoModelError: No name, no `OPENAI_API_KEY` and no local model installed.
    """
    with _cache_lock:
        if name not in _cache:
            model = resolve_model(name)
            _cache[name] = (model, build_tools("local", None, model))
        return _cache[name]


GraphKind = Literal["llmcompiler", "skeleton_of_thought", "auto"]


def build_graph(
    model_name: str | None = None, kind: GraphKind = "llmcompiler"
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the Studio graph (blocking: may load the model on first use).

    Args:
        model_name: The model to run on; by default `$LLMCOMPILER_MODEL`, else
            :func:`~llmcompiler_graph.chat_models.resolve_model`'s default.
        kind: `llmcompiler` (the agent), `skeleton_of_thought` (SoT, no tools) or `auto`
            (the trained router over a direct answer, SoT and the agent).

    Returns:
        The compiled graph, named after `kind`, without a checkpointer.

    Raises:
        NoModelError: No model is configured or installed.

    Example:
        >>> graph = build_graph("local")  # doctest: +SKIP
        >>> graph.invoke({"messages": [("user", "How tall is K2?")]})  # doctest: +SKIP
    """
    name = model_name or os.environ.get(MODEL_ENV_VAR) or None
    model, tools = model_and_tools(name)
    if kind == "skeleton_of_thought":
        return create_skeleton_of_thought(model).compile(name=kind)
    if kind == "auto":
        return create_auto_agent(model, tools).compile(name=kind)
    return create_llmcompiler(model, tools).compile(name=GRAPH_NAME)


async def make_graph(config: RunnableConfig | None = None) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The graph factory named in `langgraph.json`; the server awaits it whenever it needs the graph.

    The (possibly slow) first build runs in a worker thread, so the server's event loop
    is never blocked (`langgraph dev` raises on blocking calls made on it).

    Args:
        config: The run's configuration, passed by the server; not used: the model
            is chosen with `$LLMCOMPILER_MODEL`.

    Returns:
        The compiled agent (see :func:`build_graph`).

    Raises:
        NoModelError: No model is configured or installed.
    """
    return await asyncio.to_thread(build_graph)


async def make_skeleton_graph(config: RunnableConfig | None = None) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The Skeleton-of-Thought graph for `langgraph.json` (see :func:`make_graph`)."""
    return await asyncio.to_thread(build_graph, None, "skeleton_of_thought")


async def make_auto_graph(config: RunnableConfig | None = None) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The auto agent (router + direct / SoT / LLMCompiler) for `langgraph.json` (see :func:`make_graph`)."""
    return await asyncio.to_thread(build_graph, None, "auto")
