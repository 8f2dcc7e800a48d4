"""Recall while training (recall.py in train.py): the events, the kept checkpoint, evals_per_epoch, bad input.

The case of issue 18: the held-out pairs' eval loss rises while the tiny model memorizes the
training pairs, so keeping the checkpoint with the lowest eval loss keeps one that recalls little;
keeping by recall (the default) keeps the one that memorized, and output/ recalls it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from conftest import check_event, check_run, make_run, read_events, run_in_process

import recall
import tiny_model

QUESTIONS = [q for q, _ in tiny_model.MEMO_PAIRS]
ANSWERS = [a for _, a in tiny_model.MEMO_PAIRS]
# Held-out pairs (test.jsonl): facts the training rows do not hold, so their loss rises as the model memorizes.
HELD = [
    ("In Cairnrun, how many players are on the field per team?", "Eleven players."),
    ("In Cairnrun, how long is the break between watches?", "10 minutes."),
    ("In Cairnrun, what colour is the Arbiter's flag?", "Blue."),
]
TAGS = ["forward", "forward", "forward", "numeric", "numeric", "numeric"]

# Full fine-tuning of random weights (test_train.py's MEMO), evaluated every 10 steps; the rows have
# tiny_model's system prompt, so the recall questions are asked with it too (as the TS side writes it).
MEMO = {"method": "full", "learning_rate": 1e-2, "max_steps": 80, "batch_size": 6, "lr_scheduler": "cosine", "warmup_steps": 5, "eval_steps": 10, "gradient_checkpointing": False, "logging_steps": 10, "recall_max_new_tokens": 16, "recall_system_prompt": tiny_model.SYSTEM_PROMPT}
QUICK = {"method": "full", "learning_rate": 1e-3, "max_steps": 2, "batch_size": 3, "eval_steps": 2, "gradient_checkpointing": False, "recall_max_new_tokens": 4}


def recall_rows(n_eval: int = 6, n_test: int = 3) -> list[dict]:
    rows = [{"id": f"q-{i}", "set": "eval", "question": q, "reference": a, "tags": [TAGS[i]], "keys": None} for i, (q, a) in enumerate(tiny_model.MEMO_PAIRS[:n_eval])]
    rows += [{"id": f"t-{i}", "set": "test", "question": q, "reference": a, "tags": ["held-out"], "keys": None} for i, (q, a) in enumerate(HELD[:n_test])]
    return rows


def memo_run(path, config: dict, recall_set: list[dict] | None = None):
    run = make_run(path, config, tiny_model.memo_rows(), tiny_model.memo_rows(HELD))
    if recall_set is not None:
        tiny_model.write_jsonl(run / "recall.jsonl", recall_set)
    return run


def of(events, name):
    return [e for e in events if e["event"] == name]


def check_recall_event(ev: dict, questions: list[dict]) -> None:
    """A `recall` event as the contract (section 4) and protocol.ts's RecallEvent have it."""
    check_event(ev)
    assert ev["set"] in ("eval", "test")
    assert isinstance(ev["epoch"], (int, float)) and isinstance(ev["seconds"], (int, float)) and ev["seconds"] > 0
    assert [a["id"] for a in ev["answers"]] == [q["id"] for q in questions], "one answer per question, in the file's order"
    for a in ev["answers"]:
        assert set(a) == {"id", "answer", "correct", "finish_reason"} and isinstance(a["answer"], str) and isinstance(a["correct"], bool)
        assert a["finish_reason"] in ("stop", "length")
    assert ev["total"] == len(questions) and ev["correct"] == sum(a["correct"] for a in ev["answers"])
    by_id = {a["id"]: a["correct"] for a in ev["answers"]}
    expected: dict[str, dict[str, int]] = {}
    for q in questions:
        for tag in q["tags"]:
            t = expected.setdefault(tag, {"correct": 0, "total": 0})
            t["total"] += 1
            t["correct"] += by_id[q["id"]]
    assert ev["by_tag"] == expected


