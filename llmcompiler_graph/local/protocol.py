"""How the embedded small model is asked: compact prompts and choices built for each call.

A 270M base model cannot follow the graph's long instructions, but it can copy a pattern
and choose between a few candidates. So the local model's adapter learns which call it
serves (planner, replan, joiner, math, text ReAct) from the call's run metadata, the
contract of :mod:`llmcompiler_graph.nodes` (`llmcompiler_part` and its details), never
from the prompt's words; it re-renders the call as a short few-shot prompt (the fixed
part first, so its KV cache is reused across calls), and runs a small *program* over a
:class:`Decoder`: text the format fixes is appended without sampling, and every decision
is a choice among candidates built from the call itself (constrained greedy decoding over
a token trie, see `local_model.py`):

- **plan**: one line per step, each a choice among: a lookup tool (one text parameter)
  called on a span of the question, a tool that takes earlier results (a list
  parameter) called with the question and a non-empty list of references to earlier
  ids, or `join()`. Ids continue from the first free id; a call that already ran is
  never offered again; at most :data:`MAX_PLAN_ACTIONS` steps.
- **math**: first the operation (difference, sum, ratio, ...), then an expression of that
  shape whose numbers can only be numbers of the context, one from each item, in order.
- **join**: `Finish(...)` with a number or a name that appears in the question or the
  observations, or `I could not find ...`; `Replan(...)` only when a call failed.
- **react**: a short free thought, then one action with the same kind of candidates
  (lookups on question spans, math expressions over observed numbers, `Finish`).

Nothing here knows a question, a document or a corpus: every candidate comes from the
prompt of the call. The hosted-model path never passes through this module.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from langchain_core.messages import BaseMessage

from llmcompiler_graph.nodes import CAN_REPLAN_KEY, REPLAN_FROM_KEY, ModelCall, model_call

__all__ = [
    "MAX_PLAN_ACTIONS",
    "Decoder",
    "LocalCall",
    "ToolSignature",
    "entity_candidates",
    "number_candidates",
    "parse_tool_signatures",
    "prepare_call",
    "question_spans",
]

MAX_PLAN_ACTIONS = 6
"""Most actions (join excluded) the local planner may write in one plan."""

_STOPWORDS = frozenset(
    """a an the of in on at to for from by with and or than as is are was were be been being
    how much many what which who whom whose when where why did does do done has have had
    more less most least if would could should will can may might into onto each other
    its it their there this that these those top after before between during since until
    times""".split()
)
_INTERIOR_OK = frozenset({"of", "the", "de", "la", "in", "and"})
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'\u2019.-]*[A-Za-z0-9]|[A-Za-z0-9]")
_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?![\d])")
_CONVERSION = re.compile(r"\d[\d,]*(?:\.\d+)?\s*[A-Za-z%°]*\s*\((\d[\d,]*(?:\.\d+)?)\s*[A-Za-z°]+\)")
_CAPITALISED = re.compile(
    r"\b(?:[A-Z][\w'\u2019-]*|[A-Z0-9]*\d[A-Z0-9]*)"
    r"(?:\s+(?:(?:of|the|de|la|del|von|van)\s+)?(?:[A-Z][\w'\u2019-]*|\d+[A-Z]+\d*))*"
)
_YES_NO = re.compile(r"^\s*(?:are|is|was|were|do|does|did|can|has|have|had|will|would)\b", re.I)
_UNIT_CONSTANTS = ("10", "100", "1000", "1000000")


@dataclass(frozen=True)
class ToolSignature:
    """A tool as the planner's prompt lists it: its name and `(name, type)` parameters."""

    name: str
    parameters: tuple[tuple[str, str], ...]

    @property
    def is_lookup(self) -> bool:
        """One text parameter: the argument names one thing (a span of the question)."""
        return len(self.parameters) == 1 and "list" not in self.parameters[0][1]

    @property
    def takes_results(self) -> bool:
        """Has a list parameter: it is given the results of earlier actions."""
        return any("list" in kind for _, kind in self.parameters)


_SIGNATURE = re.compile(r"^\d+\. ([A-Za-z_][A-Za-z0-9_]*)\((.*)\)\s*$", re.M)


def _split_parameters(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current)
    return [p.strip() for p in parts]


def parse_tool_signatures(system_prompt: str) -> list[ToolSignature]:
    r"""The tools listed in a planner or ReAct prompt (`1. search(query: str)` lines).

    Example:
        >>> tools = parse_tool_signatures("1. search(query: str)\n - x\n2. math(problem: str, "
        ...     "context: list[str] | str | None = None)\n3. join()")
        >>> [(t.name, t.is_lookup, t.takes_results) for t in tools]
        [('search', True, False), ('math', False, True)]
    """
    tools = []
    end = re.search(r"(?m)^\d+\. join\(\)", system_prompt)
    listing = system_prompt[: end.start()] if end else system_prompt
    for match in _SIGNATURE.finditer(listing):
        name, params = match.group(1), match.group(2)
        if name == "join":
            continue
        parameters = []
        for part in _split_parameters(params):
            pname, _, kind = part.partition(":")
            parameters.append((pname.strip(), kind.split("=")[0].strip() or "str"))
        if all(re.fullmatch(r"[A-Za-z_]\w*", pname) for pname, _ in parameters):
            tools.append(ToolSignature(name, tuple(parameters)))
    return tools


