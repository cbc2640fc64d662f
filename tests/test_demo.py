"""The README's example command runs end to end and says it used a scripted model."""

from __future__ import annotations

import pytest

from llmcompiler_graph import demo


def test_demo_prints_events_and_the_answer_computed_by_the_real_tools(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert demo.main([]) == 0
    out = capsys.readouterr().out
    assert "Model: SCRIPTED" in out
    assert "started  $3 subtract({'a': 8849.0, 'b': 8611.0})" in out
    assert "Answer:   Mount Everest is 238 m taller than K2." in out
