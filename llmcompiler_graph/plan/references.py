"""`$N` / `${N}` references between plan tasks: finding, renumbering and substituting them.

Pure functions over argument values (strings, lists, tuples, dicts). A reference is `$N` or
`${N}` where `N` is a task id; `$$N` and `$${N}` are the escape for the literal text `$N` /
`${N}` (the same doubling `string.Template` uses), so a plan can mention "$2 trillion" even
when task 2 exists.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "find_references",
    "renumber_references",
    "substitute_references",
    "to_text",
]

# `${12}` or `$12` (not followed by another digit or word character), not preceded by `$`
# (`$$12` is the escape for the literal text `$12`).
_REFERENCE = re.compile(r"(?<!\$)\$(?:\{(\d{1,9})\}|(\d{1,9})(?![\w]))")
# The escape: `$$12` or `$${12}`, written to mean the literal `$12` / `${12}`.
_ESCAPED = re.compile(r"\$(\$(?:\{\d{1,9}\}|\d{1,9}(?![\w])))")


def _ref_id(match: re.Match[str]) -> int:
    return int(match.group(1) or match.group(2))


def _strings_in(value: Any) -> list[str]:
    """Every string inside `value`: itself, list/tuple/set items, dict keys and values."""
    found: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
    return found


def find_references(value: Any) -> set[int]:
    """Return every task id referenced as `$N` or `${N}` anywhere inside `value`.

    Strings are searched; lists, tuples and dict values (and keys) are searched
    recursively; other values have no references. The escaped `$$N` is not a reference.

    Example:
        >>> sorted(find_references({"q": "${1} and $2", "xs": ["$3"], "cost": "$$4"}))
        [1, 2, 3]
    """
    return {_ref_id(m) for text in _strings_in(value) for m in _REFERENCE.finditer(text)}


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


def _map_strings(value: Any, on_text: Callable[[str], Any], on_key: Callable[[str], str]) -> Any:
    """Rebuild `value` with every string replaced by `on_text` (dict keys by `on_key`)."""
    if isinstance(value, str):
        return on_text(value)
    if isinstance(value, Mapping):
        return {
            on_key(k) if isinstance(k, str) else k: _map_strings(v, on_text, on_key) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_map_strings(v, on_text, on_key) for v in value]
    if isinstance(value, tuple):
        return tuple(_map_strings(v, on_text, on_key) for v in value)
    return value


def substitute_references(value: Any, results: Mapping[int, Any]) -> Any:
    """Replace `$N` / `${N}` references in `value` with the results of earlier tasks.

    A string that is exactly one reference (surrounding whitespace allowed) is
    replaced by the result itself, whatever its type. A reference inside longer text
    is replaced by the result's text form (:func:`to_text`), and so is a reference in
    a dict key. Lists, tuples and dicts are processed recursively. References to ids
    missing from `results` are left as written, and the escape `$$N` becomes the
    literal text `$N`.

    Example:
        >>> substitute_references(["$1", "${1}+${2} m", "$$1 each"], {1: 3, 2: "4"})
        [3, '3+4 m', '$1 each']
    """

    def whole_or_text(text: str) -> Any:
        whole = _REFERENCE.fullmatch(text.strip())
        if whole is not None and _ref_id(whole) in results:
            return results[_ref_id(whole)]
        return _substitute_text(text, results)

    return _map_strings(value, whole_or_text, lambda key: _substitute_text(key, results))


def _substitute_text(text: str, results: Mapping[int, Any]) -> str:
    def replace(match: re.Match[str]) -> str:
        ref = _ref_id(match)
        return to_text(results[ref]) if ref in results else match.group(0)

    if "$" not in text:
        return text
    return _ESCAPED.sub(r"\1", _REFERENCE.sub(replace, text))


def renumber_references(value: Any, mapping: Mapping[int, int]) -> Any:
    """Point references at renumbered tasks: `$old` becomes `$new` for every pair in `mapping`.

    The written form is kept (`$N` stays bare, `${N}` stays braced); references to ids
    not in `mapping`, and escaped `$$N`, are left as they are.

    Example:
        >>> renumber_references({"q": "$1 and ${2} and $3"}, {1: 4, 2: 5})
        {'q': '$4 and ${5} and $3'}
    """
    if not mapping:
        return value

    def replace(match: re.Match[str]) -> str:
        new = mapping.get(_ref_id(match))
        if new is None:
            return match.group(0)
        return f"${{{new}}}" if match.group(1) is not None else f"${new}"

    def rewrite(text: str) -> str:
        return _REFERENCE.sub(replace, text) if "$" in text else text

    return _map_strings(value, rewrite, rewrite)
