"""The `llmcompiler-graph ask` command: live plain output, JSON, exit codes."""

from __future__ import annotations

import io
import json
import re

import pytest

from llmcompiler_graph.cli import EXIT_FAILED, EXIT_NO_MODEL, EXIT_OK, EXIT_USAGE, main
from llmcompiler_graph.local import model as local_model
from llmcompiler_graph.testing import ScriptedChatModel

PLAN = (
    '1. search("Mount Everest")\n2. search("K2")\n'
    '3. math("$1 - $2 in metres", ["$1", "$2"])\n4. join()<END_OF_PLAN>'
)


def model() -> ScriptedChatModel:
    # planner, then the math tool's translation (it shares the model), then the joiner
    return ScriptedChatModel(
        responses=[PLAN, "Expression: 8849 - 8611", "Thought: known.\nAction: Finish(Everest, by 238 m)"]
    )


def test_ask_streams_the_plan_tasks_decision_and_answer_as_plain_text_when_piped() -> None:
    out = io.StringIO()
    assert main(["ask", "How much taller is Everest than K2?"], model=model(), out=out) == EXIT_OK
    text = out.getvalue()
    assert 'Plan (streaming):\n1. search("Mount Everest")' in text
    assert "start  $1 search" in text
    assert "done   $3" in text
    assert ": 238" in text
    assert "joiner: finish (Everest, by 238 m)" in text
    assert text.rstrip().endswith("Answer: Everest, by 238 m")
    assert "\x1b[" not in text


def test_a_plan_streamed_as_content_blocks_is_shown_as_its_text() -> None:
    blocks = ScriptedChatModel(
        responses=[PLAN, "Expression: 8849 - 8611", "Thought: known.\nAction: Finish(Everest, by 238 m)"],
        content_blocks=True,  # as Anthropic's models stream
    )
    out = io.StringIO()
    assert main(["ask", "How much taller is Everest than K2?"], model=blocks, out=out) == EXIT_OK
    text = out.getvalue()
    assert 'Plan (streaming):\n1. search("Mount Everest")\n2. search("K2")\n' in text
    assert "'type'" not in text
    assert text.rstrip().endswith("Answer: Everest, by 238 m")


THOUGHT = "Thought: the math task finishes while this long line is still streaming, word by word."
SLOW_PLAN = PLAN.replace("4. join()", f"{THOUGHT}\n4. join()")


def slow_model() -> ScriptedChatModel:
    """Streams SLOW_PLAN a token every 10 ms: the math task ends while THOUGHT still streams."""
    return ScriptedChatModel(
        responses=[
            SLOW_PLAN,
            "Expression: 8849 - 8611",
            "Thought: known.\nAction: Finish(Everest, by 238 m)",
        ],
        token_delay=0.01,
    )


def test_task_lines_printed_while_the_plan_streams_never_split_a_plan_line() -> None:
    slow = slow_model()
    out = io.StringIO()
    assert main(["ask", "How much taller is Everest than K2?", "--eager"], model=slow, out=out) == EXIT_OK
    lines = out.getvalue().splitlines()
    for plan_line in SLOW_PLAN.removesuffix("<END_OF_PLAN>").splitlines():  # the model stops at the marker
        assert plan_line in lines, (plan_line, lines)
    assert lines.index(THOUGHT) > next(i for i, line in enumerate(lines) if "done   $3" in line)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True

    def screen(self) -> list[str]:
        """The lines a terminal would show: `\\r\\x1b[K` erases the line, colours are dropped."""
        text = re.sub(r"\x1b\[[0-9;]*m", "", self.getvalue())
        return [line.split("\r\x1b[K")[-1] for line in text.split("\n")]


def test_in_a_terminal_the_unfinished_plan_line_shows_live_and_ends_up_whole() -> None:
    slow = slow_model()
    terminal = _Terminal()
    assert (
        main(["ask", "How much taller is Everest than K2?", "--eager"], model=slow, out=terminal) == EXIT_OK
    )
    screen = terminal.screen()
    for plan_line in SLOW_PLAN.removesuffix("<END_OF_PLAN>").splitlines():
        assert plan_line in screen, (plan_line, screen)
    assert "\r\x1b[KThought:" in terminal.getvalue().split("done   $3")[0]  # shown before it was whole
    assert screen.index(THOUGHT) > next(i for i, line in enumerate(screen) if "done   $3" in line)


