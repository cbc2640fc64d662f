"""An offline `search` tool: SQLite FTS5 with BM25 ranking over documents you provide.

Example:
    >>> index = LocalSearchIndex.demo()
    >>> index.search("Everest height")[0].title
    'Mount Everest'
"""

from __future__ import annotations

import asyncio
import difflib
import json
import re
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from langchain_core.tools import BaseTool, StructuredTool

__all__ = ["LocalSearchIndex", "SearchHit"]

_WORD = re.compile(r"\w+", re.UNICODE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_HEADING = re.compile(r"^#\s+(.+)$", re.MULTILINE)


@dataclass(frozen=True)
class SearchHit:
    """One ranked document."""

    title: str
    text: str
    score: float


class LocalSearchIndex:
    """Documents indexed with SQLite FTS5 (porter stemming), ranked by BM25 (titles weigh more)."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS docs USING fts5(title, body, tokenize='porter unicode61')"
        )

    def add(self, documents: Iterable[tuple[str, str]]) -> LocalSearchIndex:
        """Index `(title, text)` pairs; returns the index."""
        with self._lock, self._db:
            self._db.executemany("INSERT INTO docs(title, body) VALUES (?, ?)", documents)
        return self

    @classmethod
    def from_jsonl(cls, file: str | Path, path: str | Path = ":memory:") -> LocalSearchIndex:
        """Index a JSONL file whose lines are `{"title": ..., "text": ...}`."""
        rows = [
            json.loads(line) for line in Path(file).read_text(encoding="utf-8").splitlines() if line.strip()
        ]
        return cls(path).add((str(r["title"]), str(r["text"])) for r in rows)

    @classmethod
    def from_folder(cls, folder: str | Path, path: str | Path = ":memory:") -> LocalSearchIndex:
        """Index every `.txt` and `.md` file below `folder` (title: first `# heading` or file name)."""
        documents = []
        for file in sorted(Path(folder).rglob("*")):
            if file.suffix.lower() in (".txt", ".md") and file.is_file():
                text = file.read_text(encoding="utf-8", errors="replace")
                heading = _HEADING.search(text)
                documents.append((heading.group(1).strip() if heading else file.stem, text))
        return cls(path).add(documents)

    @classmethod
    def demo(cls) -> LocalSearchIndex:
        """The small demonstration corpus shipped with the package (see tools/data/README.md)."""
        data = resources.files("llmcompiler_graph.tools").joinpath("data", "demo_corpus.jsonl")
        with resources.as_file(data) as file:
            return cls.from_jsonl(file)

    def titles(self) -> list[str]:
        """Every indexed title."""
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT title FROM docs")]

    def search(self, query: str, k: int = 3) -> list[SearchHit]:
        """The `k` best documents for `query` (any of its words; exact title first)."""
        words = _WORD.findall(query)
        if not words:
            return []
        match = " OR ".join('"' + word.replace('"', "") + '"' for word in words)
        with self._lock:
            rows = self._db.execute(
                "SELECT title, body, bm25(docs, 10.0, 1.0) AS rank FROM docs WHERE docs MATCH ? "
                "ORDER BY rank LIMIT ?",
                (match, max(k, 10)),
            ).fetchall()
        hits = [SearchHit(title, body, -rank) for title, body, rank in rows]
        hits.sort(key=lambda h: (h.title.lower() != query.strip().lower(), -h.score))
        return hits[:k]

    def lookup(self, query: str, sentences: int = 5) -> str:
        """The paper-style observation: the best page's first sentences, or 'could not find'."""
        hits = self.search(query, k=1)
        if not hits:
            similar = difflib.get_close_matches(query, self.titles(), n=5, cutoff=0.5)
            return f"Could not find [{query}]. Similar: {similar}"
        text = " ".join(_SENTENCE_END.split(hits[0].text.strip())[:sentences])
        return f"{hits[0].title}: {text}"

    def as_tool(self, *, sentences: int = 5, name: str = "search") -> BaseTool:
        """This index as an asynchronous `search(query)` tool."""
        description = (
            f"{name}(query) looks an entity up in a local document collection and returns the first "
            "sentences of the best matching document.\n"
            'query: the name of one entity ("Mount Everest"), not a question. One entity per call.'
        )

        async def search(query: str) -> str:
            return await asyncio.to_thread(self.lookup, query, sentences)

        return StructuredTool.from_function(coroutine=search, name=name, description=description)
