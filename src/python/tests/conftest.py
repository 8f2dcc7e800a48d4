"""Fixtures for the Python tests: a tiny chat model built on the spot (no downloads) and helpers
that run the real train.py, in a subprocess (as the runner starts it) or in this process (faster)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PYTHON_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PYTHON_DIR))

import tiny_model  # noqa: E402

# The tests' tiny model is faster on one thread, and much faster on a loaded machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny Llama model with random weights and a ChatML byte-level BPE tokenizer, saved with save_pretrained."""
    return tiny_model.build(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def tokenizer(tiny_model_dir):
    import common

    return common.load_tokenizer(str(tiny_model_dir))


def make_run(run_dir: Path, config: dict, train_rows: list[dict], eval_rows: list[dict] | None = None) -> Path:
    """A run folder as the runner lays it out: config.json, train.jsonl, test.jsonl and the scripts (every *.py beside train.py)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
    tiny_model.write_jsonl(run_dir / "train.jsonl", train_rows)
    if eval_rows is not None:
        tiny_model.write_jsonl(run_dir / "test.jsonl", eval_rows)
    for script in PYTHON_DIR.glob("*.py"):
        shutil.copy(script, run_dir / script.name)
    return run_dir


def read_events(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def run_in_process(run_dir: Path, monkeypatch) -> tuple[int, list[dict]]:
    """train.main() in this process with the run folder as cwd (no interpreter start, torch already imported)."""
    import train

    monkeypatch.chdir(run_dir)
    rc = train.main(["--config", "config.json"])
    return rc, read_events(run_dir)


def run_subprocess(run_dir: Path, timeout: float = 600, **popen) -> subprocess.CompletedProcess:
    """`python train.py --config config.json` in the run folder, exactly as the runner starts it."""
    return subprocess.run([sys.executable, "train.py", "--config", "config.json"], cwd=run_dir, capture_output=True, text=True, timeout=timeout, **popen)


# The metrics protocol of src/core/training/protocol.ts: required and optional fields per event.
NUM = (int, float)
STATES = {"starting", "loading_model", "tokenizing", "training", "evaluating", "recall", "saving", "merging", "pushing"}
KINDS = {"oom", "missing_package", "model_not_found", "no_gpu", "disk_full", "bad_config", "bad_data", "cancelled", "other"}
SCHEMA = {
    "status": ({"state": str}, {"message": str}),
    "start": (
        {"total_steps": int, "epochs": NUM, "train_rows": int, "eval_rows": int},
        {"over_length_rows": int, "empty_rows": int, "over_length_action": str, "trainable_params": int, "total_params": int, "device": str, "dtype": str, "world_size": int},
    ),
    "log": ({"step": int, "loss": NUM + (type(None),)}, {"epoch": NUM, "lr": NUM + (type(None),), "grad_norm": NUM + (type(None),), "tokens_per_s": NUM, "tokens_seen": int}),
    "eval": ({"step": int, "eval_loss": NUM + (type(None),)}, {"epoch": NUM}),
    "recall": ({"step": int, "set": str, "correct": int, "total": int}, {"epoch": NUM, "by_tag": dict, "answers": list, "seconds": NUM}),
    "checkpoint": ({"step": int, "path": str}, {"best": bool}),
    "done": ({"output_dir": str}, {"merged_dir": str, "best_step": int, "best_eval_loss": NUM + (type(None),), "best_by": (str, type(None)), "best_value": NUM + (type(None),), "hub_url": str}),
    "error": ({"message": str}, {"hint": str, "kind": str}),
}


def check_event(ev: dict) -> None:
    """Fails unless `ev` is a well-formed protocol event (types of required and optional fields, enums)."""
    assert ev.get("event") in SCHEMA, ev
    assert isinstance(ev.get("time"), NUM) and ev["time"] > 1.6e9, ev
    required, optional = SCHEMA[ev["event"]]
    for key, t in required.items():
        assert key in ev, f"{ev['event']} without {key}: {ev}"
        assert isinstance(ev[key], t) and (t is bool or not isinstance(ev[key], bool)), f"{key} has the wrong type: {ev}"
    for key, t in optional.items():
        if key in ev:
            assert isinstance(ev[key], t) and (t is bool or not isinstance(ev[key], bool)), f"{key} has the wrong type: {ev}"
    if ev["event"] == "status":
        assert ev["state"] in STATES, ev
    if ev["event"] == "error":
        assert ev.get("kind") in KINDS, ev
    if ev["event"] == "start":
        assert ev.get("over_length_action", "drop") in ("drop", "truncate"), ev


def check_run(events: list[dict]) -> None:
    """Fails unless a successful run's stream is well formed and ordered: status(starting) ... start ... log/eval ... done."""
    for ev in events:
        check_event(ev)
    names = [e["event"] for e in events]
    assert names[0] == "status" and events[0]["state"] == "starting", names
    assert names.count("start") == 1 and names.count("done") == 1 and names[-1] == "done", names
    assert "error" not in names, [e for e in events if e["event"] == "error"]
    first_start = names.index("start")
    assert all(n == "status" for n in names[:first_start]), names
    assert "log" in names, names
    steps = [e["step"] for e in events if e["event"] == "log"]
    assert steps == sorted(steps) and steps[-1] == events[first_start]["total_steps"], (steps, events[first_start])
    times = [e["time"] for e in events]
    assert times == sorted(times)


def runs_of_labels(input_ids: list[int], labels: list[int]) -> list[list[int]]:
    """The contiguous stretches of labelled tokens (each must be one assistant turn)."""
    runs, cur = [], []
    for i, lab in zip(input_ids, labels):
        if lab != -100:
            assert lab == i
            cur.append(i)
        elif cur:
            runs.append(cur)
            cur = []
    return runs + ([cur] if cur else [])
