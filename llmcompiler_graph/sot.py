"""Skeleton-of-Thought (SoT) as a LangGraph graph: a skeleton, then every point expanded in parallel.

The `skeleton` node streams a short numbered skeleton of the answer and parses each point
the moment its line is complete. Every point is expanded by its own `expand_point` node
(one `Send` per point, so each shows in Studio and streams its tokens tagged with
`sot_point` in the metadata), and `assemble` joins the expansions in point order. A
skeleton with fewer than `min_points` points falls back to a `direct` answer.

With `eager_expansion=True` a point's expansion starts while the skeleton is still
streaming. What that costs: the expansion is prompted with the skeleton *so far* (the
points before it and itself), not the whole skeleton, so it may cover ground a later
point covers.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable
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
from llmcompiler_graph.graph import _Node
from llmcompiler_graph.nodes import ASSEMBLE_NODE, DIRECT_NODE, EXPAND_NODE, SKELETON_NODE
from llmcompiler_graph.planner import current_question, message_text
from llmcompiler_graph.sot_parser import SkeletonParser
from llmcompiler_graph.sot_prompts import (
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

UNCLAIMED_EXPANSION_GRACE_S = 5.0


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
    """The skeleton the expansion is prompted with (so far, with eager expansion)."""
    question: str
    execution_id: str | None
    """Set when the expansion already started during the skeleton's stream."""


class _EagerExpansions:
    """Expansions started during a skeleton's stream, until their point nodes collect them.

    Owned by one graph builder (never module-level); keyed by a fresh id per skeleton.
    """

    def __init__(self) -> None:
        self._runs: dict[str, dict[int, asyncio.Task[str]]] = {}

    def start(self, execution_id: str, index: int, expansion: Awaitable[str]) -> None:
        self._runs.setdefault(execution_id, {})[index] = asyncio.ensure_future(expansion)

    def claim(self, execution_id: str, index: int) -> asyncio.Task[str] | None:
        run = self._runs.get(execution_id, {})
        task = run.pop(index, None)
        if not run:
            self._runs.pop(execution_id, None)
        return task

    def discard(self, execution_id: str) -> None:
        for task in self._runs.pop(execution_id, {}).values():
            task.cancel()

    def expect_claims(self, execution_id: str) -> None:
        """Cancel what is not collected in time (the run was cancelled between the steps)."""
        asyncio.get_running_loop().call_later(UNCLAIMED_EXPANSION_GRACE_S, self.discard, execution_id)

    def __len__(self) -> int:
        return sum(len(run) for run in self._runs.values())


def _text(chunk: BaseMessage | str) -> str:
    return chunk if isinstance(chunk, str) else message_text(chunk)


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
    eager = _EagerExpansions()

    async def expand(question: str, points: list[str], index: int, config: RunnableConfig) -> str:
        prompt = build_expand_prompt(question, points, index, template=expand_prompt)
        point_config = merge_configs(
            config, {"metadata": {"langgraph_node": EXPAND_NODE, "sot_point": index}}
        )
        pieces = [_text(chunk) async for chunk in model.astream([HumanMessage(prompt)], point_config)]
        return _clean_expansion("".join(pieces), points[index - 1])

    async def skeleton(state: SkeletonState, config: RunnableConfig) -> Command[Any]:
        _, question_message = current_question(state.get("messages", []))
        question = message_text(question_message) if question_message is not None else ""
        parser = SkeletonParser(max_points)
        execution_id = uuid.uuid4().hex if eager_expansion else None

        def take(new_points: list[str]) -> None:
            first = len(parser.points) - len(new_points) + 1
            for index, point in enumerate(new_points, first):
                emit({"type": "skeleton_point", "index": index, "point": point, "time": time.time()})
                if execution_id is not None:
                    eager.start(
                        execution_id, index, expand(question, list(parser.points[:index]), index, config)
                    )

        prompt = [HumanMessage(build_skeleton_prompt(question, template=skeleton_prompt))]
        try:
            async for chunk in model.astream(prompt, config):
                take(parser.feed(_text(chunk)))
                if parser.ended:
                    break
            take(parser.finish())
        except BaseException:
            if execution_id is not None:
                eager.discard(execution_id)
            raise
        points = parser.points
        fallback = len(points) < min_points
        emit({"type": "skeleton_finished", "points": points, "fallback": fallback, "time": time.time()})
        if fallback:
            if execution_id is not None:
                eager.discard(execution_id)
            return Command(goto=DIRECT_NODE, update={"mode": "direct", "points": points})
        if execution_id is not None:
            eager.expect_claims(execution_id)
        sends = [
            Send(
                EXPAND_NODE,
                PointDispatch(
                    index=index,
                    points=points[:index] if eager_expansion else points,
                    question=question,
                    execution_id=execution_id,
                ),
            )
            for index in range(1, len(points) + 1)
        ]
        update = {
            "mode": "skeleton",
            "points": points,
            "expansions": Overwrite({}),
            "point_errors": Overwrite({}),
        }
        return Command(goto=sends, update=update)

    async def expand_point(dispatch: PointDispatch, config: RunnableConfig) -> dict[str, Any]:
        index, started = dispatch["index"], time.time()
        execution_id = dispatch["execution_id"]
        running = eager.claim(execution_id, index) if execution_id is not None else None
        try:
            text = (
                await running
                if running is not None
                else await expand(dispatch["question"], dispatch["points"], index, config)
            )
        except Exception as error:  # one point failing leaves the others' answer intact
            message = f"{type(error).__name__}: {error}"
            emit({"type": "point_expanded", "index": index, "error": message,
                  "duration": time.time() - started, "time": time.time()})  # fmt: skip
            return {"point_errors": {index: message}}
        emit({"type": "point_expanded", "index": index, "error": None,
              "duration": time.time() - started, "time": time.time()})  # fmt: skip
        return {"expansions": {index: text}}

    async def assemble(state: SkeletonState, config: RunnableConfig) -> dict[str, Any]:
        expansions = state.get("expansions", {})
        lines = []
        for index, point in enumerate(state.get("points", []), 1):
            text = expansions.get(index)
            lines.append(f"{index}. {point}: {text}" if text else f"{index}. {point}")
        return {"messages": [AIMessage(content="\n".join(lines))]}

    async def direct(state: SkeletonState, config: RunnableConfig) -> dict[str, Any]:
        reply = await model.ainvoke([SystemMessage(direct_prompt), *state.get("messages", [])], config)
        text = reply if isinstance(reply, str) else message_text(reply)
        return {"messages": [AIMessage(content=text)], "mode": "direct"}

    builder: StateGraph[Any] = StateGraph(SkeletonState)
    builder.add_node(SKELETON_NODE, _Node(SKELETON_NODE, skeleton), destinations=(EXPAND_NODE, DIRECT_NODE))
    builder.add_node(EXPAND_NODE, _Node(EXPAND_NODE, expand_point))
    builder.add_node(ASSEMBLE_NODE, _Node(ASSEMBLE_NODE, assemble))
    builder.add_node(DIRECT_NODE, _Node(DIRECT_NODE, direct))
    builder.add_edge(START, SKELETON_NODE)
    builder.add_edge(EXPAND_NODE, ASSEMBLE_NODE)
    builder.add_edge(ASSEMBLE_NODE, END)
    builder.add_edge(DIRECT_NODE, END)
    return builder
