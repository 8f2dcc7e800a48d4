"""grading.py, the Python port of the key-terms grade (src/core/eval/match.ts), against the golden
table the TS code wrote (test/fixtures/grading-cases.json): every row, verdict and key terms.

    .venv/bin/python -m pytest src/python/tests/test_grading.py -q
"""

from __future__ import annotations

import json
from pathlib import Path

import grading

GOLDEN = Path(__file__).resolve().parents[3] / "test" / "fixtures" / "grading-cases.json"


def _cases() -> list[dict]:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))["cases"]


def test_golden_table_is_large_and_mixed():
    cases = _cases()
    assert len(cases) >= 2000
    passing = sum(c["grade"] for c in cases)
    assert 200 < passing < len(cases) - 200
    assert any(c.get("keys") for c in cases)


def test_every_row_of_the_golden_table_grades_as_in_typescript():
    wrong = []
    for c in _cases():
        got = grading.grade(c["answer"], c["reference"], c["question"], c.get("keys"))
        terms = grading.key_terms(c["reference"], c["question"], c.get("keys"))
        if got != c["grade"] or terms != c["terms"]:
            wrong.append({**c, "got": {"grade": got, "terms": terms}})
    assert not wrong, f"{len(wrong)} rows differ, e.g. {json.dumps(wrong[:3], ensure_ascii=False)}"


def test_grade_signature_and_simple_cases():
    assert grading.grade("5", "5 points (Rule 9.1)", "How many points is a Crown worth?") is True
    assert grading.grade("Six", "5 points", "How many points?") is False
    assert grading.grade("   ", "5 points") is False
    assert grading.grade("anything", "") is False
    assert grading.grade("After 8 seconds, a drop ball.", "After eight seconds, an Arbiter Drop.", keys=["8 seconds", "Arbiter Drop / drop ball"]) is True
    assert grading.grade("A drop ball.", "After eight seconds, an Arbiter Drop.", keys=["8 seconds", "Arbiter Drop / drop ball"]) is False
    assert grading.grade("ok", "x", keys=None) == grading.grade("ok", "x", keys=[])
