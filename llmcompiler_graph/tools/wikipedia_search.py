"""The paper's `search` tool: a short Wikipedia summary, through the `wikipedia` package.

Runs the blocking client in a worker thread with a timeout; "could not find" (with
suggestions), disambiguation pages and network failures come back as observations.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool

__all__ = ["SEARCH_DESCRIPTION", "make_wikipedia_search", "wikipedia_lookup"]

SEARCH_DESCRIPTION = """\
search(query) looks an entity up in Wikipedia and returns the first sentences of its page.
query: the name of one entity ("Mount Everest", "Christopher Nolan"), not a question.
Search one entity per call; run several searches for several entities."""


def wikipedia_lookup(query: str, sentences: int = 5) -> str:
    """Blocking lookup with the paper's observations for the failure cases."""
    import wikipedia  # type: ignore[import-untyped]

    try:
        return str(wikipedia.summary(query, sentences=sentences, auto_suggest=False))
    except wikipedia.DisambiguationError as error:
        options: list[str] = list(error.options)[:5]
        for option in options[:1]:
            try:
                summary = str(wikipedia.summary(option, sentences=sentences, auto_suggest=False))
            except wikipedia.WikipediaException:
                break
            return f"{summary}\n(Other pages named {query!r}: {', '.join(options[1:])})"
        return f"{query!r} may refer to: {', '.join(options)}"
    except wikipedia.PageError:
        similar: list[str] = list(wikipedia.search(query, results=5))
        return f"Could not find [{query}]. Similar: {similar}"


def make_wikipedia_search(*, sentences: int = 5, timeout: float = 15.0, name: str = "search") -> BaseTool:
    """Build the asynchronous Wikipedia `search` tool.

    Args:
        sentences: How many sentences of the page summary to return.
        timeout: Seconds before a lookup is reported as timed out.
        name: The tool's name in plans.
    """

    async def search(query: str) -> str:
        try:
            return await asyncio.wait_for(asyncio.to_thread(wikipedia_lookup, query, sentences), timeout)
        except TimeoutError:
            return f"Search for {query!r} timed out after {timeout:g} s; try again or rephrase."
        except Exception as error:  # network and API failures become observations
            kind: Any = type(error).__name__
            return f"Search for {query!r} failed ({kind}: {error}); the network may be unavailable."

    return StructuredTool.from_function(coroutine=search, name=name, description=SEARCH_DESCRIPTION)
