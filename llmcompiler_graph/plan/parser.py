"""Pure parsing of plan text: numbered actions, their arguments, and the streaming parser.

Nothing here performs I/O or keeps state between calls except the explicit
:class:`StreamingPlanParser` object a caller owns. Every function either returns a
value or raises :class:`PlanSyntaxError`; no other exception escapes for any input text.
References between tasks live in :mod:`llmcompiler_graph.plan.references` and the joiner's
reply in :mod:`llmcompiler_graph.plan.joiner_output`; both are re-exported here.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmcompiler_graph.plan.joiner_output import JoinerDecision, parse_joiner_output
from llmcompiler_graph.plan.references import find_references, substitute_references, to_text

__all__ = [
    "END_OF_PLAN",
    "JOIN_TOOL_NAME",
    "JoinerDecision",
    "ParsedCall",
    "PlanEnd",
    "PlanLineError",
    "PlanStrayCall",
    "PlanSyntaxError",
    "PlanThought",
    "StreamingPlanParser",
    "find_references",
    "parse_call_arguments",
    "parse_joiner_output",
    "parse_plan",
    "parse_plan_line",
    "render_call",
    "substitute_references",
    "to_text",
]

END_OF_PLAN = "<END_OF_PLAN>"
JOIN_TOOL_NAME = "join"

#: Longest plan line the parser accepts; longer lines become a :class:`PlanLineError`.
MAX_LINE_CHARS = 20_000

_TASK_LINE = re.compile(r"^\s*(?:[-*]\s*)?(\d+)\s*[.)]\s*(.*)$", re.DOTALL)
# Other ways models number an action, taken only when a call follows: `2:`, `Step 2:`,
# `Action 2:`, `**2.**`, `(2)`, and the paper's Figure 2 notation `$2 = search(...)`.
_OTHER_NUMBERING = re.compile(
    r"^\s*(?:[-*]\s*)?(?:"
    r"\*\*\s*(?:(?:step|action|task)\s*)?(\d+)\s*[.):]?\s*\*\*"
    r"|\((\d+)\)"
    r"|(?:step|action|task)\s*(\d+)\s*[.):]"
    r"|(\d+)\s*:"
    r"|\$\{?(\d+)\}?\s*="
    r")\s*(?=[A-Za-z_][A-Za-z0-9_.-]*\s*\()(.*)$",
    re.IGNORECASE | re.DOTALL,
)
# `join()` on a line of its own, without an id (the paper's Figure 2).
_BARE_JOIN = re.compile(r"^join\(\s*\)\s*(<END_OF_PLAN>)?\s*$")
# What looks like a call in free text: a name directly followed by `(`.
_CALL_IN_TEXT = re.compile(r"(?<![\w.$-])([A-Za-z_][A-Za-z0-9_.-]*)\(")
#: Most lines one action's call may span (`1. search(` then its arguments, then `)`).
MAX_CALL_LINES = 50
#: Most digits a task id may have.
MAX_ID_DIGITS = 9
_CALL_HEAD = re.compile(r"^([A-Za-z_][A-Za-z0-9_.-]*)\s*\(")
_THOUGHT_LINE = re.compile(r"^\s*Thought\s*:\s*(.*)$", re.IGNORECASE | re.DOTALL)
# A reference written outside string literals (`f($1)`), quoted before parsing.
_BARE_REFERENCE = re.compile(r"\$\{(\d{1,9})\}|\$(\d{1,9})(?![\w])")
# `name = text`: one keyword argument whose value is unquoted text.
_UNQUOTED_KEYWORD = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)\s*(.*?)\s*$", re.DOTALL)
# The quotes :func:`_quote_bare_references` put around a bare reference.
_ADDED_QUOTES = re.compile(r'"(\$\{?\d{1,9}\}?)"')
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
        notes: What the parser read liberally (unquoted text taken as a string,
            text after the call ignored), for the plan's notes.
        arguments: The raw text between the call's parentheses.
        unquoted: Whether some argument was not a literal and was read as text; a
            one-parameter tool then gets all of :attr:`arguments` as one string.
        call_id: The model's own id of the call, for a plan made of native tool calls.
    """

    idx: int
    tool: str
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    dependencies: tuple[int, ...]
    thought: str | None = None
    end_of_plan: bool = False
    line: str = ""
    notes: tuple[str, ...] = ()
    arguments: str = ""
    unquoted: bool = False
    call_id: str | None = None

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
class PlanStrayCall:
    """A line that is not an action but contains what looks like a call (`name(`).

    The plan builder reports it when a name is one of the tools, so an action the planner
    numbered in a way nobody can read is never dropped silently.

    Attributes:
        line: The raw line.
        names: The names written directly before a `(`, in order.
    """

    line: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class PlanEnd:
    """`<END_OF_PLAN>` was seen; nothing after it belongs to the plan."""


