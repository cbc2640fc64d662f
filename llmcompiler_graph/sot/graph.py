"""Skeleton-of-Thought (SoT) as a LangGraph graph: a skeleton, then every point expanded in parallel.

The `skeleton` node streams a short numbered skeleton of the answer and parses each point
the moment its line is complete. Every point is expanded by its own `expand_point` node
(one `Send` per point, so each shows in Studio and streams its tokens tagged with
`sot_point` in the metadata), and `assemble` joins the expansions in point order. A
skeleton with fewer than `min_points` points falls back to a `direct` answer.

With `eager_expansion=True` a point's expansion starts while the skeleton is still
streaming. The `skeleton` node starts it and owns it until its result is recorded: it
waits for the expansions it started, returns their results in its own update and goes on
to `assemble` (their tokens are still tagged `expand_point` and `sot_point`). What that
costs: the expansion is prompted with the skeleton *so far* (the points before it and
itself), not the whole skeleton, so it may cover ground a later point covers.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Annotated, Any, Literal

from langchain_core.language_models import LanguageModelLike
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import merge_configs
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Command, Overwrite, Send
from typing_extensions import TypedDict

from llmcompiler_graph.events import emit
from llmcompiler_graph.graph.conversation import current_question
from llmcompiler_graph.graph.sync_bridge import AsyncNode
from llmcompiler_graph.nodes import (
    ASSEMBLE_NODE,
    DIRECT_NODE,
    EXPAND_NODE,
    SKELETON_NODE,
    ModelCall,
    model_call_metadata,
)
from llmcompiler_graph.sot.parser import SkeletonParser
from llmcompiler_graph.sot.prompts import (
    DIRECT_ANSWER_PROMPT,
    EXPAND_PROMPT,
    SKELETON_PROMPT,
    build_expand_prompt,
    build_skeleton_prompt,
)

__all__ = [
    "ASSEMBLE_NODE",
    "DIRECT_NODE",
    "EXPAND_NODE",
    "SKELETON_NODE",
    "SkeletonState",
    "create_skeleton_of_thought",
]


def _merge(left: dict[int, str] | None, right: dict[int, str] | None) -> dict[int, str]:
    return {**(left or {}), **(right or {})}


class SkeletonState(TypedDict, total=False):
    """State of the Skeleton-of-Thought graph."""

    messages: Annotated[list[AnyMessage], add_messages]
    mode: Literal["skeleton", "direct"]
    """How the latest question was answered."""
    points: list[str]
    """The latest question's skeleton points, in order."""
    expansions: Annotated[dict[int, str], _merge]
    """Expansion text by 1-based point index."""
    point_errors: Annotated[dict[int, str], _merge]
    """Why a point could not be expanded, by point index."""


class PointDispatch(TypedDict):
    """The `Send` payload of one point."""

    index: int
    points: list[str]
    """The skeleton the expansion is prompted with."""
    question: str


_Expand = Callable[[str, list[str], int, RunnableConfig], Awaitable[str]]
"""Expands point `index` of a skeleton (`question, points, index, config`) into its text."""


def _text(chunk: BaseMessage | str) -> str:
    return chunk if isinstance(chunk, str) else chunk.text


_NEXT_ITEM = re.compile(r"\n\s*(?:\d+[.)]|[-*])\s")
_LEADING_NUMBER = re.compile(r"^\d+[.)]\s+")


def _clean_expansion(text: str, point: str) -> str:
    r"""The expansion without a label, number or repeated title, cut before any list that follows.

    Example:
        >>> _clean_expansion("Expansion: 2. Limit screens: Stop phones early.\n3. Dark room", "Limit screens")
        'Stop phones early.'
    """
    text = text.strip()
    for prefix in ("Expansion:", None, f"{point}:", point):
        text = _LEADING_NUMBER.sub("", text).strip() if prefix is None else text.removeprefix(prefix).strip()
    for marker in ("\nPoint ", "\nQuestion:", "\nExample:", "\n\n"):
        text = text.split(marker, 1)[0]
    return _NEXT_ITEM.split(text, maxsplit=1)[0].strip()


def _latest_question(state: SkeletonState) -> str:
    _, question_message = current_question(state.get("messages", []))
    return question_message.text if question_message is not None else ""


