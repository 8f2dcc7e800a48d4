"""Fine-tunes a causal language model on chat rows so that it memorizes them (Mnemo's training stage).

Run it in a run folder holding config.json, train.jsonl, test.jsonl, recall.jsonl (optional), this
script and the scripts beside it (common.py, recall.py, grading.py):

    python train.py --config config.json                                  # one GPU, or the CPU
    torchrun --nproc_per_node 4 train.py --config config.json             # several GPUs (DDP)
    accelerate launch train.py --config config.json                       # the same, through accelerate
    HF_TOKEN=hf_... python train.py --config config.json                  # with push_to_hub set

Needs torch, transformers >= 5, peft and accelerate (requirements.txt); bitsandbytes only for
load_in_4bit, flash-attn only if you want flash attention (used when installed).

Input: train.jsonl / test.jsonl in the Hugging Face "messages" format, one row per line,
{"messages": [{"role": "system", ...}?, {"role": "user", ...}, {"role": "assistant", ...}, ...]},
as Mnemo's dataset stage writes them. Rows are rendered with the model's chat template and the
loss is taken on assistant tokens only (their text and end-of-turn marker). Rows longer than
max_length are counted and dropped or cut (over_length); rows left with no assistant token are
dropped; both are reported, never silent. recall.jsonl holds the questions answered at each
evaluation (recall.py says how; the best recall picks the checkpoint the run ends with, save_best).

Output: metrics.jsonl (and the same lines on stdout), one JSON event per line, the protocol of
src/core/training/protocol.ts: status, start, log, eval, recall, checkpoint, done, or error with a kind
(oom, missing_package, model_not_found, no_gpu, disk_full, bad_config, bad_data, cancelled) and a
hint. Human-readable progress goes to stderr. The adapter (LoRA) or the model (full) and the
tokenizer are saved to output/; output/merged/ with merge; checkpoints/ holds the evaluated
checkpoints while training. Exit code 0 on success, 1 on an error, 143 when cancelled (SIGTERM).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import shutil
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field, fields

import common
import recall
from common import ScriptError, log

# ---------------------------------------------------------------------------------------------
# Config: config.json holds any of these keys (snake_case); anything else is refused.


@dataclass
class TrainConfig:
    model: str = ""  # Hugging Face id or local folder (required)
    gguf_file: str | None = None  # a .gguf file inside the `model` folder, dequantized on load
    method: str = "lora"  # lora | full
    lora_r: int = 32  # LoRA rank
    lora_alpha: int | float | None = None  # LoRA scaling; None = 2 * lora_r
    lora_dropout: float = 0.05
    lora_target_modules: str | list[str] = "all-linear"  # "all-linear" (every linear layer but lm_head) or module names
    learning_rate: float = 1e-4
    lr_scheduler: str = "cosine"  # cosine | constant | linear
    warmup_steps: int | float = 0  # steps, or a float < 1 as a fraction of all steps
    epochs: int | float = 1
    batch_size: int = 1  # rows per device per step (the method: 1 memorizes best)
    grad_accum: int = 1  # gradient accumulation steps
    max_length: int = 512  # tokens per row (the model's tokens), chat template included
    over_length: str = "drop"  # drop | truncate: a row longer than max_length is first split at turn boundaries; a single exchange still longer is dropped or cut
    fold_system: bool = False  # a system message on a template that refuses one (Gemma 2, Mistral v0.1) goes at the start of the first user turn instead of failing
    precision: str = "auto"  # auto (bf16 if the GPU has it, else fp16 on CUDA, else fp32) | bf16 | fp16 | fp32; full fine-tuning keeps fp32 weights and computes in this precision
    gradient_checkpointing: bool = True  # less memory, ~30% slower
    neftune_alpha: float | None = None  # NEFTune noise on embeddings while training (e.g. 5)
    logging_steps: int = 1
    eval_steps: int = 50  # evaluate every N steps; 0: only at the end
    evals_per_epoch: int = 0  # > 0: evaluate (eval loss and recall) this many times per epoch; overrides eval_steps
    save_best: bool | str = "auto"  # the checkpoint the run ends with: auto (by recall when measured, else eval loss) | recall | eval_loss | none; true = auto, false = none
    recall_file: str | None = "recall.jsonl"  # questions answered at each evaluation (recall.py); None or absent: no recall
    recall_limit: int = 0  # 0: every question; N: the first N of each set
    recall_max_new_tokens: int = 48
    recall_batch_size: int = 8
    recall_system_prompt: str | None = None  # the system prompt of the recall questions (eval.py's)
    seed: int = 42
    load_in_4bit: bool = False  # QLoRA: 4-bit NF4 base model (bitsandbytes, CUDA only)
    attn_implementation: str = "auto"  # auto (flash_attention_2 when installed, else sdpa) | sdpa | eager | flash_attention_2
    merge: bool = False  # also write output/merged/: the base with the adapter merged in
    push_to_hub: str | None = None  # a Hub repo id to upload the result to; the token comes from HF_TOKEN only
    hub_private: bool = True
    train_file: str = "train.jsonl"
    eval_file: str | None = "test.jsonl"  # None: no evaluation
    output_dir: str = "output"
    max_steps: int = -1  # > 0: stop after this many optimizer steps (overrides epochs)
    ddp_find_unused_parameters: bool | None = None  # several GPUs: None = decided per model (true for mixture-of-experts models)


CHOICES = {
    "method": ("lora", "full"),
    "lr_scheduler": ("cosine", "constant", "linear"),
    "over_length": ("drop", "truncate"),
    "precision": ("auto", "bf16", "fp16", "fp32"),
    "attn_implementation": ("auto", "sdpa", "eager", "flash_attention_2"),
}

_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "None": type(None), "list[str]": list}


def _type_ok(value, annotation: str) -> bool:
    for name in (part.strip() for part in annotation.split("|")):
        t = _TYPES[name]
        if t is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if t is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if t is list and isinstance(value, list) and all(isinstance(x, str) for x in value):
            return True
        if t not in (int, float, list) and isinstance(value, t):
            return True
    return False


def read_config(path: str) -> TrainConfig:
    """config.json -> TrainConfig; unknown keys, wrong types and bad values are bad_config errors."""
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except FileNotFoundError:
        raise ScriptError(f"The config file {path} does not exist.", kind="bad_config", hint="Run as `python train.py --config config.json` in the run folder.") from None
    except json.JSONDecodeError as e:
        raise ScriptError(f"{path} is not valid JSON: {e.msg} (line {e.lineno}).", kind="bad_config") from None
    if not isinstance(raw, dict):
        raise ScriptError(f"{path} must hold a JSON object.", kind="bad_config")
    known = {f.name: f for f in fields(TrainConfig)}
    unknown = [k for k in raw if k not in known]
    if unknown:
        close = {k: difflib.get_close_matches(k, known, n=1) for k in unknown}
        names = ", ".join(f"{k} (did you mean {close[k][0]}?)" if close[k] else k for k in unknown)
        raise ScriptError(f"Unknown config keys: {names}.", kind="bad_config", hint=f"Known keys: {', '.join(known)}.")
    for key, value in raw.items():
        if not _type_ok(value, known[key].type):
            raise ScriptError(f"Config key {key} must be {known[key].type.replace('|', 'or')}, not {json.dumps(value)}.", kind="bad_config")
    cfg = TrainConfig(**raw)
    check_config(cfg)
    return cfg


def check_config(cfg: TrainConfig) -> None:
    def bad(message: str, hint: str | None = None):
        raise ScriptError(message, kind="bad_config", hint=hint)

    if not cfg.model:
        bad("The config has no model.", "Set `model` to a Hugging Face id or a local folder.")
    for key, allowed in CHOICES.items():
        if getattr(cfg, key) not in allowed:
            bad(f"{key} must be one of {', '.join(allowed)}, not {getattr(cfg, key)!r}.")
    for key in ("lora_r", "batch_size", "grad_accum", "logging_steps"):
        if getattr(cfg, key) < 1:
            bad(f"{key} must be at least 1.")
    if cfg.max_length < 16:
        bad("max_length must be at least 16 tokens.")
    if not cfg.learning_rate > 0 or not cfg.epochs > 0:
        bad("learning_rate and epochs must be positive.")
    if not 0 <= cfg.lora_dropout < 1:
        bad("lora_dropout must be in [0, 1).")
    if cfg.warmup_steps < 0 or (isinstance(cfg.warmup_steps, float) and cfg.warmup_steps >= 1):
        bad("warmup_steps must be a whole number of steps, or a fraction below 1.")
    if cfg.eval_steps < 0 or (cfg.max_steps < 1 and cfg.max_steps != -1):
        bad("eval_steps must be >= 0 and max_steps -1 or positive.")
    recall.save_best_mode(cfg.save_best)
    if cfg.evals_per_epoch < 0 or cfg.recall_limit < 0:
        bad("evals_per_epoch and recall_limit must be >= 0.")
    if cfg.recall_max_new_tokens < 1 or cfg.recall_batch_size < 1:
        bad("recall_max_new_tokens and recall_batch_size must be at least 1.")
    if cfg.load_in_4bit and cfg.method != "lora":
        bad("load_in_4bit needs method lora.", "A 4-bit model cannot be fully fine-tuned: use method lora, or load_in_4bit false.")
    if isinstance(cfg.lora_target_modules, str) and cfg.lora_target_modules != "all-linear":
        bad('lora_target_modules must be "all-linear" or a list of module names.')
    if cfg.push_to_hub is not None and (not cfg.push_to_hub or cfg.push_to_hub.count("/") > 1 or " " in cfg.push_to_hub):
        bad(f"push_to_hub must be a repo id like name or namespace/name, not {cfg.push_to_hub!r}.")
    if cfg.push_to_hub and not os.environ.get("HF_TOKEN"):
        bad("push_to_hub is set but HF_TOKEN is not in the environment.", "Pass the token in the HF_TOKEN environment variable (never in the config or on the command line).")


# ---------------------------------------------------------------------------------------------
# Data: chat rows -> token ids with labels on assistant tokens


@dataclass
class DataStats:
    rows: int = 0  # rows in the file
    kept: int = 0  # rows that train
    over_length: int = 0  # rows (or parts of split rows) still longer than max_length: dropped or cut
    split: int = 0  # rows longer than max_length split at turn boundaries into shorter rows
    split_into: int = 0  # the rows those became
    empty: int = 0  # rows with no assistant token (left), dropped
    tokens: int = 0  # tokens of the kept rows
    target_tokens: int = 0  # assistant tokens of the kept rows (the loss is taken on these)
    over_length_lines: list[int] = field(default_factory=list)
    split_lines: list[int] = field(default_factory=list)
    empty_lines: list[int] = field(default_factory=list)


def exchanges(messages: list[dict]) -> tuple[list[dict], list[list[dict]]]:
    """(the leading system message as a list, or []; the rest cut before each user turn)."""
    head = messages[:1] if messages and messages[0]["role"] == "system" else []
    parts: list[list[dict]] = []
    for m in messages[len(head):]:
        if m["role"] == "user" or not parts:
            parts.append([])
        parts[-1].append(m)
    return head, parts


def fit_rows(tokenizer, messages: list[dict], cfg: TrainConfig) -> list[common.ChatTokens]:
    """The row, tokenized; when longer than max_length (counted in the model's own tokens, template
    included), split at turn boundaries into rows of consecutive exchanges that fit, each with the
    row's system message. An exchange that alone is too long stays one over-long row."""
    chat = common.tokenize_chat(tokenizer, messages, fold=cfg.fold_system)
    if len(chat.input_ids) <= cfg.max_length:
        return [chat]
    head, parts = exchanges(messages)
    if len(parts) < 2:
        return [chat]
    pieces: list[common.ChatTokens] = []
    current: list[dict] = []
    current_chat = None
    for part in parts:
        trial = common.tokenize_chat(tokenizer, head + current + part, fold=cfg.fold_system)
        if current and len(trial.input_ids) > cfg.max_length:
            pieces.append(current_chat)
            current = part
            current_chat = common.tokenize_chat(tokenizer, head + part, fold=cfg.fold_system)
        else:
            current = current + part
            current_chat = trial
    pieces.append(current_chat)
    return pieces


