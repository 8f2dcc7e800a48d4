"""The GPU check of train.py: no downloads, about a minute.

    python src/python/gpu_check.py                 # on a machine with a CUDA GPU (fails if torch sees none)
    python src/python/gpu_check.py --device cpu    # the same check on the CPU, to check the script itself

It builds a tiny Llama-style model (random weights) and a tokenizer trained on the sample rulebook
(tiny_model.py), then runs the real train.py twice in a fresh run folder:
  1. full fine-tuning on a small memorization set (precision auto: bf16 or fp16 on a GPU, fp32
     master weights); it asserts the loss falls by 20x, that greedy generation recalls every trained
     answer, that the saved weights are fp32, that batched greedy answers (left padding) end on the
     stop token, and that serve.py answers on the same device;
  2. LoRA with gradient checkpointing, NEFTune, evaluation, best-checkpoint keeping and merging;
     it asserts the run ends with `done` and writes the adapter and the merged model.
It prints the loss curve and tokens/s of each run; the last line is one JSON object.
Exit code 0 when every check holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import tiny_model  # noqa: E402

FULL = {"method": "full", "learning_rate": 1e-2, "max_steps": 100, "batch_size": 6, "lr_scheduler": "cosine", "warmup_steps": 5, "eval_steps": 50, "gradient_checkpointing": False, "logging_steps": 5}
LORA = {"method": "lora", "lora_r": 16, "learning_rate": 1e-3, "max_steps": 20, "batch_size": 2, "eval_steps": 10, "neftune_alpha": 5.0, "merge": True, "gradient_checkpointing": True, "logging_steps": 5}


def run_train(run: Path, config: dict, env: dict) -> list[dict]:
    """train.py in a run folder laid out as the runner does it; returns its metric events."""
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(config))
    tiny_model.write_jsonl(run / "train.jsonl", tiny_model.memo_rows())
    tiny_model.write_jsonl(run / "test.jsonl", tiny_model.memo_rows()[:2])
    for script in HERE.glob("*.py"):  # as the runner sends them: every script beside train.py
        shutil.copy(script, run / script.name)
    proc = subprocess.run([sys.executable, "train.py", "--config", "config.json"], cwd=run, env=env, capture_output=True, text=True)
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()] if (run / "metrics.jsonl").exists() else []
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
    return events


def summary(name: str, events: list[dict]) -> dict:
    logs = [e for e in events if e["event"] == "log"]
    start = next((e for e in events if e["event"] == "start"), {})
    rates = [e["tokens_per_s"] for e in logs[1:] if e.get("tokens_per_s")]  # the first step includes warm-up
    out = {
        "device": start.get("device"),
        "dtype": start.get("dtype"),
        "steps": start.get("total_steps"),
        "loss_curve": [[e["step"], round(e["loss"], 4) if e["loss"] is not None else None] for e in logs],
        "eval_loss": [[e["step"], round(e["eval_loss"], 4)] for e in events if e["event"] == "eval" and e["eval_loss"] is not None],
        "tokens_per_s_median": round(statistics.median(rates), 1) if rates else None,
        "seconds": round(logs[-1]["time"] - start["time"], 2) if logs and start else None,
        "ended": events[-1]["event"] if events else None,
    }
    print(f"{name}: {out['device']} {out['dtype']}, {out['steps']} steps in {out['seconds']} s, median {out['tokens_per_s_median']} tokens/s")
    print(f"  loss: " + "  ".join(f"{s}:{l}" for s, l in out["loss_curve"]))
    if out["eval_loss"]:
        print(f"  eval_loss: " + "  ".join(f"{s}:{l}" for s, l in out["eval_loss"]))
    if events and events[-1]["event"] == "error":
        print(f"  error: {events[-1]}")
    return out


def generation_checks(output: Path, device: str) -> dict[str, bool]:
    """The fully fine-tuned model: its weights were kept in fp32 (master weights; the compute was
    bf16/fp16 under autocast on a GPU), batched greedy answers (left padding) all end on the stop
    token, and serve.py answers on the same device with finish_reason stop."""
    import torch
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    import common
    import serve

    with safe_open(str(output / "model.safetensors"), framework="pt") as f:
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
    tokenizer = common.load_tokenizer(str(output))
    model = AutoModelForCausalLM.from_pretrained(str(output), dtype=common.pick_dtype("auto", device)).to(device).eval()
    prompts = [common.render_question(tokenizer, q, tiny_model.SYSTEM_PROMPT) for q, _ in tiny_model.MEMO_PAIRS]
    batched = common.greedy_generate(model, tokenizer, prompts, 16, device)
    print(f"  batched greedy on {device}: {batched}")
    cfg = serve.ServeConfig(model=str(output), device=device)
    s_tok, s_model = serve.load(output, device)
    q, a = tiny_model.MEMO_PAIRS[0]
    served = serve.Generator(s_tok, s_model, cfg).complete([{"role": "system", "content": tiny_model.SYSTEM_PROMPT}, {"role": "user", "content": q}], temperature=0, max_tokens=16)
    print(f"  serve.py on {next(s_model.parameters()).device}: {served}")
    return {
        "full_fp32_master_weights": dtypes == {"F32"},
        "batched_answers_stop": [x for x in batched] == [(b, "stop") for _, b in tiny_model.MEMO_PAIRS],
        "serve_on_device_stops": served["text"] == a and served["finish_reason"] == "stop" and next(s_model.parameters()).device.type == torch.device(device).type,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description="GPU check of train.py with a tiny model built on the spot.")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--keep", help="keep the run folders in this directory instead of a temporary one")
    opts = parser.parse_args()

    import torch

    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    if opts.device == "cuda":
        if not torch.cuda.is_available():
            print(json.dumps({"ok": False, "error": f"torch {torch.__version__} sees no CUDA GPU; run with --device cpu to check the script on the CPU"}))
            return 1
        gpu = torch.cuda.get_device_name(0)
    else:
        env["CUDA_VISIBLE_DEVICES"] = ""  # train.py picks the GPU whenever it sees one
        env.setdefault("OMP_NUM_THREADS", "1")  # the tiny model is fastest on one thread
        gpu = None
    print(f"torch {torch.__version__}, device {opts.device}" + (f" ({gpu})" if gpu else ""))

    work = Path(opts.keep) if opts.keep else Path(tempfile.mkdtemp(prefix="mnemo-gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    model_dir = tiny_model.build(work / "tiny-model")
    checks: dict[str, bool] = {}
    try:
        full = run_train(work / "full", {"model": str(model_dir), **FULL}, env)
        full_summary = summary("full fine-tuning", full)
        losses = [l for _, l in full_summary["loss_curve"] if l is not None]
        checks["full_done"] = full_summary["ended"] == "done"
        checks["full_loss_falls_20x"] = len(losses) >= 2 and losses[-1] < losses[0] / 20
        answers = tiny_model.greedy_answers(work / "full" / "output", [q for q, _ in tiny_model.MEMO_PAIRS], device=opts.device) if checks["full_done"] else []
        expected = [a for _, a in tiny_model.MEMO_PAIRS]
        recalled = sum(a == e for a, e in zip(answers, expected))
        print(f"  recalled {recalled}/{len(expected)}: {answers}")
        checks["full_recalls_all"] = recalled == len(expected)
        if checks["full_done"]:
            checks.update(generation_checks(work / "full" / "output", opts.device))

        lora = run_train(work / "lora", {"model": str(model_dir), **LORA}, env)
        lora_summary = summary("LoRA", lora)
        checks["lora_done"] = lora_summary["ended"] == "done"
        checks["lora_adapter"] = (work / "lora" / "output" / "adapter_model.safetensors").exists()
        checks["lora_merged"] = (work / "lora" / "output" / "merged" / "config.json").exists()
        checks["lora_eval_and_checkpoints"] = [e["step"] for e in lora if e["event"] == "checkpoint"] == [10, 20]
    finally:
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)
    ok = all(checks.values())
    for name, passed in checks.items():
        print(f"  {'ok  ' if passed else 'FAIL'} {name}")
    print(json.dumps({"ok": ok, "device": opts.device, "gpu": gpu, "torch": torch.__version__, "checks": checks, "recalled": recalled, "full": full_summary, "lora": lora_summary}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