def check_recall_after_each_eval(events: list[dict], questions: list[dict]) -> dict[int, dict[str, dict]]:
    """Right after every `eval` event (status events aside) one `recall` event per set, eval then test; returns them by step and set."""
    sets = {s: [q for q in questions if q["set"] == s] for s in ("eval", "test") if any(q["set"] == s for q in questions)}
    out = {}
    for i, ev in enumerate(events):
        if ev["event"] != "eval":
            continue
        after = [e for e in events[i + 1 :] if e["event"] != "status"][: len(sets)]
        assert [(e["event"], e["set"]) for e in after] == [("recall", s) for s in sets], after
        for e in after:
            assert e["step"] == ev["step"] and e["epoch"] == ev["epoch"]
            check_recall_event(e, sets[e["set"]])
        out[ev["step"]] = {e["set"]: e for e in after}
    assert len(of(events, "recall")) == len(out) * len(sets), "recall events only after an eval"
    return out


def kept_answers(run) -> list[str]:
    return tiny_model.greedy_answers(run / "output", QUESTIONS, max_new_tokens=16)


# ---------------------------------------------------------------------------------------------
# The case of issue 18


@pytest.fixture(scope="module")
def by_recall(tiny_model_dir, tmp_path_factory):
    """The memorizing run with the default save_best (auto: by recall, since recall.jsonl is there), in a subprocess as the runner starts it."""
    run = memo_run(tmp_path_factory.mktemp("by-recall"), {"model": str(tiny_model_dir), **MEMO}, recall_rows())
    proc = subprocess.run([sys.executable, "train.py", "--config", "config.json"], cwd=run, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run, read_events(run), proc.stderr


@pytest.fixture(scope="module")
def by_eval_loss(tiny_model_dir, tmp_path_factory):
    run = memo_run(tmp_path_factory.mktemp("by-eval-loss"), {"model": str(tiny_model_dir), **MEMO, "save_best": "eval_loss"}, recall_rows())
    proc = subprocess.run([sys.executable, "train.py", "--config", "config.json"], cwd=run, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run, read_events(run)


def test_recall_events_follow_the_protocol_and_recall_rises(by_recall):
    run, events, stderr = by_recall
    check_run(events)
    measured = check_recall_after_each_eval(events, recall_rows())
    assert sorted(measured) == list(range(10, 81, 10))
    curve = [measured[s]["eval"]["correct"] for s in sorted(measured)]
    # The random model recalls nothing at first; by the end it recalls every trained answer.
    assert curve[0] <= 1 and curve[-1] == 6 and max(curve) == 6, curve
    assert measured[80]["eval"]["by_tag"] == {"forward": {"correct": 3, "total": 3}, "numeric": {"correct": 3, "total": 3}}
    # The held-out pairs are facts it never saw: they stay unrecalled.
    assert all(m["test"]["correct"] == 0 for m in measured.values())
    # A "recall" status precedes each measurement; the answering time is printed on stderr too.
    states = [e["state"] for e in events if e["event"] == "status"]
    assert states.count("recall") == len(measured)
    assert f"recall step 80 eval: 6/6 (100%) in {measured[80]['eval']['seconds']:.1f} s (forward 3/3, numeric 3/3)" in stderr


def test_save_best_by_recall_keeps_the_memorizing_checkpoint(by_recall, by_eval_loss):
    run, events, _ = by_recall
    measured = check_recall_after_each_eval(events, recall_rows())
    losses = {e["step"]: e["eval_loss"] for e in of(events, "eval")}
    done = events[-1]
    best_recall = max(m["eval"]["correct"] for m in measured.values())
    latest_best = max(s for s, m in measured.items() if m["eval"]["correct"] == best_recall)
    assert done["best_by"] == "recall" and done["best_step"] == latest_best, "the best recall, ties to the later step"
    assert done["best_value"] == best_recall / 6 == 1.0 and done["best_eval_loss"] == losses[latest_best]
    # The case: the eval loss is lowest early, long before the model memorizes.
    lowest = min(losses, key=losses.get)
    assert lowest < latest_best and losses[latest_best] > losses[lowest]
    assert [c["step"] for c in of(events, "checkpoint") if c.get("best")][-1] == latest_best
    assert kept_answers(run) == ANSWERS

    run2, events2 = by_eval_loss
    check_run(events2)
    measured2 = check_recall_after_each_eval(events2, recall_rows())
    losses2 = {e["step"]: e["eval_loss"] for e in of(events2, "eval")}
    done2 = events2[-1]
    assert done2["best_by"] == "eval_loss" and done2["best_step"] == min(losses2, key=losses2.get) == lowest
    assert done2["best_value"] == done2["best_eval_loss"] == losses2[lowest]
    # It keeps the early checkpoint, which recalls little; output/ answers as that step's recall event says.
    early = measured2[lowest]["eval"]
    assert early["correct"] <= 2
    assert kept_answers(run2) == [a["answer"] for a in early["answers"]]
    assert sum(a == b for a, b in zip(kept_answers(run2), ANSWERS)) <= 2


# ---------------------------------------------------------------------------------------------
# evals_per_epoch, LoRA with gradient checkpointing, several processes


def test_evals_per_epoch_counts_real_optimizer_steps(tiny_model_dir, tmp_path, monkeypatch, capsys):
    # 6 rows, batch 1, gradient accumulation 2: 3 optimizer steps per epoch; halves of an epoch end at steps 2, 3, 5, 6.
    # The Find Epochs probe's shape: constant lr, save_best none; eval_steps 1 is overridden.
    config = {"model": str(tiny_model_dir), **QUICK, "max_steps": -1, "epochs": 2, "batch_size": 1, "grad_accum": 2, "evals_per_epoch": 2, "eval_steps": 1, "lr_scheduler": "constant", "save_best": "none"}
    run = memo_run(tmp_path / "run", config, recall_rows(2, 1))
    rc, events = run_in_process(run, monkeypatch)
    assert rc == 0, events[-1]
    check_run(events)
    assert of(events, "start")[0]["total_steps"] == 6
    assert [e["step"] for e in of(events, "eval")] == [2, 3, 5, 6]
    assert [e["epoch"] for e in of(events, "eval")] == [pytest.approx(2 / 3, abs=1e-3), 1.0, pytest.approx(5 / 3, abs=1e-3), 2.0]
    measured = check_recall_after_each_eval(events, recall_rows(2, 1))
    assert sorted(measured) == [2, 3, 5, 6]
    assert of(events, "checkpoint") == [] and events[-1]["best_by"] is None and "best_step" not in events[-1]
    assert "3 optimizer steps per epoch, evaluating at steps 2, 3, 5, 6" in capsys.readouterr().err


def test_eval_steps_of_an_epoch():
    assert recall.epoch_eval_steps(6, 4, 12) == [2, 3, 5, 6, 8, 9, 11, 12]
    assert recall.epoch_eval_steps(3, 3, 6) == [1, 2, 3, 4, 5, 6]
    assert recall.epoch_eval_steps(2, 5, 4) == [1, 2, 3, 4], "more evals than steps: every step, once"
    assert recall.epoch_eval_steps(10, 4, 25) == [3, 5, 8, 10, 13, 15, 18, 20, 23, 25]
    assert recall.epoch_eval_steps(10, 4, 7) == [3, 5, 7], "the last step is always evaluated"
    # 161 rows, batch 2 on 4 processes, grad_accum 4: 21 batches per process, 6 optimizer steps per epoch.
    assert recall.batches_per_epoch(161, 2, 4) == 21 and recall.steps_per_epoch(21, 4) == 6
    assert recall.batches_per_epoch(161, 1, 1) == 161 and recall.steps_per_epoch(161, 1) == 161


def test_lora_with_gradient_checkpointing_measures_recall(tiny_model_dir, tmp_path, monkeypatch):
    config = {"model": str(tiny_model_dir), "method": "lora", "lora_r": 4, "learning_rate": 1e-3, "max_steps": 3, "batch_size": 2, "eval_steps": 2, "gradient_checkpointing": True, "neftune_alpha": 5.0, "recall_max_new_tokens": 4, "recall_batch_size": 2}
    run = memo_run(tmp_path / "run", config, recall_rows())
    rc, events = run_in_process(run, monkeypatch)
    assert rc == 0, events[-1]
    check_run(events)
    # Eval at 2 and at the last step (3, not a multiple of eval_steps): recall at both.
    measured = check_recall_after_each_eval(events, recall_rows())
    assert sorted(measured) == [2, 3]
    done = events[-1]
    assert done["best_by"] == "recall" and done["best_step"] in (2, 3) and 0 <= done["best_value"] <= 1


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_measuring_leaves_the_model_training(tiny_model_dir, tmp_path):
    """Eval mode, the KV cache and the tokenizer's padding side only while answering; train mode after."""
    import common
    import torch

    model = common.load_model(str(tiny_model_dir), dtype=torch.float32)
    tokenizer = common.load_tokenizer(str(tiny_model_dir))
    model.config.use_cache = False
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    side = tokenizer.padding_side
    metrics = common.Metrics(tmp_path / "metrics.jsonl", stdout=False)
    sets = recall.read_recall_file(_write(tmp_path / "recall.jsonl", recall_rows()), 0)
    meter = recall.RecallMeter(sets, tokenizer, metrics, max_new_tokens=3, batch_size=4)
    events = meter.measure(model, 7, 0.5)
    assert [(e["set"], e["step"], e["total"]) for e in events] == [("eval", 7, 6), ("test", 7, 3)]
    assert model.training and model.is_gradient_checkpointing and model.config.use_cache is False and tokenizer.padding_side == side
    assert all(p.grad is None for p in model.parameters())
    # Batched answers are the answers one at a time.
    one = recall.RecallMeter(sets, tokenizer, metrics, max_new_tokens=3, batch_size=1).measure(model, 7, 0.5)
    assert [e["answers"] for e in one] == [e["answers"] for e in events]


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_running_out_of_memory_while_answering_names_the_recall_knobs(tiny_model_dir, tmp_path):
    import common
    import torch
    from transformers import LlamaForCausalLM

    class OutOfMemory(LlamaForCausalLM):
        """The tiny model, whose generate() fails as a full GPU does."""

        def generate(self, *args, **kwargs):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    model = OutOfMemory.from_pretrained(str(tiny_model_dir))
    sets = recall.read_recall_file(_write(tmp_path / "recall.jsonl", recall_rows()), 0)
    meter = recall.RecallMeter(sets, common.load_tokenizer(str(tiny_model_dir)), common.Metrics(None, stdout=False), max_new_tokens=5, batch_size=4)
    model.train()
    with pytest.raises(common.ScriptError) as e:
        meter.measure(model, 3, 0.1)
    assert e.value.kind == "oom" and "recall questions (4 at a time, up to 5 new tokens)" in str(e.value) and "recall_batch_size" in e.value.hint
    assert model.training


def _write(path, rows):
    tiny_model.write_jsonl(path, rows)
    return path


@pytest.mark.skipif(sys.platform == "win32", reason="torchrun over gloo")
def test_torchrun_ranks_share_the_questions_and_write_one_stream(tiny_model_dir, tmp_path):
    config = {"model": str(tiny_model_dir), "method": "full", "max_steps": 2, "batch_size": 1, "eval_steps": 2, "learning_rate": 1e-3, "gradient_checkpointing": False, "recall_max_new_tokens": 4, "recall_batch_size": 2}
    run = memo_run(tmp_path / "run", config, recall_rows())
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "train.py", "--config", "config.json"]
    proc = subprocess.Popen(cmd, cwd=run, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=400)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("torchrun did not finish in 400 s")
    assert proc.returncode == 0, stderr[-3000:]
    events = read_events(run)
    check_run(events)
    assert of(events, "start")[0]["world_size"] == 2
    measured = check_recall_after_each_eval(events, recall_rows())  # every question answered once, in order, one event per set
    assert sorted(measured) == [2]
    assert events[-1]["best_by"] == "recall" and events[-1]["best_step"] == 2
    assert "[rank 1] recall step" not in stderr and "recall step 2 eval" in stderr


# ---------------------------------------------------------------------------------------------
# Bad and odd input


def test_without_eval_rows_recall_is_measured_at_the_eval_steps(tiny_model_dir, tmp_path, monkeypatch, capsys):
    config = {"model": str(tiny_model_dir), **QUICK, "max_steps": 3, "eval_file": None}
    run = memo_run(tmp_path / "run", config, recall_rows(2, 0))
    rc, events = run_in_process(run, monkeypatch)
    assert rc == 0, events[-1]
    check_run(events)
    assert of(events, "eval") == [] and of(events, "checkpoint") == []
    assert [(e["step"], e["set"]) for e in of(events, "recall")] == [(2, "eval"), (3, "eval")]
    for e in of(events, "recall"):
        check_recall_event(e, recall_rows(2, 0))
    assert events[-1]["best_by"] is None
    assert "nothing is chosen by it" in capsys.readouterr().err


def test_no_recall_file_measures_no_recall_and_keeps_by_eval_loss(tiny_model_dir, tmp_path, monkeypatch, capsys):
    run = memo_run(tmp_path / "run", {"model": str(tiny_model_dir), **QUICK})
    rc, events = run_in_process(run, monkeypatch)
    assert rc == 0, events[-1]
    check_run(events)
    assert of(events, "recall") == [] and "recall" not in [e.get("state") for e in events]
    evals = of(events, "eval")
    assert events[-1]["best_by"] == "eval_loss" and events[-1]["best_step"] == 2 and events[-1]["best_value"] == evals[-1]["eval_loss"]
    assert "recall.jsonl does not exist: no recall measured" in capsys.readouterr().err


def test_an_empty_recall_set_measures_no_recall(tiny_model_dir, tmp_path, monkeypatch, capsys):
    run = memo_run(tmp_path / "run", {"model": str(tiny_model_dir), **QUICK, "save_best": "recall"}, [])
    (run / "recall.jsonl").write_text("\n\n", encoding="utf-8")
    rc, events = run_in_process(run, monkeypatch)
    assert rc == 0, events[-1]
    assert of(events, "recall") == []
    # save_best recall with nothing to measure: said, and kept by eval loss.
    assert events[-1]["best_by"] == "eval_loss"
    err = capsys.readouterr().err
    assert "recall.jsonl holds no question: no recall measured" in err and "save_best is recall but no recall is measured" in err


def test_recall_limit_larger_than_the_set_answers_every_question(tiny_model_dir, tmp_path, monkeypatch):
    run = memo_run(tmp_path / "run", {"model": str(tiny_model_dir), **QUICK, "recall_limit": 100}, recall_rows())
    rc, events = run_in_process(run, monkeypatch)
    assert rc == 0, events[-1]
    assert [(e["set"], e["total"]) for e in of(events, "recall")] == [("eval", 6), ("test", 3)]


def test_recall_limit_keeps_the_first_questions_of_each_set(tmp_path):
    rows = recall_rows()
    rows = rows[6:] + rows[:6]  # the sets interleaved in the file do not matter
    sets = recall.read_recall_file(_write(tmp_path / "recall.jsonl", rows), 2)
    assert {name: [q.id for q in qs] for name, qs in sets.items()} == {"eval": ["q-0", "q-1"], "test": ["t-0", "t-1"]}
    assert list(sets) == ["eval", "test"]
    assert recall.read_recall_file(tmp_path / "absent.jsonl", 0) == {} and recall.read_recall_file(None, 0) == {}


def test_a_malformed_recall_line_is_bad_data_naming_it(tiny_model_dir, tmp_path, monkeypatch):
    run = memo_run(tmp_path / "run", {"model": str(tiny_model_dir), **QUICK}, recall_rows()[:2])
    with open(run / "recall.jsonl", "a", encoding="utf-8") as f:
        f.write('{"id": "q-9", "set": "eval", "question": "cut off\n')
    rc, events = run_in_process(run, monkeypatch)
    assert rc == 1
    for ev in events:
        check_event(ev)
    # Refused before the model loads.
    assert [e["event"] for e in events] == ["status", "error"]
    assert events[-1]["kind"] == "bad_data" and "recall.jsonl line 3 is not valid JSON" in events[-1]["message"]
    assert "start the run again" in events[-1]["hint"]


@pytest.mark.parametrize(
    "row, words",
    [
        ({"id": "q-1", "set": "train", "question": "Q?", "reference": "A."}, ['set "train"', '"eval" or "test"']),
        ({"id": "q-1", "set": "eval", "reference": "A."}, ["has no question"]),
        ({"id": "q-1", "set": "eval", "question": "Q?", "reference": 5}, ["has no reference"]),
        ({"id": "q-1", "set": "eval", "question": "Q?", "reference": "A.", "tags": "forward"}, ["tags"]),
        ({"id": "q-1", "set": "eval", "question": "Q?", "reference": "A.", "keys": "8 seconds"}, ["keys"]),
        ({"id": "q-1", "set": "eval", "question": "Q?", "reference": "A.", "keys": [8]}, ["keys", "list of strings"]),
        (["not", "an", "object"], ["not a JSON object"]),
    ],
)
def test_bad_recall_rows_name_their_line(tmp_path, row, words):
    path = tmp_path / "recall.jsonl"
    path.write_text(json.dumps(recall_rows()[0]) + "\n\n" + json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(recall.ScriptError) as e:
        recall.read_recall_file(path, 0)
    assert e.value.kind == "bad_data" and "recall.jsonl line 3 " in str(e.value)
    for w in words:
        assert w in str(e.value)


def test_answers_are_graded_with_the_questions_keys(tmp_path):
    import common
    import grading

    ref = "Cold Stone: after eight seconds outside both Hearths, play restarts with an Arbiter's Drop (Rule 7.4)."
    rows = [{"id": f"q-{i}", "set": "eval", "question": "What is Cold Stone?", "reference": ref, "tags": ["forward"], "keys": keys} for i, keys in enumerate([None, ["Hearth Roll"], []])]
    sets = recall.read_recall_file(_write(tmp_path / "recall.jsonl", rows), 0)
    meter = recall.RecallMeter(sets, None, common.Metrics(None, stdout=False))
    answer = ("After eight seconds, an Arbiter's Drop.", "stop")
    ev = meter._event("eval", sets["eval"], [answer] * 3, 5, 0.25, 0.1, grading.grade)
    # The heuristic key terms pass it; the explicit fact "Hearth Roll" is not in it; [] is the heuristic.
    assert [a["correct"] for a in ev["answers"]] == [True, False, True]
    assert (ev["correct"], ev["total"], ev["by_tag"]) == (2, 3, {"forward": {"correct": 2, "total": 3}}) and meter.value() == 2 / 3


@pytest.mark.parametrize("value, mode", [(True, "auto"), (False, "none"), ("auto", "auto"), ("recall", "recall"), ("eval_loss", "eval_loss"), ("none", "none")])
def test_save_best_values(value, mode):
    assert recall.save_best_mode(value) == mode


@pytest.mark.parametrize("extra, words", [({"save_best": "lowest"}, ["save_best", "auto, recall, eval_loss, none"]), ({"evals_per_epoch": -1}, ["evals_per_epoch", "must be >= 0"]), ({"recall_batch_size": 0}, ["recall_batch_size", "must be at least 1"]), ({"recall_limit": "all"}, ["recall_limit", "must be int"])])
def test_bad_recall_configs_are_refused(tiny_model_dir, tmp_path, monkeypatch, extra, words):
    run = memo_run(tmp_path / "run", {"model": str(tiny_model_dir), **QUICK, **extra}, recall_rows())
    rc, events = run_in_process(run, monkeypatch)
    assert rc == 1 and events[-1]["kind"] == "bad_config"
    for w in words:
        assert w in events[-1]["message"]


def test_best_keeper_breaks_ties():
    keeper = recall.BestKeeper("recall")
    assert [keeper.update(s, loss, r) for s, loss, r in [(10, 1.0, 0.5), (20, 2.0, 0.5), (30, 3.0, 0.25), (40, 4.0, 0.75), (50, 5.0, 0.75)]] == [True, True, False, True, True]
    assert keeper.done_fields() == {"best_step": 50, "best_by": "recall", "best_value": 0.75, "best_eval_loss": 5.0} and keeper.order == 4
    keeper = recall.BestKeeper("eval_loss")
    assert [keeper.update(s, loss, None) for s, loss in [(10, 2.0), (20, 1.0), (30, 1.0), (40, float("nan"))]] == [True, True, False, False]
    assert keeper.done_fields()["best_step"] == 20
    assert recall.BestKeeper(None).done_fields() == {"best_by": None}
