"""eval.py on a tiny model built on the spot (tiny_model.py): answers, batching, adapters, the cached document prefix, errors.

    .venv/bin/python -m pytest src/python/tests/test_eval.py -q

The memorization test trains the tiny model with the real train.py (full fine-tuning on
tiny_model.MEMO_PAIRS) and checks that eval.py, rendering questions with the same chat template,
gets the memorized answers back, batched (left padding) and one at a time alike.
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

import common  # noqa: E402
import tiny_model  # noqa: E402

EVAL = PYDIR / "eval.py"
TRAIN = PYDIR / "train.py"


def run_eval(tmp: Path, questions: list[dict], *args: str) -> tuple[int, list[dict], list[dict], str]:
    """Runs eval.py as the core does; returns (exit code, protocol events, answers, stderr)."""
    qfile = tmp / "questions.jsonl"
    out = tmp / "answers.jsonl"
    qfile.write_text("".join(json.dumps(q) + "\n" for q in questions), encoding="utf-8")
    if out.exists():
        out.unlink()
    proc = subprocess.run(
        [sys.executable, str(EVAL), "--questions", str(qfile), "--output", str(out), "--device", "cpu", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"},
    )
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    answers = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] if out.exists() else []
    return proc.returncode, events, answers, proc.stderr


QUESTIONS = [{"id": f"q{i}", "question": q} for i, (q, _) in enumerate(tiny_model.MEMO_PAIRS)]


@pytest.fixture(scope="module")
def eval_tiny_base(tmp_path_factory) -> Path:
    return tiny_model.build(tmp_path_factory.mktemp("tiny-base"))


@pytest.fixture(scope="module")
def eval_tiny_trained(tmp_path_factory, eval_tiny_base) -> Path:
    """The tiny model fully fine-tuned on the memorization pairs by the real train.py."""
    run = tmp_path_factory.mktemp("tiny-run")
    tiny_model.write_jsonl(run / "train.jsonl", tiny_model.memo_rows())
    config = {
        "model": str(eval_tiny_base),
        "method": "full",
        "learning_rate": 3e-3,
        "lr_scheduler": "constant",
        "epochs": 40,
        "max_length": 128,
        "gradient_checkpointing": False,
        "eval_file": None,
        "logging_steps": 50,
        "save_best": False,
        "precision": "fp32",
    }
    (run / "config.json").write_text(json.dumps(config), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(TRAIN), "--config", "config.json"], cwd=run, capture_output=True, text=True, timeout=900, env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return run / "output"


def test_base_model_answers_every_question_in_order_with_protocol_lines(tmp_path, eval_tiny_base):
    code, events, answers, err = run_eval(tmp_path, QUESTIONS, "--model", str(eval_tiny_base), "--max-new-tokens", "6", "--batch-size", "4")
    assert code == 0, err
    assert [a["id"] for a in answers] == [q["id"] for q in QUESTIONS]
    assert all(isinstance(a["answer"], str) and "error" not in a for a in answers)
    assert events[0]["event"] == "status" and events[0]["state"] == "loading_model"
    progress = [e for e in events if e["event"] == "status" and "done" in e]
    assert progress[-1]["done"] == len(QUESTIONS) and progress[-1]["total"] == len(QUESTIONS)
    assert [e["done"] for e in progress] == sorted(e["done"] for e in progress)
    assert events[-1] == {**events[-1], "event": "done", "answered": len(QUESTIONS), "errors": 0}
    assert all("time" in e for e in events)


def test_fine_tuned_model_recalls_the_training_answers_batched_and_alone(tmp_path, eval_tiny_trained):
    system = ["--system-prompt", tiny_model.SYSTEM_PROMPT]
    code, _, batched, err = run_eval(tmp_path, QUESTIONS, "--model", str(eval_tiny_trained), "--max-new-tokens", "8", "--batch-size", "6", *system)
    assert code == 0, err
    expected = [a for _, a in tiny_model.MEMO_PAIRS]
    got = [a["answer"] for a in batched]
    right = sum(g == e for g, e in zip(got, expected))
    assert right >= 5, f"only {right}/6 recalled: {got}"
    # Left padding: a batch of questions of different lengths gives the answers one-at-a-time gives.
    code, _, alone, err = run_eval(tmp_path, QUESTIONS, "--model", str(eval_tiny_trained), "--max-new-tokens", "8", "--batch-size", "1", *system)
    assert code == 0, err
    assert [a["answer"] for a in alone] == got
    # tiny_model's own greedy loop (one prompt at a time, rendered by common.render_chat) agrees.
    assert tiny_model.greedy_answers(eval_tiny_trained, [QUESTIONS[0]["question"]], max_new_tokens=8) == [got[0]]


def test_prefix_cache_gives_the_same_answers_as_a_full_prompt(tmp_path, eval_tiny_trained):
    sys.path.insert(0, str(PYDIR))
    import eval as ev

    doc = tmp_path / "doc.txt"
    doc.write_text("A Crown is worth 5 points. " * 20, encoding="utf-8")
    cfg = ev.EvalConfig(model=str(eval_tiny_trained), context_file=str(doc), max_new_tokens=6, device="cpu")
    tokenizer = ev.load_tokenizer(cfg)
    model = ev.load_model(cfg, "cpu", common.pick_dtype("fp32", "cpu"))
    system = ev.effective_system_prompt(cfg)
    assert "<document>" in system and "Crown is worth" in system
    prefix = ev.PrefixCache(model, tokenizer, system, "cpu")
    assert prefix.tokens > 100
    for q in QUESTIONS[:3]:
        prompt = ev.render(tokenizer, q["question"], system)
        assert prefix.usable(tokenizer, prompt)
        assert ev.generate_with_prefix(model, tokenizer, prefix, prompt, cfg, "cpu") == ev.generate(model, tokenizer, [prompt], cfg, "cpu")[0]
    code, events, answers, err = run_eval(tmp_path, QUESTIONS[:2], "--model", str(eval_tiny_trained), "--context-file", str(doc), "--max-new-tokens", "4")
    assert code == 0, err
    assert len(answers) == 2
    assert any(e.get("context_tokens", 0) > 100 for e in events)


def test_lora_adapter_is_loaded_over_its_base(tmp_path, eval_tiny_base):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(eval_tiny_base))
    peft_model = get_peft_model(base, LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False))
    adapter = tmp_path / "adapter"
    peft_model.save_pretrained(adapter)
    code, _, with_adapter, err = run_eval(tmp_path, QUESTIONS[:3], "--model", str(eval_tiny_base), "--adapter", str(adapter), "--max-new-tokens", "6")
    assert code == 0, err
    code, _, without, err = run_eval(tmp_path, QUESTIONS[:3], "--model", str(eval_tiny_base), "--max-new-tokens", "6")
    assert code == 0, err
    # A random (non-zero) adapter changes what the model says.
    assert [a["answer"] for a in with_adapter] != [a["answer"] for a in without]


@pytest.mark.parametrize(
    "case,kind,pattern",
    [
        ("missing-questions", "bad_data", "does not exist"),
        ("bad-line", "bad_data", "not valid JSON"),
        ("no-model", "model_not_found", "does not exist"),
        ("not-an-adapter", "model_not_found", "not a peft adapter"),
    ],
)
def test_bad_input_ends_in_one_error_event(tmp_path, eval_tiny_base, case, kind, pattern):
    args = ["--model", str(eval_tiny_base)]
    questions = QUESTIONS[:1]
    if case == "no-model":
        args = ["--model", str(tmp_path / "nowhere")]
    if case == "not-an-adapter":
        args += ["--adapter", str(tmp_path)]
    if case in ("missing-questions", "bad-line"):
        out = tmp_path / "a.jsonl"
        q = tmp_path / "q.jsonl"
        if case == "bad-line":
            q.write_text('{"id": "a", "question": "x"}\n{oops\n', encoding="utf-8")
        proc = subprocess.run([sys.executable, str(EVAL), "--questions", str(q), "--output", str(out), *args], capture_output=True, text=True, timeout=300)
        code, events = proc.returncode, [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    else:
        code, events, _, _ = run_eval(tmp_path, questions, *args)
    assert code == 1
    errors = [e for e in events if e["event"] == "error"]
    assert len(errors) == 1 and errors[0]["kind"] == kind, events
    assert pattern in errors[0]["message"]
