"""The default tool set: `search` and `math`, as the command line, Studio and the benchmark use them."""

from __future__ import annotations

from pathlib import Path

from langchain_core.language_models import LanguageModelLike
from langchain_core.tools import BaseTool

from llmcompiler_graph.tools.local_search import LocalSearchIndex
from llmcompiler_graph.tools.math_tool import make_math_tool
from llmcompiler_graph.tools.wikipedia_search import make_wikipedia_search

__all__ = ["build_tools"]


def build_tools(search: str, corpus: Path | None, model: LanguageModelLike) -> list[BaseTool]:
    """The `search` and `math` tools, in that order.

    Args:
        search: `"wikipedia"` (needs the network) or `"local"` (an offline index).
        corpus: For `"local"`: a folder of .txt/.md files or a .jsonl file; `None` for the
            demo corpus that ships with the package.
        model: Translates the `math` tool's word problems into expressions.

    Returns:
        `[search_tool, math_tool]`.

    Example:
        >>> from llmcompiler_graph.testing import ScriptedChatModel
        >>> [tool.name for tool in build_tools("local", None, ScriptedChatModel())]
        ['search', 'math']
    """
    if search == "wikipedia":
        search_tool = make_wikipedia_search()
    elif corpus is None:
        search_tool = LocalSearchIndex.demo().as_tool()
    elif corpus.is_dir():
        search_tool = LocalSearchIndex.from_folder(corpus).as_tool()
    else:
        search_tool = LocalSearchIndex.from_jsonl(corpus).as_tool()
    return [search_tool, make_math_tool(model)]
