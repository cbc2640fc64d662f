"""Programmer errors in create_llmcompiler are clear exceptions at build time."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.tools import tool

from llmcompiler_graph import create_llmcompiler
from tests.conftest import scripted


def search(query: str) -> str:
    """Search."""
    return query


def make_tool(name: str) -> Any:
    @tool(name)
    def anything(query: str) -> str:
        """A tool."""
        return query

    return anything


@pytest.mark.parametrize(
    ("tools", "error", "message"),
    [
        ([search, search], ValueError, "two tools are named 'search'"),
        ([make_tool("web search")], ValueError, "tool name 'web search' cannot be called from a plan"),
        ([make_tool("2fast")], ValueError, "tool name '2fast' cannot be called"),
        ([make_tool("join")], ValueError, "'join' is reserved"),
        ([lambda q: q], ValueError, "needs a docstring"),
        ([42], TypeError, "expected a LangChain tool or a function, got int"),
        (search, TypeError, "must be a list of tools"),
    ],
)
def test_bad_tools_are_rejected_when_the_graph_is_built(
    tools: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        create_llmcompiler(scripted(), tools)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_replans": -1}, "max_replans must be an integer >= 0"),
        ({"max_replans": 1.5}, "max_replans must be an integer >= 0"),
        ({"task_timeout": 0}, "task_timeout must be a positive number"),
        ({"max_concurrency": 0}, "max_concurrency must be an integer >= 1"),
    ],
)
def test_bad_limits_are_rejected(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_llmcompiler(scripted(), [search], **kwargs)


def test_model_of_the_wrong_type_is_rejected() -> None:
    with pytest.raises(TypeError, match="model must be a LangChain chat model"):
        create_llmcompiler(object(), [search])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'provider:model' string"):
        create_llmcompiler("no-such-model-family", [search])


@pytest.mark.filterwarnings("ignore:A test tried to use socket")
def test_a_model_string_without_its_api_key_fails_at_build_time_saying_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        create_llmcompiler("gpt-4o-mini", [search])


# langchain-openai opens (and closes) a socket to probe TCP options; nothing is sent.
@pytest.mark.filterwarnings("ignore:A test tried to use socket")
def test_provider_model_string_builds_through_init_chat_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")
    builder = create_llmcompiler("openai:gpt-4o-mini", [search], joiner_model="openai:gpt-4o")
    assert set(builder.nodes) == {"planner", "scheduler", "execute_task", "approve", "joiner"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_replan": 1}, r"unexpected option 'max_replan' \(did you mean 'max_replans'\?\)"),
        ({"checkpointer": None}, r"unexpected option 'checkpointer': pass checkpointer to \.compile\(\)"),
    ],
)
def test_an_option_that_does_not_exist_is_named(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        create_llmcompiler(scripted(), [search], **kwargs)