def tokenize_rows(tokenizer, rows: list[dict], cfg: TrainConfig, name: str) -> tuple[list[dict], DataStats]:
    """Tokenizes every row (common.tokenize_chat); splits rows over max_length at turn boundaries
    (fit_rows), then applies over_length to what is still too long; counts what was split or left out."""
    examples, stats = [], DataStats(rows=len(rows))
    for n, row in enumerate(rows, 1):
        messages = common.check_messages(row, f"{name} row {n}")
        pieces = fit_rows(tokenizer, messages, cfg)
        if len(pieces) > 1:
            stats.split += 1
            stats.split_into += len(pieces)
            stats.split_lines.append(n)
        for chat in pieces:
            ids, labels = chat.input_ids, chat.labels
            if len(ids) > cfg.max_length:
                stats.over_length += 1
                if n not in stats.over_length_lines:
                    stats.over_length_lines.append(n)
                if cfg.over_length == "drop":
                    continue
                ids, labels = ids[: cfg.max_length], labels[: cfg.max_length]
            targets = sum(1 for x in labels if x != -100)
            if targets == 0:
                stats.empty += 1
                stats.empty_lines.append(n)
                continue
            examples.append({"input_ids": ids, "labels": labels})
            stats.kept += 1
            stats.tokens += len(ids)
            stats.target_tokens += targets
    return examples, stats