def test_ask_json_prints_one_object_with_answer_and_tasks() -> None:
    out = io.StringIO()
    assert main(["ask", "How much taller?", "--json", "--no-eager"], model=model(), out=out) == EXIT_OK
    report = json.loads(out.getvalue())
    assert report["answer"] == "Everest, by 238 m"
    assert [t["result"] for t in report["tasks"]][2] == "238"
    assert {e["type"] for e in report["events"]} >= {"task_started", "task_finished", "joiner_decision"}


def test_ask_without_a_model_key_or_local_model_exits_3_and_says_how_to_install_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setattr(local_model, "local_model_available", lambda: False)
    assert main(["ask", "anything"]) == EXIT_NO_MODEL
    error = capsys.readouterr().err
    assert "no model configured" in error
    assert "./install.sh" in error


def test_with_no_model_and_no_key_the_embedded_local_model_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setattr(local_model, "load_local_model", model)
    out = io.StringIO()
    assert main(["ask", "How much taller is Everest than K2?"], out=out) == EXIT_OK
    assert out.getvalue().rstrip().endswith("Answer: Everest, by 238 m")


def test_an_api_key_selects_the_hosted_default_and_a_model_flag_overrides_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chosen: list[str] = []
    monkeypatch.setattr("langchain.chat_models.init_chat_model", lambda name: chosen.append(name) or model())
    monkeypatch.setattr(local_model, "load_local_model", lambda: pytest.fail("local model loaded"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert main(["ask", "How much taller?"], out=io.StringIO()) == EXIT_OK
    assert main(["ask", "How much taller?", "--model", "anthropic:claude-x"], out=io.StringIO()) == EXIT_OK
    assert chosen == ["openai:gpt-4o-mini", "anthropic:claude-x"]


def test_ask_reports_a_failed_run_with_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "anything"], model=ScriptedChatModel(responses=[]), out=io.StringIO()) == EXIT_FAILED
    assert "the run failed: ScriptExhaustedError" in capsys.readouterr().err


def test_bench_and_report_are_found_as_plugins_and_listed_in_the_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from llmcompiler_graph.cli import _subcommands

    assert {"bench", "report"} <= set(_subcommands())  # the llmcompiler_graph.commands entry points
    assert main(["--help"]) == EXIT_OK
    assert "{ask,bench,report}" in capsys.readouterr().out


def test_bad_command_line_exits_2() -> None:
    assert main(["ask"], out=io.StringIO()) == 2


# langchain-openai probes socket options with an unconnected socket when it builds a client.
@pytest.mark.filterwarnings("ignore:A test tried to use socket.socket")
@pytest.mark.parametrize("name", ["openai:gpt-4o-mini", "gpt-4o-mini"])
def test_a_hosted_model_without_its_api_key_exits_2_with_one_line_naming_the_key(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_ADMIN_KEY", raising=False)
    monkeypatch.setattr(local_model, "load_local_model", lambda: pytest.fail("local model loaded"))
    assert main(["ask", "anything", "--model", name], out=io.StringIO()) == EXIT_USAGE
    error = capsys.readouterr().err
    assert error.count("\n") == 1, error  # one line, no traceback
    assert f"model {name!r} needs an API key: set OPENAI_API_KEY" in error
    assert "--model local" in error


def test_a_provider_without_its_integration_package_exits_2_saying_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def missing_package(name: str) -> ScriptedChatModel:
        raise ImportError("Initializing ChatAcme requires the langchain-acme package.\nmore")

    monkeypatch.setattr("langchain.chat_models.init_chat_model", missing_package)
    assert main(["ask", "anything", "--model", "acme:large"], out=io.StringIO()) == EXIT_USAGE
    error = capsys.readouterr().err
    assert error == (
        "llmcompiler-graph: model 'acme:large' needs its LangChain integration package: "
        "Initializing ChatAcme requires the langchain-acme package.\n"
    )
