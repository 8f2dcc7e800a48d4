"""eval.py --resume: a restarted evaluation keeps the answers already written and answers only the rest.

    .venv/bin/python -m pytest src/python/tests/test_eval_resume.py -q
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PYDIR = HERE.parent
sys.path.insert(0, str(PYDIR))

import tiny_model  # noqa: E402

EVAL = PYDIR / "eval.py"
QUESTIONS = [{"id": f"q{i}", "question": q} for i, (q, _) in enumerate(tiny_model.MEMO_PAIRS)]
ENV = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> Path:
    return tiny_model.build(tmp_path_factory.mktemp("tiny-base"))


def run(tmp: Path, model: Path, *args: str) -> tuple[int, list[dict], str]:
    qfile = tmp / "questions.jsonl"
    qfile.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(EVAL), "--questions", str(qfile), "--output", str(tmp / "answers.jsonl"), "--model", str(model), "--device", "cpu", "--max-new-tokens", "5", *args],
        capture_output=True, text=True, timeout=600, env=ENV,
    )
    return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines() if line.strip().startswith("{")], proc.stderr


def test_resume_keeps_written_answers_cuts_a_torn_line_and_answers_only_the_rest(tmp_path, tiny_base):
    code, _, err = run(tmp_path, tiny_base, "--batch-size", "2")
    assert code == 0, err
    full = (tmp_path / "answers.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in full] == [q["id"] for q in QUESTIONS]
    # A run killed after two answers (in batch order, not question order) and halfway through a third line.
    kept = [full[3], full[1]]
    marked = [json.dumps({**json.loads(line), "answer": "KEPT " + json.loads(line)["answer"]}) for line in kept]
    (tmp_path / "answers.jsonl").write_text("".join(line + "\n" for line in marked) + full[0][:10], encoding="utf-8")
    code, events, err = run(tmp_path, tiny_base, "--batch-size", "2", "--resume", "1")
    assert code == 0, err
    resumed = [json.loads(line) for line in (tmp_path / "answers.jsonl").read_text(encoding="utf-8").splitlines()]
    # Every question once, in the questions' order; the two kept lines untouched (not answered again).
    assert [a["id"] for a in resumed] == [q["id"] for q in QUESTIONS]
    assert resumed[1]["answer"].startswith("KEPT ") and resumed[3]["answer"].startswith("KEPT ")
    assert [a["answer"] for i, a in enumerate(resumed) if i not in (1, 3)] == [json.loads(full[i])["answer"] for i in range(len(full)) if i not in (1, 3)]
    assert any("resuming: 2 of 6 already answered" in e.get("message", "") for e in events)
    assert max(e["done"] for e in events if "done" in e) == 4
    assert events[-1]["event"] == "done" and events[-1]["answered"] == 6


def test_without_resume_the_output_is_started_afresh(tmp_path, tiny_base):
    (tmp_path / "answers.jsonl").write_text(json.dumps({"id": "q0", "answer": "STALE"}) + "\n", encoding="utf-8")
    code, _, err = run(tmp_path, tiny_base, "--batch-size", "3")
    assert code == 0, err
    answers = [json.loads(line) for line in (tmp_path / "answers.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [a["id"] for a in answers] == [q["id"] for q in QUESTIONS] and answers[0]["answer"] != "STALE"