def report_rows(name: str, stats: DataStats, cfg: TrainConfig) -> None:
    def first(lines):
        return ", ".join(map(str, lines[:10])) + (" ..." if len(lines) > 10 else "")

    log(f"{name}: {stats.rows} rows, {stats.kept} kept, {stats.tokens} tokens ({stats.target_tokens} assistant tokens)")
    if stats.split:
        log(f"{name}: {stats.split} rows longer than max_length {cfg.max_length} (in this model's tokens) split at turn boundaries into {stats.split_into} rows (lines {first(stats.split_lines)})")
    if stats.over_length:
        action = "dropped" if cfg.over_length == "drop" else f"cut to {cfg.max_length} tokens"
        log(f"{name}: {stats.over_length} rows longer than max_length {cfg.max_length} {action} (lines {first(stats.over_length_lines)})")
    if stats.empty:
        log(f"{name}: {stats.empty} rows with no assistant token dropped (lines {first(stats.empty_lines)})")


class Collator:
    """Pads a batch to its longest row: input_ids with the pad token, labels with -100, attention_mask 0."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, batch: list[dict]):
        import torch

        width = max(len(x["input_ids"]) for x in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, x in enumerate(batch):
            n = len(x["input_ids"])
            ids[i, :n] = torch.tensor(x["input_ids"])
            labels[i, :n] = torch.tensor(x["labels"])
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}


# ---------------------------------------------------------------------------------------------
# Model


def load_model(cfg: TrainConfig, device: str, dtype):
    """The base model for this config: 4-bit for QLoRA, fp32 weights for full fine-tuning (computed in bf16/fp16 under autocast)."""
    import torch

    quantization = None
    device_map = None
    load_dtype = dtype
    if cfg.load_in_4bit:
        if not device.startswith("cuda"):
            raise ScriptError("load_in_4bit needs a CUDA GPU.", kind="no_gpu", hint="Set load_in_4bit false to train on this machine.")
        import importlib.util

        if importlib.util.find_spec("bitsandbytes") is None:
            raise ScriptError("load_in_4bit needs the bitsandbytes package, which is not installed.", kind="missing_package", hint="pip install bitsandbytes in the training environment, or set load_in_4bit false.")
        from transformers import BitsAndBytesConfig

        quantization = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype, bnb_4bit_use_double_quant=True)
        device_map = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    elif cfg.method == "full" and dtype != torch.float32:
        # fp32 master weights: the Trainer computes in bf16/fp16 under autocast (bf16=/fp16= below)
        # and AdamW updates fp32 weights. In pure bf16 an update below the weight's 8-bit mantissa
        # step vanishes (at lr 1e-5 most weights never change); the cost is 4 more bytes per
        # parameter for the weights and fp32 optimizer states.
        load_dtype = torch.float32
    attn = common.pick_attn_implementation(cfg.attn_implementation, device, dtype)
    model = common.load_model(cfg.model, cfg.gguf_file, dtype=load_dtype, attn_implementation=attn, quantization_config=quantization, device_map=device_map)
    model.config.use_cache = False
    return model


def add_lora(model, cfg: TrainConfig):
    """Wraps the model in a LoRA adapter (gradient checkpointing set up first, as peft wants)."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    checkpointing = {"use_reentrant": False}
    if cfg.load_in_4bit:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing, gradient_checkpointing_kwargs=checkpointing)
    elif cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=checkpointing)
        model.enable_input_require_grads()
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha if cfg.lora_alpha is not None else 2 * cfg.lora_r,
        lora_dropout=cfg.lora_dropout,
        target_modules=cfg.lora_target_modules,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


