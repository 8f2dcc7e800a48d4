"""Recall while training: train.py answers the run's recall set at every evaluation and keeps the
checkpoint that recalls best (issue 18; the interfaces are in the helpers' contract, sections 3 and 4).

The recall set is `recall.jsonl` in the run folder (config `recall_file`), one question a line:

    {"id": "q-...", "set": "eval" | "test", "question": "...", "reference": "...", "tags": [...], "keys": [...] | null}

set "eval" holds the project's eval questions (eval/questions.qa), set "test" the dataset's held-out
pairs (data/test.jsonl). `recall_limit` N > 0 keeps the first N questions of each set (a stable
subset). No file (or `recall_file` null) means no recall; an empty file too (both are logged); a bad
line is a bad_data error that names it, raised before the model loads.

At each evaluation the model answers every question greedily (common.greedy_generate, prompts from
common.render_question, `recall_batch_size` prompts at a time, sorted by length, at most
`recall_max_new_tokens` new tokens, the KV cache on), in eval mode under torch.no_grad and back in
train mode after; each answer is graded by grading.grade (the port of the core's key-terms rule).
Then one `recall` event per set measured:

    {"event": "recall", "step": 50, "epoch": 0.5, "set": "eval", "correct": 12, "total": 24,
     "by_tag": {"forward": {"correct": 5, "total": 8}, ...},
     "answers": [{"id": "q-...", "answer": "...", "correct": true, "finish_reason": "stop"}], "seconds": 12.3}

Several processes (torchrun, accelerate launch): every rank answers its share of the questions (a
round robin over the length-sorted list) and the answers are gathered on all ranks
(all_gather_object), so each rank holds the same figures and takes the same keep-or-not decision;
only rank 0 writes the events (common.Metrics drops them elsewhere).

save_best: "auto" keeps the checkpoint with the best recall when recall is measured (the "eval"
set's fraction, or the "test" set's when the run has no eval set; ties go to the later step), else
the one with the lowest eval loss (ties: the earlier step); "recall", "eval_loss" ask for one; "none"
ends with the last step. JSON true is "auto", false "none". The Trainer's own load_best_model_at_end
does the saving, rotating and restoring: BestKeeper decides, and hands the Trainer a metric
(`eval_best_order`, a count of new bests) that rises exactly when BestKeeper says so, so the
Trainer's strict comparison cannot turn a tie the wrong way.

evals_per_epoch N > 0: evaluate at the steps where each N-th of an epoch is reached, counted in
real optimizer steps (len(train dataloader) per process, so batch size, world size and gradient
accumulation are in it), plus the last step; it overrides eval_steps.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import common
from common import ScriptError, log

SETS = ("eval", "test")
SAVE_BEST = ("auto", "recall", "eval_loss", "none")
BEST_METRIC = "eval_best_order"  # what train.py gives the Trainer as metric_for_best_model
FAR = 10**9  # eval_steps / save_steps when RecallCallback picks the evaluation steps itself


# ---------------------------------------------------------------------------------------------
# The recall set


@dataclass
class RecallQuestion:
    id: str
    set: str
    question: str
    reference: str
    tags: list[str] = field(default_factory=list)
    keys: list[str] | None = None  # the explicit key facts of an @keys: line (grading.grade), None = heuristic terms


def _bad_line(name: str, n: int, what: str) -> ScriptError:
    return ScriptError(
        f"{name} line {n} {what}",
        kind="bad_data",
        hint=f'Each line must be {{"id": ..., "set": "eval" or "test", "question": ..., "reference": ..., "tags": [...], "keys": [...] or null}}. '
        f"Mnemo writes {name} when it starts a run: start the run again, or fix or delete that line.",
    )


def read_recall_file(path: str | os.PathLike | None, limit: int = 0) -> dict[str, list[RecallQuestion]]:
    """The recall set by set ("eval" first, then "test"), the first `limit` of each when limit > 0.

    No path, no file, or a file with no question: {} (logged). A line that is not a recall question
    is a bad_data ScriptError naming its line."""
    if not path:
        return {}
    p = Path(path)
    if not p.exists():
        log(f"{p.name} does not exist: no recall measured")
        return {}
    by_set: dict[str, list[RecallQuestion]] = {}
    with open(p, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise _bad_line(p.name, n, f"is not valid JSON: {e.msg}.") from None
            q = _check_row(row, p.name, n)
            by_set.setdefault(q.set, []).append(q)
    if not by_set:
        log(f"{p.name} holds no question: no recall measured")
        return {}
    out = {}
    for name in SETS:
        if name in by_set:
            out[name] = by_set[name][:limit] if limit > 0 else by_set[name]
    if limit > 0:
        log(f"recall: the first {limit} questions of each set: " + ", ".join(f"{name} {len(qs)} of {len(by_set[name])}" for name, qs in out.items()))
    else:
        log("recall: " + ", ".join(f"{name} {len(qs)} questions" for name, qs in out.items()))
    return out


def _check_row(row, name: str, n: int) -> RecallQuestion:
    if not isinstance(row, dict):
        raise _bad_line(name, n, "is not a JSON object.")
    if row.get("set") not in SETS:
        raise _bad_line(name, n, f'has set {json.dumps(row.get("set"))}, not "eval" or "test".')
    for key in ("id", "question", "reference"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            raise _bad_line(name, n, f"has no {key} (a non-empty string).")
    tags = row.get("tags", [])
    if tags is None:
        tags = []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise _bad_line(name, n, "has tags that are not a list of strings.")
    keys = row.get("keys")
    if keys is not None and (not isinstance(keys, list) or not all(isinstance(k, str) for k in keys)):
        raise _bad_line(name, n, "has keys that are neither a list of strings nor null.")
    keys = keys or None  # [] is no explicit fact: the heuristic key terms, as the core grades it
    return RecallQuestion(id=row["id"], set=row["set"], question=row["question"], reference=row["reference"], tags=tags, keys=keys)


# ---------------------------------------------------------------------------------------------
# Config: save_best and the evaluation schedule


def save_best_mode(value) -> str:
    """config save_best -> "auto" | "recall" | "eval_loss" | "none" (true is "auto", false "none")."""
    if value is True:
        return "auto"
    if value is False:
        return "none"
    if value not in SAVE_BEST:
        raise ScriptError(f"save_best must be one of {', '.join(SAVE_BEST)} (or true / false), not {value!r}.", kind="bad_config")
    return value


def best_by(mode: str, recall_measured: bool) -> str | None:
    """What the kept checkpoint is chosen by: "recall", "eval_loss", or None (the last step)."""
    if mode == "none":
        return None
    if mode == "auto":
        return "recall" if recall_measured else "eval_loss"
    if mode == "recall" and not recall_measured:
        log("save_best is recall but no recall is measured (no recall set): keeping the checkpoint with the lowest eval loss")
        return "eval_loss"
    return mode


def steps_per_epoch(batches_per_epoch: int, grad_accum: int) -> int:
    """Optimizer steps in one epoch, as the Trainer counts them (a partial accumulation is a step)."""
    return max(math.ceil(batches_per_epoch / grad_accum), 1)


def batches_per_epoch(rows: int, batch_size: int, world_size: int = 1) -> int:
    """Batches each process reads in one epoch (the rows are shared out over the processes)."""
    return max(math.ceil(rows / (batch_size * world_size)), 1)


def epoch_eval_steps(per_epoch: int, evals_per_epoch: int, max_steps: int) -> list[int]:
    """The steps at which each evals_per_epoch-th of an epoch is reached (ceil), up to max_steps, and max_steps."""
    steps = set()
    k = 1
    while True:
        s = math.ceil(k * per_epoch / evals_per_epoch - 1e-9)
        if s > max_steps:
            break
        steps.add(max(s, 1))
        k += 1
    steps.add(max_steps)
    return sorted(steps)


# ---------------------------------------------------------------------------------------------
# Answering and grading


def _distributed():
    """(rank, world size) of an initialized process group, else (0, 1)."""
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
    except Exception:  # noqa: BLE001 - no torch.distributed: one process
        pass
    return 0, 1


class RecallMeter:
    """Answers the recall set with the model being trained and emits the `recall` events."""

    def __init__(self, sets: dict[str, list[RecallQuestion]], tokenizer, metrics: common.Metrics, max_new_tokens: int = 48, batch_size: int = 8, system_prompt: str | None = None):
        self.sets = sets
        self.tokenizer = tokenizer
        self.metrics = metrics
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.system_prompt = system_prompt
        self.prompts: dict[str, list[str]] = {}  # rendered once, on first use
        self.last: dict[str, float] = {}  # set -> fraction correct at the last measurement

    @property
    def measured(self) -> bool:
        return bool(self.sets)

    def value(self) -> float | None:
        """The figure the best checkpoint is chosen by: the eval set's recall, else the test set's."""
        for name in SETS:
            if name in self.last:
                return self.last[name]
        return None

    def _answer(self, model, prompts: list[str]) -> list[tuple[str, str]]:
        """(answer, finish_reason) per prompt; batches of similar length; this rank's share only, gathered."""
        rank, world = _distributed()
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        mine = order[rank::world]
        device = next(model.parameters()).device
        results: dict[int, tuple[str, str]] = {}
        for at in range(0, len(mine), self.batch_size):
            chunk = mine[at : at + self.batch_size]
            try:
                out = common.greedy_generate(model, self.tokenizer, [prompts[i] for i in chunk], self.max_new_tokens, device)
            except Exception as e:  # noqa: BLE001 - an OOM here gets the recall knobs as its hint
                if common.classify_error(e).kind != "oom":
                    raise
                raise ScriptError(
                    f"The GPU ran out of memory answering the recall questions ({len(chunk)} at a time, up to {self.max_new_tokens} new tokens).",
                    kind="oom",
                    hint="Lower recall_batch_size or recall_max_new_tokens, or ask fewer questions with recall_limit (recall_file null turns recall off).",
                ) from None
            results.update(zip(chunk, (tuple(x) for x in out)))
        if world > 1:
            import torch.distributed as dist

            gathered: list = [None] * world
            dist.all_gather_object(gathered, results)
            results = {i: r for part in gathered for i, r in part.items()}
        return [results[i] for i in range(len(prompts))]

    def measure(self, model, step: int, epoch: float) -> list[dict]:
        """Answers and grades every set; emits one `recall` event per set (rank 0); returns the events."""
        import torch

        import grading

        self.metrics.status("recall", f"measuring recall at step {step}")
        was_training = model.training
        config = getattr(model, "config", None)
        gen_config = getattr(model, "generation_config", None)
        saved = (getattr(config, "use_cache", None), getattr(gen_config, "use_cache", None), getattr(self.tokenizer, "padding_side", None))
        events = []
        try:
            model.eval()  # no dropout, no NEFTune noise, no gradient checkpointing
            if config is not None:
                config.use_cache = True  # training turns it off; generation wants the KV cache
            if gen_config is not None:
                gen_config.use_cache = True
            with torch.no_grad():
                for name, questions in self.sets.items():
                    began = time.perf_counter()
                    if name not in self.prompts:
                        self.prompts[name] = [common.render_question(self.tokenizer, q.question, self.system_prompt) for q in questions]
                    answers = self._answer(model, self.prompts[name])
                    seconds = round(time.perf_counter() - began, 3)
                    events.append(self._event(name, questions, answers, step, epoch, seconds, grading.grade))
        finally:
            if config is not None and saved[0] is not None:
                config.use_cache = saved[0]
            if gen_config is not None and saved[1] is not None:
                gen_config.use_cache = saved[1]
            if saved[2] is not None:
                self.tokenizer.padding_side = saved[2]
            model.train(was_training)
        self.metrics.status("training")
        return events

    def _event(self, name, questions, answers, step, epoch, seconds, grade) -> dict:
        by_tag: dict[str, dict[str, int]] = {}
        rows = []
        correct = 0
        for q, (answer, finish) in zip(questions, answers):
            ok = bool(grade(answer, q.reference, q.question, q.keys))
            correct += ok
            rows.append({"id": q.id, "answer": answer, "correct": ok, "finish_reason": finish})
            for tag in q.tags:
                t = by_tag.setdefault(tag, {"correct": 0, "total": 0})
                t["total"] += 1
                t["correct"] += ok
        total = len(questions)
        self.last[name] = correct / total
        tags = ", ".join(f"{tag} {t['correct']}/{t['total']}" for tag, t in by_tag.items())
        if common.is_main_process():
            log(f"recall step {step} {name}: {correct}/{total} ({100 * correct / total:.0f}%) in {seconds:.1f} s" + (f" ({tags})" if tags else ""))
        return self.metrics.emit("recall", step=step, epoch=round(epoch or 0.0, 4), set=name, correct=correct, total=total, by_tag=by_tag, answers=rows, seconds=seconds)


