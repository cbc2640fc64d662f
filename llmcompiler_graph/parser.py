"""Pure parsing of planner and joiner output, and reference substitution.

Nothing here performs I/O or keeps state between calls except the explicit
:class:`StreamingPlanParser` object a caller owns. Every function either returns a
value or raises :class:`PlanSyntaxError`; no other exception escapes for any input text.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "END_OF_PLAN",
    "JOIN_TOOL_NAME",
    "JoinerDecision",
    "ParsedCall",
    "PlanEnd",
    "PlanLineError",
    "PlanSyntaxError",
    "PlanThought",
    "StreamingPlanParser",
    "find_references",
    "parse_call_arguments",
    "parse_joiner_output",
    "parse_plan",
    "parse_plan_line",
    "substitute_references",
    "to_text",
]

END_OF_PLAN = "<END_OF_PLAN>"
JOIN_TOOL_NAME = "join"

#: Longest plan line the parser accepts; longer lines become a :class:`PlanLineError`.
MAX_LINE_CHARS = 20_000

_TASK_LINE = re.compile(r"^\s*(?:[-*]\s*)?(\d{1,9})\s*[.)]\s*(.*)$", re.DOTALL)
_CALL_HEAD = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_THOUGHT_LINE = re.compile(r"^\s*Thought\s*:\s*(.*)$", re.IGNORECASE | re.DOTALL)
# `${12}` or `$12` (not followed by another digit or word character).
_REFERENCE = re.compile(r"\$\{(\d{1,9})\}|\$(\d{1,9})(?![\w])")
_JSON_LITERALS: Mapping[str, Any] = {"true": True, "false": False, "null": None}


class PlanSyntaxError(ValueError):
    """A plan line or a call's arguments could not be parsed."""


@dataclass(frozen=True)
class ParsedCall:
    """One numbered action of a plan, as written by the planner.

    Attributes:
        idx: The task id the planner gave (`3` in `3. math(...)`).
        tool: The action's name; `join` for the final action.
        args: Positional arguments, references left as `"$N"` strings.
        kwargs: Keyword arguments, references left as `"$N"` strings.
        dependencies: Ids referenced anywhere in the arguments, sorted.
        thought: The `Thought:` text written just before this action, if any.
        end_of_plan: Whether `<END_OF_PLAN>` followed the call on its line.
        line: The raw line, for error messages.
    """

    idx: int
    tool: str
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    dependencies: tuple[int, ...]
    thought: str | None = None
    end_of_plan: bool = False
    line: str = ""

    @property
    def is_join(self) -> bool:
        """Whether this is the plan's closing `join()`."""
        return self.tool == JOIN_TOOL_NAME


@dataclass(frozen=True)
class PlanLineError:
    """A line that looks like a numbered action but could not be parsed.

    Attributes:
        idx: The id at the start of the line, when one could be read.
        line: The raw line.
        message: What was wrong, written for the joiner and for humans.
    """

    idx: int | None
    line: str
    message: str


@dataclass(frozen=True)
class PlanThought:
    """A `Thought:` line (or other free text) between actions."""

    text: str


@dataclass(frozen=True)
class PlanEnd:
    """`<END_OF_PLAN>` was seen; nothing after it belongs to the plan."""


PlanItem = ParsedCall | PlanLineError | PlanThought | PlanEnd


@dataclass(frozen=True)
class JoinerDecision:
    """What the joiner decided, parsed from `Thought: ... Action: ...`.

    Attributes:
        action: `"finish"` or `"replan"`.
        thought: The joiner's reasoning, if it wrote a `Thought:`.
        content: The answer (finish) or the feedback for the planner (replan).
        well_formed: False when no `Action:` could be read and the whole text
            was taken as the answer.
    """

    action: Literal["finish", "replan"]
    thought: str | None
    content: str
    well_formed: bool = True


# --------------------------------------------------------------------------- references


def find_references(value: Any) -> set[int]:
    """Return every task id referenced as `$N` or `${N}` anywhere inside `value`.

    Strings are searched; lists, tuples and dict values (and keys) are searched
    recursively; other values have no references.

    Example:
        >>> sorted(find_references({"q": "${1} and $2", "xs": ["$3"]}))
        [1, 2, 3]
    """
    found: set[int] = set()
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            for braced, bare in _REFERENCE.findall(item):
                found.add(int(braced or bare))
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
    return found