# ---------------------------------------------------------------------------------------------
# Trainer: arguments and the callback that speaks the protocol


def training_arguments(cfg: TrainConfig, device: str, dtype, has_eval: bool, best_by: str | None = "eval_loss", find_unused: bool = False):
    import torch
    from transformers import TrainingArguments

    scheduler = cfg.lr_scheduler
    if scheduler == "constant" and cfg.warmup_steps:
        scheduler = "constant_with_warmup"
    periodic_eval = has_eval and (cfg.eval_steps > 0 or cfg.evals_per_epoch > 0)
    keep_best = periodic_eval and best_by is not None
    # evals_per_epoch: recall.py's callback picks the steps, the Trainer's own schedule never fires.
    every = recall.FAR if cfg.evals_per_epoch > 0 else cfg.eval_steps
    on_gpu = device.startswith("cuda")
    return TrainingArguments(
        output_dir="checkpoints",
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=scheduler,
        warmup_steps=cfg.warmup_steps,
        logging_strategy="steps",
        logging_steps=cfg.logging_steps,
        eval_strategy="steps" if periodic_eval else "no",
        eval_steps=every if periodic_eval else None,
        save_strategy="steps" if keep_best else "no",
        save_steps=every if keep_best else 500,
        save_total_limit=1 if keep_best else None,
        save_only_model=True,
        load_best_model_at_end=keep_best,
        # recall.BestKeeper chooses (by recall or eval loss, ties as it says); the metric counts its new bests.
        metric_for_best_model=recall.BEST_METRIC if keep_best else None,
        greater_is_better=True if keep_best else None,
        bf16=on_gpu and dtype == torch.bfloat16,
        fp16=on_gpu and dtype == torch.float16,
        gradient_checkpointing=cfg.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False},
        neftune_noise_alpha=cfg.neftune_alpha,
        seed=cfg.seed,
        report_to="none",
        remove_unused_columns=False,
        label_names=["labels"],
        prediction_loss_only=True,
        include_num_input_tokens_seen="non_padding",
        ddp_find_unused_parameters=find_unused,
        dataloader_pin_memory=on_gpu,
        use_cpu=device == "cpu",  # also what makes torchrun on a CPU machine run distributed (gloo)
        disable_tqdm=True,
        log_level="warning",
    )