def question_spans(question: str, *, max_words: int = 5) -> list[str]:
    """Spans of the question that can name a thing to look up.

    Spans never cross punctuation, never start or end with a function word, and contain
    no function word but `of`/`the`/`in`/`and`. When the question names something with a
    capital letter or a digit (after its first word), only spans that do are kept;
    otherwise spans of two words or more (`tallest building in the world`).

    Example:
        >>> question_spans("How much taller is Mount Everest than K2?")
        ['Mount', 'Mount Everest', 'Everest', 'K2']
    """
    spans: list[str] = []
    for clause in re.split(r"[,;:?!()\"]+", question):
        words = _WORD.findall(clause)
        for start in range(len(words)):
            for end in range(start + 1, min(len(words), start + max_words) + 1):
                span = words[start:end]
                if span[0].lower() in _STOPWORDS or span[-1].lower() in _STOPWORDS:
                    continue
                if any(w.lower() in _STOPWORDS and w.lower() not in _INTERIOR_OK for w in span):
                    continue
                spans.append(" ".join(span))
    first = _WORD.findall(question)[:1]
    named = [s for s in spans if _is_named(s) and s.split()[0] not in first]
    return list(dict.fromkeys(named or [s for s in spans if " " in s] or spans))


_NAME_LINKS = frozenset({"of", "the", "de", "la", "del", "von", "van"})


def _is_named(span: str) -> bool:
    """Every word capitalised or with a digit, but linking words inside (`Statue of Unity`)."""
    return all(w[0].isupper() or any(c.isdigit() for c in w) or w in _NAME_LINKS for w in span.split())


def number_candidates(text: str) -> list[str]:
    """The numbers of a text, without thousands separators.

    A number in brackets right after another number with a unit (a conversion, as in
    `8,849 m (29,032 ft)`) is left out.

    Example:
        >>> number_candidates("It is 8,849 m (29,032 ft) high, first climbed in 1953.")
        ['8849', '1953']
    """
    conversions = {m.start(1) for m in _CONVERSION.finditer(text)}
    numbers = []
    for match in _NUMBER.finditer(text):
        if match.start() in conversions:
            continue
        value = match.group(0).rstrip(".,").replace(",", "")
        if value:
            numbers.append(value)
    return list(dict.fromkeys(numbers))


_ASIDE = re.compile(r"\s*\((\d[\d,]*(?:\.\d+)?)\s*[A-Za-z°]+\)")


def number_phrases(text: str) -> list[tuple[str, str]]:
    """Each number of a text with the words around it, and its value: `("It is 330 m tall", "330")`.

    A number's phrase starts with up to three words before it (from the first content
    word among them) and ends with up to two words after it, within its clause; unit
    conversions in brackets are left out. Choosing
    a phrase lets a small model decide by the words (`tall`, `opened in`), not by digits.

    Example:
        >>> number_phrases("Paris, completed in 1889. It is 330 m (1,083 ft) tall.")
        [('completed in 1889', '1889'), ('It is 330 m tall', '330')]
    """
    clean = _ASIDE.sub("", text)
    phrases: list[tuple[str, str]] = []
    for match in _NUMBER.finditer(clean):
        before = re.split(r"[.;:!?,()]\s", clean[: match.start()])[-1].split()[-3:]
        content = [i for i, word in enumerate(before) if word.lower() not in _STOPWORDS]
        if content:  # start with a content word (`elevation of 8,849 m`, not `Its elevation ...`)
            before = before[content[0] :]
        after = re.split(r"[.;:!?,()]", clean[match.end() :])[0].split()[:2]
        value = match.group(0).rstrip(".,").replace(",", "")
        phrase = " ".join([*before, match.group(0).rstrip(".,"), *after])
        if value and all(value != v for _, v in phrases):
            phrases.append((phrase, value))
    return phrases


def entity_candidates(text: str) -> list[str]:
    """Names in a text: runs of capitalised words (`Statue of Unity`), and words with digits (`K2`).

    Example:
        >>> entity_candidates("Which is taller, the Eiffel Tower or K2?")
        ['Which', 'Eiffel Tower', 'K2']
    """
    found = []
    for match in _CAPITALISED.finditer(text):
        name = match.group(0).strip()
        if name and not name.isdigit():
            found.append(name)
    return list(dict.fromkeys(found))


class Decoder(Protocol):
    """What a program needs from the model: forced text, a choice, free text.

    Each method extends the text the model sees; the program yields what the caller
    should receive.
    """

    def append(self, text: str) -> None:
        """Add text the format fixes (evaluated with the next decision, never sampled)."""

    def choose(self, options: Sequence[str]) -> str:
        """Add the option the model ranks first, decided token by token over their trie."""

    def generate(self, max_tokens: int, stop: Sequence[str]) -> str:
        """Add free text (greedy) up to a stop string, which is not included."""


Program = Callable[[Decoder], Iterator[str]]


@dataclass
class LocalCall:
    """One call to the small model, as the adapter will run it.

    Attributes:
        kind: `plan`, `join`, `math` or `react`.
        prefix: The fixed text the prompt starts with (its KV cache is kept).
        suffix: The rest of the prompt, specific to this call.
        program: Drives a :class:`Decoder` after the prompt; yields the reply's text.
    """

    kind: str
    prefix: str
    suffix: str
    program: Program


# ---------------------------------------------------------------------------- plans

LOCAL_PLANNER_PREFIX = """\
Write a plan of tool calls that answers the question. One call per line, numbered. \
Look each thing up with its own call, then compute with the results, then join().

Tools: {tools}, join()

Question: How much longer is the Danube than the Rhine, in kilometres?
1. search("Danube")
2. search("Rhine")
3. math("How much longer is the Danube than the Rhine, in kilometres", ["$1", "$2"])
4. join()

Question: Which is older, the University of Oxford or Harvard University?
1. search("University of Oxford")
2. search("Harvard University")
3. math("Which is older, the University of Oxford or Harvard University", ["$1", "$2"])
4. join()

Question: What is the combined area of Spain and Portugal, in square kilometres?
1. search("Spain")
2. search("Portugal")
3. math("What is the combined area of Spain and Portugal, in square kilometres", ["$1", "$2"])
4. join()

Question: In which country is Lake Titicaca?
1. search("Lake Titicaca")
2. join()

Question: How many times heavier is the Blue Whale than the African Elephant?
1. search("Blue Whale")
2. search("African Elephant")
3. math("How many times heavier is the Blue Whale than the African Elephant", ["$1", "$2"])
4. join()

Question: What is the average depth of Lake Baikal, Lake Tanganyika and Lake Superior, in metres?
1. search("Lake Baikal")
2. search("Lake Tanganyika")
3. search("Lake Superior")
4. math("What is the average depth of Lake Baikal, Lake Tanganyika and Lake Superior, in metres", \
["$1", "$2", "$3"])
5. join()
"""