PlanItem = ParsedCall | PlanLineError | PlanThought | PlanStrayCall | PlanEnd


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
            match = _BARE_REFERENCE.match(text, i)
            if match is not None:
                out.append(f'"{match.group(0)}"')
                i = match.end()
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def _literal(node: ast.expr) -> Any:
    if isinstance(node, ast.Constant):  # most arguments; ast.literal_eval would leave cyclic garbage
        return node.value
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


def _parse_expression(source: str) -> ast.Expression:
    """`ast.parse` in eval mode, without the SyntaxWarnings it prints for text such as `1997film`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        return ast.parse(source, mode="eval")


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
        tree = _parse_expression(source)
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
            if keyword.arg in kwargs:
                msg = f"keyword argument {keyword.arg!r} is given twice"
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


def _split_call(rest: str, *, complete: bool = True) -> tuple[str, str, str, str | None]:
    """Split `name(args)tail` into its parts, matching the call's closing parenthesis.

    Quotes and brackets are matched; when they never balance, the call ends at the last
    `)` of the line. On a `complete` line whose quotes and brackets all balance except the
    call's own `(`, and whose text after it is a valid argument list, the missing `)` is
    taken to be at the end of the line (the paper's ParallelQA prompt writes
    `math("...", ["$1"]`); the fourth part is then a note saying so, else None.
    """
    head = _CALL_HEAD.match(rest)
    if head is None:
        msg = 'expected an action such as search("...") after the id'
        raise PlanSyntaxError(msg)
    name = head.group(1)
    close, quote, depth = _scan_call(rest, head.end() - 1)
    if close >= 0:
        return name, rest[head.end() : close], rest[close + 1 :], None
    if complete and quote is None and depth == 1:
        unclosed = _unclosed_call(rest[head.end() :])
        if unclosed is not None:
            return name, *unclosed
    # Unbalanced quotes or brackets (`search(Arthur's Magazine)`): like the paper's parser,
    # the call runs to the last closing parenthesis on the line.
    last = rest.rfind(")")
    if last < head.end() - 1:
        msg = "the call's parentheses or quotes are not closed"
        raise PlanSyntaxError(msg)
    return name, rest[head.end() : last], rest[last + 1 :], None


class _Outside:
    """A walk over `text` from `start`: each character outside quotes, with the bracket depth.

    A backslash inside a quote escapes the next character. While walking, `depth` counts
    the brackets open so far (including the character just given); afterwards, `quote` is
    the quote left open (or None) and `depth` the brackets left open.
    """

    def __init__(self, text: str, start: int = 0) -> None:
        self.text, self.start = text, start
        self.quote: str | None = None
        self.depth = 0

    def __iter__(self) -> Iterator[tuple[int, str]]:
        text, i = self.text, self.start
        while i < len(text):
            ch = text[i]
            if self.quote is not None:
                if ch == "\\":
                    i += 2
                    continue
                if ch == self.quote:
                    self.quote = None
            elif ch in "\"'":
                self.quote = ch
            else:
                if ch in "([{":
                    self.depth += 1
                elif ch in ")]}":
                    self.depth -= 1
                yield i, ch
            i += 1


def _scan_call(rest: str, start: int) -> tuple[int, str | None, int]:
    """Where the call opened at `rest[start]` closes (-1 if not), the quote and depth left open."""
    walk = _Outside(rest, start)
    for i, ch in walk:
        if ch in ")]}" and walk.depth == 0:
            return i, None, 0
    return -1, walk.quote, walk.depth


def _call_is_open(text: str) -> bool:
    """Whether `text` is an action whose call is not closed (yet)."""
    numbered = _numbered(text.strip())
    if numbered is None:
        return False
    rest = numbered[1].strip()
    head = _CALL_HEAD.match(rest)
    return head is not None and _scan_call(rest, head.end() - 1)[0] < 0


def _continued_call(line: str) -> bool:
    """Whether `line` is an action whose call goes on to the next line.

    That is a call still open at the end of the line, which either ends with `(`, `[`,
    `{` or `,`, or has a triple-quoted string still open.
    """
    text = line.rstrip()
    opened = text.endswith(("(", "[", "{", ",")) or text.count('"""') % 2 == 1 or text.count("'''") % 2 == 1
    return opened and _call_is_open(text)