def make_protocol_callback(metrics: common.Metrics, start_info: dict, has_eval: bool, save_best: bool):
    """A TrainerCallback that turns the Trainer's events into protocol lines (world process zero only)."""
    from transformers import TrainerCallback

    class ProtocolCallback(TrainerCallback):
        def __init__(self):
            self.step_began = 0.0
            self.train_seconds = 0.0  # time inside optimizer steps since the last log (no eval, no saving)
            self.tokens_at_log = 0
            self.last_eval_step = -1
            self.evaluating = False
            self.train_began = time.time()

        def on_train_begin(self, args, state, control, **kwargs):
            self.train_began = time.time()
            if state.is_world_process_zero:
                metrics.emit("start", total_steps=state.max_steps, epochs=args.num_train_epochs, world_size=args.world_size, **start_info)
                metrics.status("training")
                log(f"training: {state.max_steps} steps on {start_info['train_rows']} rows, {args.world_size} process(es)")

        def on_step_begin(self, args, state, control, **kwargs):
            self.step_began = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.train_seconds += time.perf_counter() - self.step_began
            # Always evaluate (and keep the checkpoint) at the last step, so the run ends measured.
            if has_eval and state.global_step >= state.max_steps and self.last_eval_step != state.global_step:
                control.should_evaluate = True
                if save_best and args.eval_strategy != "no":
                    control.should_save = True
            return control

        def on_prediction_step(self, args, state, control, **kwargs):
            if not self.evaluating:
                self.evaluating = True
                if state.is_world_process_zero:
                    metrics.status("evaluating")

        def on_evaluate(self, args, state, control, **kwargs):
            self.evaluating = False
            self.last_eval_step = state.global_step

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            if "loss" in logs:
                seen = int(logs.get("num_input_tokens_seen", state.num_input_tokens_seen) or 0)
                event = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4), "loss": logs["loss"], "lr": logs.get("learning_rate"), "grad_norm": logs.get("grad_norm"), "tokens_seen": seen}
                if self.train_seconds > 0:
                    event["tokens_per_s"] = round((seen - self.tokens_at_log) / self.train_seconds, 1)
                metrics.emit("log", **event)
                log(f"step {state.global_step}/{state.max_steps} loss {logs['loss']:.4f} lr {logs.get('learning_rate') or 0:.3g}" + (f" {event['tokens_per_s']:.0f} tok/s" if "tokens_per_s" in event else ""))
                self.tokens_at_log, self.train_seconds = seen, 0.0
            if "eval_loss" in logs:
                metrics.emit("eval", step=state.global_step, epoch=round(state.epoch or 0.0, 4), eval_loss=logs["eval_loss"])
                metrics.status("training")
                log(f"step {state.global_step} eval_loss {logs['eval_loss']:.4f}")

        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                path = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
                metrics.emit("checkpoint", step=state.global_step, path=path, best=state.best_global_step == state.global_step)

    return ProtocolCallback()