def _make_expand(model: LanguageModelLike, template: str) -> _Expand:
    """Expansions stream tagged as their point's node (`langgraph_node`, `sot_point`), wherever they run."""

    async def expand(question: str, points: list[str], index: int, config: RunnableConfig) -> str:
        prompt = build_expand_prompt(question, points, index, template=template)
        point_config = merge_configs(
            config,
            {
                "metadata": {
                    "langgraph_node": EXPAND_NODE,
                    "sot_point": index,
                    **model_call_metadata(ModelCall.EXPAND),
                }
            },
        )
        pieces = [_text(chunk) async for chunk in model.astream([HumanMessage(prompt)], point_config)]
        return _clean_expansion("".join(pieces), points[index - 1])

    return expand


async def _recorded(index: int, expansion: Awaitable[str]) -> dict[str, Any]:
    """Run one point's expansion: the state update that records its text or why it failed."""
    started = time.time()
    try:
        text = await expansion
    except Exception as error:  # one point failing leaves the others' answer intact
        message = f"{type(error).__name__}: {error}"
        emit({"type": "point_expanded", "index": index, "error": message,
              "duration": time.time() - started, "time": time.time()})  # fmt: skip
        return {"point_errors": {index: message}}
    emit({"type": "point_expanded", "index": index, "error": None,
          "duration": time.time() - started, "time": time.time()})  # fmt: skip
    return {"expansions": {index: text}}