def _continues(line: str) -> bool:
    """Whether `line` may continue an action left open: not an action, thought or plan end."""
    stripped = line.strip()
    return not (
        _numbered(stripped) is not None
        or _THOUGHT_LINE.match(stripped) is not None
        or END_OF_PLAN in stripped
        or stripped.startswith("```")
        or _BARE_JOIN.match(stripped) is not None
    )


def _unclosed_call(text: str) -> tuple[str, str, str] | None:
    """Arguments, tail and note for a call whose `)` is missing at the end of its line.

    Returns None unless `text` (without a trailing `<END_OF_PLAN>`) is a valid argument list.
    """
    body = text.rstrip()
    tail = ""
    if body.endswith(END_OF_PLAN):
        body, tail = body[: -len(END_OF_PLAN)], END_OF_PLAN
    if not body.strip() or _lenient_arguments(body) is None:
        return None
    return body, tail, "the call's closing parenthesis was missing at the end of the line; read as closed"


def _unquoted_arguments(text: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Arguments that are not literals, read the way the paper's parser reads them: as text.

    `search(Austin Powers)` is one string; `search(query=Austin Powers)` one keyword
    whose value is that text.
    """
    keyword = _UNQUOTED_KEYWORD.match(text)
    if keyword is not None:
        return (), {keyword.group(1): keyword.group(2)}
    return (text.strip(),), {}


def _lenient_arguments(text: str) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
    """Arguments that parse as Python but are not all literals: each other one as its text.

    `math(abs($1 - $2), ["$1", "$2"])` gives `("abs($1 - $2)", ["$1", "$2"])`. Returns
    None when the text is not an argument list at all.
    """
    source = f"_({_quote_bare_references(text)})"
    try:
        call = _parse_expression(source).body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    if not isinstance(call, ast.Call) or any(isinstance(a, ast.Starred) for a in call.args):
        return None
    names = [k.arg for k in call.keywords]
    if None in names or len(set(names)) != len(names):
        return None

    def value(node: ast.expr) -> Any:
        try:
            return _literal(node)
        except (PlanSyntaxError, RecursionError, TypeError):
            segment = ast.get_source_segment(source, node) or ""
            return _ADDED_QUOTES.sub(r"\1", segment)

    return tuple(value(a) for a in call.args), {str(k.arg): value(k.value) for k in call.keywords}


def _read_arguments(arg_text: str) -> tuple[tuple[Any, ...], dict[str, Any], str | None]:
    """Literal arguments, else unquoted ones as text; the note says when text was used.

    When the list is not Python, a last argument `...` (the LangGraph tutorial's format
    line ends so) is left out, with a note, and the rest read again.
    """
    try:
        args, kwargs = parse_call_arguments(arg_text)
    except PlanSyntaxError as exc:
        pieces = _top_level_pieces(arg_text)
        if len(pieces) < 2 or pieces[-1].strip() != "...":
            return _read_liberally(arg_text, exc)
        rest = ",".join(pieces[:-1])
        try:
            args, kwargs = parse_call_arguments(rest)
        except PlanSyntaxError as rest_exc:
            args, kwargs, note = _read_liberally(rest, rest_exc)
            return args, kwargs, f"ignored the last argument '...'; {note}"
        return args, kwargs, "ignored the last argument '...'"
    return args, kwargs, None


def _read_liberally(text: str, exc: PlanSyntaxError) -> tuple[tuple[Any, ...], dict[str, Any], str]:
    """Arguments that are not a list of literals, read as text where they are not; with a note."""
    lenient = _lenient_arguments(text)
    if lenient is not None:
        return *lenient, f"unquoted arguments read as text ({exc})"
    keywords = _keyword_pieces(_top_level_pieces(text))
    if keywords is not None:
        note = f"unquoted arguments read as keywords, each value as text unless a literal ({exc})"
        return (), keywords, note
    args, kwargs = _unquoted_arguments(text)
    what = "a keyword's value" if kwargs else "one string"
    return args, kwargs, f"unquoted arguments taken as {what} ({exc})"


def _top_level_pieces(text: str) -> list[str]:
    """`text` split at the commas outside quotes and brackets (escapes honoured)."""
    pieces: list[str] = []
    start = 0
    walk = _Outside(text)
    for i, ch in walk:
        if ch == "," and walk.depth == 0:
            pieces.append(text[start:i])
            start = i + 1
    pieces.append(text[start:])
    return pieces


def _keyword_pieces(pieces: list[str]) -> dict[str, Any] | None:
    """`a="x", b=3.5, c=Star Wars` as keywords, values literal or else text; None otherwise.

    Only when there are several pieces, each `name=...` with a name not repeated.
    """
    if len(pieces) < 2:
        return None
    kwargs: dict[str, Any] = {}
    for piece in pieces:
        keyword = _UNQUOTED_KEYWORD.match(piece)
        if keyword is None or keyword.group(1) in kwargs:
            return None
        kwargs[keyword.group(1)] = _piece_value(keyword.group(2))
    return kwargs


def _piece_value(text: str) -> Any:
    """One literal (`"x"`, `3.5`, `$1`, `[1, 2]`) as its value, anything else as its text."""
    try:
        args, kwargs = parse_call_arguments(text)
    except PlanSyntaxError:
        return text.strip()
    return args[0] if len(args) == 1 and not kwargs else text.strip()


def _trailing_text_note(tail: str) -> str | None:
    """A note for text after a call's closing parenthesis (ignored), or None when blank."""
    tail = tail.strip()
    if not tail or tail.startswith("#"):
        return None
    return f"ignored the text after the call: {tail[:60]!r}"


def parse_plan_line(line: str, thought: str | None = None, *, complete: bool = True) -> PlanItem | None:
    """Parse one line of a plan.

    Returns a :class:`ParsedCall` for a numbered action, a :class:`PlanLineError` for
    a numbered line that cannot be parsed, a :class:`PlanThought` for a `Thought:`
    line or other text, a :class:`PlanStrayCall` for other text containing `name(`, a
    :class:`PlanEnd` for a bare `<END_OF_PLAN>`, and ``None`` for blank lines and code
    fences. Besides `N.` and `N)`, an action may be numbered `N:`, `Step N:`, `Action N:`,
    `**N.**`, `(N)` or `$N =` when a call follows (with a note), and a `join()` on its
    own line needs no id (with a note).

    Arguments that are not literals are read as text (`search(Austin Powers)` is the
    string `"Austin Powers"`), and text after the call's closing parenthesis is
    ignored; both leave a note on the call. On a `complete` line (one that ended at a
    newline or at `<END_OF_PLAN>`, not one cut off by the end of the stream), a call
    missing only its final `)` is read as closed, with a note.

    Example:
        >>> parse_plan_line('2. math("$1 * 2", ["$1"])').dependencies
        (1,)
        >>> parse_plan_line("5. search(Austin Powers).").args
        ('Austin Powers',)
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
    numbered = _numbered(stripped)
    if numbered is None:
        return _free_text(stripped, thought)
    digits, rest, numbering_note = numbered
    if len(digits) > MAX_ID_DIGITS:
        return PlanLineError(None, stripped, f"the id has more than {MAX_ID_DIGITS} digits")
    idx = int(digits)
    rest = rest.strip()
    try:
        name, arg_text, tail, close_note = _split_call(rest, complete=complete)
    except PlanSyntaxError as exc:
        return PlanLineError(idx, stripped, str(exc))
    tail = tail.strip()
    end_of_plan = tail.startswith(END_OF_PLAN)
    if end_of_plan:
        tail = tail[len(END_OF_PLAN) :]
    args, kwargs, argument_note = _read_arguments(arg_text)
    lines_note = f"the call spans {stripped.count(chr(10)) + 1} lines" if "\n" in stripped else None
    found = (numbering_note, lines_note, close_note, argument_note, _trailing_text_note(tail))
    notes = tuple(note for note in found if note is not None)
    return ParsedCall(
        idx=idx,
        tool=name,
        args=args,
        kwargs=kwargs,
        dependencies=tuple(sorted(find_references([args, kwargs]))),
        thought=thought,
        end_of_plan=end_of_plan,
        line=stripped,
        notes=notes,
        arguments=arg_text,
        unquoted=argument_note is not None,
    )


def _numbered(stripped: str) -> tuple[str, str, str | None] | None:
    """The id's digits and the text after them; a note when numbered other than `N.`/`N)`."""
    match = _TASK_LINE.match(stripped)
    if match is not None:
        return match.group(1), match.group(2), None
    match = _OTHER_NUMBERING.match(stripped)
    if match is None:
        return None
    digits = next(group for group in match.groups()[:-1] if group is not None)
    rest = match.group(6)
    numbering = stripped[: len(stripped) - len(rest)].strip()
    return digits, rest, f"the numbering {numbering!r} was read as action {digits}"


def _free_text(stripped: str, thought: str | None) -> PlanItem:
    """A line that is not a numbered action: a bare `join()`, text naming calls, or a thought."""
    join = _BARE_JOIN.match(stripped)
    if join is not None:
        return ParsedCall(
            idx=0,
            tool=JOIN_TOOL_NAME,
            args=(),
            kwargs={},
            dependencies=(),
            thought=thought,
            end_of_plan=join.group(1) is not None,
            line=stripped,
            notes=("a join() without an id was read as the plan's join()",),
        )
    names = tuple(match.group(1) for match in _CALL_IN_TEXT.finditer(stripped))
    return PlanStrayCall(stripped, names) if names else PlanThought(stripped)


def _open_quote(text: str) -> str | None:
    """The quote character still open at the end of `text` (escapes honoured), if any."""
    walk = _Outside(text)
    for _ in walk:
        pass
    return walk.quote


def find_end_marker(line: str, *, complete: bool) -> int:
    """Where `<END_OF_PLAN>` ends the plan on `line`, or -1; a marker inside a string does not.

    On a `complete` line, a marker between an opening quote and its close is text (an
    unclosed quote, as in `search(Arthur's)<END_OF_PLAN>`, closes nothing). On a line still
    streaming, a marker after an open quote waits for the line to end.

    Example:
        >>> find_end_marker('1. search("<END_OF_PLAN>")', complete=True)
        -1
        >>> find_end_marker("3. join()<END_OF_PLAN>", complete=False)
        9
    """
    start = line.find(END_OF_PLAN)
    while start >= 0:
        quote = _open_quote(line[:start])
        if quote is None:
            return start
        if complete and quote not in line[start + len(END_OF_PLAN) :]:
            return start
        start = line.find(END_OF_PLAN, start + 1)
    return -1


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
    _held: list[str] = field(default_factory=list)

    def feed(self, chunk: str) -> list[PlanItem]:
        """Consume a chunk of streamed text and return the items it completed."""
        if self.done or not chunk:
            return []
        # Any line end counts: `\r\n` and a lone `\r` too (a `\r\n` split across two chunks
        # only adds a blank line, which means nothing).
        chunk = chunk.replace("\r\n", "\n").replace("\r", "\n")
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
            if find_end_marker(pending, complete=False) >= 0:
                # The end marker closes the plan even without a newline after it.
                self._buffer.clear()
                items.extend(self._complete_line(pending))
            elif len(pending) > MAX_LINE_CHARS:
                self._buffer.clear()
                items.extend(self._complete_line(pending, complete=False))
        return items

    def finish(self) -> list[PlanItem]:
        """Parse whatever is left in the buffer once the stream has ended."""
        if self.done:
            return []
        rest = "".join(self._buffer)
        self._buffer.clear()
        items = list(self._complete_line(rest, complete=False)) if rest else []
        if not self.done:
            items.extend(self._release())
        self.done = True
        return items

    def _complete_line(self, line: str, *, complete: bool = True) -> Iterator[PlanItem]:
        """Parse one line; `complete` is false for text cut off without a line end.

        An action whose call is left open at the end of its line (`1. search(`) is held,
        and the lines that follow, up to the one that closes the call, join it.
        """
        if self._held:
            if _continues(line):
                self._held.append(line)
                joined = "\n".join(self._held)
                fits = len(self._held) < MAX_CALL_LINES and len(joined) <= MAX_LINE_CHARS
                if complete and fits and _call_is_open(joined):
                    return
                self._held.clear()
                yield from self._parse(joined, complete=complete)
                return
            yield from self._release()
            if self.done:
                return
        marker = find_end_marker(line, complete=True)
        if marker >= 0:
            before = line[: marker + len(END_OF_PLAN)]
            head = before[:marker]
            if head.strip():
                yield from self._parse(before, complete=True)
            if not self.done:
                self.done = True
                yield PlanEnd()
            return
        if complete and _continued_call(line):
            self._held.append(line)
            return
        yield from self._parse(line, complete=complete)

    def _release(self) -> Iterator[PlanItem]:
        """Parse a held action whose call the following lines did not close."""
        held = "\n".join(self._held)
        self._held.clear()
        if held:
            yield from self._parse(held, complete=True)

    def _parse(self, line: str, *, complete: bool) -> Iterator[PlanItem]:
        thought = " ".join(self._pending_thought) or None
        item = parse_plan_line(line, thought, complete=complete)
        if item is None:
            return
        if isinstance(item, PlanThought):
            if item.text:
                self._pending_thought.append(item.text)
            return
        if isinstance(item, PlanStrayCall):
            self._pending_thought.append(item.line)
            yield item
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


def render_call(tool: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    """Render a call back into plan syntax, for prompts and logs.

    Example:
        >>> render_call("math", ("$1 + 1", ["$1"]), {})
        "math('$1 + 1', ['$1'])"
    """
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{tool}({', '.join(parts)})"