# ---------------------------------------------------------------------------------------------
# The kept checkpoint


class BestKeeper:
    """Decides which evaluated step is the best: by recall (higher; ties -> the later step) or by
    eval loss (lower; ties -> the earlier step). `order` counts the new bests: train.py gives it to the
    Trainer as the metric for load_best_model_at_end (greater is better), so the Trainer keeps and
    restores exactly the checkpoint chosen here."""

    def __init__(self, by: str | None):
        self.by = by
        self.step: int | None = None
        self.value: float | None = None
        self.eval_loss: float | None = None  # the kept step's eval loss
        self.order = 0

    def update(self, step: int, eval_loss: float | None, recall: float | None) -> bool:
        if self.by is None:
            return False
        value = recall if self.by == "recall" else eval_loss
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if self.value is None or (value >= self.value if self.by == "recall" else value < self.value):
            self.step, self.value, self.eval_loss = step, value, eval_loss
            self.order += 1
            return True
        return False

    def done_fields(self) -> dict:
        """best_step, best_by, best_value and best_eval_loss for the `done` event."""
        if self.step is None:
            return {"best_by": None}
        out = {"best_step": self.step, "best_by": self.by, "best_value": self.value}
        if self.eval_loss is not None:
            out["best_eval_loss"] = self.eval_loss
        return out


