"""Tools that ship with the package: Wikipedia search, offline search, and safe math."""

from llmcompiler_graph.tools.local_search import LocalSearchIndex, SearchHit
from llmcompiler_graph.tools.math_tool import make_math_tool
from llmcompiler_graph.tools.safe_math import MathError, evaluate
from llmcompiler_graph.tools.wikipedia_search import make_wikipedia_search

__all__ = [
    "LocalSearchIndex",
    "MathError",
    "SearchHit",
    "evaluate",
    "make_math_tool",
    "make_wikipedia_search",
]