def to_text(value: Any) -> str:
    """Render a tool result as the text substituted into longer strings and shown to the joiner.

    Example:
        >>> to_text({"a": 1})
        '{"a": 1}'
    """
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def substitute_references(value: Any, results: Mapping[int, Any]) -> Any:
    """Replace `$N` / `${N}` references in `value` with the results of earlier tasks.

    A string that is exactly one reference (surrounding whitespace allowed) is
    replaced by the result itself, whatever its type. A reference inside longer text
    is replaced by the result's text form (:func:`to_text`), and so is a reference in
    a dict key. Lists, tuples and dicts are processed recursively. References to ids
    missing from `results` are left as written.

    Example:
        >>> substitute_references(["$1", "${1}+${2} m"], {1: 3, 2: "4"})
        [3, '3+4 m']
    """
    if isinstance(value, str):
        whole = _REFERENCE.fullmatch(value.strip())
        if whole is not None:
            return results.get(int(whole.group(1) or whole.group(2)), value)
        return _substitute_text(value, results)
    if isinstance(value, Mapping):
        # Keys must stay hashable, so references in keys always take the text form.
        return {
            _substitute_text(k, results) if isinstance(k, str) else k: substitute_references(v, results)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [substitute_references(v, results) for v in value]
    if isinstance(value, tuple):
        return tuple(substitute_references(v, results) for v in value)
    return value


def _substitute_text(text: str, results: Mapping[int, Any]) -> str:
    def replace(match: re.Match[str]) -> str:
        ref = int(match.group(1) or match.group(2))
        return to_text(results[ref]) if ref in results else match.group(0)

    return _REFERENCE.sub(replace, text)


# --------------------------------------------------------------------------- call arguments


def _quote_bare_references(text: str) -> str:
    """Wrap references written outside string literals in quotes, so `f($1)` parses."""
    out: list[str] = []
    i, n = 0, len(text)
    quote: str | None = None
    while i < n:
        ch = text[i]
        if quote is not None:
            out.append(ch)
            if ch == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if text.startswith(quote, i):
                out.append(quote[1:])
                i += len(quote)
                quote = None
                continue
            i += 1
            continue
        if ch in "\"'":
            quote = ch * 3 if text.startswith(ch * 3, i) else ch
            out.append(quote)
            i += len(quote)
            continue
        if ch == "$":
            match = _REFERENCE.match(text, i)
            if match is not None:
                out.append(f'"{match.group(0)}"')
                i = match.end()
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def _literal(node: ast.expr) -> Any:
    if isinstance(node, ast.Name) and node.id in _JSON_LITERALS:
        return _JSON_LITERALS[node.id]
    if isinstance(node, ast.List):
        return [_literal(e) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_literal(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            msg = "dict unpacking (**) is not allowed in arguments"
            raise PlanSyntaxError(msg)
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values, strict=True) if k}
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        snippet = ast.unparse(node) if _safe_unparse(node) else "<expression>"
        msg = f"argument {snippet[:80]!r} is not a literal value (use quotes for text)"
        raise PlanSyntaxError(msg) from exc


def _safe_unparse(node: ast.AST) -> bool:
    try:
        ast.unparse(node)
    except (RecursionError, ValueError, MemoryError):
        return False
    return True


def parse_call_arguments(text: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Parse the text between a call's parentheses into positional and keyword arguments.

    Arguments are Python (or JSON) literals; references may be bare (`$1`) or quoted.
    Bare references come back as the strings `"$1"`. Nothing is evaluated.

    Example:
        >>> parse_call_arguments('"abs($1 - $2)", ["$1", $2], k=true')
        (('abs($1 - $2)', ['$1', '$2']), {'k': True})

    Raises:
        PlanSyntaxError: The text is not a valid argument list of literals.
    """
    if not text.strip():
        return (), {}
    source = f"_({_quote_bare_references(text)})"
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        msg = f"arguments are not valid: ({text[:120]})"
        raise PlanSyntaxError(msg) from exc
    call = tree.body
    if not isinstance(call, ast.Call) or call.func is None:
        msg = f"arguments are not valid: ({text[:120]})"
        raise PlanSyntaxError(msg)
    try:
        args = tuple(_literal(a) for a in call.args if not isinstance(a, ast.Starred))
        if len(args) != len(call.args):
            msg = "*args unpacking is not allowed in arguments"
            raise PlanSyntaxError(msg)
        kwargs: dict[str, Any] = {}
        for keyword in call.keywords:
            if keyword.arg is None:
                msg = "**kwargs unpacking is not allowed in arguments"
                raise PlanSyntaxError(msg)
            kwargs[keyword.arg] = _literal(keyword.value)
    except RecursionError as exc:
        msg = "arguments are nested too deeply"
        raise PlanSyntaxError(msg) from exc
    except TypeError as exc:  # unhashable dict keys such as {[1]: 2}
        msg = f"arguments are not valid: {exc}"
        raise PlanSyntaxError(msg) from exc
    return args, kwargs


# --------------------------------------------------------------------------- plan lines


def _split_call(rest: str) -> tuple[str, str, str]:
    """Split `name(args)tail` into its parts, matching the call's closing parenthesis."""
    head = _CALL_HEAD.match(rest)
    if head is None:
        msg = 'expected an action such as search("...") after the id'
        raise PlanSyntaxError(msg)
    name = head.group(1)
    depth, i, n = 0, head.end() - 1, len(rest)
    quote: str | None = None
    while i < n:
        ch = rest[i]
        if quote is not None:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return name, rest[head.end() : i], rest[i + 1 :]
        i += 1
    msg = "the call's parentheses or quotes are not closed"
    raise PlanSyntaxError(msg)


def parse_plan_line(line: str, thought: str | None = None) -> PlanItem | None:
    """Parse one line of a plan.

    Returns a :class:`ParsedCall` for a numbered action, a :class:`PlanLineError` for
    a numbered line that cannot be parsed, a :class:`PlanThought` for a `Thought:`
    line, a :class:`PlanEnd` for a bare `<END_OF_PLAN>`, and ``None`` for blank lines,
    code fences and other text.

    Example:
        >>> parse_plan_line('2. math("$1 * 2", ["$1"])').dependencies
        (1,)
    """
    stripped = line.strip()
    if not stripped or stripped.startswith("```"):
        return None
    if len(stripped) > MAX_LINE_CHARS:
        return PlanLineError(None, stripped[:200], f"line longer than {MAX_LINE_CHARS} chars")
    thought_match = _THOUGHT_LINE.match(stripped)
    if thought_match is not None:
        return PlanThought(thought_match.group(1).strip())
    if stripped == END_OF_PLAN:
        return PlanEnd()
    task_match = _TASK_LINE.match(stripped)
    if task_match is None:
        return PlanThought(stripped)
    idx = int(task_match.group(1))
    rest = task_match.group(2).strip()
    try:
        name, arg_text, tail = _split_call(rest)
        tail = tail.strip()
        end_of_plan = tail.startswith(END_OF_PLAN)
        if end_of_plan:
            tail = tail[len(END_OF_PLAN) :].strip()
        if tail and not tail.startswith("#"):
            msg = f"unexpected text after the call: {tail[:60]!r}"
            raise PlanSyntaxError(msg)
        args, kwargs = parse_call_arguments(arg_text)
    except PlanSyntaxError as exc:
        return PlanLineError(idx, stripped, str(exc))
    dependencies = tuple(sorted(find_references([args, kwargs])))
    return ParsedCall(
        idx=idx,
        tool=name,
        args=args,
        kwargs=kwargs,
        dependencies=dependencies,
        thought=thought,
        end_of_plan=end_of_plan,
        line=stripped,
    )


@dataclass
class StreamingPlanParser:
    r"""Turns streamed planner text into plan items as soon as each line is complete.

    Feed chunks in arrival order; each call returns the items whose lines were
    completed by that chunk. Call :meth:`finish` when the stream ends to parse a last
    line that had no newline. After `<END_OF_PLAN>` (or `join()`), further text is
    ignored and :attr:`done` is true.

    Example:
        >>> p = StreamingPlanParser()
        >>> [(item.idx, item.tool, item.args) for item in p.feed('1. search("a")\n2. sea')]
        [(1, 'search', ('a',))]
        >>> [type(item).__name__ for item in p.feed('rch("b")\n3. join()<END_OF_PLAN>')]
        ['ParsedCall', 'ParsedCall', 'PlanEnd']
        >>> p.done, p.finish()
        (True, [])
    """

    done: bool = False
    _buffer: list[str] = field(default_factory=list)
    _pending_thought: list[str] = field(default_factory=list)

    def feed(self, chunk: str) -> list[PlanItem]:
        """Consume a chunk of streamed text and return the items it completed."""
        if self.done or not chunk:
            return []
        items: list[PlanItem] = []
        start = 0
        while not self.done:
            newline = chunk.find("\n", start)
            if newline < 0:
                break
            self._buffer.append(chunk[start:newline])
            start = newline + 1
            items.extend(self._complete_line("".join(self._buffer)))
            self._buffer.clear()
        if not self.done:
            self._buffer.append(chunk[start:])
            pending = "".join(self._buffer)
            if END_OF_PLAN in pending:
                # The end marker closes the plan even without a newline after it.
                self._buffer.clear()
                items.extend(self._complete_line(pending))
            elif len(pending) > MAX_LINE_CHARS:
                self._buffer.clear()
                items.extend(self._complete_line(pending))
        return items

    def finish(self) -> list[PlanItem]:
        """Parse whatever is left in the buffer once the stream has ended."""
        if self.done:
            return []
        rest = "".join(self._buffer)
        self._buffer.clear()
        items = list(self._complete_line(rest)) if rest else []
        self.done = True
        return items

    def _complete_line(self, line: str) -> Iterator[PlanItem]:
        marker = line.find(END_OF_PLAN)
        if marker >= 0:
            before = line[: marker + len(END_OF_PLAN)]
            head = before[:marker]
            if head.strip():
                yield from self._parse(before)
            if not self.done:
                self.done = True
                yield PlanEnd()
            return
        yield from self._parse(line)

    def _parse(self, line: str) -> Iterator[PlanItem]:
        thought = " ".join(self._pending_thought) or None
        item = parse_plan_line(line, thought)
        if item is None:
            return
        if isinstance(item, PlanThought):
            if item.text:
                self._pending_thought.append(item.text)
            return
        if isinstance(item, PlanEnd):
            self.done = True
            yield item
            return
        self._pending_thought.clear()
        yield item
        if isinstance(item, ParsedCall) and item.is_join:
            self.done = True
            yield PlanEnd()


def parse_plan(text: str) -> list[PlanItem]:
    r"""Parse a whole plan at once (the streaming parser fed one chunk).

    Example:
        >>> [type(i).__name__ for i in parse_plan('1. a()\n2. join()<END_OF_PLAN>')]
        ['ParsedCall', 'ParsedCall', 'PlanEnd']
    """
    parser = StreamingPlanParser()
    return [*parser.feed(text), *parser.finish()]


# --------------------------------------------------------------------------- joiner


_ACTION = re.compile(r"Action\s*:\s*(Finish|Replan)\s*\(", re.IGNORECASE)
_JOINER_THOUGHT = re.compile(r"Thought\s*:\s*(.*?)(?=\n\s*Action\s*:|\Z)", re.IGNORECASE | re.DOTALL)


def _balanced_content(text: str) -> str:
    """Text inside an already-opened parenthesis, up to its matching close.

    When the parentheses never balance (truncated output), everything up to the last
    `)` is taken, or the whole rest when there is none.
    """
    depth = 1
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return text[:i]
    last = text.rfind(")")
    return text[:last] if last >= 0 else text


def parse_joiner_output(text: str) -> JoinerDecision:
    r"""Read the joiner's `Thought: ... Action: Finish(...)` or `Action: Replan(...)`.

    The answer is everything inside `Finish(...)`, nested parentheses included. When
    no action can be read the whole text (minus a `Thought:` prefix) is the answer.

    Example:
        >>> parse_joiner_output("Thought: known.\nAction: Finish(Mount Everest (Nepal))").content
        'Mount Everest (Nepal)'
    """
    thought_match = _JOINER_THOUGHT.search(text)
    thought = thought_match.group(1).strip() if thought_match else None
    action_match = None
    for action_match in _ACTION.finditer(text):  # noqa: B007 - the last action wins
        pass
    if action_match is None:
        answer = text.strip()
        if thought_match is not None and thought_match.start() == text.find("Thought"):
            answer = thought or answer
        return JoinerDecision("finish", thought, answer, well_formed=False)
    action = action_match.group(1).lower()
    content = _balanced_content(text[action_match.end() :]).strip()
    decision: Literal["finish", "replan"] = "finish" if action == "finish" else "replan"
    return JoinerDecision(decision, thought, content)


def render_call(tool: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    """Render a call back into plan syntax, for prompts and logs.

    Example:
        >>> render_call("math", ("$1 + 1", ["$1"]), {})
        "math('$1 + 1', ['$1'])"
    """
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{tool}({', '.join(parts)})"
