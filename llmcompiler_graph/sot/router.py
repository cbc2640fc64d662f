"""Choosing how to answer a question: directly, with Skeleton-of-Thought, or with tools.

Two routers:

- **trained** (no model call, offline, pure Python): two small logistic-regression
  classifiers over word, word-pair and question-form features, shipped as weights in
  `llmcompiler_graph/data/router_weights.json`.
  :func:`suitable_for_skeleton` is trained on 471 questions written and labelled for this
  project (`llmcompiler_graph/data/sot_router_questions.jsonl`, many styles and kinds of
  request) plus Vicuna-80 with the SoT authors' labels, and says `skeleton` only when it
  is confident: an unsure question is answered directly (:func:`skeleton_verdict`).
  :func:`needs_tools` is trained on questions that need looked-up facts (the paper's
  ParallelQA and HotpotQA questions) against Vicuna-80's open-ended ones.
  `python -m llmcompiler_bench.router_training` retrains both and prints the
  held-out figures (see docs/sot.md).
- **prompted**: the model itself picks `tools`, `skeleton` or `direct` (:func:`prompted_route`).
  On the embedded Gemma 3 270M it is no better than always answering directly (it almost
  never says `skeleton`; figures in docs/sot.md).
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Any, Literal

from langchain_core.language_models import LanguageModelLike
from langchain_core.messages import HumanMessage
from langchain_core.runnables.config import merge_configs

from llmcompiler_graph.nodes import ModelCall, model_call_metadata
from llmcompiler_graph.sot.prompts import ROUTER_PROMPT

__all__ = [
    "Mode",
    "SkeletonRouter",
    "SkeletonVerdict",
    "TextClassifier",
    "features",
    "needs_tools",
    "parse_route",
    "prompted_route",
    "question_form",
    "skeleton_probability",
    "skeleton_verdict",
    "suitable_for_skeleton",
    "trained_route",
]

Mode = Literal["direct", "skeleton", "tools"]
SkeletonVerdict = Literal["skeleton", "direct", "unsure"]

_WORD = re.compile(r"[a-z]+|\d+")

# Question-form cues: what kind of answer a question asks for, whatever its topic.
_LIST_NOUNS = frozenset(
    "ways tips reasons factors benefits advantages disadvantages pros cons differences strategies "
    "ideas challenges causes effects impacts implications consequences features principles signs "
    "symptoms things steps habits practices considerations trends risks characteristics functions "
    "types kinds options activities methods techniques measures lessons mistakes tradeoffs aspects "
    "components elements qualities skills examples uses applications alternatives drawbacks "
    "strengths weaknesses concerns barriers obstacles theories suggestions recommendations".split()
)
_WRITING = frozenset(
    "write compose draft story poem haiku limerick sonnet lyrics song essay email letter note speech "
    "toast bio post article review script dialogue fable riddle joke paragraph description "
    "announcement memo advertisement message tweet caption slogan".split()
)
_CODE = frozenset(
    "code function python javascript js java sql regex script program implement class method bash "
    "css html git docker api error bug compile debug rust typescript query array dict string loop".split()
)
_TRANSFORM = frozenset(
    "translate summarize summarise rewrite paraphrase classify extract correct convert sort "
    "categorize categorise identify detect shorten".split()
)
_WH = frozenset("what why how who when where which whose".split())
_AUXILIARY = frozenset("is are was were do does did can could should would will has have am".split())
_OPENERS = frozenset(
    "write list give explain describe suggest compare discuss name tell imagine pretend if suppose "
    "i my we our help".split()
)
_FORM_PATTERNS = {
    "compare": re.compile(r"\b(vs|versus|compare|compared|difference|differences|which is better|or)\b"),
    "hypothetical": re.compile(r"\b(what if|would happen|imagine|suppose)\b|\bif\b.*\bhad\b"),
    "many": re.compile(r"\b(some|several|main|major|key|most|common|different|various|all)\b"),
    "short": re.compile(r"\b(one|single|quick|short|briefly|one-line|in a sentence|yes or no)\b"),
    "advice": re.compile(r"\b(tips|advice|ideas|suggestions|recommend)\b"),
    "steps": re.compile(r"\b(step by step|step-by-step|steps)\b"),
    "first_person": re.compile(r"\b(i|my|me|we|our)\b"),
    "how_many": re.compile(r"\bhow (many|much)\b"),
    "operator": re.compile(r"[+*/^=]|\d\s*[-x]\s*\d"),
}
_ROLEPLAY = re.compile(r"\b(pretend|act as|role|imagine you|you are)\b")


def _length_bin(words: int) -> str:
    for limit, name in ((5, "1-4"), (9, "5-8"), (16, "9-15"), (31, "16-30")):
        if words < limit:
            return name
    return "31+"


def question_form(question: str) -> set[str]:
    """Features of the question's form, whatever its topic (each prefixed `form:`).

    Its length, its first word, and cues of the answer it asks for: a list of things
    (`ways`, `reasons`, `pros`...), a piece of writing, code, a calculation, a rewrite of
    given text, a comparison, a hypothetical, a short or one-line reply, role play.

    Example:
        >>> sorted(question_form("What are some tips for sleeping better?"))[:5]
        ['form:advice', 'form:first:what', 'form:first:what are', 'form:length:5-8', 'form:list_noun']
    """
    lowered = question.lower()
    words = _WORD.findall(lowered)
    vocabulary = set(words)
    found = {f"length:{_length_bin(len(words))}"}
    first = words[0] if words else ""
    known_opener = first in _WH or first in _AUXILIARY or first in _OPENERS
    found.add(f"first:{first if known_opener else 'other'}")
    if first in _WH and len(words) > 1:
        found.add(f"first:{first} {words[1]}")
    cues = {
        "list_noun": bool(vocabulary & _LIST_NOUNS),
        "writing": bool(vocabulary & _WRITING),
        "code": bool(vocabulary & _CODE) or "`" in question or "()" in question,
        "digit": any(character.isdigit() for character in question),
        "transform": bool(vocabulary & _TRANSFORM),
        "roleplay": bool(_ROLEPLAY.search(lowered)) and bool(re.search(r"\b(you|your)\b", lowered)),
        "question_mark": question.strip().endswith("?"),
        "colon": ":" in question,
    }
    cues.update({name: bool(pattern.search(lowered)) for name, pattern in _FORM_PATTERNS.items()})
    found.update(name for name, present in cues.items() if present)
    return {f"form:{feature}" for feature in found}


def features(question: str) -> set[str]:
    """The classifiers' features: words, word pairs, the first two words, number presence, question form.

    Example:
        >>> sorted(features("How can I sleep?"))[:4]
        ['can', 'can i', 'first:how', 'first:how can']
    """
    words = [("0" if token.isdigit() else token) for token in _WORD.findall(question.lower())]
    found = set(words) | {f"{a} {b}" for a, b in itertools.pairwise(words)}
    if words:
        found.add(f"first:{words[0]}")
        found.add(f"first:{' '.join(words[:2])}")
    return found | question_form(question)


@dataclass(frozen=True)
class TextClassifier:
    """A logistic-regression text classifier over :func:`features`."""

    weights: dict[str, float]
    bias: float

    def score(self, text: str) -> float:
        """The log-odds of the positive class."""
        return self.bias + sum(self.weights.get(feature, 0.0) for feature in features(text))

    def probability(self, text: str) -> float:
        """The probability of the positive class."""
        return 1.0 / (1.0 + math.exp(-self.score(text)))

    def predict(self, text: str) -> bool:
        """Whether the text belongs to the positive class (probability above one half)."""
        return self.score(text) > 0


@dataclass(frozen=True)
class SkeletonRouter:
    """The Skeleton-of-Thought decision: a classifier and two probability thresholds.

    At or above `skeleton_at` the question gets Skeleton-of-Thought; at or below
    `direct_at` it gets a direct answer; in between the router is unsure and abstains,
    which also means a direct answer (the safe default).
    """

    classifier: TextClassifier
    skeleton_at: float
    direct_at: float

    def verdict(self, question: str) -> SkeletonVerdict:
        """`skeleton`, `direct`, or `unsure` (answered directly)."""
        probability = self.classifier.probability(question)
        if probability >= self.skeleton_at:
            return "skeleton"
        return "direct" if probability <= self.direct_at else "unsure"


@lru_cache(maxsize=1)
def _shipped_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        files("llmcompiler_graph").joinpath("data/router_weights.json").read_text()
    )
    return data


def _classifier(name: str) -> TextClassifier:
    entry = _shipped_data()["classifiers"][name]
    return TextClassifier(entry["weights"], entry["bias"])


@lru_cache(maxsize=1)
def _skeleton_router() -> SkeletonRouter:
    thresholds = _shipped_data()["thresholds"]["skeleton"]
    return SkeletonRouter(_classifier("skeleton"), thresholds["skeleton_at"], thresholds["direct_at"])


@lru_cache(maxsize=1)
def _tools_classifier() -> TextClassifier:
    return _classifier("tools")


def skeleton_probability(question: str) -> float:
    """The trained classifier's probability that Skeleton-of-Thought suits the question.

    Calibrated on held-out questions whose base rate is about a third suitable (see
    docs/sot.md); the decision itself is :func:`skeleton_verdict`.

    Example:
        >>> round(skeleton_probability("Write a haiku about the sea."), 2) < 0.1
        True
    """
    return _skeleton_router().classifier.probability(question)


def skeleton_verdict(question: str) -> SkeletonVerdict:
    """The trained router's verdict: `skeleton`, `direct`, or `unsure` (it abstains).

    `skeleton` only when the classifier is confident; an `unsure` question is answered
    directly, like a `direct` one.

    Example:
        >>> skeleton_verdict("What are the pros and cons of working from home?")
        'skeleton'
        >>> skeleton_verdict("Who wrote One Hundred Years of Solitude?")
        'direct'
    """
    return _skeleton_router().verdict(question)


def suitable_for_skeleton(question: str) -> bool:
    """Whether Skeleton-of-Thought suits the question (a list of independent points), offline.

    True only when the trained router is confident (:func:`skeleton_verdict` is
    `skeleton`); when unsure it says False, so the question is answered directly. See the
    docs/sot.md for its held-out accuracy, precision, recall and abstention rate.

    Args:
        question: The user's question, as they wrote it.

    Returns:
        True when the answer is best written as a skeleton of independent points, each
        expanded on its own; False for code, math, single facts, short replies, one
        coherent piece of writing, and whenever the router is unsure.

    Example:
        >>> suitable_for_skeleton("What are the most effective ways to improve my memory?")
        True
        >>> suitable_for_skeleton("Write a Python function that reverses a linked list.")
        False
    """
    return skeleton_verdict(question) == "skeleton"


def needs_tools(question: str) -> bool:
    """Whether the question needs looked-up facts or calculations (the LLMCompiler agent), offline.

    Example:
        >>> needs_tools("How much taller is Mount Everest than K2?")
        True
        >>> needs_tools("How can I improve my time management skills?")
        False
    """
    return _tools_classifier().predict(question)


def trained_route(question: str, *, tools_available: bool = True) -> Mode:
    """The trained router: tools first (when there are tools), then skeleton, else direct."""
    if tools_available and needs_tools(question):
        return "tools"
    return "skeleton" if suitable_for_skeleton(question) else "direct"


def parse_route(text: str, *, tools_available: bool = True) -> Mode:
    """The mode named in a prompted router's reply (`direct` when it names none).

    Example:
        >>> parse_route(" Skeleton."), parse_route("tools", tools_available=False), parse_route("??")
        ('skeleton', 'direct', 'direct')
    """
    words = re.findall(r"[a-z]+", text.lower())
    for word in words[:3]:
        if word == "skeleton":
            return "skeleton"
        if word == "tools":
            return "tools" if tools_available else "direct"
        if word == "direct":
            return "direct"
    return "direct"


async def prompted_route(
    model: LanguageModelLike, question: str, *, tools_available: bool = True, config: Any = None
) -> Mode:
    """The prompted router: the model picks the mode (one short model call)."""
    config = merge_configs(config, {"metadata": model_call_metadata(ModelCall.ROUTE)})
    reply = await model.ainvoke([HumanMessage(ROUTER_PROMPT.replace("{question}", question))], config)
    text = reply if isinstance(reply, str) else reply.text
    return parse_route(text, tools_available=tools_available)