def make_recall_callback(meter: RecallMeter | None, keeper: BestKeeper, has_eval: bool, evals_per_epoch: int, grad_accum: int, eval_steps: int):
    """A TrainerCallback that measures recall after each evaluation, tells the Trainer which
    checkpoint is the best, and (evals_per_epoch > 0) picks the evaluation steps.

    With an eval set the measuring happens in on_evaluate (after the `eval` event; the Trainer
    evaluates at the last step too, see train.py's protocol callback); without one, at the same
    steps in on_step_end (recall alone, nothing kept by it)."""
    from transformers import TrainerCallback

    if meter is not None and not has_eval:
        log("no eval rows: recall is measured at the eval steps, but nothing is chosen by it (save_best needs the Trainer's evaluations); the run ends with its last step")

    class RecallCallback(TrainerCallback):
        def __init__(self):
            self.schedule: set[int] | None = None
            self.measured_step = -1

        def on_train_begin(self, args, state, control, train_dataloader=None, **kwargs):
            if evals_per_epoch > 0:
                try:
                    batches = len(train_dataloader)
                except TypeError:
                    batches = None
                if not batches:
                    raise ScriptError("evals_per_epoch needs a training set of known length.", kind="bad_config", hint="Set eval_steps instead.")
                per_epoch = steps_per_epoch(batches, grad_accum)
                self.schedule = set(epoch_eval_steps(per_epoch, evals_per_epoch, state.max_steps))
                log(f"evals_per_epoch {evals_per_epoch}: {per_epoch} optimizer steps per epoch, evaluating at steps {', '.join(map(str, sorted(self.schedule)))}")

        def _due(self, state) -> bool:
            if self.schedule is not None:
                return state.global_step in self.schedule
            return state.global_step >= state.max_steps or (eval_steps > 0 and state.global_step % eval_steps == 0)

        def on_step_end(self, args, state, control, model=None, **kwargs):
            if not self._due(state):
                return control
            if has_eval and self.schedule is not None:
                control.should_evaluate = True
                if keeper.by is not None:
                    control.should_save = True
            elif not has_eval and meter is not None and self.measured_step != state.global_step:
                self.measured_step = state.global_step
                meter.measure(model, state.global_step, state.epoch or 0.0)
            return control

        def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
            if meter is not None and self.measured_step != state.global_step:
                self.measured_step = state.global_step
                meter.measure(model, state.global_step, state.epoch or 0.0)
            if metrics is not None:
                keeper.update(state.global_step, metrics.get("eval_loss"), meter.value() if meter is not None else None)
                metrics[BEST_METRIC] = keeper.order

    return RecallCallback()
