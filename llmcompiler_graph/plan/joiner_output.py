"""Pure parsing of the joiner's reply: `Thought: ...` then `Action: Finish(...)` or `Replan(...)`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["END_OF_RESPONSE", "JoinerDecision", "parse_joiner_output", "streaming_answer"]

# `Action: Finish(`, `Action: Finish[`, `Action: Finish:`, `Action: Replan ...`; the word
# `Action:` may be missing when the line starts with the action itself.
_ACTION = re.compile(
    r"(?:\bAction\s*:\s*|^[ \t]*)(Finish|Replan)\b\s*([(\[]|:)?",
    re.IGNORECASE | re.MULTILINE,
)
_JOINER_THOUGHT = re.compile(r"Thought\s*:\s*(.*?)(?=\n\s*Action\s*:|\Z)", re.IGNORECASE | re.DOTALL)
_CLOSE = {"(": ")", "[": "]"}
#: The paper's llama joiner prompts end each reply with this (the authors pass it as `stop`).
END_OF_RESPONSE = "<END_OF_RESPONSE>"
# `finish(answer="...")`: one keyword naming the answer, with one quoted string.
_ANSWER_KEYWORD = re.compile(
    r"^(?:answer|response|result|text|output|final_answer)\s*=\s*(?P<q>[\"'])(?P<body>.*)(?P=q)$",
    re.DOTALL,
)
_ANSWER_PREFIX = re.compile(r"^(?:answer|response|result|text|output|final_answer)\s*=\s*[\"']")


@dataclass(frozen=True)
class JoinerDecision:
    """What the joiner decided, parsed from `Thought: ... Action: ...`.

    Attributes:
        action: `"finish"` or `"replan"`.
        thought: The joiner's reasoning, if it wrote a `Thought:`.
        content: The answer (finish) or the feedback for the planner (replan).
        well_formed: False when no `Action:` could be read and the whole text
            was taken as the answer.
        notes: What was read liberally (text after `<END_OF_RESPONSE>` ignored, quotes
            taken off the answer), for the run's notes.
    """

    action: Literal["finish", "replan"]
    thought: str | None
    content: str
    well_formed: bool = True
    notes: tuple[str, ...] = ()


def _enclosed(text: str, opener: str) -> str:
    """Text inside an already-opened `(` or `[`, up to the close that ends the action.

    The close that balances the opener ends the action when only blank text or a
    trailing full stop follows it on its line. Otherwise the action runs on to the last
    close on that line (so `Finish(Great :) thanks)` keeps `Great :) thanks`). When the
    brackets never balance (truncated output), the last close in the text is taken, or
    the whole rest when there is none.
    """
    closer = _CLOSE[opener]
    depth = 1
    for i, ch in enumerate(text):
        if ch == opener:
            depth += 1
        elif ch == closer:
            depth -= 1
            if depth == 0:
                line_end = text.find("\n", i)
                line_end = len(text) if line_end < 0 else line_end
                if _ends_action(text[i + 1 : line_end]):
                    return text[:i]
                last = text.rfind(closer, i, line_end)
                return text[:last]
    last = text.rfind(closer)
    return text[:last] if last >= 0 else text


def _ends_action(rest_of_line: str) -> bool:
    return not rest_of_line.strip().strip(".'\"`*")


def _after_label(text: str) -> str:
    """`Finish: answer` or `Finish answer`: the rest of the line."""
    line_end = text.find("\n")
    return (text if line_end < 0 else text[:line_end]).strip()


def parse_joiner_output(text: str) -> JoinerDecision:
    r"""Read the joiner's `Thought: ... Action: Finish(...)` or `Action: Replan(...)`.

    The answer is everything inside `Finish(...)` or `Finish[...]`, nested brackets
    included, up to the close that ends the action. `Replan` in any of these forms
    replans. When no action can be read the whole text (minus a `Thought:` prefix) is the
    answer. Text after the first `<END_OF_RESPONSE>` is not part of the reply. A `Finish`
    answer that is one quoted string (`finish("Paris")`), or one keyword such as
    `answer=` with one quoted string, is that string.

    Example:
        >>> parse_joiner_output("Thought: known.\nAction: Finish(Mount Everest (Nepal))").content
        'Mount Everest (Nepal)'
        >>> parse_joiner_output("Thought: k.\nAction: Finish[Arthur's Magazine]").content
        "Arthur's Magazine"
        >>> parse_joiner_output("Thought: need K2.\nAction: Replan[search K2]").action
        'replan'
        >>> parse_joiner_output('Action: finish(answer="Paris")').content
        'Paris'
    """
    text, _, after = text.partition(END_OF_RESPONSE)
    notes = (f"ignored the text after {END_OF_RESPONSE}: {after.strip()[:60]!r}",) if after.strip() else ()
    thought_match = _JOINER_THOUGHT.search(text)
    thought = thought_match.group(1).strip() if thought_match else None
    action_match = _last_action(text)
    if action_match is None:
        answer = text.strip()
        if thought_match is not None and thought_match.start() == text.find("Thought"):
            answer = thought or answer
        return JoinerDecision("finish", thought, answer, well_formed=False, notes=notes)
    rest = text[action_match.end() :]
    opener = action_match.group(2)
    content = _enclosed(rest, opener) if opener in _CLOSE else _after_label(rest)
    decision: Literal["finish", "replan"] = (
        "finish" if action_match.group(1).lower() == "finish" else "replan"
    )
    content = content.strip()
    answer = _unquoted_answer(content) if decision == "finish" else content
    if answer != content:
        notes = (*notes, f"the answer {content[:60]!r} was read as the quoted string")
    return JoinerDecision(decision, thought, answer, notes=notes)


def _unquoted_answer(content: str) -> str:
    """The string inside `"Paris"` or `answer="Paris"`; other answers as they are."""
    keyword = _ANSWER_KEYWORD.match(content)
    if keyword is not None and keyword.group("q") not in keyword.group("body"):
        return keyword.group("body").strip()
    quote = content[:1]
    if len(content) >= 2 and quote in ("'", '"') and content[-1] == quote and quote not in content[1:-1]:
        return content[1:-1].strip()
    return content


def _last_action(text: str) -> re.Match[str] | None:
    """The last action in the reply (a model that corrects itself means the later one).

    An action named without `Action:` counts only when the word stands at the start of a
    line with a bracket or colon after it, so prose mentioning "finish" is not an action.
    """
    chosen: re.Match[str] | None = None
    for match in _ACTION.finditer(text):
        labelled = match.group(0).lstrip(" \t").lower().startswith("action")
        if labelled or match.group(2) is not None:
            chosen = match
    return chosen


def streaming_answer(text: str) -> str:
    r"""The part of a `Finish` answer already certain while the reply is still streaming.

    Text after the last close bracket is held back (it may end the action), and so is
    everything after the answer's first line; trailing blanks wait for what follows them.
    Replans, and replies with no action yet, give `""`. A partly streamed
    `<END_OF_RESPONSE>` is held back, and an answer that starts with a quote or with
    `answer=` waits for the end of the reply (its quotes may be taken off).

    Example:
        >>> streaming_answer("Thought: ok.\nAction: Finish(Mount Everest (Ne")
        'Mount Everest (Ne'
        >>> streaming_answer("Thought: ok.\nAction: Finish(Great :) tha")
        'Great :'
    """
    text = text.split(END_OF_RESPONSE, 1)[0]
    match = _last_action(text)
    if match is None or match.group(1).lower() != "finish":
        return ""
    rest = text[match.end() :]
    cut = len(rest)
    newline = rest.find("\n")
    if newline >= 0:
        cut = newline
    opener = match.group(2)
    if opener in _CLOSE:
        last_close = rest.rfind(_CLOSE[opener], 0, cut)
        cut = last_close if last_close >= 0 else cut
    certain = rest[:cut].strip()
    if certain.startswith(("'", '"')) or _ANSWER_PREFIX.match(certain):
        return ""
    marker = certain.rfind("<")
    if marker >= 0 and END_OF_RESPONSE.startswith(certain[marker:]):
        certain = certain[:marker].rstrip()
    return certain
