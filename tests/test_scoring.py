"""The paper's scoring rules, with its edge cases."""

from __future__ import annotations

import pytest

from llmcompiler_bench.scoring import is_correct, normalize_answer, parse_number


@pytest.mark.parametrize(
    ("answer", "label", "correct"),
    [
        ("238", 238, True),
        ("238 m", "238", True),
        ("8,849 metres", 8849, True),
        ("261.7", 238, True),  # inside +10%
        ("261.8", 238, False),  # 10% is exclusive
        ("214.3", 238, True),
        ("214.2", 238, False),
        ("0", 0, True),
        ("0.0001", 0, False),  # no tolerance around zero
        ("-12", -12.5, True),  # negative labels: the band is around the label's magnitude
        ("-14", -12.5, False),
        ("12", -12.5, False),
        ("about 238", 238, False),  # words before the number: the paper's float() fails too
        ("238 or 240", 238, False),  # two numbers: not a numeric answer
        ("", 238, False),
    ],
)
def test_numeric_labels_pass_within_ten_percent_exclusive(
    answer: str, label: str | float, correct: bool
) -> None:
    assert is_correct(answer, label) is correct


@pytest.mark.parametrize(
    ("answer", "label", "correct"),
    [
        ("The Eiffel Tower.", "Eiffel Tower", True),
        ("an apple", "Apple", True),
        ("  Mont   Blanc ", "mont blanc", True),
        ("yes!", "Yes", True),
        ("Mont Blanc, France", "Mont Blanc", False),
        ("Theatre", "atre", False),  # articles are removed only as whole words
    ],
)
def test_text_labels_need_a_normalised_exact_match(answer: str, label: str, correct: bool) -> None:
    assert is_correct(answer, label) is correct


def test_normalisation_lowercases_and_drops_punctuation_and_articles() -> None:
    assert normalize_answer("A  Tale of THE Two-Cities!") == "tale of twocities"


def test_numbers_are_read_with_separators_signs_and_units() -> None:
    assert parse_number("1,083 ft") == 1083
    assert parse_number("\u22123.5") == -3.5
    assert parse_number("$1,200") == 1200
    assert parse_number("in 1953") is None
