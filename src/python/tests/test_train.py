"""The real train.py on the CPU with a tiny model: it learns, it recalls, it reports, it fails clearly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import check_event, check_run, make_run, read_events, run_in_process, run_subprocess

import common
import tiny_model

ANSWERS = [a for _, a in tiny_model.MEMO_PAIRS]
QUESTIONS = [q for q, _ in tiny_model.MEMO_PAIRS]

# Full fine-tuning of random weights: a high learning rate and every row in each step.
MEMO = {"method": "full", "learning_rate": 1e-2, "max_steps": 80, "batch_size": 6, "lr_scheduler": "cosine", "warmup_steps": 5, "eval_steps": 40, "gradient_checkpointing": False, "logging_steps": 10}
QUICK = {"method": "full", "learning_rate": 1e-3, "max_steps": 1, "batch_size": 2, "gradient_checkpointing": False, "eval_file": None}


def errors(events):
    return [e for e in events if e["event"] == "error"]


def test_full_fine_tuning_memorizes_and_streams_the_protocol(tiny_model_dir, tmp_path):
    run = make_run(tmp_path / "run", {"model": str(tiny_model_dir), **MEMO}, tiny_model.memo_rows(), tiny_model.memo_rows()[:2])
    proc = run_subprocess(run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = read_events(run)
    # stdout carries the same lines as metrics.jsonl, and nothing else.
    assert [json.loads(line) for line in proc.stdout.splitlines()] == events
    check_run(events)

    start = next(e for e in events if e["event"] == "start")
    assert (start["train_rows"], start["eval_rows"], start["total_steps"], start["over_length_rows"], start["empty_rows"]) == (6, 2, 80, 0, 0)
    assert start["device"] == "cpu" and start["dtype"] == "float32" and start["trainable_params"] == start["total_params"] > 0

    losses = [e["loss"] for e in events if e["event"] == "log"]
    assert len(losses) == 8
    assert losses[0] > 2.0 and losses[-1] < 0.1 and losses[-1] < losses[0] / 20, losses
    assert all(e["tokens_per_s"] > 0 for e in events if e["event"] == "log")
    # Every step reads all 6 rows (batch 6 = the whole set); tokens seen count real tokens, not padding.
    assert [e["tokens_seen"] for e in events if e["event"] == "log"][-1] == 80 * start["train_tokens"]

    evals = [e for e in events if e["event"] == "eval"]
    assert [e["step"] for e in evals] == [40, 80] and evals[1]["eval_loss"] < evals[0]["eval_loss"]
    checkpoints = [e for e in events if e["event"] == "checkpoint"]
    assert [c["step"] for c in checkpoints] == [40, 80] and checkpoints[-1]["best"] is True
    done = events[-1]
    assert done["output_dir"] == "output" and done["best_step"] == 80 and done["best_eval_loss"] == evals[1]["eval_loss"]
    states = [e["state"] for e in events if e["event"] == "status"]
    assert states[:3] == ["starting", "loading_model", "tokenizing"] and "evaluating" in states and states[-1] == "saving"

    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        assert (run / "output" / name).exists(), name
    assert not (run / "checkpoints").exists()
    assert "step 80/80" in proc.stderr

    # The answers are recalled word for word by greedy generation.
    assert tiny_model.greedy_answers(run / "output", QUESTIONS) == ANSWERS


def long_rows():
    """A row of many turns (too long), and a row whose long question leaves no room for its answer."""
    turns = []
    for q, a in tiny_model.MEMO_PAIRS * 2:
        turns += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    paragraph = " ".join(tiny_model.RULEBOOK.read_text(encoding="utf-8").split()[:200])
    return [{"messages": turns}, {"messages": [{"role": "user", "content": paragraph}, {"role": "assistant", "content": "Yes."}]}]


@pytest.mark.parametrize("action", ["drop", "truncate"])
def test_over_length_rows_are_reported(tiny_model_dir, tmp_path, monkeypatch, capsys, action):
    rows = tiny_model.memo_rows() + long_rows()
    run = make_run(tmp_path / action, {"model": str(tiny_model_dir), **QUICK, "max_length": 96, "over_length": action}, rows)
    rc, events = run_in_process(run, monkeypatch)
    assert rc == 0, errors(events)
    check_run(events)
    start = next(e for e in events if e["event"] == "start")
    # The row of many turns is split at turn boundaries (5 rows that fit), not dropped; the single
    # exchange that alone is too long is what over_length acts on.
    assert start["over_length_rows"] == 1 and start["split_rows"] == 1 and start["over_length_action"] == action
    err = capsys.readouterr().err
    assert "1 rows longer than max_length 96 (in this model's tokens) split at turn boundaries into 5 rows (lines 7)" in err
    if action == "drop":
        assert (start["train_rows"], start["empty_rows"]) == (11, 0)
        assert "1 rows longer than max_length 96 dropped (lines 8)" in err
    else:
        # The long question cut at 96 tokens leaves no answer token: that row is dropped and reported.
        assert (start["train_rows"], start["empty_rows"]) == (11, 1)
        assert "cut to 96 tokens" in err and "1 rows with no assistant token dropped (lines 8)" in err


def test_truncated_rows_keep_max_length_tokens(tokenizer):
    import train

    cfg = train.TrainConfig(model="x", max_length=96, over_length="truncate")
    long_answer = long_rows()[1]["messages"][0]["content"]  # one exchange: splitting cannot help
    examples, stats = train.tokenize_rows(tokenizer, [{"messages": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": long_answer}]}], cfg, "rows")
    assert stats.over_length == 1 and stats.split == 0 and len(examples[0]["input_ids"]) == len(examples[0]["labels"]) == 96


@pytest.mark.parametrize(
    "extra, words",
    [
        ({"learning_rte": 1e-4}, ["Unknown config keys", "learning_rte", "did you mean learning_rate"]),
        ({"lora_r": "32"}, ["lora_r", "must be int"]),
        ({"lr_scheduler": "exponential"}, ["lr_scheduler", "cosine"]),
        ({"load_in_4bit": True}, ["load_in_4bit needs method lora"]),
        ({"push_to_hub": "me/model"}, ["HF_TOKEN"]),
    ],
)
def test_bad_configs_are_refused_with_an_error_event(tiny_model_dir, tmp_path, monkeypatch, extra, words):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    run = make_run(tmp_path / "run", {"model": str(tiny_model_dir), **QUICK, **extra}, tiny_model.memo_rows())
    rc, events = run_in_process(run, monkeypatch)
    assert rc == 1
    for ev in events:
        check_event(ev)
    assert [e["event"] for e in events] == ["status", "error"]
    assert events[-1]["kind"] == "bad_config"
    for w in words:
        assert w in events[-1]["message"] + events[-1].get("hint", "")


@pytest.mark.parametrize("model", ["./no-such-model", "nobody-here/no-such-model-for-mnemo-tests"])
def test_a_missing_model_is_model_not_found(tmp_path, monkeypatch, model):
    run = make_run(tmp_path / "run", {"model": model, **QUICK}, tiny_model.memo_rows())
    rc, events = run_in_process(run, monkeypatch)
    assert rc == 1
    err = errors(events)[0]
    check_event(err)
    assert err["kind"] == "model_not_found" and err["hint"], err
    assert ["status", "status", "error"] == [e["event"] for e in events]


def test_bad_rows_are_bad_data(tiny_model_dir, tmp_path, monkeypatch):
    run = make_run(tmp_path / "run", {"model": str(tiny_model_dir), **QUICK}, tiny_model.memo_rows())
    with open(run / "train.jsonl", "a", encoding="utf-8") as f:
        f.write('{"messages": [{"role": "user", "content": "cut off"\n')
    rc, events = run_in_process(run, monkeypatch)
    assert rc == 1 and events[-1]["kind"] == "bad_data" and "line 7" in events[-1]["message"]


def test_lora_run_writes_an_adapter_and_a_merged_model(tiny_model_dir, tmp_path, monkeypatch):
    config = {
        "model": str(tiny_model_dir),
        "method": "lora",
        "lora_r": 8,
        "learning_rate": 1e-3,
        "max_steps": 4,
        "batch_size": 3,
        "eval_steps": 2,
        "neftune_alpha": 5.0,
        "merge": True,
        "lr_scheduler": "linear",
        "warmup_steps": 0.25,
    }
    run = make_run(tmp_path / "run", config, tiny_model.memo_rows(), tiny_model.memo_rows()[:2])
    rc, events = run_in_process(run, monkeypatch)
    assert rc == 0, errors(events)
    check_run(events)
    start = next(e for e in events if e["event"] == "start")
    assert 0 < start["trainable_params"] < start["total_params"] and start["method"] == "lora"
    assert [e["step"] for e in events if e["event"] == "eval"] == [2, 4]
    assert [e["step"] for e in events if e["event"] == "checkpoint"] == [2, 4]
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "chat_template.jinja"):
        assert (run / "output" / name).exists(), name
    assert json.loads((run / "output" / "adapter_config.json").read_text())["r"] == 8
    merged = run / "output" / "merged"
    assert events[-1]["merged_dir"] == "output/merged"
    assert (merged / "config.json").exists() and (merged / "model.safetensors").exists() and not (merged / "adapter_config.json").exists()
    assert "merging" in [e.get("state") for e in events]
    # Both load and generate.
    assert len(tiny_model.greedy_answers(run / "output", QUESTIONS[:1], max_new_tokens=3)) == 1
    assert len(tiny_model.greedy_answers(merged, QUESTIONS[:1], max_new_tokens=3)) == 1


def test_torchrun_with_two_processes_writes_one_stream(tiny_model_dir, tmp_path):
    """Unchanged under torchrun: DDP over gloo on the CPU, rank 0 alone writes metrics and saves."""
    config = {"model": str(tiny_model_dir), "method": "lora", "lora_r": 4, "max_steps": 3, "batch_size": 1, "eval_steps": 3, "learning_rate": 1e-3, "merge": True}
    run = make_run(tmp_path / "run", config, tiny_model.memo_rows(), tiny_model.memo_rows()[:2])
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "train.py", "--config", "config.json"]
    # Its own process group, so a hung run is killed with its workers, not left behind.
    proc = subprocess.Popen(cmd, cwd=run, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=400)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("torchrun did not finish in 400 s")
    assert proc.returncode == 0, stderr[-3000:]
    events = read_events(run)
    check_run(events)
    start = next(e for e in events if e["event"] == "start")
    assert start["world_size"] == 2
    # One line per step: the other rank writes nothing; each step reads one row on each rank.
    logs = [e for e in events if e["event"] == "log"]
    assert [e["step"] for e in logs] == [1, 2, 3] and logs[-1]["epoch"] == 1.0
    assert [e["event"] for e in events].count("status") == len([line for line in stdout.splitlines() if '"status"' in line])
    assert (run / "output" / "adapter_model.safetensors").exists() and (run / "output" / "merged" / "config.json").exists()


def test_sigterm_ends_the_run_with_a_cancelled_event(tiny_model_dir, tmp_path):
    run = make_run(tmp_path / "run", {"model": str(tiny_model_dir), **QUICK, "max_steps": 100000, "batch_size": 1}, tiny_model.memo_rows())
    proc = subprocess.Popen([sys.executable, "train.py"], cwd=run, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while not any(e["event"] == "log" for e in read_events(run)):
            assert proc.poll() is None and time.time() < deadline, "no log event before the deadline"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 143
    finally:
        if proc.poll() is None:
            proc.kill()
    last = read_events(run)[-1]
    check_event(last)
    assert last["event"] == "error" and last["kind"] == "cancelled"


def test_non_finite_numbers_are_written_as_null(tmp_path, capsys):
    metrics = common.Metrics(tmp_path / "metrics.jsonl")
    metrics.emit("log", step=3, loss=float("nan"), lr=float("inf"), grad_norm=-float("inf"))
    metrics.close()
    line = (tmp_path / "metrics.jsonl").read_text()
    assert json.loads(line)["loss"] is None and "NaN" not in line and "Infinity" not in line
    assert json.loads(capsys.readouterr().out) == json.loads(line)


def test_errors_are_classified():
    assert common.classify_error(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")).kind == "oom"
    assert common.classify_error(ModuleNotFoundError("No module named 'peft'", name="peft")).kind == "missing_package"
    assert common.classify_error(OSError(28, "No space left on device")).kind == "disk_full"
    assert common.classify_error(common.Cancelled()).kind == "cancelled"
    assert common.classify_error(ValueError("x")).kind == "other"


def test_precision_and_attention_on_the_cpu():
    import torch

    assert common.pick_dtype("auto", "cpu") == torch.float32
    with pytest.raises(common.ScriptError) as e:
        common.pick_dtype("fp16", "cpu")
    assert e.value.kind == "bad_config"
    assert common.pick_attn_implementation("auto", "cpu", torch.float32) == "sdpa"