def _tool_line(tool: ToolSignature) -> str:
    return f"{tool.name}({', '.join(name for name, _ in tool.parameters)})"


def _reference_lists(ids: Sequence[int], limit: int = 4) -> list[list[int]]:
    """Non-empty increasing lists of `ids`: every subset of the last `limit`, larger first."""
    recent = list(ids)[-limit:]
    subsets = [
        list(combo) for size in range(len(recent), 0, -1) for combo in itertools.combinations(recent, size)
    ]
    if len(ids) > limit:
        subsets.insert(0, list(ids))
    return subsets


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "").replace('"', "'") + '"'


def plan_options(
    tools: Sequence[ToolSignature],
    question: str,
    idx: int,
    earlier: Sequence[int],
    done: set[str],
) -> list[str]:
    r"""Every line the plan may continue with at id `idx` (calls end with a newline).

    A lookup is offered for each span of the question that does not overlap one already
    looked up. A tool that takes earlier results is offered only once every name of the
    question has been looked up, and only when the question asks for arithmetic or a
    comparison (a cue of :func:`math_operations`); its references are to earlier ids only,
    and the plan joins right after it.

    Example:
        >>> tools = parse_tool_signatures("1. search(query: str)\n2. math(problem: str, context: list[str])")
        >>> plan_options(tools, "How much taller is K2 than Lhotse?", 2, [1], {'search("K2")'})
        ['2. search("Lhotse")\n']
        >>> plan_options(tools, "How much taller is K2 than Lhotse?", 3, [1, 2],
        ...              {'search("K2")', 'search("Lhotse")'})[0]
        '3. math("How much taller is K2 than Lhotse", ["$1", "$2"])\n'
    """
    spans = question_spans(question)
    problem = question.strip().rstrip("?.! ")
    searched = [re.sub(r'^\w+\("|"\)$', "", call) for call in done if call.count('"') == 2]
    fresh = [s for s in spans if not any(s in other or other in s for other in searched)]
    named = [s for s in spans if _is_named(s) and not any(s != other and s in other for other in spans)]
    missing = [s for s in named if not any(s in other or other in s for other in searched)]
    computes = math_operations(2, question) != math_operations(2)
    options = []
    for tool in tools:
        if tool.is_lookup:
            calls = [f"{tool.name}({_quote(span)})" for span in fresh]
            options += [f"{idx}. {call}\n" for call in calls if call not in done]
        elif tool.takes_results and earlier and computes and not missing:
            for refs in _reference_lists(earlier):
                args = []
                for _, kind in tool.parameters:
                    if "list" in kind:
                        args.append("[" + ", ".join(f'"${ref}"' for ref in refs) + "]")
                    else:
                        args.append(_quote(problem))
                call = f"{tool.name}({', '.join(args)})"
                if call not in done:
                    options.append(f"{idx}. {call}\n")
    if not missing or not options:
        options.append(f"{idx}. join()")
    return options


def _plan_program(
    tools: Sequence[ToolSignature], question: str, first_id: int, earlier_ids: Sequence[int], done: set[str]
) -> Program:
    def program(decoder: Decoder) -> Iterator[str]:
        earlier = list(earlier_ids)
        for position in range(MAX_PLAN_ACTIONS + 1):
            idx = first_id + position
            options = plan_options(tools, question, idx, earlier, done)
            if position == MAX_PLAN_ACTIONS:
                options = [f"{idx}. join()"]
            line = decoder.choose(options)
            if line.endswith("join()"):
                yield line + "<END_OF_PLAN>"
                return
            done.add(_normalise_call(line.split(". ", 1)[1]))
            earlier.append(idx)
            yield line
            if any(line.startswith(f"{idx}. {tool.name}(") for tool in tools if tool.takes_results):
                yield f"{idx + 1}. join()<END_OF_PLAN>"  # one computation per plan, on every result
                return

    return program


def _normalise_call(line: str) -> str:
    """`search(query='K2')` and `search("K2")` both as `search("K2")` (single-argument calls)."""
    match = re.match(r"(\w+)\((?:\w+=)?['\"](.*)['\"]\)\s*$", line.strip())
    return f"{match.group(1)}({_quote(match.group(2))})" if match else line.strip()


def _planner_call(system: str, question: str, replan: str | None, replan_from: int | None) -> LocalCall:
    tools = parse_tool_signatures(system)
    prefix = LOCAL_PLANNER_PREFIX.replace("{tools}", ", ".join(_tool_line(t) for t in tools))
    first_id, earlier_ids, done, history = 1, [], set(), ""
    if replan is not None:
        earlier_ids = sorted({int(i) for i in re.findall(r"(?m)^(\d+)\. ", replan)})
        first_id = replan_from if replan_from is not None else 1 + max(earlier_ids, default=0)
        earlier_ids = [i for i in earlier_ids if i < first_id]
        done = {_normalise_call(line) for line in re.findall(r"(?m)^\d+\. (.+)$", replan)}
        kept = [line for line in replan.splitlines() if re.match(r"^(\d+\. |Observation: )", line)]
        history = "".join(
            (_display_call(line) if re.match(r"^\d+\. ", line) else "Observation: " + _shorten(line[13:]))
            + "\n"
            for line in kept
        )
    return LocalCall(
        kind="plan",
        prefix=prefix,
        suffix=f"\nQuestion: {question}\n{history}",
        program=_plan_program(tools, question, first_id, earlier_ids, done),
    )