def token_weighted_trainer(base):
    """A Trainer whose eval_loss is the mean over every target token of the eval set.

    The Trainer's own eval_loss is a mean of per-batch means (each batch's loss repeated
    eval_batch_size times, the last, smaller batch included), so with batch_size 1 a one-token
    answer weighs as much as a fifty-token one. Here each batch's mean loss is multiplied back by its
    count of predicted target tokens (labels after the first position, as the model shifts them),
    summed over the eval set (and over ranks) and divided by the total."""

    class TokenWeightedTrainer(base):
        def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
            loss, logits, labels = super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)
            if loss is not None and "labels" in inputs:
                n = (inputs["labels"][:, 1:] != -100).sum()
                self._eval_sums[0] += float(loss.detach().float()) * int(n)
                self._eval_sums[1] += int(n)
            return loss, logits, labels

        def evaluation_loop(self, dataloader, description, prediction_loss_only=None, ignore_keys=None, metric_key_prefix="eval"):
            import torch

            self._eval_sums = [0.0, 0]
            out = super().evaluation_loop(dataloader, description, prediction_loss_only=prediction_loss_only, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)
            total = torch.tensor(self._eval_sums, dtype=torch.float64, device=self.args.device)
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                torch.distributed.all_reduce(total)
            key = f"{metric_key_prefix}_loss"
            if key in out.metrics and total[1] > 0:
                out.metrics[key] = float(total[0] / total[1])
            return out

    return TokenWeightedTrainer


# ---------------------------------------------------------------------------------------------
# After training: merge, push


def merge_adapter(trainer, cfg: TrainConfig, tokenizer, dtype) -> str:
    """Writes output/merged/: the base model with the adapter merged in (a 4-bit base is reloaded unquantized first)."""
    from peft import PeftModel

    merged_dir = os.path.join(cfg.output_dir, "merged")
    if cfg.load_in_4bit:
        base = common.load_model(cfg.model, cfg.gguf_file, dtype=dtype)
        merged = PeftModel.from_pretrained(base, cfg.output_dir).merge_and_unload()
    else:
        merged = trainer.model.merge_and_unload()
    merged.config.use_cache = True
    merged.save_pretrained(merged_dir)
    tokenizer.save_pretrained(merged_dir)
    return merged_dir


