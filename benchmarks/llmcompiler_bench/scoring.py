"""The paper's answer scoring: numbers within ±10%, otherwise SQuAD-normalised exact match."""

from __future__ import annotations

import re
import string

__all__ = ["is_correct", "normalize_answer", "parse_number"]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_MINUS = "\u2212"
_NUMBER = re.compile(rf"[-+{_MINUS}]?\d[\d,]*(?:\.\d+)?|[-+{_MINUS}]?\.\d+")


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lowercase, no punctuation, no articles, single spaces.

    Example:
        >>> normalize_answer("The  Eiffel Tower!")
        'eiffel tower'
    """
    text = text.lower()
    text = "".join(character for character in text if character not in string.punctuation)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def parse_number(text: str) -> float | None:
    """The value of a text that is a number, possibly with separators, sign and a unit.

    Returns None when the text holds no number or more than one (then it is scored as text).

    Example:
        >>> parse_number("8,849 m"), parse_number("-3.5"), parse_number("K2")
        (8849.0, -3.5, None)
    """
    stripped = text.strip()
    numbers = _NUMBER.findall(stripped)
    if len(numbers) != 1 or not re.match(rf"^[-+{_MINUS}]?[\d.]", stripped.lstrip("$€£~≈ ")):
        return None
    return float(numbers[0].replace(",", "").replace(_MINUS, "-"))


def is_correct(answer: str, label: str | float) -> bool:
    """Whether `answer` (the text inside `Finish(...)`) matches the label, as the paper scores it.

    A numeric label passes when the answer's number is within 10% of it (exclusive; a label
    of zero needs an answer of exactly zero). Any other label needs a normalised exact match.

    Example:
        >>> is_correct("238 m", 238), is_correct("250", 238), is_correct("The K2.", "K2")
        (True, True, True)
        >>> is_correct("265", 238), is_correct("K2 and Everest", "K2")
        (False, False)
    """
    expected = label if isinstance(label, int | float) else parse_number(label)
    if expected is not None:
        value = parse_number(answer)
        if value is None:
            return False
        if expected == 0:
            return value == 0
        return abs(value - expected) < 0.1 * abs(expected)
    return normalize_answer(answer) == normalize_answer(str(label))