# ---------------------------------------------------------------------------- math

_MATH_EXAMPLES: tuple[tuple[str, str, str, tuple[str, ...], tuple[str, ...], str], ...] = (
    (
        "How much longer is the Danube than the Rhine, in kilometres",
        "longer",
        "difference",
        (
            "The Danube is a river in Europe, first mapped in 1540. It is 2,850 km long.",
            "The Rhine is a river in Europe, 1,230 km long. Its basin has 58 million people.",
        ),
        ("2850", "1230"),
        "abs(2850 - 1230)",
    ),
    (
        "What is the combined area of Spain and Portugal, in square kilometres",
        "area",
        "sum",
        (
            "Spain is a country of 48 million people; its area is 505,990 square km.",
            "Portugal, founded in 1143, has an area of 92,212 square km and 10 million people.",
        ),
        ("505990", "92212"),
        "505990 + 92212",
    ),
    (
        "How many times heavier is the Blue Whale than the African Elephant",
        "heavier",
        "ratio",
        (
            "The Blue Whale, named in 1758, weighs up to 150 tonnes and lives 90 years.",
            "The African Elephant, described in 1797, weighs about 6 tonnes.",
        ),
        ("150", "6"),
        "150 / 6",
    ),
    (
        "How many years after the Brooklyn Bridge opened was the Golden Gate Bridge opened",
        "years",
        "difference",
        (
            "The Brooklyn Bridge in New York, 1,834 m long, opened in 1883.",
            "The Golden Gate Bridge, 2,737 m long, opened in 1937.",
        ),
        ("1883", "1937"),
        "abs(1883 - 1937)",
    ),
    (
        "What is the average depth of Lake Baikal, Lake Tanganyika and Lake Superior, in metres",
        "depth",
        "average",
        (
            "Lake Baikal in Siberia is 744 m deep on average and 25 million years old.",
            "Lake Tanganyika, explored in 1858, has an average depth of 570 m.",
            "Lake Superior, named in 1622, has an average depth of 147 m.",
        ),
        ("744", "570", "147"),
        "(744 + 570 + 147) / 3",
    ),
    (
        "What is the length of the Danube in metres",
        "length",
        "conversion",
        ("The Danube is a river in Europe, first mapped in 1540. It is 2,850 km long.",),
        ("2850",),
        "2850 * 1000",
    ),
    (
        "How much longer is the Danube than the combined length of the Rhine and the Elbe",
        "longer",
        "difference",
        (
            "The Danube is a river in Europe, first mapped in 1540. It is 2,850 km long.",
            "The Rhine is a river in Europe, 1,230 km long.",
            "The Elbe, 1,094 km long, flows into the North Sea.",
        ),
        ("2850", "1230", "1094"),
        "2850 - (1230 + 1094)",
    ),
)
"""Worked math examples: problem, quantity, operation, facts, the value taken from each, expression."""


def _render_math_example(
    problem: str, quantity: str, operation: str, facts: Sequence[str], values: Sequence[str], expression: str
) -> str:
    lines = [f"Problem: {problem}", f"Quantity: {quantity}", f"Operation: {operation}"]
    for position, (fact, value) in enumerate(zip(facts, values, strict=True), 1):
        phrase = next(phrase for phrase, number in number_phrases(fact) if number == value)
        lines += [f"Fact {position}: {fact}", f"Value {position} ({quantity}): {phrase}"]
    return "\n".join([*lines, f"Expression: {expression}"])


LOCAL_MATH_PREFIX = (
    "Compute the answer to the problem from the facts: name the quantity and the operation, "
    "take one value from each fact.\n\n"
    + "\n\n".join(_render_math_example(*example) for example in _MATH_EXAMPLES)
    + "\n"
)
"""The math call's fixed prompt: the worked examples, each value shown as the phrase chosen."""


_OPERATIONS = (
    "difference",
    "sum",
    "ratio",
    "product",
    "average",
    "largest",
    "smallest",
    "conversion",
    "value",
)


def math_expressions(operation: str, values: Sequence[Sequence[str]]) -> list[str]:
    """Expressions of one operation: one number from each context item, in the items' order.

    Example:
        >>> math_expressions("difference", [["8849", "1953"], ["8611"]])
        ['abs(8849 - 8611)', 'abs(1953 - 8611)']
    """
    k = len(values)
    choices = list(itertools.islice(itertools.product(*values), 600)) if k else []
    shapes: dict[str, Callable[[Sequence[str]], list[str]]] = {
        "difference": lambda v: (
            [f"abs({v[0]} - {v[1]})"] if len(v) == 2 else [f"{v[0]} - ({' + '.join(v[1:])})"]
        ),
        "sum": lambda v: [" + ".join(v)],
        "ratio": lambda v: [f"{v[0]} / {v[1]}"] if len(v) == 2 else [f"{v[0]} / ({' + '.join(v[1:])})"],
        "product": lambda v: [" * ".join(v)],
        "average": lambda v: [f"({' + '.join(v)}) / {len(v)}"],
        "largest": lambda v: [f"max({', '.join(v)})"],
        "smallest": lambda v: [f"min({', '.join(v)})"],
        "conversion": lambda v: [f"{v[0]} {op} {c}" for op in ("*", "/") for c in _UNIT_CONSTANTS],
        "value": lambda v: [v[0]],
    }
    expressions: list[str] = []
    for chosen in choices:
        expressions += shapes[operation](chosen)
    return list(dict.fromkeys(expressions))


