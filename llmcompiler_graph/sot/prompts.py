"""Skeleton-of-Thought prompts: a skeleton of short points, then one expansion per point.

In the style of the SoT paper (Ning et al., ICLR 2024): a role, two short examples, and a
prefix the model continues. Written for this package; `prompts/sot_*.txt` hold readable
copies that a test keeps identical. Placeholders are `{name}`, filled by plain replacement.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "DIRECT_ANSWER_PROMPT",
    "EXPAND_PROMPT",
    "ROUTER_PROMPT",
    "SKELETON_PROMPT",
    "build_expand_prompt",
    "build_skeleton_prompt",
]

SKELETON_PROMPT = """\
You are an organizer who writes only the skeleton of an answer, never the full content. \
Give the skeleton as a numbered list of points (1., 2., 3., ...). Each point is very short: \
3 to 5 words, not a full sentence. Use 3 to 10 points. Write nothing after the last point.

Example:
Question: What are good habits for better sleep?
Skeleton:
1. Fixed sleep schedule
2. Limit evening screens
3. Cool, dark bedroom
4. Avoid late caffeine

Example:
Question: How do I prepare for a job interview?
Skeleton:
1. Research the company
2. Practise common questions
3. Prepare your own questions
4. Plan the logistics

Question: {question}
Skeleton:
"""

EXPAND_PROMPT = """\
You are responsible for writing one and only one point of an answer. Continue the point \
you are given in 1 to 2 short sentences. Do not repeat the point's title, and do not \
write about any other point.

Example:
Question: What are good habits for better sleep?
Skeleton:
1. Fixed sleep schedule
2. Limit evening screens
Point 2: Limit evening screens
Expansion: Blue light from phones delays melatonin, so stop using screens an hour before bed.

Example:
Question: How do I prepare for a job interview?
Skeleton:
1. Research the company
2. Practise common questions
Point 1: Research the company
Expansion: Read its website and recent news so your answers connect to what it does.

Question: {question}
Skeleton:
{skeleton}
Point {index}: {point}
Expansion:"""

DIRECT_ANSWER_PROMPT = """\
Answer the user's question directly, clearly and concisely."""

ROUTER_PROMPT = """\
Decide how to answer the user's question. Reply with exactly one word:
- tools: the answer needs facts to look up, current information or calculations;
- skeleton: the answer is a list of independent points (tips, reasons, steps, comparisons) \
that can each be written separately;
- direct: anything else (a short fact the model knows, a single coherent piece of writing, \
code, math, role play).

Examples:
Question: How much taller is Mount Everest than K2? -> tools
Question: What are the most effective ways to deal with stress? -> skeleton
Question: Write a haiku about autumn. -> direct

Question: {question} ->"""


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