async def _stop(running: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel the expansions and wait until they have stopped."""
    tasks = list(running)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _make_skeleton(
    model: LanguageModelLike,
    expand: _Expand,
    *,
    max_points: int,
    min_points: int,
    eager_expansion: bool,
    template: str,
) -> Callable[[SkeletonState, RunnableConfig], Coroutine[Any, Any, Command[Any]]]:
    """The `skeleton` node: streams and parses the skeleton, then sends each point to be expanded.

    With eager expansion the node starts each point's expansion as soon as the point is
    parsed and owns it to the end: it waits for every expansion it started and records
    their results in its own update (or cancels them when it fails or falls back to a
    direct answer). Only points it did not start are sent to `expand_point`.
    """

    async def skeleton(state: SkeletonState, config: RunnableConfig) -> Command[Any]:
        question = _latest_question(state)
        parser = SkeletonParser(max_points)
        running: dict[int, asyncio.Task[dict[str, Any]]] = {}

        def take(new_points: list[str]) -> None:
            first = len(parser.points) - len(new_points) + 1
            for index, point in enumerate(new_points, first):
                emit({"type": "skeleton_point", "index": index, "point": point, "time": time.time()})
                if eager_expansion:
                    expansion = expand(question, list(parser.points[:index]), index, config)
                    running[index] = asyncio.ensure_future(_recorded(index, expansion))

        prompt = [HumanMessage(build_skeleton_prompt(question, template=template))]
        skeleton_config = merge_configs(config, {"metadata": model_call_metadata(ModelCall.SKELETON)})
        try:
            async for chunk in model.astream(prompt, skeleton_config):
                take(parser.feed(_text(chunk)))
                if parser.ended:
                    break
            take(parser.finish())
            points = parser.points
            fallback = len(points) < min_points
            emit({"type": "skeleton_finished", "points": points, "fallback": fallback, "time": time.time()})
            if fallback:
                await _stop(running.values())
                return Command(goto=DIRECT_NODE, update={"mode": "direct", "points": points})
            recorded = await asyncio.gather(*running.values())
        except BaseException:
            await _stop(running.values())
            raise
        return _send_points(question, points, recorded, started=set(running))

    return skeleton


def _send_points(
    question: str, points: list[str], recorded: list[dict[str, Any]], started: set[int]
) -> Command[Any]:
    """The skeleton's update (with the expansions it ran itself); a `Send` per point it did not start."""
    update: dict[str, Any] = {"mode": "skeleton", "points": points}
    for key in ("expansions", "point_errors"):
        update[key] = Overwrite(
            {index: text for result in recorded for index, text in result.get(key, {}).items()}
        )
    sends = [
        Send(EXPAND_NODE, PointDispatch(index=index, points=points, question=question))
        for index in range(1, len(points) + 1)
        if index not in started
    ]
    return Command(goto=sends or ASSEMBLE_NODE, update=update)


def _make_expand_point(
    expand: _Expand,
) -> Callable[[PointDispatch, RunnableConfig], Coroutine[Any, Any, dict[str, Any]]]:
    """The `expand_point` node: expands the one point it was sent."""

    async def expand_point(dispatch: PointDispatch, config: RunnableConfig) -> dict[str, Any]:
        index = dispatch["index"]
        return await _recorded(index, expand(dispatch["question"], dispatch["points"], index, config))

    return expand_point


async def _assemble(state: SkeletonState, config: RunnableConfig) -> dict[str, Any]:
    """The `assemble` node: every point with its expansion, in point order (a failed one keeps its title)."""
    expansions = state.get("expansions", {})
    lines = []
    for index, point in enumerate(state.get("points", []), 1):
        text = expansions.get(index)
        lines.append(f"{index}. {point}: {text}" if text else f"{index}. {point}")
    return {"messages": [AIMessage(content="\n".join(lines))]}


def _make_direct(
    model: LanguageModelLike, prompt: str
) -> Callable[[SkeletonState, RunnableConfig], Coroutine[Any, Any, dict[str, Any]]]:
    """The `direct` node: answers in one call when the skeleton had too few points."""

    async def direct(state: SkeletonState, config: RunnableConfig) -> dict[str, Any]:
        config = merge_configs(config, {"metadata": model_call_metadata(ModelCall.DIRECT)})
        reply = await model.ainvoke([SystemMessage(prompt), *state.get("messages", [])], config)
        text = reply if isinstance(reply, str) else reply.text
        return {"messages": [AIMessage(content=text)], "mode": "direct"}

    return direct


def create_skeleton_of_thought(
    model: LanguageModelLike,
    *,
    max_points: int = 10,
    min_points: int = 2,
    eager_expansion: bool = False,
    skeleton_prompt: str = SKELETON_PROMPT,
    expand_prompt: str = EXPAND_PROMPT,
    direct_prompt: str = DIRECT_ANSWER_PROMPT,
) -> StateGraph[Any]:
    r"""Build a Skeleton-of-Thought graph (uncompiled).

    Args:
        model: The chat model for the skeleton, the expansions and direct answers.
        max_points: Points beyond this many are ignored.
        min_points: A skeleton with fewer points (or none that parses) gets a direct answer.
        eager_expansion: Start expanding each point as soon as its line is parsed, while
            the skeleton is still streaming; the expansion then sees the skeleton so far.
        skeleton_prompt: Prompt with a `{question}` placeholder.
        expand_prompt: Prompt with `{question}`, `{skeleton}`, `{index}` and `{point}`.
        direct_prompt: System prompt of the direct answer.

    Returns:
        A `StateGraph` over :class:`SkeletonState`; compile it with your checkpointer.

    Raises:
        ValueError: `min_points` below 1 or above `max_points`.

    Example:
        >>> from llmcompiler_graph.testing import ScriptedChatModel
        >>> model = ScriptedChatModel(responses=[
        ...     "1. Fixed schedule\n2. Dark room", "Go to bed at the same time.", "Block the light."])
        >>> graph = create_skeleton_of_thought(model).compile()
        >>> print(graph.invoke({"messages": [("user", "How to sleep better?")]})["messages"][-1].content)
        1. Fixed schedule: Go to bed at the same time.
        2. Dark room: Block the light.
    """
    if not 1 <= min_points <= max_points:
        msg = f"need 1 <= min_points <= max_points, got min_points={min_points}, max_points={max_points}"
        raise ValueError(msg)
    expand = _make_expand(model, expand_prompt)
    skeleton = _make_skeleton(
        model,
        expand,
        max_points=max_points,
        min_points=min_points,
        eager_expansion=eager_expansion,
        template=skeleton_prompt,
    )
    # With eager expansion the skeleton expands every point itself and goes on to `assemble`.
    after_skeleton = (
        (EXPAND_NODE, ASSEMBLE_NODE, DIRECT_NODE) if eager_expansion else (EXPAND_NODE, DIRECT_NODE)
    )
    builder: StateGraph[Any] = StateGraph(SkeletonState)
    builder.add_node(SKELETON_NODE, AsyncNode(SKELETON_NODE, skeleton), destinations=after_skeleton)
    builder.add_node(EXPAND_NODE, AsyncNode(EXPAND_NODE, _make_expand_point(expand)))
    builder.add_node(ASSEMBLE_NODE, AsyncNode(ASSEMBLE_NODE, _assemble))
    builder.add_node(DIRECT_NODE, AsyncNode(DIRECT_NODE, _make_direct(model, direct_prompt)))
    builder.add_edge(START, SKELETON_NODE)
    builder.add_edge(EXPAND_NODE, ASSEMBLE_NODE)
    builder.add_edge(ASSEMBLE_NODE, END)
    builder.add_edge(DIRECT_NODE, END)
    return builder