_OPERATION_CUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ratio", re.compile(r"\b(how many times|times (as|more|less)|ratio|fraction|percent(age)? of)\b", re.I)),
    ("average", re.compile(r"\b(average|mean)\b", re.I)),
    (
        "difference",
        re.compile(
            r"\bhow (much|many) (\w+er|more|less|fewer)\b|\bhow many (years|days|months|hours)\b|"
            r"\b(difference|between|older|younger|earlier|later)\b",
            re.I,
        ),
    ),
    ("sum", re.compile(r"\b(combined|total|sum|together|altogether|in all)\b", re.I)),
    (
        "smallest",
        re.compile(
            r"\b(which|who)\b(?=.*\bor\b).*\b(first|earliest|earlier|shortest|smallest|lowest|least|fewer|less)\b",
            re.I,
        ),
    ),
    ("largest", re.compile(r"\b(which|who)\b(?=.*\bor\b).*\b(\w+est|\w+er|more|most|recently|last)\b", re.I)),
)
"""English cue words of arithmetic word problems and the operation each asks for."""


def math_operations(k: int, problem: str = "") -> list[str]:
    """The operations offered for `k` context items.

    Those whose cue words the problem uses (the first cue that matches wins, since
    `how many times` or `how much ... than the combined` also contain later cues); all of
    them when none does.

    Example:
        >>> math_operations(2, "How much taller is K2 than Lhotse")
        ['difference']
        >>> math_operations(1)
        ['conversion', 'value']
    """
    if k <= 1:
        return ["conversion", "value"]
    for operation, cue in _OPERATION_CUES:
        if cue.search(problem):
            return [operation]
    return [op for op in _OPERATIONS if op not in ("conversion", "value")]


def quantity_words(problem: str) -> list[str]:
    """Words of the problem that can name the quantity it is about (`taller`, `years`, `area`).

    Example:
        >>> quantity_words("How many years after the Eiffel Tower opened was Big Ben built")
        ['years', 'opened', 'built']
    """
    words = [w for w in _WORD.findall(problem) if w.isalpha() and w.islower() and w.lower() not in _STOPWORDS]
    return list(dict.fromkeys(w for w in words if len(w) > 2))


def _math_program(problem: str, operations: Sequence[str], facts: Sequence[str]) -> Program:
    def program(decoder: Decoder) -> Iterator[str]:
        facts_with_numbers = [fact for fact in facts if number_phrases(fact)]
        if not facts_with_numbers:
            yield "Expression: (no numbers in the context)"
            return
        decoder.append("Quantity:")
        quantity = decoder.choose([f" {word}\n" for word in quantity_words(problem)] or [" value\n"]).strip()
        decoder.append("Operation:")
        if len(operations) == 1:
            decoder.append(f" {operations[0]}\n")
            operation = operations[0]
        else:
            operation = decoder.choose([f" {op}\n" for op in operations]).strip()
        chosen = []
        for position, fact in enumerate(facts_with_numbers, 1):
            decoder.append(f"Fact {position}: {fact}\nValue {position} ({quantity}):")
            phrases = dict((f" {phrase}\n", value) for phrase, value in number_phrases(fact))
            chosen.append(phrases[decoder.choose(list(phrases))])
        expressions = math_expressions(operation, [[value] for value in chosen])
        expression = (
            expressions[0]
            if len(expressions) == 1
            else decoder.choose([f"Expression: {e}\n" for e in expressions])[len("Expression: ") :]
        )
        yield "Expression: " + expression.strip()

    return program


def _first_mention(problem: str, item: str) -> int:
    """Where the problem first names something the item names (items follow the problem's order)."""
    positions = [problem.find(name) for name in entity_candidates(item) if len(name) > 1 and name in problem]
    return min(positions, default=len(problem))


def _math_call(human: str) -> LocalCall:
    problem_match = re.search(r"Problem:\s*(.*?)\nContext:\n", human, re.S)
    problem = problem_match.group(1).strip() if problem_match else human.strip()
    context = human[problem_match.end() :] if problem_match else ""
    items = [line[2:].strip() for line in context.splitlines() if line.startswith("- ")]
    items = [item for item in items if item and item != "(none)"]
    for item in items:  # a reference inside the problem was replaced by the whole observation
        if len(item) > 20:
            problem = problem.replace(item, "")
    problem = " ".join(problem.split())[:200]
    items = sorted(items, key=lambda item: _first_mention(problem, item))
    facts = [_shorten(item) for item in items] or ([problem] if number_candidates(problem) else [])
    return LocalCall(
        kind="math",
        prefix=LOCAL_MATH_PREFIX,
        suffix=f"\nProblem: {problem}\n",
        program=_math_program(problem, math_operations(len(facts), problem), facts),
    )


