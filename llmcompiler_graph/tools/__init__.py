"""Tools that ship with the package: Wikipedia search, offline search, safe math, and the default set."""

from llmcompiler_graph.tools.default_set import build_tools
from llmcompiler_graph.tools.local_search import LocalSearchIndex, SearchHit
from llmcompiler_graph.tools.math_tool import make_math_tool
from llmcompiler_graph.tools.safe_math import MathError, evaluate
from llmcompiler_graph.tools.wikipedia_search import make_wikipedia_search

__all__ = [
    "LocalSearchIndex",
    "MathError",
    "SearchHit",
    "build_tools",
    "evaluate",
    "make_math_tool",
    "make_wikipedia_search",
]
