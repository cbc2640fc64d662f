"""Parse a streamed Skeleton-of-Thought skeleton into its points, each as its line completes."""

from __future__ import annotations

import re

__all__ = ["SkeletonParser", "parse_skeleton", "parse_skeleton_line"]

_POINT = re.compile(r"^\s*(?:[-*]\s*)?(\d{1,2})\s*[.)]\s+(.+?)\s*$")
MAX_POINT_CHARS = 200


def parse_skeleton_line(line: str) -> tuple[int, str] | None:
    """The number and text of a `N. short point` line; None for any other line.

    Markdown emphasis around the point is dropped; a trailing colon or period too.

    Example:
        >>> parse_skeleton_line("2. **Limit evening screens**:")
        (2, 'Limit evening screens')
        >>> parse_skeleton_line("Here is the skeleton:") is None
        True
    """
    match = _POINT.match(line)
    if match is None:
        return None
    text = match.group(2).strip().rstrip(":.").strip().strip("*_").strip().rstrip(":.").strip()
    if not text:
        return None
    return int(match.group(1)), text[:MAX_POINT_CHARS]


class SkeletonParser:
    r"""Incremental skeleton parser: feed streamed text, get each point when its line ends.

    Points are taken in the order written and numbered from 1; text before the first point
    is ignored, and the skeleton ends at the first other line after it (or at `max_points`).

    Example:
        >>> parser = SkeletonParser()
        >>> parser.feed("1. Fixed sched"), parser.feed("ule\n2. Dark room\nThat is all.")
        ([], ['Fixed schedule', 'Dark room'])
        >>> parser.finish(), parser.points
        ([], ['Fixed schedule', 'Dark room'])
    """

    def __init__(self, max_points: int | None = None) -> None:
        self.max_points = max_points
        self.points: list[str] = []
        self.ended = False
        self._buffer = ""

    def _line(self, line: str) -> list[str]:
        if self.ended:
            return []
        parsed = parse_skeleton_line(line)
        if parsed is None:
            if self.points and line.strip():
                self.ended = True
            return []
        self.points.append(parsed[1])
        if self.max_points is not None and len(self.points) >= self.max_points:
            self.ended = True
        return [parsed[1]]

    def feed(self, text: str) -> list[str]:
        """Add streamed text; return the points whose lines it completed."""
        self._buffer += text
        *lines, self._buffer = self._buffer.split("\n")
        return [point for line in lines for point in self._line(line)]

    def finish(self) -> list[str]:
        """The stream ended: parse what is left of the last line."""
        rest, self._buffer = self._buffer, ""
        return self._line(rest)


def parse_skeleton(text: str, max_points: int | None = None) -> list[str]:
    r"""All points of a complete skeleton.

    Example:
        >>> parse_skeleton("Skeleton:\n1. Research\n2) Practise\n- 3. Logistics")
        ['Research', 'Practise', 'Logistics']
    """
    parser = SkeletonParser(max_points)
    parser.feed(text)
    parser.finish()
    return parser.points