def _shorten(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."


# ---------------------------------------------------------------------------- join

LOCAL_JOINER_PREFIX = """\
Answer the question from the results. Give only the answer: a number, or a name.

Question: How much longer is the Danube than the Rhine, in kilometres?
1. search("Danube")
Observation: Danube: The Danube is a river in Europe, first mapped in 1540. It is 2,850 km long.
2. search("Rhine")
Observation: Rhine: The Rhine is a river in Europe, 1,230 km long.
3. math("How much longer is the Danube than the Rhine, in kilometres", ["$1", "$2"])
Observation: 1620
Action: Finish(1620)

Question: Which is older, the University of Oxford or Harvard University?
1. search("University of Oxford")
Observation: University of Oxford: The University of Oxford in England, with 26000 students, \
was founded in 1096.
2. search("Harvard University")
Observation: Harvard University: Harvard University in Massachusetts was founded in 1636.
3. math("Which is older, the University of Oxford or Harvard University", ["$1", "$2"])
Observation: 1096
Thought: the result 1096 is found for University of Oxford
Action: Finish(University of Oxford)

Question: Which river is longer, the Rhine or the Danube?
1. search("Rhine")
Observation: Rhine: The Rhine is a river in Europe, 1,230 km long.
2. search("Danube")
Observation: Danube: The Danube is a river in Europe, first mapped in 1540. It is 2,850 km long.
3. math("Which river is longer, the Rhine or the Danube", ["$1", "$2"])
Observation: 2850
Thought: the result 2850 is found for Danube
Action: Finish(Danube)

Question: In which country is Lake Titicaca?
1. search("Lake Titicaca")
Observation: Lake Titicaca: Lake Titicaca is a lake in the Andes on the border of Bolivia and Peru.
Action: Finish(Bolivia and Peru)

Question: How tall is the CN Tower, in metres?
1. search("CN Tower")
Observation: CN Tower: The CN Tower in Toronto, completed in 1976, is 553 m tall.
Action: Finish(553)

Question: How many times heavier is the Blue Whale than the African Elephant?
1. search("Blue Whale")
Observation: Blue Whale: The Blue Whale weighs up to 150 tonnes.
2. search("African Elephant")
Observation: African Elephant: The African Elephant weighs about 6 tonnes.
3. math("How many times heavier is the Blue Whale than the African Elephant", ["$1", "$2"])
Observation: 25
Action: Finish(25)

Question: How much higher is Mount Kenya than Ben Nevis?
1. search("Mount Kenya")
Observation: Mount Kenya: Mount Kenya is the second-highest mountain in Africa, 5,199 m high.
2. search("Ben Nevis")
Observation: Could not find [Ben Nevis]. Similar: []
3. math("How much higher is Mount Kenya than Ben Nevis", ["$1", "$2"])
Observation: ERROR: not run because $2 did not succeed
Action: Finish(I could not find Ben Nevis)
"""

_ASKS_FOR_NAME = re.compile(r"^\s*(?:in |at |from |of |by )?(?:which|who|whom|whose|where)\b", re.I)
"""A question whose answer is a name (a yes/no question starts with a verb, see `_YES_NO`)."""

_ASKS_FOR_NUMBER = re.compile(r"^\s*how (?:much|many|tall|long|high|deep|far|old|big|large|heavy)\b", re.I)
"""A question whose answer is a number."""

_FAILED = re.compile(r"^\s*(ERROR|Could not find|\(not executed\))", re.I)


def _observations(scratchpad: str) -> list[tuple[str, str]]:
    """(call line, observation) pairs of a rendered scratchpad."""
    pairs: list[tuple[str, str]] = []
    call = ""
    for line in scratchpad.splitlines():
        if re.match(r"^\d+\. ", line):
            call = line
        elif line.startswith("Observation: "):
            pairs.append((call, line[len("Observation: ") :]))
    return pairs


def _display_call(call: str) -> str:
    """`3. math(problem='x', context=['$1'])` as the few-shot shows it: `3. math("x", ["$1"])`."""
    match = re.match(r"^(\d+)\. (\w+)\((.*)\)$", call)
    if match is None:
        return call
    idx, name, args = match.groups()
    args = re.sub(r"\b\w+=", "", args)
    args = re.sub(r"'((?:[^'\\]|\\.)*)'", lambda m: '"' + m.group(1).replace('"', "'") + '"', args)
    return f"{idx}. {name}({args})"


_CALL = re.compile(r"^\d+\. (\w+)\(\"([^\"]*)\"(.*)\)$")


def _is_computation(call: str, obs: str) -> bool:
    """A call with more than one argument (it took results) whose observation is one number."""
    match = _CALL.match(_display_call(call)) or _CALL.match("1. " + call.strip())
    return bool(match and match.group(3)) and re.fullmatch(r"-?\d+(?:\.\d+)?", obs.strip()) is not None


def _lookup_subject(call: str) -> str | None:
    """What a lookup call looked up (`1. search("K2")` or `search(query='K2')`), else None."""
    match = _CALL.match(_display_call(call)) or _CALL.match("1. " + _display_call(call).strip())
    return match.group(2) if match and not match.group(3) else None


def _unsupported(call: str, obs: str) -> bool:
    """A failed call, or a lookup whose observation does not mention what was looked up.

    A search over documents returns its best match even for a thing it does not hold
    (`Mount Foo` finds `Mount Everest`): every content word of the subject (its first five
    letters, so `Towers` matches `Tower`) must appear in the observation.
    """
    if _FAILED.match(obs):
        return True
    subject = _lookup_subject(call)
    if subject is None:
        return False
    text = obs.lower()
    words = [w.lower() for w in _WORD.findall(subject) if w.lower() not in _STOPWORDS]
    return not all(word[:5] in text for word in words)


def finish_answers(question: str, observations: Sequence[tuple[str, str]]) -> list[str]:
    """What `Finish(...)` may hold.

    Numbers and names from the successful observations and the question (names only for
    which/who/where questions, numbers only for how much/many/tall ... questions), only
    `yes`/`no` for a question that starts with a verb, and `I could not find <span
    of the question>` when an observation failed (the only answers when none succeeded).
    When a lookup found nothing (see :func:`_unsupported`), the only answers are `I could
    not find <what it looked up>`.

    Example:
        >>> finish_answers("How tall is K2?", [("1. search('K2')", "K2: K2 is 8,611 m high.")])
        ['8611', '8,611']
    """
    not_found = [s for call, obs in observations if _unsupported(call, obs) and (s := _lookup_subject(call))]
    if not_found:  # a lookup the answer needs found nothing: say so, never compute around it
        return [f"I could not find {subject}" for subject in dict.fromkeys(not_found)]
    good = [obs for call, obs in observations if not _unsupported(call, obs)]
    numbers: list[str] = []
    names: list[str] = []
    for obs in good:
        numbers += number_candidates(obs)
        numbers += [m.group(0).rstrip(".,") for m in _NUMBER.finditer(obs) if "," in m.group(0).rstrip(".,")]
        names += entity_candidates(obs)
    first = _WORD.findall(question)[:1]
    names = [n for n in entity_candidates(question) + names if n not in first]
    computed = [obs.strip() for call, obs in observations if _is_computation(call, obs)]
    if _YES_NO.match(question):
        numbers, names = [], ["yes", "no"]
    elif _ASKS_FOR_NUMBER.match(question) and numbers:
        names = []
        numbers = computed or numbers  # the computed result answers a numeric question
    elif computed and not _ASKS_FOR_NAME.match(question):
        names = []
        numbers = computed  # a question that needed a computation (`What is the combined ...`)
    elif _ASKS_FOR_NAME.match(question):
        numbers = []
        if not re.search(r"\bor\b", question):  # `In which city is X?` is not answered by X
            named = entity_candidates(question)
            names = [n for n in names if not any(q in n or n in q for q in named)]
    missing = [f"I could not find {span}" for span in question_spans(question)] or [
        "I could not find the answer"
    ]
    if len(good) == len(observations) and good:  # everything succeeded: answer from it
        missing = []
    answers = numbers + names if good else []
    return list(dict.fromkeys(answers + missing))


def _comparison(observations: Sequence[tuple[str, str]]) -> tuple[list[tuple[str, str]], str] | None:
    """(subject, observation) of each lookup and the result of a comparing math call, if any.

    A call whose problem asks which is largest or smallest (see :func:`math_operations`)
    and whose observation is a number makes the question a comparison between the things
    looked up. The answer is then chosen among the things whose observation holds that
    number (the result's provenance), by the model when several do.
    """
    lookups, result = [], None
    for call, obs in observations:
        match = _CALL.match(_display_call(call))
        if match is None or _unsupported(call, obs):
            continue
        if not match.group(3):
            lookups.append((match.group(2), obs))
        elif math_operations(2, match.group(2))[0] in ("largest", "smallest") and number_candidates(obs):
            result = number_candidates(obs)[0]
    return (lookups, result) if result is not None and len(lookups) >= 2 else None


def _join_program(question: str, observations: Sequence[tuple[str, str]], can_replan: bool) -> Program:
    def program(decoder: Decoder) -> Iterator[str]:
        failed = not observations or any(_unsupported(call, obs) for call, obs in observations)
        comparison = None if failed else _comparison(observations)
        answers = finish_answers(question, observations)
        if comparison is not None:
            # each thing with the value the model reads in its observation, then the result:
            # `8849 = Mount Everest ... Result: 8849 =` lets the model copy the name
            lookups, result = comparison
            holders = [subject for subject, obs in lookups if result in number_candidates(obs)]
            decoder.append(f"Thought: the result {result} is found for")
            name = decoder.choose([f" {subject}\n" for subject in holders or [s for s, _ in lookups]]).strip()
            yield f"Thought: the comparison gives {result}, found for {name}.\nAction: Finish({name})"
            return
        decoder.append("Action:")
        action = " Finish("
        if can_replan and failed:
            action = decoder.choose([" Finish(", " Replan("])
        else:
            decoder.append(action)
        if action == " Replan(":
            missing = [call for call, obs in observations if _unsupported(call, obs)]
            yield f"Action: Replan(these calls failed: {'; '.join(missing) or 'no plan ran'})"
            return
        answer = decoder.choose([f"{a})" for a in answers])
        yield f"Action: Finish({answer[:-1]})"

    return program


def _joiner_call(human: str, can_replan: bool) -> LocalCall:
    question_match = re.match(r"\s*Question:\s*(.*?)\n", human)
    question = question_match.group(1).strip() if question_match else human.splitlines()[0]
    scratchpad = human[question_match.end() :] if question_match else human
    observations = _observations(scratchpad)
    lines = "".join(f"{_display_call(call)}\nObservation: {_shorten(obs)}\n" for call, obs in observations)
    return LocalCall(
        kind="join",
        prefix=LOCAL_JOINER_PREFIX,
        suffix=f"\nQuestion: {question}\n{lines}",
        program=_join_program(question, observations, can_replan),
    )


# ---------------------------------------------------------------------------- ReAct

LOCAL_REACT_PREFIX = """\
Answer the question with tools, one action at a time. Actions: {tools}, Finish(answer).

Question: How much longer is the Danube than the Rhine, in kilometres?
Thought: I need the length of the Danube.
Action: search("Danube")
Observation: Danube: The Danube is a river in Europe, first mapped in 1540. It is 2,850 km long.
Thought: Now the length of the Rhine.
Action: search("Rhine")
Observation: Rhine: The Rhine is a river in Europe, 1,230 km long.
Thought: Compute the difference of the two lengths.
Action: math("How much longer is the Danube than the Rhine, in kilometres", ["Danube: The Danube is a river \
in Europe, first mapped in 1540. It is 2,850 km long.", "Rhine: The Rhine is a river in Europe, \
1,230 km long."])
Observation: 1620
Thought: I have the answer.
Action: Finish(1620)

Question: Which is older, the University of Oxford or Harvard University?
Thought: I need when Oxford was founded.
Action: search("University of Oxford")
Observation: University of Oxford: The University of Oxford in England was founded in 1096.
Thought: Now when Harvard was founded.
Action: search("Harvard University")
Observation: Harvard University: Harvard University in Massachusetts was founded in 1636.
Thought: Find which was founded first.
Action: math("Which is older, the University of Oxford or Harvard University", ["University of Oxford: The \
University of Oxford in England was founded in 1096.", "Harvard University: Harvard University in \
Massachusetts was founded in 1636."])
Observation: 1096
Thought: The result 1096 is found for the University of Oxford.
Action: Finish(University of Oxford)

Question: How tall is the CN Tower, in metres?
Thought: I need the height of the CN Tower.
Action: search("CN Tower")
Observation: CN Tower: The CN Tower in Toronto, completed in 1976, is 553 m tall.
Thought: I have the answer.
Action: Finish(553)
"""

REACT_THOUGHT_TOKENS = 24
"""Most tokens of a ReAct thought (the rest of the line is cut)."""


def react_actions(
    tools: Sequence[ToolSignature], question: str, observations: Sequence[tuple[str, str]], done: set[str]
) -> list[str]:
    """Every action a ReAct step may take, under the same rules as a plan (see :func:`plan_options`).

    Lookups on spans of the question not yet looked up; once every name is looked up and
    the question asks for arithmetic or a comparison, one call of the tool that takes
    results, with the question and the lookups' observations as its context (so it runs
    the same math program as LLMCompiler's); `Finish` once nothing is missing, with the
    joiner's answers (for a comparison, the thing whose observation holds the result).
    """
    numbered = [(f"{n}. {call}", obs) for n, (call, obs) in enumerate(observations, 1)]
    searched = [re.sub(r'^\w+\("|"\)$', "", call) for call in done if call.count('"') == 2]
    spans = question_spans(question)
    fresh = [s for s in spans if not any(s in other or other in s for other in searched)]
    named = [s for s in spans if _is_named(s) and not any(s != other and s in other for other in spans)]
    missing = [s for s in named if not any(s in other or other in s for other in searched)]
    computes = math_operations(2, question) != math_operations(2)
    computed = False
    actions = []
    for tool in tools:
        if tool.is_lookup:
            calls = [f"{tool.name}({_quote(span)})" for span in fresh]
            actions += [call for call in calls if call not in done]
        elif tool.takes_results:
            computed = any(call.startswith(f"{tool.name}(") for call, _ in observations)
            found = [
                obs for call, obs in observations if not _unsupported(call, obs) and call.count('"') == 2
            ]
            if computes and not missing and not computed and found:
                context = ", ".join(_quote(_shorten(obs, 200)) for obs in found)
                actions.append(f"{tool.name}({_quote(question.strip().rstrip('?.! '))}, [{context}])")
    if (not missing and (computed or not computes)) or not actions:
        comparison = _comparison(numbered)
        if comparison is not None:
            lookups, result = comparison
            holders = [subject for subject, obs in lookups if result in number_candidates(obs)]
            answers = holders or [subject for subject, _ in lookups]
        else:
            answers = finish_answers(question, observations)
        actions += [f"Finish({answer})" for answer in answers]
    return list(dict.fromkeys(actions))


def _react_program(
    tools: Sequence[ToolSignature], question: str, observations: Sequence[tuple[str, str]], done: set[str]
) -> Program:
    def program(decoder: Decoder) -> Iterator[str]:
        decoder.append("Thought:")
        thought = decoder.generate(REACT_THOUGHT_TOKENS, ["\n"])
        decoder.append("\nAction:")
        action = decoder.choose([f" {a}\n" for a in react_actions(tools, question, observations, done)])
        yield f"Thought:{thought}\nAction: {action.strip()}"

    return program


def _react_call(system: str, human: str) -> LocalCall:
    tools = parse_tool_signatures(system)
    question_match = re.match(r"\s*Question:\s*(.*?)(?:\n|$)", human)
    question = question_match.group(1).strip() if question_match else human.strip()
    scratchpad = human[question_match.end() :] if question_match else ""
    calls = re.findall(r"(?m)^Action: (.+)$", scratchpad)
    observations = list(zip(calls, re.findall(r"(?m)^Observation: (.+)$", scratchpad), strict=False))
    done = {_normalise_call(call) for call in calls}
    lines = "".join(
        ("Observation: " + _shorten(line[13:]) if line.startswith("Observation: ") else line) + "\n"
        for line in scratchpad.splitlines()
        if line.strip()
    )
    return LocalCall(
        kind="react",
        prefix=LOCAL_REACT_PREFIX.replace("{tools}", ", ".join(_tool_line(t) for t in tools)),
        suffix=f"\nQuestion: {question}\n{lines}",
        program=_react_program(tools, question, observations, done),
    )


# ---------------------------------------------------------------------------- dispatch


def prepare_call(
    messages: Sequence[BaseMessage], metadata: Mapping[str, Any] | None = None
) -> LocalCall | None:
    r"""The local rendering of a call the graph or the benchmark makes, or None when it has none.

    Which call it is comes only from the run `metadata` (the contract of
    :mod:`llmcompiler_graph.nodes`): `llmcompiler_part` is `plan` (a replan also has
    `llmcompiler_replan_from`, and its prompt is the last human message), `joiner`
    (with `llmcompiler_can_replan`), `math` or `react`. A call without it, or of another
    part, gets None (the plain completion), whatever its prompt says.

    Example:
        >>> from langchain_core.messages import HumanMessage, SystemMessage
        >>> math = [SystemMessage("Compute."), HumanMessage("Problem: 2 + 3\nContext:\n(none)")]
        >>> prepare_call(math, {"llmcompiler_part": "math"}).kind, prepare_call(math) is None
        ('math', True)
    """
    system = next((m.text for m in messages if m.type == "system"), "")
    humans = [m.text for m in messages if m.type == "human"]
    part = model_call(metadata)
    if not humans or part is None or metadata is None:
        return None
    if part is ModelCall.PLAN:
        replan_from = metadata.get(REPLAN_FROM_KEY)
        replan_from = replan_from if isinstance(replan_from, int) else None
        replan = humans[-1] if replan_from is not None and len(humans) > 1 else None
        question_text = humans[-2] if replan is not None else humans[-1]
        question = re.sub(r"^\s*Question:\s*", "", question_text).strip()
        return _planner_call(system, question, replan, replan_from)
    if part is ModelCall.JOINER:
        return _joiner_call(humans[-1], metadata.get(CAN_REPLAN_KEY, True) is not False)
    if part is ModelCall.REACT:
        return _react_call(system, humans[-1])
    if part is ModelCall.MATH:
        return _math_call(humans[-1])
    return None