def push_to_hub(folder: str, cfg: TrainConfig) -> str:
    """Uploads `folder` to the Hub repo cfg.push_to_hub with HF_TOKEN from the environment; returns its URL."""
    from huggingface_hub import HfApi, constants

    token = os.environ["HF_TOKEN"]
    api = HfApi(token=token)
    try:
        repo = api.create_repo(cfg.push_to_hub, private=cfg.hub_private, exist_ok=True, repo_type="model")
        api.upload_folder(folder_path=folder, repo_id=repo.repo_id, repo_type="model", commit_message="Upload model trained with Mnemo")
    except Exception as e:  # noqa: BLE001 - reported with the token scrubbed
        message = str(e).replace(token, "***").splitlines()[0] if str(e) else type(e).__name__
        raise ScriptError(f"Pushing to the Hub failed: {message}", kind="other", hint=f"The trained model is saved in {folder}; check HF_TOKEN's write access and push it again.") from None
    return f"{constants.ENDPOINT}/{repo.repo_id}"


# ---------------------------------------------------------------------------------------------
# The run


def train(cfg: TrainConfig, metrics: common.Metrics) -> int:
    import transformers
    from transformers import PrinterCallback, Trainer

    transformers.logging.set_verbosity_warning()
    transformers.logging.disable_progress_bar()  # bars would fill train.log; progress is in the metrics
    # transformers 5.2x renames gradient_checkpointing to activation_checkpointing; the old names still
    # work and are the only ones older 5.x (on GPU images) know.
    warnings.filterwarnings("ignore", message=r".*gradient_checkpointing.* is deprecated", category=FutureWarning)
    transformers.set_seed(cfg.seed)
    device = common.pick_device("auto")
    dtype = common.pick_dtype(cfg.precision, device)
    if cfg.precision == "auto" and device == "cpu":
        log("no GPU found: training on the CPU in fp32 (slow for anything but small models)")
    recall_sets = recall.read_recall_file(cfg.recall_file, cfg.recall_limit)  # a bad line fails here, before the model loads

    metrics.status("loading_model", f"loading {cfg.model}" + (f" ({cfg.gguf_file})" if cfg.gguf_file else ""))
    began = time.time()
    tokenizer = common.load_tokenizer(cfg.model, cfg.gguf_file)
    model = load_model(cfg, device, dtype)
    log(f"loaded {cfg.model} in {time.time() - began:.1f} s ({common.dtype_name(dtype)}, attention {model.config._attn_implementation})")

    metrics.status("tokenizing")
    train_examples, train_stats = tokenize_rows(tokenizer, common.read_jsonl(cfg.train_file), cfg, cfg.train_file)
    report_rows(cfg.train_file, train_stats, cfg)
    if not train_examples:
        raise ScriptError(
            f"No row of {cfg.train_file} is left to train on ({train_stats.rows} rows, {train_stats.over_length} over max_length, {train_stats.empty} with no assistant token).",
            kind="bad_data",
            hint="Raise max_length, set over_length to truncate, or rebuild the dataset with a smaller dataset.rowTokenBudget.",
        )
    eval_examples, eval_stats = [], DataStats()
    if cfg.eval_file:
        if os.path.exists(cfg.eval_file):
            eval_examples, eval_stats = tokenize_rows(tokenizer, common.read_jsonl(cfg.eval_file), cfg, cfg.eval_file)
            report_rows(cfg.eval_file, eval_stats, cfg)
        else:
            log(f"{cfg.eval_file} does not exist: training without evaluation")
    has_eval = bool(eval_examples)

    if cfg.method == "lora":
        model = add_lora(model, cfg)
    trainable, total = common.count_parameters(model)
    log(f"{cfg.method}: {trainable:,} trainable of {total:,} parameters")

    start_info = {
        "train_rows": train_stats.kept,
        "eval_rows": len(eval_examples),
        "over_length_rows": train_stats.over_length,
        "over_length_action": cfg.over_length,
        "empty_rows": train_stats.empty,
        "split_rows": train_stats.split,
        "eval_over_length_rows": eval_stats.over_length,
        "eval_empty_rows": eval_stats.empty,
        "train_tokens": train_stats.tokens,
        "target_tokens": train_stats.target_tokens,
        "trainable_params": trainable,
        "total_params": total,
        "method": cfg.method,
        "device": device,
        "dtype": common.dtype_name(dtype),
    }
    meter = recall.RecallMeter(recall_sets, tokenizer, metrics, cfg.recall_max_new_tokens, cfg.recall_batch_size, cfg.recall_system_prompt) if recall_sets else None
    best_by = recall.best_by(recall.save_best_mode(cfg.save_best), meter is not None)
    find_unused = cfg.ddp_find_unused_parameters if cfg.ddp_find_unused_parameters is not None else common.has_unused_branches(model)
    args = training_arguments(cfg, device, dtype, has_eval, best_by, find_unused)
    keeper = recall.BestKeeper(best_by if args.load_best_model_at_end else None)
    callbacks = [
        make_protocol_callback(metrics, start_info, has_eval, keeper.by is not None),
        recall.make_recall_callback(meter, keeper, has_eval, cfg.evals_per_epoch, cfg.grad_accum, cfg.eval_steps),
    ]
    trainer = token_weighted_trainer(Trainer)(
        model=model,
        args=args,
        train_dataset=train_examples,
        eval_dataset=eval_examples if has_eval else None,
        data_collator=Collator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # it prints log dicts on stdout, which carries only protocol lines
    trainer.train()

    metrics.status("saving", f"saving to {cfg.output_dir}")
    trainer.save_model(cfg.output_dir)
    state = trainer.state
    if not common.is_main_process():
        return 0
    tokenizer.save_pretrained(cfg.output_dir)
    if os.path.isdir(args.output_dir):
        shutil.rmtree(args.output_dir, ignore_errors=True)  # the best checkpoint is what output/ now holds
    done = {"output_dir": cfg.output_dir}
    done.update(keeper.done_fields())  # best_step, best_by, best_value, best_eval_loss: the checkpoint output/ holds
    if keeper.step is not None and keeper.step != state.best_global_step:
        raise ScriptError(f"The kept checkpoint is step {state.best_global_step}, not the best step {keeper.step}.", kind="other", hint="A bug in train.py: please report it with train.log.")
    if cfg.merge and cfg.method == "lora":
        metrics.status("merging")
        done["merged_dir"] = merge_adapter(trainer, cfg, tokenizer, dtype)
    elif cfg.merge:
        log("merge ignored: a fully fine-tuned model has no adapter to merge")
    if cfg.push_to_hub:
        metrics.status("pushing", f"pushing to {cfg.push_to_hub}")
        done["hub_url"] = push_to_hub(done.get("merged_dir", cfg.output_dir), cfg)
    metrics.emit("done", **done)
    log(f"done: {done}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fine-tune a causal LM on chat rows (Mnemo).")
    parser.add_argument("--config", default="config.json", help="the run's config (default: config.json)")
    parser.add_argument("--metrics", default="metrics.jsonl", help="where to append metric events (default: metrics.jsonl)")
    opts = parser.parse_args(argv)
    metrics = common.Metrics(opts.metrics)
    common.on_sigterm_cancel()
    try:
        metrics.status("starting")
        cfg = read_config(opts.config)
        return train(cfg, metrics)
    except BaseException as e:  # noqa: BLE001 - every failure ends as one error event
        if isinstance(e, SystemExit) and not e.code:
            raise
        err = common.classify_error(e)
        if err.kind in ("other", "oom"):
            traceback.print_exc(file=sys.stderr)
        metrics.error(err)
        return 143 if err.kind == "cancelled" else 1
    finally:
        metrics.close()


if __name__ == "__main__":
    sys.exit(main())
