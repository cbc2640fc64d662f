"""Skeleton-of-Thought prompts: a skeleton of short points, then one expansion per point.

In the style of the SoT paper (Ning et al., ICLR 2024): a role, two short examples, and a
prefix the model continues. Written for this package; the texts live once, in the
repository's `prompts/sot_*.txt`, loaded here. Placeholders are `{name}`, filled by plain
replacement.
"""

from __future__ import annotations

from collections.abc import Sequence

from llmcompiler_graph.plan.prompts import load_prompt

__all__ = [
    "DIRECT_ANSWER_PROMPT",
    "EXPAND_PROMPT",
    "ROUTER_PROMPT",
    "SKELETON_PROMPT",
    "build_expand_prompt",
    "build_skeleton_prompt",
]

SKELETON_PROMPT = load_prompt("sot_skeleton.txt")
"""The skeleton prompt (`{question}`)."""
EXPAND_PROMPT = load_prompt("sot_expand.txt")
"""One point's expansion (`{question}`, `{skeleton}`, `{index}`, `{point}`)."""
DIRECT_ANSWER_PROMPT = load_prompt("sot_direct_answer.txt")
"""The system prompt of a direct answer."""
ROUTER_PROMPT = load_prompt("sot_router.txt")
"""The prompted router's question (`{question}`)."""


def build_skeleton_prompt(question: str, *, template: str = SKELETON_PROMPT) -> str:
    r"""The skeleton prompt for a question.

    Example:
        >>> build_skeleton_prompt("Why exercise?").endswith("Question: Why exercise?\nSkeleton:\n")
        True
    """
    return template.replace("{question}", question)


def build_expand_prompt(
    question: str, points: Sequence[str], index: int, *, template: str = EXPAND_PROMPT
) -> str:
    """The prompt that expands point `index` (1-based) given the skeleton so far.

    Example:
        >>> print(build_expand_prompt("Why?", ["Health", "Mood"], 2).splitlines()[-4:])
        ['1. Health', '2. Mood', 'Point 2: Mood', 'Expansion:']
    """
    skeleton = "\n".join(f"{number}. {point}" for number, point in enumerate(points, 1))
    return (
        template.replace("{question}", question)
        .replace("{skeleton}", skeleton)
        .replace("{index}", str(index))
        .replace("{point}", points[index - 1])
    )
