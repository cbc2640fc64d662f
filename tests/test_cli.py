"""The `llmcompiler-graph ask` command: live plain output, JSON, exit codes."""

from __future__ import annotations

import io
import json

import pytest

from llmcompiler_graph.cli import EXIT_FAILED, EXIT_NO_MODEL, EXIT_OK, main
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


def test_ask_json_prints_one_object_with_answer_and_tasks() -> None:
    out = io.StringIO()
    assert main(["ask", "How much taller?", "--json", "--no-eager"], model=model(), out=out) == EXIT_OK
    report = json.loads(out.getvalue())
    assert report["answer"] == "Everest, by 238 m"
    assert [t["result"] for t in report["tasks"]][2] == "238"
    assert {e["type"] for e in report["events"]} >= {"task_started", "task_finished", "joiner_decision"}


def test_ask_without_a_model_or_key_exits_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["ask", "anything"]) == EXIT_NO_MODEL
    assert "no model configured" in capsys.readouterr().err


def test_ask_reports_a_failed_run_with_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "anything"], model=ScriptedChatModel(responses=[]), out=io.StringIO()) == EXIT_FAILED
    assert "the run failed: ScriptExhaustedError" in capsys.readouterr().err


def test_bad_command_line_exits_2() -> None:
    assert main(["ask"], out=io.StringIO()) == 2
